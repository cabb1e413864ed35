import ArgumentParser
import ChatCore
import ChatServer
import Foundation
import Logging
import Metrics
import OTel
import Prometheus
import ServiceLifecycle
import Tracing

#if canImport(Glibc)
import Glibc
#endif

@main
struct ChatServerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chat-server",
        abstract: "A self-hosted chat server speaking protocol v1 over WebSocket (/v1/ws).",
        discussion: """
            Without a subcommand, runs the server ('serve'). State lives in memory and in --data-dir: an \
            append-only log of every change plus periodic snapshots. SIGINT/SIGTERM close clients with \
            1001, write a snapshot and exit 0; a second signal exits at once.
            """,
        version: BuildInfo.description,
        subcommands: [
            ServeCommand.self, BackupCommand.self, RestoreCommand.self, UserCommand.self, InviteCommand.self,
            FileCommand.self,
            TokenCommand.self, MessageCommand.self, ReindexCommand.self, MigrateCommand.self,
        ],
        defaultSubcommand: ServeCommand.self
    )
}

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the server (the default: 'chat-server --port 7878' is 'chat-server serve --port 7878')."
    )

    @Option(help: "Address to listen on.")
    var host = "0.0.0.0"

    @Option(help: "TCP port to listen on (0 picks a free port).")
    var port = 7878

    @Option(help: "Directory for the server's state: snapshot + append-only log (created if missing).")
    var dataDir = "./chat-data"

    @Option(
        help: """
            Keep all state in PostgreSQL instead (or CHAT_POSTGRES_URL): \
            postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?sslmode=disable|prefer|require]. The tables are \
            created or upgraded at start; --data-dir then holds only this node's lock, admin socket, search \
            index and a copy of file bytes. One node serves a database at a time (docs/OPERATIONS.md §19).
            """
    )
    var postgres: String?

    @Flag(
        help: """
            With --postgres: while another node serves the database, wait (without listening) and take \
            over when it stops, instead of refusing to start.
            """
    )
    var standby = false

    @Flag(
        help: """
            With --postgres: serve beside other --cluster nodes of the same database, clients on any \
            node (docs/OPERATIONS.md §19).
            """
    )
    var cluster = false

    /// `--postgres`, else `CHAT_POSTGRES_URL` (nil: neither, or empty).
    var postgresURL: String? {
        guard let url = postgres ?? ProcessInfo.processInfo.environment["CHAT_POSTGRES_URL"], !url.isEmpty else {
            return nil
        }
        return url
    }

    @Option(
        help: """
            When the log reaches the disk: 'always' (fsync before every acknowledgement, group commit; \
            no crash loses an acknowledged message), 'everysec' (fsync at most 1 s behind; a machine \
            crash may lose about a second), 'no' (the OS decides).
            """
    )
    var fsync: String = "everysec"

    @Option(help: "Snapshot once the log has grown by this many MiB.")
    var snapshotLogMib = 64

    @Option(help: "Snapshot when this many seconds have passed since the last one (and something changed).")
    var snapshotInterval = 300

    @Option(
        help: ArgumentHelp(
            "MiB of memory for the newest messages of all rooms together; older messages move to <data-dir>/cold at each snapshot and are read from disk.",
            discussion: "Each room keeps at least its newest 200 messages in memory."
        )
    )
    var cacheMib = 64

    @Option(help: "Keep this many newest messages of every room in memory, instead of sizing by --cache-mib.")
    var hotMessages: Int?

    @Option(
        help: """
            Retention: messages older than this many days (a fraction is allowed) become tombstones, \
            checked every 1/24 of the period (at most a day apart): their text, files and \
            reactions leave the disk and the search index; seqs stay contiguous. Default: keep everything.
            """
    )
    var retainDays: Double?

    @Flag(help: "Start even if the log or snapshot is damaged, truncating at the first bad record.")
    var repair = false

    @Option(help: "Messages (and typing notices) per second each user may send, sustained.")
    var ratePerSec: Double = 10

    @Option(help: "Messages each user may send in a burst before the per-second rate applies.")
    var rateBurst = 20

    @Option(
        help: """
            Read requests per second each user may make, sustained (history, rooms, members and join \
            take 1, search takes 5); over it they get rate_limited.
            """
    )
    var readRatePerSec: Double = 20

    @Option(
        help:
            "Read requests each user may make in a burst (keep it above --max-rooms-per-user: a client rejoins every room on reconnect)."
    )
    var readRateBurst = 250

    @Option(help: "Longest message text, in Unicode scalars.")
    var maxText = 4000

    @Option(help: "Most messages one history or join reply carries.")
    var historyLimit = 500

    @Option(help: "Largest WebSocket message a client may send, in bytes (larger closes with 1009).")
    var maxFrame = 65536

    @Option(
        help: """
            Who may create accounts: open (anyone who can reach the server), invite (register needs a code \
            from 'chat-server invite create') or closed (only 'chat-server user add'). Default: open when \
            --host is a loopback address, invite otherwise.
            """
    )
    var registration: String?

    @Option(help: "PEM certificate chain: serve wss:// instead of ws:// (needs --tls-key).")
    var tlsCert: String?

    @Option(help: "PEM private key for --tls-cert.")
    var tlsKey: String?

    @Option(help: "Seconds a new connection has to finish its TLS and WebSocket handshake (slowloris guard).")
    var handshakeTimeout: Double = 10

    @Option(help: "Seconds between WebSocket pings; a client that does not answer within one period is closed.")
    var pingInterval: Double = 30

    @Flag(help: "Do not open the admin socket (data-dir/admin.sock) that 'user', 'invite' and 'token' use.")
    var noAdminSocket = false

    @Option(
        help: """
            Open connections on the chat port (HTTP and WebSocket alike) in total; a connection beyond \
            it is closed as soon as it is accepted.
            """
    )
    var maxConnections = 10000

    @Option(
        help: """
            Event-loop threads for sockets, the hub and its tasks; 0: one per CPU this process may run \
            on (its affinity mask and cgroup quota).
            """
    )
    var eventLoops = 0

    @Option(
        help: """
            Open connections on the chat port from one client address (behind a --trusted-proxy: the \
            forwarded client's); beyond it a connection is closed when accepted (a proxied upgrade: HTTP 503).
            """
    )
    var maxConnectionsPerAddress = 64

    @Option(help: "Seconds a plain HTTP keep-alive connection (/healthz, /metrics) may sit idle before it is closed.")
    var httpIdleTimeout: Double = 15

    @Option(
        help: """
            Address range (CIDR, e.g. 10.0.0.5/32 or fd00::/8) of a TLS proxy in front of the server; from \
            these peers only, the client address is taken from X-Forwarded-For (the right-most entry that \
            is not itself a trusted proxy) for limits, the login throttle and logs. Repeatable.
            """
    )
    var trustedProxy: [String] = []

    @Option(
        help: """
            Origin (e.g. https://chat.example.org) whose web pages may open a WebSocket. Repeatable. An \
            upgrade with any other Origin header is refused with HTTP 403; clients that send none (native \
            clients) are unaffected. Default: no browser origin.
            """
    )
    var allowedOrigin: [String] = []

    @Option(
        help: """
            Serve /metrics on this separate HOST:PORT (e.g. 127.0.0.1:9100) and not on the chat port. \
            Without it, /metrics on the chat port answers loopback clients only.
            """
    )
    var metricsListen: String?

    @Option(
        help: """
            MiB queued for one client (replies and events) before it is closed as a slow consumer \
            (4001); a history, join or search reply that would not fit is refused with rate_limited.
            """
    )
    var maxQueueMib = 16

    @Option(help: "MiB of replies queued for all clients together; the client going over is closed with 4001.")
    var maxTotalQueueMib = 256

    @Option(help: "Rooms one user may be a member of.")
    var maxRoomsPerUser = 200

    @Option(help: "Largest upload in bytes (POST /v1/files; 413 over it). 0 turns file sharing off.")
    var maxFileBytes: Int64 = 25 << 20

    @Option(help: "Bytes of uploads one user may keep (0: no quota).")
    var fileQuotaBytes: Int64 = 1 << 30

    @Option(help: "Uploads one user may start per minute (also the burst).")
    var uploadsPerMin = 10

    @Option(help: "New rooms one user may create per minute (also the burst).")
    var roomCreationPerMin: Double = 10

    @Option(help: "Joins that make the user a member, and leaves, one user may make per minute (also the burst).")
    var membershipChangesPerMin: Double = 60

    @Option(help: "Days a session token may go unused before resume refuses it (and it is dropped).")
    var tokenIdleDays = 90

    @Option(help: "Seconds after sending during which its author may edit a message (default: no limit).")
    var editWindow: Double?

    @Option(
        help: """
            Failed logins per user name (4× that per source address) before each further attempt \
            must wait 1 s, doubling per failure up to 15 min; early attempts get rate_limited.
            """
    )
    var loginFreeAttempts = 5

    @Option(
        help:
            "Live session tokens one user may have; a login beyond it revokes the oldest (its sessions end with 4002)."
    )
    var maxTokensPerUser = 100

    @Option(
        help: """
            scrypt cost N for new password hashes (a power of two, 1024…262144; r=8, p=1). Each hash \
            takes N KiB of memory while it runs; stored hashes keep the cost they were made with.
            """
    )
    var scryptN = PasswordHasher.defaultRounds

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: String = "info"

    @Option(
        help: """
            Log line format: text (swift-log's lines), json (one JSON object per line: time, level, \
            label, message and every metadata key), or auto: text when stderr is a terminal, json otherwise.
            """
    )
    var logFormat: String = "auto"

    @Option(
        help: """
            Export traces (a span per request) and metrics over OTLP/HTTP to this collector, e.g. \
            http://127.0.0.1:4318 (paths /v1/traces and /v1/metrics are added). Off by default; the \
            standard OTEL_EXPORTER_OTLP_* variables also turn it on and override it \
            (OTEL_EXPORTER_OTLP_PROTOCOL=http/json for JSON).
            """
    )
    var otlpEndpoint: String?

    func validate() throws {
        guard (0...65535).contains(port) else { throw ValidationError("--port must be 0…65535") }
        guard (0...1024).contains(eventLoops) else { throw ValidationError("--event-loops must be 0…1024") }
        guard ratePerSec > 0 else { throw ValidationError("--rate-per-sec must be positive") }
        guard rateBurst >= 1 else { throw ValidationError("--rate-burst must be at least 1") }
        guard readRatePerSec > 0 else { throw ValidationError("--read-rate-per-sec must be positive") }
        guard readRateBurst >= 1 else { throw ValidationError("--read-rate-burst must be at least 1") }
        guard membershipChangesPerMin > 0 else {
            throw ValidationError("--membership-changes-per-min must be positive")
        }
        guard tokenIdleDays >= 1 else { throw ValidationError("--token-idle-days must be at least 1") }
        if let editWindow, !(editWindow > 0 && editWindow <= 10 * 365 * 86400) {
            throw ValidationError("--edit-window must be between 0 and 315360000 seconds (exclusive of 0)")
        }
        guard maxText >= 1 else { throw ValidationError("--max-text must be at least 1") }
        guard historyLimit >= 1 else { throw ValidationError("--history-limit must be at least 1") }
        guard maxFrame >= 1024 else { throw ValidationError("--max-frame must be at least 1024") }
        guard maxConnections >= 1 else { throw ValidationError("--max-connections must be at least 1") }
        guard maxConnectionsPerAddress >= 1 else {
            throw ValidationError("--max-connections-per-address must be at least 1")
        }
        guard httpIdleTimeout > 0, httpIdleTimeout <= 3600 else {
            throw ValidationError("--http-idle-timeout must be between 0 and 3600 seconds")
        }
        for range in trustedProxy where CIDR(range) == nil {
            throw ValidationError("--trusted-proxy '\(range)' is not an address or CIDR range (10.0.0.0/8, fd00::/8)")
        }
        for origin in allowedOrigin where !origin.contains("://") || origin.contains(where: \.isWhitespace) {
            throw ValidationError("--allowed-origin '\(origin)' is not an origin (scheme://host[:port])")
        }
        if let metricsListen, ServerConfiguration.ListenAddress(metricsListen) == nil {
            throw ValidationError("--metrics-listen must be HOST:PORT or [IPv6]:PORT")
        }
        guard maxQueueMib >= 1 else { throw ValidationError("--max-queue-mib must be at least 1") }
        guard maxTotalQueueMib >= maxQueueMib else {
            throw ValidationError("--max-total-queue-mib must be at least --max-queue-mib")
        }
        guard maxFileBytes >= 0, fileQuotaBytes >= 0 else {
            throw ValidationError("--max-file-bytes and --file-quota-bytes must not be negative")
        }
        guard uploadsPerMin >= 1 else { throw ValidationError("--uploads-per-min must be at least 1") }
        guard maxRoomsPerUser >= 1 else { throw ValidationError("--max-rooms-per-user must be at least 1") }
        guard roomCreationPerMin > 0 else { throw ValidationError("--room-creation-per-min must be positive") }
        guard loginFreeAttempts >= 1 else { throw ValidationError("--login-free-attempts must be at least 1") }
        guard maxTokensPerUser >= 1 else { throw ValidationError("--max-tokens-per-user must be at least 1") }
        guard scryptN.nonzeroBitCount == 1, (1024...262_144).contains(scryptN) else {
            throw ValidationError("--scrypt-n must be a power of two from 1024 to 262144")
        }
        guard FsyncPolicy(rawValue: fsync) != nil else {
            throw ValidationError("--fsync must be always, everysec or no")
        }
        if let url = postgresURL {
            do {
                _ = try PostgresSettings(url: url)
            } catch {
                throw ValidationError(error.description)
            }
            if retainDays != nil {
                throw ValidationError("--retain-days does not work with --postgres yet")
            }
            if repair { throw ValidationError("--repair is for a data directory's files, not --postgres") }
            if standby && cluster {
                throw ValidationError("--standby and --cluster do not go together: every --cluster node serves")
            }
        } else if standby {
            throw ValidationError("--standby works with --postgres only")
        } else if cluster {
            throw ValidationError("--cluster works with --postgres only")
        }
        guard snapshotLogMib >= 1 else { throw ValidationError("--snapshot-log-mib must be at least 1") }
        guard snapshotInterval >= 1 else { throw ValidationError("--snapshot-interval must be at least 1") }
        guard (0...(1 << 20)).contains(cacheMib) else { throw ValidationError("--cache-mib must be 0 to 1048576") }
        if let retainDays, !(retainDays > 0 && retainDays <= 365_000) {
            throw ValidationError("--retain-days must be more than 0 and at most 365000")
        }
        if let hotMessages, !(0...100_000_000).contains(hotMessages) {
            throw ValidationError("--hot-messages must be 0 to 100000000")
        }
        guard registration.map({ ServerConfiguration.Registration(rawValue: $0) != nil }) ?? true else {
            throw ValidationError("--registration must be open, invite or closed")
        }
        guard (tlsCert == nil) == (tlsKey == nil) else {
            throw ValidationError("--tls-cert and --tls-key go together")
        }
        guard handshakeTimeout > 0, handshakeTimeout <= 3600 else {
            throw ValidationError("--handshake-timeout must be between 0 and 3600 seconds")
        }
        guard pingInterval >= 1, pingInterval <= 3600 else {
            throw ValidationError("--ping-interval must be between 1 and 3600 seconds")
        }
        guard ["auto", "text", "json"].contains(logFormat) else {
            throw ValidationError("--log-format must be auto, text or json")
        }
        if let otlpEndpoint, !(otlpEndpoint.hasPrefix("http://") || otlpEndpoint.hasPrefix("https://")) {
            throw ValidationError("--otlp-endpoint must be an http:// or https:// URL (OTLP over HTTP)")
        }
        guard Logger.Level(rawValue: logLevel) != nil else {
            throw ValidationError("--log-level must be one of trace, debug, info, notice, warning, error, critical")
        }
    }

    func run() async throws {
        // First, before anything uses NIO: CHAT_SERVER_SWIFT_POOL=1 keeps Swift's own thread pool
        // for tasks (to compare against; ARCHITECTURE.md, "Threads").
        let threads = ServerThreads.configure(
            eventLoops: eventLoops,
            concurrencyOnEventLoops: ProcessInfo.processInfo.environment["CHAT_SERVER_SWIFT_POOL"] != "1"
        )
        let level = Logger.Level(rawValue: logLevel) ?? .info
        let json = logFormat == "json" || (logFormat == "auto" && isatty(2) == 0)
        LoggingSystem.bootstrap { label in
            if json {
                var handler = JSONLogHandler(label: label)
                handler.logLevel = level
                return handler
            }
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        var configuration = ServerConfiguration(
            host: host,
            port: port,
            dataDirectory: dataDir,
            limits: Limits(
                maxFrame: maxFrame,
                maxText: maxText,
                historyLimit: historyLimit,
                ratePerSec: ratePerSec,
                rateBurst: rateBurst,
                readPerSec: readRatePerSec,
                readBurst: readRateBurst
            )
        )
        configuration.registration =
            registration.flatMap(ServerConfiguration.Registration.init(rawValue:))
            ?? (ServerConfiguration.isLoopback(host) ? .open : .invite)
        configuration.maxConnections = maxConnections
        configuration.maxConnectionsPerAddress = maxConnectionsPerAddress
        configuration.httpIdleTimeout = .milliseconds(Int64(httpIdleTimeout * 1000))
        configuration.trustedProxies = trustedProxy.compactMap(CIDR.init)
        configuration.allowedOrigins = allowedOrigin
        configuration.metricsListen = metricsListen.flatMap(ServerConfiguration.ListenAddress.init)
        configuration.maxRoomsPerUser = maxRoomsPerUser
        configuration.limits.maxFileBytes = maxFileBytes
        configuration.limits.fileQuotaBytes = fileQuotaBytes
        configuration.limits.uploadsPerMinute = uploadsPerMin
        configuration.outboundQueueBytes = maxQueueMib << 20
        configuration.outboundTotalBytes = maxTotalQueueMib << 20
        configuration.roomCreationPerMinute = roomCreationPerMin
        configuration.membershipChangesPerMinute = membershipChangesPerMin
        configuration.tokenIdleDays = tokenIdleDays
        configuration.editWindow = editWindow
        configuration.loginFreeAttempts = loginFreeAttempts
        configuration.maxTokensPerUser = maxTokensPerUser
        configuration.passwordRounds = scryptN
        configuration.tls = tlsCert.flatMap { cert in
            tlsKey.map { ServerConfiguration.TLSFiles(certificateChain: cert, privateKey: $0) }
        }
        configuration.handshakeTimeout = .milliseconds(Int64(handshakeTimeout * 1000))
        configuration.pingInterval = .milliseconds(Int64(pingInterval * 1000))
        configuration.adminSocket = noAdminSocket ? nil : AdminSocket.path(in: dataDir)
        configuration.storage = StorageConfiguration(
            directory: dataDir,
            fsync: FsyncPolicy(rawValue: fsync) ?? .everysec,
            snapshotAfterBytes: snapshotLogMib << 20,
            snapshotInterval: .seconds(snapshotInterval),
            repair: repair,
            hotWindow: hotMessages.map { HotWindow.messages($0) }
                ?? .budget(bytes: cacheMib << 20, minimum: HotWindow.defaultMinimum),
            retention: retainDays.map { .milliseconds(Int64(($0 * 86_400_000).rounded())) }
        )
        configuration.postgres = try postgresURL.map { try PostgresSettings(url: $0) }
        configuration.standby = standby
        configuration.cluster = cluster
        var logger = Logger(label: "chat-server")
        logger.logLevel = level
        logger.info(
            "threads",
            metadata: [
                "chat.event_loops": "\(threads.eventLoops)",
                "chat.tasks_on_event_loops": "\(threads.concurrencyOnEventLoops)",
            ]
        )
        let registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.durationHistogramBuckets["chat_fsync_seconds"] = [
            .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2),
            .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
            .milliseconds(250), .seconds(1),
        ]
        factory.durationHistogramBuckets["chat_postgres_commit_seconds"] = [
            .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5),
            .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250),
            .seconds(1), .seconds(5),
        ]
        factory.durationHistogramBuckets["chat_snapshot_seconds"] = [
            .milliseconds(10), .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500),
            .seconds(1), .seconds(2), .seconds(5), .seconds(10), .seconds(30),
        ]
        var services: [any Service] = []
        if let otel = try otelConfiguration(logger: logger) {
            let (tracer, tracing) = try OTel.makeTracingBackend(configuration: otel)
            InstrumentationSystem.bootstrap(tracer)
            let (otelMetrics, exporting) = try OTel.makeMetricsBackend(configuration: otel)
            MetricsSystem.bootstrap(MultiplexMetricsHandler(factories: [factory, otelMetrics]))
            services = [tracing, exporting]
            configuration.tracing = true
            logger.info(
                "exporting traces and metrics over OTLP",
                metadata: ["chat.otlp": "\(otel.traces.otlpExporter.endpoint)"]
            )
        } else {
            MetricsSystem.bootstrap(factory)
        }
        do {
            try await ChatServerRunner.run(configuration, logger: logger, metrics: registry, services: services)
        } catch let error as StorageError {
            logger.critical("cannot start: \(error)")
            throw ExitCode(2)
        } catch let error as TLSSetupError {
            logger.critical("cannot start: \(error)")
            throw ExitCode(2)
        } catch  where configuration.postgres != nil && !(error is ExitCode) {
            logger.critical("cannot start: \(PostgresStoreError.describe(error))")
            throw ExitCode(2)
        }
    }
}

extension ServeCommand {
    /// The OTLP configuration when traces are wanted (`--otlp-endpoint`, or an
    /// `OTEL_EXPORTER_OTLP_ENDPOINT`/`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` in the environment,
    /// unless `OTEL_SDK_DISABLED=true`); nil otherwise. OTel logs stay off: logs go to stderr.
    ///
    /// - Parameters:
    ///   - logger: where swift-otel reports its own problems (an unreachable collector).
    func otelConfiguration(logger: Logger) throws -> OTel.Configuration? {
        let environment = ProcessInfo.processInfo.environment
        if environment["OTEL_SDK_DISABLED"]?.lowercased() == "true" { return nil }
        let fromEnvironment = ["OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"].contains {
            !(environment[$0] ?? "").isEmpty
        }
        guard otlpEndpoint != nil || fromEnvironment else { return nil }
        var otel = OTel.Configuration.default
        otel.serviceName = "chat-server"
        otel.logs.enabled = false
        otel.diagnosticLogger = .custom(logger)
        otel.diagnosticLogLevel = .warning
        if let otlpEndpoint {
            let base = otlpEndpoint.hasSuffix("/") ? String(otlpEndpoint.dropLast()) : otlpEndpoint
            otel.traces.otlpExporter.endpoint = base + "/v1/traces"
            otel.metrics.otlpExporter.endpoint = base + "/v1/metrics"
        }
        return otel
    }
}

struct BackupCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backup",
        abstract: "Write a consistent backup of a data directory (safe while the server runs)."
    )

    @Option(help: "The data directory to back up.")
    var dataDir = "./chat-data"

    @Option(help: "The backup file to write.")
    var out: String

    func run() throws {
        do {
            let summary = try Backup.create(dataDirectory: dataDir, output: out)
            print("backup written to \(out): \(summary)")
        } catch let error as StorageError {
            throw CLIError("backup failed: \(error)")
        }
    }
}

struct RestoreCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "restore",
        abstract: "Restore a backup into a data directory (the server must be stopped).",
        discussion: "Every room gets a new epoch on the next start, so clients drop their copies and reload."
    )

    @Option(help: "The backup file.")
    var from: String

    @Option(help: "The data directory to restore into.")
    var dataDir = "./chat-data"

    @Flag(help: "Replace the state already in the data directory.")
    var force = false

    func run() throws {
        do {
            let summary = try Backup.restore(from: from, dataDirectory: dataDir, force: force)
            print("restored into \(dataDir): \(summary)")
        } catch let error as StorageError {
            throw CLIError("restore failed: \(error)")
        }
    }
}

/// A runtime failure: printed as "Error: …" without the usage text.
struct CLIError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

struct ReindexCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reindex",
        abstract: "Rebuild the search index of a data directory from its message log (the server must be stopped).",
        discussion: """
            The index lives in DATA-DIR/search and is derived data: deleting it and starting the server \
            rebuilds it in the background too; this command does it up front and reports the figures.
            """
    )

    @Option(help: "The data directory.")
    var dataDir = "./chat-data"

    func run() async throws {
        var logger = Logger(label: "chat-server")
        logger.logLevel = .warning
        do {
            var last = 0
            let summary = try await SearchReindex.run(dataDirectory: dataDir, logger: logger) { done in
                if done - last >= 100_000 {
                    last = done
                    print("… \(done) messages indexed")
                }
            }
            print("reindexed \(dataDir): \(summary)")
        } catch let error as StorageError {
            throw CLIError("reindex failed: \(error)")
        }
    }
}
