import ChatConformance
import ChatCore
import ChatServer
import Testing

/// `--edit-window` (PROTOCOL.md §7.7): an edit later than the window after the message's `ts`
/// is `forbidden`; the runner cannot set it, so this is a server test.
@Suite("Edit window")
struct EditWindowTests {
    @Test("an edit inside the window is stored; one after it is forbidden and stores nothing")
    func editWindow() async throws {
        var configuration = TestServer.conformanceConfiguration
        configuration.editWindow = 5
        try await TestServer.with(configuration) { server in
            let ctx = server.context
            let alice = try await ctx.newUser()
            try await ctx.join(alice.client, "win")
            let name = try Request.room("win")
            let sent = try alice.client.expectSeq(
                try await alice.client.request(Request.send(room: name, text: "typo", kind: .text, nonce: nil))
            )
            let edit = try alice.client.expectSeq(
                try await alice.client.request(Request.edit(room: name, seq: sent, text: "fixed"))
            )
            #expect(edit == sent + 1)
            try await Task.sleep(for: .milliseconds(5500))
            let late = try await alice.client.request(Request.edit(room: name, seq: sent, text: "too late"))
            try expectError(late, "forbidden", "an edit after the window")
            #expect(late["message"]?.stringValue == "messages can be edited for 5 s after sending")
            let history = try messages(
                try await alice.client.request(Request.history(room: name, before: nil, after: nil, limit: nil))
            )
            #expect(history.map(\.seq) == [sent, edit])
            #expect(history.first?.text == "fixed")
        }
    }
}

extension WireClient {
    fileprivate func expectSeq(_ reply: JSONObject) throws -> Int64 {
        try expectReply(reply, as: SendReply.self, "request").seq
    }
}
