import ChatCore
import HummingbirdWebSocket
import Logging
import NIOCore
import NIOPosix
import NIOWebSocket
import Synchronization

/// Runs one WebSocket connection: a reader that answers requests in order and a
/// writer that drains the connection's bounded queue.
struct ConnectionHandler: Sendable {
    let hub: RoomHub
    let configuration: ServerConfiguration
    let hasher: PasswordHasher
    /// Verified against when the user does not exist, so both cases cost the same.
    let dummyHash: String
    let logger: Logger
    /// Answers `search` requests (nil: search is unavailable).
    var search: SearchEngine? = nil
    static let nextID = Atomic<UInt64>(1)

    func run(
        inbound: WebSocketInboundStream,
        outbound: WebSocketOutboundWriter,
        channel: any Channel
    ) async throws {
        let id = Self.nextID.add(1, ordering: .relaxed).oldValue
        let logger = {
            var logger = self.logger
            logger[metadataKey: "chat.conn.id"] = "\(id)"
            return logger
        }()
        let conn = Connection(
            id: id,
            channel: channel,
            queueLimit: configuration.outboundQueueLimit,
            closeTimeout: .nanoseconds(configuration.closeTimeout.nanoseconds)
        )
        switch await hub.connect(conn) {
        case nil: break
        case .shuttingDown?:
            try? await outbound.close(.unknown(CloseCode.goingAway.rawValue), reason: "server shutting down")
            return
        case .tooManyConnections?:
            logger.notice("connection refused: server full")
            try? await outbound.close(.unknown(CloseCode.policy.rawValue), reason: "too many connections")
            return
        case .tooManyFromAddress?:
            logger.notice("connection refused: too many from one address", metadata: ["chat.peer": "\(conn.address)"])
            try? await outbound.close(
                .unknown(CloseCode.policy.rawValue),
                reason: "too many connections from your address"
            )
            return
        }
        logger.debug("connection opened", metadata: ["chat.peer": "\(channel.remoteAddress?.description ?? "?")"])
        let readError = await withDiscardingTaskGroup { group in
            group.addTask {
                await Self.write(conn: conn, outbound: outbound, logger: logger)
            }
            let error = await read(conn: conn, inbound: inbound, logger: logger)
            conn.finishOutbound()
            return error
        }
        await hub.disconnect(conn)
        logger.debug("connection closed")
        // Let the WebSocket layer close with the code that matches the inbound error
        // (1009 for a reassembled message over max_frame, 1007 for invalid UTF-8).
        if let readError { throw readError }
    }

    private static func write(conn: Connection, outbound: WebSocketOutboundWriter, logger: Logger) async {
        // Frames go from the connection's queue to the channel on the event loop; this task
        // only sends a close with a code, after the frames queued before it.
        do {
            for await (code, reason) in conn.closeRequests {
                try await outbound.close(.unknown(code.rawValue), reason: reason)
                return
            }
        } catch {
            logger.trace("write failed", metadata: ["error": "\(error)"])
        }
    }

    private func read(conn: Connection, inbound: WebSocketInboundStream, logger: Logger) async -> (any Error)? {
        var session = ReaderState()
        session.address = conn.address
        do {
            for try await message in inbound.messages(maxSize: configuration.limits.maxFrame) {
                if conn.isClosing { break }
                switch message {
                case .binary:
                    protocolError(conn, &session, .badRequest("binary frames are not accepted; send JSON text"))
                case .text(let text):
                    await handle(text, conn: conn, session: &session, logger: logger)
                }
            }
        } catch {
            logger.trace("read ended", metadata: ["error": "\(error)"])
            return error
        }
        return nil
    }

    private func protocolError(_ conn: Connection, _ session: inout ReaderState, _ error: ProtocolError) {
        conn.reject(id: nil, error)
        if session.errors.record(now: uptimeSeconds()) {
            conn.close(.policy, reason: "too many protocol errors")
        }
    }

    private func handle(_ text: String, conn: Connection, session: inout ReaderState, logger: Logger) async {
        let envelope: RequestEnvelope
        switch RequestEnvelope.parse(text) {
        case .success(let e): envelope = e
        case .failure(let failure):
            if let id = failure.id {
                conn.reject(id: id, failure.error)
            } else {
                protocolError(conn, &session, failure.error)
            }
            return
        }
        let id = envelope.id
        if envelope.type == SearchRequest.type {
            await handleSearch(
                id: id,
                body: envelope.body,
                conn: conn,
                helloDone: session.helloDone,
                authenticated: session.authenticated
            )
            return
        }
        guard let type = RequestType(rawValue: envelope.type) else {
            conn.reject(id: id, .badRequest("unknown request type '\(envelope.type)'"))
            return
        }
        guard session.helloDone || type == .hello else {
            conn.reject(id: id, ProtocolError(.helloRequired, "send hello first"))
            return
        }
        if !type.allowedBeforeAuth, !session.authenticated {
            conn.reject(id: id, ProtocolError(.unauthorized, "authenticate first"))
            return
        }
        let request: Request
        switch Request.parse(type, body: envelope.body, limits: configuration.limits) {
        case .success(let r): request = r
        case .failure(let error):
            conn.reject(id: id, error)
            return
        }
        switch request {
        case .hello(let version, _):
            if session.helloDone {
                conn.reject(id: id, .badRequest("hello was already sent"))
            } else if version != 1 {
                conn.reject(id: id, ProtocolError(.unsupportedVersion, "this server speaks version 1"))
            } else {
                session.helloDone = true
                conn.send(
                    Frames.ok(
                        id: id,
                        [
                            "server": .string(configuration.serverName), "version": 1,
                            "limits": configuration.limits.json,
                        ]
                    )
                )
            }
        case .ping:
            conn.send(Frames.ok(id: id, ["ts": .int(RoomHub.systemMilliseconds())]))
        case .register(let user, let password, let invite):
            let hasher = self.hasher
            do {
                let hash = try await NIOThreadPool.singleton.runIfActive { try hasher.hash(password) }
                session.authenticated =
                    await hub.register(conn, id: id, user: user, passwordHash: hash, invite: invite)
                    || session.authenticated
            } catch {
                logger.error("password hashing failed", metadata: ["error": "\(error)"])
                conn.reject(id: id, ProtocolError(.internal, "internal error"))
            }
        case .login(let user, let password):
            if let wait = await hub.loginWait(user.key, address: session.address) {
                conn.reject(
                    id: id,
                    ProtocolError(.rateLimited, "too many failed logins; wait before trying again", retryAfterMs: wait)
                )
                return
            }
            let stored = await hub.passwordHash(of: user.key)
            let hasher = self.hasher
            let dummyHash = self.dummyHash
            let ok =
                (try? await NIOThreadPool.singleton.runIfActive {
                    hasher.verify(password, against: stored ?? dummyHash)
                }) ?? false
            if ok, stored != nil {
                session.authenticated = await hub.login(conn, id: id, userKey: user.key) || session.authenticated
            } else {
                await hub.loginFailed(user.key, address: session.address)
                conn.reject(id: id, ProtocolError(.unauthorized, "wrong user name or password"))
            }
        default:
            session.authenticated = await hub.handle(conn, id: id, request: request)
        }
    }
}

/// What the reader task keeps per connection.
private struct ReaderState {
    var address = "unknown"
    var helloDone = false
    var authenticated = false
    var errors = ProtocolErrorWindow()
}

extension Duration {
    var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}
