import ChatConformance
import ChatCore
import Foundation
import Testing

/// Edits, deletes, reactions and replies survive `kill -9` (log replay) and a clean restart
/// (snapshot), and a deleted message's text leaves the data directory once a snapshot has
/// rotated the log.
@Suite("Edits, deletes and reactions across restarts (processes)", .serialized)
struct MessageChangeRestartTests {
    /// The room's messages as `history` shows them, by seq.
    static func history(_ url: String, token: String, room: String) async throws -> [Int64: ChatMessage] {
        let client = try await ConformanceContext(url: url, limits: Limits()).helloClient()
        _ = try await client.call(Request.resume(token: token), as: AuthReply.self, "resume")
        let reply = try await client.call(
            Request.history(room: try Request.room(room), before: nil, after: 0, limit: 100),
            as: HistoryReply.self,
            "history"
        )
        await client.disconnect()
        return Dictionary(uniqueKeysWithValues: reply.messages.map { ($0.seq, $0) })
    }

    static func verify(_ messages: [Int64: ChatMessage], secret: String, bob: String, _ what: String) {
        #expect(messages.count == 8, "\(what): every event keeps its seq")
        #expect(messages[1]?.deleted == true, "\(what): the tombstone")
        #expect(messages[1]?.text == "", "\(what): no text")
        #expect(messages[2]?.text == "second, edited", "\(what): the edit")
        #expect(messages[2]?.editedTs != nil, "\(what): edited_ts")
        #expect(messages[2]?.reactions == [Reaction(emoji: "🎉", users: [bob])], "\(what): reactions")
        #expect(messages[3]?.replyTo == 2, "\(what): reply_to")
        #expect(messages[4]?.kind == .edit && messages[4]?.target == 2, "\(what): the edit event")
        #expect(messages[5]?.kind == .react && messages[5]?.emoji == "👍", "\(what): the first reaction")
        #expect(messages[8]?.kind == .delete && messages[8]?.target == 1, "\(what): the delete event")
        let all = messages.values.map { JSONValue.object($0.json).jsonString }.joined()
        #expect(!all.contains(secret), "\(what): the deleted text is not served")
    }

    @Test(
        "changes replay after kill -9 and a clean restart; the deleted text is gone from disk after a snapshot",
        .timeLimit(.minutes(3))
    )
    func restarts() async throws {
        let dataDir = NSTemporaryDirectory() + "chat-changes-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dataDir) }
        var server = try await CrashTests.start(dataDir)
        defer { server.process.terminate() }
        let ctx = ConformanceContext(url: server.url, limits: Limits())
        let alice = try await ctx.newUser("alice")
        let bob = try await ctx.newUser("bob")
        let room = ctx.unique("changes")
        let name = try Request.room(room)
        let secret = "kiwisecret" + String(UUID().uuidString.prefix(8)).lowercased()
        for client in [alice.client, bob.client] {
            _ = try expectOK(try await client.request(Request.join(room: name, since: nil, epoch: nil)), "join")
        }
        let steps: [(WireClient, Request)] = [
            (alice.client, .send(room: name, text: "first \(secret) words", kind: .text, nonce: nil)),
            (alice.client, .send(room: name, text: "second", kind: .text, nonce: nil)),
            (bob.client, .send(room: name, text: "a reply", kind: .text, nonce: "r1", replyTo: 2)),
            (alice.client, .edit(room: name, seq: 2, text: "second, edited")),
            (bob.client, .react(room: name, seq: 2, emoji: "👍")),
            (bob.client, .react(room: name, seq: 2, emoji: "🎉")),
            (bob.client, .unreact(room: name, seq: 2, emoji: "👍")),
            (alice.client, .delete(room: name, seq: 1)),
        ]
        for (i, (client, request)) in steps.enumerated() {
            let reply = try expectOK(try await client.request(request), "step \(i + 1)")
            #expect(reply["seq"]?.intValue == Int64(i + 1), "step \(i + 1) is stored as seq \(i + 1)")
        }
        // Searchable before the restarts: the deleted word is not found.
        Self.verify(
            try await Self.history(server.url, token: alice.token, room: room),
            secret: secret,
            bob: bob.name,
            "live"
        )

        kill(server.process.processIdentifier, SIGKILL)
        _ = try await ProcessTests.waitForExit(server.process)
        server = try await CrashTests.start(dataDir)
        Self.verify(
            try await Self.history(server.url, token: alice.token, room: room),
            secret: secret,
            bob: bob.name,
            "after kill -9"
        )

        // A clean stop writes a snapshot and drops the log that held the text.
        server.process.terminate()
        #expect(try await ProcessTests.waitForExit(server.process) == 0)
        #expect(
            SearchChangeTests.files(holding: secret, under: dataDir) == [],
            "the deleted text is gone from the data directory"
        )
        #expect(SearchChangeTests.filesHold("second, edited", under: dataDir), "the check finds text that is there")
        server = try await CrashTests.start(dataDir)
        Self.verify(
            try await Self.history(server.url, token: alice.token, room: room),
            secret: secret,
            bob: bob.name,
            "after a clean restart"
        )
        server.process.terminate()
        _ = try await ProcessTests.waitForExit(server.process)
    }
}
