import ChatClient
import ChatConformance
import ChatCore
import ChatServer
import Testing

/// `ChatClient` follows `added` and `removed` by itself (issue 13).
@Suite("ChatClient: added and removed")
struct ChatClientPrivateTests {
    typealias Base = ChatClientTests

    static func joins(_ recorder: Base.Recorder, _ room: String) async -> Int {
        await recorder.events.filter { if case .joined(let name, _, _, _, _) = $0 { name == room } else { false } }
            .count
    }

    @Test(
        "invited: the client joins by itself; kicked: it drops the room, also across a reconnect",
        .timeLimit(.minutes(1))
    )
    func inviteAndKick() async throws {
        try await TestServer.with { server in
            let ctx = server.context
            let (alice, bob, lobby) = try await Base.aliceAndBob(ctx, room: "lobby")
            let room = ctx.unique("ops")
            _ = try await bob.client.call(
                Request.create(room: try Request.room(room), visibility: .private, topic: nil),
                as: CreateReply.self,
                "create"
            )
            try await ctx.sendMany(bob.client, room, count: 2, prefix: "before")
            try await Base.withClient(server, alice, joined: lobby) { client, recorder in
                _ = try expectOK(
                    try await bob.client.request(
                        Request.invite(room: try Request.room(room), user: try Request.user(alice.name))
                    ),
                    "invite"
                )
                try await Base.waitFor("join of the private room") { await Self.joins(recorder, room) == 1 }
                try await ctx.sendMany(bob.client, room, count: 1, prefix: "after")
                try await Base.waitFor("messages") { await recorder.messages.filter { $0.room == room }.count == 3 }
                #expect(try await client.history(room).messages.count == 3)
                _ = try expectOK(
                    try await bob.client.request(
                        Request.kick(room: try Request.room(room), user: try Request.user(alice.name))
                    ),
                    "kick"
                )
                let removed = ClientEvent.event(.removed(room: room, by: bob.name))
                try await Base.waitFor("removed") { await recorder.events.contains(removed) }
                // A reconnect re-joins the lobby only: nothing of the room arrives, no refusal either.
                await server.hub.closeAllConnections(.goingAway, reason: "test")
                try await Base.waitFor("reconnect") { await recorder.connects >= 2 }
                try await Base.waitFor("lobby re-joined") { await Self.joins(recorder, lobby) >= 2 }
                let bob2 = try await ctx.secondConnection(bob)
                try await ctx.sendMany(bob2, room, count: 1, prefix: "gone")
                try await ctx.sendMany(bob2, lobby, count: 1, prefix: "lobby")
                try await Base.waitFor("lobby message") { await recorder.messages.contains { $0.room == lobby } }
                #expect(await recorder.messages.filter { $0.room == room }.count == 3)
                #expect(await Self.joins(recorder, room) == 1)
            }
        }
    }

    @Test("a DM opened by the peer is followed by itself", .timeLimit(.minutes(1)))
    func directMessage() async throws {
        try await TestServer.with { server in
            let ctx = server.context
            let (alice, bob, lobby) = try await Base.aliceAndBob(ctx, room: "lobby")
            try await Base.withClient(server, alice, joined: lobby) { client, recorder in
                let dm = try await bob.client.call(
                    Request.dm(user: try Request.user(alice.name)),
                    as: DMReply.self,
                    "dm"
                ).room
                try await Base.waitFor("join of the DM") { await Self.joins(recorder, dm) == 1 }
                try await ctx.joined(bob.client, dm)
                try await ctx.sendMany(bob.client, dm, count: 1, prefix: "psst")
                try await Base.waitFor("the direct message") {
                    await recorder.messages.contains { $0.room == dm && $0.text == "psst0" }
                }
                #expect(try await client.dm(bob.name).room == dm)
            }
        }
    }
}
