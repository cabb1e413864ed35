import ChatConformance
import ChatCore
import ChatServer
import Logging
import NIOCore
import Prometheus
import ServiceLifecycle

/// An in-process chat-server on 127.0.0.1 with an OS-chosen port.
struct TestServer {
    let port: Int
    let hub: RoomHub
    let configuration: ServerConfiguration

    var url: String { "ws://127.0.0.1:\(port)" }

    /// Limits that let every conformance case run: a burst large enough for the
    /// concurrency cases, a rate small enough to hit, a history limit small
    /// enough to overflow.
    static var conformanceConfiguration: ServerConfiguration {
        var configuration = ServerConfiguration(
            limits: Limits(maxFrame: 65536, maxText: 4000, historyLimit: 100, ratePerSec: 20, rateBurst: 100)
        )
        configuration.passwordRounds = 1024
        return configuration
    }

    /// Runs `body` against a fresh server, then shuts the server down.
    ///
    /// - Parameters:
    ///   - configuration: server configuration (host and port are overridden).
    ///   - body: the test.
    static func with<T: Sendable>(
        _ configuration: ServerConfiguration = conformanceConfiguration,
        metrics: PrometheusCollectorRegistry? = nil,
        store: (any ChatStore)? = nil,
        _ body: (TestServer) async throws -> T
    ) async throws -> T {
        var configuration = configuration
        configuration.host = "127.0.0.1"
        configuration.port = 0
        var logger = Logger(label: "test-server")
        logger.logLevel = .critical
        let (ports, portContinuation) = AsyncStream.makeStream(of: Int.self)
        let app = try await buildApplication(configuration, logger: logger, store: store, metrics: metrics) { channel in
            portContinuation.yield(channel.localAddress?.port ?? 0)
            portContinuation.finish()
        }
        let group = ServiceGroup(
            configuration: .init(
                services: [app.application],
                gracefulShutdownSignals: [],
                cancellationSignals: [],
                logger: logger
            )
        )
        return try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            var iterator = ports.makeAsyncIterator()
            guard let port = await iterator.next(), port > 0 else { throw WireError("server did not start") }
            let server = TestServer(port: port, hub: app.hub, configuration: configuration)
            let result: Result<T, any Error>
            do {
                result = .success(try await body(server))
            } catch {
                result = .failure(error)
            }
            await app.hub.shutdownConnections(timeout: .milliseconds(500))
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
            return try result.get()
        }
    }

    /// A conformance context for this server. Every frame its clients read must decode to
    /// ChatCore's typed values and encode back to the same bytes (`WireCheck`).
    var context: ConformanceContext {
        var context = ConformanceContext(
            url: url,
            limits: configuration.limits,
            features: [
                ServerFeature.privateRooms, ServerFeature.directMessages, ServerFeature.replies, ServerFeature.edits,
                ServerFeature.deletes, ServerFeature.reactions,
            ] + (configuration.limits.maxFileBytes > 0 ? [ServerFeature.files] : [])
        )
        context.checksWireEncoding = true
        return context
    }
}
