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
            let reply = try expectOK(
                try await c.request("hello", ["version": 1, "client": "chat-conformance/1"]),
                "hello"
            )
            try checkEqual(reply["version"]?.intValue, 1, "hello reply version")
            try check(reply["server"]?.stringValue?.isEmpty == false, "hello reply has a server name")
            guard let limits = reply["limits"]?.objectValue else {
                throw ConformanceFailure("hello reply has no limits")
            }
            for key in ["max_frame", "max_text", "history_limit", "rate_burst"] {
                try check((limits[key]?.intValue ?? 0) > 0, "limits.\(key) is a positive integer")
            }
            switch limits["rate_per_sec"] {
            case .int(let v)?: try check(v > 0, "limits.rate_per_sec is positive")
            case .double(let v)?: try check(v > 0, "limits.rate_per_sec is positive")
            default: throw ConformanceFailure("limits.rate_per_sec is not a number")
            }
        },
        ConformanceCase("session.unsupported-version", section: "Session") { ctx in
            let c = try await ctx.connect()
            try expectError(
                try await c.request("hello", ["version": 2, "client": "chat-conformance/1"]),
                "unsupported_version",
                "hello version 2"
            )
            try expectOK(
                try await c.request("hello", ["version": 1, "client": "chat-conformance/1"]),
                "hello version 1 after an unsupported version"
            )
        },
        ConformanceCase("session.second-hello", section: "Session") { ctx in
            let c = try await ctx.helloClient()
            try expectError(
                try await c.request("hello", ["version": 1, "client": "chat-conformance/1"]),
                "bad_request",
                "second hello"
            )
        },
        ConformanceCase("session.unauthorized-before-auth", section: "Session") { ctx in
            let c = try await ctx.helloClient()
            try expectOK(try await c.request("ping"), "ping before authentication")
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
            let reply = try expectOK(
                try await c.request("register", ["user": .string(name), "password": "correct horse"]),
                "register"
            )
            try checkEqual(reply["user"]?.stringValue, name, "registered name as written")
            try check((reply["token"]?.stringValue?.count ?? 0) >= 22, "token has at least 128 bits")
            try checkEqual(reply["rooms"], .array([]), "rooms of a new user")
            let other = try await ctx.helloClient()
            try expectError(
                try await other.request("register", ["user": .string(name.lowercased()), "password": "another one"]),
                "conflict",
                "registering the same name in another case"
            )
            try expectError(
                try await other.request("register", ["user": .string(name), "password": "another one"]),
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
                let reply = try expectOK(
                    try await c.request("register", ["user": .string(name), "password": "long enough"]),
                    "register '\(name)'"
                )
                try checkEqual(
                    reply["user"]?.stringValue,
                    name.precomposedNFC,
                    "name shown as written (after NFC)"
                )
            }
        },
        ConformanceCase("session.names-fold-case-and-nfc", section: "Names and text") { ctx in
            let base = ctx.unique("Straße")
            let c = try await ctx.helloClient()
            try expectOK(
                try await c.request("register", ["user": .string(base), "password": "long enough"]),
                "register \(base)"
            )
            let upper = base.uppercased()
            let d = try await ctx.helloClient()
            try expectError(
                try await d.request("register", ["user": .string(upper), "password": "long enough"]),
                "conflict",
                "register \(upper) (case-folds to the same name)"
            )
            let reply = try expectOK(
                try await d.request("login", ["user": .string(upper), "password": "long enough"]),
                "login as \(upper)"
            )
            try checkEqual(reply["user"]?.stringValue, base, "login reply shows the name as first written")
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
            let reply = try expectOK(
                try await c.request("login", ["user": .string(user.name), "password": .string(user.password)]),
                "login"
            )
            try checkEqual(reply["user"]?.stringValue, user.name, "login user")
            try check((reply["token"]?.stringValue?.count ?? 0) >= 22, "login token has at least 128 bits")
            try check(reply["token"]?.stringValue != user.token, "login issues a new token")
            let rooms = reply["rooms"]?.arrayValue?.compactMap(\.objectValue) ?? []
            try checkEqual(rooms.count, 1, "rooms in login reply")
            try checkEqual(rooms.first?["name"]?.stringValue, room, "room name in login reply")
            try checkEqual(rooms.first?["head"]?.intValue, 2, "room head in login reply")
            try checkEqual(rooms.first?["read"]?.intValue, 0, "room read marker in login reply")
        },
        ConformanceCase("session.login-failures-look-alike", section: "Session") { ctx in
            let user = try await ctx.newUser("lf")
            let c = try await ctx.helloClient()
            let wrong = try await c.request("login", ["user": .string(user.name), "password": "wrong password"])
            try expectError(wrong, "unauthorized", "login with a wrong password")
            let unknown = try await c.request(
                "login",
                ["user": .string(ctx.unique("nobody")), "password": "whatever1"]
            )
            try expectError(unknown, "unauthorized", "login as an unknown user")
            try checkEqual(unknown["message"], wrong["message"], "the two failures carry the same message")
            try expectOK(try await c.request("ping"), "connection survives failed logins")
        },
        ConformanceCase("session.resume", section: "Session") { ctx in
            let user = try await ctx.newUser("res")
            let c = try await ctx.helloClient()
            let reply = try expectOK(try await c.request("resume", ["token": .string(user.token)]), "resume")
            try checkEqual(reply["user"]?.stringValue, user.name, "resumed user")
            try check(reply["rooms"]?.arrayValue != nil, "resume reply lists rooms")
            let d = try await ctx.helloClient()
            try expectError(try await d.request("resume", ["token": "not-a-token"]), "unauthorized", "bad token")
        },
        ConformanceCase("session.logout", section: "Session") { ctx in
            let user = try await ctx.newUser("out")
            let other = try await ctx.secondConnection(user)
            try expectOK(try await user.client.request("logout"), "logout")
            try checkEqual(try await other.waitForClose(), 4002, "close code of another connection with the token")
            try expectError(try await user.client.request("rooms"), "unauthorized", "rooms after logout")
            let again = try await ctx.helloClient()
            try expectError(
                try await again.request("resume", ["token": .string(user.token)]),
                "unauthorized",
                "resume with a logged-out token"
            )
            try expectOK(
                try await user.client.request(
                    "login",
                    ["user": .string(user.name), "password": .string(user.password)]
                ),
                "login again on the same connection"
            )
        },
        ConformanceCase("session.reauth-as-other-user-ends-subscriptions", section: "Session") { ctx in
            let alice = try await ctx.newUser("a")
            let bob = try await ctx.newUser("b")
            let room = ctx.unique("sw")
            try await ctx.join(alice.client, room)
            try await ctx.join(bob.client, room)
            try expectOK(
                try await alice.client.request(
                    "login",
                    ["user": .string(bob.name), "password": .string(bob.password)]
                ),
                "login as another user on the same connection"
            )
            _ = try await alice.client.drainEvents()
            try expectOK(
                try await bob.client.request("send", ["room": .string(room), "text": "after switch"]),
                "send"
            )
            let events = try await alice.client.drainEvents()
            try check(
                !events.contains { $0["type"]?.stringValue == "message" },
                "a connection that switched user still received a message from the old user's subscription"
            )
        },
    ]
}

extension String {
    /// NFC form (ChatCore's rule).
    var precomposedNFC: String { TextRules.userNameDisplay(self) }
}
