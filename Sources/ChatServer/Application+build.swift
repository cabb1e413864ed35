import ChatCore
import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import Prometheus
import ServiceLifecycle

/// A built server: the Hummingbird application and the hub it serves.
package struct ChatServerApp: Sendable {
    /// The application; run it with `runService()` or inside a `ServiceGroup`.
    package var application: any ApplicationProtocol
    /// The hub, for shutdown and inspection.
    package var hub: RoomHub
}

/// Builds the server: recovers state from the store, then wires the HTTP routes
/// (`/healthz`) and the WebSocket endpoint (`/v1/ws`).
///
/// - Parameters:
///   - configuration: server configuration.
///   - logger: the server's logger.
///   - store: where state changes are kept.
///   - broker: pub/sub fan-out.
///   - metrics: the registry `/metrics` serves (nil: no `/metrics` route).
///   - onServerRunning: called with the listening channel (tests read the port from it).
///   - onMetricsRunning: called with the `--metrics-listen` channel, when there is one.
package func buildApplication(
    _ configuration: ServerConfiguration,
    logger: Logger,
    store: (any ChatStore)? = nil,
    broker: any MessageBroker = InMemoryBroker(),
    metrics: PrometheusCollectorRegistry? = nil,
    onServerRunning: @escaping @Sendable (any Channel) async -> Void = { _ in },
    onMetricsRunning: @escaping @Sendable (any Channel) async -> Void = { _ in }
) async throws -> ChatServerApp {
    let fileStore = configuration.storage.map { FileStore(root: $0.directory + "/files") } ?? FileStore.temporary()
    let store: any ChatStore =
        store
        ?? configuration.postgres.map {
            PostgresChatStore(
                settings: $0,
                files: fileStore,
                dataDirectory: configuration.storage?.directory,
                standby: configuration.standby,
                cluster: configuration.cluster,
                logger: logger
            )
        }
        ?? configuration.storage.map { FileChatStore(configuration: $0, logger: logger) } ?? MemoryChatStore()
    let state = try await store.recover()
    let observer = RequestObserver.ifNeeded(logger: logger, tracing: configuration.tracing)
    let hub = RoomHub(
        configuration: configuration,
        state: state,
        store: store,
        broker: broker,
        logger: logger,
        observer: observer
    )
    if configuration.cluster, let clusterStore = store as? PostgresChatStore { clusterStore.attach(hub) }
    ServerMetrics.setConnectionLimit(configuration.maxConnections)
    let hasher = PasswordHasher(rounds: configuration.passwordRounds)
    // The search index is derived from the log: missing files are rebuilt by the indexer.
    let searchIndex = try SearchIndex.open(
        directory: configuration.storage.map { SearchReindex.directory(dataDirectory: $0.directory) },
        logger: logger
    )
    // Without a data directory (tests) nothing is indexed until the first search.
    let indexer = SearchIndexer(
        hub: hub,
        index: searchIndex,
        logger: logger,
        waitForFirstSearch: configuration.storage == nil,
        tracing: configuration.tracing
    )
    let handler = ConnectionHandler(
        hub: hub,
        configuration: configuration,
        hasher: hasher,
        dummyHash: try hasher.hash(PasswordHasher.newToken()),
        logger: logger,
        search: SearchEngine(hub: hub, index: searchIndex, logger: logger, indexer: indexer),
        budget: OutboundBudget(
            perConnection: configuration.outboundQueueBytes,
            total: configuration.outboundTotalBytes
        ),
        observer: observer
    )

    let router = Router(context: ChatRequestContext.self)
    router.get("/healthz") { _, _ -> Response in
        // 503 once storage failed: the server then refuses every change.
        let healthy = await hub.isHealthy
        return Response(
            status: healthy ? .ok : .serviceUnavailable,
            body: .init(byteBuffer: ByteBuffer(string: healthy ? "ok\n" : "storage failed\n"))
        )
    }
    try fileStore.prepare()
    FileRoutes(hub: hub, store: fileStore, limits: configuration.limits, logger: logger).register(on: router)
    let resolver = ClientAddressResolver(trustedProxies: configuration.trustedProxies)
    if let metrics, configuration.metricsListen == nil {
        // Only for clients on this machine (behind a trusted proxy: the client it names).
        let forwardedFor = HTTPField.Name("X-Forwarded-For")!
        router.get("/metrics") { request, context -> Response in
            let peer = context.channel.remoteAddress?.ipAddress ?? "unknown"
            let forwarded = request.headers[values: forwardedFor]
            guard MetricsServer.mayScrapeOnChatPort(peer: peer, forwardedFor: forwarded, resolver: resolver) else {
                return Response(status: .notFound)
            }
            return MetricsServer.response(metrics)
        }
    }

    let tls = try configuration.tls.map(makeServerTLSConfiguration)
    if let files = configuration.tls, let leaf = try? NIOSSLCertificate.fromPEMFile(files.certificateChain).first,
        let der = try? leaf.toDERBytes()
    {
        let fingerprint = "SHA256:" + SHA256.hash(data: der).map { String(format: "%02x", $0) }.joined()
        logger.info("serving wss://", metadata: ["chat.tls.fingerprint": "\(fingerprint)"])
    }
    let deadline = TimeAmount.nanoseconds(configuration.handshakeTimeout.nanoseconds)
    // Every connection gets the handshake deadline (behind TLS when TLS is on); an upgraded
    // one is run by a ChatSocketHandler in its pipeline (see ChatUpgradeChannel).
    // Every accepted connection takes its place under the connection limits first (before TLS).
    let gate = ConnectionGate(
        maxTotal: configuration.maxConnections,
        maxPerAddress: configuration.maxConnectionsPerAddress,
        resolver: resolver
    )
    let policy = UpgradePolicy(resolver: resolver, allowedOrigins: configuration.allowedOrigins)
    let server = HTTPServerBuilder { responder -> any ServerChildChannel in
        let base = ChatUpgradeChannel(
            responder: responder,
            path: "/v1/ws",
            connections: handler,
            idleTimeout: configuration.httpIdleTimeout,
            policy: policy
        )
        let guarded = HandshakeDeadlineChannel(base: base, deadline: deadline)
        if let tls { return ConnectionLimitChannel(base: try TLSChannel(guarded, tlsConfiguration: tls), gate: gate) }
        return ConnectionLimitChannel(base: guarded, gate: gate)
    }
    var services: [any Service] = [
        store, broker, indexer,
        FileSweeper(
            hub: hub,
            store: fileStore,
            logger: logger,
            interval: .seconds(60),
            temporary: configuration.storage == nil
        ),
    ]
    if let metrics, let address = configuration.metricsListen {
        services.append(
            MetricsServer.application(
                metrics,
                address: address,
                idleTimeout: configuration.httpIdleTimeout,
                logger: logger,
                onRunning: onMetricsRunning
            )
        )
    }
    if let path = configuration.adminSocket {
        // sun_path holds 108 bytes: a deeper data directory gets no admin socket rather than no server.
        if path.utf8.count < 104 {
            services.append(AdminSocket.application(path: path, hub: hub, logger: logger))
        } else {
            logger.warning(
                "data directory path too long for the admin socket; user/invite/token need the server stopped",
                metadata: ["chat.path": "\(path)"]
            )
        }
    }
    let app = Application(
        router: router,
        server: server,
        configuration: .init(
            address: .hostname(configuration.host, port: configuration.port),
            serverName: configuration.serverName,
            reuseAddress: true
        ),
        services: services,
        onServerRunning: onServerRunning,
        logger: logger
    )
    return ChatServerApp(application: app, hub: hub)
}

/// Why the server's TLS files cannot be used.
package struct TLSSetupError: Error, CustomStringConvertible {
    package let description: String
}

/// Reads the certificate chain and private key (PEM) for `wss://`.
///
/// - Parameters:
///   - files: the PEM files.
/// - Returns: a server configuration (TLS 1.2 or newer).
package func makeServerTLSConfiguration(_ files: ServerConfiguration.TLSFiles) throws -> TLSConfiguration {
    let chain: [NIOSSLCertificate]
    do {
        chain = try NIOSSLCertificate.fromPEMFile(files.certificateChain)
    } catch {
        throw TLSSetupError(description: "cannot read the certificate file \(files.certificateChain): \(error)")
    }
    guard !chain.isEmpty else {
        throw TLSSetupError(description: "no PEM certificate in \(files.certificateChain)")
    }
    let key: NIOSSLPrivateKey
    do {
        key = try NIOSSLPrivateKey(file: files.privateKey, format: .pem)
    } catch {
        throw TLSSetupError(description: "cannot read the private key file \(files.privateKey): \(error)")
    }
    var tls = TLSConfiguration.makeServerConfiguration(
        certificateChain: chain.map { .certificate($0) },
        privateKey: .privateKey(key)
    )
    tls.minimumTLSVersion = .tlsv12
    do {
        _ = try NIOSSLContext(configuration: tls)
    } catch {
        throw TLSSetupError(
            description:
                "the certificate \(files.certificateChain) and key \(files.privateKey) cannot be used together: \(error)"
        )
    }
    return tls
}
