import Foundation
import Hummingbird
import Logging
import Prometheus
import ServiceLifecycle
import UnixSignals

/// Runs the server until SIGINT/SIGTERM: the first signal closes every client with
/// 1001, then stops the server gracefully (exit 0); a second signal exits at once.
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
        let server = try await buildApplication(configuration, logger: logger, metrics: metrics) { channel in
            logger.info(
                "chat-server listening",
                metadata: [
                    "chat.address": "\(channel.localAddress?.description ?? "?")",
                    "chat.registration": "\(configuration.registration.rawValue)",
                    "chat.tls": "\(configuration.tls != nil)",
                ]
            )
        }
        let group = ServiceGroup(
            configuration: .init(
                services: [server.application],
                gracefulShutdownSignals: [],
                cancellationSignals: [],
                logger: logger
            )
        )
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            tasks.addTask {
                var signals = 0
                for await signal in await UnixSignalsSequence(trapping: .sigterm, .sigint) {
                    signals += 1
                    if signals > 1 {
                        logger.warning("second signal: exiting now", metadata: ["chat.signal": "\(signal)"])
                        exit(130)
                    }
                    logger.info("shutting down", metadata: ["chat.signal": "\(signal)"])
                    await server.hub.shutdownConnections()
                    await server.hub.requestSnapshot()
                    await group.triggerGracefulShutdown()
                }
            }
            try await tasks.next()
            tasks.cancelAll()
        }
        logger.info("chat-server stopped")
    }
}
