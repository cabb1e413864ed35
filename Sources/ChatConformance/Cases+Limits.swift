import ChatCore

/// One character of 12 KB: `a` and 6,000 combining acute accents, a single grapheme cluster.
private let zalgo = "a" + String(repeating: "\u{301}", count: 6000)

/// Fails unless the reply is `bad_request` whose message names the limit.
///
/// - Parameters:
///   - reply: the reply.
///   - limit: the number the message must hold.
///   - what: the request, for the failure message.
private func expectLimit(_ reply: JSONObject, _ limit: Int, _ what: String) throws {
    try expectError(reply, "bad_request", what)
    let message = reply["message"]?.stringValue ?? ""
    try check(message.contains("\(limit)"), "\(what): the message should name the limit \(limit): \(message)")
}

extension ConformanceSuite {
    /// Length limits count bytes or scalars, never grapheme clusters; names refuse invisible
    /// characters and piles of combining marks.
    static let limits: [ConformanceCase] = [
        ConformanceCase("limits.user-name-of-6000-marks", section: "Names and text") { ctx in
            let c = try await ctx.helloClient()
            let reply = try await c.request("register", ["user": .string(zalgo), "password": "pw-long-enough"])
            try expectLimit(reply, 32, "register with a one-character, 6,000-mark user name")
        },
        ConformanceCase("limits.room-name-of-6000-marks", section: "Names and text") { ctx in
            let user = try await ctx.newUser()
            let reply = try await user.client.request("join", ["room": .string(zalgo)])
            try expectLimit(reply, 64, "join a one-character, 6,000-mark room name")
        },
        ConformanceCase("limits.nonce-of-6000-marks", section: "Names and text") { ctx in
            let user = try await ctx.newUser()
            let room = ctx.unique("nonce")
            try await ctx.join(user.client, room)
            let reply = try await user.client.request(
                "send",
                ["room": .string(room), "text": "hi", "nonce": .string(zalgo)]
            )
            try expectLimit(reply, 64, "send with a one-character, 6,000-mark nonce")
            let history = try expectOK(try await user.client.request("history", ["room": .string(room)]), "history")
            try checkEqual(try messageList(history).count, 0, "messages stored by the refused send")
        },
        ConformanceCase("limits.search-query-of-6000-marks", section: "Names and text") { ctx in
            let user = try await ctx.newUser()
            let reply = try await user.client.request("search", ["query": .string(zalgo)])
            try expectLimit(reply, 512, "search with a one-character, 6,000-mark query")
        },
        ConformanceCase("limits.name-length-counts-scalars", section: "Names and text") { ctx in
            let c = try await ctx.helloClient()
            // 21 characters, 34 scalars after NFC (á keeps its second mark).
            let name = String(ctx.unique("n").prefix(8)) + String(repeating: "a\u{301}\u{302}", count: 13)
            let reply = try await c.request("register", ["user": .string(name), "password": "pw-long-enough"])
            try expectLimit(reply, 32, "register a user name of 34 scalars")
        },
        ConformanceCase("limits.name-with-grapheme-joiner", section: "Names and text") { ctx in
            let c = try await ctx.helloClient()
            let plain = ctx.unique("cgj")
            let reply = try await c.request(
                "register",
                ["user": .string(plain + "\u{34F}"), "password": "pw-long-enough"]
            )
            try expectError(reply, "bad_request", "register a name ending in U+034F COMBINING GRAPHEME JOINER")
            let room = try await c.request("join", ["room": .string("r\u{34F}oom")])
            try check(room["type"]?.stringValue == "error", "join a room name with U+034F: expected an error")
        },
        ConformanceCase("limits.name-with-variation-selector", section: "Names and text") { ctx in
            let c = try await ctx.helloClient()
            let reply = try await c.request(
                "register",
                ["user": .string(ctx.unique("vs") + "\u{FE0F}"), "password": "pw-long-enough"]
            )
            try expectError(reply, "bad_request", "register a name with U+FE0F VARIATION SELECTOR-16")
        },
        ConformanceCase("limits.name-with-five-marks-on-a-letter", section: "Names and text") { ctx in
            let c = try await ctx.helloClient()
            let four = ctx.unique("m") + "x" + String(repeating: "\u{301}", count: 4)
            try expectOK(
                try await c.request("register", ["user": .string(four), "password": "pw-long-enough"]),
                "register a name with 4 marks on one letter"
            )
            _ = try await c.request("logout")
            let c2 = try await ctx.helloClient()
            let five = ctx.unique("m") + "x" + String(repeating: "\u{301}", count: 5)
            let reply = try await c2.request("register", ["user": .string(five), "password": "pw-long-enough"])
            try expectLimit(reply, 4, "register a name with 5 marks on one letter")
        },
        ConformanceCase(
            "limits.read-rate",
            section: "Messages",
            requires: Requirement("read_per_sec and read_burst advertised, read_burst + 10 × read_per_sec <= 900") {
                $0.readBurst > 0 && $0.readPerSec > 0 && Double($0.readBurst) + 10 * $0.readPerSec <= 900
            }
        ) { ctx in
            let alice = try await ctx.newUser()
            let room = ctx.unique("rd")
            try await ctx.join(alice.client, room)
            let name = try Request.room(room)
            // Pipelined in one write: more than the burst plus ten seconds of refill.
            let count = ctx.limits.readBurst + Int(10 * ctx.limits.readPerSec) + 50
            try await alice.client.sendAll(
                (0..<count).map { Request.members(room: name).json(id: "rd\($0)") }
            )
            var limited: ProtocolError?
            var answered = 0
            for i in 0..<count {
                let reply = try await alice.client.reply(to: "rd\(i)")
                if case .error(_, let error)? = try? ServerFrame(json: reply) {
                    try checkEqual(error.code, .rateLimited, "members over the read rate")
                    if limited == nil { limited = error }
                } else if limited == nil {
                    answered += 1
                }
            }
            guard let limited else {
                throw ConformanceFailure("\(count) pipelined members requests: never rate limited")
            }
            try check((limited.retryAfterMs ?? 0) > 0, "rate_limited carries a positive retry_after_ms")
            try check(
                answered >= ctx.limits.readBurst - 1,
                "limited after \(answered) reads, before the burst of \(ctx.limits.readBurst) (the join took one)"
            )
            // The connection survives, and the bucket refills.
            let wait = max(
                limited.retryAfterMs ?? 0,
                Int64((1000 * Double(Limits.searchReadCost) / ctx.limits.readPerSec).rounded(.up))
            )
            try await Task.sleep(for: .milliseconds(min(wait, 10_000) + 50))
            _ = try await alice.client.call(Request.members(room: name), as: MembersReply.self, "members after waiting")
        },
    ]
}
