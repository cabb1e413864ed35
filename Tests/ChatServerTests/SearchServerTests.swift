import ChatConformance
import ChatCore
import ChatServer
import Foundation
import Testing

/// `search` against a live server on an OS-chosen loopback port.
@Suite("Search over the wire")
struct SearchServerTests {
    /// Searches until `accept` holds for the reply (the indexer runs in the background),
    /// at most 10 s; returns the last reply.
    static func search(
        _ client: WireClient,
        _ fields: JSONObject,
        until accept: (JSONObject) -> Bool = { !(results($0).isEmpty) }
    ) async throws -> JSONObject {
        let deadline = ContinuousClock.now + .seconds(10)
        while true {
            let reply = try await client.request("search", fields)
            if accept(reply) || ContinuousClock.now > deadline { return reply }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    static func results(_ reply: JSONObject) -> [SearchResult] {
        reply["results"]?.arrayValue?.compactMap { SearchResult(json: $0) } ?? []
    }

    static func send(_ client: WireClient, _ room: String, _ text: String) async throws -> Int64 {
        let reply = try expectOK(
            try await client.request("send", ["room": .string(room), "text": .string(text)]),
            "send \(text)"
        )
        return reply["seq"]?.intValue ?? -1
    }

    /// Alice and Bob, logged in; Alice has joined two new rooms, Bob the first of them.
    static func aliceAndBob(
        _ ctx: ConformanceContext,
        rooms first: String,
        _ second: String
    ) async throws -> (alice: TestUser, bob: TestUser, first: String, second: String) {
        let alice = try await ctx.newUser("alice")
        let bob = try await ctx.newUser("bob")
        let rooms = (ctx.unique(first), ctx.unique(second))
        try await ctx.join(alice.client, rooms.0)
        try await ctx.join(alice.client, rooms.1)
        try await ctx.join(bob.client, rooms.0)
        return (alice, bob, rooms.0, rooms.1)
    }

    @Test("search finds Japanese and English words in the user's rooms only, with snippet ranges")
    func membersOnly() async throws {
        try await TestServer.with { server in
            let ctx = server.context
            let (alice, bob, shared, secret) = try await Self.aliceAndBob(ctx, rooms: "shared", "secret")
            // Bob is in two of three rooms: his searches exclude the third rather than list the two.
            let extra = ctx.unique("extra")
            try await ctx.join(bob.client, extra)
            _ = try await Self.send(alice.client, shared, "明日の会議は10時から")
            _ = try await Self.send(alice.client, secret, "秘密の会議 secret plan")
            _ = try await Self.send(alice.client, shared, "Let's MEET tomorrow")
            let sentinel = try await Self.send(alice.client, secret, "sentinel")

            // Alice sees both rooms once the last message is searchable.
            _ = try await Self.search(alice.client, ["query": "sentinel"])
            let mine = Self.results(try expectOK(try await alice.client.request("search", ["query": "会議"]), "search"))
            #expect(Set(mine.map(\.room)) == [shared, secret])
            #expect(sentinel == 2)

            // Bob is not in the secret room: never a result from it.
            let reply = try expectOK(try await bob.client.request("search", ["query": "会議"]), "bob search")
            let theirs = Self.results(reply)
            #expect(theirs.map(\.room) == [shared])
            #expect(theirs.first?.text == "明日の会議は10時から")
            #expect(theirs.first?.from == alice.name)
            #expect(theirs.first?.seq == 1)
            #expect(theirs.first?.snippet.ranges == [3..<5])
            #expect(reply["more"] == .bool(false))
            let secretWords = Self.results(try await bob.client.request("search", ["query": "secret plan"]))
            #expect(secretWords.isEmpty)
            try expectError(
                try await bob.client.request("search", ["query": "会議", "room": .string(secret)]),
                "forbidden",
                "room field, not a member"
            )
            try expectError(
                try await bob.client.request("search", ["query": .string("会議 in:\(secret)")]),
                "forbidden",
                "in:, not a member"
            )
            try expectError(
                try await bob.client.request("search", ["query": "会議", "room": "nosuchroom"]),
                "not_found",
                "unknown room"
            )

            // Width and case folding through the whole stack.
            let meet = Self.results(try await bob.client.request("search", ["query": "ＭＥＥＴ"]))
            #expect(meet.map(\.text) == ["Let's MEET tomorrow"])
            #expect(meet.first?.snippet.ranges == [6..<10])

            // After leaving, the room's messages are no longer found.
            try expectOK(try await bob.client.request("leave", ["room": .string(shared)]), "leave")
            #expect(Self.results(try await bob.client.request("search", ["query": "会議"])).isEmpty)
        }
    }

    @Test("from:, in:, one-character queries, newest-first paging and width variants")
    func filtersAndOrder() async throws {
        try await TestServer.with { server in
            let (alice, bob, room, other) = try await Self.aliceAndBob(server.context, rooms: "room", "other")
            // Distinct timestamps, so newest-first order is defined.
            for (client, target, text) in [
                (alice.client, room, "ｶﾀｶﾅ meeting one"), (bob.client, room, "カタカナ meeting two"),
                (alice.client, other, "meeting three 大会"), (alice.client, room, "last"),
            ] {
                _ = try await Self.send(client, target, text)
                try await Task.sleep(for: .milliseconds(3))
            }
            _ = try await Self.search(alice.client, ["query": "last"])

            let fromBob = Self.results(
                try await alice.client.request("search", ["query": .string("meeting from:\(bob.name)")])
            )
            #expect(fromBob.map(\.text) == ["カタカナ meeting two"])
            let inOther = Self.results(
                try await alice.client.request("search", ["query": .string("meeting in:\(other)")])
            )
            #expect(inOther.map(\.text) == ["meeting three 大会"])
            let kana = Self.results(try await alice.client.request("search", ["query": "カタカナ", "order": "newest"]))
            #expect(kana.map(\.text) == ["カタカナ meeting two", "ｶﾀｶﾅ meeting one"])
            let one = Self.results(try await alice.client.request("search", ["query": "会"]))
            #expect(one.map(\.text) == ["meeting three 大会"])

            // Newest first, one per page, paging with before = the last result's ts.
            var seen: [String] = []
            var before: Int64?
            for _ in 0..<5 {
                var fields: JSONObject = ["query": "meeting", "order": "newest", "limit": 1]
                if let before { fields.fields.append((key: "before", value: .int(before))) }
                let reply = try expectOK(try await alice.client.request("search", fields), "page")
                let page = Self.results(reply)
                seen += page.map(\.text)
                guard reply["more"] == .bool(true), let last = page.last else { break }
                before = last.ts
            }
            #expect(seen == ["meeting three 大会", "カタカナ meeting two", "ｶﾀｶﾅ meeting one"])
        }
    }

    @Test("invalid queries are bad_request with a helpful message; search needs hello and authentication")
    func errors() async throws {
        try await TestServer.with { server in
            let ctx = server.context
            let fresh = try await ctx.connect()
            try expectError(try await fresh.request("search", ["query": "x"]), "hello_required", "before hello")
            let anonymous = try await ctx.helloClient()
            try expectError(try await anonymous.request("search", ["query": "x"]), "unauthorized", "before login")
            let alice = try await ctx.newUser("alice")
            for (query, words) in [
                (#""unterminated"#, "unterminated quote"), ("from:", "from: needs a user name"),
                ("!!!", "no words"), ("from:x", "add a word"),
            ] {
                let reply = try await alice.client.request("search", ["query": .string(query)])
                try expectError(reply, "bad_request", query)
                let message = reply["message"]?.stringValue ?? ""
                #expect(message.contains(words), "\(query): \(message)")
                #expect(!message.lowercased().contains("sqlite") && !message.lowercased().contains("fts5"))
            }
            try expectError(try await alice.client.request("search", [:]), "bad_request", "no query")
            try expectError(
                try await alice.client.request("search", ["query": "x", "limit": 0]),
                "bad_request",
                "limit"
            )
        }
    }
}
