import ChatCore
import Logging
import NIOCore
import NIOPosix
import NIOWebSocket
import Synchronization

/// Answers one connection's requests (for its `RequestPump`, in order): parsing,
/// hello/ping, password hashing off the hub, and everything else through the hub.
///
/// One instance serves every connection of a server: it is a class so that each connection's
/// handler and pump hold a reference to it, not a copy of the configuration (a copy in both
/// was about 1.4 KB of every idle connection's memory).
final class ConnectionHandler: Sendable {
    let hub: RoomHub
    let configuration: ServerConfiguration
    let hasher: PasswordHasher
    /// Verified against when the user does not exist, so both cases cost the same.
    let dummyHash: String
    let logger: Logger
    /// Answers `search` requests (nil: search is unavailable).
    let search: SearchEngine?
    /// The byte budgets every connection of this server shares.
    let budget: OutboundBudget
    static let nextID = Atomic<UInt64>(1)
    /// Follows requests for the debug log and traces (nil: neither is on).
    let observer: RequestObserver?
    /// Shared with every `Connection` (metric handles are objects: one set, not one per connection).
    let metrics = ServerMetrics()

    /// Creates the handler.
    ///
    /// - Parameters:
    ///   - hub: the hub.
    ///   - configuration: the server's configuration.
    ///   - hasher: hashes and verifies passwords.
    ///   - dummyHash: verified against when the user does not exist.
    ///   - logger: logger.
    ///   - search: answers `search` requests (nil: search is unavailable).
    ///   - budget: the byte budgets every connection shares.
    ///   - observer: follows requests (nil: no request log lines or spans).
    init(
        hub: RoomHub,
        configuration: ServerConfiguration,
        hasher: PasswordHasher,
        dummyHash: String,
        logger: Logger,
        search: SearchEngine? = nil,
        budget: OutboundBudget = OutboundBudget(perConnection: 16 << 20, total: 256 << 20),
        observer: RequestObserver? = nil
    ) {
        self.hub = hub
        self.configuration = configuration
        self.hasher = hasher
        self.dummyHash = dummyHash
        self.logger = logger
        self.search = search
        self.budget = budget
        self.observer = observer
    }

    func protocolError(_ conn: Connection, _ session: inout ReaderState, _ error: ProtocolError) {
        conn.reject(id: nil, error)
        if session.errors.record(now: hub.clock.now().monotonic) {
            conn.close(.policy, reason: "too many protocol errors")
        }
    }

    /// What a text frame asks for, decided without replying (so a caller holding earlier
    /// requests for the hub can send those first and keep replies in order).
    enum Prepared {
        /// An error reply and nothing else; without an id it counts as a protocol error.
        case reject(id: String?, ProtocolError)
        case search(id: String, body: JSONObject)
        /// `hello`, `ping`, `register` and `login`, answered here.
        case local(id: String, Request)
        /// Everything else, answered by the hub.
        case hub(id: String, Request)

        /// The request id, when one could be read.
        var id: String? {
            switch self {
            case .reject(let id, _): id
            case .search(let id, _), .local(let id, _), .hub(let id, _): id
            }
        }
    }

    /// Parses and checks one text frame against the session.
    ///
    /// - Parameters:
    ///   - text: the frame's text.
    ///   - session: the connection's state.
    func prepare(_ text: String, session: ReaderState) -> Prepared {
        let envelope: RequestEnvelope
        switch RequestEnvelope.parse(text) {
        case .success(let e): envelope = e
        case .failure(let failure): return .reject(id: failure.id, failure.error)
        }
        let id = envelope.id
        if envelope.type == SearchRequest.type { return .search(id: id, body: envelope.body) }
        guard let type = RequestType(rawValue: envelope.type) else {
            return .reject(id: id, .badRequest("unknown request type '\(envelope.type)'"))
        }
        guard session.helloDone || type == .hello else {
            return .reject(id: id, ProtocolError(.helloRequired, "send hello first"))
        }
        if !type.allowedBeforeAuth, !session.authenticated {
            return .reject(id: id, ProtocolError(.unauthorized, "authenticate first"))
        }
        switch Request.parse(type, body: envelope.body, limits: configuration.limits) {
        case .success(let request):
            switch request {
            case .hello, .ping, .register, .login: return .local(id: id, request)
            default: return .hub(id: id, request)
            }
        case .failure(let error): return .reject(id: id, error)
        }
    }

    /// Answers a prepared request.
    ///
    /// - Parameters:
    ///   - prepared: what `prepare` made of a frame.
    ///   - conn: the connection.
    ///   - session: the connection's state.
    ///   - logger: logger.
    func execute(_ prepared: Prepared, conn: Connection, session: inout ReaderState, logger: Logger) async {
        let id: String
        let request: Request
        switch prepared {
        case .reject(let id?, let error):
            conn.reject(id: id, error)
            return
        case .reject(nil, let error):
            protocolError(conn, &session, error)
            return
        case .search(let searchID, let body):
            await handleSearch(
                id: searchID,
                body: body,
                conn: conn,
                helloDone: session.helloDone,
                authenticated: session.authenticated
            )
            return
        case .hub(let hubID, let hubRequest):
            session.authenticated = await hub.handle(conn, id: hubID, request: hubRequest)
            return
        case .local(let localID, let localRequest):
            id = localID
            request = localRequest
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
                    HelloReply(
                        server: configuration.serverName,
                        limits: configuration.limits,
                        features: Self.features(configuration)
                    )
                    .frame(id: id)
                )
            }
        case .ping:
            conn.send(PingReply(ts: hub.clock.now().wallMs).frame(id: id))
        case .register(let user, let password, let invite):
            // The policy, the invite and the name are checked first: a refused sign-up costs no scrypt.
            guard await hub.mayRegister(conn, id: id, user: user, invite: invite) else { return }
            let hasher = self.hasher
            do {
                let hash = try await NIOThreadPool.singleton.runIfActive { try hasher.hash(password) }
                session.authenticated =
                    await hub.register(conn, id: id, user: user, passwordHash: hash, invite: invite)
                    || session.authenticated
            } catch {
                logger.error(
                    "password hashing failed",
                    metadata: ["chat.conn.id": "\(conn.subscriberID)", "error": "\(error)"]
                )
                conn.reject(id: id, ProtocolError(.internal, "internal error"))
            }
        case .login(let user, let password):
            // The attempt takes its place in the throttle before the password is hashed.
            guard let stored = await hub.beginLogin(conn, id: id, userKey: user.key) else { return }
            let hasher = self.hasher
            let dummyHash = self.dummyHash
            let ok =
                (try? await NIOThreadPool.singleton.runIfActive {
                    hasher.verify(password, against: stored ?? dummyHash)
                }) ?? false
            // The hub checks that the hash verified against is still the user's (`user passwd`).
            let verifiedHash = ok ? stored : nil
            // Counted before the reply goes out (a client that reads it and then scrapes sees it).
            if !ok { metrics.loginFailed(stored == nil ? "unknown_user" : "bad_password") }
            let authenticated = await hub.finishLogin(conn, id: id, userKey: user.key, verifiedHash: verifiedHash)
            // Verified against a hash that changed meanwhile, or storage failing: rare.
            if ok && !authenticated { metrics.loginFailed("other") }
            session.authenticated = authenticated || session.authenticated
        default:
            session.authenticated = await hub.handle(conn, id: id, request: request)
        }
    }
}

extension ConnectionHandler {
    /// The optional features this server names in its `hello` reply (`files` unless
    /// `--max-file-bytes 0` turned file sharing off).
    static func features(_ configuration: ServerConfiguration) -> [String] {
        [
            ServerFeature.privateRooms, ServerFeature.directMessages, ServerFeature.replies, ServerFeature.edits,
            ServerFeature.deletes, ServerFeature.reactions,
        ] + (configuration.limits.maxFileBytes > 0 ? [ServerFeature.files] : [])
    }
}

/// What the request pump keeps per connection.
struct ReaderState {
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
