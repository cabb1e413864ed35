import ChatConformance
import ChatCore
import Foundation
import Testing

/// Private rooms and direct messages survive a restart (snapshot) and a `kill -9` (log replay).
@Suite("Private rooms and DMs across restarts (processes)", .serialized)
struct PrivateRoomRestartTests {
    struct Setup {
        var alice: TestUser
        var bob: TestUser
        var carol: TestUser
        var room: String
        var dm: String
    }

    /// What a user's `resume` lists, by room name.
    static func resumeRooms(_ url: String, _ user: TestUser) async throws -> (WireClient, [String: AuthReply.Room]) {
        let client = try await ConformanceContext(url: url, limits: Limits()).helloClient()
        let reply = try await client.call(Request.resume(token: user.token), as: AuthReply.self, "resume")
        return (client, Dictionary(uniqueKeysWithValues: reply.rooms.map { ($0.name, $0) }))
    }

    /// The private room and the DM are as they were: members see them with their heads, the
    /// third user sees nothing and is refused.
    static func verify(_ url: String, _ s: Setup, bobInRoom: Bool, _ what: String) async throws {
        let (alice, aliceRooms) = try await resumeRooms(url, s.alice)
        #expect(aliceRooms[s.room]?.visibility == .private, "\(what): alice's private room")
        #expect(aliceRooms[s.room]?.owner == s.alice.name, "\(what): owner")
        #expect(aliceRooms[s.room]?.head == 1, "\(what): head of the private room")
        #expect(aliceRooms[s.dm]?.visibility == .dm, "\(what): alice's DM")
        #expect(aliceRooms[s.dm]?.head == 2, "\(what): head of the DM")
        let members = try await alice.call(
            Request.members(room: try Request.room(s.room)),
            as: MembersReply.self,
            "members"
        )
        #expect(
            members.members.map(\.user).sorted() == (bobInRoom ? [s.alice.name, s.bob.name] : [s.alice.name]).sorted(),
            "\(what): members"
        )
        let (bob, bobRooms) = try await resumeRooms(url, s.bob)
        #expect((bobRooms[s.room] != nil) == bobInRoom, "\(what): bob's membership of the private room")
        #expect(bobRooms[s.dm]?.visibility == .dm, "\(what): bob's DM")
        let history = try await bob.call(
            Request.history(room: try Request.room(s.dm), before: nil, after: nil, limit: nil),
            as: HistoryReply.self,
            "history"
        )
        #expect(history.messages.map(\.text) == ["hi bob", "hi alice"], "\(what): the DM's history")
        let dmAgain = try await bob.call(Request.dm(user: try Request.user(s.alice.name)), as: DMReply.self, "dm")
        #expect(dmAgain.room == s.dm, "\(what): dm names the same room")
        let (carol, carolRooms) = try await resumeRooms(url, s.carol)
        #expect(carolRooms.isEmpty, "\(what): carol's rooms")
        let listed = try await carol.call(Request.rooms, as: RoomsReply.self, "rooms").rooms.map(\.name)
        #expect(!listed.contains(s.room) && !listed.contains(s.dm), "\(what): rooms lists to carol \(listed)")
        let joinReply = try await carol.request(Request.join(room: try Request.room(s.room), since: nil, epoch: nil))
        try expectError(joinReply, "forbidden", "\(what): carol's join of the private room")
        for client in [alice, bob, carol] { await client.disconnect() }
    }

    @Test(
        "a private room with members and a DM survive kill -9, a clean restart, and a kick after it",
        .timeLimit(.minutes(3))
    )
    func restarts() async throws {
        let dataDir = NSTemporaryDirectory() + "chat-private-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dataDir) }
        var server = try await CrashTests.start(dataDir)
        // Whichever server runs when the test ends, also when a check throws.
        defer { server.process.terminate() }
        let ctx = ConformanceContext(url: server.url, limits: Limits())
        let alice = try await ctx.newUser("alice")
        let bob = try await ctx.newUser("bob")
        let carol = try await ctx.newUser("carol")
        let room = ctx.unique("ops")
        _ = try await alice.client.call(
            Request.create(room: try Request.room(room), visibility: .private, topic: nil),
            as: CreateReply.self,
            "create"
        )
        _ = try expectOK(
            try await alice.client.request(
                Request.invite(room: try Request.room(room), user: try Request.user(bob.name))
            ),
            "invite"
        )
        _ = try expectOK(
            try await alice.client.request(
                Request.send(room: try Request.room(room), text: "plans", kind: .text, nonce: nil)
            ),
            "send"
        )
        let dm = try await alice.client.call(Request.dm(user: try Request.user(bob.name)), as: DMReply.self, "dm").room
        for (client, text) in [(alice.client, "hi bob"), (bob.client, "hi alice")] {
            _ = try expectOK(
                try await client.request(Request.send(room: try Request.room(dm), text: text, kind: .text, nonce: nil)),
                "send to the DM"
            )
        }
        let setup = Setup(alice: alice, bob: bob, carol: carol, room: room, dm: dm)

        kill(server.process.processIdentifier, SIGKILL)
        _ = try await ProcessTests.waitForExit(server.process)
        server = try await CrashTests.start(dataDir)
        try await Self.verify(server.url, setup, bobInRoom: true, "after kill -9")

        server.process.terminate()
        #expect(try await ProcessTests.waitForExit(server.process) == 0)
        server = try await CrashTests.start(dataDir)
        try await Self.verify(server.url, setup, bobInRoom: true, "after a clean restart (snapshot)")

        // A kick on top of the snapshot, then kill -9: the log replays it.
        let (owner, _) = try await Self.resumeRooms(server.url, alice)
        _ = try expectOK(
            try await owner.request(Request.kick(room: try Request.room(room), user: try Request.user(bob.name))),
            "kick"
        )
        kill(server.process.processIdentifier, SIGKILL)
        _ = try await ProcessTests.waitForExit(server.process)
        server = try await CrashTests.start(dataDir)
        try await Self.verify(server.url, setup, bobInRoom: false, "after a kick and kill -9")
        server.process.terminate()
        _ = try await ProcessTests.waitForExit(server.process)
    }
}
