import ChatConformance
import ChatCore
import Foundation
import Testing

/// The real `chat` terminal client, running in tmux, against real `chat-server` processes: what a user sees.
///
/// Every test has its own tmux server (`tmux -L <unique socket> -f <own config>`: no user configuration,
/// no tmux status line) so it never touches a user's tmux, and kills it at the end, also when it fails.
/// Waits poll the screen every 50 ms up to a bound and fail with the last screen.
@Suite("TUI end to end (tmux)", .serialized)
struct TUIEndToEndTests {
    static let room = "lobby"

    @Test(
        "Japanese and emoji from another user keep the text column; long Japanese text wraps at it",
        .timeLimit(.minutes(1))
    )
    func wideCharacters() async throws {
        let server = try await E2EServer.start()
        defer { server.stop() }
        let context = ConformanceContext(url: server.url, limits: Limits())
        let other = try await context.newUser("bob")
        try await context.join(other.client, Self.room)
        try await Self.say(other.client, "plain ascii first")
        let tui = try await Self.openTUI(context)
        defer { tui.kill() }
        try await tui.waitForScreen(containing: "plain ascii first")

        let greeting = "こんにちは 世界 👋 テスト"
        let long =
            "日本語の長いメッセージが正しく折り返されることを確かめるための文章です。"
            + "二行目以降も同じ列から始まります。"
        try await Self.say(other.client, greeting)
        // Later messages move the greeting up the screen: the terminal is then updated by cell diffs,
        // which leave stray characters behind if the client and the terminal disagree on a width.
        for i in 1...3 { try await Self.say(other.client, "after-\(i)") }
        try await Self.say(other.client, long)
        let screen = try await tui.waitForScreen("the long Japanese message") {
            $0.messages.contains { $0.joined(separator: "") == long }
        }

        #expect(
            screen.messages.map { $0.joined(separator: "") }
                == ["plain ascii first", greeting, "after-1", "after-2", "after-3", long],
            "every message once, in order, and nothing after its text:\n\(screen)"
        )
        let rows = screen.messageRows
        #expect(Set(rows.map(\.bar)).count == 1, "the │ before the text is at one column on every line:\n\(screen)")
        let greetingRows = rows.filter { $0.text == greeting }
        #expect(greetingRows.count == 1 && greetingRows.first?.isContinuation == false, "\(screen)")
        for (i, line) in screen.lines.enumerated() {
            #expect(Screen.width(line) <= screen.columns, "row \(i + 1) is wider than the terminal:\n\(screen)")
        }
        // The long message is the last one: its first line and its continuations end the pane.
        let longRows = Array(rows[(rows.lastIndex { !$0.isContinuation } ?? rows.endIndex)...])
        #expect(longRows.count >= 2, "the long message wraps:\n\(screen)")
        #expect(longRows.dropFirst().allSatisfy { $0.isContinuation }, "\(screen)")
        let textWidth = screen.columns - (rows.first?.bar ?? 0) - 2
        for row in longRows {
            #expect(Screen.width(row.text) <= textWidth, "row \(row.row + 1) overflows the text column:\n\(screen)")
            #expect(row.text.first != " ", "row \(row.row + 1) starts at the text column:\n\(screen)")
        }
    }

    @Test("typing a line and Enter sends it; the TUI shows it once, acknowledged", .timeLimit(.minutes(1)))
    func typingSends() async throws {
        let server = try await E2EServer.start()
        defer { server.stop() }
        let context = ConformanceContext(url: server.url, limits: Limits())
        let other = try await context.newUser("peer")
        try await context.join(other.client, Self.room)
        // This user is created the way a person would: `chat login --register`, which stores the token.
        let name = "typist\(Int.random(in: 1000...9999))"
        let password = "typist-secret-\(UUID().uuidString.prefix(8))"
        let configHome = try makeTemporaryDirectory("chat-e2e-config")
        defer { try? FileManager.default.removeItem(atPath: configHome) }
        let login = try await runTool(
            try ProcessTests.executable("chat").path,
            ["login", "--register", "--server", server.url, "--user", name],
            environment: ["XDG_CONFIG_HOME": configHome, "CHAT_PASSWORD": password]
        )
        try #require(login.status == 0, "chat login --register: \(login.output)")
        let tui = try await TmuxChat.start(url: server.url, user: name, password: password, configHome: configHome)
        defer { tui.kill() }
        try await Self.say(other.client, "are you there?")
        try await tui.waitForScreen(containing: "are you there?")

        let typed = "hello from tmux 日本"
        try await tui.type(typed)
        try await tui.waitForScreen("the typed text in the input line") { $0.input == "[\(Self.room)] \(typed)" }
        try await tui.press("Enter")

        let event = try await Self.waitForMessage(other.client, text: typed)
        #expect(event["text"]?.stringValue == typed)
        #expect(event["from"]?.stringValue == name)
        #expect(event["room"]?.stringValue == Self.room)
        let screen = try await tui.waitForScreen("the sent message, acknowledged (no --:-- pending line)") {
            $0.messageRows.contains { $0.text == typed && !$0.isContinuation && $0.time != "--:--" }
                && !$0.messageRows.contains { $0.time == "--:--" }
        }
        #expect(screen.messageRows.filter { $0.text == typed }.count == 1, "shown exactly once:\n\(screen)")
        #expect(screen.input == "[\(Self.room)]", "the input line is cleared:\n\(screen)")
        #expect(screen.status.hasPrefix(" ●"), "\(screen)")
    }

    @Test("resizing redraws for the new size; below 40×8 it says the terminal is too small", .timeLimit(.minutes(1)))
    func resize() async throws {
        let server = try await E2EServer.start()
        defer { server.stop() }
        let context = ConformanceContext(url: server.url, limits: Limits())
        let other = try await context.newUser("bob")
        try await context.join(other.client, Self.room)
        let long = (1...24).map { "word\($0)" }.joined(separator: " ")
        let texts = ["first line", "日本語のメッセージ", long, "last line"]
        for text in texts { try await Self.say(other.client, text) }
        let tui = try await Self.openTUI(context)
        defer { tui.kill() }
        let before = try await tui.waitForScreen(containing: "last line")
        let oldBar = try #require(before.messageRows.first?.bar)

        // tmux keeps the old picture, cut or padded, until the client draws: wait for the whole new layout.
        try await tui.resize(columns: 60, rows: 20)
        let small = try await tui.waitForScreen("the 60×20 layout") { Self.layoutProblems($0, texts: texts) }
        #expect(small.messageRows.allSatisfy { $0.bar < oldBar }, "the message pane is laid out anew:\n\(small)")

        try await tui.resize(columns: 100, rows: 30)
        try await tui.waitForScreen("the 100×30 layout") { Self.layoutProblems($0, texts: texts) }

        for (columns, rows) in [(30, 6), (60, 7), (39, 20)] {
            try await tui.resize(columns: columns, rows: rows)
            let tiny = try await tui.waitForScreen("the too-small notice at \(columns)×\(rows)") {
                $0.lines.count == rows && $0.text.contains("terminal too small")
                    && $0.text.replacingOccurrences(of: "\n", with: " ").contains("\(columns)×\(rows)")
            }
            #expect(!tiny.text.contains("●") && !tiny.text.contains("[\(Self.room)]"), "nothing else:\n\(tiny)")
            for line in tiny.lines { #expect(Screen.width(line) <= columns, "\(tiny)") }
        }

        try await tui.resize(columns: 80, rows: 24)
        let back = try await tui.waitForScreen("the 80×24 layout again") { Self.layoutProblems($0, texts: texts) }
        #expect(back.messageRows.allSatisfy { $0.bar == oldBar }, "\(back)")
    }

    @Test("after a server restart the client reconnects and shows what it missed", .timeLimit(.minutes(2)))
    func reconnectFillsTheGap() async throws {
        let server = try await E2EServer.start()
        defer { server.stop() }
        let context = ConformanceContext(url: server.url, limits: Limits())
        let other = try await context.newUser("bob")
        try await context.join(other.client, Self.room)
        try await Self.say(other.client, "before the restart")
        let me = try await context.newUser("tui")
        await me.client.disconnect()
        let tui = try await TmuxChat.start(url: server.url, user: me.name, password: me.password)
        defer { tui.kill() }
        try await tui.waitForScreen("the room, connected") {
            $0.status.hasPrefix(" ●") && $0.messageRows.contains { $0.text == "before the restart" }
        }

        // 1. Server stopped; restarted on the same port and data; three messages right away.
        try await server.terminate()
        // The cause in plain words (no NIO error dump), and the countdown.
        try await tui.waitForScreen("the reconnect countdown") {
            $0.status.contains("◌ server unreachable (connection refused) — retrying in ")
        }
        try await server.restart()
        let sender = try await context.secondConnection(other)
        try await context.join(sender, Self.room)
        for i in 1...3 { try await Self.say(sender, "gap-\(i)") }
        let gap = try await tui.waitForScreen("gap-1…3 and a live connection") {
            $0.status.hasPrefix(" ●") && $0.messageRows.contains { $0.text == "gap-3" }
        }
        #expect(
            gap.messageRows.map(\.text).filter { $0.hasPrefix("gap-") } == ["gap-1", "gap-2", "gap-3"],
            "each once, in order:\n\(gap)"
        )
        await sender.disconnect()

        // 2. A message sent while the client is still waiting out its backoff appears once it reconnects.
        var early: [String] = []
        var sentWhileAway = false
        for attempt in 1...3 where !sentWhileAway {
            try await server.terminate()
            // Wait for a long backoff (several refused attempts), so the restart below is done well before it ends.
            try await tui.waitForScreen("a reconnect countdown of 4 s or more", timeout: .seconds(30)) {
                ($0.reconnectSeconds ?? 0) >= 4
            }
            try await server.restart()
            let client = try await context.secondConnection(other)
            try await context.join(client, Self.room)
            let text = "early-\(attempt)"
            try await Self.say(client, text)
            early.append(text)
            let online = try await Self.isOnline(me.name, client: client)
            sentWhileAway = !online
            let screen = try await tui.waitForScreen("\(text) after the reconnect") {
                $0.status.hasPrefix(" ●") && $0.messageRows.contains { $0.text == text }
            }
            #expect(
                screen.messageRows.map(\.text).filter { $0.hasPrefix("gap-") || $0.hasPrefix("early-") }
                    == ["gap-1", "gap-2", "gap-3"] + early,
                "each once, in order:\n\(screen)"
            )
            await client.disconnect()
        }
        #expect(sentWhileAway, "in 3 tries the client was never still in backoff when the message was sent")
    }

    @Test("PgUp pages back through history fetched from the server, to the start of the room", .timeLimit(.minutes(1)))
    func scrollingLoadsOlderHistory() async throws {
        let server = try await E2EServer.start(extra: ["--rate-burst", "1000", "--rate-per-sec", "1000"])
        defer { server.stop() }
        let context = ConformanceContext(url: server.url, limits: Limits())
        let other = try await context.newUser("bob")
        try await context.join(other.client, Self.room)
        try await context.sendMany(other.client, Self.room, count: 120, prefix: "m")
        let tui = try await Self.openTUI(context)
        defer { tui.kill() }
        var screen = try await tui.waitForScreen("the newest messages") {
            $0.status.hasPrefix(" ●") && $0.messageRows.last?.text == "m119"
        }
        #expect(!screen.messageRows.contains { $0.text == "m0" })

        var presses = 0
        while !(screen.text.contains("start of \(Self.room)") && screen.messageRows.contains { $0.text == "m0" }) {
            try #require(presses < 15, "PgUp \(presses) times did not reach the start of the room:\n\(screen)")
            Self.checkConsecutive(screen)
            try await tui.press("PPage")
            presses += 1
            let previous = screen.lines
            screen = try await tui.waitForScreen("the view to move after PgUp #\(presses)") { $0.lines != previous }
        }
        Self.checkConsecutive(screen)
        #expect(screen.messageRows.first?.text == "m0", "the first message is at the top:\n\(screen)")

        presses = 0
        while !(screen.messageRows.last?.text == "m119" && !screen.text.contains("PgDn")) {
            try #require(presses < 15, "PgDn \(presses) times did not return to the newest message:\n\(screen)")
            try await tui.press("NPage")
            presses += 1
            let previous = screen.lines
            screen = try await tui.waitForScreen("the view to move after PgDn #\(presses)") { $0.lines != previous }
            Self.checkConsecutive(screen)
        }
    }

    @Test(
        "a paste over max_text is not sent: the status says so in plain words and the text stays in the input",
        .timeLimit(.minutes(1))
    )
    func overLongPasteIsKept() async throws {
        let server = try await E2EServer.start()
        defer { server.stop() }
        let context = ConformanceContext(url: server.url, limits: Limits())
        let other = try await context.newUser("bob")
        try await context.join(other.client, Self.room)
        try await Self.say(other.client, "paste it here")
        let tui = try await Self.openTUI(context)
        defer { tui.kill() }
        try await tui.waitForScreen("the room, connected") {
            $0.status.hasPrefix(" ●") && $0.messageRows.contains { $0.text == "paste it here" }
        }

        let text = String(repeating: "0123456789", count: 410)
        try await tui.paste(text)
        try await tui.waitForScreen("the pasted text in the input line") { $0.input.hasSuffix("0123456789") }
        try await tui.press("Enter")
        let screen = try await tui.waitForScreen("the refusal in the status line") {
            $0.status.contains("message is 4,100 characters; the limit is 4,000 — not sent")
        }
        #expect(screen.input.hasSuffix("0123456789"), "the text is still in the input line:\n\(screen)")
        #expect(!screen.messageRows.contains { $0.text.hasPrefix("0123456789") }, "nothing was sent:\n\(screen)")

        // Shortened (Backspace × 100) it is sent, and arrives whole.
        for _ in 0..<10 { try await tui.press(Array(repeating: "BSpace", count: 10)) }
        try await tui.press("Enter")
        let event = try await Self.waitForMessage(other.client, text: String(text.prefix(4000)))
        #expect(event["text"]?.stringValue?.unicodeScalars.count == 4000)
    }

    // MARK: Helpers

    /// Registers a user for the TUI over the wire and opens the TUI in the test room as that user.
    private static func openTUI(_ context: ConformanceContext) async throws -> TmuxChat {
        let me = try await context.newUser("tui")
        await me.client.disconnect()
        return try await TmuxChat.start(url: context.url, user: me.name, password: me.password)
    }

    /// Sends a message and checks it was accepted.
    private static func say(_ client: WireClient, _ text: String) async throws {
        try expectOK(
            try await client.request("send", ["room": .string(room), "text": .string(text)]),
            "send \(text)"
        )
    }

    /// Waits (bounded) for a `message` event with this text on a wire connection.
    private static func waitForMessage(_ client: WireClient, text: String) async throws -> JSONObject {
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
    private static func isOnline(_ user: String, client: WireClient) async throws -> Bool {
        let reply = try expectOK(try await client.request("members", ["room": .string(room)]), "members")
        let members = reply["members"]?.arrayValue?.compactMap(\.objectValue) ?? []
        return members.contains { $0["user"]?.stringValue == user && $0["online"]?.boolValue == true }
    }

    /// What is wrong with the screen as a full drawing of the room at the screen's size: the title on the
    /// first row, the room in the sidebar, the status bar on the second-to-last row and the input line on the
    /// last (each once), every row within the width, the sidebar's │ at one column, separators across the
    /// pane, the messages once each in order, and every message line's │ at one column.
    private static func layoutProblems(_ screen: Screen, texts: [String]) -> [String] {
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
    private static func checkConsecutive(_ screen: Screen) {
        let numbers = screen.messageRows.map { Int($0.text.dropFirst()) ?? -1 }
        guard let first = numbers.first else { return }
        #expect(numbers == Array(first..<(first + numbers.count)), "consecutive messages:\n\(screen)")
    }
}

// MARK: - The screen

/// A captured tmux pane, one string per row, with the TUI's layout decoded.
private struct Screen: CustomStringConvertible {
    /// One line of the message pane: "HH:MM <nick> │ text" or a continuation "        │ text".
    struct MessageRow {
        /// Row index, from 0 (the title row).
        let row: Int
        /// Display column of the │ before the text (the text starts two columns to its right).
        let bar: Int
        /// "HH:MM", "--:--" for a pending message, "" on a continuation line.
        let time: String
        let nick: String
        /// Everything after "│ " (tmux drops trailing blanks, so anything left over would show here).
        let text: String
        var isContinuation: Bool { time.isEmpty }
    }

    let lines: [String]
    /// The terminal size (tmux's idea of it).
    let columns: Int
    let rows: Int

    var text: String { lines.joined(separator: "\n") }
    var status: String { lines.count >= 2 ? lines[lines.count - 2] : "" }
    var input: String { lines.last ?? "" }

    /// The seconds of "◌ … — retrying in N s", if shown.
    var reconnectSeconds: Int? {
        guard let range = status.range(of: "retrying in ") else { return nil }
        return Int(status[range.upperBound...].prefix { $0.isNumber })
    }

    /// Message lines of the pane, top to bottom.
    var messageRows: [MessageRow] {
        guard lines.count > 3 else { return [] }
        var rows: [MessageRow] = []
        for index in 1..<(lines.count - 2) {
            let line = lines[index]
            // The pane starts after the sidebar's │; a message line has " │ " in the pane.
            guard let sidebar = line.firstIndex(of: "│") else { continue }
            let pane = line[line.index(after: sidebar)...]
            guard let bar = pane.range(of: " │ ") else { continue }
            let prefix = pane[..<bar.lowerBound]
            let time = String(prefix.prefix(5)).trimmingCharacters(in: .whitespaces)
            let nick = String(prefix.dropFirst(5)).trimmingCharacters(in: .whitespaces)
            let barColumn = Self.width(line[..<bar.lowerBound]) + 1
            rows.append(
                MessageRow(row: index, bar: barColumn, time: time, nick: nick, text: String(pane[bar.upperBound...]))
            )
        }
        return rows
    }

    /// The messages of the pane, each as its lines (first line, then continuations).
    var messages: [[String]] {
        var result: [[String]] = []
        for row in messageRows {
            if row.isContinuation, !result.isEmpty {
                result[result.count - 1].append(row.text)
            } else {
                result.append([row.text])
            }
        }
        return result
    }

    /// The rows numbered, between bars, so columns and trailing characters are visible in a failure.
    var description: String {
        let rule = "    +" + String(repeating: "-", count: columns) + "+"
        let body = lines.enumerated().map { i, line in
            let number = String(i + 1)
            let pad = String(repeating: " ", count: max(0, columns - Self.width(line)))
            return String(repeating: " ", count: 3 - number.count) + number + " |" + line + pad + "|"
        }
        return ([rule] + body + [rule]).joined(separator: "\n")
    }

    /// The display column of the first occurrence of a character, if any.
    static func columnOf(_ character: Character, in line: String) -> Int? {
        line.firstIndex(of: character).map { width(line[..<$0]) }
    }

    /// Columns text takes in a terminal (tmux and glibc's wcwidth): 2 for East Asian wide and emoji
    /// characters, 1 otherwise (enough for the text these tests put on the screen).
    static func width(_ text: some StringProtocol) -> Int {
        text.reduce(0) { $0 + width(of: $1) }
    }

    static func width(of character: Character) -> Int {
        guard let scalar = character.unicodeScalars.first else { return 0 }
        let wide: [ClosedRange<UInt32>] = [
            0x1100...0x115F, 0x2E80...0x303E, 0x3041...0x33FF, 0x3400...0x4DBF, 0x4E00...0x9FFF, 0xA000...0xA4CF,
            0xAC00...0xD7A3, 0xF900...0xFAFF, 0xFE30...0xFE4F, 0xFF00...0xFF60, 0xFFE0...0xFFE6, 0x1F300...0x1F64F,
            0x1F900...0x1F9FF, 0x20000...0x3FFFD,
        ]
        return wide.contains { $0.contains(scalar.value) } ? 2 : 1
    }
}

// MARK: - tmux

/// The `chat` TUI running in a detached session of a private tmux server.
private final class TmuxChat {
    let tmux: String
    let socket: String
    let directory: String
    private(set) var columns: Int
    private(set) var rows: Int

    private init(tmux: String, socket: String, directory: String, columns: Int, rows: Int) {
        self.tmux = tmux
        self.socket = socket
        self.directory = directory
        self.columns = columns
        self.rows = rows
    }

    /// Starts `chat --server URL --user NAME --room ROOM` in a new tmux server.
    ///
    /// - Parameters:
    ///   - url: the server.
    ///   - user: who logs in.
    ///   - password: given as CHAT_PASSWORD.
    ///   - configHome: XDG_CONFIG_HOME (default: a fresh folder, so no token is stored yet).
    ///   - room: the room to open.
    ///   - columns: terminal width.
    ///   - rows: terminal height.
    static func start(
        url: String,
        user: String,
        password: String,
        configHome: String? = nil,
        room: String = TUIEndToEndTests.room,
        columns: Int = 80,
        rows: Int = 24
    ) async throws -> TmuxChat {
        let tmux = try findTmux()
        let directory = try makeTemporaryDirectory("chat-e2e-tmux")
        let socket = "chat-e2e-\(getpid())-\(UUID().uuidString.prefix(8))"
        let session = TmuxChat(tmux: tmux, socket: socket, directory: directory, columns: columns, rows: rows)
        do {
            // No status line (it would take a row), and a dead pane stays on screen to show why it died.
            let config = directory + "/tmux.conf"
            try "set -g status off\nset -g remain-on-exit on\n".write(toFile: config, atomically: true, encoding: .utf8)
            let command = [
                "env", "LANG=C.UTF-8", "LC_ALL=C.UTF-8", "TERM=xterm-256color",
                "XDG_CONFIG_HOME=\(configHome ?? directory + "/config")", "CHAT_PASSWORD=\(password)",
                try ProcessTests.executable("chat").path, "--server", url, "--user", user, "--room", room,
            ].map(shellQuoted).joined(separator: " ")
            try await session.run([
                "-f", config, "-u", "new-session", "-d", "-s", "chat", "-x", "\(columns)", "-y", "\(rows)", command,
            ])
            try await session.waitForScreen("the TUI to start") { $0.input.hasPrefix("[\(room)]") }
            return session
        } catch {
            session.kill()
            throw error
        }
    }

    /// tmux, or a failure saying it is missing.
    static func findTmux() throws -> String {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        let folders = path.split(separator: ":").map(String.init) + ["/usr/bin", "/usr/local/bin", "/opt/homebrew/bin"]
        guard let tmux = folders.map({ $0 + "/tmux" }).first(where: FileManager.default.isExecutableFile(atPath:))
        else {
            throw E2EFailure("tmux is not installed (not on PATH): the TUI end-to-end tests need tmux 3.x")
        }
        return tmux
    }

    /// Runs a tmux command on this test's server; throws with tmux's output if it fails.
    @discardableResult
    func run(_ arguments: [String]) async throws -> String {
        let result = try await runTool(tmux, ["-L", socket] + arguments, environment: ["TMUX": nil, "TMUX_PANE": nil])
        guard result.status == 0 else {
            throw E2EFailure("tmux \(arguments.prefix(3).joined(separator: " ")) failed: \(result.output)")
        }
        return result.output
    }

    /// The pane as text.
    func capture() async throws -> Screen {
        var lines = try await run(["capture-pane", "-p", "-t", "chat"]).components(separatedBy: "\n")
        if lines.last == "" { lines.removeLast() }
        return Screen(lines: lines, columns: columns, rows: rows)
    }

    /// Types literal text.
    func type(_ text: String) async throws {
        try await run(["send-keys", "-t", "chat", "-l", text])
    }

    /// Presses keys by tmux name: Enter, PPage, NPage, C-n…
    func press(_ keys: String...) async throws {
        try await press(keys)
    }

    /// Presses keys by tmux name.
    func press(_ keys: [String]) async throws {
        try await run(["send-keys", "-t", "chat"] + keys)
    }

    /// Pastes text the way a terminal does (bracketed paste, if the client asked for it).
    func paste(_ text: String) async throws {
        try await run(["set-buffer", "-b", "e2e", "--", text])
        try await run(["paste-buffer", "-p", "-d", "-b", "e2e", "-t", "chat"])
    }

    /// Resizes the window (the client gets SIGWINCH).
    func resize(columns: Int, rows: Int) async throws {
        try await run(["resize-window", "-t", "chat", "-x", "\(columns)", "-y", "\(rows)"])
        self.columns = columns
        self.rows = rows
    }

    /// Polls the screen every 50 ms until the condition holds on a settled screen; fails with the last screen
    /// after `timeout`.
    @discardableResult
    func waitForScreen(
        _ what: String,
        timeout: Duration = .seconds(10),
        until condition: (Screen) -> Bool
    ) async throws -> Screen {
        try await waitForScreen(what, timeout: timeout) { condition($0) ? [] : ["not yet"] }
    }

    /// Polls the screen every 50 ms until `problems` finds none on a settled screen (two captures in a row
    /// alike: tmux may be caught halfway through a redraw); fails with them and the last screen after `timeout`.
    @discardableResult
    func waitForScreen(
        _ what: String,
        timeout: Duration = .seconds(10),
        problems: (Screen) -> [String]
    ) async throws -> Screen {
        let deadline = ContinuousClock.now + timeout
        var previous: [String]?
        while true {
            let screen = try await capture()
            let found = problems(screen)
            if found.isEmpty, screen.lines == previous { return screen }
            guard ContinuousClock.now < deadline else {
                let list = found.isEmpty || found == ["not yet"] ? "" : " (" + found.joined(separator: "; ") + ")"
                throw E2EFailure("timed out after \(timeout) waiting for \(what)\(list); the screen:\n\(screen)")
            }
            previous = screen.lines
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    /// Waits until the screen shows a text.
    @discardableResult
    func waitForScreen(containing text: String, timeout: Duration = .seconds(10)) async throws -> Screen {
        try await waitForScreen("\"\(text)\" on the screen", timeout: timeout) { $0.text.contains(text) }
    }

    /// Kills this test's tmux server (and the TUI in it); safe to call more than once.
    func kill() {
        if let spawned = try? Spawned(tmux, ["-L", socket, "kill-server"], environment: ["TMUX": nil]) {
            spawned.finishBlocking()
        }
        // tmux leaves its socket file behind.
        let folder = ProcessInfo.processInfo.environment["TMUX_TMPDIR"] ?? "/tmp"
        unlink("\(folder)/tmux-\(getuid())/\(socket)")
        try? FileManager.default.removeItem(atPath: directory)
    }
}

// MARK: - The server

/// A chat-server process on a fixed port, so it can be stopped and started again on the same port and data.
/// Its log goes to a file (shown when it fails to start), not to a pipe nobody reads.
private final class E2EServer {
    let port: Int
    let directory: String
    let extra: [String]
    private(set) var process: Process
    var url: String { "ws://127.0.0.1:\(port)" }
    var dataDir: String { directory + "/data" }
    var logPath: String { directory + "/server.log" }

    private init(port: Int, directory: String, extra: [String], process: Process) {
        self.port = port
        self.directory = directory
        self.extra = extra
        self.process = process
    }

    /// Starts a server on a free port and a fresh data directory.
    static func start(extra: [String] = []) async throws -> E2EServer {
        let directory = try makeTemporaryDirectory("chat-e2e-server")
        let port = try ProcessTests.freePort()
        let process = try await launch(port: port, directory: directory, extra: extra)
        return E2EServer(port: port, directory: directory, extra: extra, process: process)
    }

    /// SIGTERM, then the exit, which must be 0.
    func terminate() async throws {
        kill(process.processIdentifier, SIGTERM)
        let status = try await ProcessTests.waitForExit(process)
        #expect(status == 0, "chat-server exits 0 on SIGTERM")
    }

    /// Starts the server again on the same port and data directory.
    func restart() async throws {
        process = try await Self.launch(port: port, directory: directory, extra: extra)
    }

    /// Stops the server if it runs (SIGTERM, then SIGKILL after 5 s) and removes its files.
    func stop() {
        if process.isRunning {
            process.terminate()
            for _ in 0..<250 where process.isRunning { usleep(20_000) }
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        }
        try? FileManager.default.removeItem(atPath: directory)
    }

    private static func launch(port: Int, directory: String, extra: [String]) async throws -> Process {
        let log = directory + "/server.log"
        if !FileManager.default.fileExists(atPath: log) {
            _ = FileManager.default.createFile(atPath: log, contents: nil)
        }
        // The port may still be held for a moment after a stop: a start that exits at once is retried.
        for _ in 0..<20 {
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
            defer { try? handle.close() }
            let logStart = try handle.seekToEnd()
            let process = Process()
            process.executableURL = try ProcessTests.executable("chat-server")
            process.arguments =
                ["--host", "127.0.0.1", "--port", "\(port)", "--data-dir", directory + "/data"] + extra
            process.standardError = handle
            process.standardOutput = FileHandle.nullDevice
            try process.run()
            let deadline = ContinuousClock.now + .seconds(15)
            while process.isRunning, ContinuousClock.now < deadline {
                // Our process must say it listens: another test's server may have taken the port
                // between `freePort()` and this start, and would answer /healthz instead.
                if (try? await httpStatus(url: "ws://127.0.0.1:\(port)", path: "/healthz")) == 200, process.isRunning,
                    Self.logSince(logStart, in: log).contains("listening on 127.0.0.1:\(port)")
                {
                    return process
                }
                try await Task.sleep(for: .milliseconds(50))
            }
            if process.isRunning {
                process.terminate()
                break
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        throw E2EFailure("chat-server did not start on port \(port); its log:\n\(text.suffix(2000))")
    }

    /// The log written after `offset`.
    private static func logSince(_ offset: UInt64, in path: String) -> String {
        guard let handle = FileHandle(forReadingAtPath: path) else { return "" }
        defer { try? handle.close() }
        try? handle.seek(toOffset: offset)
        return String(decoding: handle.readDataToEndOfFile(), as: UTF8.self)
    }
}

// MARK: - Processes and files

private struct E2EFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// A fresh folder under the temporary directory.
private func makeTemporaryDirectory(_ prefix: String) throws -> String {
    let path = NSTemporaryDirectory() + "\(prefix)-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

/// A program started with `posix_spawn`: default signal handlers, nothing blocked, and only stdin
/// (/dev/null), stdout and stderr (one pipe) open.
///
/// Foundation's `Process` is not used for tmux: the tmux server daemonizes from the first client and would
/// inherit the descriptor `Process` watches to notice the exit (so the client's exit is never noticed), and
/// it would inherit the test runner's signal mask (a tmux or `chat` with SIGHUP or SIGTERM blocked ignores
/// `kill-server`).
private struct Spawned {
    let pid: pid_t
    /// Non-blocking read end of the output pipe.
    let output: Int32

    /// Starts a program.
    ///
    /// - Parameters:
    ///   - path: the executable.
    ///   - arguments: its arguments.
    ///   - environment: variables to set (nil removes one) on top of this process's environment.
    init(_ path: String, _ arguments: [String], environment: [String: String?] = [:]) throws {
        guard let closeFrom = Self.addCloseFrom else {
            throw E2EFailure("posix_spawn_file_actions_addclosefrom_np is missing (glibc 2.34 or later is needed)")
        }
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { throw E2EFailure("pipe failed: errno \(errno)") }
        _ = fcntl(fds[0], F_SETFD, FD_CLOEXEC)
        _ = fcntl(fds[1], F_SETFD, FD_CLOEXEC)
        _ = fcntl(fds[0], F_SETFL, O_NONBLOCK)
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, fds[1], 1)
        posix_spawn_file_actions_adddup2(&actions, fds[1], 2)
        _ = closeFrom(&actions, 3)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var none = sigset_t()
        sigemptyset(&none)
        var all = sigset_t()
        sigfillset(&all)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        var variables = ProcessInfo.processInfo.environment
        for (key, value) in environment { variables[key] = value }
        let argv = ([path] + arguments).map { strdup($0) } + [nil]
        let envp = variables.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { for pointer in argv + envp { free(pointer) } }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, path, &actions, &attributes, argv, envp)
        close(fds[1])
        guard result == 0 else {
            close(fds[0])
            throw E2EFailure("cannot run \(path): \(String(cString: strerror(result)))")
        }
        self.pid = pid
        self.output = fds[0]
    }

    private typealias AddCloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>?, Int32) -> Int32

    /// glibc's `posix_spawn_file_actions_addclosefrom_np` (Swift's Glibc module does not declare it).
    private static let addCloseFrom: AddCloseFrom? = dlsym(nil, "posix_spawn_file_actions_addclosefrom_np").map {
        unsafeBitCast($0, to: AddCloseFrom.self)
    }

    /// Appends what can be read now.
    func drain(into data: inout [UInt8]) {
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = read(output, &buffer, buffer.count)
            if count <= 0 { return }
            data += buffer[..<count]
        }
    }

    /// The exit status if the program has ended (reaping it), else nil.
    func poll() -> Int32? {
        var status: Int32 = 0
        guard waitpid(pid, &status, WNOHANG) == pid else { return nil }
        return status & 0x7F == 0 ? (status >> 8) & 0xFF : 128 + (status & 0x7F)
    }

    /// Kills and reaps the program.
    func abandon() {
        kill(pid, SIGKILL)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        close(output)
    }

    /// Waits for the end (bounded); returns the exit status and the output.
    func finish(timeout: Duration = .seconds(20)) async throws -> (status: Int32, output: String) {
        let deadline = ContinuousClock.now + timeout
        var data: [UInt8] = []
        while true {
            drain(into: &data)
            if let status = poll() {
                drain(into: &data)
                close(output)
                return (status, String(decoding: data, as: UTF8.self))
            }
            guard ContinuousClock.now < deadline, !Task.isCancelled else {
                abandon()
                throw E2EFailure("\(pid) did not finish within \(timeout)")
            }
            try? await Task.sleep(for: .milliseconds(5))
        }
    }

    /// Waits for the end without suspending (for cleanup in `defer`); kills the program after `seconds`.
    func finishBlocking(seconds: Double = 10) {
        let deadline = Date().addingTimeInterval(seconds)
        var data: [UInt8] = []
        while Date() < deadline {
            drain(into: &data)
            if poll() != nil {
                close(output)
                return
            }
            usleep(5000)
        }
        abandon()
    }
}

/// Runs a program to its end; returns its exit status and its output (stdout and stderr together).
///
/// - Parameters:
///   - path: the executable.
///   - arguments: its arguments.
///   - environment: variables to set (nil removes one) on top of this process's environment.
private func runTool(
    _ path: String,
    _ arguments: [String],
    environment: [String: String?] = [:]
) async throws -> (status: Int32, output: String) {
    try await Spawned(path, arguments, environment: environment).finish()
}

/// The argument quoted for sh.
private func shellQuoted(_ argument: String) -> String {
    "'" + argument.replacingOccurrences(of: "'", with: "'\\''") + "'"
}
