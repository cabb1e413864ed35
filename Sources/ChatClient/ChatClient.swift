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
        case server(ProtocolError)
    }
    package var code: Code
    package var description: String {
        switch code {
        case .notConnected: return "not connected"
        case .disconnected: return "connection lost before the reply"
        case .server(let e): return e.description
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
        case join(room: String, CheckedContinuation<JSONObject, any Error>?)
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
    package func join(_ room: String, since: Int64? = nil) async throws -> JSONObject {
        if let since { session.follow(room, since: since) } else { session.follow(room) }
        guard ready, writer != nil else { throw ChatClientError.notConnected }
        let body = session.joinRequest(room)
        return try await withCheckedThrowingContinuation { cont in
            transmit(body, handler: .join(room: room, cont))
        }
    }

    /// Leaves a room and stops following it.
    ///
    /// - Parameters:
    ///   - room: room name.
    package func leave(_ room: String) async throws {
        session.unfollow(room)
        _ = try await request(["type": "leave", "room": .string(room)])
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
        session.queueSend(room: room, text: text, kind: kind, nonce: nonce)
        return try await withCheckedThrowingContinuation { cont in
            sendWaiters[nonce] = cont
            if ready, let pending = session.pending.last(where: { $0.nonce == nonce }) {
                transmit(ClientSession.sendRequest(pending), handler: .send(nonce: nonce))
            }
        }
    }

    /// Sends any request and returns its `ok` body; throws the server's error.
    ///
    /// - Parameters:
    ///   - body: the request without `id`.
    package func request(_ body: JSONObject) async throws -> JSONObject {
        guard writer != nil else { throw ChatClientError.notConnected }
        return try await withCheckedThrowingContinuation { cont in
            transmit(body, handler: .waiter(cont))
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
        let hello = try await request([
            "type": "hello", "version": 1, "client": .string(configuration.clientName),
        ])
        limits = Limits(json: hello["limits"]?.objectValue ?? [:])
        var newToken: String?
        let auth: JSONObject
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
        userName = auth["user"]?.stringValue
        continuation.yield(.connected(user: userName ?? configuration.user, token: newToken))
        let summaries = (auth["rooms"]?.arrayValue ?? []).compactMap { value -> RoomSummary? in
            guard let o = value.objectValue, let name = o["name"]?.stringValue else { return nil }
            return RoomSummary(name: name, head: o["head"]?.intValue ?? 0, read: o["read"]?.intValue ?? 0)
        }
        continuation.yield(.memberships(summaries))
        for body in session.resumePlan() {
            if body["type"]?.stringValue == "send", let nonce = body["nonce"]?.stringValue {
                transmit(body, handler: .send(nonce: nonce))
            } else if let room = body["room"]?.stringValue {
                transmit(body, handler: .join(room: room, nil))
            }
        }
        ready = true
        let waiters = readyWaiters
        readyWaiters = []
        for waiter in waiters { waiter.resume() }
    }

    private func authenticate(_ newToken: inout String?) async throws -> JSONObject {
        if let token {
            do {
                return try await request(["type": "resume", "token": .string(token)])
            } catch let error as ChatClientError {
                guard case .server(let e) = error.code, e.code == .unauthorized, password != nil else { throw error }
                self.token = nil
            }
        }
        guard let password else {
            throw ChatClientError(code: .server(ProtocolError(.unauthorized, "no password to log in with")))
        }
        let type = registerFirst ? "register" : "login"
        let reply = try await request([
            "type": .string(type), "user": .string(configuration.user), "password": .string(password),
        ])
        registerFirst = false
        token = reply["token"]?.stringValue
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

    private func transmit(_ body: JSONObject, handler: ReplyHandler) {
        guard let writer else {
            fail(handler, ChatClientError.notConnected)
            return
        }
        nextID += 1
        let id = "c\(nextID)"
        var frame: JSONObject = ["type": body["type"] ?? .null, "id": .string(id)]
        for field in body.fields where field.key != "type" && field.key != "id" { frame[field.key] = field.value }
        replies[id] = handler
        writer.yield(JSONValue.object(frame).jsonString)
    }

    private func fail(_ handler: ReplyHandler, _ error: any Error) {
        switch handler {
        case .waiter(let cont): cont.resume(throwing: error)
        case .join(_, let cont?): cont.resume(throwing: error)
        default: break
        }
    }

    private func receive(_ text: String) {
        guard let frame = ServerFrame.parse(text) else {
            logger.debug("unparseable frame from server")
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
        switch handler {
        case .waiter(let cont):
            cont.resume(returning: body)
        case .join(let room, let cont):
            let outcome = session.applyJoin(room, reply: body)
            let info = body["room"]?.objectValue ?? [:]
            continuation.yield(
                .joined(
                    room: info["name"]?.stringValue ?? room,
                    topic: info["topic"]?.stringValue ?? "",
                    head: info["head"]?.intValue ?? 0,
                    reset: outcome.reset,
                    limited: outcome.limited
                )
            )
            for message in outcome.messages { continuation.yield(.message(message)) }
            cont?.resume(returning: body)
        case .send(let nonce):
            session.acknowledge(nonce: nonce)
            let seq = body["seq"]?.intValue ?? 0
            let ts = body["ts"]?.intValue ?? 0
            sendWaiters.removeValue(forKey: nonce)?.resume(returning: (seq, ts))
        case .history(let room):
            let messages = (body["messages"]?.arrayValue ?? []).compactMap {
                $0.objectValue.flatMap { ChatMessage(json: $0, room: room) }
            }
            let fill = session.receiveHistory(room: room, messages, more: body["more"]?.boolValue ?? false)
            for message in fill.delivered { continuation.yield(.message(message)) }
            if let after = fill.fetchAfter { fetchHistory(room: room, after: after) }
        case .ignore:
            break
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
        guard ready, let pending = session.pending.first(where: { $0.nonce == nonce }) else { return }
        transmit(ClientSession.sendRequest(pending), handler: .send(nonce: nonce))
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
        transmit(
            [
                "type": "history", "room": .string(room), "after": .int(after),
                "limit": .int(Int64(limits.historyLimit)),
            ],
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
