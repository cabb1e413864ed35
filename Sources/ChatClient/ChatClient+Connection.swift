import ChatCore
import HummingbirdWSClient
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import NIOWebSocket

/// The connection's life: handshake, authentication, frames in and out, replies to waiters,
/// events, resends after a reconnect.
extension ChatClient {

    func serve(inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter) async throws {
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

    func handshake() async throws {
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
        continuation.yield(.memberships(auth.rooms))
        for request in session.resumePlan() {
            switch request {
            case .send(_, _, _, let nonce?, _, _): transmit(request, handler: .send(nonce: nonce))
            case .join(let room, _, _): transmit(request, handler: .join(room: room.display, nil))
            default: break
            }
        }
        ready = true
        let waiters = readyWaiters
        readyWaiters = []
        for waiter in waiters { waiter.resume() }
    }

    func authenticate(_ newToken: inout String?) async throws -> AuthReply {
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
            ? .register(user: user, password: password, invite: configuration.invite)
            : .login(user: user, password: password)
        let reply = try await request(signIn, as: AuthReply.self)
        registerFirst = false
        token = reply.token
        newToken = token
        return reply
    }

    func detach() {
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

    func failReadyWaiters(_ error: any Error) {
        let waiters = readyWaiters
        readyWaiters = []
        for waiter in waiters { waiter.resume(throwing: error) }
    }

    func transmit(_ request: some WireRequest, handler: ReplyHandler) {
        guard let writer else {
            fail(handler, ChatClientError.notConnected)
            return
        }
        nextID += 1
        let id = "c\(nextID)"
        replies[id] = handler
        writer.yield(request.text(id: id))
    }

    func fail(_ handler: ReplyHandler, _ error: any Error) {
        switch handler {
        case .waiter(let cont): cont.resume(throwing: error)
        case .join(_, let cont?): cont.resume(throwing: error)
        default: break
        }
    }

    func receive(_ text: String) {
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

    func handleOK(_ handler: ReplyHandler, _ body: JSONObject) {
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
    func handleMalformed(_ handler: ReplyHandler, _ error: WireDecodingError) {
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

    func handleError(_ handler: ReplyHandler, _ error: ProtocolError) {
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

    func retrySend(_ nonce: String) {
        guard ready, let pending = session.pending.first(where: { $0.nonce == nonce }),
            let request = ClientSession.sendRequest(pending)
        else { return }
        transmit(request, handler: .send(nonce: nonce))
    }

    func handleEvent(_ event: ChatEvent) {
        switch event {
        case .added(let room, _, _):
            // Made a member (invite, a new direct-message room): follow the room by itself.
            continuation.yield(.event(event))
            if writer != nil, let request = session.added(room) { transmit(request, handler: .join(room: room, nil)) }
            return
        case .removed(let room, _):
            session.removed(room)
            continuation.yield(.event(event))
            return
        case .message:
            break
        default:
            continuation.yield(.event(event))
            return
        }
        guard case .message(let message) = event else { return }
        switch session.receive(message) {
        case .deliver:
            continuation.yield(.message(message))
        case .duplicate, .unknownRoom, .held:
            break
        case .gap(let after):
            fetchHistory(room: message.room, after: after)
        }
    }

    func fetchHistory(room: String, after: Int64) {
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
