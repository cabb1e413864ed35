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
    var messageBuckets: [String: TokenBucket] = [:]
    var roomCreation: [String: TokenBucket] = [:]
    var loginThrottle: LoginThrottle
    package internal(set) var sequencer: PublishSequencer
    /// Set once the store failed: the in-memory state may be ahead of the disk, and every
    /// change is refused from then on.
    package internal(set) var storageFailed = false
    package internal(set) var shuttingDown = false
    private var lastCommit: CommitID = 0
    /// Commits handed out and not yet durable, in order.
    private var pending: [PendingCommit] = []

    /// What a commit releases once durable (or refuses, if storing failed).
    enum AfterCommit: Sendable {
        /// A reply that must wait for the change to be stored.
        case reply(ConnID, id: String, HubReply)
        /// A refusal that must wait for earlier replies of its session.
        case reject(ConnID, id: String, ProtocolError)
        /// A stored message: published in seq order.
        case message(ChatMessage, room: String)
        case publish(room: String, HubEvent, excludingUser: String?)
        /// An event to a user's connections except one.
        case deliverToUser(String, HubEvent, except: ConnID?)
        /// `register`/`login`: authenticate the connection and answer with the token.
        case authenticate(ConnID, id: String, user: String, token: String, tokenHash: String)
        /// `join`: subscribe and answer with the backlog, in one turn.
        case join(ConnID, id: String, user: String, room: String, since: Int64?, epoch: String?, announce: Bool)
        /// `leave`: every connection of the user stops following the room.
        case leave(user: String, room: String)
        /// `logout`: close the token's other connections and drop the caller's identity.
        case logout(ConnID, tokenHash: String)
        /// Close every connection of a user, or using one of these tokens.
        case endSessions(user: String?, tokenHashes: Set<String>)
    }

    struct PendingCommit: Sendable {
        let id: CommitID
        var work: [AfterCommit]
        /// Sessions whose replies wait for this commit.
        var holders: [ConnID]
    }

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
        self.loginThrottle = LoginThrottle(
            freeAttempts: configuration.loginFreeAttempts,
            base: configuration.loginBaseDelay
        )
    }

    // MARK: Connections

    /// Registers a connection, unless shutting down or a connection limit is reached.
    ///
    /// - Parameters:
    ///   - conn: the connection.
    ///   - address: its source address.
    package mutating func connect(_ conn: ConnID, address: String) -> ConnectRefusal? {
        guard !shuttingDown else { return .shuttingDown }
        return sessions.add(
            conn,
            address: address,
            maxTotal: configuration.maxConnections,
            maxPerAddress: configuration.maxConnectionsPerAddress
        )
    }

    /// Forgets a connection: it leaves its rooms, and its user may go offline.
    ///
    /// - Parameters:
    ///   - conn: the connection.
    package mutating func disconnect(_ conn: ConnID) -> HubStep {
        var step = HubStep()
        guard let session = sessions.remove(conn) else { return step }
        for room in session.rooms { step.append(.unsubscribe(conn, room: room)) }
        if let user = session.userKey, !sessions.isOnline(user) { broadcastPresence(user, online: false, into: &step) }
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
        return pending.last { $0.holders.contains(conn) }?.id
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

    private mutating func receive(
        _ conn: ConnID,
        id: String,
        _ request: Request,
        at now: HubTime,
        into step: inout HubStep
    ) {
        guard let session = sessions[conn] else { return }
        var isSend = false
        if case .send = request { isSend = true }
        // Sends stage behind earlier commits (their acks are released in order); anything else
        // waits until the session's earlier replies are out.
        if !session.queued.isEmpty || (session.outstanding > 0 && !isSend) {
            sessions[conn]?.queued.append((id, request))
            return
        }
        dispatch(conn, id: id, request, session: session, at: now, into: &step)
    }

    private mutating func dispatch(
        _ conn: ConnID,
        id: String,
        _ request: Request,
        session: SessionRegistry.Session,
        at now: HubTime,
        into step: inout HubStep
    ) {
        if case .resume(let token) = request {
            resume(conn, id: id, token: token, into: &step)
            return
        }
        guard let userKey = session.userKey, let user = state.users[userKey] else {
            step.append(.reject(conn, id: id, ProtocolError(.unauthorized, "authenticate first")))
            return
        }
        do throws(ProtocolError) {
            switch request {
            case .logout:
                logout(conn, id: id, session: session, into: &step)
            case .join(let room, let since, let epoch):
                try join(conn, id: id, user: userKey, room: room, since: since, epoch: epoch, at: now, into: &step)
            case .leave(let room):
                try leave(conn, id: id, user: userKey, room: memberRoom(room, user: userKey), into: &step)
            case .rooms:
                step.append(.reply(conn, id: id, .rooms(allRooms())))
            case .members(let room):
                step.append(.reply(conn, id: id, .members(members(of: try memberRoom(room, user: userKey)))))
            case .topic(let room, let topic):
                try setTopic(conn, id: id, user: user, userKey: userKey, room: room, topic: topic, into: &step)
            case .history(let room, let before, let after, let limit):
                let key = try memberRoom(room, user: userKey)
                let limit = limit ?? min(50, configuration.limits.historyLimit)
                step.append(.reply(conn, id: id, history(key, before: before, after: after, limit: limit)))
            case .markRead(let room, let seq):
                try markRead(conn, id: id, user: userKey, room: memberRoom(room, user: userKey), seq: seq, into: &step)
            case .send(let room, let text, let kind, let nonce):
                try send(
                    conn,
                    id: id,
                    user: user,
                    userKey: userKey,
                    room: memberRoom(room, user: userKey),
                    text: text,
                    kind: kind,
                    nonce: nonce,
                    at: now,
                    into: &step
                )
            case .typing(let room):
                let key = try memberRoom(room, user: userKey)
                try takeMessageToken(userKey, at: now)
                guard let roomState = state.rooms[key] else { return }
                step.append(
                    .publish(room: key, .typing(room: roomState.name, user: user.name), excludingUser: userKey)
                )
                step.append(.reply(conn, id: id, .ok))
            case .hello, .ping, .register, .login, .resume:
                step.append(.reject(conn, id: id, .badRequest("unexpected request")))
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
        pending[pending.count - 1].work.append(.reject(conn, id: id, error))
        pending[pending.count - 1].holders.append(conn)
        sessions[conn]?.outstanding += 1
    }

    /// The room's fold key, if it exists and the user is a member.
    func memberRoom(_ room: ValidName, user: String) throws(ProtocolError) -> String {
        guard let roomState = state.rooms[room.key] else { throw ProtocolError(.notFound, "no such room") }
        guard roomState.members[user] != nil else { throw ProtocolError(.forbidden, "not a member of this room") }
        return room.key
    }

    // MARK: Commits

    /// Applies records and hands them out as an `.append`; `work` runs once they are durable.
    /// False, with nothing applied, after a storage failure.
    ///
    /// - Parameters:
    ///   - records: the changes.
    ///   - holder: the session whose replies wait for this commit.
    ///   - work: what the commit releases.
    mutating func commit(
        _ records: [LogRecord],
        holder: ConnID?,
        work: [AfterCommit],
        into step: inout HubStep
    ) -> Bool {
        guard !storageFailed else { return false }
        for record in records { state.apply(record) }
        lastCommit += 1
        step.append(.append(records, commit: lastCommit))
        step.wait = lastCommit
        pending.append(PendingCommit(id: lastCommit, work: work, holders: holder.map { [$0] } ?? []))
        if let holder { sessions[holder]?.outstanding += 1 }
        return true
    }

    /// `commit`, or the request is refused when changes cannot be stored.
    mutating func commitOrRefuse(
        _ records: [LogRecord],
        conn: ConnID,
        id: String,
        work: [AfterCommit],
        into step: inout HubStep
    ) {
        if !commit(records, holder: conn, work: work, into: &step) {
            step.append(.reject(conn, id: id, Self.cannotStore))
        }
    }

    static let cannotStore = ProtocolError(.internal, "the server cannot store changes")
    static let storeFailed = ProtocolError(.internal, "the server could not store the change")

    /// A reply released after everything committed so far is durable (at once when nothing
    /// is pending); refused after a storage failure.
    mutating func replyAfterPending(_ conn: ConnID, id: String, _ reply: HubReply, into step: inout HubStep) {
        guard !storageFailed else {
            step.append(.reject(conn, id: id, Self.storeFailed))
            return
        }
        guard !pending.isEmpty else {
            step.append(.reply(conn, id: id, reply))
            return
        }
        pending[pending.count - 1].work.append(.reply(conn, id: id, reply))
        pending[pending.count - 1].holders.append(conn)
        sessions[conn]?.outstanding += 1
    }

    /// Everything up to `commit` is stored: releases what waited for it, in commit order,
    /// then the requests that waited behind those replies.
    ///
    /// - Parameters:
    ///   - commit: a commit number from an `.append`.
    ///   - now: the time.
    package mutating func durable(through commit: CommitID, at now: HubTime) -> HubStep {
        var step = HubStep()
        var release = ReleaseBuffer()
        var unblocked: [ConnID] = []
        var count = 0
        while count < pending.count, pending[count].id <= commit {
            let done = pending[count]
            count += 1
            for work in done.work { run(work, release: &release, into: &step) }
            unhold(done.holders, unblocked: &unblocked)
        }
        guard count > 0 else { return step }
        pending.removeFirst(count)
        release.flush(into: &step)
        for conn in unblocked { drainQueue(conn, at: now, into: &step) }
        return step
    }

    /// The store failed: every pending change is refused (its records stay applied in memory,
    /// so nothing is published), and so is every change from now on.
    ///
    /// - Parameters:
    ///   - now: the time.
    package mutating func storageFailed(at now: HubTime) -> HubStep {
        storageFailed = true
        var step = HubStep()
        var unblocked: [ConnID] = []
        let failed = pending
        pending = []
        for done in failed {
            for work in done.work {
                switch work {
                case .reply(let conn, let id, _), .authenticate(let conn, let id, _, _, _),
                    .join(let conn, let id, _, _, _, _, _):
                    step.append(.reject(conn, id: id, Self.storeFailed))
                case .reject(let conn, let id, let error):
                    step.append(.reject(conn, id: id, error))
                case .message, .publish, .deliverToUser, .leave, .logout, .endSessions:
                    break
                }
            }
            unhold(done.holders, unblocked: &unblocked)
        }
        for conn in unblocked { drainQueue(conn, at: now, into: &step) }
        return step
    }

    private mutating func unhold(_ holders: [ConnID], unblocked: inout [ConnID]) {
        for conn in holders {
            guard var session = sessions[conn] else { continue }
            session.outstanding -= 1
            if session.outstanding == 0, !session.queued.isEmpty, !unblocked.contains(conn) { unblocked.append(conn) }
            sessions[conn] = session
        }
    }

    private mutating func drainQueue(_ conn: ConnID, at now: HubTime, into step: inout HubStep) {
        guard let queued = sessions[conn]?.queued, !queued.isEmpty else { return }
        sessions[conn]?.queued = []
        for (id, request) in queued { receive(conn, id: id, request, at: now, into: &step) }
    }

    /// Messages and plain replies released together: each room's messages are published as
    /// one run, then the replies in order. Anything else flushes them first, so room events
    /// and subscriptions keep their place in the order.
    struct ReleaseBuffer {
        var runs: [(room: String, messages: [ChatMessage])] = []
        var replies: [HubAction] = []

        mutating func flush(into step: inout HubStep) {
            for run in runs { step.append(.publishMessages(room: run.room, run.messages)) }
            step.actions.append(contentsOf: replies)
            runs = []
            replies = []
        }
    }

    private mutating func run(_ work: AfterCommit, release: inout ReleaseBuffer, into step: inout HubStep) {
        switch work {
        case .reply(let conn, let id, let reply):
            release.replies.append(.reply(conn, id: id, reply))
            return
        case .reject(let conn, let id, let error):
            release.replies.append(.reject(conn, id: id, error))
            return
        case .message(let message, let room):
            let ready = sequencer.stored(message, room: room)
            guard !ready.isEmpty else { return }
            if let index = release.runs.firstIndex(where: { $0.room == room }) {
                release.runs[index].messages.append(contentsOf: ready)
            } else {
                release.runs.append((room, ready))
            }
            return
        default:
            release.flush(into: &step)
        }
        switch work {
        case .reply, .reject, .message:
            break
        case .publish(let room, let event, let excludingUser):
            step.append(.publish(room: room, event, excludingUser: excludingUser))
        case .deliverToUser(let user, let event, let except):
            let targets = sessions.connections(of: user).filter { $0 != except }.sorted()
            if !targets.isEmpty { step.append(.deliver(event, to: targets)) }
        case .authenticate(let conn, let id, let user, let token, let tokenHash):
            guard sessions[conn] != nil, let account = state.users[user] else { return }
            authenticate(conn, userKey: user, tokenHash: tokenHash, into: &step)
            step.append(
                .reply(conn, id: id, .authenticated(user: account.name, token: token, rooms: roomList(of: user)))
            )
        case .join(let conn, let id, let user, let room, let since, let epoch, let announce):
            if announce, let name = state.rooms[room]?.name, let userName = state.users[user]?.name {
                step.append(.publish(room: room, .joined(room: name, user: userName), excludingUser: nil))
            }
            completeJoin(conn, id: id, user: user, room: room, since: since, epoch: epoch, into: &step)
        case .leave(let user, let room):
            for conn in sessions.connections(of: user).sorted() {
                step.append(.unsubscribe(conn, room: room))
                sessions[conn]?.rooms.remove(room)
            }
            if let name = state.rooms[room]?.name, let userName = state.users[user]?.name {
                step.append(.publish(room: room, .left(room: name, user: userName), excludingUser: nil))
            }
        case .logout(let conn, let tokenHash):
            for (other, session) in sessions.sessions where other != conn && session.tokenHash == tokenHash {
                step.append(.close(other, .sessionRevoked, reason: "session revoked"))
            }
            unauthenticate(conn, into: &step)
        case .endSessions(let user, let tokenHashes):
            for (conn, session) in sessions.sessions.sorted(by: { $0.key < $1.key }) {
                let byUser = user != nil && session.userKey == user
                let byToken = session.tokenHash.map(tokenHashes.contains) ?? false
                if byUser || byToken { step.append(.close(conn, .sessionRevoked, reason: "session revoked")) }
            }
        }
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
            broadcastPresence(userKey, online: true, into: &step)
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
        if let user, sessions.removeUserConnection(user, conn) { broadcastPresence(user, online: false, into: &step) }
    }

    private func broadcastPresence(_ userKey: String, online: Bool, into step: inout HubStep) {
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
