import ChatCore
import ChatLog
import CoreMetrics
import Logging
import NIOCore
import ServiceLifecycle

/// Owns the server's state and every live session. All requests that read or
/// change shared state run on this actor, so a `join` takes its subscription and
/// its backlog at one point: no message can fall between them.
///
/// Messages are published in seq order once their record is stored: a room's
/// `head` as clients see it is the newest *published* seq.
package actor RoomHub {
    struct Session {
        let conn: Connection
        var address = "unknown"
        var userKey: String?
        var tokenHash: String?
        var rooms: Set<String> = []
    }

    let configuration: ServerConfiguration
    let store: any ChatStore
    let broker: any MessageBroker
    let logger: Logger
    let wallClock: @Sendable () -> Int64
    let monotonic: @Sendable () -> Double

    var state: ChatState
    var sessions: [UInt64: Session] = [:]
    /// Open connections per source address.
    var perAddress: [String: Int] = [:]
    var userConnections: [String: Set<UInt64>] = [:]
    var buckets: [String: TokenBucket] = [:]
    var roomCreation: [String: TokenBucket] = [:]
    var loginThrottle: LoginThrottle
    /// Room fold key → newest published seq.
    var published: [String: Int64] = [:]
    /// Room fold key → stored but not yet published events, by seq.
    var unpublished: [String: [Int64: ByteBuffer]] = [:]
    var shuttingDown = false
    let metrics = ServerMetrics()
    /// Set when the store failed: the in-memory state may be ahead of the disk.
    var storageFailed = false
    /// The log sequence number of the last records handed to the store.
    var lastLSN: UInt64 = 0

    /// Creates a hub over recovered state.
    ///
    /// - Parameters:
    ///   - configuration: server configuration.
    ///   - state: state recovered from the store.
    ///   - store: where records go.
    ///   - broker: fan-out.
    ///   - logger: logger.
    ///   - wallClock: milliseconds since the epoch, for `ts`.
    ///   - monotonic: seconds on a monotonic clock, for rate limits.
    package init(
        configuration: ServerConfiguration,
        state: ChatState,
        store: any ChatStore,
        broker: any MessageBroker,
        logger: Logger,
        wallClock: @escaping @Sendable () -> Int64 = RoomHub.systemMilliseconds,
        monotonic: @escaping @Sendable () -> Double = RoomHub.monotonicSeconds
    ) {
        self.configuration = configuration
        self.state = state
        self.store = store
        self.broker = broker
        self.logger = logger
        self.wallClock = wallClock
        self.monotonic = monotonic
        self.loginThrottle = LoginThrottle(
            freeAttempts: configuration.loginFreeAttempts,
            base: configuration.loginBaseDelay
        )
        for (key, room) in state.rooms { published[key] = room.head }
    }

    /// Milliseconds since the Unix epoch.
    package static let systemMilliseconds: @Sendable () -> Int64 = {
        Int64((wallSeconds() * 1000).rounded(.down))
    }

    /// Seconds on the monotonic clock.
    package static let monotonicSeconds: @Sendable () -> Double = {
        uptimeSeconds()
    }

    // MARK: Connections

    /// Why a connection was not accepted.
    package enum Refusal: Error, Equatable {
        case shuttingDown
        case tooManyConnections
        case tooManyFromAddress
    }

    /// Registers a connection, unless the server is shutting down or a connection limit is reached.
    ///
    /// - Parameters:
    ///   - conn: the connection.
    package func connect(_ conn: Connection) -> Refusal? {
        guard !shuttingDown else { return .shuttingDown }
        guard sessions.count < configuration.maxConnections else { return .tooManyConnections }
        let address = conn.address
        guard perAddress[address, default: 0] < configuration.maxConnectionsPerAddress else {
            return .tooManyFromAddress
        }
        perAddress[address, default: 0] += 1
        sessions[conn.subscriberID] = Session(conn: conn, address: address)
        metrics.setConnections(sessions.count)
        return nil
    }

    /// Forgets a connection: unsubscribes it and updates presence.
    ///
    /// - Parameters:
    ///   - conn: the connection.
    package func disconnect(_ conn: Connection) {
        guard let session = sessions.removeValue(forKey: conn.subscriberID) else { return }
        metrics.setConnections(sessions.count)
        perAddress[session.address, default: 1] -= 1
        if perAddress[session.address] == 0 { perAddress[session.address] = nil }
        for room in session.rooms { broker.unsubscribe(room, subscriberID: conn.subscriberID) }
        if let user = session.userKey { removeUserConnection(user, conn.subscriberID) }
    }

    /// Closes every connection with 1001 and waits (bounded) for them to go.
    ///
    /// - Parameters:
    ///   - timeout: how long to wait for clients to answer.
    package func shutdownConnections(timeout: Duration = .seconds(3)) async {
        shuttingDown = true
        for session in sessions.values { session.conn.close(.goingAway, reason: "server shutting down") }
        let deadline = ContinuousClock.now + timeout
        while !sessions.isEmpty, ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(20))
        }
    }

    /// Closes every connection without refusing new ones (tests use it to force reconnects).
    ///
    /// - Parameters:
    ///   - code: close code.
    ///   - reason: close reason.
    package func closeAllConnections(_ code: CloseCode, reason: String) {
        for session in sessions.values { session.conn.close(code, reason: reason) }
    }

    /// Whether the server can store changes (false after a storage failure).
    package var isHealthy: Bool { !storageFailed }

    /// Number of live connections.
    package var connectionCount: Int { sessions.count }

    // MARK: Authentication

    /// Whether the connection is authenticated.
    ///
    /// - Parameters:
    ///   - conn: the connection.
    package func isAuthenticated(_ conn: Connection) -> Bool {
        sessions[conn.subscriberID]?.userKey != nil
    }

    /// How long a login for this user from this address must still wait (ms), if at all.
    ///
    /// - Parameters:
    ///   - userKey: user fold key (the user need not exist).
    ///   - address: source address.
    package func loginWait(_ userKey: String, address: String) -> Int64? {
        loginThrottle.wait(user: userKey, address: address, now: monotonic())
    }

    /// Records a failed login.
    ///
    /// - Parameters:
    ///   - userKey: user fold key (the user need not exist).
    ///   - address: source address.
    package func loginFailed(_ userKey: String, address: String) {
        loginThrottle.failed(user: userKey, address: address, now: monotonic())
    }

    /// The stored password hash of a user, for verification off the actor.
    ///
    /// - Parameters:
    ///   - userKey: user fold key.
    package func passwordHash(of userKey: String) -> String? {
        state.users[userKey]?.passwordHash
    }

    /// Creates an account and authenticates the connection; replies itself.
    ///
    /// - Parameters:
    ///   - conn: the connection.
    ///   - id: request id.
    ///   - user: validated name.
    ///   - passwordHash: the hash computed off the actor.
    package func register(
        _ conn: Connection,
        id: String,
        user: ValidName,
        passwordHash: String,
        invite: String? = nil
    ) async -> Bool {
        let ts = wallClock()
        var inviteHash: String?
        switch configuration.registration {
        case .open: break
        case .closed:
            conn.reject(id: id, ProtocolError(.forbidden, "this server does not allow sign-up"))
            return false
        case .invite:
            guard let invite, !invite.isEmpty else {
                conn.reject(id: id, ProtocolError(.forbidden, "sign-up on this server needs an invite code"))
                return false
            }
            let hash = PasswordHasher.tokenHash(Self.normalizedInvite(invite))
            guard let stored = state.invites[hash], stored.expiresAt == 0 || ts < stored.expiresAt else {
                conn.reject(
                    id: id,
                    ProtocolError(.forbidden, "the invite code is not valid (unknown, used or expired)")
                )
                return false
            }
            inviteHash = hash
        }
        guard state.users[user.key] == nil else {
            conn.reject(id: id, ProtocolError(.conflict, "user name is taken"))
            return false
        }
        let token = PasswordHasher.newToken()
        let tokenHash = PasswordHasher.tokenHash(token)
        var records: [LogRecord] = [
            .userCreated(name: user.display, passwordHash: passwordHash, ts: ts),
            .tokenIssued(user: user.key, tokenHash: tokenHash, ts: ts),
        ]
        if let inviteHash { records.append(.inviteUsed(codeHash: inviteHash)) }
        guard await commit(records, conn: conn, id: id) else { return false }
        guard sessions[conn.subscriberID] != nil else { return false }
        authenticate(conn, userKey: user.key, tokenHash: tokenHash)
        conn.send(Frames.ok(id: id, ["user": .string(user.display), "token": .string(token), "rooms": .array([])]))
        return true
    }

    /// Issues a token after the password was verified; replies itself.
    ///
    /// - Parameters:
    ///   - conn: the connection.
    ///   - id: request id.
    ///   - userKey: user fold key.
    package func login(_ conn: Connection, id: String, userKey: String) async -> Bool {
        guard let account = state.users[userKey] else {
            conn.reject(id: id, ProtocolError(.unauthorized, "wrong user name or password"))
            return false
        }
        guard !account.disabled else {
            conn.reject(id: id, ProtocolError(.forbidden, "this account is disabled"))
            return false
        }
        loginThrottle.succeeded(user: userKey)
        let token = PasswordHasher.newToken()
        let tokenHash = PasswordHasher.tokenHash(token)
        guard await commit([.tokenIssued(user: userKey, tokenHash: tokenHash, ts: wallClock())], conn: conn, id: id)
        else { return false }
        guard let user = state.users[userKey], sessions[conn.subscriberID] != nil else { return false }
        authenticate(conn, userKey: userKey, tokenHash: tokenHash)
        conn.send(
            Frames.ok(id: id, ["user": .string(user.name), "token": .string(token), "rooms": roomList(of: userKey)])
        )
        return true
    }

    /// Handles every request that is not `hello`, `ping`, `register` or `login`; replies itself.
    /// Returns whether the connection is authenticated afterwards (so the reader needs no
    /// second trip to the actor to learn it).
    ///
    /// - Parameters:
    ///   - conn: the connection.
    ///   - id: request id.
    ///   - request: the validated request.
    @discardableResult
    package func handle(_ conn: Connection, id: String, request: Request) async -> Bool {
        await handleRequest(conn, id: id, request: request)
        return sessions[conn.subscriberID]?.userKey != nil
    }

    /// Handles consecutive requests of one connection in order, in one trip to the actor
    /// (a connection that pipelines gets its batch answered without a hop per request).
    /// Returns whether the connection is authenticated afterwards.
    ///
    /// - Parameters:
    ///   - conn: the connection.
    ///   - requests: (request id, validated request) pairs, in the order received.
    package func handle(_ conn: Connection, requests: [(id: String, request: Request)]) async -> Bool {
        // Consecutive plain sends are stored together: applied and appended one by one, then
        // one wait for the last one's durability (one fsync under `always`), then published
        // and acknowledged in order. Anything else first finishes the sends before it.
        var staged: [StagedSend] = []
        for (id, request) in requests {
            if conn.isClosing { break }
            if case .send(let room, let text, let kind, let nonce) = request {
                switch stageSend(conn, id: id, room: room, text: text, kind: kind, nonce: nonce) {
                case .staged(let send):
                    staged.append(send)
                    continue
                case .rejected(let error):
                    await finishSends(&staged, conn: conn)
                    conn.reject(id: id, error)
                    continue
                case .notStageable:
                    break
                }
            }
            await finishSends(&staged, conn: conn)
            await handleRequest(conn, id: id, request: request)
        }
        await finishSends(&staged, conn: conn)
        return sessions[conn.subscriberID]?.userKey != nil
    }

    /// A send applied and handed to the store, waiting for durability.
    struct StagedSend {
        let id: String
        let room: String
        let message: ChatMessage
        let lsn: UInt64
    }

    enum StageOutcome {
        case staged(StagedSend)
        /// Refused (rate limit, not a member, storage failed): reply this error.
        case rejected(ProtocolError)
        /// Needs the ordinary path (a nonce seen before, or no authenticated session).
        case notStageable
    }

    /// The first half of a `send`: checks, then applies and appends the message without
    /// waiting for the store.
    private func stageSend(
        _ conn: Connection,
        id: String,
        room name: ValidName,
        text: String,
        kind: MessageKind,
        nonce: String?
    ) -> StageOutcome {
        guard let userKey = sessions[conn.subscriberID]?.userKey, let user = state.users[userKey] else {
            return .notStageable
        }
        do {
            let room = try memberRoom(name, user: userKey)
            if let nonce, state.seq(forNonce: nonce, room: room, user: userKey) != nil { return .notStageable }
            return .staged(
                try stageMessage(id: id, userKey: userKey, user: user, room: room, text: text, kind: kind, nonce: nonce)
            )
        } catch {
            return .rejected(error)
        }
    }

    /// Takes a rate-limit token, then applies and appends the message (no wait).
    private func stageMessage(
        id: String,
        userKey: String,
        user: ChatState.User,
        room: String,
        text: String,
        kind: MessageKind,
        nonce: String?
    ) throws(ProtocolError) -> StagedSend {
        try takeToken(userKey)
        guard let roomState = state.rooms[room] else { throw ProtocolError(.notFound, "no such room") }
        let message = ChatMessage(
            room: roomState.name,
            seq: roomState.head + 1,
            from: user.name,
            text: text,
            kind: kind,
            ts: wallClock(),
            nonce: nonce
        )
        guard let lsn = stage([.messageAppended(message)]) else {
            throw ProtocolError(.internal, "the server cannot store changes")
        }
        return StagedSend(id: id, room: room, message: message, lsn: lsn)
    }

    /// The second half of staged sends: one wait for the last one, then each is published
    /// and acknowledged in order (or refused, if storing failed).
    private func finishSends(_ staged: inout [StagedSend], conn: Connection) async {
        guard let last = staged.last else { return }
        let sends = staged
        staged = []
        let outcome = await durable(last.lsn)
        conn.hold()
        defer { conn.release() }
        guard case .stored = outcome else {
            for send in sends {
                conn.reject(id: send.id, ProtocolError(.internal, "the server could not store the change"))
            }
            return
        }
        // Every message first (published per room, together), then the replies in order.
        var rooms: [String] = []
        for send in sends {
            metrics.messagesIn.increment()
            unpublished[send.room, default: [:]][send.message.seq] = WebSocketText.frame(Frames.message(send.message))
            if !rooms.contains(send.room) { rooms.append(send.room) }
        }
        for room in rooms { publishReady(room) }
        for send in sends {
            conn.send(Frames.ok(id: send.id, ["seq": .int(send.message.seq), "ts": .int(send.message.ts)]))
        }
    }

    private func handleRequest(_ conn: Connection, id: String, request: Request) async {
        guard let session = sessions[conn.subscriberID] else { return }
        if case .resume(let token) = request {
            resume(conn, id: id, token: token)
            return
        }
        guard let userKey = session.userKey, let user = state.users[userKey] else {
            conn.reject(id: id, ProtocolError(.unauthorized, "authenticate first"))
            return
        }
        logger.debug(
            "request",
            metadata: [
                "chat.conn.id": "\(conn.subscriberID)", "chat.user.id": "\(userKey)",
                "chat.request.type": "\(request.typeName)", "chat.room.id": "\(request.roomKey ?? "-")",
            ]
        )
        do {
            switch request {
            case .logout:
                await logout(conn, id: id, session: session)
            case .join(let room, let since, let epoch):
                try await join(conn, id: id, user: userKey, room: room, since: since, epoch: epoch)
            case .leave(let room):
                try await leave(conn, id: id, user: userKey, room: try memberRoom(room, user: userKey))
            case .rooms:
                conn.send(Frames.ok(id: id, ["rooms": .array(allRooms())]))
            case .members(let room):
                let key = try memberRoom(room, user: userKey)
                conn.send(Frames.ok(id: id, ["members": .array(members(of: key))]))
            case .topic(let room, let topic):
                let key = try memberRoom(room, user: userKey)
                guard await commit([.topicSet(room: key, topic: topic, by: userKey)], conn: conn, id: id) else {
                    return
                }
                guard let roomState = state.rooms[key] else { return }
                let event = Frames.event(
                    "topic",
                    ["room": .string(roomState.name), "topic": .string(topic), "by": .string(user.name)]
                )
                publish(key, event, excludingUser: nil)
                conn.send(Frames.ok(id: id))
            case .history(let room, let before, let after, let limit):
                let key = try memberRoom(room, user: userKey)
                let limit = limit ?? min(50, configuration.limits.historyLimit)
                conn.send(Frames.ok(id: id, history(key, before: before, after: after, limit: limit)))
            case .markRead(let room, let seq):
                try await markRead(conn, id: id, user: userKey, room: try memberRoom(room, user: userKey), seq: seq)
            case .send(let room, let text, let kind, let nonce):
                try await send(
                    conn,
                    id: id,
                    user: user,
                    room: try memberRoom(room, user: userKey),
                    text: text,
                    kind: kind,
                    nonce: nonce
                )
            case .typing(let room):
                let key = try memberRoom(room, user: userKey)
                try takeToken(userKey)
                guard let roomState = state.rooms[key] else { return }
                let event = Frames.event("typing", ["room": .string(roomState.name), "user": .string(user.name)])
                publish(key, event, excludingUser: userKey)
                conn.send(Frames.ok(id: id))
            case .hello, .ping, .register, .login, .resume:
                conn.reject(id: id, .badRequest("unexpected request"))
            }
        } catch let error as ProtocolError {
            conn.reject(id: id, error)
        } catch {
            logger.debug("request failed", metadata: ["chat.conn.id": "\(conn.subscriberID)", "error": "\(error)"])
            conn.reject(id: id, ProtocolError(.internal, "internal error"))
        }
    }

    // MARK: Sessions

    private func resume(_ conn: Connection, id: String, token: String) {
        let tokenHash = PasswordHasher.tokenHash(token)
        guard let userKey = state.tokens[tokenHash], let user = state.users[userKey], !user.disabled else {
            conn.reject(id: id, ProtocolError(.unauthorized, "token is not valid"))
            return
        }
        authenticate(conn, userKey: userKey, tokenHash: tokenHash)
        conn.send(Frames.ok(id: id, ["user": .string(user.name), "rooms": roomList(of: userKey)]))
    }

    private func logout(_ conn: Connection, id: String, session: Session) async {
        if let tokenHash = session.tokenHash {
            guard await commit([.tokenRevoked(tokenHash: tokenHash)], conn: conn, id: id) else { return }
            for other in sessions.values where other.tokenHash == tokenHash && other.conn !== conn {
                other.conn.close(.sessionRevoked, reason: "session revoked")
            }
        }
        unauthenticate(conn)
        conn.send(Frames.ok(id: id))
    }

    private func authenticate(_ conn: Connection, userKey: String, tokenHash: String) {
        guard var session = sessions[conn.subscriberID] else { return }
        if let previous = session.userKey, previous != userKey {
            unauthenticate(conn)
            session = sessions[conn.subscriberID] ?? session
        }
        let wasKnown = session.userKey == userKey
        session.userKey = userKey
        session.tokenHash = tokenHash
        sessions[conn.subscriberID] = session
        conn.setUser(userKey)
        if !wasKnown {
            let first = userConnections[userKey, default: []].isEmpty
            userConnections[userKey, default: []].insert(conn.subscriberID)
            if first { broadcastPresence(userKey, online: true) }
        }
    }

    private func unauthenticate(_ conn: Connection) {
        guard var session = sessions[conn.subscriberID] else { return }
        for room in session.rooms { broker.unsubscribe(room, subscriberID: conn.subscriberID) }
        let user = session.userKey
        session.rooms = []
        session.userKey = nil
        session.tokenHash = nil
        sessions[conn.subscriberID] = session
        conn.setUser(nil)
        if let user { removeUserConnection(user, conn.subscriberID) }
    }

    private func removeUserConnection(_ user: String, _ id: UInt64) {
        userConnections[user]?.remove(id)
        if userConnections[user]?.isEmpty == true {
            userConnections[user] = nil
            broadcastPresence(user, online: false)
        }
    }

    private func broadcastPresence(_ userKey: String, online: Bool) {
        guard let user = state.users[userKey] else { return }
        var peers = Set<String>()
        for room in user.rooms {
            for member in state.rooms[room]?.members.keys ?? [:].keys where member != userKey { peers.insert(member) }
        }
        guard !peers.isEmpty else { return }
        let payload = WebSocketText.frame(
            Frames.event("presence", ["user": .string(user.name), "online": .bool(online)])
        )
        for peer in peers {
            for id in userConnections[peer] ?? [] { sessions[id]?.conn.deliver(payload) }
        }
    }

    private func roomList(of userKey: String) -> JSONValue {
        guard let user = state.users[userKey] else { return .array([]) }
        let rooms = user.rooms.compactMap { key -> (String, JSONValue)? in
            guard let room = state.rooms[key] else { return nil }
            let read = room.members[userKey] ?? 0
            return (
                room.name,
                .object(["name": .string(room.name), "head": .int(published[key] ?? 0), "read": .int(read)])
            )
        }
        return .array(rooms.sorted { codePointLess($0.0, $1.0) }.map(\.1))
    }

    // MARK: Rooms

    private func memberRoom(_ room: ValidName, user: String) throws(ProtocolError) -> String {
        guard let state = state.rooms[room.key] else { throw ProtocolError(.notFound, "no such room") }
        guard state.members[user] != nil else { throw ProtocolError(.forbidden, "not a member of this room") }
        return room.key
    }

    private func join(
        _ conn: Connection,
        id: String,
        user: String,
        room: ValidName,
        since: Int64?,
        epoch: String?
    ) async throws {
        var records: [LogRecord] = []
        let newMember = state.rooms[room.key]?.members[user] == nil
        if newMember, (state.users[user]?.rooms.count ?? 0) >= configuration.maxRoomsPerUser {
            throw ProtocolError(
                .forbidden,
                "you are in \(configuration.maxRoomsPerUser) rooms, the most this server allows; leave one first"
            )
        }
        if state.rooms[room.key] == nil {
            let now = monotonic()
            let perMinute = configuration.roomCreationPerMinute
            var bucket =
                roomCreation[user] ?? TokenBucket(rate: perMinute / 60, burst: max(1, Int(perMinute)), now: now)
            let wait = bucket.take(now: now)
            roomCreation[user] = bucket
            if let wait {
                throw ProtocolError(.rateLimited, "too many new rooms; try again later", retryAfterMs: wait)
            }
            records.append(.roomCreated(name: room.display, epoch: PasswordHasher.newEpoch(), ts: wallClock()))
        }
        if newMember { records.append(.memberAdded(room: room.key, user: user)) }
        if !records.isEmpty {
            guard await commit(records, conn: conn, id: id) else { return }
            if newMember, let name = state.rooms[room.key]?.name, let userName = state.users[user]?.name {
                let event = Frames.event("joined", ["room": .string(name), "user": .string(userName)])
                publish(room.key, event, excludingUser: nil)
            }
        }
        // Re-check after the await: the connection may be gone or have changed user.
        guard sessions[conn.subscriberID]?.userKey == user, let roomState = state.rooms[room.key],
            roomState.members[user] != nil
        else {
            if sessions[conn.subscriberID] != nil {
                conn.reject(id: id, ProtocolError(.conflict, "membership changed during join; retry"))
            }
            return
        }
        // Subscribe and read the backlog in one actor turn.
        broker.subscribe(room.key, conn)
        sessions[conn.subscriberID]?.rooms.insert(room.key)
        let head = published[room.key] ?? 0
        let limit = configuration.limits.historyLimit
        var reset = false
        var effectiveSince = since
        if since != nil, let epoch, epoch != roomState.epoch {
            reset = true
            effectiveSince = nil
        }
        let messages: ArraySlice<ChatMessage>
        let limited: Bool
        if let since = effectiveSince {
            let from = min(since, head)
            let count = head - from
            let take = min(count, Int64(limit))
            messages = roomState.messages[Int(head - take)..<Int(head)]
            limited = count > take
        } else {
            let take = min(head, Int64(configuration.joinBacklog))
            messages = roomState.messages[Int(head - take)..<Int(head)]
            limited = head > take
        }
        let reply: JSONObject = [
            "room": .object([
                "name": .string(roomState.name), "topic": .string(roomState.topic), "head": .int(head),
                "epoch": .string(roomState.epoch),
            ]),
            "messages": .array(messages.map { .object($0.json) }),
            "limited": .bool(limited),
            "reset": .bool(reset),
        ]
        conn.send(Frames.ok(id: id, reply))
    }

    private func leave(_ conn: Connection, id: String, user: String, room: String) async throws {
        guard await commit([.memberRemoved(room: room, user: user)], conn: conn, id: id) else { return }
        for connID in userConnections[user] ?? [] {
            broker.unsubscribe(room, subscriberID: connID)
            sessions[connID]?.rooms.remove(room)
        }
        if let name = state.rooms[room]?.name, let userName = state.users[user]?.name {
            let event = Frames.event("left", ["room": .string(name), "user": .string(userName)])
            publish(room, event, excludingUser: nil)
        }
        conn.send(Frames.ok(id: id))
    }

    private func allRooms() -> [JSONValue] {
        state.rooms.sorted { codePointLess($0.value.name, $1.value.name) }.map { key, room in
            .object([
                "name": .string(room.name), "topic": .string(room.topic), "members": .int(Int64(room.members.count)),
                "head": .int(published[key] ?? 0),
            ])
        }
    }

    private func members(of room: String) -> [JSONValue] {
        let keys = state.rooms[room]?.members.keys.map { $0 } ?? []
        return keys.compactMap { key -> (String, Bool)? in
            guard let user = state.users[key] else { return nil }
            return (user.name, !(userConnections[key]?.isEmpty ?? true))
        }
        .sorted { codePointLess($0.0, $1.0) }
        .map { .object(["user": .string($0.0), "online": .bool($0.1)]) }
    }

    private func history(_ room: String, before: Int64?, after: Int64?, limit: Int) -> JSONObject {
        let head = published[room] ?? 0
        let messages = state.rooms[room]?.messages ?? []
        let lower: Int64
        let upper: Int64
        let more: Bool
        if let after {
            lower = min(after, head)
            upper = min(head, lower + Int64(limit))
            more = upper < head
        } else {
            upper = min(head, (before ?? (head + 1)) - 1)
            lower = max(0, upper - Int64(limit))
            more = lower > 0
        }
        let slice = upper > lower ? messages[Int(lower)..<Int(upper)] : []
        return ["messages": .array(slice.map { .object($0.json) }), "more": .bool(more)]
    }

    private func markRead(_ conn: Connection, id: String, user: String, room: String, seq: Int64) async throws {
        let head = published[room] ?? 0
        guard seq <= head else { throw ProtocolError.badRequest("'seq' is beyond the room's head (\(head))") }
        let current = state.rooms[room]?.members[user] ?? 0
        if seq > current {
            guard await commit([.readMarked(room: room, user: user, seq: seq)], conn: conn, id: id) else { return }
            if let name = state.rooms[room]?.name {
                let payload = WebSocketText.frame(Frames.event("read", ["room": .string(name), "seq": .int(seq)]))
                for other in userConnections[user] ?? [] where other != conn.subscriberID {
                    sessions[other]?.conn.deliver(payload)
                }
            }
        }
        conn.send(Frames.ok(id: id))
    }

    // MARK: Messages

    private func takeToken(_ user: String) throws(ProtocolError) {
        let now = monotonic()
        var bucket =
            buckets[user]
            ?? TokenBucket(rate: configuration.limits.ratePerSec, burst: configuration.limits.rateBurst, now: now)
        let wait = bucket.take(now: now)
        buckets[user] = bucket
        if let wait { throw ProtocolError(.rateLimited, "too many messages; slow down", retryAfterMs: wait) }
    }

    private func send(
        _ conn: Connection,
        id: String,
        user: ChatState.User,
        room: String,
        text: String,
        kind: MessageKind,
        nonce: String?
    ) async throws {
        let userKey = state.userKey(ofDisplayName: user.name)
        if let nonce, let seq = state.seq(forNonce: nonce, room: room, user: userKey),
            let original = state.rooms[room]?.messages[Int(seq - 1)]
        {
            // The original may still be on its way to disk: acknowledge the retry only
            // once everything appended so far is durable, and never after a failure.
            guard !storageFailed, (try? await store.waitDurable(lastLSN)) != nil, !storageFailed else {
                throw ProtocolError(.internal, "the server could not store the change")
            }
            conn.send(Frames.ok(id: id, ["seq": .int(original.seq), "ts": .int(original.ts)]))
            return
        }
        // One send is a batch of one: stored, published and acknowledged as pipelined ones are.
        var staged = [
            try stageMessage(id: id, userKey: userKey, user: user, room: room, text: text, kind: kind, nonce: nonce)
        ]
        await finishSends(&staged, conn: conn)
    }

    /// Publishes an event to a room's subscribers.
    private func publish(_ room: String, _ event: JSONValue, excludingUser: String?) {
        let receivers = broker.publish(room, WebSocketText.frame(event), excludingUser: excludingUser)
        metrics.deliveries.increment(by: Int64(receivers))
    }

    /// Publishes stored messages of a room in seq order, as far as there is no hole.
    private func publishReady(_ room: String) {
        var head = published[room] ?? 0
        var ready: [ByteBuffer] = []
        while let payload = unpublished[room]?.removeValue(forKey: head + 1) {
            head += 1
            ready.append(payload)
        }
        if !ready.isEmpty {
            // Together: each subscriber takes them in one go and writes them with one writev.
            let receivers =
                ready.count == 1
                ? broker.publish(room, ready[0], excludingUser: nil) : broker.publish(room, contentsOf: ready)
            metrics.messagesOut.increment(by: Int64(receivers * ready.count))
            metrics.deliveries.increment(by: Int64(receivers * ready.count))
        }
        published[room] = head
        if unpublished[room]?.isEmpty == true { unpublished[room] = nil }
    }

    /// Applies records, hands them to the store in this same turn, and waits until
    /// they are durable. After a storage failure every change is refused with `internal`.
    private func commit(_ records: [LogRecord], conn: Connection, id: String) async -> Bool {
        switch await persist(records) {
        case .stored: return true
        case .refused:
            conn.reject(id: id, ProtocolError(.internal, "the server cannot store changes"))
        case .failed:
            conn.reject(id: id, ProtocolError(.internal, "the server could not store the change"))
        }
        return false
    }

    enum PersistOutcome {
        case stored
        /// Storage failed earlier; nothing was applied.
        case refused
        /// Applied in memory but not stored; the hub now refuses changes.
        case failed
    }

    /// Applies records, hands them to the store in this same turn (log order is
    /// apply order), and waits until they are durable.
    func persist(_ records: [LogRecord]) async -> PersistOutcome {
        guard let lsn = stage(records) else { return .refused }
        return await durable(lsn)
    }

    /// Applies records and hands them to the store in this same turn (log order is apply
    /// order); nil, with nothing applied, after a storage failure.
    private func stage(_ records: [LogRecord]) -> UInt64? {
        guard !storageFailed else { return nil }
        for record in records { state.apply(record) }
        let lsn = store.append(records)
        lastLSN = lsn
        if store.snapshotDue { store.snapshot(state) }
        return lsn
    }

    /// Waits until everything up to `lsn` is stored; a failure makes the hub refuse changes.
    private func durable(_ lsn: UInt64) async -> PersistOutcome {
        // Already stored (written in `append` under everysec/no): no suspension, no hop.
        if store.isDurable(lsn) { return .stored }
        do {
            try await store.waitDurable(lsn)
            return .stored
        } catch {
            if !storageFailed {
                storageFailed = true
                logger.critical("storing a change failed; refusing changes", metadata: ["error": "\(error)"])
            }
            return .failed
        }
    }

    /// Asks the store for a snapshot of the current state (e.g. before a clean shutdown).
    package func requestSnapshot() {
        store.snapshot(state)
    }
}

/// Unicode code-point order (Swift's `<` on String compares by grapheme/canonical order).
func codePointLess(_ a: String, _ b: String) -> Bool {
    a.unicodeScalars.lexicographicallyPrecedes(b.unicodeScalars) { $0.value < $1.value }
}

extension Request {
    /// The request type, for logs.
    var typeName: String {
        switch self {
        case .hello: "hello"
        case .register: "register"
        case .login: "login"
        case .resume: "resume"
        case .logout: "logout"
        case .join: "join"
        case .leave: "leave"
        case .rooms: "rooms"
        case .members: "members"
        case .topic: "topic"
        case .history: "history"
        case .markRead: "mark_read"
        case .send: "send"
        case .typing: "typing"
        case .ping: "ping"
        }
    }

    /// The room the request names, for logs.
    var roomKey: String? {
        switch self {
        case .join(let room, _, _), .leave(let room), .members(let room), .topic(let room, _),
            .history(let room, _, _, _), .markRead(let room, _), .send(let room, _, _, _), .typing(let room):
            room.key
        default: nil
        }
    }
}
