import ChatConformance
import ChatCore
import ChatServer
import Logging
import Metrics
import Prometheus
import ServiceLifecycle
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `/metrics` in Prometheus text format.
@Suite("Metrics")
struct MetricsTests {
    /// The process-wide registry (MetricsSystem can be bootstrapped once per process).
    static let registry: PrometheusCollectorRegistry = {
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        return registry
    }()

    @Test("/metrics reports connections, messages, deliveries, rejections and storage figures")
    func metricsEndpoint() async throws {
        let registry = Self.registry
        let dataDir = NSTemporaryDirectoryPath() + "/chat-metrics-\(Int.random(in: 0..<1_000_000_000))"
        var configuration = TestServer.conformanceConfiguration
        configuration.storage = StorageConfiguration(directory: dataDir, fsync: .always)
        try await TestServer.with(configuration, metrics: registry) { server in
            let ctx = server.context
            let alice = try await ctx.newUser("alice")
            let bob = try await ctx.newUser("bob")
            let room = ctx.unique("metrics")
            try await ctx.join(alice.client, room)
            try await ctx.join(bob.client, room)
            try await ctx.sendMany(alice.client, room, count: 3)
            try expectError(try await alice.client.request("join", ["room": "bad name"]), "bad_request", "bad join")
            let (status, body) = try await httpGet(url: server.url, path: "/metrics")
            #expect(status == 200)
            for name in [
                "chat_connections", "chat_messages_in_total", "chat_messages_out_total", "chat_fanout_deliveries_total",
                "chat_requests_rejected_total{code=\"bad_request\"}", "chat_fsync_seconds_bucket", "chat_log_bytes",
            ] {
                #expect(body.contains(name), "/metrics lists \(name)")
            }
            let messagesIn = body.split(separator: "\n").first { $0.hasPrefix("chat_messages_in_total ") }
            #expect((messagesIn?.split(separator: " ").last.flatMap { Double($0) } ?? 0) >= 3)
        }
    }
}

private func NSTemporaryDirectoryPath() -> String {
    (ProcessInfoEnvironment.tmp ?? "/tmp")
}

private enum ProcessInfoEnvironment {
    static var tmp: String? { getenv("TMPDIR").map { String(cString: $0) } }
}
