import ChatCore
import ChatLog
import CoreMetrics
import Logging
import NIOCore
import ServiceLifecycle
import Tracing

/// The shell around `HubCore`: it feeds the core its inputs (connections, requests, the
/// store's durability, the time) and performs the actions the core returns, in order — sends
/// and closes on connections, publications through the broker, appends to the store.
///
/// It is an actor so inputs reach the core one at a time. A step's actions are performed in
/// the same turn it was decided, so a `join`'s subscription and backlog happen at one point
/// and a store `append` happens in apply order. Waiting for durability is the only
/// suspension; meanwhile other connections' inputs go on (group commit under `always`).
///
/// As a `Service` it closes every connection with 1001 on graceful shutdown, waits for them
/// to go (bounded), and asks the store for a last snapshot.
package actor RoomHub: Service {
    package typealias Refusal = ConnectRefusal

    let store: any ChatStore
    let broker: any MessageBroker
    let logger: Logger
    package nonisolated let clock: ServerClock
    var core: HubCore
    var connections: [ConnID: Connection] = [:]
    /// Store LSNs of commits not yet released: `lsns[i]` belongs to commit `lsnBase + i`.
    var lsns: [UInt64] = []
    var lsnBase: CommitID = 1
    /// The store LSN of the newest append (what must be durable for a failed store to count
    /// as recovered).
    var lastLSN: UInt64 = 0
    private var emptyWaiters: [CheckedContinuation<Void, Never>] = []
    var loggedStorageFailure = false
    let metrics = ServerMetrics()
    /// Follows requests for the debug log and traces (nil: neither is on).
    let observer: RequestObserver?
    /// Whether durable waits and fan-outs make spans (the observer's setting, read once).
    let tracing: Bool
    /// The trace context of the request whose actions are being performed (tracing only).
    var currentContext: ServiceContext?
    /// Wakes the file sweeper when a delete left an upload without messages.
    var fileSweeps: AsyncStream<Void>.Continuation?
    /// `--cluster`: the store that runs write turns (see `RoomHub+Cluster.swift`).
    let clusterStore: PostgresChatStore?
    /// `--cluster`: changes waiting for the next write turn.
    var turnQueue: [@Sendable (isolated RoomHub) -> Void] = []
    /// `--cluster`: a write turn is running.
    var inTurn = false

    /// Creates a hub over recovered state.
    ///
    /// - Parameters:
    ///   - configuration: server configuration.
    ///   - state: state recovered from the store.
    ///   - store: where records go.
    ///   - broker: fan-out.
    ///   - logger: logger.
    ///   - clock: where the time comes from.
    ///   - entropy: where tokens and room epochs come from.
    ///   - observer: follows requests (the debug log and traces).
    package init(
        configuration: ServerConfiguration,
        state: ChatState,
        store: any ChatStore,
        broker: any MessageBroker,
        logger: Logger,
        clock: ServerClock = .system,
        entropy: HubCore.Entropy = .system,
        observer: RequestObserver? = nil
    ) {
        self.observer = observer
        self.tracing = observer?.tracing == true
        self.core = HubCore(configuration: configuration, state: state, entropy: entropy)
        self.store = store
        self.clusterStore = configuration.cluster ? store as? PostgresChatStore : nil
        self.broker = broker
        self.logger = logger
        self.clock = clock
    }

    // MARK: Connections

    /// Registers a connection, unless the server is shutting down or a connection limit is reached.
    ///
    /// - Parameters:
    ///   - conn: the connection.
    package func connect(_ conn: Connection) -> Refusal? {
        if let refusal = core.connect(conn.subscriberID, address: conn.address) { return refusal }
        connections[conn.subscriberID] = conn
        metrics.setConnections(connections.count)
        return nil
    }

    /// Forgets a connection: unsubscribes it and updates presence.
    ///
    /// - Parameters:
    ///   - conn: the connection.
    package func disconnect(_ conn: Connection) {
        guard connections[conn.subscriberID] === conn else { return }
        perform(core.disconnect(conn.subscriberID))
        connections[conn.subscriberID] = nil
        metrics.setConnections(connections.count)
        if connections.isEmpty {
            for waiter in emptyWaiters { waiter.resume() }
            emptyWaiters = []
        }
    }

    /// Closes every connection with 1001, refuses new ones, and waits (bounded) for them to go.
    ///
    /// - Parameters:
    ///   - timeout: how long to wait for clients to answer.
    package func shutdownConnections(timeout: Duration = .seconds(3)) async {
        for id in core.beginShutdown() { connections[id]?.close(.goingAway, reason: "server shutting down") }
        guard !connections.isEmpty else { return }
        await withDiscardingTaskGroup { group in
            group.addTask {
                try? await Task.sleep(for: timeout)
                await self.releaseEmptyWaiters()
            }
            await self.waitUntilEmpty()
            group.cancelAll()
        }
    }

    private func waitUntilEmpty() async {
        guard !connections.isEmpty else { return }
        await withCheckedContinuation { emptyWaiters.append($0) }
    }

    private func releaseEmptyWaiters() {
        for waiter in emptyWaiters { waiter.resume() }
        emptyWaiters = []
    }

    /// Closes every connection without refusing new ones (tests use it to force reconnects).
    ///
    /// - Parameters:
    ///   - code: close code.
    ///   - reason: close reason.
    package func closeAllConnections(_ code: CloseCode, reason: String) {
        for conn in connections.values { conn.close(code, reason: reason) }
    }

    /// Whether the server can store changes (false after a storage failure).
    package var isHealthy: Bool { !core.storageFailed }

    /// Number of live connections.
    package var connectionCount: Int { connections.count }

    /// Accounts on the server (0 on a fresh data directory).
    package var userCount: Int { core.state.users.count }

    /// A copy of the state (tests compare it with what the store reloads).
    package var stateCopy: ChatState { core.state }

    /// Watches a failed store for recovery (once a second) until graceful shutdown, then closes
    /// the connections and asks for a last snapshot.
    package func run() async throws {
        await withDiscardingTaskGroup { group in
            group.addTask { await self.watchStorage() }
            try? await gracefulShutdown()
            group.cancelAll()
        }
        logger.info("closing connections")
        await shutdownConnections()
        // A snapshot already under way finishes first, then the last one is written; what their
        // compactions moved and expired is applied here, so the search indexer's last batches
        // (it stops after the hub) drop the expired rows. The store's close would wait for both
        // anyway.
        await waitForSnapshot()
        requestSnapshot()
        await waitForSnapshot()
        takeCompaction()
    }

    /// Waits (at most a minute) while the store writes a snapshot or has one queued.
    private func waitForSnapshot() async {
        let deadline = ContinuousClock.now + .seconds(60)
        while store.isSnapshotRunning, ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(50)) }
    }

    /// Once a second while the store is failed: when everything appended is durable again (a
    /// full disk got room and the store's retry went through), changes are accepted again.
    private func watchStorage() async {
        if store.snapshotDue { requestSnapshot() }  // e.g. a start with rooms over their window
        while !Task.isCancelled {
            try? await Task.sleep(for: .seconds(1))
            checkStorageRecovered()
            takeCompaction()
            if store.snapshotDue { requestSnapshot() }
        }
    }

    /// Drops from memory what the last compaction moved to the cold store.
    func takeCompaction() {
        guard let compaction = store.takeCompaction() else { return }
        core.applyCompaction(compaction)
        // Retention may have left uploads without a message.
        if !core.state.orphanedFiles.isEmpty { fileSweeps?.yield() }
    }

    /// Feeds the core a store that works again (see `watchStorage`).
    package func checkStorageRecovered() {
        guard core.storageFailed, store.isDurable(lastLSN) else { return }
        loggedStorageFailure = false
        logger.notice("storage works again; accepting changes")
        perform(core.storageRecovered(at: clock.now()))
    }

    /// Asks the store for a snapshot of the current state (e.g. before a clean shutdown).
    package func requestSnapshot() {
        takeCompaction()
        store.snapshot(core.state)
    }

    // MARK: Requests

    /// Handles consecutive requests of one connection in order (not `hello`, `ping`,
    /// `register` or `login`), in one trip to the actor, and returns once every one is
    /// answered. Returns whether the connection is authenticated afterwards.
    ///
    /// - Parameters:
    ///   - conn: the connection.
    ///   - requests: (request id, validated request) pairs, in the order received.
    package func handle(_ conn: Connection, requests: [(id: String, request: Request)]) async -> Bool {
        if clusterStore != nil {
            await changing { hub in hub.receive(conn, requests: requests) }
        } else {
            receive(conn, requests: requests)
        }
        await settle(conn.subscriberID, holding: conn)
        return core.isAuthenticated(conn.subscriberID)
    }

    private func receive(_ conn: Connection, requests: [(id: String, request: Request)]) {
        let id = conn.subscriberID
        conn.hold()
        var step = HubStep()  // one buffer of actions for the whole batch
        for (requestID, request) in requests {
            if conn.isClosing { break }
            if tracing { currentContext = observer?.context(conn: id, id: requestID) }
            core.receive(id, id: requestID, request, at: clock.now(), into: &step)
            perform(step)
            step.actions.removeAll(keepingCapacity: true)
        }
        currentContext = nil
        conn.release()
    }

    /// Handles one request (see `handle(_:requests:)`).
    ///
    /// - Parameters:
    ///   - conn: the connection.
    ///   - id: request id.
    ///   - request: the validated request.
    @discardableResult
    package func handle(_ conn: Connection, id: String, request: Request) async -> Bool {
        await handle(conn, requests: [(id, request)])
    }

    /// Checks a sign-up before its password is hashed; false when it was refused (and answered).
    ///
    /// - Parameters:
    ///   - conn: the connection.
    ///   - id: request id.
    ///   - user: validated name.
    ///   - invite: the invite code, if any.
    package func mayRegister(_ conn: Connection, id: String, user: ValidName, invite: String?) -> Bool {
        guard let refused = core.checkRegister(conn.subscriberID, id: id, user: user, invite: invite, at: clock.now())
        else { return true }
        perform(refused)
        return false
    }

    /// Creates an account with a hash computed off the actor; answers itself. Returns whether
    /// the connection is authenticated afterwards.
    ///
    /// - Parameters:
    ///   - conn: the connection.
    ///   - id: request id.
    ///   - user: validated name.
    ///   - passwordHash: the hash.
    ///   - invite: the invite code, if any.
    package func register(
        _ conn: Connection,
        id: String,
        user: ValidName,
        passwordHash: String,
        invite: String? = nil
    ) async -> Bool {
        await changing { hub in
            hub.perform(
                hub.core.register(
                    conn.subscriberID,
                    id: id,
                    user: user,
                    passwordHash: passwordHash,
                    invite: invite,
                    at: hub.clock.now()
                )
            )
        }
        await settle(conn.subscriberID, holding: conn)
        return core.isAuthenticated(conn.subscriberID)
    }

    /// Starts a login: nil when it was refused (and answered); otherwise the hash to verify the
    /// password against (`.some(nil)`: no such user).
    ///
    /// - Parameters:
    ///   - conn: the connection.
    ///   - id: request id.
    ///   - userKey: user fold key (the user need not exist).
    package func beginLogin(_ conn: Connection, id: String, userKey: String) async -> String?? {
        // On a cluster node, an account made (or a password changed) on another node a moment ago.
        if let clusterStore { await clusterStore.catchUp() }
        switch core.beginLogin(conn.subscriberID, id: id, userKey: userKey, at: clock.now()) {
        case .refused(let step):
            metrics.loginFailed("throttled")
            perform(step)
            return nil
        case .verify(let hash):
            return .some(hash)
        }
    }

    /// Ends a login once the password was checked; answers itself. Returns whether the
    /// connection is authenticated afterwards.
    ///
    /// - Parameters:
    ///   - conn: the connection.
    ///   - id: request id.
    ///   - userKey: user fold key.
    ///   - verifiedHash: the stored hash the password matched; nil: it did not match.
    package func finishLogin(_ conn: Connection, id: String, userKey: String, verifiedHash: String?) async -> Bool {
        await changing { hub in
            hub.perform(
                hub.core.finishLogin(
                    conn.subscriberID,
                    id: id,
                    userKey: userKey,
                    verifiedHash: verifiedHash,
                    at: hub.clock.now()
                )
            )
        }
        await settle(conn.subscriberID, holding: conn)
        return core.isAuthenticated(conn.subscriberID)
    }

    /// Runs an operator's command and returns its result once its changes are stored.
    ///
    /// - Parameters:
    ///   - command: the command.
    package func admin(_ command: AdminCommand) async throws(AdminError) -> JSONObject {
        let outcome = await changing { hub -> Result<AdminPlan, AdminError> in
            do throws(AdminError) {
                let plan = try hub.core.admin(command, at: hub.clock.now())
                hub.perform(plan.step)
                return .success(plan)
            } catch {
                return .failure(error)
            }
        }
        let plan = try outcome.get()
        if let commit = plan.step.wait {
            await waitDurable(commit)
            if core.storageFailed { throw AdminError("storing the change failed; see the server log") }
        }
        return plan.result
    }

    /// The rooms a connection's user may search (the search takes from the read bucket).
    ///
    /// - Parameters:
    ///   - conn: the connection.
    ///   - room: the room the request names, if any.
    package func searchScope(_ conn: Connection, room: ValidName?) async -> Result<SearchScope, ProtocolError> {
        // On a cluster node, a membership changed on another node a moment ago.
        if let clusterStore { await clusterStore.catchUp() }
        return core.searchScope(conn.subscriberID, room: room, at: clock.now())
    }

    /// The next indexing batch (see `HubCore.indexBatch`): one short actor turn.
    ///
    /// - Parameters:
    ///   - cursors: the indexer's cursors, by room fold key.
    ///   - limit: most messages in the batch.
    package func indexBatch(after cursors: [String: IndexCursor], limit: Int) -> IndexBatch {
        var batch = core.indexBatch(after: cursors, limit: limit)
        if !core.storageFailed, !core.indexExpiries.isEmpty { batch.expiries = core.takeIndexExpiries() }
        return batch
    }

    /// The current text of search hits (nil: deleted, or gone), so results never show an
    /// edited message's old text or a deleted one while the index catches up.
    ///
    /// - Parameters:
    ///   - hits: room fold key and seq of each hit.
    package func currentTexts(_ hits: [(room: String, seq: Int64)]) -> [String?] {
        hits.map { core.currentText(room: $0.room, seq: $0.seq) }
    }

}
