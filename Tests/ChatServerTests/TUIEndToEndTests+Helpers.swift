import ChatConformance
import ChatCore
import Foundation
import Testing

extension TUIEndToEndTests {
    // MARK: Helpers

    /// Registers a user for the TUI over the wire and opens the TUI in the test room as that user.
    static func openTUI(_ context: ConformanceContext) async throws -> TmuxChat {
        let me = try await context.newUser("tui")
        await me.client.disconnect()
        return try await TmuxChat.start(url: context.url, user: me.name, password: me.password)
    }

    /// Sends a message and checks it was accepted.
    static func say(_ client: WireClient, _ text: String) async throws {
        try expectOK(
            try await client.request("send", ["room": .string(room), "text": .string(text)]),
            "send \(text)"
        )
    }

    /// Waits (bounded) for a `message` event with this text on a wire connection.
    static func waitForMessage(_ client: WireClient, text: String) async throws -> JSONObject {
        let deadline = ContinuousClock.now + .seconds(10)
        var seen: [String] = []
        while ContinuousClock.now < deadline {
            for event in try await client.drainEvents() {
                if event["type"]?.stringValue == "message", event["text"]?.stringValue == text { return event }
                seen.append(JSONValue.object(event).jsonString)
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw E2EFailure("no message event with text \(text) within 10 s; other events: \(seen)")
    }

    /// Whether the server counts the user as online (a member with a connection).
    static func isOnline(_ user: String, client: WireClient) async throws -> Bool {
        let reply = try expectOK(try await client.request("members", ["room": .string(room)]), "members")
        let members = reply["members"]?.arrayValue?.compactMap(\.objectValue) ?? []
        return members.contains { $0["user"]?.stringValue == user && $0["online"]?.boolValue == true }
    }

    /// What is wrong with the screen as a full drawing of the room at the screen's size: the title on the
    /// first row, the room in the sidebar, the status bar on the second-to-last row and the input line on the
    /// last (each once), every row within the width, the sidebar's │ at one column, separators across the
    /// pane, the messages once each in order, and every message line's │ at one column.
    static func layoutProblems(_ screen: Screen, texts: [String]) -> [String] {
        var problems: [String] = []
        func require(_ condition: Bool, _ problem: String) { if !condition { problems.append(problem) } }
        let (columns, rows) = (screen.columns, screen.rows)
        require(screen.lines.count == rows, "\(screen.lines.count) rows, not \(rows)")
        guard screen.lines.count == rows, rows >= 4 else { return problems }
        require(screen.lines[0].hasPrefix(" \(room)"), "row 1 is not the title")
        require(screen.lines[1].hasPrefix("1 \(room)"), "row 2 does not list the room in the sidebar")
        require(screen.status.hasPrefix(" ●"), "row \(rows - 1) is not the status bar")
        require(screen.input.hasPrefix("[\(room)]"), "row \(rows) is not the input line")
        require(screen.lines.filter { $0.hasPrefix(" ●") }.count == 1, "more than one status bar")
        require(screen.lines.filter { $0.hasPrefix("[\(room)]") }.count == 1, "more than one input line")
        for (i, line) in screen.lines.enumerated() where Screen.width(line) > columns {
            problems.append("row \(i + 1) is wider than \(columns) columns")
        }
        let paneRows = screen.lines.dropFirst().dropLast(2)
        let sidebar = Set(paneRows.map { Screen.columnOf("│", in: $0) })
        require(sidebar.count == 1 && sidebar.first != nil, "the sidebar's │ is not at one column: \(sidebar)")
        for line in paneRows where line.contains("──") {
            require(Screen.width(line) == columns, "a separator does not end at the right edge: \(line)")
        }
        let messageRows = screen.messageRows
        require(Set(messageRows.map(\.bar)).count == 1, "the message lines' │ is not at one column")
        for row in messageRows where Screen.width(row.text) > columns - row.bar - 2 {
            problems.append("row \(row.row + 1) goes past the right edge")
        }
        let messages = screen.messages.map { $0.joined(separator: " ") }
        require(messages == texts, "the messages are \(messages), not \(texts)")
        return problems
    }

    /// The visible messages m<n> are consecutive: nothing missing, nothing twice.
    static func checkConsecutive(_ screen: Screen) {
        let numbers = screen.messageRows.map { Int($0.text.dropFirst()) ?? -1 }
        guard let first = numbers.first else { return }
        #expect(numbers == Array(first..<(first + numbers.count)), "consecutive messages:\n\(screen)")
    }
}
