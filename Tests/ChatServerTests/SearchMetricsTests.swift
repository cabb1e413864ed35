import ChatConformance
import ChatCore
import ChatServer
import Testing

@Suite("Search metrics")
struct SearchMetricsTests {
    @Test("/metrics reports index lag, batch timings, indexed messages and query timings")
    func searchMetrics() async throws {
        let registry = MetricsTests.registry
        try await TestServer.with(TestServer.conformanceConfiguration, metrics: registry) { server in
            let ctx = server.context
            let alice = try await ctx.newUser("alice")
            let room = ctx.unique("metrics")
            try await ctx.join(alice.client, room)
            try await ctx.sendMany(alice.client, room, count: 3)
            try expectOK(try await alice.client.request("search", ["query": "anything"]), "search")
            // The indexer works in the background: wait (at most 10 s) until it has stored the messages.
            var status = 0
            var body = ""
            let deadline = ContinuousClock.now + .seconds(10)
            repeat {
                (status, body) = try await httpGet(url: server.url, path: "/metrics")
                let indexed = body.split(separator: "\n").first { $0.hasPrefix("chat_search_indexed_messages_total ") }
                if (indexed?.split(separator: " ").last.flatMap { Double($0) } ?? 0) >= 3 { break }
                try await Task.sleep(for: .milliseconds(50))
            } while ContinuousClock.now < deadline
            #expect(status == 200)
            for name in [
                "chat_search_index_lag_messages", "chat_search_index_batch_seconds_bucket",
                "chat_search_indexed_messages_total", "chat_search_query_seconds_bucket",
            ] {
                #expect(body.contains(name), "/metrics lists \(name)")
            }
            let indexed = body.split(separator: "\n").first { $0.hasPrefix("chat_search_indexed_messages_total ") }
            #expect((indexed?.split(separator: " ").last.flatMap { Double($0) } ?? 0) >= 3)
        }
    }
}
