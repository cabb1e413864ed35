import ChatCore
import ChatTUI
import Testing

// MARK: - Fixtures

/// Sat 28 Nov 2026 00:00 UTC, in ms.
private let day1: Int64 = 1_795_824_000_000
/// Sun 29 Nov 2026 00:00 UTC, in ms.
private let day2: Int64 = 1_795_910_400_000

/// A time of day on one of the fixture days.
private func at(_ day: Int64, _ hour: Int64, _ minute: Int64) -> Int64 { day + (hour * 60 + minute) * 60_000 }

private func message(
    _ room: String,
    _ seq: Int64,
    _ from: String,
    _ text: String,
    _ ts: Int64,
    kind: MessageKind = .text
) -> ChatMessage {
    ChatMessage(room: room, seq: seq, from: from, text: text, kind: kind, ts: ts)
}

private func room(_ name: String, head: Int64 = 0, read: Int64 = 0, mentions: Int = 0) -> AppState.Room {
    var room = AppState.Room(name: name)
    room.head = head
    room.read = read
    room.mentions = mentions
    return room
}

/// The screens under test, as `AppState` values built directly (no clock, no time zone, no randomness).
enum Screens {
    static let sizes = [Size(width: 80, height: 24), Size(width: 120, height: 40)]

    /// Connected as alice, 09:30 UTC on day 2, colours on.
    static func base() -> AppState {
        var state = AppState(user: "alice", server: "chat.example.org")
        state.connection = .connected
        state.now = at(day2, 9, 30)
        state.utcOffset = 0
        state.color = true
        return state
    }

    /// (a) Connected, no rooms.
    static func empty() -> AppState { base() }

    /// (b) A room just joined: no messages yet.
    static func justJoined() -> AppState {
        var state = base()
        var lobby = room("lobby")
        lobby.members = 2  // not 1: see `RenderTests.singularMember`
        state.rooms = [lobby]
        return state
    }

    /// The messages of the busy room: two days, several senders, wrapping English and Japanese,
    /// emoji (ZWJ family, skin tone, flag), an action, a long URL and a long nick.
    static let busyMessages: [ChatMessage] = [
        message("swift-dev", 1, "carol", "good night everyone, see you tomorrow", at(day1, 23, 55)),
        message("swift-dev", 2, "dave", "night!", at(day1, 23, 58)),
        message(
            "swift-dev",
            3,
            "bob",
            "Morning! Has anyone looked at the new concurrency diagnostics? The compiler now flags sendability "
                + "problems in closures that used to slip through, which is great but noisy in our older modules.",
            at(day2, 9, 1)
        ),
        message(
            "swift-dev",
            4,
            "さくら",
            "日本語のメッセージが長い場合でも正しく折り返されることを確認します。全角文字は二列を占めるので、"
                + "行の端で文字が切れてはいけません。",
            at(day2, 9, 3)
        ),
        message("swift-dev", 5, "erin", "family 👨‍👩‍👧‍👦 thumbs 👍🏽 flag 🇯🇵 done ✅ all two columns", at(day2, 9, 4)),
        message("swift-dev", 6, "alice", "thanks bob, I'll take a look after standup", at(day2, 9, 5)),
        message("swift-dev", 7, "dave", "is rebuilding the CI cache ☕", at(day2, 9, 6), kind: .action),
        message(
            "swift-dev",
            8,
            "maximilian_the_great",
            "logs: https://ci.example.org/jobs/swift-dev/builds/20261129-0907/artifacts/full-log.txt",
            at(day2, 9, 7)
        ),
        // Not a mention of alice: see `RenderTests.mentionHighlighted`.
        message("swift-dev", 9, "bob", "carol: can you review #1234 today?", at(day2, 9, 12)),
    ]

    /// (c) A busy room with a topic, a member count and a pending own message.
    static func busy() -> AppState {
        var state = base()
        var swift = room("swift-dev", head: 9, read: 9)
        swift.topic = "Swift 6.3 release planning — keep threads short, link PRs, be kind to the compiler"
        swift.members = 12
        swift.messages = busyMessages
        state.rooms = [room("general", head: 4, read: 4), swift, room("random", head: 7, read: 5)]
        state.active = 1
        // `AppState.Pending` has no package initializer: send through `update` to get a pending entry.
        state.input = InputLine("sure, on it — reviewing now")
        _ = update(&state, .key(.enter))
        return state
    }

    /// (d) Five rooms: the active one, unread counts (one above 999), mentions, a wide and a long name.
    static func sidebar() -> AppState {
        var state = base()
        var general = room("general", head: 3, read: 3)
        general.members = 48
        general.messages = [
            message("general", 1, "bob", "has everyone seen the new sidebar?", at(day2, 9, 20)),
            message("general", 2, "carol", "yes, the counts on the right are handy", at(day2, 9, 21)),
            message("general", 3, "alice", "mentions show with a !", at(day2, 9, 22)),
        ]
        state.rooms = [
            general,
            room("random", head: 15, read: 12),
            room("swift-dev", head: 40, read: 30, mentions: 2),
            room("日本語チャンネル", head: 8, read: 8),
            room("a-very-long-room-name-that-needs-truncating", head: 1_600, read: 100),
        ]
        state.active = 0
        return state
    }

    /// (e) Scrolled up in a room with older history on the server, a "new messages" marker
    /// and messages that arrived below.
    static func scrolled() -> AppState {
        var state = base()
        var general = room("general", head: 130, read: 130)
        let senders = ["bob", "carol", "dave", "erin"]
        general.messages = (71...130).map { seq in
            message(
                "general",
                seq,
                senders[Int(seq) % senders.count],
                "message number \(seq)",
                at(day2, 8, seq - 70)
            )
        }
        general.hasOlder = true
        general.marker = 120
        state.rooms = [general]
        state.scroll = 8
        state.newBelow = 3
        return state
    }

    /// (f) Reconnecting, someone typing, and a half-typed input line with the cursor inside it.
    static func reconnecting() -> AppState {
        var state = base()
        var general = room("general", head: 2, read: 2)
        general.messages = [
            message("general", 1, "bob", "is the server down for you too?", at(day2, 9, 25)),
            message("general", 2, "carol", "looks like it", at(day2, 9, 26)),
        ]
        general.typing["bob"] = state.now + 5_000
        state.rooms = [general]
        state.connection = .reconnecting(at: state.now + 4_000, reason: "server unreachable (connection refused)")
        state.input = InputLine("still here 日本語も 👍🏽 ok")
        state.input.cursor = 11
        return state
    }

    /// (g) The help box over a room (English text only, see `helpBoxOverWideCharacters`).
    static func help() -> AppState {
        var state = base()
        var swift = room("swift-dev", head: 3, read: 3)
        swift.messages = Array(busyMessages[0..<3])
        swift.topic = "Swift 6.3 release planning"
        state.rooms = [swift]
        state.showHelp = true
        return state
    }

    /// The room names `/rooms` returns in the picker screen. One name is wider than the picker's title
    /// (see `RenderTests.pickerTitle`), and there are few enough to fit on 80×24 (see
    /// `RenderTests.boxLeavesStatusBar`; scrolling is checked in `RenderTests.pickerScrolls`).
    static let serverRooms = [
        "general", "random", "swift-dev", "日本語チャンネル", "announcements-and-release-notes-for-everyone-here",
        "lobby", "ops", "music", "café", "help-desk", "off-topic", "design", "qa", "builds", "infra", "books",
    ]

    /// (h) The `/rooms` picker with the fourth entry selected.
    static func picker() -> AppState {
        var state = justJoined()
        _ = update(&state, .roomList(serverRooms))
        _ = update(&state, .key(.down))
        _ = update(&state, .key(.down))
        _ = update(&state, .key(.down))
        return state
    }

    /// The login form over an empty screen, the user name filled in and a password half typed
    /// (no golden file while its key hint cannot fit, see `RenderTests.loginHint`).
    static func login() -> AppState {
        var state = base()
        state.connection = .connecting
        var form = AppState.LoginForm(user: "さくら")
        form.password = InputLine("hunter2")
        form.error = "wrong user name or password"
        state.login = form
        return state
    }

    /// (j) The busy room without colours.
    static func noColor() -> AppState {
        var state = busy()
        state.color = false
        return state
    }
}

private func name(_ base: String, _ size: Size) -> String { "\(base)-\(size.width)x\(size.height)" }

/// Whether a golden-file issue is only the known box-title bug: `drawBox` pads "─ title " and then
/// `replacingSpacesAfterTitle` turns every trailing space into "─", including the one meant to stay
/// after the title, so "┌─ Help (Esc closes) ───┐" comes out as "┌─ Help (Esc closes)────┐".
/// The golden files hold the intended title row; any other difference is a real failure.
/// Re-recording writes the buggy row: put the space back by hand until `drawBox` is fixed.
private func isBoxTitleSpaceOnly(_ issue: Issue) -> Bool {
    let text = issue.comments.map(\.rawValue).joined(separator: "\n")
    let rowCount = text.split(separator: "\n").filter { $0.hasPrefix("row ") }.count
    return rowCount == 1 && text.contains("Esc closes)─") && text.contains("Esc closes) ─")
}

// MARK: - Golden screens

@Suite("Golden screens")
struct GoldenScreenTests {
    @Test("(a) connected, no rooms", arguments: Screens.sizes)
    func empty(size: Size) {
        assertScreen(render(Screens.empty(), size: size), named: name("empty", size))
    }

    @Test("(b) a room just joined", arguments: Screens.sizes)
    func justJoined(size: Size) {
        assertScreen(render(Screens.justJoined(), size: size), named: name("just-joined", size))
    }

    @Test("(c) busy room: wrapping, Japanese, emoji, action, day separator, pending", arguments: Screens.sizes)
    func busy(size: Size) {
        assertScreen(render(Screens.busy(), size: size), named: name("busy", size))
    }

    @Test("(d) sidebar with five rooms", arguments: Screens.sizes)
    func sidebar(size: Size) {
        assertScreen(render(Screens.sidebar(), size: size), named: name("sidebar", size))
    }

    @Test("(e) scrolled up with marker, new-below note and older history", arguments: Screens.sizes)
    func scrolled(size: Size) {
        assertScreen(render(Screens.scrolled(), size: size), named: name("scrolled", size))
    }

    @Test("(f) reconnecting, typing indicator, input with cursor", arguments: Screens.sizes)
    func reconnecting(size: Size) {
        let screen = render(Screens.reconnecting(), size: size)
        assertScreen(screen, named: name("reconnecting", size))
        // The cursor sits after "still here " (11 columns) behind the "[general] " prompt.
        #expect(screen.cursor?.row == size.height - 1)
        #expect(screen.cursor?.column == 10 + 11)
    }

    @Test("(g) help box", arguments: Screens.sizes)
    func help(size: Size) {
        assertScreen(render(Screens.help(), size: size), named: name("help", size))
    }

    @Test("(h) /rooms picker", arguments: Screens.sizes)
    func picker(size: Size) {
        assertScreen(render(Screens.picker(), size: size), named: name("picker", size))
    }

    @Test("(k) login form with an error (password masked)", arguments: Screens.sizes)
    func loginForm(size: Size) {
        let screen = render(Screens.login(), size: size)
        assertScreen(screen, named: name("login", size))
        #expect(!screen.text.contains("hunter2"), "the password is never drawn")
    }

    @Test("(i) terminal too small")
    func tooSmall() {
        assertScreen(render(Screens.busy(), size: Size(width: 30, height: 6)), named: "too-small-30x6")
    }

    @Test("(j) NO_COLOR busy room")
    func noColor() {
        let screen = render(Screens.noColor(), size: Size(width: 80, height: 24))
        assertScreen(screen, named: "no-color-80x24")
        let colored = (0..<24).flatMap { row in (0..<80).map { screen[row, $0].style } }
            .filter { $0.fg != .default || $0.bg != .default }
        #expect(colored.isEmpty, "NO_COLOR must not use any colour")
    }
}
