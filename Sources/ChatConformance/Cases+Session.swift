import ChatCore

extension ConformanceSuite {
    static let session: [ConformanceCase] = [
        ConformanceCase("session.hello-required", section: "Session") { ctx in
            let c = try await ctx.connect()
            for type in ["ping", "rooms", "login"] {
                try expectError(try await c.request(type), "hello_required", "\(type) before hello")
            }
            try expectError(
                try await c.request("join", ["room": "x"]),
                "hello_required",
                "join before hello"
            )
        },
        ConformanceCase("session.hello-reply", section: "Session") { ctx in
            let c = try await ctx.connect()
            let reply = try await c.call(ConformanceContext.hello, as: HelloReply.self, "hello")
            try checkEqual(reply.version, 1, "hello reply version")
            try check(!reply.server.isEmpty, "hello reply has a server name")
            let limits = reply.limits
            for (key, value) in [
                ("max_frame", limits.maxFrame), ("max_text", limits.maxText), ("history_limit", limits.historyLimit),
                ("rate_burst", limits.rateBurst),
            ] {
                try check(value > 0, "limits.\(key) is a positive integer")
            }
            try check(limits.ratePerSec > 0, "limits.rate_per_sec is positive")
        },
        ConformanceCase("session.unsupported-version", section: "Session") { ctx in
            let c = try await ctx.connect()
            try expectError(
                try await c.request(Request.hello(version: 2, client: "chat-conformance/1")),
                "unsupported_version",
                "hello version 2"
            )
            _ = try await c.call(
                ConformanceContext.hello,
                as: HelloReply.self,
                "hello version 1 after an unsupported version"
            )
        },
        ConformanceCase("session.second-hello", section: "Session") { ctx in
            let c = try await ctx.helloClient()
            try expectError(try await c.request(ConformanceContext.hello), "bad_request", "second hello")
        },
        ConformanceCase("session.unauthorized-before-auth", section: "Session") { ctx in
            let c = try await ctx.helloClient()
            _ = try await c.call(Request.ping, as: PingReply.self, "ping before authentication")
            let requests: [(String, JSONObject)] = [
                ("join", ["room": "lobby"]), ("send", ["room": "lobby", "text": "hi"]), ("rooms", [:]),
                ("logout", [:]), ("history", ["room": "lobby"]), ("typing", ["room": "lobby"]),
                ("members", ["room": "lobby"]), ("mark_read", ["room": "lobby", "seq": 0]),
            ]
            for (type, fields) in requests {
                try expectError(try await c.request(type, fields), "unauthorized", "\(type) before authentication")
            }
        },
        ConformanceCase("session.register", section: "Session") { ctx in
            let c = try await ctx.helloClient()
            let name = ctx.unique("Reg")
            let reply = try await c.call(
                Request.register(user: try Request.user(name), password: "correct horse", invite: nil),
                as: AuthReply.self,
                "register"
            )
            try checkEqual(reply.user, name, "registered name as written")
            try check((reply.token?.count ?? 0) >= 22, "token has at least 128 bits")
            try checkEqual(reply.rooms, [], "rooms of a new user")
            let other = try await ctx.helloClient()
            try expectError(
                try await other.request(
                    Request.register(user: try Request.user(name.lowercased()), password: "another one", invite: nil)
                ),
                "conflict",
                "registering the same name in another case"
            )
            try expectError(
                try await other.request(
                    Request.register(user: try Request.user(name), password: "another one", invite: nil)
                ),
                "conflict",
                "registering a taken name"
            )
        },
        ConformanceCase("session.register-validation", section: "Session") { ctx in
            let c = try await ctx.helloClient()
            let badNames = [
                "", "has space", "emoji😀", "semi;colon", "slash/", "at@", String(repeating: "a", count: 33),
                "\u{301}mark", "tab\tname",
            ]
            for name in badNames {
                try expectError(
                    try await c.request("register", ["user": .string(name), "password": "long enough"]),
                    "bad_request",
                    "register with invalid name '\(name)'"
                )
            }
            let name = ctx.unique("pw")
            try expectError(
                try await c.request("register", ["user": .string(name), "password": "7 bytes"]),
                "bad_request",
                "password of 7 bytes"
            )
            try expectError(
                try await c.request(
                    "register",
                    ["user": .string(name), "password": .string(String(repeating: "é", count: 513))]
                ),
                "bad_request",
                "password of 1026 bytes"
            )
            try expectError(try await c.request("register", ["user": .string(name)]), "bad_request", "no password")
            try expectError(
                try await c.request("register", ["user": 5, "password": "long enough"]),
                "bad_request",
                "numeric user"
            )
            try expectOK(
                try await c.request("register", ["user": .string(name), "password": "8 bytes!"]),
                "password of exactly 8 bytes"
            )
        },
        ConformanceCase("session.register-valid-names", section: "Names and text") { ctx in
            for base in ["日本語", "Ünïcödé", "Ελληνικά", "под_черк", "dot.dash-x", "한국어", "e\u{301}"] {
                let c = try await ctx.helloClient()
                let name = ctx.unique(base)
                // Sent as written (not NFC): the server must normalise it.
                let reply = try expectReply(
                    try await c.request("register", ["user": .string(name), "password": "long enough"]),
                    as: AuthReply.self,
                    "register '\(name)'"
                )
                try checkEqual(reply.user, name.precomposedNFC, "name shown as written (after NFC)")
            }
        },
        ConformanceCase("session.names-fold-case-and-nfc", section: "Names and text") { ctx in
            let base = ctx.unique("Straße")
            let c = try await ctx.helloClient()
            _ = try await c.call(
                Request.register(user: try Request.user(base), password: "long enough", invite: nil),
                as: AuthReply.self,
                "register \(base)"
            )
            let upper = base.uppercased()
            let d = try await ctx.helloClient()
            try expectError(
                try await d.request(
                    Request.register(user: try Request.user(upper), password: "long enough", invite: nil)
                ),
                "conflict",
                "register \(upper) (case-folds to the same name)"
            )
            let reply = try await d.call(
                Request.login(user: try Request.user(upper), password: "long enough"),
                as: AuthReply.self,
                "login as \(upper)"
            )
            try checkEqual(reply.user, base, "login reply shows the name as first written")
            let nfd = ctx.unique("Cafe\u{301}")
            try expectOK(
                try await (try await ctx.helloClient()).request(
                    "register",
                    ["user": .string(nfd), "password": "long enough"]
                ),
                "register with NFD"
            )
            try expectOK(
                try await (try await ctx.helloClient()).request(
                    "login",
                    ["user": .string(nfd.precomposedNFC), "password": "long enough"]
                ),
                "login with the NFC form of an NFD name"
            )
        },
        ConformanceCase("session.login", section: "Session") { ctx in
            let user = try await ctx.newUser("login")
            let room = ctx.unique("lr")
            try await ctx.join(user.client, room)
            _ = try await ctx.sendMany(user.client, room, count: 2)
            let c = try await ctx.helloClient()
            let reply = try await c.call(
                Request.login(user: try Request.user(user.name), password: user.password),
                as: AuthReply.self,
                "login"
            )
            try checkEqual(reply.user, user.name, "login user")
            try check((reply.token?.count ?? 0) >= 22, "login token has at least 128 bits")
            try check(reply.token != user.token, "login issues a new token")
            try checkEqual(reply.rooms, [AuthReply.Room(name: room, head: 2, read: 0)], "rooms in login reply")
        },
        ConformanceCase("session.login-failures-look-alike", section: "Session") { ctx in
            let user = try await ctx.newUser("lf")
            let c = try await ctx.helloClient()
            let wrong = try await c.request(
                Request.login(user: try Request.user(user.name), password: "wrong password")
            )
            try expectError(wrong, "unauthorized", "login with a wrong password")
            let unknown = try await c.request(
                Request.login(user: try Request.user(ctx.unique("nobody")), password: "whatever1")
            )
            try expectError(unknown, "unauthorized", "login as an unknown user")
            guard case .error(_, let unknownError)? = try? ServerFrame(json: unknown),
                case .error(_, let wrongError)? = try? ServerFrame(json: wrong)
            else { throw ConformanceFailure("login failures do not decode") }
            try checkEqual(unknownError.message, wrongError.message, "the two failures carry the same message")
            _ = try await c.call(Request.ping, as: PingReply.self, "connection survives failed logins")
        },
        ConformanceCase("session.resume", section: "Session") { ctx in
            let user = try await ctx.newUser("res")
            let c = try await ctx.helloClient()
            let reply = try await c.call(Request.resume(token: user.token), as: AuthReply.self, "resume")
            try checkEqual(reply.user, user.name, "resumed user")
            let d = try await ctx.helloClient()
            try expectError(
                try await d.request(Request.resume(token: "not-a-token")),
                "unauthorized",
                "bad token"
            )
        },
        ConformanceCase("session.logout", section: "Session") { ctx in
            let user = try await ctx.newUser("out")
            let other = try await ctx.secondConnection(user)
            _ = try await user.client.call(Request.logout, as: EmptyReply.self, "logout")
            try checkEqual(try await other.waitForClose(), 4002, "close code of another connection with the token")
            try expectError(try await user.client.request(Request.rooms), "unauthorized", "rooms after logout")
            let again = try await ctx.helloClient()
            try expectError(
                try await again.request(Request.resume(token: user.token)),
                "unauthorized",
                "resume with a logged-out token"
            )
            _ = try await user.client.call(
                Request.login(user: try Request.user(user.name), password: user.password),
                as: AuthReply.self,
                "login again on the same connection"
            )
        },
        ConformanceCase("session.reauth-as-other-user-ends-subscriptions", section: "Session") { ctx in
            let alice = try await ctx.newUser("a")
            let bob = try await ctx.newUser("b")
            let room = ctx.unique("sw")
            try await ctx.join(alice.client, room)
            try await ctx.join(bob.client, room)
            _ = try await alice.client.call(
                Request.login(user: try Request.user(bob.name), password: bob.password),
                as: AuthReply.self,
                "login as another user on the same connection"
            )
            _ = try await alice.client.drainEvents()
            _ = try await bob.client.call(
                Request.send(room: try Request.room(room), text: "after switch", kind: .text, nonce: nil),
                as: SendReply.self,
                "send"
            )
            let events = try await alice.client.drainChatEvents()
            try check(
                !events.contains { $0.type == "message" },
                "a connection that switched user still received a message from the old user's subscription"
            )
        },
    ]
}

extension String {
    /// NFC form (ChatCore's rule).
    var precomposedNFC: String { TextRules.userNameDisplay(self) }
}
