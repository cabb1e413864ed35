import Foundation
import Hummingbird
import Logging
import NIOCore
import Prometheus
import ServiceLifecycle
import Synchronization
import UnixSignals

/// Runs the server until SIGINT/SIGTERM: the first signal shuts the service group down
/// gracefully — every client is closed with 1001, a snapshot is written, exit 0; a second
/// signal exits at once.
package enum ChatServerRunner {
    /// Runs the server.
    ///
    /// - Parameters:
    ///   - configuration: server configuration.
    ///   - logger: the server's logger.
    ///   - metrics: the registry to serve on `/metrics`.
    ///   - services: more services to run (OTLP exporters): started first, stopped last, so
    ///     the last spans of a shutdown are still exported.
    package static func run(
        _ configuration: ServerConfiguration,
        logger: Logger,
        metrics: PrometheusCollectorRegistry? = nil,
        services: [any Service] = []
    ) async throws {
        // Set once the application is built, read when the listener is up (the first-start hint).
        let builtHub = BuiltHub()
        let server = try await buildApplication(
            configuration,
            logger: logger,
            metrics: metrics,
            onServerRunning: { channel in
                logger.info(
                    "chat-server listening",
                    metadata: [
                        "chat.address": "\(channel.localAddress?.description ?? "?")",
                        "chat.registration": "\(configuration.registration.rawValue)",
                        "chat.tls": "\(configuration.tls != nil)",
                        "chat.trusted_proxies":
                            "\(configuration.trustedProxies.map(\.description).joined(separator: ","))",
                    ]
                )
                guard let hub = builtHub.hub.withLock({ $0 }) else { return }
                let address = channel.localAddress
                Task {
                    guard await hub.userCount == 0 else { return }
                    logger.notice("\(firstStartHint(configuration, address: address))")
                }
            },
            onMetricsRunning: { channel in
                logger.info(
                    "metrics listening",
                    metadata: ["chat.address": "\(channel.localAddress?.description ?? "?")"]
                )
            }
        )
        builtHub.hub.withLock { $0 = server.hub }
        // SIGTERM/SIGINT shut the group down gracefully, in reverse order: the hub first (it
        // closes every client with 1001 and asks for a last snapshot), then the application
        // (the HTTP server, then the indexer, the broker and the store, which writes it).
        let group = ServiceGroup(
            configuration: .init(
                services: services + [server.application, server.hub],
                gracefulShutdownSignals: [.sigterm, .sigint],
                cancellationSignals: [],
                logger: logger
            )
        )
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            // The group ignores a second signal while it shuts down; an operator who sends one
            // means "now".
            tasks.addTask {
                var signals = 0
                for await signal in await UnixSignalsSequence(trapping: .sigterm, .sigint) {
                    signals += 1
                    if signals == 1 {
                        logger.info("shutting down", metadata: ["chat.signal": "\(signal)"])
                    } else {
                        logger.warning("second signal: exiting now", metadata: ["chat.signal": "\(signal)"])
                        exit(130)
                    }
                }
            }
            try await tasks.next()
            tasks.cancelAll()
        }
        logger.info("chat-server stopped")
    }

    /// What an operator does next on a server without accounts, in one line: how the first
    /// account comes to be under the registration policy.
    ///
    /// - Parameters:
    ///   - configuration: the server's configuration.
    ///   - address: the listening address.
    package static func firstStartHint(_ configuration: ServerConfiguration, address: SocketAddress?) -> String {
        let scheme = configuration.tls == nil ? "ws" : "wss"
        let port = address?.port.map { ":\($0)" } ?? ""
        // Listening everywhere: the clients use this machine's name; otherwise the address given.
        let host =
            ServerConfiguration.isLoopback(configuration.host)
            ? "127.0.0.1"
            : ["0.0.0.0", "::", ""].contains(configuration.host)
                ? ProcessInfo.processInfo.hostName
                : configuration.host.contains(":") ? "[\(configuration.host)]" : configuration.host
        let url = "\(scheme)://\(host)\(port)"
        let dataDir = configuration.dataDirectory
        switch configuration.registration {
        case .open:
            return "first start: no accounts yet; sign-up is open to anyone who reaches \(url): "
                + "chat --server \(url) --user NAME --register"
        case .invite:
            return "first start: no accounts yet; sign-up is by invite. Create the first invite code with "
                + "'chat-server invite create --data-dir \(dataDir)', then 'chat login --server \(url) "
                + "--user NAME --register --invite CODE'"
        case .closed:
            return "first start: no accounts yet; sign-up is closed. Add the first account with "
                + "'chat-server user add NAME --data-dir \(dataDir)'"
        }
    }
}

/// The hub, once built: the listener's callback is made before it exists.
private final class BuiltHub: Sendable {
    let hub = Mutex<RoomHub?>(nil)
}
