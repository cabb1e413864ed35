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
            // Up to two more backoffs: on a loaded machine the restart can outlast the countdown, and
            // the attempt it ends with is refused (the next delay is 6.4–12.8 s, the one after twice that).
            let screen = try await tui.waitForScreen("\(text) after the reconnect", timeout: .seconds(45)) {
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
}

extension TUIEndToEndTests {
    @Test("the first start without a configuration asks for the server and the user once", .timeLimit(.minutes(1)))
    func firstRunAsks() async throws {
        let server = try await E2EServer.start()
        defer { server.stop() }
        let configHome = try makeTemporaryDirectory("chat-e2e-first-run")
        defer { try? FileManager.default.removeItem(atPath: configHome) }
        let tui = try await TmuxChat.startFirstRun(configHome: configHome, login: "carol")
        defer { tui.kill() }
        try await tui.type("ws://not a host")
        try await tui.press("Enter")
        try await tui.waitForScreen(containing: "not a server URL: 'ws://not a host'")
        try await tui.type(server.url)
        try await tui.press("Enter")
        try await tui.waitForScreen(containing: "User name [carol]:")
        try await tui.press("Enter")  // the default: $USER
        try await tui.waitForScreen("the login form for carol on that server") {
            $0.text.contains("Log in to \(server.url)/v1/ws") && $0.text.contains("carol")
        }
        let path = configHome + "/chat/config.toml"
        let saved = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n")
        #expect(saved.contains("server = \"\(server.url)/v1/ws\""), "\(saved)")
        #expect(saved.contains("user = \"carol\""), "\(saved)")
        let mode = try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int
        #expect(mode == 0o600)
    }
}
