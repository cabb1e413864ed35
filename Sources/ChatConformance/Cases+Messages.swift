import ChatCore

extension ConformanceSuite {
    static let messages: [ConformanceCase] = [
        ConformanceCase("messages.send-and-event", section: "Messages") { ctx in
            let alice = try await ctx.newUser()
            let bob = try await ctx.newUser()
            let room = ctx.unique("msg")
            try await ctx.join(alice.client, room)
            try await ctx.join(bob.client, room)
            let before = Int64(wallClockMilliseconds())
            let name = try Request.room(room)
            var acks: [Int64] = []
            for text in ["こんにちは世界 👋🏽", "line one\nline two\ttabbed", "👨‍👩‍👧‍👦 family"] {
                let reply = try await alice.client.call(
                    Request.send(room: name, text: text, kind: .text, nonce: nil),
                    as: SendReply.self,
                    "send"
                )
                acks.append(reply.seq)
                try check(abs(reply.ts - before) < 300_000, "ts is milliseconds since the epoch (got \(reply.ts))")
                for (who, client) in [("sender", alice.client), ("other member", bob.client)] {
                    let event = try await client.nextMessage()
                    try checkEqual(event.text, text, "message text seen by the \(who)")
                    try checkEqual(event.from, alice.name, "from")
                    try checkEqual(event.room, room, "room")
                    try checkEqual(event.kind, .text, "default kind")
                    try checkEqual(event.seq, reply.seq, "event seq equals the acknowledged seq")
                    try checkEqual(event.ts, reply.ts, "event ts equals the acknowledged ts")
                }
            }
            try checkEqual(acks, [1, 2, 3], "seqs start at 1 and grow by 1")
        },
        ConformanceCase("messages.action-kind", section: "Messages") { ctx in
            let alice = try await ctx.newUser()
            let room = ctx.unique("act")
            try await ctx.join(alice.client, room)
            _ = try await alice.client.call(
                Request.send(room: try Request.room(room), text: "waves", kind: .action, nonce: nil),
                as: SendReply.self,
                "send action"
            )
            let event = try await alice.client.nextMessage()
            try checkEqual(event.kind, .action, "kind")
            try expectError(
                try await alice.client.request("send", ["room": .string(room), "text": "x", "kind": "shout"]),
                "bad_request",
                "unknown kind"
            )
        },
        ConformanceCase(
            "messages.text-rules",
            section: "Names and text",
            requires: Requirement("max_text <= 100000") {
                $0.maxText <= 100_000
            }
        ) { ctx in
            let alice = try await ctx.newUser()
            let room = ctx.unique("txt")
            try await ctx.join(alice.client, room)
            func send(_ text: String) async throws -> JSONObject {
                try await alice.client.request("send", ["room": .string(room), "text": .string(text)])
            }
            try expectError(try await send(""), "bad_request", "empty text")
            try expectError(
                try await alice.client.request("send", ["room": .string(room)]),
                "bad_request",
                "missing text"
            )
            try expectError(
                try await alice.client.request("send", ["room": .string(room), "text": 5]),
                "bad_request",
                "numeric text"
            )
            let forbidden: [UInt32] = [
                0x00, 0x01, 0x07, 0x08, 0x0B, 0x0D, 0x1B, 0x1F, 0x7F, 0x80, 0x85, 0x9B, 0x9F,
                0x202A, 0x202B, 0x202C, 0x202D, 0x202E, 0x2066, 0x2067, 0x2068, 0x2069,
            ]
            for value in forbidden {
                let scalar = Unicode.Scalar(value)!
                try expectError(
                    try await send("a\(Character(scalar))b"),
                    "bad_request",
                    "text with U+\(String(value, radix: 16, uppercase: true))"
                )
            }
            for lone in [#"\ud800"#, #"\udfff"#, #"\ud83dx"#] {
                try await alice.client.sendText(#"{"type":"send","id":"lone","room":"\#(room)","text":"a\#(lone)"}"#)
                try expectError(try await alice.client.reply(to: "lone"), "bad_request", "text with lone surrogate")
            }
            let max = ctx.limits.maxText
            try expectOK(try await send(String(repeating: "字", count: max)), "text of max_text characters")
            try expectError(
                try await send(String(repeating: "字", count: max + 1)),
                "too_large",
                "text of max_text + 1 characters"
            )
            let history = try await alice.client.call(
                Request.history(room: try Request.room(room), before: nil, after: nil, limit: nil),
                as: HistoryReply.self,
                "history"
            )
            try checkEqual(history.messages.count, 1, "failed sends store nothing")
        },
        ConformanceCase("messages.nonce-idempotency", section: "Messages") { ctx in
            let alice = try await ctx.newUser()
            let bob = try await ctx.newUser()
            let room = ctx.unique("nonce")
            let other = ctx.unique("nonce2")
            try await ctx.join(alice.client, room)
            try await ctx.join(alice.client, other)
            try await ctx.join(bob.client, room)
            let once = Request.send(room: try Request.room(room), text: "once", kind: .text, nonce: "n-1")
            let first = try await alice.client.call(once, as: SendReply.self, "send with nonce")
            let phone = try await ctx.secondConnection(alice)
            let retry = try await phone.call(once, as: SendReply.self, "retry with the same nonce")
            try checkEqual(retry, first, "seq and ts of the retry")
            let differentText = try await alice.client.call(
                Request.send(room: try Request.room(room), text: "changed", kind: .text, nonce: "n-1"),
                as: SendReply.self,
                "retry with the same nonce and other text"
            )
            try checkEqual(differentText.seq, first.seq, "a nonce identifies the message, not the text")
            let bobs = try await bob.client.call(once, as: SendReply.self, "same nonce from another user")
            try checkEqual(bobs.seq, 2, "another user's nonce is separate")
            let otherRoom = try await alice.client.call(
                Request.send(room: try Request.room(other), text: "once", kind: .text, nonce: "n-1"),
                as: SendReply.self,
                "same nonce in another room"
            )
            try checkEqual(otherRoom.seq, 1, "a nonce is per room")
            let events = try await bob.client.drainChatEvents().compactMap { event -> ChatMessage? in
                guard case .message(let message) = event else { return nil }
                return message
            }
            try checkEqual(events.map(\.seq), [1, 2], "message events: one per stored message")
            try checkEqual(events.first?.nonce, "n-1", "the event carries the nonce")
            try expectError(
                try await alice.client.request("send", ["room": .string(room), "text": "x", "nonce": ""]),
                "bad_request",
                "empty nonce"
            )
        },
        ConformanceCase("messages.membership", section: "Messages") { ctx in
            let alice = try await ctx.newUser()
            let bob = try await ctx.newUser()
            let room = ctx.unique("mb")
            try await ctx.join(alice.client, room)
            try expectError(
                try await bob.client.request(
                    Request.send(room: try Request.room(room), text: "let me in", kind: .text, nonce: nil)
                ),
                "forbidden",
                "send by a non-member"
            )
            try expectError(
                try await bob.client.request(
                    Request.send(room: try Request.room(ctx.unique("void")), text: "hello?", kind: .text, nonce: nil)
                ),
                "not_found",
                "send to a missing room"
            )
        },
        ConformanceCase(
            "messages.rate-limit",
            section: "Messages",
            requires: Requirement("rate_burst <= 200 and rate_per_sec <= 100") {
                $0.rateBurst <= 200 && $0.ratePerSec <= 100
            }
        ) { ctx in
            let alice = try await ctx.newUser()
            let room = ctx.unique("rl")
            try await ctx.join(alice.client, room)
            var limited: JSONObject?
            var sent = 0
            // Pipelined in one write, so that a slow machine (or network) cannot pace the sends
            // below the rate.
            let count = ctx.limits.rateBurst + Int(ctx.limits.ratePerSec) + 50
            let name = try Request.room(room)
            try await alice.client.sendAll(
                (0..<count).map {
                    Request.send(room: name, text: "r\($0)", kind: .text, nonce: nil).json(id: "rl\($0)")
                }
            )
            var stored = 0
            var lastRetry: Int64?
            for i in 0..<count {
                let reply = try await alice.client.reply(to: "rl\(i)")
                if case .error(_, let error)? = try? ServerFrame(json: reply) {
                    if limited == nil { limited = reply }
                    lastRetry = error.retryAfterMs
                } else {
                    stored += 1
                    if limited == nil { sent += 1 }
                }
            }
            guard let limited else { throw ConformanceFailure("never rate limited") }
            try expectError(limited, "rate_limited", "send over the rate")
            guard case .error(_, let refusal)? = try? ServerFrame(json: limited) else {
                throw ConformanceFailure("rate_limited reply does not decode")
            }
            try check((refusal.retryAfterMs ?? 0) > 0, "rate_limited carries a positive retry_after_ms")
            try check(
                sent >= ctx.limits.rateBurst,
                "limited after \(sent) sends, before the burst of \(ctx.limits.rateBurst)"
            )
            let history = try await alice.client.call(
                Request.history(room: name, before: nil, after: nil, limit: 1),
                as: HistoryReply.self,
                "h"
            )
            try checkEqual(history.messages.map(\.seq), [Int64(stored)], "a rate-limited send stores nothing")
            // Later pipelined sends may have used tokens that refilled after the first refusal: wait
            // for the last refusal's retry_after_ms, and at least one token's worth of time.
            let tokenMs = Int64((1000 / ctx.limits.ratePerSec).rounded(.up))
            let wait = max(lastRetry ?? 1000, tokenMs)
            try await Task.sleep(for: .milliseconds(wait + 20))
            _ = try await alice.client.call(
                Request.send(room: name, text: "after waiting", kind: .text, nonce: nil),
                as: SendReply.self,
                "send after retry_after_ms"
            )
        },
        ConformanceCase("liveness.ping", section: "Liveness and closing") { ctx in
            let c = try await ctx.helloClient()
            let ts = try await c.call(Request.ping, as: PingReply.self, "ping").ts
            try check(abs(ts - Int64(wallClockMilliseconds())) < 300_000, "ping ts is the server clock in ms")
        },
    ]
}
