import ChatCore

/// Replies, edits, deletes and reactions (PROTOCOL.md §7.6–7.9). Each case needs the server to
/// name the feature in its `hello` reply; parts that need another feature run only when that
/// one is advertised too.
extension ConformanceSuite {
    static let changes: [ConformanceCase] = [
        ConformanceCase("changes.refused", section: "Messages", requires: .feature(ServerFeature.edits)) { ctx in
            let alice = try await ctx.newUser()
            let bob = try await ctx.newUser()
            let room = ctx.unique("chg")
            try await ctx.join(alice.client, room)
            try await ctx.join(bob.client, room)
            let name = try Request.room(room)
            let first = try await ctx.sendSeq(alice.client, room, "alice wrote this")
            try expectError(
                try await bob.client.request(Request.edit(room: name, seq: first, text: "bob's words")),
                "forbidden",
                "edit by someone who is not the author"
            )
            try expectError(
                try await alice.client.request(Request.edit(room: name, seq: first + 100, text: "x")),
                "not_found",
                "edit of a seq beyond the head"
            )
            let edit = try await ctx.change(alice.client, .edit(room: name, seq: first, text: "alice rewrote"), "edit")
            try expectError(
                try await alice.client.request(Request.edit(room: name, seq: edit, text: "x")),
                "not_found",
                "edit of an edit event (not a text or action message)"
            )
            if ctx.features.contains(ServerFeature.deletes) {
                try expectError(
                    try await bob.client.request(Request.delete(room: name, seq: first)),
                    "forbidden",
                    "delete by someone who is neither the author nor the room's owner"
                )
            }
            if ctx.features.contains(ServerFeature.reactions) {
                try expectError(
                    try await bob.client.request(Request.unreact(room: name, seq: first, emoji: "👍")),
                    "not_found",
                    "unreact of a reaction the user does not have"
                )
                _ = try await ctx.change(alice.client, .react(room: name, seq: first, emoji: "👍"), "react")
                try expectError(
                    try await bob.client.request(Request.unreact(room: name, seq: first, emoji: "👍")),
                    "not_found",
                    "unreact of another user's reaction"
                )
                try expectError(
                    try await bob.client.request("react", ["room": .string(room), "seq": .int(first), "emoji": "a"]),
                    "bad_request",
                    "react with a letter"
                )
                try expectError(
                    try await bob.client.request("react", ["room": .string(room), "seq": .int(first), "emoji": "👍👍"]),
                    "bad_request",
                    "react with two emoji"
                )
            }
            if ctx.features.contains(ServerFeature.replies) {
                try expectError(
                    try await alice.client.request("send", ["room": .string(room), "text": "re", "reply_to": 9999]),
                    "not_found",
                    "reply_to a seq that does not exist"
                )
            }
            // Nothing refused was stored: the only events are the send, the edit and the react.
            let history = try await ctx.history(alice.client, room)
            let expected: [MessageKind] =
                ctx.features.contains(ServerFeature.reactions) ? [.text, .edit, .react] : [.text, .edit]
            try checkEqual(history.map(\.kind), expected, "kinds of the stored events")
        },
        ConformanceCase("changes.edit-and-delete", section: "Messages", requires: .feature(ServerFeature.deletes)) {
            ctx in
            let alice = try await ctx.newUser()
            let bob = try await ctx.newUser()
            let room = ctx.unique("del")
            try await ctx.join(alice.client, room)
            try await ctx.join(bob.client, room)
            let name = try Request.room(room)
            let seq = try await ctx.sendSeq(alice.client, room, "secret words")
            _ = try await bob.client.nextMessage()
            var editSeq: Int64?
            if ctx.features.contains(ServerFeature.edits) {
                let edit = try await ctx.change(
                    alice.client,
                    .edit(room: name, seq: seq, text: "more secret words"),
                    "edit"
                )
                let event = try await bob.client.nextMessage()
                try checkEqual(event.seq, edit, "edit event seq")
                try checkEqual(event.kind, .edit, "edit event kind")
                try checkEqual(event.target, seq, "edit event target")
                try checkEqual(event.text, "more secret words", "edit event text")
                try checkEqual(event.from, alice.name, "edit event from")
                editSeq = edit
            }
            let delete = try await ctx.change(alice.client, .delete(room: name, seq: seq), "delete by the author")
            let raw = try await bob.client.nextEvent("message")
            try checkEqual(raw["kind"]?.stringValue, "delete", "delete event kind")
            try checkEqual(raw["target"]?.intValue, seq, "delete event target")
            try checkEqual(raw["seq"]?.intValue, delete, "delete event seq")
            try check(raw["text"] == nil, "a delete event carries no text: \(JSONValue.object(raw).jsonString)")
            let list = try messageList(
                try await alice.client.request(Request.history(room: name, before: nil, after: nil, limit: nil))
            )
            try checkEqual(seqs(list), Array(1...delete), "history holds every event in seq order")
            guard let tombstone = list.first(where: { $0["seq"]?.intValue == seq }) else {
                throw ConformanceFailure("history lost the deleted message")
            }
            try checkEqual(tombstone["deleted"], .bool(true), "deleted in history")
            try check(
                tombstone["text"] == nil,
                "a deleted message keeps a text: \(JSONValue.object(tombstone).jsonString)"
            )
            try check(tombstone["edited_ts"] == nil, "a deleted message keeps edited_ts")
            try check(tombstone["reactions"] == nil, "a deleted message keeps reactions")
            if let editSeq, let edit = list.first(where: { $0["seq"]?.intValue == editSeq }) {
                try check(edit["text"] == nil, "the deleted message's edit event keeps its text")
                try checkEqual(edit["target"]?.intValue, seq, "edit event target in history")
            }
            let joined = try await ctx.joined(bob.client, room, since: seq - 1)
            try checkEqual(joined.messages.first?.deleted, true, "deleted in a join backlog")
            try checkEqual(joined.messages.first?.text, "", "no text in a join backlog")
            try expectError(
                try await alice.client.request(Request.delete(room: name, seq: seq)),
                "not_found",
                "delete of a deleted message"
            )
            if ctx.features.contains(ServerFeature.edits) {
                try expectError(
                    try await alice.client.request(Request.edit(room: name, seq: seq, text: "back")),
                    "not_found",
                    "edit of a deleted message"
                )
            }
            if ctx.features.contains(ServerFeature.privateRooms) {
                // A room's owner deletes anyone's message.
                let owned = ctx.unique("own")
                try await ctx.create(alice.client, owned)
                try await ctx.invite(alice.client, owned, bob.name)
                try await ctx.joined(bob.client, owned)
                let bobs = try await ctx.sendSeq(bob.client, owned, "bob's message")
                _ = try await ctx.change(
                    alice.client,
                    .delete(room: try Request.room(owned), seq: bobs),
                    "delete by the room's owner"
                )
            }
        },
        ConformanceCase("changes.react-twice", section: "Messages", requires: .feature(ServerFeature.reactions)) {
            ctx in
            let alice = try await ctx.newUser()
            let bob = try await ctx.newUser()
            let room = ctx.unique("rx")
            try await ctx.join(alice.client, room)
            try await ctx.join(bob.client, room)
            let name = try Request.room(room)
            let seq = try await ctx.sendSeq(bob.client, room, "react to me")
            let first = try expectReply(
                try await alice.client.request(Request.react(room: name, seq: seq, emoji: "🎉")),
                as: SendReply.self,
                "react"
            )
            let second = try expectReply(
                try await alice.client.request(Request.react(room: name, seq: seq, emoji: "🎉")),
                as: SendReply.self,
                "the same react again"
            )
            try checkEqual(second.seq, first.seq, "a repeated reaction is answered with the original seq")
            try checkEqual(second.ts, first.ts, "a repeated reaction is answered with the original ts")
            try checkEqual(first.seq, seq + 1, "the reaction's seq")
            let after = try await ctx.sendSeq(alice.client, room, "next")
            try checkEqual(after, seq + 2, "the head advanced by one for two identical reactions")
            let events = try await bob.client.drainChatEvents().compactMap { event -> ChatMessage? in
                if case .message(let m) = event { return m }
                return nil
            }
            try checkEqual(events.map(\.seq), [seq, seq + 1, seq + 2], "message events seen by the other member")
            let reacts = events.filter { $0.kind == .react }
            try checkEqual(reacts.count, 1, "react events seen by the other member")
            try checkEqual(reacts.first?.emoji, "🎉", "react event emoji")
            try checkEqual(reacts.first?.target, seq, "react event target")
            try checkEqual(reacts.first?.from, alice.name, "react event from")
            let history = try await ctx.history(bob.client, room)
            try checkEqual(
                history.first { $0.seq == seq }?.reactions,
                [Reaction(emoji: "🎉", users: [alice.name])],
                "reactions in history"
            )
        },
        ConformanceCase("changes.reply", section: "Messages", requires: .feature(ServerFeature.replies)) { ctx in
            let alice = try await ctx.newUser()
            let room = ctx.unique("re")
            try await ctx.join(alice.client, room)
            let seq = try await ctx.sendSeq(alice.client, room, "question?")
            let reply = try expectReply(
                try await alice.client.request(
                    Request.send(room: try Request.room(room), text: "answer", kind: .text, nonce: nil, replyTo: seq)
                ),
                as: SendReply.self,
                "send with reply_to"
            )
            _ = try await alice.client.nextMessage()
            let event = try await alice.client.nextMessage()
            try checkEqual(event.seq, reply.seq, "reply event seq")
            try checkEqual(event.replyTo, seq, "reply_to in the event")
            try checkEqual(try await ctx.history(alice.client, room).last?.replyTo, seq, "reply_to in history")
            try expectError(
                try await alice.client.request("send", ["room": .string(room), "text": "x", "reply_to": 0]),
                "bad_request",
                "reply_to 0"
            )
        },
        ConformanceCase("changes.resume", section: "Messages", requires: .feature(ServerFeature.edits)) { ctx in
            let features = Set(ctx.features)
            let alice = try await ctx.newUser()
            let bob = try await ctx.newUser()
            let carol = try await ctx.newUser()
            let room = ctx.unique("res")
            let name = try Request.room(room)
            try await ctx.join(alice.client, room)
            var stayed = Timeline()
            var left = Timeline()
            try stayed.take(try await ctx.joined(bob.client, room).messages)
            let carolJoin = try await ctx.joined(carol.client, room)
            try left.take(carolJoin.messages)
            var head: Int64 = 0
            for text in ["one", "two", "three"] { head = try await ctx.sendSeq(alice.client, room, text) }
            while left.head < head { try left.take([try await carol.client.nextMessage()]) }
            await carol.client.disconnect()
            // While carol is away: edits, deletes, reactions and a reply.
            let changes: [(WireClient, Request, String)] =
                [
                    (alice.client, .edit(room: name, seq: 1, text: "one, edited"), "edit 1"),
                    (alice.client, .edit(room: name, seq: 1, text: "one, edited twice"), "edit 1 again"),
                    (alice.client, .edit(room: name, seq: 2, text: "two, edited"), "edit 2"),
                ]
                + (features.contains(ServerFeature.reactions)
                    ? [
                        (bob.client, .react(room: name, seq: 1, emoji: "👍"), "bob reacts to 1"),
                        (alice.client, .react(room: name, seq: 1, emoji: "👍"), "alice reacts to 1"),
                        (alice.client, .react(room: name, seq: 1, emoji: "🎉"), "alice reacts to 1 again"),
                        (bob.client, .react(room: name, seq: 3, emoji: "❤️"), "bob reacts to 3"),
                        (bob.client, .react(room: name, seq: 2, emoji: "👀"), "bob reacts to 2"),
                        (bob.client, .unreact(room: name, seq: 1, emoji: "👍"), "bob takes his reaction back"),
                    ] : [])
                + (features.contains(ServerFeature.deletes)
                    ? [(alice.client, .delete(room: name, seq: 2), "delete 2")] : [])
                + (features.contains(ServerFeature.replies)
                    ? [(bob.client, .send(room: name, text: "re: one", kind: .text, nonce: nil, replyTo: 1), "reply")]
                    : [])
            for (client, request, what) in changes {
                let seq = try expectReply(try await client.request(request), as: SendReply.self, what).seq
                try checkEqual(seq, head + 1, "\(what): seq")
                head = seq
            }
            if features.contains(ServerFeature.reactions) {
                // A reaction to the reply, and a repeat that must not make an event.
                let target = features.contains(ServerFeature.replies) ? head : 3
                for what in ["alice reacts", "alice reacts again"] {
                    let seq = try expectReply(
                        try await alice.client.request(Request.react(room: name, seq: target, emoji: "🙂")),
                        as: SendReply.self,
                        what
                    ).seq
                    if what == "alice reacts" {
                        try checkEqual(seq, head + 1, "\(what): seq")
                        head = seq
                    }
                }
            }
            while stayed.head < head { try stayed.take([try await bob.client.nextMessage()]) }
            let extra = try await bob.client.drainChatEvents().filter { if case .message = $0 { true } else { false } }
            try check(extra.isEmpty, "message events beyond the last change (a repeated reaction?): \(extra)")
            // Carol comes back and catches up with since.
            let back = try await ctx.secondConnection(carol)
            let resumed = try await ctx.joined(back, room, since: left.head, epoch: carolJoin.room.epoch)
            try checkEqual(resumed.reset, false, "reset")
            try checkEqual(resumed.room.head, head, "head after the changes")
            try checkEqual(
                resumed.messages.map(\.seq),
                Array((left.head + 1)...head),
                "the since backlog holds every change, in order"
            )
            try left.take(resumed.messages)
            try checkEqual(left.head, head, "resumed head")
            let history = try await ctx.history(alice.client, room, limit: Int(head))
            try checkEqual(history.map(\.seq), Array(1...head), "history seqs")
            var current = Timeline()
            try current.take(history)
            try checkEqual(current.messages.keys.sorted(), stayed.messages.keys.sorted(), "messages in history")
            for (seq, expected) in stayed.messages.sorted(by: { $0.key < $1.key }) {
                for (who, timeline) in [("the resumed client", left), ("history", current)] {
                    guard let actual = timeline.messages[seq] else {
                        throw ConformanceFailure("\(who) has no message \(seq)")
                    }
                    try checkEqual(actual.text, expected.text, "\(who), message \(seq): text")
                    try checkEqual(actual.editedTs, expected.editedTs, "\(who), message \(seq): edited_ts")
                    try checkEqual(actual.deleted, expected.deleted, "\(who), message \(seq): deleted")
                    try checkEqual(actual.reactions, expected.reactions, "\(who), message \(seq): reactions")
                    try checkEqual(actual.replyTo, expected.replyTo, "\(who), message \(seq): reply_to")
                }
            }
            // The client that stayed saw what was done.
            try checkEqual(stayed.messages[1]?.text, "one, edited twice", "the latest edit wins")
            try check(stayed.messages[1]?.editedTs != nil, "edited_ts of an edited message")
            if features.contains(ServerFeature.reactions) {
                try checkEqual(
                    stayed.messages[1]?.reactions,
                    [Reaction(emoji: "👍", users: [alice.name]), Reaction(emoji: "🎉", users: [alice.name])],
                    "reactions of message 1"
                )
            }
            if features.contains(ServerFeature.deletes) {
                try checkEqual(stayed.messages[2]?.deleted, true, "message 2 is deleted")
                try checkEqual(stayed.messages[2]?.reactions, [], "a deleted message has no reactions")
            }
            for message in history + resumed.messages + stayed.seen {
                try check(message.kind != .unknown, "an unknown kind appeared: \(message)")
            }
        },
        ConformanceCase("changes.concurrent-edits", section: "Messages", requires: .feature(ServerFeature.edits)) {
            ctx in
            let alice = try await ctx.newUser()
            let other = try await ctx.secondConnection(alice)
            let room = ctx.unique("race")
            let name = try Request.room(room)
            try await ctx.join(alice.client, room)
            for round in 0..<5 {
                let seq = try await ctx.sendSeq(alice.client, room, "round \(round)")
                let texts = ["from one \(round)", "from two \(round)"]
                let ids = ["e\(round)a", "e\(round)b"]
                // Both edits leave before either reply is read.
                try await alice.client.send(try Request.edit(room: name, seq: seq, text: texts[0]).json(id: ids[0]))
                try await other.send(try Request.edit(room: name, seq: seq, text: texts[1]).json(id: ids[1]))
                let a = try expectReply(try await alice.client.reply(to: ids[0]), as: SendReply.self, "first edit")
                let b = try expectReply(try await other.reply(to: ids[1]), as: SendReply.self, "second edit")
                try check(a.seq != b.seq, "two edits got the same seq \(a.seq)")
                try check(max(a.seq, b.seq) == seq + 2 && min(a.seq, b.seq) == seq + 1, "edit seqs follow the message")
                let later = a.seq > b.seq ? (texts[0], a.ts) : (texts[1], b.ts)
                let message = try await ctx.history(other, room).first { $0.seq == seq }
                try checkEqual(message?.text, later.0, "round \(round): the text of the later seq's edit")
                try checkEqual(message?.editedTs, later.1, "round \(round): edited_ts of the later edit")
            }
        },
    ]
}

/// What a client that follows a room holds: its `text`/`action` messages by seq, with every
/// change event applied by `MessageChanges` as it arrives.
struct Timeline {
    /// The room's text and action messages, by seq, in their current state.
    var messages: [Int64: ChatMessage] = [:]
    /// The highest seq taken.
    var head: Int64 = 0
    /// Every message taken, in order.
    var seen: [ChatMessage] = []

    /// Takes messages in seq order (a backlog, history or events): a `text`/`action`
    /// message is stored as it is, a change is applied to its target, an unknown kind only
    /// counts. A seq at or below the head is a duplicate and skipped.
    ///
    /// - Parameters:
    ///   - list: the messages.
    mutating func take(_ list: [ChatMessage]) throws {
        for message in list where message.seq > head {
            guard message.seq == head + 1 || head == 0 else {
                throw ConformanceFailure("a gap: seq \(message.seq) after \(head)")
            }
            head = message.seq
            seen.append(message)
            if message.isContent {
                messages[message.seq] = message
            } else if let target = message.target, var stored = messages[target] {
                MessageChanges.apply(message, to: &stored)
                messages[target] = stored
            }
        }
    }
}

extension ConformanceContext {
    /// One message, which must be accepted; returns its seq.
    func sendSeq(_ client: WireClient, _ room: String, _ text: String) async throws -> Int64 {
        let reply = try await client.request(
            Request.send(room: try Request.room(room), text: text, kind: .text, nonce: nil)
        )
        return try expectReply(reply, as: SendReply.self, "send to \(room)").seq
    }

    /// A change request (`edit`, `delete`, `react`, `unreact`) that must be accepted; returns its seq.
    func change(_ client: WireClient, _ request: Request, _ what: String) async throws -> Int64 {
        try expectReply(try await client.request(request), as: SendReply.self, what).seq
    }

    /// The newest messages of a room (up to `limit`), decoded.
    func history(_ client: WireClient, _ room: String, limit: Int? = nil) async throws -> [ChatMessage] {
        try messages(
            try await client.request(
                Request.history(room: try Request.room(room), before: nil, after: nil, limit: limit)
            )
        )
    }
}
