import ChatCore
import ChatTUI
import Testing

// MARK: - Helpers

private let small = Size(width: 80, height: 24)

/// The rows of a rendered screen, as text.
private func rows(_ screen: ScreenBuffer) -> [String] {
    screen.text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
}

private func row(_ screen: ScreenBuffer, containing text: String) -> Int? {
    rows(screen).firstIndex { $0.contains(text) }
}

private func message(_ room: String, _ seq: Int64, _ from: String, _ text: String, ts: Int64) -> ChatMessage {
    ChatMessage(room: room, seq: seq, from: from, text: text, kind: .text, ts: ts)
}

/// general with `count` short messages, seq 1…count, from 09:00 on Sun 29 Nov 2026 UTC.
private func roomState(messages count: Int64) -> AppState {
    var state = Screens.base()
    var general = AppState.Room(name: "general")
    general.messages = (1...max(1, count)).prefix(Int(count)).map {
        message("general", $0, "bob", "line \($0)", ts: 1_795_942_800_000 + $0 * 60_000)
    }
    general.head = count
    general.read = count
    state.rooms = [general]
    return state
}

// MARK: - Render

@Suite("render")
struct RenderTests {
    @Test("every golden screen has a well-formed cell grid", arguments: Screens.sizes)
    func wellFormed(size: Size) {
        let states = [
            Screens.empty(), Screens.justJoined(), Screens.busy(), Screens.sidebar(), Screens.scrolled(),
            Screens.reconnecting(), Screens.help(), Screens.picker(), Screens.noColor(),
        ]
        for state in states {
            #expect(gridProblems(render(state, size: size)) == [])
        }
    }

    @Test("render is pure: the same state gives the same screen")
    func pure() {
        #expect(render(Screens.busy(), size: small) == render(Screens.busy(), size: small))
        #expect(render(Screens.busy(), size: small) != render(Screens.noColor(), size: small))
    }

    @Test("the minimum size is 40×8", arguments: [(40, 8, false), (39, 8, true), (40, 7, true), (200, 7, true)])
    func minimumSize(width: Int, height: Int, tooSmall: Bool) {
        let screen = render(Screens.busy(), size: Size(width: width, height: height))
        #expect(screen.text.hasPrefix("terminal too small") == tooSmall)
        #expect(gridProblems(screen) == [])
    }

    @Test("tiny and empty terminals do not crash")
    func tiny() {
        #expect(render(Screens.busy(), size: Size(width: 0, height: 0)).text == "")
        #expect(render(Screens.busy(), size: Size(width: 1, height: 1)).text == "t")
        #expect(render(Screens.busy(), size: Size(width: 5, height: 2)).text == "termi\nnal  ")
    }

    @Test("the top of a room says what is above it")
    func topOfRoom() {
        var state = roomState(messages: 3)
        #expect(row(render(state, size: small), containing: "── start of general ─") == 17)
        state.rooms[0].hasOlder = true
        #expect(row(render(state, size: small), containing: "── PgUp loads older messages ─") == 17)
        state.rooms[0].loadingOlder = true
        #expect(row(render(state, size: small), containing: "── loading older messages… ─") == 17)
    }

    @Test("no \"new messages\" line when the marker is at the newest message")
    func markerAtEnd() {
        var state = roomState(messages: 3)
        state.rooms[0].marker = 3
        #expect(row(render(state, size: small), containing: "new messages") == nil)
        state.rooms[0].marker = 2
        let screen = render(state, size: small)
        #expect(row(screen, containing: "new messages").map { $0 + 1 } == row(screen, containing: "line 3"))
    }

    @Test("times and day separators use the local offset")
    func localTime() {
        var state = Screens.base()
        var general = AppState.Room(name: "general")
        // Sat 28 Nov 2026 23:30 UTC is Sun 29 Nov 00:30 at UTC+1.
        general.messages = [message("general", 1, "bob", "late", ts: 1_795_908_600_000)]
        state.rooms = [general]
        #expect(row(render(state, size: small), containing: "── Sat 28 Nov 2026 ─") != nil)
        #expect(row(render(state, size: small), containing: "23:30") != nil)
        state.utcOffset = 3_600
        #expect(row(render(state, size: small), containing: "── Sun 29 Nov 2026 ─") != nil)
        #expect(row(render(state, size: small), containing: "00:30") != nil)
    }

    @Test("control characters in messages never reach the screen")
    func sanitized() {
        var state = roomState(messages: 0)
        state.rooms[0].messages = [message("general", 1, "mallory", "a\u{1B}[2Jb\u{202E}c", ts: 1_795_942_800_000)]
        state.rooms[0].topic = "x\u{1B}]0;pwned\u{7}y"
        let screen = render(state, size: small)
        let text = screen.text
        #expect(!text.unicodeScalars.contains { $0.value < 0x20 && $0 != "\n" })
        #expect(!text.unicodeScalars.contains { $0.value == 0x202E })
        #expect(text.contains("a\u{FFFD}[2Jb\u{FFFD}c"))
        #expect(gridProblems(screen) == [])
    }

    @Test("the status bar shows connection, typists and the notice")
    func status() {
        var state = roomState(messages: 1)
        let last = small.height - 2
        state.connection = .connecting
        #expect(rows(render(state, size: small))[last].hasPrefix(" ○ connecting to chat.example.org "))
        state.connection = .offline("login failed: bad password")
        state.notice = "not sent: too long"
        #expect(
            rows(render(state, size: small))[last].hasPrefix(
                " ✕ offline: login failed: bad password │ not sent: too long "
            )
        )
        state.connection = .connected
        state.notice = nil
        state.rooms[0].typing = [
            "carol": state.now + 1, "bob": state.now + 1, "dave": state.now,
        ]
        #expect(
            rows(render(state, size: small))[last].hasPrefix(" ● alice @ chat.example.org │ bob, carol are typing… ")
        )
        state.connection = .reconnecting(at: state.now + 1, reason: "server unreachable (timed out)")
        #expect(
            rows(render(state, size: small))[last].hasPrefix(" ◌ server unreachable (timed out) — retrying in 1 s ")
        )
    }

    @Test("the status bar shows the lag when known")
    func lag() {
        var state = roomState(messages: 1)
        state.lagMs = 42
        #expect(
            rows(render(state, size: small))[small.height - 2].hasPrefix(" ● alice @ chat.example.org · lag 42 ms ")
        )
    }

    @Test("with a 12-hour clock, wrapped lines still line up under the text column", arguments: [false, true])
    func twelveHourAlignment(twelveHour: Bool) {
        var state = Screens.busy()
        state.twelveHour = twelveHour
        let screen = render(state, size: small)
        let frameColumns = Set(
            (1..<(small.height - 2)).compactMap { row in
                (17..<small.width).first { screen[row, $0].text == "│" && screen[row, $0].style.dim }
            }
        )
        #expect(frameColumns == [twelveHour ? 35 : 34])
        #expect(row(screen, containing: twelveHour ? " 9:12a        bob │ carol:" : "09:12        bob │ carol:") != nil)
        #expect(row(screen, containing: twelveHour ? " --:--      alice │ sure" : "--:--      alice │ sure") != nil)
        #expect(gridProblems(screen) == [])
    }

    @Test("a long input line scrolls so the cursor stays visible")
    func inputScrolls() {
        var state = roomState(messages: 1)
        let size = Size(width: 40, height: 8)
        state.input = InputLine("日本語のメッセージを入力しています、とても長い文です。end")
        var screen = render(state, size: size)
        #expect(rows(screen)[7].hasSuffix("end "))
        #expect(screen.cursor?.row == 7)
        #expect(screen.cursor?.column == 39)
        #expect(gridProblems(screen) == [])
        state.input.cursor = 0
        screen = render(state, size: size)
        #expect(rows(screen)[7].hasPrefix("[general] 日本語のメッセージ"))
        #expect(screen.cursor?.column == 10)
        #expect(gridProblems(screen) == [])
    }

    @Test("a newline in the input shows as ↵")
    func inputNewline() {
        var state = roomState(messages: 1)
        state.input = InputLine("one\ntwo")
        #expect(rows(render(state, size: small))[small.height - 1].hasPrefix("[general] one↵two "))
    }

    @Test("the picker scrolls to keep the selection visible")
    func pickerScrolls() {
        var state = Screens.justJoined()
        _ = update(&state, .roomList((1...30).map { "room-\($0 < 10 ? "0" : "")\($0)" }))
        state.picker?.selected = 25
        let screen = render(state, size: small)
        // 19 rows fit at 80×24 (title, status and input lines stay visible): room-12…room-30.
        #expect(row(screen, containing: "room-11") == nil)
        #expect(row(screen, containing: "room-12") != nil)
        #expect(row(screen, containing: "room-30") != nil)
        let selected = row(screen, containing: "room-26")
        let column = selected.flatMap { row in
            (0..<small.width).first { screen[row, $0].text == "r" && screen[row, $0 + 5].text == "2" }
        }
        if let selected, let column {
            #expect(screen[selected, column].style.reverse)
            #expect(!screen[selected - 1, column].style.reverse)
        } else {
            Issue.record("room-26 is not on the screen")
        }
    }

    @Test("the login form masks the password and puts the cursor after it", arguments: Screens.sizes)
    func login(size: Size) {
        let screen = render(Screens.login(), size: size)
        let text = screen.text
        #expect(!text.contains("hunter2"))
        #expect(text.contains("┌─ Log in to chat.example.org ─"))
        #expect(text.contains("│  User       さくら "))
        #expect(text.contains("│  Password   ••••••• "))
        #expect(text.contains("│  wrong user name or password "))
        let passwordRow = row(screen, containing: "Password")
        #expect(screen.cursor?.row == passwordRow)
        let fieldStart = passwordRow.flatMap { row in (0..<size.width).first { screen[row, $0].text == "•" } }
        #expect(screen.cursor?.column == fieldStart.map { $0 + 7 })
        #expect(gridProblems(screen) == [])
    }

    // MARK: Known render problems

    @Test("the login form's key hint fits, even on a wide terminal")
    func loginHint() {
        let text = render(Screens.login(), size: Size(width: 200, height: 40)).text
        #expect(text.contains("Ctrl-R new account · Esc quit"))
    }

    @Test("one member is \"1 member\"")
    func singularMember() {
        var state = Screens.justJoined()
        state.rooms[0].members = 1
        let title = rows(render(state, size: small))[0]
        #expect(title.hasSuffix(" 1 member "))
    }

    @Test("the picker shows its whole title")
    func pickerTitle() {
        var state = Screens.justJoined()
        _ = update(&state, .roomList(["general", "random"]))
        let screen = render(state, size: small)
        #expect(screen.text.contains("─ Rooms on the server (Enter joins, Esc closes) ─"))
    }

    @Test("a long picker leaves the status bar alone")
    func boxLeavesStatusBar() {
        var state = Screens.justJoined()
        _ = update(&state, .roomList((1...30).map { "room-\($0)" }))
        let status = rows(render(state, size: small))[small.height - 2]
        #expect(status.hasPrefix(" ● alice @ chat.example.org "))
    }

    @Test("when everything fits, a scrolled state still shows the newest message")
    func noteKeepsNewest() {
        var state = roomState(messages: 5)
        state.scroll = 3
        state.newBelow = 1
        let screen = render(state, size: small)
        #expect(row(screen, containing: "line 5") != nil)
    }

    @Test("a message that mentions the user is highlighted")
    func mentionHighlighted() {
        var state = roomState(messages: 1)
        state.rooms[0].messages.append(message("general", 2, "bob", "alice: can you review?", ts: 1_795_943_000_000))
        let screen = render(state, size: small)
        let mentionRow = row(screen, containing: "alice: can you review?")
        let plainRow = row(screen, containing: "line 1")
        #expect(mentionRow != nil)
        #expect(plainRow.map { screen[$0, 36].style } == CellStyle.plain)
        #expect(mentionRow.map { screen[$0, 36].style.fg } == .basic(3))
    }

    @Test("a box drawn over wide characters keeps the grid well-formed")
    func boxOverWideCharacters() {
        var state = roomState(messages: 0)
        // "a" first puts the wide characters on odd columns, so the help box's right border (column 74)
        // lands on the left half of one.
        state.rooms[0].messages = (1...12).map {
            message("general", $0, "さくら", "a" + String(repeating: "日本", count: 20), ts: 1_795_942_800_000)
        }
        state.showHelp = true
        let screen = render(state, size: small)
        #expect(rows(screen)[6].contains("│ Ctrl-W delete word"))
        #expect(gridProblems(screen) == [])
    }
}
