import ChatConformance
import ChatCore
import ChatServer
import Foundation
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

    /// The conformance configuration with a fresh data directory (`--fsync always`).
    static func storedConfiguration() -> ServerConfiguration {
        let dataDir = NSTemporaryDirectoryPath() + "/chat-metrics-\(Int.random(in: 0..<1_000_000_000))"
        var configuration = TestServer.conformanceConfiguration
        configuration.storage = StorageConfiguration(directory: dataDir, fsync: .always)
        return configuration
    }

    @Test("/metrics reports connections, messages, deliveries, rejections and storage figures")
    func metricsEndpoint() async throws {
        try await TestServer.with(Self.storedConfiguration(), metrics: Self.registry) { server in
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

extension MetricsTests {
    /// Every `chat_*` name an expression of the shipped dashboard or alert rules uses.
    static func shippedMetricNames() throws -> [String: Set<String>] {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("docs/observability")
        let dashboard = try JSONSerialization.jsonObject(
            with: try Data(contentsOf: root.appendingPathComponent("grafana-dashboard.json"))
        )
        var expressions: [String] = []
        func walk(_ value: Any) {
            if let object = value as? [String: Any] {
                for (key, child) in object {
                    if ["expr", "query", "definition"].contains(key), let text = child as? String {
                        expressions.append(text)
                    } else if let inner = child as? [String: Any], key == "query", let text = inner["query"] as? String
                    {
                        expressions.append(text)
                    }
                    walk(child)
                }
            } else if let array = value as? [Any] {
                array.forEach(walk)
            }
        }
        walk(dashboard)
        let rules = try String(contentsOf: root.appendingPathComponent("alerts.yml"), encoding: .utf8)
        let exprLines = rules.split(separator: "\n").filter { $0.contains("expr:") || $0.hasPrefix("          ") }
        func names(_ texts: [String]) -> Set<String> {
            Set(texts.flatMap { $0.matches(of: /chat_[a-z0-9_]+/).map { String($0.output) } })
        }
        return ["dashboard": names(expressions), "alerts": names(exprLines.map(String.init))]
    }

    @Test("the shipped dashboard and alert rules name only metrics the server exports")
    func dashboardNamesExportedMetrics() async throws {
        let shipped = try Self.shippedMetricNames()
        #expect((shipped["dashboard"]?.count ?? 0) >= 10, "the dashboard's expressions were found")
        #expect((shipped["alerts"]?.count ?? 0) >= 6, "the rules' expressions were found")
        try await TestServer.with(Self.storedConfiguration(), metrics: Self.registry) { server in
            let ctx = server.context
            let alice = try await ctx.newUser("alice")
            let room = ctx.unique("dash")
            try await ctx.join(alice.client, room)
            try await ctx.sendMany(alice.client, room, count: 2)
            let other = try await ctx.helloClient()
            try expectError(
                try await other.request("login", ["user": .string(alice.name), "password": "wrong-password"]),
                "unauthorized",
                "bad password"
            )
            try expectError(
                try await other.request("login", ["user": "nobody_at_all", "password": "wrong-password"]),
                "unauthorized",
                "unknown user"
            )
            _ = try await alice.client.request("search", ["query": "hello"])
            let (status, body) = try await httpGet(url: server.url, path: "/metrics")
            #expect(status == 200)
            let exported = Set(
                body.split(separator: "\n").filter { !$0.hasPrefix("#") }.compactMap {
                    $0.split(whereSeparator: { $0 == "{" || $0 == " " }).first.map(String.init)
                }
            )
            for (file, names) in shipped {
                for name in names.sorted() { #expect(exported.contains(name), "\(file) names \(name), not exported") }
            }
            for name in [
                "chat_connections_max", "chat_slow_consumer_closes_total", "chat_fanout_lag_seconds_count",
                "chat_storage_failing", "chat_login_failures_total",
            ] {
                #expect(exported.contains(name), "/metrics lists \(name)")
            }
            #expect(body.contains("chat_login_failures_total{reason=\"bad_password\"}"))
            #expect(body.contains("chat_login_failures_total{reason=\"unknown_user\"}"))
        }
    }
}

private func NSTemporaryDirectoryPath() -> String {
    (ProcessInfoEnvironment.tmp ?? "/tmp")
}

private enum ProcessInfoEnvironment {
    static var tmp: String? { getenv("TMPDIR").map { String(cString: $0) } }
}
