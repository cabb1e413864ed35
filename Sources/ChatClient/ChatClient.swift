import ChatCore
import HummingbirdWSClient
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import NIOWebSocket

/// TLS settings for `wss://` (see `TLSTrust`).
package typealias ClientTLSConfiguration = TLSConfiguration

/// How a client proves who it is.
package enum ChatCredentials: Sendable, Equatable {
    /// Resume a stored session; fall back to `password` if the token is refused.
    case token(String, password: String?)
    /// Log in with a password.
    case password(String)
    /// Create the account, then keep the token for reconnects.
    case register(String)
}

/// Configuration of a `ChatClient`.
package struct ChatClientConfiguration: Sendable {
    package var url: String
    package var user: String
    package var credentials: ChatCredentials
    package var clientName: String
    package var reconnect: Bool
    package var initialBackoff: Duration
    package var maxBackoff: Duration
    /// For `wss://`: how to verify the server (nil: the system trust store).
    package var tls: ClientTLSConfiguration?

    /// Creates a configuration.
    ///
    /// - Parameters:
    ///   - url: normalised WebSocket URL (see `ServerURL`).
    ///   - user: user name.
    ///   - credentials: how to authenticate.
    ///   - clientName: sent in `hello`.
    ///   - reconnect: reconnect after a drop.
    ///   - initialBackoff: first reconnect delay.
    ///   - maxBackoff: longest reconnect delay.
    package init(
        url: String,
        user: String,
        credentials: ChatCredentials,
        clientName: String = "chat/0.1.0",
        reconnect: Bool = true,
        initialBackoff: Duration = .milliseconds(200),
        maxBackoff: Duration = .seconds(30)
    ) {
        self.url = url
        self.user = user
        self.credentials = credentials
        self.clientName = clientName
        self.reconnect = reconnect
        self.initialBackoff = initialBackoff
        self.maxBackoff = maxBackoff
        self.tls = nil
    }
}

/// Errors of the client API.
package struct ChatClientError: Error, Equatable, CustomStringConvertible {
    package enum Code: Equatable, Sendable {
        case notConnected
        case disconnected
        /// The server refused the request, or it was refused here with the server's own
        /// rules and message (an invalid room name, query, …) before being sent.
        case server(ProtocolError)
        /// The server's reply could not be decoded.
        case malformedReply(WireDecodingError)
    }
    package var code: Code
    package var description: String {
        switch code {
        case .notConnected: return "not connected"
        case .disconnected: return "connection lost before the reply"
        case .server(let e): return e.description
        case .malformedReply(let e): return "malformed reply from the server: \(e)"
        }
    }
    package static let notConnected = ChatClientError(code: .notConnected)
    package static let disconnected = ChatClientError(code: .disconnected)
}

/// A protocol v1 client that reconnects with backoff and jitter, re-joins every
/// followed room with `since`/`epoch` so nothing is missed or repeated, and
/// re-sends unacknowledged messages with their nonces so nothing is duplicated.
package actor ChatClient {
    private enum ReplyHandler {
        case waiter(CheckedContinuation<JSONObject, any Error>)
        case join(room: String, CheckedContinuation<JoinReply, any Error>?)
        case send(nonce: String)
        case history(room: String)
        case ignore
    }

    package nonisolated let events: AsyncStream<ClientEvent>
    private let continuation: AsyncStream<ClientEvent>.Continuation
    private let configuration: ChatClientConfiguration
    private let logger: Logger
    private var session = ClientSession()
    private var outbound: WebSocketOutboundWriter?
    /// Frames to write, in order, on the current connection.
    private var writer: AsyncStream<String>.Continuation?
    private var ready = false
    private var readyWaiters: [CheckedContinuation<Void, any Error>] = []
    private var replies: [String: ReplyHandler] = [:]
    private var sendWaiters: [String: CheckedContinuation<(seq: Int64, ts: Int64), any Error>] = [:]
    private var nextID: UInt64 = 0
    private var token: String?
    private var password: String?
    private var registerFirst = false
    private var stopped = false
    /// Limits the server advertised.
    package private(set) var limits = Limits()
    /// The display name the server confirmed.
    package private(set) var userName: String?

    /// Creates a client; call `run()` to connect.
    ///
    /// - Parameters:
    ///   - configuration: where and who.
    ///   - logger: for diagnostics (never the terminal in the TUI).
    package init(configuration: ChatClientConfiguration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
        (events, continuation) = AsyncStream.makeStream(of: ClientEvent.self)
        switch configuration.credentials {
        case .token(let token, let password):
            self.token = token
            self.password = password
        case .password(let password):
            self.password = password
        case .register(let password):
            self.password = password
            self.registerFirst = true
        }
    }

    /// Connects and keeps reconnecting until cancelled or authentication fails.
    package func run() async {
        var attempt = 0
        while !Task.isCancelled, !stopped {
            var reason = ConnectionFailure(.lost).description
            do {
                let close = try await WebSocketClient.connect(
                    url: configuration.url,
                    configuration: .init(
                        maxFrameSize: 1 << 24,
                        sniHostname: TLSTrust.sniHostname(for: configuration.url)
                    ),
                    tlsConfiguration: configuration.tls,
                    logger: logger
                ) { inbound, outbound, _ in
                    try await self.serve(inbound: inbound, outbound: outbound)
                }
                if let close {
                    reason = ConnectionFailure(closeCode: UInt16(webSocketErrorCode: close.closeCode)).description
                }
            } catch {
                // People see the cause in plain words; the raw error (addresses, errno) goes to the log.
                reason = ConnectionFailure(error).description
                logger.debug("connection failed", metadata: ["chat.error": "\(error)"])
            }
            if ready { attempt = 0 }
            detach()
            if stopped || !configuration.reconnect || Task.isCancelled {
                continuation.yield(.disconnected(reason: reason, retryIn: nil))
                break
            }
            attempt += 1
            let delay = Self.backoff(
                attempt: attempt,
                initial: configuration.initialBackoff,
                max: configuration.maxBackoff,
                jitter: Double.random(in: 0.5...1.0)
            )
            continuation.yield(.disconnected(reason: reason, retryIn: delay))
            try? await Task.sleep(for: delay)
        }
        stopped = true
        failReadyWaiters(ChatClientError.disconnected)
        for waiter in sendWaiters.values { waiter.resume(throwing: ChatClientError.disconnected) }
        sendWaiters = [:]
        continuation.finish()
    }

    /// Exponential backoff: `initial × 2^(attempt-1)`, capped, scaled by `jitter`.
    ///
    /// - Parameters:
    ///   - attempt: 1 for the first retry.
    ///   - initial: first delay.
    ///   - max: cap.
    ///   - jitter: factor in 0.5…1.
    package static func backoff(attempt: Int, initial: Duration, max: Duration, jitter: Double) -> Duration {
        let exponent = Swift.min(attempt - 1, 20)
        let raw = initial * (1 << exponent)
        return (raw > max ? max : raw) * jitter
    }

    /// Stops reconnecting and closes the connection.
    package func stop() async {
        stopped = true
        try? await outbound?.close(.normalClosure, reason: nil)
    }

    /// Waits until the client is connected, authenticated and re-joined.
    package func waitUntilReady() async throws {
        if ready { return }
        if stopped { throw ChatClientError.disconnected }
        try await withCheckedThrowingContinuation { readyWaiters.append($0) }
    }

    /// Follows a room: joins it now if connected, and after every reconnect.
    ///
    /// - Parameters:
    ///   - room: room name.
    ///   - since: last seq already seen (e.g. `tail --since`), or nil.
    package func join(_ room: String, since: Int64? = nil) async throws -> JoinReply {
        _ = try Self.validRoom(room)
        if let since { session.follow(room, since: since) } else { session.follow(room) }
        guard ready, writer != nil, let request = session.joinRequest(room) else {
            throw ChatClientError.notConnected
        }
        return try await withCheckedThrowingContinuation { cont in
            transmit(request, handler: .join(room: room, cont))
        }
    }

    /// Leaves a room and stops following it.
    ///
    /// - Parameters:
    ///   - room: room name.
    package func leave(_ room: String) async throws {
        let name = try Self.validRoom(room)
        session.unfollow(room)
        _ = try await request(Request.leave(room: name), as: EmptyReply.self)
    }

    /// Sends a message; it is retried with the same nonce across reconnects until
    /// the server acknowledges it.
    ///
    /// - Parameters:
    ///   - room: room name.
    ///   - text: message text.
    ///   - kind: text or action.
    package func send(
        _ room: String,
        text: String,
        kind: MessageKind = .text,
        nonce: String? = nil
    ) async throws -> (seq: Int64, ts: Int64) {
        let nonce = nonce ?? Self.makeNonce()
        do {
            _ = try Self.validRoom(room)
        } catch {
            // Refused for good, as the server would have refused it.
            if case .server(let refusal) = error.code { continuation.yield(.sendFailed(nonce: nonce, refusal)) }
            throw error
        }
        session.queueSend(room: room, text: text, kind: kind, nonce: nonce)
        return try await withCheckedThrowingContinuation { cont in
            sendWaiters[nonce] = cont
            if ready, let pending = session.pending.last(where: { $0.nonce == nonce }),
                let request = ClientSession.sendRequest(pending)
            {
                transmit(request, handler: .send(nonce: nonce))
            }
        }
    }

    /// Sends any request and returns its decoded `ok` reply; throws the server's error.
    ///
    /// - Parameters:
    ///   - request: the request.
    ///   - type: the reply type (see `WireReplies.type(answering:)`).
    package func request<R: WireReply>(_ request: some WireRequest, as type: R.Type) async throws -> R {
        guard writer != nil else { throw ChatClientError.notConnected }
        let body = try await withCheckedThrowingContinuation { cont in
            transmit(request, handler: .waiter(cont))
        }
        do {
            return try R(json: body)
        } catch {
            throw ChatClientError(code: .malformedReply(error))
        }
    }

    /// A room name checked with the server's rules; a bad one is refused before sending.
    static func validRoom(_ room: String) throws(ChatClientError) -> ValidName {
        do {
            return try Request.room(room)
        } catch {
            throw ChatClientError(code: .server(error))
        }
    }

    /// Unacknowledged sends.
    package var pendingCount: Int { session.pending.count }

    // MARK: Connection

    private func serve(inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter) async throws {
        self.outbound = outbound
        let (frames, writer) = AsyncStream.makeStream(of: String.self)
        self.writer = writer
        defer { writer.finish() }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                for await text in frames { try await outbound.write(.text(text)) }
            }
            group.addTask { try await self.handshake() }
            for try await message in inbound.messages(maxSize: 1 << 26) {
                if case .text(let text) = message { receive(text) }
            }
            group.cancelAll()
            while let result = await group.nextResult() {
                if case .failure(let error) = result, !(error is CancellationError), error is ProtocolError {
                    throw error
                }
            }
        }
    }

    private func handshake() async throws {
        let hello = try await request(Request.hello(version: 1, client: configuration.clientName), as: HelloReply.self)
        limits = hello.limits
        var newToken: String?
        let auth: AuthReply
        do {
            auth = try await authenticate(&newToken)
        } catch let error as ChatClientError {
            if case .server(let protocolError) = error.code {
                stopped = true
                continuation.yield(.authenticationFailed(protocolError))
                try? await outbound?.close(.normalClosure, reason: nil)
                failReadyWaiters(error)
                throw protocolError
            }
            throw error
        }
        userName = auth.user
        continuation.yield(.connected(user: auth.user, token: newToken))
        continuation.yield(.memberships(auth.rooms.map { RoomSummary(name: $0.name, head: $0.head, read: $0.read) }))
        for request in session.resumePlan() {
            switch request {
            case .send(_, _, _, let nonce?): transmit(request, handler: .send(nonce: nonce))
            case .join(let room, _, _): transmit(request, handler: .join(room: room.display, nil))
            default: break
            }
        }
        ready = true
        let waiters = readyWaiters
        readyWaiters = []
        for waiter in waiters { waiter.resume() }
    }

    private func authenticate(_ newToken: inout String?) async throws -> AuthReply {
        if let token {
            do {
                return try await request(Request.resume(token: token), as: AuthReply.self)
            } catch let error as ChatClientError {
                guard case .server(let e) = error.code, e.code == .unauthorized, password != nil else { throw error }
                self.token = nil
            }
        }
        guard let password else {
            throw ChatClientError(code: .server(ProtocolError(.unauthorized, "no password to log in with")))
        }
        let user: ValidName
        do {
            user = try Request.user(configuration.user)
        } catch {
            throw ChatClientError(code: .server(error))
        }
        let signIn: Request =
            registerFirst
            ? .register(user: user, password: password, invite: nil) : .login(user: user, password: password)
        let reply = try await request(signIn, as: AuthReply.self)
        registerFirst = false
        token = reply.token
        newToken = token
        return reply
    }

    private func detach() {
        outbound = nil
        writer?.finish()
        writer = nil
        ready = false
        session.disconnected()
        let handlers = replies
        replies = [:]
        for handler in handlers.values {
            switch handler {
            case .waiter(let cont): cont.resume(throwing: ChatClientError.disconnected)
            case .join(_, let cont?): cont.resume(throwing: ChatClientError.disconnected)
            default: break
            }
        }
    }

    private func failReadyWaiters(_ error: any Error) {
        let waiters = readyWaiters
        readyWaiters = []
        for waiter in waiters { waiter.resume(throwing: error) }
    }

    private func transmit(_ request: some WireRequest, handler: ReplyHandler) {
        guard let writer else {
            fail(handler, ChatClientError.notConnected)
            return
        }
        nextID += 1
        let id = "c\(nextID)"
        replies[id] = handler
        writer.yield(request.text(id: id))
    }

    private func fail(_ handler: ReplyHandler, _ error: any Error) {
        switch handler {
        case .waiter(let cont): cont.resume(throwing: error)
        case .join(_, let cont?): cont.resume(throwing: error)
        default: break
        }
    }

    private func receive(_ text: String) {
        let frame: ServerFrame
        do {
            frame = try ServerFrame(text: text)
        } catch {
            logger.debug("malformed frame from server", metadata: ["error": "\(error)"])
            // A reply whose id could be read still ends its request instead of leaving it waiting.
            if let id = error.id, let handler = replies.removeValue(forKey: id) { handleMalformed(handler, error) }
            return
        }
        switch frame {
        case .ok(let id, let body):
            guard let handler = replies.removeValue(forKey: id) else { return }
            handleOK(handler, body)
        case .error(let id, let error):
            guard let id, let handler = replies.removeValue(forKey: id) else {
                logger.debug("server error", metadata: ["error": "\(error)"])
                return
            }
            handleError(handler, error)
        case .event(let event):
            handleEvent(event)
        }
    }

    private func handleOK(_ handler: ReplyHandler, _ body: JSONObject) {
        do {
            switch handler {
            case .waiter(let cont):
                cont.resume(returning: body)
            case .join(let room, let cont):
                let reply = try JoinReply(json: body)
                let outcome = session.applyJoin(room, reply: reply)
                continuation.yield(
                    .joined(
                        room: reply.room.name,
                        topic: reply.room.topic,
                        head: reply.room.head,
                        reset: outcome.reset,
                        limited: outcome.limited
                    )
                )
                for message in outcome.messages { continuation.yield(.message(message)) }
                cont?.resume(returning: reply)
            case .send(let nonce):
                session.acknowledge(nonce: nonce)
                let ack = try SendReply(json: body)
                sendWaiters.removeValue(forKey: nonce)?.resume(returning: (ack.seq, ack.ts))
            case .history(let room):
                let reply = try HistoryReply(json: body, room: room)
                let fill = session.receiveHistory(room: room, reply.messages, more: reply.more)
                for message in fill.delivered { continuation.yield(.message(message)) }
                if let after = fill.fetchAfter { fetchHistory(room: room, after: after) }
            case .ignore:
                break
            }
        } catch {
            logger.debug("malformed reply from server", metadata: ["error": "\(error)"])
            handleMalformed(handler, error)
        }
    }

    /// Ends a request whose reply could not be decoded.
    private func handleMalformed(_ handler: ReplyHandler, _ error: WireDecodingError) {
        let failure = ChatClientError(code: .malformedReply(error))
        switch handler {
        case .waiter(let cont): cont.resume(throwing: failure)
        case .join(_, let cont): cont?.resume(throwing: failure)
        case .send(let nonce):
            session.acknowledge(nonce: nonce)
            sendWaiters.removeValue(forKey: nonce)?.resume(throwing: failure)
        case .history, .ignore: break
        }
    }

    private func handleError(_ handler: ReplyHandler, _ error: ProtocolError) {
        switch handler {
        case .send(let nonce):
            if error.code == .rateLimited {
                let delay = Duration.milliseconds(error.retryAfterMs ?? 100)
                // unstructured: a delayed retry; it ends by itself, and a retry after
                // a reconnect is harmless because the nonce makes it idempotent.
                Task {
                    try? await Task.sleep(for: delay)
                    self.retrySend(nonce)
                }
                return
            }
            session.acknowledge(nonce: nonce)
            continuation.yield(.sendFailed(nonce: nonce, error))
            sendWaiters.removeValue(forKey: nonce)?.resume(throwing: ChatClientError(code: .server(error)))
        case .waiter(let cont):
            cont.resume(throwing: ChatClientError(code: .server(error)))
        case .join(_, let cont):
            cont?.resume(throwing: ChatClientError(code: .server(error)))
        case .history, .ignore:
            logger.debug("request failed", metadata: ["error": "\(error)"])
        }
    }

    private func retrySend(_ nonce: String) {
        guard ready, let pending = session.pending.first(where: { $0.nonce == nonce }),
            let request = ClientSession.sendRequest(pending)
        else { return }
        transmit(request, handler: .send(nonce: nonce))
    }

    private func handleEvent(_ event: ChatEvent) {
        guard case .message(let message) = event else {
            continuation.yield(.event(event))
            return
        }
        switch session.receive(message) {
        case .deliver:
            continuation.yield(.message(message))
        case .duplicate, .unknownRoom, .held:
            break
        case .gap(let after):
            fetchHistory(room: message.room, after: after)
        }
    }

    private func fetchHistory(room: String, after: Int64) {
        guard let name = try? Request.room(room) else { return }
        transmit(
            Request.history(room: name, before: nil, after: after, limit: limits.historyLimit),
            handler: .history(room: room)
        )
    }

    static func makeNonce() -> String {
        var rng = SystemRandomNumberGenerator()
        let a = rng.next() as UInt64
        let b = rng.next() as UInt64
        return String(a, radix: 36) + String(b, radix: 36)
    }
}
