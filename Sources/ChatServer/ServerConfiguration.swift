import ChatCore

/// Everything `chat-server` can be told.
package struct ServerConfiguration: Sendable {
    /// Who may create accounts with `register`.
    package enum Registration: String, Sendable, CaseIterable {
        case open
        /// `register` needs a valid `invite` code (see `chat-server invite create`).
        case invite
        case closed
    }

    /// PEM files for `wss://`.
    package struct TLSFiles: Sendable, Equatable {
        package var certificateChain: String
        package var privateKey: String

        package init(certificateChain: String, privateKey: String) {
            self.certificateChain = certificateChain
            self.privateKey = privateKey
        }
    }

    /// A host and port to listen on.
    package struct ListenAddress: Sendable, Equatable {
        package var host: String
        package var port: Int

        package init(host: String, port: Int) {
            self.host = host
            self.port = port
        }

        /// Parses `HOST:PORT` or `[IPv6]:PORT`; nil when it is neither.
        ///
        /// - Parameters:
        ///   - text: the address.
        package init?(_ text: String) {
            guard let colon = text.lastIndex(of: ":"),
                let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port)
            else { return nil }
            var host = text[..<colon]
            if host.hasPrefix("[") && host.hasSuffix("]") {
                host = host.dropFirst().dropLast()
            } else if host.contains(":") {
                return nil
            }
            guard !host.isEmpty else { return nil }
            self.init(host: String(host), port: port)
        }
    }

    package var host: String
    package var port: Int
    package var dataDirectory: String
    package var limits: Limits
    package var registration: Registration
    /// scrypt N for new password hashes (stored hashes keep the N they were made with).
    package var passwordRounds: Int
    /// Frames queued for one connection before it counts as a slow consumer.
    package var outboundQueueLimit: Int
    /// Bytes queued for one connection (replies and events) before it counts as a slow consumer.
    package var outboundQueueBytes: Int
    /// Bytes of replies queued for all connections together before the one going over is closed.
    package var outboundTotalBytes: Int
    /// WebSocket ping period; a client that does not answer is closed.
    package var pingInterval: Duration
    /// How long a closing client has to answer the close frame.
    package var closeTimeout: Duration
    /// Messages in a `join` reply without `since`.
    package var joinBacklog: Int
    package var serverName: String
    /// Persistence; nil keeps state in memory only (tests).
    package var storage: StorageConfiguration?
    /// `--postgres`: state lives in PostgreSQL; `storage` then names only the node's own directory
    /// (its lock, admin socket, search index and a copy of upload bytes).
    package var postgres: PostgresSettings?
    /// `--standby` (with `postgres`): wait while another node serves the database, then take over.
    package var standby = false
    /// `--cluster` (with `postgres`): serve beside other `--cluster` nodes of the same database;
    /// each change is made in a turn that holds the database's write lock and starts from every
    /// other node's changes (see `PostgresChatStore`).
    package var cluster = false
    /// Open TCP connections on the chat port (HTTP and WebSocket) accepted in total.
    package var maxConnections: Int
    /// Open TCP connections on the chat port accepted from one client address.
    package var maxConnectionsPerAddress: Int
    /// How long a plain HTTP keep-alive connection may sit idle before it is closed.
    package var httpIdleTimeout: Duration
    /// Peers whose `X-Forwarded-For` names the client (TLS proxies in front of the server).
    package var trustedProxies: [CIDR]
    /// `Origin` values whose pages may open a WebSocket; an upgrade with any other is refused (403).
    package var allowedOrigins: [String]
    /// A separate listener for `/metrics` (then the chat port serves none); nil: `/metrics` on
    /// the chat port, for loopback clients only.
    package var metricsListen: ListenAddress?
    /// Rooms one user may be a member of.
    package var maxRoomsPerUser: Int
    /// Rooms one user may create per minute (also the burst).
    package var roomCreationPerMinute: Double
    /// Membership changes (a `join` that makes the user a member, a `leave`) one user may make
    /// per minute (also the burst): each is stored and announced to the room.
    package var membershipChangesPerMinute: Double
    /// Days a token may go unused before `resume` refuses it (and it is dropped).
    package var tokenIdleDays: Int
    /// Seconds after sending during which a message may be edited; nil: always.
    package var editWindow: Double?
    /// Whether requests, durable waits, fan-outs and index batches make trace spans (with the
    /// tracer `chat-server` bootstraps for `--otlp-endpoint`).
    package var tracing = false
    /// Failed logins per user name before delays start (4× that per source address).
    package var loginFreeAttempts: Int
    /// Live tokens one user may have; a login beyond it revokes the oldest (its sessions end).
    package var maxTokensPerUser: Int
    /// First login delay in seconds after the free attempts; it doubles per further failure.
    package var loginBaseDelay: Double
    /// Serve `wss://` with these files; nil serves plain `ws://`.
    package var tls: TLSFiles?
    /// Time a new connection has to complete its (TLS and) HTTP upgrade request.
    package var handshakeTimeout: Duration
    /// Unix socket in the data directory for `chat-server user|invite|token` while the server runs; nil: none.
    package var adminSocket: String?

    /// Creates a configuration with the documented defaults.
    ///
    /// - Parameters:
    ///   - host: bind address.
    ///   - port: bind port (0: any free port).
    ///   - dataDirectory: where state is kept.
    ///   - limits: advertised limits.
    ///   - registration: sign-up policy.
    ///   - passwordRounds: scrypt N.
    ///   - outboundQueueLimit: slow-consumer threshold in frames.
    ///   - pingInterval: WebSocket ping period.
    ///   - closeTimeout: close handshake deadline.
    package init(
        host: String = "0.0.0.0",
        port: Int = 7878,
        dataDirectory: String = "./chat-data",
        limits: Limits = Limits(),
        registration: Registration = .open,
        passwordRounds: Int = PasswordHasher.defaultRounds,
        outboundQueueLimit: Int = 1024,
        pingInterval: Duration = .seconds(30),
        closeTimeout: Duration = .seconds(10)
    ) {
        self.host = host
        self.port = port
        self.dataDirectory = dataDirectory
        self.limits = limits
        self.registration = registration
        self.passwordRounds = passwordRounds
        self.outboundQueueLimit = outboundQueueLimit
        self.outboundQueueBytes = 16 << 20
        self.outboundTotalBytes = 256 << 20
        self.pingInterval = pingInterval
        self.closeTimeout = closeTimeout
        self.joinBacklog = 50
        self.serverName = "chat-server/0.1.0"
        self.storage = nil
        self.maxConnections = 10000
        self.maxConnectionsPerAddress = 64
        self.httpIdleTimeout = .seconds(15)
        self.trustedProxies = []
        self.allowedOrigins = []
        self.metricsListen = nil
        self.maxRoomsPerUser = 200
        self.roomCreationPerMinute = 10
        self.membershipChangesPerMinute = 60
        self.tokenIdleDays = 90
        self.editWindow = nil
        self.loginFreeAttempts = 5
        self.maxTokensPerUser = 100
        self.loginBaseDelay = 1
        self.tls = nil
        self.handshakeTimeout = .seconds(10)
        self.adminSocket = nil
        if self.limits.maxFileBytes == 0 && self.limits.uploadsPerMinute == 0 {
            // File sharing is on by default: 25 MiB files, 1 GiB per user, 10 uploads a minute.
            self.limits.maxFileBytes = 25 << 20
            self.limits.fileQuotaBytes = 1 << 30
            self.limits.uploadsPerMinute = 10
        }
    }

    /// Whether a bind address only accepts connections from this machine.
    ///
    /// - Parameters:
    ///   - host: the `--host` value.
    package static func isLoopback(_ host: String) -> Bool {
        if host == "localhost" || host == "::1" { return true }
        // 127.0.0.0/8 written as an address; a DNS name such as 127.example.com is not loopback.
        let octets = host.split(separator: ".", omittingEmptySubsequences: false)
        guard octets.count == 4, octets.first == "127" else { return false }
        return octets.allSatisfy { octet in
            !octet.isEmpty && octet.count <= 3 && octet.allSatisfy(\.isASCII) && octet.allSatisfy(\.isNumber)
                && Int(octet).map { $0 <= 255 } == true
        }
    }
}
