import ChatCore
import HummingbirdWSClient
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import NIOWebSocket

/// A protocol v1 client that reconnects with backoff and jitter, re-joins every
/// followed room with `since`/`epoch` so nothing is missed or repeated, and
/// re-sends unacknowledged messages with their nonces so nothing is duplicated.
package actor ChatClient {
    enum ReplyHandler {
        case waiter(CheckedContinuation<JSONObject, any Error>)
        case join(room: String, CheckedContinuation<JoinReply, any Error>?)
        case send(nonce: String)
        case history(room: String)
        case ignore
    }

    package nonisolated let events: AsyncStream<ClientEvent>
    let continuation: AsyncStream<ClientEvent>.Continuation
    let configuration: ChatClientConfiguration
    let logger: Logger
    var session = ClientSession()
    var outbound: WebSocketOutboundWriter?
    /// Frames to write, in order, on the current connection.
    var writer: AsyncStream<String>.Continuation?
    var ready = false
    var readyWaiters: [CheckedContinuation<Void, any Error>] = []
    var replies: [String: ReplyHandler] = [:]
    var sendWaiters: [String: CheckedContinuation<(seq: Int64, ts: Int64), any Error>] = [:]
    var nextID: UInt64 = 0
    var token: String?
    var password: String?
    var registerFirst = false
    var stopped = false
    /// Limits the server advertised.
    package internal(set) var limits = Limits()
    /// The display name the server confirmed.
    package internal(set) var userName: String?

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
                        sniHostname: configuration.tls?.serverName ?? TLSTrust.sniHostname(for: configuration.url)
                    ),
                    tlsConfiguration: configuration.tls?.tls,
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
    ///   - kind: text, action or file.
    ///   - nonce: the idempotency nonce (a new one when nil).
    ///   - replyTo: the seq of the message this one answers.
    ///   - file: for `kind: .file`, the id `upload` returned (`text` is then the caption).
    package func send(
        _ room: String,
        text: String,
        kind: MessageKind = .text,
        nonce: String? = nil,
        replyTo: Int64? = nil,
        file: String? = nil
    ) async throws -> (seq: Int64, ts: Int64) {
        let nonce = nonce ?? Self.makeNonce()
        do {
            _ = try Self.validRoom(room)
        } catch {
            // Refused for good, as the server would have refused it.
            if case .server(let refusal) = error.code { continuation.yield(.sendFailed(nonce: nonce, refusal)) }
            throw error
        }
        session.queueSend(room: room, text: text, kind: kind, nonce: nonce, replyTo: replyTo, file: file)
        return try await withCheckedThrowingContinuation { cont in
            sendWaiters[nonce] = cont
            if ready, let pending = session.pending.last(where: { $0.nonce == nonce }),
                let request = ClientSession.sendRequest(pending)
            {
                transmit(request, handler: .send(nonce: nonce))
            }
        }
    }

    /// A client for the server's file routes with this session's token (after authentication).
    package func fileTransfer() throws -> FileTransfer {
        guard let token else { throw ChatClientError.notConnected }
        return try FileTransfer(serverURL: configuration.url, token: token, tls: configuration.tls)
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

    /// Follows a room the server subscribed this connection to with `create` (head 0).
    func followCreated(_ reply: CreateReply, topic: String) {
        let room = JoinReply.Room(name: reply.room, topic: topic, head: reply.head, epoch: reply.epoch)
        _ = session.applyJoin(reply.room, reply: JoinReply(room: room, messages: [], limited: false, reset: false))
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
}
