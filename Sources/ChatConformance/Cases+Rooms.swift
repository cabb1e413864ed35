// Over 400 lines on purpose: the Rooms section's cases (PROTOCOL.md §6) as one table, in the
// order of the spec, so a reader checks them against it side by side.

import ChatCore
import Synchronization

extension ConformanceSuite {
    static let rooms: [ConformanceCase] = [
        ConformanceCase("rooms.join-creates-room", section: "Rooms") { ctx in
            let user = try await ctx.newUser()
            let room = ctx.unique("Créé")
            let reply = try await ctx.joined(user.client, room)
            try checkEqual(reply.room.name, room, "room name")
            try checkEqual(reply.room.topic, "", "topic of a new room")
            try checkEqual(reply.room.head, 0, "head of a new room")
            try check(!reply.room.epoch.isEmpty, "join reply carries an epoch string")
            try checkEqual(reply.messages.count, 0, "messages of a new room")
            try checkEqual(reply.limited, false, "limited for a new room")
        },
        ConformanceCase("rooms.join-invalid-name", section: "Names and text") { ctx in
            let user = try await ctx.newUser()
            for name in ["has space", "", "bad/slash", String(repeating: "r", count: 65), "x\u{202E}"] {
                try expectError(
                    try await user.client.request("join", ["room": .string(name)]),
                    "bad_request",
                    "join '\(name)'"
                )
            }
            try await ctx.join(user.client, ctx.unique(String(repeating: "r", count: 40)))
        },
        ConformanceCase("rooms.join-backlog-without-since", section: "Rooms", requires: .canSend(55)) { ctx in
            let alice = try await ctx.newUser()
            let room = ctx.unique("bl")
            try await ctx.join(alice.client, room)
            try await ctx.sendMany(alice.client, room, count: 3)
            let bob = try await ctx.newUser()
            let first = try await ctx.joined(bob.client, room)
            try checkEqual(first.messages.map(\.seq), [1, 2, 3], "backlog of a small room, oldest first")
            try checkEqual(first.limited, false, "limited with all history included")
            try checkEqual(first.room.head, 3, "head")
            try await ctx.sendMany(alice.client, room, count: 52)
            let carol = try await ctx.newUser()
            let second = try await ctx.joined(carol.client, room)
            try checkEqual(second.messages.map(\.seq), Array(6...55), "the newest 50 messages")
            try checkEqual(second.limited, true, "limited when older messages exist")
        },
        ConformanceCase("rooms.join-since", section: "Rooms") { ctx in
            let alice = try await ctx.newUser()
            let room = ctx.unique("since")
            let epoch = try await ctx.joined(alice.client, room).room.epoch
            try await ctx.sendMany(alice.client, room, count: 5)
            let other = try await ctx.secondConnection(alice)
            let reply = try await ctx.joined(other, room, since: 2, epoch: epoch)
            try checkEqual(reply.messages.map(\.seq), [3, 4, 5], "messages after since")
            try checkEqual(reply.limited, false, "limited")
            try check(!reply.reset, "no reset with the right epoch")
            let all = try await ctx.joined(other, room, since: 0)
            try checkEqual(all.messages.map(\.seq), [1, 2, 3, 4, 5], "since 0 without epoch")
            let none = try await ctx.joined(other, room, since: 5, epoch: epoch)
            try checkEqual(none.messages.map(\.seq), [], "since == head")
            try expectError(
                try await other.request("join", ["room": .string(room), "since": -1]),
                "bad_request",
                "negative since"
            )
            try expectError(
                try await other.request("join", ["room": .string(room), "since": "2"]),
                "bad_request",
                "string since"
            )
        },
        ConformanceCase(
            "rooms.join-since-limited",
            section: "Rooms",
            requires: Requirement("\(maxSenders) users can send history_limit + 5 messages in 10 s") {
                limitedSenders($0) != nil
            }
        ) { ctx in
            let alice = try await ctx.newUser()
            let room = ctx.unique("lim")
            try await ctx.join(alice.client, room)
            let total = ctx.limits.historyLimit + 5
            // Whatever history_limit is: as many senders as the rate limit needs (each paced
            // by retry_after_ms), so the case runs against a default server too.
            let senders = limitedSenders(ctx.limits) ?? 1
            try await withThrowingTaskGroup(of: Void.self) { group in
                for index in 0..<senders {
                    let count = total / senders + (index < total % senders ? 1 : 0)
                    group.addTask {
                        let sender = try await ctx.newUser("lim")
                        try await ctx.join(sender.client, room)
                        try await ctx.sendMany(sender.client, room, count: count)
                        await sender.client.disconnect()
                    }
                }
                try await group.waitForAll()
            }
            let other = try await ctx.secondConnection(alice)
            let reply = try await ctx.joined(other, room, since: 0)
            try checkEqual(reply.messages.map(\.seq), Array(6...Int64(total)), "newest history_limit messages")
            try checkEqual(reply.limited, true, "limited")
            let history = try await other.call(
                Request.history(room: try Request.room(room), before: nil, after: nil, limit: total * 10),
                as: HistoryReply.self,
                "history with a limit above history_limit"
            )
            try checkEqual(history.messages.count, ctx.limits.historyLimit, "limit is clamped to history_limit")
        },
        ConformanceCase("rooms.join-epoch-mismatch-resets", section: "Rooms") { ctx in
            let alice = try await ctx.newUser()
            let room = ctx.unique("ep")
            try await ctx.join(alice.client, room)
            try await ctx.sendMany(alice.client, room, count: 3)
            let reply = try await ctx.joined(alice.client, room, since: 2, epoch: "some-other-epoch")
            try checkEqual(reply.reset, true, "reset with a foreign epoch")
            try checkEqual(reply.messages.map(\.seq), [1, 2, 3], "since is ignored when the epoch differs")
        },
        ConformanceCase("rooms.join-again-no-duplicates", section: "Rooms") { ctx in
            let alice = try await ctx.newUser()
            let bob = try await ctx.newUser()
            let room = ctx.unique("again")
            try await ctx.join(alice.client, room)
            try await ctx.join(bob.client, room)
            try await ctx.sendMany(alice.client, room, count: 2)
            let again = try await ctx.joined(bob.client, room)
            try checkEqual(again.room.head, 2, "head on joining again")
            bob.client.clearEvents()
            try await ctx.sendMany(alice.client, room, count: 1, prefix: "x")
            let message = try await bob.client.nextMessage()
            try checkEqual(message.seq, 3, "seq of the next message")
            let rest = try await bob.client.drainChatEvents().filter { $0.type == "message" }
            try checkEqual(rest.count, 0, "duplicate message events after joining twice")
        },
        ConformanceCase("rooms.no-gap-under-concurrent-sender", section: "Rooms") { ctx in
            let total = max(
                30,
                min(200, ctx.limits.rateBurst + 5 * Int(ctx.limits.ratePerSec), ctx.limits.historyLimit)
            )
            let sender = try await ctx.newUser("snd")
            let room = ctx.unique("gap")
            try await ctx.join(sender.client, room)
            let sent = Counter()
            let joiners = 4
            let senderToken = sender.token
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    let c = try await ctx.helloClient()
                    _ = try await c.call(Request.resume(token: senderToken), as: AuthReply.self, "resume sender")
                    try await ctx.join(c, room)
                    for i in 0..<total {
                        try await ctx.sendMany(c, room, count: 1, prefix: "g\(i)-")
                        sent.value.store(i + 1, ordering: .relaxed)
                    }
                }
                for j in 0..<joiners {
                    group.addTask {
                        let user = try await ctx.newUser("j\(j)")
                        let threshold = total * j / joiners
                        while sent.value.load(ordering: .relaxed) < threshold {
                            try await Task.sleep(for: .milliseconds(2))
                        }
                        let reply = try await ctx.joined(user.client, room, since: j % 2 == 0 ? 0 : nil)
                        var seen = reply.messages.map(\.seq)
                        try checkEqual(seen.last ?? 0, reply.room.head, "joiner \(j): backlog ends at head")
                        while (seen.last ?? 0) < Int64(total) {
                            seen.append(try await user.client.nextMessage().seq)
                        }
                        let first = j % 2 == 0 ? Int64(1) : (seen.first ?? 1)
                        try checkEqual(
                            seen,
                            Array(first...Int64(total)),
                            "joiner \(j): seqs seen (no gap, no duplicate)"
                        )
                    }
                }
                try await group.waitForAll()
            }
        },
        ConformanceCase("rooms.leave", section: "Rooms") { ctx in
            let alice = try await ctx.newUser()
            let bob = try await ctx.newUser()
            let room = ctx.unique("lv")
            try await ctx.join(alice.client, room)
            try await ctx.join(bob.client, room)
            _ = try await alice.client.drainEvents()
            _ = try await bob.client.call(Request.leave(room: try Request.room(room)), as: EmptyReply.self, "leave")
            let left = try await alice.client.nextChatEvent("left")
            try checkEqual(left, .left(room: room, user: bob.name), "left event")
            try expectError(
                try await bob.client.request(
                    Request.send(room: try Request.room(room), text: "still here?", kind: .text, nonce: nil)
                ),
                "forbidden",
                "send after leave"
            )
            try expectError(
                try await bob.client.request(Request.leave(room: try Request.room(room))),
                "forbidden",
                "leave twice"
            )
            try expectError(
                try await bob.client.request(Request.leave(room: try Request.room(ctx.unique("none")))),
                "not_found",
                "leave a room that does not exist"
            )
            try await ctx.sendMany(alice.client, room, count: 1)
            let events = try await bob.client.drainChatEvents()
            try check(!events.contains { $0.type == "message" }, "message delivered after leave")
        },
        ConformanceCase("rooms.list", section: "Rooms") { ctx in
            let alice = try await ctx.newUser()
            let bob = try await ctx.newUser()
            let names = [ctx.unique("b"), ctx.unique("B"), ctx.unique("a"), ctx.unique("日本")]
            for name in names { try await ctx.join(alice.client, name) }
            // Every public room, not only the caller's.
            let others = ctx.unique("others")
            try await ctx.join(bob.client, others)
            let listed = try await alice.client.call(Request.rooms, as: RoomsReply.self, "rooms").rooms
            guard let entry = listed.first(where: { $0.name == others }) else {
                throw ConformanceFailure("rooms does not list \(others), a public room the caller is not in")
            }
            try checkEqual(entry.members, 1, "members of \(others)")
            try await ctx.sendMany(alice.client, names[0], count: 2)
            let list = try await alice.client.call(Request.rooms, as: RoomsReply.self, "rooms").rooms
            let all = list.map(\.name)
            try checkEqual(
                all,
                all.sorted { $0.unicodeScalars.lexicographicallyPrecedes($1.unicodeScalars) { $0.value < $1.value } },
                "rooms sorted by code point"
            )
            for name in names {
                guard let entry = list.first(where: { $0.name == name }) else {
                    throw ConformanceFailure("rooms does not list \(name)")
                }
                try checkEqual(entry.members, 1, "members of \(name)")
                try checkEqual(entry.head, name == names[0] ? 2 : 0, "head of \(name)")
            }
        },
        ConformanceCase("rooms.members", section: "Rooms") { ctx in
            let alice = try await ctx.newUser()
            let bob = try await ctx.newUser()
            let room = ctx.unique("mem")
            try await ctx.join(alice.client, room)
            try await ctx.join(bob.client, room)
            await bob.client.disconnect()
            let offline = try await alice.client.nextChatEvent("presence")
            try checkEqual(offline, .presence(user: bob.name, online: false), "presence after bob disconnected")
            let list = try await alice.client.call(
                Request.members(room: try Request.room(room)),
                as: MembersReply.self,
                "members"
            ).members
            let entries = Dictionary(uniqueKeysWithValues: list.map { ($0.user, $0.online) })
            try checkEqual(entries, [alice.name: true, bob.name: false], "members with online flags")
            let carol = try await ctx.newUser()
            try expectError(
                try await carol.client.request(Request.members(room: try Request.room(room))),
                "forbidden",
                "members of a room one is not in"
            )
            try expectError(
                try await carol.client.request(Request.members(room: try Request.room(ctx.unique("nope")))),
                "not_found",
                "members of a missing room"
            )
        },
        ConformanceCase("rooms.topic", section: "Rooms") { ctx in
            let alice = try await ctx.newUser()
            let bob = try await ctx.newUser()
            let room = ctx.unique("tp")
            try await ctx.join(alice.client, room)
            try await ctx.join(bob.client, room)
            _ = try await alice.client.call(
                Request.topic(room: try Request.room(room), topic: "会議は明日 🗓"),
                as: EmptyReply.self,
                "topic"
            )
            let event = try await bob.client.nextChatEvent("topic")
            try checkEqual(event, .topic(room: room, topic: "会議は明日 🗓", by: alice.name), "topic event")
            let info = try await ctx.joined(bob.client, room)
            try checkEqual(info.room.topic, "会議は明日 🗓", "topic in join reply")
            try expectOK(
                try await alice.client.request(
                    "topic",
                    ["room": .string(room), "topic": .string(String(repeating: "t", count: 512))]
                ),
                "topic of 512 characters"
            )
            try expectOK(try await alice.client.request("topic", ["room": .string(room), "topic": ""]), "empty topic")
            try expectError(
                try await alice.client.request(
                    "topic",
                    ["room": .string(room), "topic": .string(String(repeating: "t", count: 513))]
                ),
                "too_large",
                "topic of 513 characters"
            )
            try expectError(
                try await alice.client.request("topic", ["room": .string(room), "topic": "\u{1B}[2J"]),
                "bad_request",
                "topic with an escape sequence"
            )
            let carol = try await ctx.newUser()
            try expectError(
                try await carol.client.request(Request.topic(room: try Request.room(room), topic: "mine")),
                "forbidden",
                "topic by a non-member"
            )
        },
        ConformanceCase("rooms.history-paging", section: "Rooms") { ctx in
            let alice = try await ctx.newUser()
            let room = ctx.unique("hist")
            try await ctx.join(alice.client, room)
            try await ctx.sendMany(alice.client, room, count: 10)
            let name = try Request.room(room)
            func page(before: Int64? = nil, after: Int64? = nil, limit: Int? = nil) async throws -> ([Int64], Bool) {
                let request = Request.history(room: name, before: before, after: after, limit: limit)
                let reply = try await alice.client.call(request, as: HistoryReply.self, "history \(request)")
                return (reply.messages.map(\.seq), reply.more)
            }
            var result = try await page()
            try checkEqual(result.0, Array(1...10), "history without bounds")
            try checkEqual(result.1, false, "more without bounds")
            result = try await page(limit: 3)
            try checkEqual(result.0, [8, 9, 10], "newest 3")
            try checkEqual(result.1, true, "more for newest 3")
            result = try await page(before: 4, limit: 2)
            try checkEqual(result.0, [2, 3], "before 4 limit 2")
            try checkEqual(result.1, true, "more for before 4 limit 2")
            result = try await page(before: 3, limit: 5)
            try checkEqual(result.0, [1, 2], "before 3")
            try checkEqual(result.1, false, "more for before 3")
            result = try await page(after: 7)
            try checkEqual(result.0, [8, 9, 10], "after 7")
            try checkEqual(result.1, false, "more for after 7")
            result = try await page(after: 2, limit: 3)
            try checkEqual(result.0, [3, 4, 5], "after 2 limit 3")
            try checkEqual(result.1, true, "more for after 2 limit 3")
            result = try await page(after: 0, limit: 10)
            try checkEqual(result.0, Array(1...10), "after 0 limit 10")
            try expectError(
                try await alice.client.request("history", ["room": .string(room), "before": 5, "after": 1]),
                "bad_request",
                "history with before and after"
            )
            try expectError(
                try await alice.client.request("history", ["room": .string(room), "limit": 0]),
                "bad_request",
                "history limit 0"
            )
            let bob = try await ctx.newUser()
            try expectError(
                try await bob.client.request(
                    Request.history(room: try Request.room(room), before: nil, after: nil, limit: nil)
                ),
                "forbidden",
                "history by a non-member"
            )
            try expectError(
                try await bob.client.request(
                    Request.history(room: try Request.room(ctx.unique("no")), before: nil, after: nil, limit: nil)
                ),
                "not_found",
                "history of a missing room"
            )
        },
        ConformanceCase("rooms.mark-read", section: "Rooms") { ctx in
            let alice = try await ctx.newUser()
            let room = ctx.unique("rd")
            try await ctx.join(alice.client, room)
            try await ctx.sendMany(alice.client, room, count: 4)
            let phone = try await ctx.secondConnection(alice)
            _ = try await phone.drainEvents()
            let name = try Request.room(room)
            _ = try await alice.client.call(Request.markRead(room: name, seq: 3), as: EmptyReply.self, "mark_read 3")
            let read = try await phone.nextChatEvent("read")
            try checkEqual(read, .read(room: room, seq: 3), "read event on the other device")
            _ = try await alice.client.call(Request.markRead(room: name, seq: 1), as: EmptyReply.self, "mark_read back")
            try expectError(
                try await alice.client.request(Request.markRead(room: try Request.room(room), seq: 5)),
                "bad_request",
                "mark_read beyond head"
            )
            let events = try await phone.drainChatEvents()
            try check(!events.contains { $0.type == "read" }, "a read event for a marker that did not move")
            let login = try await phone.call(
                Request.login(user: try Request.user(alice.name), password: alice.password),
                as: AuthReply.self,
                "login"
            )
            let entry = login.rooms.first { $0.name == room }
            try checkEqual(entry?.read, 3, "read marker never moves backwards")
            try checkEqual(entry?.head, 4, "head in login reply")
        },
        ConformanceCase("rooms.joined-event", section: "Rooms") { ctx in
            let alice = try await ctx.newUser()
            let bob = try await ctx.newUser()
            let room = ctx.unique("je")
            try await ctx.join(alice.client, room)
            try await ctx.join(bob.client, room)
            let joined = try await alice.client.nextChatEvent("joined")
            try checkEqual(joined, .joined(room: room, user: bob.name), "joined event")
        },
        ConformanceCase("rooms.presence", section: "Rooms") { ctx in
            let alice = try await ctx.newUser()
            let bob = try await ctx.newUser()
            let room = ctx.unique("pr")
            try await ctx.join(alice.client, room)
            try await ctx.join(bob.client, room)
            _ = try await alice.client.drainEvents()
            await bob.client.disconnect()
            let offline = try await alice.client.nextChatEvent("presence")
            try checkEqual(
                offline,
                .presence(user: bob.name, online: false),
                "presence when the last connection closes"
            )
            let back = try await ctx.secondConnection(bob)
            let online = try await alice.client.nextChatEvent("presence")
            try checkEqual(online, .presence(user: bob.name, online: true), "presence when the first connection opens")
            _ = try await ctx.secondConnection(bob)
            let events = try await alice.client.drainChatEvents()
            try check(
                !events.contains { $0.type == "presence" },
                "presence sent for a second connection of a user already online"
            )
            _ = back
        },
        ConformanceCase("rooms.typing", section: "Messages") { ctx in
            let alice = try await ctx.newUser()
            let bob = try await ctx.newUser()
            let room = ctx.unique("ty")
            try await ctx.join(alice.client, room)
            try await ctx.join(bob.client, room)
            _ = try await alice.client.drainEvents()
            _ = try await alice.client.call(Request.typing(room: try Request.room(room)), as: EmptyReply.self, "typing")
            let typing = try await bob.client.nextChatEvent("typing")
            try checkEqual(typing, .typing(room: room, user: alice.name), "typing event")
            let own = try await alice.client.drainChatEvents()
            try check(!own.contains { $0.type == "typing" }, "typing echoed to the typist")
            let carol = try await ctx.newUser()
            try expectError(
                try await carol.client.request(Request.typing(room: try Request.room(room))),
                "forbidden",
                "typing by a non-member"
            )
        },
    ]
}

/// Most senders `rooms.join-since-limited` uses.
let maxSenders = 10

/// How many users must send `history_limit + 5` messages for it to take about ten seconds at the
/// advertised rate (`rate_burst` each, then `rate_per_sec`); nil when more than `maxSenders`.
func limitedSenders(_ limits: Limits) -> Int? {
    let perSender = Double(limits.rateBurst) + 10 * limits.ratePerSec
    guard perSender >= 1 else { return nil }
    let senders = Int((Double(limits.historyLimit + 5) / perSender).rounded(.up))
    return senders <= maxSenders ? max(1, senders) : nil
}
