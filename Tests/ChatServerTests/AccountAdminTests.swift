import ChatConformance
import ChatCore
import ChatServer
import Foundation
import Logging
import Testing

/// Invites, operator commands (users, tokens) and the admin socket, against live servers.
@Suite("Accounts and admin commands", .serialized)
struct AccountAdminTests {
    static let password = "correct horse battery"

    static func register(_ ctx: ConformanceContext, _ name: String, invite: String? = nil) async throws -> JSONObject {
        let client = try await ctx.helloClient()
        var fields: JSONObject = ["user": .string(name), "password": .string(password)]
        if let invite { fields["invite"] = .string(invite) }
        let reply = try await client.request("register", fields)
        await client.disconnect()
        return reply
    }

    static func login(
        _ ctx: ConformanceContext,
        _ name: String,
        _ password: String = password
    ) async throws
        -> (WireClient, JSONObject)
    {
        let client = try await ctx.helloClient()
        return (client, try await client.request("login", ["user": .string(name), "password": .string(password)]))
    }

    @Test("--registration invite: register needs a valid, unused, unexpired code")
    func invites() async throws {
        var configuration = TestServer.conformanceConfiguration
        configuration.registration = .invite
        try await TestServer.with(configuration) { server in
            let ctx = server.context
            try expectError(try await Self.register(ctx, ctx.unique("none")), "forbidden", "no invite")
            try expectError(
                try await Self.register(ctx, ctx.unique("bad"), invite: "AAAA-BBBB"),
                "forbidden",
                "an unknown invite"
            )
            let two = try await server.hub.admin(.createInvite(uses: 2, expiresIn: 0))
            let code = try #require(two["code"]?.stringValue)
            #expect(code.count == 29, "24 characters in groups of 4: \(code)")
            try expectOK(try await Self.register(ctx, ctx.unique("first"), invite: code), "first use")
            // Case and separators do not matter.
            let sloppy = code.lowercased().replacingOccurrences(of: "-", with: " ")
            try expectOK(try await Self.register(ctx, ctx.unique("second"), invite: sloppy), "second use")
            try expectError(try await Self.register(ctx, ctx.unique("third"), invite: code), "forbidden", "used up")
            let listed = try await server.hub.admin(.listInvites)
            #expect(listed["invites"]?.arrayValue?.isEmpty == true, "a used-up invite is gone")

            let expiring = try #require(
                try await server.hub.admin(.createInvite(uses: 5, expiresIn: 1))["code"]?.stringValue
            )
            try await Task.sleep(for: .milliseconds(1100))
            try expectError(try await Self.register(ctx, ctx.unique("late"), invite: expiring), "forbidden", "expired")

            let revoked = try await server.hub.admin(.createInvite(uses: 5, expiresIn: 0))
            _ = try await server.hub.admin(.revokeInvite(id: try #require(revoked["id"]?.stringValue)))
            try expectError(
                try await Self.register(
                    ctx,
                    ctx.unique("withdrawn"),
                    invite: try #require(revoked["code"]?.stringValue)
                ),
                "forbidden",
                "a revoked invite"
            )
        }
    }

    @Test("tokens are listed and revoked per user; revoking ends the sessions that use them (4002)")
    func tokens() async throws {
        try await TestServer.with { server in
            let ctx = server.context
            let alice = try await ctx.newUser("alice")
            let (second, reply) = try await Self.login(ctx, alice.name, alice.password)
            try expectOK(reply, "login")
            let listed = try await server.hub.admin(.listTokens(name: alice.name))
            let tokens = listed["tokens"]?.arrayValue?.compactMap(\.objectValue) ?? []
            #expect(tokens.count == 2)
            #expect(tokens.allSatisfy { $0["connections"]?.intValue == 1 })
            // The first token was issued by register: revoke it by its id.
            let firstID = try #require(tokens.first?["id"]?.stringValue)
            let revoked = try await server.hub.admin(.revokeTokens(name: alice.name, id: String(firstID.prefix(8))))
            #expect(revoked["revoked"]?.intValue == 1)
            #expect(try await alice.client.waitForClose() == 4002)
            try expectOK(try await second.request("ping"), "the other session stays")
            let retry = try await ctx.helloClient()
            try expectError(
                try await retry.request("resume", ["token": .string(alice.token)]),
                "unauthorized",
                "resume"
            )
            // Ids that are too short or unknown are refused clearly.
            await #expect(throws: AdminError.self) {
                try await server.hub.admin(.revokeTokens(name: alice.name, id: "ab"))
            }
            await #expect(throws: AdminError.self) {
                try await server.hub.admin(.revokeTokens(name: alice.name, id: "zzzzzzzz"))
            }
            let all = try await server.hub.admin(.revokeTokens(name: alice.name, id: nil))
            #expect(all["revoked"]?.intValue == 1)
            #expect(try await second.waitForClose() == 4002)
        }
    }

    @Test("disable ends sessions and refuses login; passwd replaces the password and revokes tokens")
    func disableAndPasswd() async throws {
        try await TestServer.with { server in
            let ctx = server.context
            let bob = try await ctx.newUser("bob")
            _ = try await server.hub.admin(.setDisabled(name: bob.name, disabled: true))
            #expect(try await bob.client.waitForClose() == 4002)
            let (_, refused) = try await Self.login(ctx, bob.name, bob.password)
            try expectError(refused, "forbidden", "login of a disabled account")
            let users = try await server.hub.admin(.listUsers)["users"]?.arrayValue?.compactMap(\.objectValue) ?? []
            #expect(users.first { $0["name"]?.stringValue == bob.name }?["disabled"] == .bool(true))
            _ = try await server.hub.admin(.setDisabled(name: bob.name, disabled: false))
            let (enabled, ok) = try await Self.login(ctx, bob.name, bob.password)
            try expectOK(ok, "login after enable")

            let hash = try PasswordHasher(rounds: 1024).hash("a new long password")
            let changed = try await server.hub.admin(.setPassword(name: bob.name, passwordHash: hash))
            #expect(changed["tokens_revoked"]?.intValue == 1)
            #expect(try await enabled.waitForClose() == 4002)
            let (_, old) = try await Self.login(ctx, bob.name, bob.password)
            try expectError(old, "unauthorized", "the old password")
            let (_, new) = try await Self.login(ctx, bob.name, "a new long password")
            try expectOK(new, "the new password")

            await #expect(throws: AdminError.self) {
                try await server.hub.admin(.addUser(name: bob.name.uppercased(), passwordHash: hash))
            }
            await #expect(throws: AdminError.self) {
                try await server.hub.admin(.setDisabled(name: "nobody", disabled: true))
            }
            await #expect(throws: AdminError.self) {
                try await server.hub.admin(.addUser(name: "bad name", passwordHash: hash))
            }
        }
    }

    @Test("the CLI works offline on a data directory and through the admin socket of a running server")
    func commandLine() async throws {
        let dataDir = NSTemporaryDirectory() + "chat-admin-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dataDir) }
        func admin(_ arguments: [String], stdin: String? = nil) throws -> (status: Int32, out: String, err: String) {
            let process = Process()
            process.executableURL = try ProcessTests.executable("chat-server")
            process.arguments = arguments + ["--data-dir", dataDir]
            let out = Pipe()
            let err = Pipe()
            let input = Pipe()
            process.standardOutput = out
            process.standardError = err
            process.standardInput = input
            try process.run()
            if let stdin { input.fileHandleForWriting.write(Data(stdin.utf8)) }
            try input.fileHandleForWriting.close()
            let outData = out.fileHandleForReading.readDataToEndOfFile()
            let errData = err.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            return (
                process.terminationStatus, String(decoding: outData, as: UTF8.self),
                String(decoding: errData, as: UTF8.self)
            )
        }
        // Offline: the server is not running.
        let added = try admin(["user", "add", "carol", "--password-stdin"], stdin: "carol's password\n")
        #expect(added.status == 0, "\(added.err)")
        #expect(added.out.contains("created user carol"))
        let duplicate = try admin(["user", "add", "Carol", "--password-stdin"], stdin: "whatever long\n")
        #expect(duplicate.status != 0 && duplicate.err.contains("already exists"), "\(duplicate.err)")
        let short = try admin(["user", "add", "dave", "--password-stdin"], stdin: "short\n")
        #expect(short.status != 0 && short.err.contains("8 to 1024"), "\(short.err)")
        let invite = try admin(["invite", "create", "--uses", "1", "--expires", "1d"])
        #expect(invite.status == 0, "\(invite.err)")
        let code = invite.out.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(code.count == 29)

        // Online: the running server holds the directory; commands go through its socket.
        let server = try await ProcessTests.startServer(dataDir: dataDir, extra: ["--registration", "invite"])
        defer { server.process.terminate() }
        let attributes = try FileManager.default.attributesOfItem(atPath: dataDir + "/admin.sock")
        #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600)
        let ctx = ConformanceContext(url: server.url, limits: Limits())
        let (carol, login) = try await Self.login(ctx, "carol", "carol's password")
        try expectOK(login, "a user added offline logs in")
        try expectOK(try await Self.register(ctx, "erin", invite: code), "an invite created offline works")

        let listed = try admin(["user", "list", "--json"])
        #expect(listed.status == 0, "\(listed.err)")
        let users = try JSONParser().parse(listed.out.trimmingCharacters(in: .whitespacesAndNewlines))
        let names = users.objectValue?["users"]?.arrayValue?.compactMap { $0.objectValue?["name"]?.stringValue }
        #expect(names == ["carol", "erin"])
        let online = users.objectValue?["users"]?.arrayValue?.first?.objectValue?["online"]?.intValue
        #expect(online == 1, "the running server counts carol's connection")

        let disabled = try admin(["user", "disable", "carol"])
        #expect(disabled.status == 0 && disabled.err.contains("running server"), "\(disabled.err)")
        #expect(try await carol.waitForClose() == 4002)
        let table = try admin(["user", "list"])
        #expect(table.out.contains("disabled"), "\(table.out)")
    }
}
