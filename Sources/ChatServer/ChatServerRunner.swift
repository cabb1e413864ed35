import Foundation
import Hummingbird
import Logging
import Prometheus
import ServiceLifecycle
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
    package static func run(
        _ configuration: ServerConfiguration,
        logger: Logger,
        metrics: PrometheusCollectorRegistry? = nil
    ) async throws {
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
            },
            onMetricsRunning: { channel in
                logger.info(
                    "metrics listening",
                    metadata: ["chat.address": "\(channel.localAddress?.description ?? "?")"]
                )
            }
        )
        // SIGTERM/SIGINT shut the group down gracefully, in reverse order: the hub first (it
        // closes every client with 1001 and asks for a last snapshot), then the application
        // (the HTTP server, then the indexer, the broker and the store, which writes it).
        let group = ServiceGroup(
            configuration: .init(
                services: [server.application, server.hub],
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
}
