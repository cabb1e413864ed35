import ChatConformance
import ChatCore
import Foundation
import Testing

extension TUIEndToEndTests {
    @Test(
        "two users open a direct message from the TUI and talk; a third user sees nothing of it",
        .timeLimit(.minutes(1))
    )
    func directMessages() async throws {
        let server = try await E2EServer.start()
        defer { server.stop() }
        let context = ConformanceContext(url: server.url, limits: Limits())
        let ann = try await context.newUser("ann")
        let ben = try await context.newUser("ben")
        let cat = try await context.newUser("cat")
        try await context.join(cat.client, Self.room)
        await ann.client.disconnect()
        await ben.client.disconnect()
        let tuiBen = try await TmuxChat.start(url: server.url, user: ben.name, password: ben.password)
        defer { tuiBen.kill() }
        try await tuiBen.waitForScreen("ben connected") { $0.status.hasPrefix(" ●") }
        let tuiAnn = try await TmuxChat.start(url: server.url, user: ann.name, password: ann.password)
        defer { tuiAnn.kill() }
        try await tuiAnn.waitForScreen("ann connected") { $0.status.hasPrefix(" ●") }

        // Ann opens the DM with /msg: it is listed by ben's name, under the heading, with his presence.
        let first = "hello ben, just us 日本"
        try await tuiAnn.type("/msg \(ben.name) \(first)")
        try await tuiAnn.press("Enter")
        let annScreen = try await tuiAnn.waitForScreen("the DM open and the message acknowledged") {
            $0.lines.first?.hasPrefix(" @\(ben.name)") == true && $0.input.hasPrefix("[@\(ben.name)]")
                && $0.messageRows.contains { $0.text == first && $0.time != "--:--" }
        }
        #expect(annScreen.lines.contains { $0.hasPrefix("Direct messages") }, "\(annScreen)")
        #expect(annScreen.lines.contains { $0.hasPrefix("2 ● \(ben.name.prefix(4))") }, "ben is online:\n\(annScreen)")

        // Ben's TUI is told (`added`): the DM appears with a mention count; he answers with /msg too.
        try await tuiBen.waitForScreen("the DM in ben's sidebar with a mention") {
            $0.lines.contains { $0.hasPrefix("Direct messages") }
                && $0.lines.contains { $0.hasPrefix("2 ● \(ann.name.prefix(4))") && $0.contains("!1") }
        }
        let answer = "hi ann 👋"
        try await tuiBen.type("/msg \(ann.name) \(answer)")
        try await tuiBen.press("Enter")
        let benScreen = try await tuiBen.waitForScreen("both messages in ben's DM") {
            $0.input.hasPrefix("[@\(ann.name)]") && $0.messageRows.map(\.text).suffix(2) == [first, answer]
        }
        #expect(benScreen.messageRows.filter { $0.text == answer }.count == 1, "\(benScreen)")
        try await tuiAnn.waitForScreen("ben's answer in ann's DM") {
            $0.messageRows.map(\.text).suffix(2) == [first, answer]
        }

        // Cat: not in the room list, no history, no members, and no events from it.
        let dm = DirectRoom.name(try Request.user(ann.name), try Request.user(ben.name)).display
        let rooms = try expectOK(try await cat.client.request("rooms", [:]), "rooms")
        let names = rooms["rooms"]?.arrayValue?.compactMap { $0.objectValue?["name"]?.stringValue } ?? []
        #expect(!names.contains { $0.hasPrefix("@") }, "\(names)")
        let history = try await cat.client.request("history", ["room": .string(dm)])
        #expect(history["type"]?.stringValue == "error", "\(JSONValue.object(history).jsonString)")
        let members = try await cat.client.request("members", ["room": .string(dm)])
        #expect(members["type"]?.stringValue == "error", "\(JSONValue.object(members).jsonString)")
        let join = try await cat.client.request("join", ["room": .string(dm)])
        #expect(join["type"]?.stringValue == "error", "\(JSONValue.object(join).jsonString)")
        let events = try await cat.client.drainEvents()
        let leaked = events.filter { $0["room"]?.stringValue == dm || $0["text"]?.stringValue == first }
        #expect(leaked.isEmpty, "\(leaked.map { JSONValue.object($0).jsonString })")
    }
}
