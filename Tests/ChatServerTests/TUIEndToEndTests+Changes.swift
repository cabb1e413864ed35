import ChatConformance
import ChatCore
import Foundation
import Testing

extension TUIEndToEndTests {
    @Test(
        "one TUI edits (selection, e), deletes (/delete, y) and reacts (selection, +); the other TUI's screen shows it",
        .timeLimit(.minutes(1))
    )
    func editsDeletesReactions() async throws {
        let server = try await E2EServer.start()
        defer { server.stop() }
        let context = ConformanceContext(url: server.url, limits: Limits())
        let alice = try await context.newUser("alice")
        let bob = try await context.newUser("bob")
        await alice.client.disconnect()
        await bob.client.disconnect()
        let tuiBob = try await TmuxChat.start(url: server.url, user: bob.name, password: bob.password)
        defer { tuiBob.kill() }
        try await tuiBob.waitForScreen("bob connected") { $0.status.hasPrefix(" ●") }
        let tuiAlice = try await TmuxChat.start(url: server.url, user: alice.name, password: alice.password)
        defer { tuiAlice.kill() }
        try await tuiAlice.waitForScreen("alice connected") { $0.status.hasPrefix(" ●") }

        let fromBob = "hello from bob"
        try await tuiBob.type(fromBob)
        try await tuiBob.press("Enter")
        try await tuiAlice.waitForScreen("bob's message at alice") { $0.messageRows.contains { $0.text == fromBob } }
        let keep = "first message to keep"
        let doomed = "second one to delete"
        for text in [keep, doomed] {
            try await tuiAlice.type(text)
            try await tuiAlice.press("Enter")
        }
        try await tuiAlice.waitForScreen("both of alice's messages acknowledged") { screen in
            [keep, doomed].allSatisfy { text in screen.messageRows.contains { $0.text == text && $0.time != "--:--" } }
        }
        try await tuiBob.waitForScreen("alice's messages at bob") { $0.messages.suffix(2) == [[keep], [doomed]] }

        // Edit the older one: Alt-S selects the newest, ↑ the one before, e opens it in the input line.
        try await tuiAlice.press("M-s")
        try await tuiAlice.press("Up")
        try await tuiAlice.press("e")
        try await tuiAlice.waitForScreen("the edit in alice's input line") { $0.input == "editing › \(keep)" }
        let edited = "first message, edited 日本"
        try await tuiAlice.press("C-u")
        try await tuiAlice.type(edited)
        try await tuiAlice.press("Enter")

        // Delete the newer one with /delete (it asks first).
        try await tuiAlice.type("/delete")
        try await tuiAlice.press("Enter")
        try await tuiAlice.waitForScreen("the delete question") { $0.status.contains("? y/n") }
        try await tuiAlice.press("y")
        try await tuiAlice.waitForScreen("the delete back at alice") {
            $0.messageRows.contains { $0.text == "message deleted" }
        }

        // React to bob's message: Alt-S, ↑ (the deleted one is skipped), +, Enter takes the offered 👍.
        try await tuiAlice.press("M-s")
        try await tuiAlice.press("Up")
        try await tuiAlice.press("+")
        try await tuiAlice.waitForScreen("the reaction prompt") { $0.input == "react with › 👍" }
        try await tuiAlice.press("Enter")

        // Rows of the pane, the reactions line a row of its own under bob's message.
        let expected = [fromBob, "👍 1", "\(edited) (edited)", "message deleted"]
        let bobScreen = try await tuiBob.waitForScreen("the edit, the delete and the reaction at bob") {
            Self.flattened($0).suffix(4) == expected[...]
        }
        #expect(!bobScreen.text.contains(doomed), "\(bobScreen)")
        #expect(!bobScreen.text.contains(keep), "\(bobScreen)")
        try await tuiAlice.waitForScreen("alice sees the same") { Self.flattened($0).suffix(4) == expected[...] }
    }

    /// The pane's text rows, top to bottom (continuations and the reactions line as rows of their own).
    static func flattened(_ screen: Screen) -> [String] { screen.messageRows.map(\.text) }
}
