import ChatConformance
import ChatCore
import ChatServer
import Testing

/// Server behaviour beyond what a black-box runner can provoke on any server.
@Suite("Server behaviour")
struct ServerBehaviourTests {
    @Test("a client that stops reading is closed with 4001 and the server keeps serving", .timeLimit(.minutes(2)))
    func slowConsumer() async throws {
        var configuration = TestServer.conformanceConfiguration
        configuration.outboundQueueLimit = 16
        configuration.closeTimeout = .seconds(30)
        configuration.limits.rateBurst = 100_000
        configuration.limits.ratePerSec = 100_000
        try await TestServer.with(configuration) { server in
            let ctx = server.context
            let sender = try await ctx.newUser("snd")
            let slow = try await ctx.newUser("slow")
            let room = ctx.unique("slow")
            try await ctx.join(sender.client, room)
            try await ctx.join(slow.client, room)
            try await slow.client.setReading(false)
            let text = String(repeating: "x", count: 4000)
            // Enough data to fill both socket buffers and the 16-frame queue.
            for i in 0..<3000 {
                let reply = try await sender.client.request("send", ["room": .string(room), "text": .string(text)])
                try expectOK(reply, "send \(i)")
            }
            try await slow.client.setReading(true)
            let code = try await slow.client.waitForClose()
            #expect(code == 4001)
            // Everyone else is still served.
            try expectOK(
                try await sender.client.request("send", ["room": .string(room), "text": "still here"]),
                "send"
            )
            let fresh = try await ctx.newUser("fresh")
            try await ctx.join(fresh.client, room)
        }
    }

    @Test("invalid UTF-8 in a text frame closes with 1007")
    func invalidUTF8() async throws {
        try await TestServer.with { server in
            let client = try await server.context.helloClient()
            try await client.writeFrame(
                opcode: 0x1,
                payload: Array(#"{"type":"ping","id":""#.utf8) + [0xFF, 0xFE, 0x22, 0x7D]
            )
            #expect(try await client.waitForClose() == 1007)
        }
    }

    @Test("a request in three fragments, with a ping between them, is answered")
    func fragmentedRequest() async throws {
        try await TestServer.with { server in
            let client = try await server.context.helloClient()
            let bytes = Array(#"{"type":"ping","id":"frag"}"#.utf8)
            try await client.writeFrame(opcode: 0x1, payload: Array(bytes[0..<5]), fin: false)
            try await client.writeFrame(opcode: 0x9, payload: Array("keepalive".utf8))
            try await client.writeFrame(opcode: 0x0, payload: Array(bytes[5..<12]), fin: false)
            try await client.writeFrame(opcode: 0x0, payload: Array(bytes[12...]), fin: true)
            try expectOK(try await client.reply(to: "frag"), "the reassembled request")
            try expectOK(try await client.request("ping"), "the connection goes on")
        }
    }

    @Test(
        "broken fragmentation closes with 1002",
        arguments: [
            [(UInt8(0x0), true)],  // a continuation with no message before it
            [(UInt8(0x1), false), (UInt8(0x1), true)],  // a new message inside a fragmented one
        ]
    )
    func brokenFragmentation(frames: [(UInt8, Bool)]) async throws {
        try await TestServer.with { server in
            let client = try await server.context.helloClient()
            for (opcode, fin) in frames {
                try await client.writeFrame(opcode: opcode, payload: Array(#"{"type":"ping"}"#.utf8), fin: fin)
            }
            #expect(try await client.waitForClose() == 1002)
        }
    }

    @Test("a client's close is answered with the same code", arguments: [UInt16(1000), 1001, 4000])
    func closeEchoed(code: UInt16) async throws {
        try await TestServer.with { server in
            let client = try await server.context.helloClient()
            try await client.sendClose(code: code)
            #expect(try await client.waitForClose() == code)
        }
    }

    @Test("shutdown closes clients with 1001")
    func shutdownCloses1001() async throws {
        try await TestServer.with { server in
            let user = try await server.context.newUser()
            await server.hub.shutdownConnections(timeout: .seconds(2))
            #expect(try await user.client.waitForClose() == 1001)
            await #expect(throws: (any Error).self) {
                let late = try await server.context.connect()
                _ = try await late.request("hello", ["version": 1, "client": "late"])
                _ = try await late.nextObject()
            }
        }
    }

    @Test("logout revokes the token for resume on every connection")
    func logoutRevokes() async throws {
        try await TestServer.with { server in
            let ctx = server.context
            let user = try await ctx.newUser()
            let second = try await ctx.secondConnection(user)
            let third = try await ctx.secondConnection(user)
            try expectOK(try await user.client.request("logout"), "logout")
            #expect(try await second.waitForClose() == 4002)
            #expect(try await third.waitForClose() == 4002)
            #expect(await server.hub.connectionCount >= 1)
        }
    }
}
