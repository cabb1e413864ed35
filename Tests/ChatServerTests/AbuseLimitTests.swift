import ChatConformance
import ChatCore
import ChatServer
import Testing

/// Limits against guessing and flooding (part of the security work).
@Suite("Abuse limits")
struct AbuseLimitTests {
    /// A `login` request on `client`.
    static func login(_ client: WireClient, _ user: String, _ password: String) async throws -> JSONObject {
        try await client.request("login", ["user": .string(user), "password": .string(password)])
    }

    @Test("the login throttle: free attempts, then doubling delays; success clears the user")
    func throttleModel() {
        var throttle = LoginThrottle(freeAttempts: 3, base: 1, maximum: 8, window: 100)
        var now = 0.0
        for _ in 0..<3 {
            #expect(throttle.wait(user: "u", address: "a", now: now) == nil)
            throttle.failed(user: "u", address: "a", now: now)
        }
        #expect(throttle.wait(user: "u", address: "a", now: now) == 1000)
        now += 1
        #expect(throttle.wait(user: "u", address: "a", now: now) == nil)
        throttle.failed(user: "u", address: "a", now: now)
        #expect(throttle.wait(user: "u", address: "a", now: now) == 2000)
        for _ in 0..<10 { throttle.failed(user: "u", address: "a", now: now) }
        #expect(throttle.wait(user: "u", address: "a", now: now) == 8000, "capped at the maximum")
        #expect(throttle.wait(user: "other", address: "b", now: now) == nil, "other users and addresses are free")
        throttle.succeeded(user: "u", address: "z")
        #expect(throttle.wait(user: "u", address: "c", now: now) == nil)
        #expect(throttle.wait(user: "u", address: "a", now: now) != nil, "the address keeps its count")
        #expect(throttle.wait(user: "x", address: "a", now: now + 200) == nil, "forgotten after the window")
    }

    @Test("repeated wrong passwords get rate_limited, even for the right password, until the delay passes")
    func loginThrottling() async throws {
        try await TestServer.with(
            .conformance {
                $0.loginFreeAttempts = 3
                // Long enough that the next request arrives within it on a loaded machine (at 0.4 s
                // a run with the PostgreSQL process tests beside it got there after the delay).
                $0.loginBaseDelay = 2
            }
        ) { server in
            let ctx = server.context
            let alice = try await ctx.newUser("alice")
            let c = try await ctx.helloClient()
            for i in 0..<3 {
                try expectError(
                    try await Self.login(c, alice.name, "wrong password"),
                    "unauthorized",
                    "wrong password \(i + 1)"
                )
            }
            let limited = try await Self.login(c, alice.name, alice.password)
            try expectError(limited, "rate_limited", "the right password during the delay")
            let wait = limited["retry_after_ms"]?.intValue ?? 0
            #expect(wait > 0 && wait <= 2_000)
            try await Task.sleep(for: .milliseconds(wait + 50))
            try expectOK(try await Self.login(c, alice.name, alice.password), "login after the delay")
            // Unknown names are throttled the same way: no enumeration by the throttle.
            let nobody = ctx.unique("nobody")
            for _ in 0..<3 {
                _ = try await Self.login(c, nobody, "whatever1")
            }
            try expectError(
                try await Self.login(c, nobody, "whatever1"),
                "rate_limited",
                "an unknown user after the free attempts"
            )
        }
    }

    @Test("a source address guessing many names is throttled too")
    func addressThrottling() async throws {
        try await TestServer.with(.conformance { $0.loginFreeAttempts = 2 }) { server in
            let ctx = server.context
            let c = try await ctx.helloClient()
            for i in 0..<8 {
                try expectError(
                    try await Self.login(c, ctx.unique("g\(i)"), "guess1234"),
                    "unauthorized",
                    "guess \(i + 1)"
                )
            }
            try expectError(
                try await Self.login(c, ctx.unique("g9"), "guess1234"),
                "rate_limited",
                "the 9th name from one address"
            )
        }
    }

    @Test("rooms per user are capped; room creation is rate limited")
    func roomLimits() async throws {
        try await TestServer.with(
            .conformance {
                $0.maxRoomsPerUser = 3
                $0.roomCreationPerMinute = 4
            }
        ) { server in
            let ctx = server.context
            let alice = try await ctx.newUser("alice")
            let rooms = (0..<3).map { ctx.unique("cap\($0)") }
            for room in rooms { try await ctx.join(alice.client, room) }
            let fourth = ctx.unique("cap3")
            try expectError(
                try await alice.client.request("join", ["room": .string(fourth)]),
                "forbidden",
                "a fourth room"
            )
            try await ctx.join(alice.client, rooms[0])  // joining again is fine
            try expectOK(try await alice.client.request("leave", ["room": .string(rooms[0])]), "leave")
            try await ctx.join(alice.client, fourth)
            // Four rooms created in a minute: the fifth new room must wait.
            try expectOK(try await alice.client.request("leave", ["room": .string(fourth)]), "leave")
            let limited = try await alice.client.request("join", ["room": .string(ctx.unique("cap5"))])
            try expectError(limited, "rate_limited", "a fifth new room within a minute")
            #expect((limited["retry_after_ms"]?.intValue ?? 0) > 0)
            // Joining a room someone else created is not creating one.
            let (_, bobs) = try await ctx.newUserInNewRoom("bob", room: "bobs")
            try await ctx.join(alice.client, bobs)
        }
    }
}

@Suite("Connection limits")
struct ConnectionLimitTests {
    @Test("connections beyond the per-address limit are closed at accept, before the upgrade; a freed slot is reused")
    func perAddress() async throws {
        try await TestServer.with(.conformance { $0.maxConnectionsPerAddress = 3 }) { server in
            let ctx = server.context
            var open: [WireClient] = []
            for _ in 0..<3 { open.append(try await ctx.helloClient()) }
            await #expect(throws: (any Error).self) { try await ctx.connect() }
            for c in open { try expectOK(try await c.request("ping"), "the first three still work") }
            await open[0].disconnect()
            // The slot frees once the server has seen the close; until then a connection is refused.
            var accepted = false
            for _ in 0..<100 where !accepted {
                let c = try? await ctx.connect()
                let reply = try? await c?.request("hello", ["version": 1, "client": "t"])
                accepted = reply?["type"]?.stringValue == "ok"
                if !accepted { try await Task.sleep(for: .milliseconds(20)) }
            }
            #expect(accepted)
        }
    }

    @Test("connections beyond the total limit are closed at accept, before the upgrade")
    func total() async throws {
        try await TestServer.with(.conformance { $0.maxConnections = 2 }) { server in
            let ctx = server.context
            let a = try await ctx.helloClient()
            let b = try await ctx.helloClient()
            await #expect(throws: (any Error).self) { try await ctx.connect() }
            try expectOK(try await a.request("ping"), "a")
            try expectOK(try await b.request("ping"), "b")
        }
    }
}
