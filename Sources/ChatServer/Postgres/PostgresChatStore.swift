import ChatCore
import ChatLog
import Foundation
import Glibc
import Logging
import Metrics
import NIOCore
import PostgresNIO
import ServiceLifecycle
import Synchronization

/// The store of `chat-server --postgres URL` (issue 17, first step: one node): every change is a
/// row in the cluster's tables, and a change is acknowledged once the transaction that holds it
/// has committed.
///
/// - `recover` migrates the schema, takes the database's serving lock (one node at a time until
///   nodes share rooms: a second node is refused at start), registers the node in `nodes`, and
///   loads the state in one `REPEATABLE READ` transaction; an upload whose bytes this node lacks
///   gets them from `blobs`.
/// - `append` queues records; one writer turns whatever is queued into **one transaction**
///   (group commit: a batch of inserts for consecutive messages, a statement for anything else,
///   in the order the hub applied them). The transaction moves each room's `head` from the
///   first new seq − 1 to the last, and fails if another writer moved it; it also stores the
///   batch's log sequence number in the node's row, so a batch whose commit outcome was lost
///   with the connection is recognised rather than written twice.
/// - When PostgreSQL is unreachable, the waiting changes fail (the hub refuses changes, replies
///   `internal`, and `/healthz` says 503); the writer reconnects and retries the same batch until
///   it commits, and the hub accepts changes again. Nothing queued is dropped.
package final class PostgresChatStore: ChatStore {
    /// The session-level advisory lock a serving node holds ("chat" + 1).
    package static let servingLockKey: Int64 = PostgresSchema.lockKey + 1
    /// `--cluster`: a node whose row was not updated for this long (milliseconds) is gone.
    static let deadNodeMs: Int64 = 60_000
    /// Most records in one transaction.
    static let maxBatchRecords = 4_096

    let settings: PostgresSettings
    let files: FileStore?
    private let directory: DataDirectory?
    /// `--standby`: wait at start while another node serves the database, then take over.
    private let standby: Bool
    /// `--cluster`: serve beside other cluster nodes (`PostgresChatStore+Cluster.swift`).
    let cluster: Bool
    /// The data directory's `LOCK`, held while the node runs (-1: none).
    let lockFD = Mutex<Int32>(-1)
    let logger: Logger
    /// This node's row in `nodes`.
    package let nodeID: String
    let state = Mutex(Inner())
    /// Each batch's transaction, from `BEGIN` to the answer to `COMMIT`.
    let commitTimer = Timer(label: "chat_postgres_commit_seconds")
    let batches = Counter(label: "chat_postgres_batches_total")
    let records = Counter(label: "chat_postgres_records_total")
    /// 1 while writing failed and changes are refused (as for the file store).
    let failing = Gauge(label: "chat_storage_failing")
    /// The write in progress and its connection (`write`, `watch`).
    let inFlight = Mutex<(connection: ObjectIdentifier, once: ResumeOnce)?>(nil)
    let wakes: AsyncStream<Void>
    let wake: AsyncStream<Void>.Continuation

    struct Inner {
        var queue: [(lsn: UInt64, records: [LogRecord], events: [ClusterEvent])] = []
        var lastLSN: UInt64 = 0
        var durable: UInt64 = 0
        var failure: String?
        var waiters: [(lsn: UInt64, continuation: CheckedContinuation<Void, any Error>)] = []
        /// The connection `recover` opened, for the writer.
        var connection: PostgresConnection?
        var stopping = false
        /// `--cluster`: the hub whose write turns the writer runs.
        var hub: RoomHub?
        /// `--cluster`: the hub asked for a write turn.
        var turnWanted = false
        /// `--cluster`: other nodes may have committed (a notification, or the periodic check).
        var followWanted = false
        /// `--cluster`: the newest `cluster_log` id this node's state holds.
        var applied: Int64 = 0
        /// `--cluster`: a turn whose commit was not confirmed: its batch's lsn and log id.
        var uncertain: (lsn: UInt64, id: Int64)?
        /// `--cluster`: the connection that listens for other nodes' commits.
        var listener: PostgresConnection?
        /// `--cluster`: presence and typing to tell the other nodes.
        var notes: [EphemeralEvent] = []
        /// `--cluster`: other nodes' presence and typing waiting for this node to apply the
        /// `cluster_log` rows their sender had applied, in arrival order.
        var waitingEphemeral: [(node: String, after: Int64, event: EphemeralEvent)] = []
        /// `--cluster`: reads of other nodes' commits started, and the newest one finished.
        var followsStarted = 0
        var followDone = 0
    }

    /// Creates the store; nothing is opened until `recover`.
    ///
    /// - Parameters:
    ///   - settings: the database.
    ///   - files: where this node keeps upload bytes (their copy of record is in `blobs`).
    ///   - dataDirectory: the node's own directory (locked while it runs; nil: none).
    ///   - standby: wait while another node serves the database (else refuse to start).
    ///   - logger: logger.
    package init(
        settings: PostgresSettings,
        files: FileStore?,
        dataDirectory: String?,
        standby: Bool = false,
        cluster: Bool = false,
        logger: Logger
    ) {
        self.settings = settings
        self.standby = standby
        self.cluster = cluster
        self.files = files
        directory = dataDirectory.map(DataDirectory.init)
        self.logger = logger
        nodeID = UUID().uuidString.lowercased()
        (wakes, wake) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    // MARK: ChatStore

    package func recover() async throws -> ChatState {
        if let directory {
            try directory.prepare()
            let fd = try directory.lockExclusively("another chat-server runs on this data directory")
            lockFD.withLock { $0 = fd }
            do {
                // A single box's state here would be ignored without a word: say how to move it.
                guard try directory.isEmpty() else {
                    throw StorageError.io(
                        directory.path,
                        "this data directory holds a single-box server's state, which --postgres does not read: "
                            + "copy it with 'chat-server migrate --from \(directory.path) --to URL' and give the "
                            + "node another --data-dir"
                    )
                }
                // Marks the directory as this kind of node's (`DataDirectory.checkNotPostgresNode`).
                try directory.writeAtomically(
                    Array((settings.redacted + "\n").utf8),
                    to: directory.postgresMarkerPath
                )
                // The search index is derived from the state, which may have changed since this
                // node last ran (another node served, the database was restored): an edit or a
                // delete made meanwhile would leave old text findable. It is rebuilt from the
                // state this start loads.
                try? FileManager.default.removeItem(atPath: SearchReindex.directory(dataDirectory: directory.path))
                return try await recoverFromPostgres()
            } catch {
                unlock()
                throw error
            }
        }
        return try await recoverFromPostgres()
    }

    private func unlock() {
        let fd = lockFD.withLock { fd in
            defer { fd = -1 }
            return fd
        }
        if fd >= 0 { Glibc.close(fd) }
    }

    private func recoverFromPostgres() async throws -> ChatState {
        try await settings.probe(logger: logger)
        let connection = try await PostgresConnection.connect(
            configuration: try settings.connectionConfiguration(),
            id: 1,
            logger: logger
        )
        do {
            let outcome = try await PostgresSchema.migrate(connection, logger: logger)
            if cluster {
                try await takeClusterLock(connection)
            } else if standby {
                try await waitForServingLock(connection)
            } else {
                try await takeServingLock(connection)
            }
            // Under the serving lock no other node runs: other rows were left by nodes that died.
            if !cluster {
                try await connection.query("DELETE FROM nodes", logger: logger)
            } else {
                // Cluster nodes update their row every few seconds: one silent for a minute died.
                try await connection.query(
                    "DELETE FROM nodes WHERE seen_at < \(Self.now() - Self.deadNodeMs)",
                    logger: logger
                )
            }
            try await connection.query(
                """
                INSERT INTO nodes (id, lsn, started_at, seen_at)
                VALUES (\(nodeID), 0, \(Self.now()), \(Self.now()))
                """,
                logger: logger
            )
            let (state, applied) = try await connection.transaction(logger: logger) { connection in
                try await connection.query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ", logger: logger)
                let state = try await PostgresState.load(connection, logger: logger)
                let applied =
                    try await connection.query("SELECT head FROM cluster_head WHERE id = 1", logger: logger)
                    .collect().first?.decode(Int64.self) ?? 0
                return (state, applied)
            }
            self.state.withLock { $0.applied = applied }
            let restored = try await restoreBlobs(state, connection)
            logger.info(
                "state loaded from PostgreSQL",
                metadata: [
                    "chat.postgres": "\(settings.redacted)",
                    "chat.schema": "\(outcome.from)→\(outcome.to)",
                    "chat.node": "\(nodeID)",
                    "chat.users": "\(state.users.count)",
                    "chat.rooms": "\(state.rooms.count)",
                    "chat.messages": "\(state.rooms.values.reduce(0) { $0 + $1.head })",
                    "chat.files_restored": "\(restored)",
                ]
            )
            self.state.withLock { $0.connection = connection }
            watch(connection)
            return state
        } catch {
            try? await connection.close()
            throw error
        }
    }

    package func append(_ records: [LogRecord]) -> UInt64 {
        append(records, events: [])
    }

    /// `append(_:)` with what the commit tells other cluster nodes.
    ///
    /// - Parameters:
    ///   - records: the changes, in the order they were applied.
    ///   - events: the commit's events for other nodes' connections.
    package func append(_ records: [LogRecord], events: [ClusterEvent]) -> UInt64 {
        let lsn = state.withLock { inner -> UInt64 in
            guard !records.isEmpty else { return inner.lastLSN }
            inner.lastLSN += 1
            inner.queue.append((inner.lastLSN, records, events))
            return inner.lastLSN
        }
        wake.yield()
        return lsn
    }

    package func waitDurable(_ lsn: UInt64) async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let outcome = state.withLock { inner -> Result<Void, any Error>? in
                if inner.durable >= lsn { return .success(()) }
                if let failure = inner.failure { return .failure(PostgresStoreError.source(failure)) }
                inner.waiters.append((lsn, continuation))
                return nil
            }
            if let outcome { continuation.resume(with: outcome) }
        }
    }

    package func isDurable(_ lsn: UInt64) -> Bool {
        // A cluster node may have nothing left to write and still be unable to run a turn.
        state.withLock { $0.durable >= lsn && !(cluster && $0.failure != nil) }
    }

    /// Every change is in the tables as it commits: there is nothing to snapshot.
    package var snapshotDue: Bool { false }

    package func snapshot(_ state: ChatState) {}

    package func run() async throws {
        await withGracefulShutdownHandler {
            if cluster {
                await clusterRun()
            } else {
                await writeLoop()
            }
        } onGracefulShutdown: {
            self.state.withLock { $0.stopping = true }
            self.wake.finish()
        }
        await close()
    }

    /// Leaves: removes the node's row, closes the connection (releasing the serving lock) and
    /// unlocks the data directory. `run` does it once everything queued is written.
    package func close() async {
        let (connection, listener) = state.withLock { inner -> (PostgresConnection?, PostgresConnection?) in
            defer {
                inner.connection = nil
                inner.listener = nil
                inner.hub = nil
            }
            return (inner.connection, inner.listener)
        }
        try? await listener?.close()
        if let connection {
            if cluster {
                let bye = EphemeralEvent.bye.payload(node: nodeID)
                _ = try? await connection.query("SELECT pg_notify('chat_ephemeral', \(bye))", logger: logger)
            }
            _ = try? await connection.query("DELETE FROM nodes WHERE id = \(nodeID)", logger: logger)
            // Released now, not when the server notices the closed connection (a node started
            // right after this one stops must not find it still held).
            let unlock = cluster ? "pg_advisory_unlock_shared" : "pg_advisory_unlock"
            _ = try? await connection.query(
                "SELECT \(unescaped: unlock)(\(Self.servingLockKey))",
                logger: logger
            )
            try? await connection.close()
        }
        unlock()
    }

    // MARK: Writer

    /// Writes batches until shut down and drained.
    private func writeLoop() async {
        var wakes = self.wakes.makeAsyncIterator()
        while true {
            if let batch = nextBatch() {
                await store(batch)
                continue
            }
            guard await wakes.next() != nil else { break }
        }
        // Shut down: what the hub appended last (it stops first) is written too.
        while let batch = nextBatch() { await store(batch) }
    }

    struct Batch {
        var records: [LogRecord]
        var lsn: UInt64
        var entries: Int
        /// `--cluster`: the queued commits, with their events.
        var commits: [ClusterEntry] = []
    }

    /// The queued records, oldest first, up to `maxBatchRecords` (at least one entry).
    private func nextBatch() -> Batch? {
        state.withLock { inner in
            guard !inner.queue.isEmpty else { return nil }
            var records: [LogRecord] = []
            var entries = 0
            var lsn: UInt64 = 0
            for entry in inner.queue {
                if entries > 0, records.count + entry.records.count > Self.maxBatchRecords { break }
                records.append(contentsOf: entry.records)
                lsn = entry.lsn
                entries += 1
            }
            return Batch(records: records, lsn: lsn, entries: entries)
        }
    }

    /// Commits a batch, retrying (reconnecting) until it is stored; on shutdown gives up after
    /// about ten seconds of failures and says what was lost.
    private func store(_ batch: Batch) async {
        var delay = Duration.milliseconds(100)
        var failedSince: ContinuousClock.Instant?
        var uncertain = false
        while true {
            do {
                let connection = try await writerConnection()
                if uncertain, try await committed(batch.lsn, connection) {
                    logger.notice(
                        "a batch whose commit was not confirmed is stored",
                        metadata: ["chat.lsn": "\(batch.lsn)"]
                    )
                } else {
                    let start = ContinuousClock.now
                    try await write(batch, connection)
                    commitTimer.recordInterval(since: start)
                    batches.increment()
                    records.increment(by: batch.records.count)
                }
                finished(batch)
                failing.record(0)
                if failedSince != nil { logger.notice("PostgreSQL writes again") }
                return
            } catch {
                uncertain = true
                let first = failedSince == nil
                failedSince = failedSince ?? .now
                fail(PostgresStoreError.describe(error), log: first)
                failing.record(1)
                await dropConnection()
                let stopping = state.withLock { $0.stopping }
                let cancelled = Task.isCancelled
                if cancelled || (stopping && failedSince.map { ContinuousClock.now - $0 > .seconds(10) } == true) {
                    let lost = state.withLock { $0.queue.reduce(0) { $0 + $1.records.count } }
                    logger.critical(
                        "shutting down without PostgreSQL: changes not stored",
                        metadata: ["chat.records": "\(lost)"]
                    )
                    state.withLock { $0.queue = [] }
                    return
                }
                try? await Task.sleep(for: delay)
                delay = min(delay * 2, .seconds(2))
            }
        }
    }

    /// The batch is stored: its waiters resume, and the store works (again).
    func finished(_ batch: Batch) {
        let ready = state.withLock { inner -> [CheckedContinuation<Void, any Error>] in
            inner.queue.removeFirst(batch.entries)
            inner.durable = batch.lsn
            inner.failure = nil
            var ready: [CheckedContinuation<Void, any Error>] = []
            inner.waiters.removeAll { waiter in
                guard waiter.lsn <= batch.lsn else { return false }
                ready.append(waiter.continuation)
                return true
            }
            return ready
        }
        for continuation in ready { continuation.resume() }
    }

    /// Storing failed: every waiter gets the error (the hub refuses changes until the retry
    /// goes through).
    func fail(_ reason: String, log: Bool) {
        if log {
            logger.error("writing to PostgreSQL failed; retrying", metadata: ["error": "\(reason)"])
        }
        let waiters = state.withLock { inner in
            inner.failure = reason
            defer { inner.waiters = [] }
            return inner.waiters
        }
        for waiter in waiters { waiter.continuation.resume(throwing: PostgresStoreError.source(reason)) }
    }

    func dropConnection() async {
        let connection = state.withLock { inner -> PostgresConnection? in
            defer { inner.connection = nil }
            return inner.connection
        }
        try? await connection?.close()
    }

    /// The writer's connection, opened again (with the serving lock) after a failure.
    func writerConnection() async throws -> PostgresConnection {
        if let connection = state.withLock({ $0.connection }), !connection.isClosed { return connection }
        let connection = try await PostgresConnection.connect(
            configuration: try settings.connectionConfiguration(),
            id: 1,
            logger: logger
        )
        do {
            try await retakeServingLock(connection)
        } catch {
            // Closed on every way out: postgres-nio traps when a connection is released open.
            try? await connection.close()
            throw error
        }
        state.withLock { $0.connection = connection }
        watch(connection)
        return connection
    }

    /// Takes the serving lock again after a reconnect. This node's previous session may hold it
    /// for a moment yet (PostgreSQL releases it when that backend exits, a little after the
    /// connection closed): only a lock still held after ten seconds is another node's, and then
    /// this node exits.
    private func retakeServingLock(_ connection: PostgresConnection) async throws {
        let deadline = ContinuousClock.now + .seconds(10)
        while true {
            do {
                // Shared by cluster nodes, exclusive otherwise.
                if cluster {
                    try await takeClusterLock(connection)
                } else {
                    try await takeServingLock(connection)
                }
                return
            } catch let error as PostgresStoreError {
                guard ContinuousClock.now >= deadline else {
                    try await Task.sleep(for: .milliseconds(200))
                    continue
                }
                // Another node took the database over while this one was cut off (it started as
                // a standby, or without --cluster): whatever this node still holds is stale, and
                // it can never write again. Its clients reconnect (through the load balancer) to
                // the node that serves.
                logger.critical(
                    "another node took over this database while this one was cut off from it; exiting",
                    metadata: ["error": "\(error)"]
                )
                exit(3)
            }
        }
    }

    /// Waits (polling once a second) until no other node serves the database, then takes the lock.
    private func waitForServingLock(_ connection: PostgresConnection) async throws {
        var logged = false
        while true {
            let taken =
                try await connection.query("SELECT pg_try_advisory_lock(\(Self.servingLockKey))", logger: logger)
                .collect().first?.decode(Bool.self) ?? false
            if taken { break }
            if !logged {
                logger.notice("standby: another node serves this database; taking over when it stops")
                logged = true
            }
            try await Task.sleep(for: .seconds(1))
        }
        if logged { logger.notice("standby: the database is free; taking over") }
    }

    /// Takes the session-level lock that one serving node holds.
    private func takeServingLock(_ connection: PostgresConnection) async throws {
        let taken =
            try await connection.query("SELECT pg_try_advisory_lock(\(Self.servingLockKey))", logger: logger)
            .collect().first?.decode(Bool.self) ?? false
        guard taken else {
            throw PostgresStoreError.source(
                "another chat-server node serves this database; without --cluster one node serves a database "
                    + "at a time (start this one with --standby to take over when that one stops, or run every node "
                    + "with --cluster; docs/OPERATIONS.md, section 19)"
            )
        }
    }

    /// Whether the batch ending at `lsn` committed (its commit outcome was lost with the connection).
    func committed(_ lsn: UInt64, _ connection: PostgresConnection) async throws -> Bool {
        let stored =
            try await connection.query("SELECT lsn FROM nodes WHERE id = \(nodeID)", logger: logger)
            .collect().first?.decode(Int64.self) ?? 0
        return stored >= Int64(lsn)
    }

    /// `transaction(_:_:)`, or an error as soon as the connection closes: postgres-nio was seen to
    /// leave a query of the transaction waiting forever when PostgreSQL shut down under it (a fast
    /// shutdown while the batch was being written; the node then neither stored nor failed
    /// anything until it was killed). The abandoned task only ever meets the closed connection.
    private func write(_ batch: Batch, _ connection: PostgresConnection) async throws {
        try await guarded(connection) { try await self.transaction(batch, connection) }
    }

    /// Runs `body` (queries on `connection`), or fails as soon as the connection closes (see `write`).
    func guarded(_ connection: PostgresConnection, _ body: @escaping @Sendable () async throws -> Void) async throws {
        defer { inFlight.withLock { $0 = nil } }
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let once = ResumeOnce(continuation)
            inFlight.withLock { $0 = (ObjectIdentifier(connection), once) }
            if connection.isClosed { once.resume(.failure(Self.closed)) }  // closed before `watch` could see it
            Task {
                do {
                    try await body()
                    once.resume(.success(()))
                } catch {
                    once.resume(.failure(error))
                }
            }
        }
    }

    static let closed = PostgresStoreError.source("the connection to PostgreSQL closed")

    /// Fails the write in flight on `connection` when it closes (one callback per connection, not
    /// one per write: the future keeps every callback until it completes).
    func watch(_ connection: PostgresConnection) {
        let id = ObjectIdentifier(connection)
        connection.closeFuture.whenComplete { [weak self] _ in
            let once = self?.inFlight.withLock { $0?.connection == id ? $0?.once : nil }
            once?.resume(.failure(Self.closed))
        }
    }

    /// One transaction: the records in order, then the rooms' heads, then the node's lsn.
    private func transaction(_ batch: Batch, _ connection: PostgresConnection) async throws {
        let logger = self.logger
        let nodeID = self.nodeID
        let files = self.files
        if let messages = RecordWriter.plainMessages(batch.records) {
            // The usual batch: new messages only, in one statement (one round trip, atomic).
            try await RecordWriter.insertOnly(
                messages,
                connection: connection,
                logger: logger,
                node: nodeID,
                lsn: Int64(batch.lsn),
                now: Self.now()
            )
            return
        }
        try await connection.transaction(logger: logger) { connection in
            var writer = RecordWriter(connection: connection, logger: logger, files: files)
            for record in batch.records { try await writer.apply(record) }
            try await writer.finish(node: nodeID, lsn: Int64(batch.lsn), now: Self.now())
        }
    }

    /// Writes into this node's file store the bytes of every upload it lacks.
    private func restoreBlobs(_ state: ChatState, _ connection: PostgresConnection) async throws -> Int {
        guard let files else { return 0 }
        var restored = 0
        for sha256 in Set(state.uploads.values.map(\.file.sha256)).sorted() {
            let path = files.blobPath(sha256)
            guard !FileManager.default.fileExists(atPath: path) else { continue }
            let empty = state.uploads.values.contains { $0.file.sha256 == sha256 && $0.file.size == 0 }
            if try await restoreBlob(sha256, empty: empty, connection) { restored += 1 }
        }
        return restored
    }

    /// `--cluster`: writes into this node's file store the bytes of an upload another node took;
    /// false when they are in neither (or PostgreSQL cannot be reached).
    ///
    /// - Parameters:
    ///   - sha256: the content hash.
    ///   - empty: whether the upload is empty.
    package func fetchBlob(_ sha256: String, empty: Bool) async -> Bool {
        do {
            let connection = try await PostgresConnection.connect(
                configuration: try settings.connectionConfiguration(),
                id: 3,
                logger: logger
            )
            let restored: Bool
            do {
                restored = try await restoreBlob(sha256, empty: empty, connection)
            } catch {
                try? await connection.close()
                throw error
            }
            try? await connection.close()
            return restored
        } catch {
            logger.error("reading an upload's bytes from PostgreSQL failed", metadata: ["error": "\(error)"])
            return false
        }
    }

    /// Copies one upload's bytes from `blobs` into this node's file store.
    private func restoreBlob(_ sha256: String, empty: Bool, _ connection: PostgresConnection) async throws -> Bool {
        guard let files else { return false }
        let path = files.blobPath(sha256)
        var data = Data()
        for try await part in try await connection.query(
            "SELECT data FROM blobs WHERE sha256 = \(sha256) ORDER BY part",
            logger: logger
        ).decode(ByteBuffer.self) {
            data.append(contentsOf: part.readableBytesView)
        }
        guard !data.isEmpty || empty else {
            logger.warning(
                "an upload's bytes are in neither this node nor PostgreSQL",
                metadata: ["chat.sha256": "\(sha256)"]
            )
            return false
        }
        try FileManager.default.createDirectory(
            atPath: (path as NSString).deletingLastPathComponent,
            withIntermediateDirectories: true,
            attributes: [.posixPermissions: 0o700]
        )
        try data.write(to: URL(fileURLWithPath: path), options: .atomic)
        return true
    }

    static func now() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) }
}

/// Resumes a continuation once; later results are dropped.
final class ResumeOnce: Sendable {
    private let continuation: Mutex<CheckedContinuation<Void, any Error>?>

    init(_ continuation: CheckedContinuation<Void, any Error>) { self.continuation = Mutex(continuation) }

    func resume(_ result: Result<Void, any Error>) {
        let continuation = self.continuation.withLock { continuation in
            defer { continuation = nil }
            return continuation
        }
        continuation?.resume(with: result)
    }
}
