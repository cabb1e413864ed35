import ChatConformance
import ChatCore
import Foundation
import Testing

/// `chat-server message delete`: a moderator's delete through the running server's admin socket
/// and offline on a stopped server's data directory.
@Suite("chat-server message delete (processes)", .serialized)
struct MessageDeleteAdminTests {
    static func admin(_ arguments: [String], dataDir: String) throws -> (status: Int32, out: String, err: String) {
        let process = Process()
        process.executableURL = try ProcessTests.executable("chat-server")
        process.arguments = arguments + ["--data-dir", dataDir]
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        let errData = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (
            process.terminationStatus, String(decoding: outData, as: UTF8.self),
            String(decoding: errData, as: UTF8.self)
        )
    }

    static func history(_ client: WireClient, _ room: String) async throws -> [ChatMessage] {
        try await client.call(
            Request.history(room: try Request.room(room), before: nil, after: 0, limit: 50),
            as: HistoryReply.self,
            "history"
        ).messages
    }

    @Test("online: members get a delete event from 'server' and see a tombstone; offline: the next start has it")
    func deleteOnlineAndOffline() async throws {
        let dataDir = NSTemporaryDirectory() + "chat-moderate-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dataDir) }
        var server = try await ProcessTests.startServer(dataDir: dataDir)
        defer { server.process.terminate() }
        let ctx = ConformanceContext(url: server.url, limits: Limits())
        let alice = try await ctx.newUser("alice")
        let bob = try await ctx.newUser("bob")
        let room = ctx.unique("mod")
        for client in [alice.client, bob.client] { try await ctx.join(client, room) }
        for text in ["spam spam", "keep this", "more spam"] {
            _ = try expectOK(
                try await alice.client.request(
                    Request.send(room: try Request.room(room), text: text, kind: .text, nonce: nil)
                ),
                "send"
            )
        }
        for _ in 0..<3 { _ = try await bob.client.nextMessage() }

        let online = try Self.admin(["message", "delete", room, "1"], dataDir: dataDir)
        #expect(online.status == 0, "\(online.err)")
        #expect(online.err.contains("running server"), "\(online.err)")
        #expect(online.out.contains("deleted"), "\(online.out)")
        let event = try await bob.client.nextMessage()
        #expect(event.kind == .delete && event.target == 1 && event.from == "server" && event.seq == 4)
        var messages = try await Self.history(bob.client, room)
        #expect(messages.first?.deleted == true && messages.first?.text == "")

        let again = try Self.admin(["message", "delete", room, "1"], dataDir: dataDir)
        #expect(again.status != 0 && again.err.contains("was deleted"), "\(again.err)")
        let missing = try Self.admin(["message", "delete", room, "99"], dataDir: dataDir)
        #expect(missing.status != 0 && missing.err.contains("no message 99"), "\(missing.err)")
        let noRoom = try Self.admin(["message", "delete", "no-such-room", "1"], dataDir: dataDir)
        #expect(noRoom.status != 0 && noRoom.err.contains("no such room"), "\(noRoom.err)")

        // Offline: the server is stopped; the command appends to the data directory itself.
        server.process.terminate()
        _ = try await ProcessTests.waitForExit(server.process)
        let offline = try Self.admin(["message", "delete", room, "3", "--json"], dataDir: dataDir)
        #expect(offline.status == 0, "\(offline.err)")
        let result = try JSONParser().parse(offline.out.trimmingCharacters(in: .whitespacesAndNewlines))
        #expect(result.objectValue?["event_seq"]?.intValue == 5)
        server = try await ProcessTests.startServer(dataDir: dataDir)
        let reader = try await ConformanceContext(url: server.url, limits: Limits()).helloClient()
        _ = try await reader.call(Request.resume(token: bob.token), as: AuthReply.self, "resume")
        messages = try await Self.history(reader, room)
        #expect(messages.map(\.deleted) == [true, false, true, false, false])
        #expect(messages[1].text == "keep this")
        await reader.disconnect()
    }
}
