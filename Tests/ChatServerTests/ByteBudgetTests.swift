import ChatConformance
import ChatCore
import ChatServer
import Testing

/// Byte budgets on what is queued for a client (issue 21's reply amplification).
@Suite("Byte budgets")
struct ByteBudgetTests {
    @Test("pipelined history of long messages, not read: large replies are refused before they are built")
    func historyAmplificationIsRefused() async throws {
        var configuration = TestServer.conformanceConfiguration
        configuration.outboundQueueBytes = 1 << 20
        configuration.limits.rateBurst = 1000
        configuration.limits.ratePerSec = 1000
        try await TestServer.with(configuration) { server in
            let ctx = server.context
            let writer = try await ctx.newUser("writer")
            let room = ctx.unique("big")
            try await ctx.join(writer.client, room)
            let text = String(repeating: "😀", count: 4000)  // 16 KB of UTF-8
            for i in 0..<40 {
                try expectOK(
                    try await writer.client.request("send", ["room": .string(room), "text": .string(text)]),
                    "send \(i)"
                )
            }
            let reader = try await ctx.newUser("reader")
            try await ctx.join(reader.client, room)
            try await reader.client.setReading(false)
            let requests = 200  // each reply ~650 KB: 130 MB if all were queued
            for i in 0..<requests {
                try await reader.client.send(
                    ["type": "history", "id": .string("q\(i)"), "room": .string(room), "limit": 40]
                )
            }
            // Everyone else is still served while the reader does not read.
            try expectOK(try await writer.client.request("ping"), "others are served")
            try await reader.client.setReading(true)
            var served = 0
            var refused = 0
            for i in 0..<requests {
                let reply = try await reader.client.reply(to: "q\(i)")
                if reply["type"]?.stringValue == "ok" {
                    served += 1
                } else {
                    try expectError(reply, "rate_limited", "q\(i)")
                    #expect(reply["message"]?.stringValue?.contains("does not fit") == true)
                    #expect((reply["retry_after_ms"]?.intValue ?? 0) > 0)
                    refused += 1
                }
            }
            #expect(served >= 1, "a reply that fits is served")
            #expect(refused >= requests / 2, "most replies are refused rather than queued without bound")
        }
    }
}
