import ChatCore
import Hummingbird
import HummingbirdWebSocket
import Logging
import NIOCore
import NIOPosix
import Prometheus

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
        search: SearchEngine(hub: hub, index: searchIndex, logger: logger, indexer: indexer)
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

    let wsRouter = Router(context: ChatRequestContext.self)
    wsRouter.ws("/v1/ws") { inbound, outbound, context in
        try await handler.run(inbound: inbound, outbound: outbound, channel: context.requestContext.channel)
    }

    let wsConfiguration = WebSocketServerConfiguration(
        maxFrameSize: configuration.limits.maxFrame,
        autoPing: .enabled(timePeriod: configuration.pingInterval),
        closeTimeout: configuration.closeTimeout,
        validateUTF8: true
    )
    let app = Application(
        router: router,
        server: .http1WebSocketUpgrade(webSocketRouter: wsRouter, configuration: .init(ws: wsConfiguration)),
        configuration: .init(
            address: .hostname(configuration.host, port: configuration.port),
            serverName: configuration.serverName,
            reuseAddress: true
        ),
        services: [store, broker, indexer],
        onServerRunning: onServerRunning,
        logger: logger
    )
    return ChatServerApp(application: app, hub: hub)
}
