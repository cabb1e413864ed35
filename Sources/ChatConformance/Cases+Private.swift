import ChatCore

/// Private rooms, invitations, kicks and direct messages (PROTOCOL.md §14). Each case needs the
/// server to name the feature in its `hello` reply.
extension ConformanceSuite {
    static let privateRooms: [ConformanceCase] = [
        ConformanceCase("private.create", section: "Private rooms", requires: .feature(ServerFeature.privateRooms)) {
            ctx in
            let alice = try await ctx.newUser()
            let room = ctx.unique("priv")
            let created = try await ctx.create(alice.client, room, topic: "plans")
            try checkEqual(created.room, room, "create: room")
            try checkEqual(created.head, 0, "create: head")
            try check(!created.epoch.isEmpty, "create: epoch is empty")
            // The creator's connection is subscribed as by join.
            try await ctx.sendMany(alice.client, room, count: 1)
            try checkEqual(try await alice.client.nextMessage().room, room, "message in the created room")
            let entry = try await ctx.listing(alice.client, room)
            try checkEqual(entry?.visibility, .private, "visibility in rooms")
            try checkEqual(entry?.owner, alice.name, "owner in rooms")
            try checkEqual(entry?.topic, "plans", "topic in rooms")
            try expectError(
                try await alice.client.request(
                    Request.create(room: try Request.room(room), visibility: .public, topic: nil)
                ),
                "conflict",
                "create of a room that exists"
            )
            try expectError(
                try await alice.client.request("create", ["room": .string("@" + alice.name), "visibility": "private"]),
                "bad_request",
                "create of a direct-message name"
            )
            try expectError(
                try await alice.client.request("create", ["room": .string(ctx.unique("v")), "visibility": "secret"]),
                "bad_request",
                "create with an unknown visibility"
            )
        },
        ConformanceCase(
            "private.invisible-to-non-members",
            section: "Private rooms",
            requires: .feature(ServerFeature.privateRooms)
        ) { ctx in
            let alice = try await ctx.newUser()
            let carol = try await ctx.newUser()
            let room = ctx.unique("hidden")
            try await ctx.create(alice.client, room)
            let word = "w" + String(ctx.unique("word").filter { $0 != "_" })
            try await ctx.send(alice.client, room, "the \(word) is here")
            try check(try await ctx.listing(carol.client, room) == nil, "rooms lists a private room to a non-member")
            let name = try Request.room(room)
            try expectError(
                try await carol.client.request(Request.join(room: name, since: nil, epoch: nil)),
                "forbidden",
                "join of a private room by a non-member"
            )
            let refused: [(String, Request)] = [
                ("history", .history(room: name, before: nil, after: nil, limit: nil)),
                ("members", .members(room: name)),
                ("topic", .topic(room: name, topic: "mine")),
                ("send", .send(room: name, text: "hi", kind: .text, nonce: nil)),
                ("mark_read", .markRead(room: name, seq: 0)),
                ("typing", .typing(room: name)),
            ]
            for (what, request) in refused {
                try expectError(try await carol.client.request(request), "forbidden", "\(what) by a non-member")
            }
            let events = try await carol.client.drainChatEvents()
            try check(events.isEmpty, "a non-member received events: \(events)")
            if try await ctx.searchFinds(alice.client, word, in: room) {
                try check(
                    !(try await ctx.searchFinds(carol.client, word, in: room, wait: false)),
                    "search by a non-member"
                )
            }
        },
        ConformanceCase("private.invite", section: "Private rooms", requires: .feature(ServerFeature.privateRooms)) {
            ctx in
            let alice = try await ctx.newUser()
            let bob = try await ctx.newUser()
            let carol = try await ctx.newUser()
            let room = ctx.unique("inv")
            try await ctx.create(alice.client, room)
            try await ctx.send(alice.client, room, "before bob")
            try await ctx.invite(alice.client, room, bob.name)
            try checkEqual(
                try await bob.client.nextChatEvent("added"),
                .added(room: room, by: alice.name, visibility: .private),
                "added event to the invited user"
            )
            try checkEqual(
                try await alice.client.nextChatEvent("joined"),
                .joined(room: room, user: bob.name),
                "joined event to the room"
            )
            try checkEqual(try await ctx.listing(bob.client, room)?.visibility, .private, "rooms of an invited user")
            let resumed = try await ctx.helloClient()
            let auth = try await resumed.call(Request.resume(token: bob.token), as: AuthReply.self, "resume")
            guard let entry = auth.rooms.first(where: { $0.name == room }) else {
                throw ConformanceFailure("resume does not list the private room of an invited user")
            }
            try checkEqual(entry.visibility, .private, "visibility in the resume room list")
            try checkEqual(entry.head, 1, "head in the resume room list")
            let joined = try await ctx.joined(bob.client, room)
            try checkEqual(joined.messages.map(\.text), ["before bob"], "an invited user's join backlog")
            // Any member invites; a non-member cannot; an unknown user is not_found.
            try await ctx.invite(bob.client, room, carol.name)
            _ = try await carol.client.nextChatEvent("added")
            let dave = try await ctx.newUser()
            try expectError(
                try await dave.client.request(
                    Request.invite(room: try Request.room(room), user: try Request.user(dave.name))
                ),
                "forbidden",
                "invite by a non-member"
            )
            try expectError(
                try await alice.client.request(
                    Request.invite(room: try Request.room(room), user: try Request.user(ctx.unique("nobody")))
                ),
                "not_found",
                "invite of an unknown user"
            )
        },
        ConformanceCase("private.kick", section: "Private rooms", requires: .feature(ServerFeature.privateRooms)) {
            ctx in
            let alice = try await ctx.newUser()
            let bob = try await ctx.newUser()
            let room = ctx.unique("kick")
            try await ctx.create(alice.client, room)
            try await ctx.invite(alice.client, room, bob.name)
            try await ctx.joined(bob.client, room)
            let word = "k" + String(ctx.unique("word").filter { $0 != "_" })
            try await ctx.send(alice.client, room, "a \(word) before the kick")
            let searchable = try await ctx.searchFinds(bob.client, word, in: room)
            let kick = { (by: WireClient, user: String) in
                try await by.request(Request.kick(room: try Request.room(room), user: try Request.user(user)))
            }
            try expectError(
                try await kick(bob.client, alice.name),
                "forbidden",
                "kick by a member who is not the owner"
            )
            alice.client.clearEvents()
            bob.client.clearEvents()
            _ = try expectOK(try await kick(alice.client, bob.name), "kick by the owner")
            try checkEqual(
                try await bob.client.nextChatEvent("removed"),
                .removed(room: room, by: alice.name),
                "removed event to the kicked user"
            )
            try checkEqual(
                try await alice.client.nextChatEvent("left"),
                .left(room: room, user: bob.name),
                "left event to the room"
            )
            try await ctx.send(alice.client, room, "after the kick")
            _ = try await alice.client.request(Request.topic(room: try Request.room(room), topic: "after"))
            let after = try await bob.client.drainChatEvents()
            try check(after.isEmpty, "a kicked user received \(after)")
            try check(try await ctx.listing(bob.client, room) == nil, "rooms lists the room to a kicked user")
            try expectError(
                try await bob.client.request(
                    Request.history(room: try Request.room(room), before: nil, after: nil, limit: nil)
                ),
                "forbidden",
                "history by a kicked user"
            )
            try expectError(
                try await bob.client.request(Request.join(room: try Request.room(room), since: nil, epoch: nil)),
                "forbidden",
                "join by a kicked user"
            )
            if searchable {
                try check(
                    !(try await ctx.searchFinds(bob.client, word, in: room, wait: false)),
                    "search by a kicked user"
                )
            }
        },
        ConformanceCase("dm.open", section: "Private rooms", requires: .feature(ServerFeature.directMessages)) { ctx in
            let alice = try await ctx.newUser()
            let bob = try await ctx.newUser()
            let carol = try await ctx.newUser()
            let expected = DirectRoom.name(try Request.user(alice.name), try Request.user(bob.name)).display
            let opened = try await alice.client.call(
                Request.dm(user: try Request.user(bob.name)),
                as: DMReply.self,
                "dm"
            )
            try checkEqual(opened.room, expected, "the direct-message room's name")
            try checkEqual(
                try await bob.client.nextChatEvent("added"),
                .added(room: expected, by: alice.name, visibility: .dm),
                "added event to the peer"
            )
            let again = try await bob.client.call(
                Request.dm(user: try Request.user(alice.name)),
                as: DMReply.self,
                "dm"
            )
            try checkEqual(again.room, expected, "dm by the peer names the same room")
            try checkEqual(try await ctx.listing(alice.client, expected)?.visibility, .dm, "visibility in rooms")
            try checkEqual(try await ctx.listing(alice.client, expected)?.members, 2, "members of a DM")
            try await ctx.joined(alice.client, expected)
            try await ctx.joined(bob.client, expected)
            try await ctx.send(alice.client, expected, "hi bob")
            try checkEqual(try await bob.client.nextMessage().text, "hi bob", "a direct message")
            try check(try await ctx.listing(carol.client, expected) == nil, "rooms lists a DM to a third user")
            let name = try Request.room(expected)
            try expectError(
                try await carol.client.request(Request.join(room: name, since: nil, epoch: nil)),
                "forbidden",
                "join of a DM by a third user"
            )
            try expectError(
                try await carol.client.request(Request.history(room: name, before: nil, after: nil, limit: nil)),
                "forbidden",
                "history of a DM by a third user"
            )
            try expectError(
                try await alice.client.request(Request.invite(room: name, user: try Request.user(carol.name))),
                "forbidden",
                "invite into a DM"
            )
            try expectError(
                try await alice.client.request(Request.kick(room: name, user: try Request.user(bob.name))),
                "forbidden",
                "kick from a DM"
            )
            try expectError(try await alice.client.request(Request.leave(room: name)), "forbidden", "leave of a DM")
            try expectError(
                try await alice.client.request(Request.dm(user: try Request.user(ctx.unique("nobody")))),
                "not_found",
                "dm with an unknown user"
            )
            let own = try await carol.client.call(
                Request.dm(user: try Request.user(carol.name)),
                as: DMReply.self,
                "dm"
            )
            try checkEqual(own.room, "@" + carol.name, "a DM with oneself")
        },
        ConformanceCase(
            "dm.concurrent-one-room",
            section: "Private rooms",
            requires: .feature(ServerFeature.directMessages)
        ) { ctx in
            let alice = try await ctx.newUser()
            let bob = try await ctx.newUser()
            // Both requests are on the wire before either reply is read.
            try await alice.client.send(Request.dm(user: try Request.user(bob.name)).json(id: "dm-a"))
            try await bob.client.send(Request.dm(user: try Request.user(alice.name)).json(id: "dm-b"))
            let a = try expectReply(try await alice.client.reply(to: "dm-a"), as: DMReply.self, "dm by alice")
            let b = try expectReply(try await bob.client.reply(to: "dm-b"), as: DMReply.self, "dm by bob")
            try checkEqual(a.room, b.room, "two dm requests at the same moment")
            let rooms = try await alice.client.call(Request.rooms, as: RoomsReply.self, "rooms").rooms
            let dms = rooms.filter { $0.visibility == .dm && $0.name.contains(bob.name) }
            try checkEqual(dms.map(\.name), [a.room], "direct-message rooms of the two users")
        },
    ]
}

extension Requirement {
    /// The server names `feature` in its `hello` reply's `features`.
    ///
    /// - Parameters:
    ///   - feature: a `ServerFeature` name.
    package static func feature(_ feature: String) -> Requirement {
        Requirement("the server advertises the \"\(feature)\" feature", feature: feature) { _ in true }
    }
}

extension ConformanceContext {
    /// Creates a private room (or another visibility) and returns the reply.
    @discardableResult
    func create(
        _ client: WireClient,
        _ room: String,
        visibility: RoomVisibility = .private,
        topic: String? = nil
    ) async throws -> CreateReply {
        try await client.call(
            Request.create(room: try Request.room(room), visibility: visibility, topic: topic),
            as: CreateReply.self,
            "create \(room)"
        )
    }

    /// `invite`, which must succeed.
    func invite(_ client: WireClient, _ room: String, _ user: String) async throws {
        let reply = try await client.request(Request.invite(room: try Request.room(room), user: try Request.user(user)))
        _ = try expectOK(reply, "invite \(user) to \(room)")
    }

    /// One message, which must be accepted.
    func send(_ client: WireClient, _ room: String, _ text: String) async throws {
        let reply = try await client.request(
            Request.send(room: try Request.room(room), text: text, kind: .text, nonce: nil)
        )
        _ = try expectReply(reply, as: SendReply.self, "send to \(room)")
    }

    /// The `rooms` entry of a room, or nil when the list leaves it out.
    func listing(_ client: WireClient, _ room: String) async throws -> RoomsReply.Room? {
        try await client.call(Request.rooms, as: RoomsReply.self, "rooms").rooms.first { $0.name == room }
    }

    /// Whether a search for `word` returns a result from `room`. With `wait`, retries for up to
    /// ten seconds (indexing is asynchronous) and answers false at once when the server has no
    /// `search`; without, one search whose error counts as no result.
    func searchFinds(_ client: WireClient, _ word: String, in room: String, wait: Bool = true) async throws -> Bool {
        let request = try SearchRequest.make(query: word).get()
        for _ in 0..<(wait ? 100 : 1) {
            let reply = try await client.request(request)
            guard let results = try? SearchReply(json: reply).results else {
                if wait, case .error(_, let error)? = try? ServerFrame(json: reply), error.code != .badRequest {
                    throw ConformanceFailure("search by a member: \(error)")
                }
                return false
            }
            if results.contains(where: { $0.room == room }) { return true }
            if wait { try await Task.sleep(for: .milliseconds(100)) }
        }
        if wait { throw ConformanceFailure("a member's search never found its message in \(room)") }
        return false
    }
}
