import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import Prometheus

/// `/metrics`: on its own listener (`--metrics-listen`), or on the chat port for loopback
/// clients only.
enum MetricsServer {
    /// The scrape answer: the registry in the Prometheus text format.
    ///
    /// - Parameters:
    ///   - registry: the metrics.
    static func response(_ registry: PrometheusCollectorRegistry) -> Response {
        var text: [UInt8] = []
        registry.emit(into: &text)
        return Response(
            status: .ok,
            headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(bytes: text))
        )
    }

    /// Whether the chat port may answer `/metrics` to a request: only when its client — behind a
    /// trusted proxy, the one the proxy names — is on loopback.
    ///
    /// - Parameters:
    ///   - peer: the TCP peer's address.
    ///   - forwardedFor: the request's `X-Forwarded-For` field values.
    ///   - resolver: finds the client behind trusted proxies.
    static func mayScrapeOnChatPort(peer: String, forwardedFor: [String], resolver: ClientAddressResolver) -> Bool {
        guard case .client(let client) = resolver.resolve(peer: peer, forwardedFor: forwardedFor) else { return false }
        return IPAddress(client)?.isLoopback ?? false
    }

    /// A listener that serves `/metrics` and nothing else.
    ///
    /// - Parameters:
    ///   - registry: the metrics.
    ///   - address: where to listen.
    ///   - idleTimeout: idle time after which a keep-alive connection is closed.
    ///   - logger: logger.
    ///   - onRunning: called with the listening channel (tests read the port from it).
    static func application(
        _ registry: PrometheusCollectorRegistry,
        address: ServerConfiguration.ListenAddress,
        idleTimeout: Duration,
        logger: Logger,
        onRunning: @escaping @Sendable (any Channel) async -> Void
    ) -> some ApplicationProtocol {
        let router = Router()
        router.get("/metrics") { _, _ -> Response in response(registry) }
        return Application(
            router: router,
            server: .http1(configuration: .init(idleTimeout: .nanoseconds(idleTimeout.nanoseconds))),
            configuration: .init(
                address: .hostname(address.host, port: address.port),
                serverName: "chat-server-metrics",
                reuseAddress: true
            ),
            onServerRunning: onRunning,
            logger: logger
        )
    }
}
