import ChatClient
import ChatConformance
import ChatCore
import ChatServer
import Foundation
import Testing

/// `--retain-days` from outside (issue 16): a server that keeps messages for 0.0002 days
/// (17.3 s) turns older ones into tombstones (cold and hot), keeps every seq, stops finding them
/// in search, stops serving their files, and their text leaves the data directory. The period
/// leaves the messages sent after the wait more than 17 s before they expire too, which a loaded
/// CI machine needs (with 4.3 s, they expired before the test had looked at them).
@Suite("Retention (processes)", .serialized)
struct RetentionProcessTests {
    static let extra = ["--hot-messages", "3", "--snapshot-interval", "1", "--retain-days", "0.0002"]
    /// Longer than the period: messages sent before waiting this long have expired.
    static let aging: Duration = .seconds(18)

    @Test("old messages become tombstones; seqs stay; search, files and the disk follow", .timeLimit(.minutes(3)))
    func expires() async throws {
        let dataDir = NSTemporaryDirectory() + "chat-retain-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dataDir) }
        var server = try await CrashTests.start(dataDir, extra: Self.extra)
        defer { server.process.terminate() }
        let ctx = ConformanceContext(url: server.url, limits: Limits())
        let alice = try await ctx.newUser("alice")
        let bob = try await ctx.newUser("bob")
        let room = ctx.unique("retain")
        let name = try Request.room(room)
        for client in [alice.client, bob.client] { try await ctx.join(client, room) }
        let old = "quokka" + String(UUID().uuidString.prefix(8)).lowercased()
        let new = "wallaby" + String(UUID().uuidString.prefix(8)).lowercased()

        let (path, _) = try FileTests.temporaryFile(4096)
        defer { unlink(path) }
        let files = try FileTransfer(serverURL: server.url, token: alice.token)
        let upload = try await files.upload(path: path, name: "old.bin", mime: "application/octet-stream")
        await files.shutdown()
        for i in 1...8 { _ = try await SearchServerTests.send(alice.client, room, "\(old) message \(i)") }
        _ = try expectOK(try await FileTests.sendFile(alice.client, room: room, file: upload.id), "send file")
        _ = try expectOK(
            try await alice.client.request(Request.edit(room: name, seq: 2, text: "\(old) edited")),
            "edit"
        )
        _ = try expectOK(try await bob.client.request(Request.react(room: name, seq: 3, emoji: "👍")), "react")
        let sent = ContinuousClock.now
        _ = try await SearchServerTests.search(alice.client, ["query": .string(old)])
        let bobFiles = try FileTransfer(serverURL: server.url, token: bob.token)
        let fileRef = FileRef(
            id: upload.id,
            name: "old.bin",
            mime: "application/octet-stream",
            size: 4096,
            sha256: upload.sha256
        )
        try await bobFiles.download(fileRef, to: dataDir + "-bob-1")
        unlink(dataDir + "-bob-1")
        // 11 messages sent; the next ones are sent once those are older than the period.
        try await Task.sleep(until: sent + Self.aging)
        let newSeqs = [
            try await SearchServerTests.send(alice.client, room, "\(new) one"),
            try await SearchServerTests.send(alice.client, room, "\(new) two"),
        ]
        #expect(newSeqs == [12, 13])

        func history() async throws -> [Int64: ChatMessage] {
            try await HotWindowRestartTests.messages(server.url, token: alice.token, room: room)
        }
        func expired(_ message: ChatMessage?) -> Bool {
            guard let message, message.text.isEmpty, message.file == nil, message.reactions.isEmpty else {
                return false
            }
            return !message.isContent || message.deleted
        }
        func verify(_ all: [Int64: ChatMessage], _ what: String) {
            #expect(all.keys.sorted() == Array(1...13), "\(what): every seq once")
            for seq in Int64(1)...11 { #expect(expired(all[seq]), "\(what): \(seq) expired") }
            #expect(all[12]?.text == "\(new) one" && all[13]?.text == "\(new) two", "\(what): new messages stay")
        }
        #expect(
            try await eventually(within: .seconds(20), every: .milliseconds(200)) {
                guard let all = try? await history() else { return false }
                return (Int64(1)...11).allSatisfy { expired(all[$0]) }
            },
            "the old messages expired"
        )
        verify(try await history(), "live")
        // Changes to expired messages are refused as for deleted ones.
        try expectError(
            try await alice.client.request(Request.edit(room: name, seq: 1, text: "again")),
            "not_found",
            "edit of an expired message"
        )
        // Search stops finding them; the new ones are found.
        let found = SearchServerTests.results(try await SearchServerTests.search(alice.client, ["query": .string(new)]))
        #expect(found.map(\.seq).sorted() == [12, 13])
        #expect(
            try await eventually(within: .seconds(10), every: .milliseconds(100)) {
                let reply = try? await alice.client.request("search", ["query": .string(old)])
                return reply.map { SearchServerTests.results($0).isEmpty } ?? false
            },
            "search no longer finds expired messages"
        )
        // Bob shared the file through an expired message only: 404 for him (once the hub has
        // taken the compaction, within a second of the cold store showing the tombstones).
        #expect(
            try await eventually(within: .seconds(10), every: .milliseconds(100)) {
                do {
                    try await bobFiles.download(fileRef, to: dataDir + "-bob-2")
                    unlink(dataDir + "-bob-2")
                    return false
                } catch let failure as FileTransfer.Failure {
                    return failure.status == 404
                } catch {
                    return false
                }
            },
            "a file shared only by expired messages is no longer served"
        )
        await bobFiles.shutdown()

        server.process.terminate()
        #expect(try await ProcessTests.waitForExit(server.process) == 0)
        #expect(SearchChangeTests.files(holding: old, under: dataDir) == [], "expired text is gone from the disk")
        #expect(SearchChangeTests.filesHold(new, under: dataDir))

        server = try await CrashTests.start(dataDir, extra: Self.extra)
        verify(try await history(), "after a restart")
    }

    @Test(
        "kill -9 after an expiry's rewrite and after its commit: every seq once, and the restart expires them",
        .timeLimit(.minutes(3)),
        arguments: ["compaction appended, not committed", "compaction committed, snapshot not written"]
    )
    func killDuringExpiry(point: String) async throws {
        let dataDir = NSTemporaryDirectory() + "chat-retain-kill-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dataDir) }
        let flags = Self.extra + ["--fsync", "always"]
        var server = try await ProcessTests.startServer(
            dataDir: dataDir,
            extra: flags,
            environment: ["CHAT_SERVER_TEST_PAUSE_COMPACTION_MS": "3000"]
        )
        defer { server.process.terminate() }
        let ctx = ConformanceContext(url: server.url, limits: Limits())
        let (user, room) = try await ctx.newUserInNewRoom("expirer", room: "expire")
        var client = try await HotWindowRestartTests.resumed(server.url, user.token)
        try await HotWindowRestartTests.sendAll(client, room, "old", 12)
        await client.disconnect()
        let sent = ContinuousClock.now
        // Once the messages are older than the period, the next compaction expires them: kill the
        // server at `point` of a compaction that started after that.
        try await Task.sleep(until: sent + Self.aging)
        let logged = server.log.count
        let running = server
        #expect(
            try await eventually(within: .seconds(30), every: .milliseconds(20)) {
                running.log.dropFirst(logged).contains("test pause: \(point)")
            },
            "a compaction reached: \(point)"
        )
        kill(server.process.processIdentifier, SIGKILL)
        _ = try await ProcessTests.waitForExit(server.process)
        server = try await ProcessTests.startServer(dataDir: dataDir, extra: flags)
        client = try await HotWindowRestartTests.resumed(server.url, user.token)
        try await HotWindowRestartTests.sendAll(client, room, "new", 2)
        let url = server.url
        func stored() async throws -> [JSONObject] {
            let reader = try await HotWindowRestartTests.resumed(url, user.token)
            let messages = try await CrashTests.history(reader, room: room)
            await reader.disconnect()
            return messages
        }
        #expect(
            try await eventually(within: .seconds(20), every: .milliseconds(200)) {
                (try? await stored())?.prefix(12).allSatisfy { $0["deleted"] == .bool(true) } ?? false
            },
            "the restarted server expired the old messages"
        )
        let all = try await stored()
        #expect(all.compactMap { $0["seq"]?.intValue } == Array(1...14), "every seq once")
        #expect(all.prefix(12).allSatisfy { $0["text"] == nil }, "no expired text")
        #expect(all.suffix(2).compactMap { $0["text"]?.stringValue } == ["new-0", "new-1"])
        await client.disconnect()
        server.process.terminate()
        #expect(try await ProcessTests.waitForExit(server.process) == 0)
        #expect(SearchChangeTests.files(holding: "old-1", under: dataDir) == [], "expired text is gone from the disk")
    }
}
