import ChatCore
import Crypto
import Foundation
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
package func buildApplication(
    _ configuration: ServerConfiguration,
    logger: Logger,
    store: (any ChatStore)? = nil,
    broker: any MessageBroker = InMemoryBroker(),
    metrics: PrometheusCollectorRegistry? = nil,
    onServerRunning: @escaping @Sendable (any Channel) async -> Void = { _ in }
) async throws -> ChatServerApp {
    let store: any ChatStore =
        store ?? configuration.storage.map { FileChatStore(configuration: $0, logger: logger) } ?? MemoryChatStore()
    let state = try await store.recover()
    let hub = RoomHub(configuration: configuration, state: state, store: store, broker: broker, logger: logger)
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
        waitForFirstSearch: configuration.storage == nil
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
        )
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
    if let metrics {
        router.get("/metrics") { _, _ -> Response in
            var text: [UInt8] = []
            metrics.emit(into: &text)
            return Response(
                status: .ok,
                headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(bytes: text))
            )
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
    let server = HTTPServerBuilder { responder -> any ServerChildChannel in
        let base = ChatUpgradeChannel(
            responder: responder,
            path: "/v1/ws",
            connections: handler,
            idleTimeout: .seconds(60)
        )
        let guarded = HandshakeDeadlineChannel(base: base, deadline: deadline)
        if let tls { return try TLSChannel(guarded, tlsConfiguration: tls) }
        return guarded
    }
    var services: [any Service] = [store, broker, indexer]
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
