import ChatClient
import ChatConformance
import ChatCore
import ChatServer
import Logging
import Testing

/// The client library against a live in-process server: reconnect, gap filling, nonce retries.
@Suite("ChatClient")
struct ChatClientTests {
    /// Collects client events on a task; lets the test wait for a condition.
    actor Recorder {
        var events: [ClientEvent] = []
        var messages: [ChatMessage] { events.compactMap { if case .message(let m) = $0 { m } else { nil } } }
        var connects: Int { events.filter { if case .connected = $0 { true } else { false } }.count }
        func add(_ event: ClientEvent) { events.append(event) }
    }

    static func waitFor(_ what: String, _ condition: @Sendable () async -> Bool) async throws {
        for _ in 0..<1000 {
            if await condition() { return }
            try await Task.sleep(for: .milliseconds(10))
        }
        Issue.record("timed out waiting for \(what)")
        throw WireError("timed out waiting for \(what)")
    }

    static func client(_ server: TestServer, _ user: TestUser) -> ChatClient {
        ChatClient(
            configuration: ChatClientConfiguration(
                url: server.url + "/v1/ws",
                user: user.name,
                credentials: .token(user.token, password: user.password),
                initialBackoff: .milliseconds(50),
                maxBackoff: .milliseconds(200)
            ),
            logger: Logger(label: "test-client")
        )
    }

    /// Alice (for a `ChatClient`) and Bob, logged in; Bob has joined a new room.
    static func aliceAndBob(
        _ ctx: ConformanceContext,
        room: String
    ) async throws -> (alice: TestUser, bob: TestUser, room: String) {
        let alice = try await ctx.newUser("alice")
        let (bob, joined) = try await ctx.newUserInNewRoom("bob", room: room)
        return (alice, bob, joined)
    }

    /// Runs a `ChatClient` for `user`, its events going to a `Recorder`, until `body` is done:
    /// `body` starts once the client is ready and has joined `room`.
    static func withClient(
        _ server: TestServer,
        _ user: TestUser,
        joined room: String,
        _ body: (ChatClient, Recorder) async throws -> Void
    ) async throws {
        let client = Self.client(server, user)
        let recorder = Recorder()
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            group.addTask { for await event in client.events { await recorder.add(event) } }
            try await client.waitUntilReady()
            _ = try await client.join(room)
            try await body(client, recorder)
            await client.stop()
            group.cancelAll()
        }
    }

    @Test("reconnect re-joins with since: messages sent while away arrive once, in order", .timeLimit(.minutes(1)))
    func reconnectFillsGap() async throws {
        try await TestServer.with { server in
            let ctx = server.context
            let (alice, bob, room) = try await Self.aliceAndBob(ctx, room: "gapfill")
            try await ctx.sendMany(bob.client, room, count: 3, prefix: "before")
            try await Self.withClient(server, alice, joined: room) { client, recorder in
                try await Self.waitFor("backlog") { await recorder.messages.count == 3 }
                // Drop every connection, and send while the client is away.
                await server.hub.closeAllConnections(.goingAway, reason: "test")
                _ = try? await bob.client.waitForClose()
                let bob2 = try await ctx.secondConnection(bob)
                try await ctx.sendMany(bob2, room, count: 4, prefix: "during")
                try await Self.waitFor("reconnect") { await recorder.connects >= 2 }
                try await ctx.sendMany(bob2, room, count: 2, prefix: "after")
                try await Self.waitFor("all messages") { await recorder.messages.count >= 9 }
                try await Task.sleep(for: .milliseconds(100))
                let seqs = await recorder.messages.map(\.seq)
                #expect(seqs == Array(1...9))
            }
        }
    }

    @Test("a send made while offline is delivered once after reconnect", .timeLimit(.minutes(1)))
    func offlineSendIsRetriedOnce() async throws {
        try await TestServer.with { server in
            let ctx = server.context
            let (alice, bob, room) = try await Self.aliceAndBob(ctx, room: "offline")
            try await Self.withClient(server, alice, joined: room) { client, recorder in
                await server.hub.closeAllConnections(.goingAway, reason: "test")
                // Queued now; sent (with its nonce) when the client is back.
                let ack = try await client.send(room, text: "written offline")
                #expect(ack.seq == 1)
                try await Self.waitFor("own message") { await recorder.messages.count == 1 }
                let bob2 = try await ctx.secondConnection(bob)
                let history = try expectOK(try await bob2.request("history", ["room": .string(room)]), "history")
                #expect(seqs(try messageList(history)) == [1])
                #expect(await client.pendingCount == 0)
            }
        }
    }

    @Test("a refused token falls back to the password; a wrong password stops the client")
    func authenticationFallback() async throws {
        try await TestServer.with { server in
            let ctx = server.context
            let alice = try await ctx.newUser("alice")
            let good = ChatClient(
                configuration: ChatClientConfiguration(
                    url: server.url + "/v1/ws",
                    user: alice.name,
                    credentials: .token("revoked-or-bogus", password: alice.password),
                    reconnect: false
                ),
                logger: Logger(label: "t")
            )
            async let run: Void = good.run()
            try await good.waitUntilReady()
            var token: String?
            for await event in good.events {
                if case .connected(_, let t) = event {
                    token = t
                    break
                }
            }
            #expect(token != nil)
            await good.stop()
            await run

            let bad = ChatClient(
                configuration: ChatClientConfiguration(
                    url: server.url + "/v1/ws",
                    user: alice.name,
                    credentials: .password("not the password")
                ),
                logger: Logger(label: "t")
            )
            async let runBad: Void = bad.run()
            var failure: ProtocolError?
            for await event in bad.events {
                if case .authenticationFailed(let error) = event { failure = error }
            }
            await runBad
            #expect(failure?.code == .unauthorized)
        }
    }

    @Test("backoff doubles up to the cap and applies jitter")
    func backoff() {
        let initial = Duration.milliseconds(100)
        let cap = Duration.seconds(5)
        #expect(ChatClient.backoff(attempt: 1, initial: initial, max: cap, jitter: 1) == .milliseconds(100))
        #expect(ChatClient.backoff(attempt: 3, initial: initial, max: cap, jitter: 1) == .milliseconds(400))
        #expect(ChatClient.backoff(attempt: 30, initial: initial, max: cap, jitter: 1) == .seconds(5))
        #expect(ChatClient.backoff(attempt: 3, initial: initial, max: cap, jitter: 0.5) == .milliseconds(200))
    }

    @Test(
        "server URLs imply ws:// and /v1/ws",
        arguments: [
            ("ws://host:7878", "ws://host:7878/v1/ws"), ("host:1", "ws://host:1/v1/ws"),
            ("wss://h:2/", "wss://h:2/v1/ws"), ("ws://h:3/custom", "ws://h:3/custom"),
        ]
    )
    func serverURL(_ raw: String, _ expected: String) throws {
        #expect(try ServerURL.normalize(raw) == expected)
    }

    @Test(
        "bad server URLs are refused",
        arguments: ["http://h:1", "", "ws:///path", "ws://bad host:1", "chat.lan:78\u{7F}", "ws://h:1/a\tb"]
    )
    func badServerURL(_ raw: String) {
        #expect(throws: ServerURLError.self) { try ServerURL.normalize(raw) }
    }
}
