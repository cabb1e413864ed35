import ChatClient
import ChatConformance
import ChatCore
import ChatServer
import Foundation
import Testing

/// The data directory's format (`FORMAT`, issue 16): a directory written by the release before
/// the cold store (format 1: `Tests/Fixtures/data-format-1`, made by the previous release's
/// binary) is upgraded in place on the first start and serves everything it held; a directory
/// of a newer format is refused.
@Suite("Data directory format (processes)", .serialized)
struct FormatUpgradeTests {
    static let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/data-format-1").path
    static let (alice, bob, password) = ("fmtalice", "fmtbob", "format-one-password")
    static let (lobby, secret) = ("fmtlobby", "fmtsecret")
    static let fileBytes = Array((0..<1000).map { UInt8(truncatingIfNeeded: $0 &* 7) })

    /// A connection logged in as `user`, and its token.
    static func login(_ url: String, _ user: String) async throws -> (WireClient, String) {
        let client = try await ConformanceContext(url: url, limits: Limits()).helloClient()
        let reply = try await client.call(
            Request.login(user: try Request.user(user), password: password),
            as: AuthReply.self,
            "login \(user)"
        )
        return (client, try #require(reply.token))
    }

    /// Writes the fixture with another chat-server binary (the previous release):
    /// `CHAT_MAKE_FORMAT1_FIXTURE=/path/to/old/chat-server swift test --filter makeFixture`.
    /// Made with the build of 9e9cc64 (the last commit before issue 16).
    @Test(
        "make the format-1 fixture with an older binary",
        .enabled(if: ProcessInfo.processInfo.environment["CHAT_MAKE_FORMAT1_FIXTURE"] != nil)
    )
    func makeFixture() async throws {
        let old = try #require(ProcessInfo.processInfo.environment["CHAT_MAKE_FORMAT1_FIXTURE"])
        let dataDir = NSTemporaryDirectory() + "chat-format1-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dataDir) }
        // The test launcher execs the old binary with the arguments meant for the new one.
        let launcher = ["/bin/sh", "-c", "shift; exec \"$0\" \"$@\"", old]
        func start() async throws -> ProcessTests.Running {
            try await ProcessTests.startServer(dataDir: dataDir, extra: ["--rate-burst", "1000"], launcher: launcher)
        }
        var server = try await start()
        let ctx = ConformanceContext(url: server.url, limits: Limits())
        var clients: [String: WireClient] = [:]
        for user in [Self.alice, Self.bob] {
            let client = try await ctx.helloClient()
            _ = try await client.call(
                Request.register(user: try Request.user(user), password: Self.password, invite: nil),
                as: AuthReply.self,
                "register"
            )
            clients[user] = client
        }
        let (a, b) = (clients[Self.alice]!, clients[Self.bob]!)
        let lobby = try Request.room(Self.lobby)
        try await ctx.join(a, Self.lobby)
        try await ctx.join(b, Self.lobby)
        for i in 1...30 {
            _ = try expectOK(
                try await a.request(
                    Request.send(room: lobby, text: "lobby message \(i)", kind: .text, nonce: "n-\(i)")
                ),
                "send"
            )
        }
        // seqs 31, 32, 33, 34:
        _ = try expectOK(
            try await a.request(Request.edit(room: lobby, seq: 2, text: "lobby message 2, edited")),
            "edit"
        )
        _ = try expectOK(try await a.request(Request.delete(room: lobby, seq: 4)), "delete")
        _ = try expectOK(try await b.request(Request.react(room: lobby, seq: 3, emoji: "👍")), "react")
        _ = try expectOK(
            try await b.request(
                Request.send(room: lobby, text: "a reply to five", kind: .text, nonce: nil, replyTo: 5)
            ),
            "reply"
        )
        let path = dataDir + ".notes"
        defer { unlink(path) }
        _ = FileManager.default.createFile(atPath: path, contents: Data(Self.fileBytes))
        let files = try FileTransfer(serverURL: server.url, token: try await Self.login(server.url, Self.alice).1)
        let upload = try await files.upload(path: path, name: "notes.txt", mime: "text/plain")
        await files.shutdown()
        _ = try expectOK(
            try await FileTests.sendFile(a, room: Self.lobby, file: upload.id, caption: "the notes"),
            "file"
        )  // 35
        _ = try expectOK(try await a.request(Request.topic(room: lobby, topic: "format one topic")), "topic")
        _ = try expectOK(try await b.request(Request.markRead(room: lobby, seq: 10)), "mark_read")
        let secret = try Request.room(Self.secret)
        _ = try expectOK(try await a.request(Request.create(room: secret, visibility: .private, topic: nil)), "create")
        _ = try expectOK(try await a.request(Request.invite(room: secret, user: try Request.user(Self.bob))), "invite")
        _ = try expectOK(
            try await a.request(Request.send(room: secret, text: "secret hello", kind: .text, nonce: nil)),
            "secret"
        )
        let dm = try expectOK(try await a.request(Request.dm(user: try Request.user(Self.bob))), "dm")
        let dmRoom = try Request.room(try #require(dm["room"]?.stringValue))
        _ = try expectOK(
            try await a.request(Request.send(room: dmRoom, text: "hello bob", kind: .text, nonce: nil)),
            "dm send"
        )
        // A clean stop writes the snapshot; three more messages (36–38) then stay in the log only,
        // after a kill -9 (the new binary replays the old binary's log and finds `RUNNING`).
        server.process.terminate()
        #expect(try await ProcessTests.waitForExit(server.process) == 0)
        server = try await start()
        let (again, _) = try await Self.login(server.url, Self.alice)
        for i in 1...3 {
            _ = try expectOK(
                try await again.request(
                    Request.send(room: lobby, text: "after the snapshot \(i)", kind: .text, nonce: nil)
                ),
                "send"
            )
        }
        kill(server.process.processIdentifier, SIGKILL)
        _ = try await ProcessTests.waitForExit(server.process)
        // The lock, the admin socket (which git cannot hold) and SQLite's shared-memory index of
        // the search index's WAL are made again at start.
        for name in ["LOCK", "admin.sock", "search/index.sqlite-shm"] {
            try? FileManager.default.removeItem(atPath: dataDir + "/" + name)
        }
        try? FileManager.default.removeItem(atPath: Self.fixture)
        try FileManager.default.copyItem(atPath: dataDir, toPath: Self.fixture)
    }

    /// Everything the fixture holds, through the protocol.
    static func verify(_ url: String, _ what: String) async throws {
        let (client, token) = try await Self.login(url, Self.alice)
        let all = try await HotWindowRestartTests.messages(url, token: token, room: Self.lobby)
        #expect(all.keys.sorted() == Array(1...38), "\(what): every seq once")
        #expect(all[1]?.text == "lobby message 1", "\(what)")
        #expect(all[2]?.text == "lobby message 2, edited" && all[2]?.editedTs != nil, "\(what)")
        #expect(all[3]?.reactions == [Reaction(emoji: "👍", users: [Self.bob])], "\(what)")
        #expect(all[4]?.deleted == true && all[4]?.text == "", "\(what)")
        #expect(all[34]?.replyTo == 5 && all[34]?.from == Self.bob, "\(what)")
        #expect(all[35]?.file?.name == "notes.txt" && all[35]?.text == "the notes", "\(what)")
        #expect(all[38]?.text == "after the snapshot 3", "\(what)")
        let secret = try await HotWindowRestartTests.messages(url, token: token, room: Self.secret)
        #expect(secret.values.map(\.text) == ["secret hello"], "\(what)")
        let rooms = try expectOK(try await client.request("rooms", [:]), "rooms")
        #expect(JSONValue.object(rooms).jsonString.contains("format one topic"), "\(what): the topic")

        // The old search index (or its rebuild) finds old and replayed messages.
        let hits = SearchServerTests.results(
            try await SearchServerTests.search(client, ["query": "snapshot"]) {
                SearchServerTests.results($0).count == 3
            }
        )
        #expect(hits.map(\.seq).sorted() == [36, 37, 38], "\(what): search")
        // Bob still downloads the file; his read marker is where he left it.
        let (bobClient, bobToken) = try await Self.login(url, Self.bob)
        let login = try expectOK(try await bobClient.request("resume", ["token": .string(bobToken)]), "resume")
        let lobbyEntry = login["rooms"]?.arrayValue?.first { $0.objectValue?["name"]?.stringValue == Self.lobby }
        #expect(lobbyEntry?.objectValue?["read"]?.intValue == 10, "\(what): bob's read marker")
        let file = try #require(all[35]?.file)
        let target = NSTemporaryDirectory() + "chat-format1-notes-\(UUID().uuidString)"
        defer { unlink(target) }
        let transfer = try FileTransfer(serverURL: url, token: bobToken)
        try await transfer.download(file, to: target)
        await transfer.shutdown()
        #expect(FileManager.default.contents(atPath: target).map(Array.init) == Self.fileBytes, "\(what): the file")
        // The DM survives too.
        let dm = try expectOK(try await bobClient.request(Request.dm(user: try Request.user(Self.alice))), "dm")
        let dmMessages = try await HotWindowRestartTests.messages(
            url,
            token: bobToken,
            room: try #require(dm["room"]?.stringValue)
        )
        #expect(dmMessages.values.map(\.text) == ["hello bob"], "\(what)")
        await client.disconnect()
        await bobClient.disconnect()
    }

    @Test(
        "a directory written by the release before the cold store is upgraded in place and keeps everything",
        .timeLimit(.minutes(3))
    )
    func upgradesInPlace() async throws {
        let dataDir = NSTemporaryDirectory() + "chat-format1-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dataDir) }
        try FileManager.default.copyItem(atPath: Self.fixture, toPath: dataDir)
        #expect(try DataDirectory(dataDir).checkFormat() == 1, "the fixture has no FORMAT file")
        let extra = ["--hot-messages", "2", "--snapshot-interval", "1"]
        var server = try await CrashTests.start(dataDir, extra: extra)
        defer { server.process.terminate() }
        #expect(try DataDirectory(dataDir).checkFormat() == DataDirectory.format)
        #expect(server.log.contains("data directory upgraded in place"))
        try await Self.verify(server.url, "first start")
        // The start compacts at once: older messages move to cold/.
        #expect(
            try await eventually(within: .seconds(20), every: .milliseconds(100)) {
                ((try? FileManager.default.contentsOfDirectory(atPath: dataDir + "/cold")) ?? []).contains {
                    $0.hasPrefix("manifest-")
                }
            },
            "the first start compacted the upgraded directory"
        )
        server.process.terminate()
        #expect(try await ProcessTests.waitForExit(server.process) == 0)
        server = try await CrashTests.start(dataDir, extra: extra)
        #expect(!server.log.contains("data directory upgraded in place"), "upgraded once")
        try await Self.verify(server.url, "second start")
    }

    @Test("a data directory of a newer format is refused at start and by backup, with the reason")
    func newerFormatIsRefused() async throws {
        let dataDir = try StorageTestSupport.makeTemporaryDirectory()
        defer { StorageTestSupport.removeDirectory(dataDir) }
        let format = "chat-server data format \(DataDirectory.format + 1)\n"
        _ = FileManager.default.createFile(atPath: dataDir + "/FORMAT", contents: Data(format.utf8))
        let failing = Process()
        failing.executableURL = try ProcessTests.executable("chat-server")
        failing.arguments = ["--host", "127.0.0.1", "--port", "\(try ProcessTests.freePort())", "--data-dir", dataDir]
        let stderr = Pipe()
        failing.standardError = stderr
        try failing.run()
        #expect(try await ProcessTests.waitForExit(failing) == 2)
        let message = String(decoding: stderr.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(message.contains("format \(DataDirectory.format + 1)"), "the reason: \(message)")
        #expect(throws: StorageError.self) { try Backup.create(dataDirectory: dataDir, output: dataDir + ".bak") }
        #expect(
            FileManager.default.contents(atPath: dataDir + "/FORMAT").map { String(decoding: $0, as: UTF8.self) }
                == format
        )
    }
}
