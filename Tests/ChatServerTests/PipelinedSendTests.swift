import ChatConformance
import ChatCore
import ChatServer
import Synchronization
import Testing

/// Sends that arrive together are stored together (one wait for durability) but must still be
/// answered one by one, in order, each with its own outcome.
@Suite("Pipelined sends")
struct PipelinedSendTests {
    static var fastConfiguration: ServerConfiguration {
        var configuration = TestServer.conformanceConfiguration
        configuration.limits.rateBurst = 100_000
        configuration.limits.ratePerSec = 100_000
        return configuration
    }

    @Test("pipelined sends are answered in order; a nonce repeated in the same batch gets the first seq")
    func inOrder() async throws {
        try await TestServer.with(Self.fastConfiguration) { server in
            let ctx = server.context
            let alice = try await ctx.newUser("alice")
            let bob = try await ctx.newUser("bob")
            let room = ctx.unique("pipe")
            try await ctx.join(alice.client, room)
            try await ctx.join(bob.client, room)
            var expected: [(id: String, kind: String)] = []
            for i in 0..<300 {
                let id = "q\(i)"
                if i % 50 == 49 {
                    try await alice.client.send(["type": "ping", "id": .string(id)])
                    expected.append((id, "ping"))
                } else if i == 150 || i == 151 {
                    try await alice.client.send(
                        ["type": "send", "id": .string(id), "room": .string(room), "text": "once", "nonce": "dup"]
                    )
                    expected.append((id, i == 150 ? "send" : "repeat"))
                } else {
                    try await alice.client.send(
                        ["type": "send", "id": .string(id), "room": .string(room), "text": .string("m\(i)")]
                    )
                    expected.append((id, "send"))
                }
            }
            var lastSeq: Int64 = 0
            for (id, kind) in expected {
                let reply = try expectOK(try await alice.client.reply(to: id), "reply to \(id)")
                switch kind {
                case "send":
                    let seq = try #require(reply["seq"]?.intValue, "seq of \(id)")
                    #expect(seq == lastSeq + 1, "\(id): seqs follow one another")
                    lastSeq = seq
                case "repeat":
                    #expect(reply["seq"]?.intValue == lastSeq, "\(id): the repeated nonce gets the first seq")
                default:
                    #expect(reply["ts"] != nil, "\(id): a ping's reply")
                }
            }
            #expect(lastSeq == 300 - 6 - 1)
            // Another member gets every message once, in seq order.
            var seen: [Int64] = []
            while seen.count < Int(lastSeq) {
                let event = try await bob.client.nextEvent("message")
                seen.append(try #require(event["seq"]?.intValue))
            }
            #expect(seen == Array(1...lastSeq))
        }
    }

    @Test("a rate-limited send inside a pipelined batch is refused in its place")
    func rateLimitedInBatch() async throws {
        var configuration = TestServer.conformanceConfiguration
        configuration.limits.rateBurst = 5
        configuration.limits.ratePerSec = 0.01
        try await TestServer.with(configuration) { server in
            let ctx = server.context
            let alice = try await ctx.newUser("alice")
            let room = ctx.unique("limit")
            try await ctx.join(alice.client, room)
            for i in 0..<8 {
                try await alice.client.send(
                    ["type": "send", "id": .string("s\(i)"), "room": .string(room), "text": .string("m\(i)")]
                )
            }
            for i in 0..<5 {
                let reply = try expectOK(try await alice.client.reply(to: "s\(i)"), "send \(i)")
                #expect(reply["seq"]?.intValue == Int64(i + 1))
            }
            for i in 5..<8 {
                try expectError(try await alice.client.reply(to: "s\(i)"), "rate_limited", "send \(i)")
            }
        }
    }

    @Test("a storage failure refuses every send of a pipelined batch, in order, and delivers none")
    func storageFailureInBatch() async throws {
        let store = ErrorPathTests.FailingStore()
        try await TestServer.with(Self.fastConfiguration, store: store) { server in
            let ctx = server.context
            let alice = try await ctx.newUser("alice")
            let room = ctx.unique("fail")
            try await ctx.join(alice.client, room)
            store.failing.store(true, ordering: .relaxed)
            for i in 0..<6 {
                try await alice.client.send(
                    ["type": "send", "id": .string("s\(i)"), "room": .string(room), "text": .string("m\(i)")]
                )
            }
            for i in 0..<6 {
                try expectError(try await alice.client.reply(to: "s\(i)"), "internal", "send \(i)")
            }
            let history = try expectOK(try await alice.client.request("history", ["room": .string(room)]), "history")
            #expect(try messageList(history).isEmpty)
            let events = try await alice.client.drainEvents()
            #expect(!events.contains { $0["type"]?.stringValue == "message" }, "nothing was delivered")
        }
    }
}
