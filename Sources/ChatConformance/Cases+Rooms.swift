import ChatCore
import Synchronization

extension ConformanceSuite {
    static let rooms: [ConformanceCase] = [
        ConformanceCase("rooms.join-creates-room", section: "Rooms") { ctx in
            let user = try await ctx.newUser()
            let room = ctx.unique("Créé")
            let reply = try await ctx.join(user.client, room)
            let info = reply["room"]?.objectValue ?? [:]
            try checkEqual(info["name"]?.stringValue, room, "room name")
            try checkEqual(info["topic"]?.stringValue, "", "topic of a new room")
            try checkEqual(info["head"]?.intValue, 0, "head of a new room")
            try check(info["epoch"]?.stringValue?.isEmpty == false, "join reply carries an epoch string")
            try checkEqual(try messageList(reply).count, 0, "messages of a new room")
            try checkEqual(reply["limited"]?.boolValue, false, "limited for a new room")
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
            let first = try await ctx.join(bob.client, room)
            try checkEqual(seqs(try messageList(first)), [1, 2, 3], "backlog of a small room, oldest first")
            try checkEqual(first["limited"]?.boolValue, false, "limited with all history included")
            try checkEqual(first["room"]?.objectValue?["head"]?.intValue, 3, "head")
            try await ctx.sendMany(alice.client, room, count: 52)
            let carol = try await ctx.newUser()
            let second = try await ctx.join(carol.client, room)
            try checkEqual(seqs(try messageList(second)), Array(6...55), "the newest 50 messages")
            try checkEqual(second["limited"]?.boolValue, true, "limited when older messages exist")
        },
        ConformanceCase("rooms.join-since", section: "Rooms") { ctx in
            let alice = try await ctx.newUser()
            let room = ctx.unique("since")
            let first = try await ctx.join(alice.client, room)
            let epoch = first["room"]?.objectValue?["epoch"] ?? .null
            try await ctx.sendMany(alice.client, room, count: 5)
            let other = try await ctx.secondConnection(alice)
            let reply = try await ctx.join(other, room, ["since": 2, "epoch": epoch])
            try checkEqual(seqs(try messageList(reply)), [3, 4, 5], "messages after since")
            try checkEqual(reply["limited"]?.boolValue, false, "limited")
            try check(reply["reset"]?.boolValue != true, "no reset with the right epoch")
            let all = try await ctx.join(other, room, ["since": 0])
            try checkEqual(seqs(try messageList(all)), [1, 2, 3, 4, 5], "since 0 without epoch")
            let none = try await ctx.join(other, room, ["since": 5, "epoch": epoch])
            try checkEqual(seqs(try messageList(none)), [], "since == head")
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
            requires: Requirement("history_limit <= 100 and one user can send history_limit + 5 in 10 s") {
                $0.historyLimit <= 100 && Double($0.rateBurst) + 10 * $0.ratePerSec >= Double($0.historyLimit + 5)
            }
        ) { ctx in
            let alice = try await ctx.newUser()
            let room = ctx.unique("lim")
            try await ctx.join(alice.client, room)
            let total = ctx.limits.historyLimit + 5
            try await ctx.sendMany(alice.client, room, count: total)
            let other = try await ctx.secondConnection(alice)
            let reply = try await ctx.join(other, room, ["since": 0])
            try checkEqual(seqs(try messageList(reply)), Array(6...Int64(total)), "newest history_limit messages")
            try checkEqual(reply["limited"]?.boolValue, true, "limited")
            let history = try expectOK(
                try await other.request("history", ["room": .string(room), "limit": .int(Int64(total) * 10)]),
                "history with a limit above history_limit"
            )
            try checkEqual(try messageList(history).count, ctx.limits.historyLimit, "limit is clamped to history_limit")
        },
        ConformanceCase("rooms.join-epoch-mismatch-resets", section: "Rooms") { ctx in
            let alice = try await ctx.newUser()
            let room = ctx.unique("ep")
            try await ctx.join(alice.client, room)
            try await ctx.sendMany(alice.client, room, count: 3)
            let reply = try await ctx.join(alice.client, room, ["since": 2, "epoch": "some-other-epoch"])
            try checkEqual(reply["reset"]?.boolValue, true, "reset with a foreign epoch")
            try checkEqual(seqs(try messageList(reply)), [1, 2, 3], "since is ignored when the epoch differs")
        },
        ConformanceCase("rooms.join-again-no-duplicates", section: "Rooms") { ctx in
            let alice = try await ctx.newUser()
            let bob = try await ctx.newUser()
            let room = ctx.unique("again")
            try await ctx.join(alice.client, room)
            try await ctx.join(bob.client, room)
            try await ctx.sendMany(alice.client, room, count: 2)
            let again = try await ctx.join(bob.client, room)
            try checkEqual(again["room"]?.objectValue?["head"]?.intValue, 2, "head on joining again")
            bob.client.clearEvents()
            try await ctx.sendMany(alice.client, room, count: 1, prefix: "x")
            let message = try await bob.client.nextEvent("message")
            try checkEqual(message["seq"]?.intValue, 3, "seq of the next message")
            let rest = try await bob.client.drainEvents().filter { $0["type"]?.stringValue == "message" }
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
                    try expectOK(try await c.request("resume", ["token": .string(senderToken)]), "resume sender")
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
                        let fields: JSONObject = j % 2 == 0 ? ["since": 0] : [:]
                        let reply = try await ctx.join(user.client, room, fields)
                        var seen = seqs(try messageList(reply))
                        let head = reply["room"]?.objectValue?["head"]?.intValue ?? -1
                        try checkEqual(seen.last ?? 0, head, "joiner \(j): backlog ends at head")
                        while (seen.last ?? 0) < Int64(total) {
                            let event = try await user.client.nextEvent("message")
                            seen.append(event["seq"]?.intValue ?? -1)
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
            try expectOK(try await bob.client.request("leave", ["room": .string(room)]), "leave")
            let left = try await alice.client.nextEvent("left")
            try checkEqual(left["user"]?.stringValue, bob.name, "left event user")
            try checkEqual(left["room"]?.stringValue, room, "left event room")
            try expectError(
                try await bob.client.request("send", ["room": .string(room), "text": "still here?"]),
                "forbidden",
                "send after leave"
            )
            try expectError(try await bob.client.request("leave", ["room": .string(room)]), "forbidden", "leave twice")
            try expectError(
                try await bob.client.request("leave", ["room": .string(ctx.unique("none"))]),
                "not_found",
                "leave a room that does not exist"
            )
            try await ctx.sendMany(alice.client, room, count: 1)
            let events = try await bob.client.drainEvents()
            try check(!events.contains { $0["type"]?.stringValue == "message" }, "message delivered after leave")
        },
        ConformanceCase("rooms.list", section: "Rooms") { ctx in
            let alice = try await ctx.newUser()
            let names = [ctx.unique("b"), ctx.unique("B"), ctx.unique("a"), ctx.unique("日本")]
            for name in names { try await ctx.join(alice.client, name) }
            try await ctx.sendMany(alice.client, names[0], count: 2)
            let reply = try expectOK(try await alice.client.request("rooms"), "rooms")
            let list = reply["rooms"]?.arrayValue?.compactMap(\.objectValue) ?? []
            let all = list.compactMap { $0["name"]?.stringValue }
            try checkEqual(
                all,
                all.sorted { $0.unicodeScalars.lexicographicallyPrecedes($1.unicodeScalars) { $0.value < $1.value } },
                "rooms sorted by code point"
            )
            for name in names {
                guard let entry = list.first(where: { $0["name"]?.stringValue == name }) else {
                    throw ConformanceFailure("rooms does not list \(name)")
                }
                try checkEqual(entry["members"]?.intValue, 1, "members of \(name)")
                try checkEqual(entry["head"]?.intValue, name == names[0] ? 2 : 0, "head of \(name)")
                try check(entry["topic"]?.stringValue != nil, "topic of \(name)")
            }
        },
        ConformanceCase("rooms.members", section: "Rooms") { ctx in
            let alice = try await ctx.newUser()
            let bob = try await ctx.newUser()
            let room = ctx.unique("mem")
            try await ctx.join(alice.client, room)
            try await ctx.join(bob.client, room)
            await bob.client.disconnect()
            let offline = try await alice.client.nextEvent("presence")
            try checkEqual(offline["online"]?.boolValue, false, "presence after bob disconnected")
            let reply = try expectOK(try await alice.client.request("members", ["room": .string(room)]), "members")
            let list = reply["members"]?.arrayValue?.compactMap(\.objectValue) ?? []
            let entries = Dictionary(
                uniqueKeysWithValues: list.compactMap { o -> (String, Bool)? in
                    guard let u = o["user"]?.stringValue, let on = o["online"]?.boolValue else { return nil }
                    return (u, on)
                }
            )
            try checkEqual(entries, [alice.name: true, bob.name: false], "members with online flags")
            let carol = try await ctx.newUser()
            try expectError(
                try await carol.client.request("members", ["room": .string(room)]),
                "forbidden",
                "members of a room one is not in"
            )
            try expectError(
                try await carol.client.request("members", ["room": .string(ctx.unique("nope"))]),
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
            try expectOK(
                try await alice.client.request("topic", ["room": .string(room), "topic": "会議は明日 🗓"]),
                "topic"
            )
            let event = try await bob.client.nextEvent("topic")
            try checkEqual(event["topic"]?.stringValue, "会議は明日 🗓", "topic event text")
            try checkEqual(event["by"]?.stringValue, alice.name, "topic event by")
            try checkEqual(event["room"]?.stringValue, room, "topic event room")
            let info = try await ctx.join(bob.client, room)
            try checkEqual(info["room"]?.objectValue?["topic"]?.stringValue, "会議は明日 🗓", "topic in join reply")
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
                try await carol.client.request("topic", ["room": .string(room), "topic": "mine"]),
                "forbidden",
                "topic by a non-member"
            )
        },
        ConformanceCase("rooms.history-paging", section: "Rooms") { ctx in
            let alice = try await ctx.newUser()
            let room = ctx.unique("hist")
            try await ctx.join(alice.client, room)
            try await ctx.sendMany(alice.client, room, count: 10)
            func page(_ fields: JSONObject) async throws -> ([Int64], Bool?) {
                var all: JSONObject = ["room": .string(room)]
                all.fields.append(contentsOf: fields.fields)
                let reply = try expectOK(try await alice.client.request("history", all), "history \(all)")
                return (seqs(try messageList(reply)), reply["more"]?.boolValue)
            }
            var result = try await page([:])
            try checkEqual(result.0, Array(1...10), "history without bounds")
            try checkEqual(result.1, false, "more without bounds")
            result = try await page(["limit": 3])
            try checkEqual(result.0, [8, 9, 10], "newest 3")
            try checkEqual(result.1, true, "more for newest 3")
            result = try await page(["before": 4, "limit": 2])
            try checkEqual(result.0, [2, 3], "before 4 limit 2")
            try checkEqual(result.1, true, "more for before 4 limit 2")
            result = try await page(["before": 3, "limit": 5])
            try checkEqual(result.0, [1, 2], "before 3")
            try checkEqual(result.1, false, "more for before 3")
            result = try await page(["after": 7])
            try checkEqual(result.0, [8, 9, 10], "after 7")
            try checkEqual(result.1, false, "more for after 7")
            result = try await page(["after": 2, "limit": 3])
            try checkEqual(result.0, [3, 4, 5], "after 2 limit 3")
            try checkEqual(result.1, true, "more for after 2 limit 3")
            result = try await page(["after": 0, "limit": 10])
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
                try await bob.client.request("history", ["room": .string(room)]),
                "forbidden",
                "history by a non-member"
            )
            try expectError(
                try await bob.client.request("history", ["room": .string(ctx.unique("no"))]),
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
            try expectOK(try await alice.client.request("mark_read", ["room": .string(room), "seq": 3]), "mark_read 3")
            let read = try await phone.nextEvent("read")
            try checkEqual(read["seq"]?.intValue, 3, "read event seq on the other device")
            try checkEqual(read["room"]?.stringValue, room, "read event room")
            try expectOK(
                try await alice.client.request("mark_read", ["room": .string(room), "seq": 1]),
                "mark_read back"
            )
            try expectError(
                try await alice.client.request("mark_read", ["room": .string(room), "seq": 5]),
                "bad_request",
                "mark_read beyond head"
            )
            let events = try await phone.drainEvents()
            try check(
                !events.contains { $0["type"]?.stringValue == "read" },
                "a read event for a marker that did not move"
            )
            let login = try expectOK(
                try await phone.request("login", ["user": .string(alice.name), "password": .string(alice.password)]),
                "login"
            )
            let entry = login["rooms"]?.arrayValue?.compactMap(\.objectValue).first { $0["name"]?.stringValue == room }
            try checkEqual(entry?["read"]?.intValue, 3, "read marker never moves backwards")
            try checkEqual(entry?["head"]?.intValue, 4, "head in login reply")
        },
        ConformanceCase("rooms.joined-event", section: "Rooms") { ctx in
            let alice = try await ctx.newUser()
            let bob = try await ctx.newUser()
            let room = ctx.unique("je")
            try await ctx.join(alice.client, room)
            try await ctx.join(bob.client, room)
            let joined = try await alice.client.nextEvent("joined")
            try checkEqual(joined["user"]?.stringValue, bob.name, "joined event user")
            try checkEqual(joined["room"]?.stringValue, room, "joined event room")
        },
        ConformanceCase("rooms.presence", section: "Rooms") { ctx in
            let alice = try await ctx.newUser()
            let bob = try await ctx.newUser()
            let room = ctx.unique("pr")
            try await ctx.join(alice.client, room)
            try await ctx.join(bob.client, room)
            _ = try await alice.client.drainEvents()
            await bob.client.disconnect()
            let offline = try await alice.client.nextEvent("presence")
            try checkEqual(offline["user"]?.stringValue, bob.name, "presence user")
            try checkEqual(offline["online"]?.boolValue, false, "presence when the last connection closes")
            let back = try await ctx.secondConnection(bob)
            let online = try await alice.client.nextEvent("presence")
            try checkEqual(online["online"]?.boolValue, true, "presence when the first connection opens")
            _ = try await ctx.secondConnection(bob)
            let events = try await alice.client.drainEvents()
            try check(
                !events.contains { $0["type"]?.stringValue == "presence" },
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
            try expectOK(try await alice.client.request("typing", ["room": .string(room)]), "typing")
            let typing = try await bob.client.nextEvent("typing")
            try checkEqual(typing["user"]?.stringValue, alice.name, "typing user")
            try checkEqual(typing["room"]?.stringValue, room, "typing room")
            let own = try await alice.client.drainEvents()
            try check(!own.contains { $0["type"]?.stringValue == "typing" }, "typing echoed to the typist")
            let carol = try await ctx.newUser()
            try expectError(
                try await carol.client.request("typing", ["room": .string(room)]),
                "forbidden",
                "typing by a non-member"
            )
        },
    ]
}
