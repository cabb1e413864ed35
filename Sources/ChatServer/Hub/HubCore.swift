import ChatCore
import ChatLog

/// The hub's decisions as a value: sessions, limits, rooms and the publish order. No actors,
/// no I/O and no clock: every entry point takes its input and the time and returns a
/// `HubStep` — the actions for the shell (`RoomHub`) to perform, in order.
///
/// Changes follow one path. A request's records are applied to `state` at once and handed
/// out as an `.append` action with a commit number; what the change answers or publishes
/// waits in `pending` until the shell reports the commit durable (`durable(through:at:)`),
/// and is then released in commit order. A session whose replies wait for a commit holds
/// its later requests back (except sends, which stage behind one another), so replies
/// keep the order of requests.
package struct HubCore: Sendable {
    /// Random values the core needs (tokens, room epochs); injected so tests can fix them.
    package struct Entropy: Sendable {
        package var newToken: @Sendable () -> String
        package var newEpoch: @Sendable () -> String

        /// Creates a source.
        ///
        /// - Parameters:
        ///   - newToken: a new session token.
        ///   - newEpoch: a new room epoch.
        package init(newToken: @escaping @Sendable () -> String, newEpoch: @escaping @Sendable () -> String) {
            self.newToken = newToken
            self.newEpoch = newEpoch
        }

        /// The system's random tokens and epochs.
        package static let system = Entropy(
            newToken: { PasswordHasher.newToken() },
            newEpoch: { PasswordHasher.newEpoch() }
        )
    }

    package let configuration: ServerConfiguration
    let entropy: Entropy
    package internal(set) var state: ChatState
    package internal(set) var sessions = SessionRegistry()
    /// Each user's token buckets, by kind (see `HubCore+Limits.swift`).
    var buckets: [Bucket: [String: TokenBucket]] = [:]
    var loginThrottle: LoginThrottle
    /// Look-alike key (Unicode TR39 skeleton, case-insensitive) → user fold key: a new name
    /// that looks like an existing one is refused.
    var lookalikes: [String: String] = [:]
    package internal(set) var sequencer: PublishSequencer
    /// Set once the store failed: the in-memory state may be ahead of the disk, and every
    /// change is refused from then on.
    package internal(set) var storageFailed = false
    package internal(set) var shuttingDown = false
    var lastCommit: CommitID = 0
    /// Commits handed out and not yet durable, in order.
    var pending: [PendingCommit] = []
    /// Messages of commits refused when the store failed: their records stay applied and in
    /// the store's retry, so they are published if the store recovers.
    var unconfirmed: [(message: ChatMessage, room: String)] = []
    /// Content hashes of uploads removed since the file sweeper last took them (`takeFreedBlobs`).
    package internal(set) var freedBlobs: Set<String> = []
    /// Rooms whose expired messages (`--retain-days`) the search index must drop, until the
    /// indexer takes them (`takeIndexExpiries`); every room with expired messages after a start.
    package internal(set) var indexExpiries: [String: IndexExpiry] = [:]
    /// `--cluster`: what each commit not yet written tells the other nodes (see `HubCore+Cluster.swift`).
    var clusterEvents: [CommitID: [ClusterEvent]] = [:]
    /// `--cluster`: sessions whose held-back requests run in the next write turn.
    var deferredDrains: [ConnID] = []
    /// `--cluster`: what this node must tell the others (presence, typing), until the shell takes it.
    var ephemeralOut: [EphemeralEvent] = []
    /// `--cluster`: user fold key → the other nodes it has a connection on.
    var remoteOnline: [String: Set<String>] = [:]
    /// `--cluster`: other node → when it was last heard from (monotonic seconds).
    var nodesSeen: [String: Double] = [:]

    /// Creates a core over recovered state.
    ///
    /// - Parameters:
    ///   - configuration: server configuration.
    ///   - state: state recovered from the store.
    ///   - entropy: where tokens and epochs come from.
    package init(configuration: ServerConfiguration, state: ChatState, entropy: Entropy = .system) {
        self.configuration = configuration
        self.entropy = entropy
        self.state = state
        self.sequencer = PublishSequencer(state)
        for (key, user) in state.users { lookalikes[Self.lookalikeKey(user.name)] = key }
        for (key, room) in state.rooms where room.expired > 0 {
            indexExpiries[key] = IndexExpiry(room: key, through: room.expired, before: room.expiredBefore)
        }
        self.loginThrottle = LoginThrottle(
            freeAttempts: configuration.loginFreeAttempts,
            base: configuration.loginBaseDelay
        )
    }

    // MARK: Connections

    /// Registers a connection, unless shutting down. (The connection limits were applied when
    /// the connection was accepted.)
    ///
    /// - Parameters:
    ///   - conn: the connection.
    ///   - address: its client address.
    package mutating func connect(_ conn: ConnID, address: String) -> ConnectRefusal? {
        guard !shuttingDown else { return .shuttingDown }
        sessions.add(conn, address: address)
        return nil
    }

    /// Forgets a connection: it leaves its rooms, and its user may go offline.
    ///
    /// - Parameters:
    ///   - conn: the connection.
    package mutating func disconnect(_ conn: ConnID) -> HubStep {
        var step = HubStep()
        guard let session = sessions.remove(conn) else { return step }
        for room in session.rooms { step.append(.unsubscribe(conn, room: room)) }
        if let user = session.userKey, !sessions.isOnline(user) { localPresence(user, online: false, into: &step) }
        return step
    }

    /// Refuses new connections from now on; returns the connections to close.
    package mutating func beginShutdown() -> [ConnID] {
        shuttingDown = true
        return Array(sessions.sessions.keys)
    }

    /// Whether the connection is authenticated.
    ///
    /// - Parameters:
    ///   - conn: the connection.
    package func isAuthenticated(_ conn: ConnID) -> Bool {
        sessions[conn]?.userKey != nil
    }

    /// The newest commit whose release the connection still waits for (nil: none).
    ///
    /// - Parameters:
    ///   - conn: the connection.
    package func awaitedCommit(of conn: ConnID) -> CommitID? {
        guard let session = sessions[conn], session.outstanding > 0 else { return nil }
        return pending.last { $0.isHeld(by: conn) }?.id
    }

    // MARK: Requests

    /// Takes one request of an open connection (not `hello`, `ping`, `register` or `login`:
    /// see `checkRegister`, `register`, `beginLogin` and `finishLogin`).
    ///
    /// - Parameters:
    ///   - conn: the connection.
    ///   - id: the request id.
    ///   - request: the validated request.
    ///   - now: the time.
    package mutating func receive(_ conn: ConnID, id: String, _ request: Request, at now: HubTime) -> HubStep {
        var step = HubStep()
        receive(conn, id: id, request, at: now, into: &step)
        return step
    }

    /// `receive(_:id:_:at:)`, appending to a step the caller keeps (and reuses).
    ///
    /// - Parameters:
    ///   - conn: the connection.
    ///   - id: the request id.
    ///   - request: the validated request.
    ///   - now: the time.
    ///   - step: where the actions go.
    package mutating func receive(
        _ conn: ConnID,
        id: String,
        _ request: Request,
        at now: HubTime,
        into step: inout HubStep
    ) {
        guard let outstanding = sessions[conn]?.outstanding, let queuedNone = sessions[conn]?.queued.isEmpty else {
            return
        }
        var isSend = false
        if case .send = request { isSend = true }
        // Sends stage behind earlier commits (their acks are released in order); anything else
        // waits until the session's earlier replies are out.
        if !queuedNone || (outstanding > 0 && !isSend) {
            sessions[conn]?.queued.append((id, request))
            return
        }
        dispatch(conn, id: id, request, at: now, into: &step)
    }

    private mutating func dispatch(
        _ conn: ConnID,
        id: String,
        _ request: Request,
        at now: HubTime,
        into step: inout HubStep
    ) {
        if case .resume(let token) = request {
            resume(conn, id: id, token: token, at: now, into: &step)
            return
        }
        guard let userKey = sessions[conn]?.userKey, let user = state.users[userKey] else {
            step.append(.reject(conn, id: id, ProtocolError(.unauthorized, "authenticate first")))
            return
        }
        do throws(ProtocolError) {
            switch request {
            case .logout:
                logout(conn, id: id, into: &step)
            case .join(let room, let since, let epoch):
                try join(conn, id: id, user: userKey, room: room, since: since, epoch: epoch, at: now, into: &step)
            case .leave(let room):
                try leave(conn, id: id, user: userKey, room: memberRoom(room, user: userKey), at: now, into: &step)
            case .rooms:
                try takeReadToken(userKey, at: now)
                step.append(.reply(conn, id: id, .rooms(visibleRooms(to: userKey))))
            case .members(let room):
                let key = try memberRoom(room, user: userKey)
                try takeReadToken(userKey, at: now)
                step.append(.reply(conn, id: id, .members(members(of: key))))
            case .topic(let room, let topic):
                try setTopic(
                    conn,
                    id: id,
                    user: user,
                    userKey: userKey,
                    room: room,
                    topic: topic,
                    at: now,
                    into: &step
                )
            case .history(let room, let before, let after, let limit):
                let key = try memberRoom(room, user: userKey)
                try takeReadToken(userKey, at: now)
                let limit = limit ?? min(50, configuration.limits.historyLimit)
                step.append(.reply(conn, id: id, try history(key, before: before, after: after, limit: limit)))
            case .markRead(let room, let seq):
                try markRead(conn, id: id, user: userKey, room: memberRoom(room, user: userKey), seq: seq, into: &step)
            case .send(let room, let text, let kind, let nonce, let replyTo, let file):
                try send(
                    conn,
                    id: id,
                    user: user,
                    userKey: userKey,
                    room: memberRoom(room, user: userKey),
                    text: text,
                    kind: kind,
                    nonce: nonce,
                    replyTo: replyTo,
                    file: file,
                    at: now,
                    into: &step
                )
            case .edit(let room, _, _), .delete(let room, _), .react(let room, _, _), .unreact(let room, _, _):
                guard let change = MessageChange(request) else { return }
                let key = try memberRoom(room, user: userKey)
                try self.change(conn, id: id, user: user, userKey: userKey, room: key, change, at: now, into: &step)
            case .typing(let room):
                let key = try memberRoom(room, user: userKey)
                try takeMessageToken(userKey, at: now)
                guard let roomState = state.rooms[key] else { return }
                let typing = HubEvent.typing(room: roomState.name, user: user.name)
                step.append(.publish(room: key, typing, excludingUser: userKey))
                if configuration.cluster { ephemeralOut.append(.publish(room: key, typing, excludingUser: userKey)) }
                step.append(.reply(conn, id: id, .ok))
            case .hello, .ping, .register, .login, .resume:
                step.append(.reject(conn, id: id, .badRequest("unexpected request")))
            case .create(let room, let visibility, let topic):
                try create(
                    conn,
                    id: id,
                    user: userKey,
                    room: room,
                    visibility: visibility,
                    topic: topic,
                    at: now,
                    into: &step
                )
            case .invite(let room, let invitee):
                try invite(
                    conn,
                    id: id,
                    user: user,
                    userKey: userKey,
                    room: room,
                    invitee: invitee,
                    at: now,
                    into: &step
                )
            case .kick(let room, let target):
                try kick(conn, id: id, user: user, userKey: userKey, room: room, target: target, at: now, into: &step)
            case .dm(let peer):
                try directRoom(conn, id: id, user: user, userKey: userKey, peer: peer, at: now, into: &step)
            }
        } catch {
            reject(conn, id: id, error, into: &step)
        }
    }

    /// Refuses a request, after the session's replies that wait for commits (a send refused
    /// behind pipelined sends is answered after their acks).
    mutating func reject(_ conn: ConnID, id: String, _ error: ProtocolError, into step: inout HubStep) {
        guard sessions[conn]?.outstanding ?? 0 > 0, !pending.isEmpty else {
            step.append(.reject(conn, id: id, error))
            return
        }
        pending[pending.count - 1].add(.reject(conn, id: id, error), holder: conn)
        sessions[conn]?.outstanding += 1
    }

    /// The room's fold key, if it exists and the user is a member.
    func memberRoom(_ room: ValidName, user: String) throws(ProtocolError) -> String {
        guard let roomState = state.rooms[room.key] else { throw ProtocolError(.notFound, "no such room") }
        guard roomState.members[user] != nil else { throw ProtocolError(.forbidden, "not a member of this room") }
        return room.key
    }

    // MARK: Presence and identity

    mutating func authenticate(_ conn: ConnID, userKey: String, tokenHash: String, into step: inout HubStep) {
        guard let session = sessions[conn] else { return }
        if let previous = session.userKey, previous != userKey { unauthenticate(conn, into: &step) }
        let wasKnown = sessions[conn]?.userKey == userKey
        sessions[conn]?.userKey = userKey
        sessions[conn]?.tokenHash = tokenHash
        step.append(.identify(conn, user: userKey))
        if !wasKnown, sessions.addUserConnection(userKey, conn) {
            localPresence(userKey, online: true, into: &step)
        }
    }

    mutating func unauthenticate(_ conn: ConnID, into step: inout HubStep) {
        guard var session = sessions[conn] else { return }
        for room in session.rooms.sorted() { step.append(.unsubscribe(conn, room: room)) }
        let user = session.userKey
        session.rooms = []
        session.userKey = nil
        session.tokenHash = nil
        sessions[conn] = session
        step.append(.identify(conn, user: nil))
        if let user, sessions.removeUserConnection(user, conn) { localPresence(user, online: false, into: &step) }
    }

    func broadcastPresence(_ userKey: String, online: Bool, into step: inout HubStep) {
        guard let user = state.users[userKey] else { return }
        var peers = Set<String>()
        for room in user.rooms {
            for member in state.rooms[room]?.members.keys ?? [:].keys where member != userKey { peers.insert(member) }
        }
        let targets = peers.flatMap { sessions.connections(of: $0) }.sorted()
        guard !targets.isEmpty else { return }
        step.append(.deliver(.presence(user: user.name, online: online), to: targets))
    }
}

extension HubCore {
    /// Moves a room's messages up to `seq` out of memory into `store` (the last step of a
    /// compaction on a copy of the state; tests call it on the hub's own).
    ///
    /// - Parameters:
    ///   - store: the cold store (kept for later reads).
    ///   - room: the room's fold key.
    ///   - seq: the newest seq to move.
    package mutating func moveToCold(_ store: any ColdStore, room: String, through seq: Int64) throws {
        state.cold = store
        try state.moveToCold(room: room, through: seq)
    }

    /// Drops from memory what a compaction moved to the cold store (after its commit) and
    /// expires what it expired.
    ///
    /// - Parameters:
    ///   - compaction: what the compaction committed.
    package mutating func applyCompaction(_ compaction: Compaction) {
        state.apply(compaction)
        for (key, trim) in compaction.rooms {
            guard let expiry = trim.expiry else { continue }
            indexExpiries[key] = IndexExpiry(room: key, through: expiry.through, before: expiry.before)
        }
    }

    /// The expiries the search index has not been given yet (see `indexExpiries`), which are
    /// then forgotten: the indexer retries a batch until it is stored.
    package mutating func takeIndexExpiries() -> [IndexExpiry] {
        defer { indexExpiries = [:] }
        return indexExpiries.keys.sorted().compactMap { indexExpiries[$0] }
    }
}
