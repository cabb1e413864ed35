import ChatCore
import ChatTUI
import Testing

// MARK: - Helpers

/// 2026-11-29 09:30 UTC, in ms.
private let now: Int64 = 1_795_944_600_000

private func message(
    _ room: String,
    _ seq: Int64,
    _ from: String,
    _ text: String = "hello",
    kind: MessageKind = .text,
    nonce: String? = nil
) -> ChatMessage {
    ChatMessage(room: room, seq: seq, from: from, text: text, kind: kind, ts: now - 60_000 + seq, nonce: nonce)
}

/// Connected as alice, with the given rooms (the first active).
private func makeState(_ rooms: [String] = ["general"]) -> AppState {
    var state = AppState(user: "alice", server: "chat.example.org")
    state.connection = .connected
    state.now = now
    state.rooms = rooms.map { AppState.Room(name: $0) }
    return state
}

/// Applies events in order and returns all their effects.
@discardableResult
private func apply(_ state: inout AppState, _ events: [AppEvent]) -> [AppEffect] {
    events.flatMap { update(&state, $0) }
}

@discardableResult
private func press(_ state: inout AppState, _ keys: Key...) -> [AppEffect] {
    apply(&state, keys.map { .key($0) })
}

/// Types text as key presses (one per character) and presses Enter.
@discardableResult
private func submit(_ state: inout AppState, _ line: String) -> [AppEffect] {
    state.input = InputLine(line)
    return press(&state, .enter)
}

@discardableResult
private func receive(_ state: inout AppState, _ event: ClientEvent) -> [AppEffect] {
    update(&state, .client(event))
}

// MARK: - Editing

/// One editing case: start with `text` and the cursor at `cursor`, press `keys`, expect `expected`
/// with the cursor at `expectedCursor`.
struct EditCase: Sendable, CustomTestStringConvertible {
    var name: String
    var text: String
    var cursor: Int?
    var keys: [Key]
    var expected: String
    var expectedCursor: Int
    var testDescription: String { name }
}

private let family = "👨‍👩‍👧‍👦"
private let thumbs = "👍🏽"

private let editCases: [EditCase] = [
    EditCase(name: "insert ASCII", text: "", keys: [.character("a")], expected: "a", expectedCursor: 1),
    EditCase(
        name: "insert in the middle",
        text: "hllo",
        cursor: 1,
        keys: [.character("e")],
        expected: "hello",
        expectedCursor: 2
    ),
    EditCase(
        name: "insert Japanese",
        text: "",
        keys: [.character("日"), .character("本"), .character("語")],
        expected: "日本語",
        expectedCursor: 3
    ),
    EditCase(
        name: "insert a ZWJ family as one grapheme",
        text: "",
        keys: [.character(Character(family))],
        expected: family,
        expectedCursor: 1
    ),
    EditCase(
        name: "insert a skin-tone emoji as one grapheme",
        text: "a",
        keys: [.character(Character(thumbs))],
        expected: "a" + thumbs,
        expectedCursor: 2
    ),
    EditCase(name: "backspace", text: "abc", keys: [.backspace], expected: "ab", expectedCursor: 2),
    EditCase(
        name: "backspace at the start",
        text: "abc",
        cursor: 0,
        keys: [.backspace],
        expected: "abc",
        expectedCursor: 0
    ),
    EditCase(
        name: "backspace over a ZWJ family",
        text: "a" + family,
        keys: [.backspace],
        expected: "a",
        expectedCursor: 1
    ),
    EditCase(
        name: "backspace over a skin tone",
        text: thumbs + "b",
        cursor: 1,
        keys: [.backspace],
        expected: "b",
        expectedCursor: 0
    ),
    EditCase(name: "backspace over Japanese", text: "日本語", keys: [.backspace], expected: "日本", expectedCursor: 2),
    EditCase(
        name: "delete over a ZWJ family",
        text: family + "b",
        cursor: 0,
        keys: [.delete],
        expected: "b",
        expectedCursor: 0
    ),
    EditCase(name: "delete at the end", text: "ab", keys: [.delete], expected: "ab", expectedCursor: 2),
    EditCase(name: "left by grapheme", text: "日" + family, keys: [.left], expected: "日" + family, expectedCursor: 1),
    EditCase(name: "left at the start", text: "ab", cursor: 0, keys: [.left], expected: "ab", expectedCursor: 0),
    EditCase(
        name: "right by grapheme",
        text: family + "x",
        cursor: 0,
        keys: [.right],
        expected: family + "x",
        expectedCursor: 1
    ),
    EditCase(name: "right at the end", text: "ab", keys: [.right], expected: "ab", expectedCursor: 2),
    EditCase(name: "Ctrl-B", text: "abc", keys: [.ctrl("b")], expected: "abc", expectedCursor: 2),
    EditCase(name: "Ctrl-F", text: "abc", cursor: 1, keys: [.ctrl("f")], expected: "abc", expectedCursor: 2),
    EditCase(name: "Ctrl-A", text: "hello", keys: [.ctrl("a")], expected: "hello", expectedCursor: 0),
    EditCase(name: "Home", text: "hello", keys: [.home], expected: "hello", expectedCursor: 0),
    EditCase(name: "Ctrl-E", text: "hello", cursor: 2, keys: [.ctrl("e")], expected: "hello", expectedCursor: 5),
    EditCase(name: "End", text: "hello", cursor: 0, keys: [.end], expected: "hello", expectedCursor: 5),
    EditCase(
        name: "Alt-B",
        text: "hello big world",
        keys: [.alt("b")],
        expected: "hello big world",
        expectedCursor: 10
    ),
    EditCase(
        name: "Alt-B twice",
        text: "hello big world",
        keys: [.alt("b"), .alt("b")],
        expected: "hello big world",
        expectedCursor: 6
    ),
    EditCase(
        name: "Alt-B over punctuation",
        text: "foo, bar",
        keys: [.alt("b"), .alt("b")],
        expected: "foo, bar",
        expectedCursor: 0
    ),
    EditCase(
        name: "Alt-F",
        text: "hello big world",
        cursor: 0,
        keys: [.alt("f")],
        expected: "hello big world",
        expectedCursor: 5
    ),
    EditCase(
        name: "Alt-F twice",
        text: "hello big world",
        cursor: 0,
        keys: [.alt("f"), .alt("f")],
        expected: "hello big world",
        expectedCursor: 9
    ),
    EditCase(name: "Alt-F at the end", text: "hello", keys: [.alt("f")], expected: "hello", expectedCursor: 5),
    EditCase(name: "Ctrl-W", text: "hello big world", keys: [.ctrl("w")], expected: "hello big ", expectedCursor: 10),
    EditCase(
        name: "Ctrl-W over trailing spaces",
        text: "hello world  ",
        keys: [.ctrl("w")],
        expected: "hello ",
        expectedCursor: 6
    ),
    EditCase(
        name: "Ctrl-W mid-line",
        text: "one two three",
        cursor: 7,
        keys: [.ctrl("w")],
        expected: "one  three",
        expectedCursor: 4
    ),
    EditCase(
        name: "Ctrl-W over Japanese and emoji",
        text: "見て " + family + thumbs,
        keys: [.ctrl("w")],
        expected: "見て ",
        expectedCursor: 3
    ),
    EditCase(name: "Ctrl-U", text: "hello world", cursor: 6, keys: [.ctrl("u")], expected: "world", expectedCursor: 0),
    EditCase(name: "Ctrl-K", text: "hello world", cursor: 5, keys: [.ctrl("k")], expected: "hello", expectedCursor: 5),
    EditCase(
        name: "Alt-Enter inserts a newline",
        text: "a",
        keys: [.altEnter, .character("b")],
        expected: "a\nb",
        expectedCursor: 3
    ),
]

@Suite("update: editing and history")
struct EditingTests {
    @Test(arguments: editCases)
    func edit(_ c: EditCase) {
        var state = makeState()
        state.input = InputLine(c.text)
        if let cursor = c.cursor { state.input.cursor = cursor }
        apply(&state, c.keys.map { .key($0) })
        #expect(state.input.text == c.expected)
        #expect(state.input.cursor == c.expectedCursor)
        #expect(state.input.characters.count == c.expected.count)
    }

    @Test("paste inserts at the cursor, grapheme-wise")
    func paste() {
        var state = makeState()
        state.input = InputLine("ab")
        state.input.cursor = 1
        _ = update(&state, .paste("日本 " + family))
        #expect(state.input.text == "a日本 \(family)b")
        #expect(state.input.cursor == 5)
    }

    @Test("Up and Down walk the input history; Down past the newest clears the line")
    func history() {
        var state = makeState()
        submit(&state, "one")
        submit(&state, "two")
        submit(&state, "two")  // a repeat is stored once
        #expect(state.inputHistory == ["one", "two"])
        press(&state, .up)
        #expect(state.input.text == "two")
        press(&state, .up)
        #expect(state.input.text == "one")
        press(&state, .up)
        #expect(state.input.text == "one")
        #expect(state.historyIndex == 0)
        press(&state, .down)
        #expect(state.input.text == "two")
        press(&state, .down)
        #expect(state.input.text == "")
        #expect(state.historyIndex == nil)
    }

    @Test("Up with no history leaves the line alone")
    func historyEmpty() {
        var state = makeState()
        state.input = InputLine("draft")
        press(&state, .up)
        #expect(state.input.text == "draft")
    }

    @Test("Ctrl-C quits; Ctrl-D quits only on an empty line")
    func quitKeys() {
        var state = makeState()
        state.input = InputLine("x")
        #expect(press(&state, .ctrl("d")) == [])
        #expect(!state.quitting)
        #expect(press(&state, .ctrl("c")) == [.quit])
        #expect(state.quitting)
        var empty = makeState()
        #expect(press(&empty, .ctrl("d")) == [.quit])
        #expect(empty.quitting)
    }

    @Test("Esc clears the notice")
    func escapeClearsNotice() {
        var state = makeState()
        _ = update(&state, .notice("something happened"))
        #expect(state.notice == "something happened")
        press(&state, .escape)
        #expect(state.notice == nil)
    }

    @Test("typing sends a typing notice at most every 3 s, never for commands")
    func typingNotice() {
        var state = makeState()
        #expect(press(&state, .character("h")) == [.typing("general")])
        #expect(press(&state, .character("i")) == [])
        state.now += 3_000
        #expect(press(&state, .character("!")) == [.typing("general")])
        var command = makeState()
        command.input = InputLine("/")
        #expect(press(&command, .character("j")) == [])
        var noRoom = makeState([])
        #expect(press(&noRoom, .character("x")) == [])
    }

    @Test("clock ticks between key presses do not reset the typing throttle")
    func typingThrottleSurvivesTicks() {
        var state = makeState()
        #expect(press(&state, .character("h")) == [.typing("general")])
        _ = update(&state, .tick(now + 1_000))
        #expect(press(&state, .character("i")) == [])
    }
}

// MARK: - Sending and commands

@Suite("update: sending and commands")
struct CommandTests {
    @Test("Enter sends to the active room with a nonce and adds a pending entry")
    func send() {
        var state = makeState(["general", "random"])
        state.active = 1
        state.scroll = 5
        state.newBelow = 2
        #expect(
            submit(&state, "hi 日本 \(family)") == [
                .send(room: "random", text: "hi 日本 \(family)", kind: .text, nonce: "t-1")
            ]
        )
        #expect(state.input.isEmpty)
        #expect(state.rooms[1].pending.map(\.nonce) == ["t-1"])
        #expect(state.rooms[1].pending.first?.text == "hi 日本 \(family)")
        #expect(state.rooms[1].pending.first?.ts == now)
        #expect(state.rooms[0].pending.isEmpty)
        #expect(state.scroll == 0)
        #expect(state.newBelow == 0)
        #expect(submit(&state, "again") == [.send(room: "random", text: "again", kind: .text, nonce: "t-2")])
    }

    @Test("an empty or blank line sends nothing", arguments: ["", "   ", "\n"])
    func sendEmpty(_ line: String) {
        var state = makeState()
        #expect(submit(&state, line) == [])
        #expect(state.rooms[0].pending.isEmpty)
        #expect(state.nonceCounter == 0)
    }

    @Test("//x sends /x")
    func doubleSlash() {
        var state = makeState()
        #expect(
            submit(&state, "//x marks the spot") == [
                .send(room: "general", text: "/x marks the spot", kind: .text, nonce: "t-1")
            ]
        )
    }

    @Test("sending without a room asks to join one")
    func sendNoRoom() {
        var state = makeState([])
        #expect(submit(&state, "hello") == [])
        #expect(state.notice == "join a room first: /join ROOM")
    }

    @Test("/me sends an action; /me alone shows usage")
    func me() {
        var state = makeState()
        #expect(submit(&state, "/me waves 👋") == [.send(room: "general", text: "waves 👋", kind: .action, nonce: "t-1")])
        #expect(state.rooms[0].pending.first?.kind == .action)
        #expect(submit(&state, "/me") == [])
        #expect(state.notice == "usage: /me TEXT")
    }

    @Test(
        "/join ROOM appends the room, makes it active and joins it",
        arguments: ["/join swift-dev", "/join #swift-dev", "/j swift-dev"]
    )
    func joinNew(_ line: String) {
        var state = makeState()
        #expect(submit(&state, line) == [.join("swift-dev")])
        #expect(state.rooms.map(\.name) == ["general", "swift-dev"])
        #expect(state.active == 1)
    }

    @Test(
        "/join with an invalid name shows a notice and does nothing",
        arguments: ["/join bad name", "/join a/b", "/join ..!"]
    )
    func joinInvalid(_ line: String) {
        var state = makeState()
        #expect(submit(&state, line) == [])
        #expect(state.rooms.count == 1)
        #expect(state.notice?.contains("room name") == true)
    }

    @Test("/join alone shows usage")
    func joinUsage() {
        var state = makeState()
        #expect(submit(&state, "/join") == [])
        #expect(state.notice == "usage: /join ROOM")
    }

    @Test("/join of a room already joined switches to it (names compare case-insensitively)")
    func joinExisting() {
        var state = makeState(["general", "random"])
        state.rooms[1].messages = [message("random", 1, "bob"), message("random", 2, "bob")]
        state.rooms[1].head = 2
        state.rooms[1].read = 1
        #expect(submit(&state, "/join RANDOM") == [.markRead(room: "random", seq: 2)])
        #expect(state.rooms.count == 2)
        #expect(state.active == 1)
        #expect(state.rooms[1].marker == 1)
    }

    @Test("/part leaves the active room")
    func part() {
        var state = makeState(["general", "random"])
        state.active = 1
        #expect(submit(&state, "/part") == [.leave("random")])
        #expect(state.rooms.map(\.name) == ["general"])
        #expect(state.active == 0)
        #expect(submit(&state, "/leave") == [.leave("general")])
        #expect(state.rooms.isEmpty)
        #expect(submit(&state, "/part") == [])
        #expect(state.notice == "not in a room")
    }

    @Test("/part ROOM leaves that room")
    func partRoom() {
        var state = makeState(["general", "random"])
        #expect(submit(&state, "/part Random") == [.leave("random")])
        #expect(state.rooms.map(\.name) == ["general"])
        #expect(submit(&state, "/part nowhere") == [])
        #expect(state.notice == "not in nowhere")
    }

    @Test("/part of a room listed before the active one keeps the active room")
    func partKeepsActive() {
        var state = makeState(["a", "b", "c", "d"])
        state.active = 2
        #expect(submit(&state, "/part a") == [.leave("a")])
        #expect(state.activeRoom?.name == "c")
    }

    @Test(
        "commands with a single effect",
        arguments: [
            ("/rooms", AppEffect.listRooms),
            ("/members", .listMembers("general")),
            ("/names", .listMembers("general")),
            ("/topic Release on Friday 🚀", .setTopic(room: "general", topic: "Release on Friday 🚀")),
            ("/logout", .logout),
        ]
    )
    func simpleCommands(_ line: String, _ effect: AppEffect) {
        var state = makeState()
        #expect(submit(&state, line) == [effect])
        #expect(state.notice == nil)
    }

    @Test("/members and /topic need a room", arguments: ["/members", "/topic x", "/topic"])
    func commandsNeedRoom(_ line: String) {
        var state = makeState([])
        #expect(submit(&state, line) == [])
        #expect(state.notice == "join a room first")
    }

    @Test("/topic alone shows the topic")
    func topicShow() {
        var state = makeState()
        #expect(submit(&state, "/topic") == [])
        #expect(state.notice == "topic: (none)")
        state.rooms[0].topic = "Swift 6.3"
        #expect(submit(&state, "/topic  ") == [])
        #expect(state.notice == "topic: Swift 6.3")
    }

    @Test("/quit quits", arguments: ["/quit", "/exit", "/q", "/QUIT"])
    func quit(_ line: String) {
        var state = makeState()
        #expect(submit(&state, line) == [.quit])
        #expect(state.quitting)
    }

    @Test("/help shows the help box; Esc or Enter closes it")
    func help() {
        var state = makeState()
        #expect(submit(&state, "/help") == [])
        #expect(state.showHelp)
        press(&state, .escape)
        #expect(!state.showHelp)
        submit(&state, "/?")
        #expect(state.showHelp)
        #expect(press(&state, .enter) == [])
        #expect(!state.showHelp)
    }

    @Test("an unknown command shows a notice and sends nothing")
    func unknownCommand() {
        var state = makeState()
        #expect(submit(&state, "/frobnicate now") == [])
        #expect(state.notice == "unknown command /frobnicate (try /help)")
        #expect(state.rooms[0].pending.isEmpty)
    }

    @Test("commands are stored in the input history")
    func commandHistory() {
        var state = makeState()
        submit(&state, "/topic")
        press(&state, .up)
        #expect(state.input.text == "/topic")
    }
}

// MARK: - Completion

@Suite("update: Tab completion")
struct CompletionTests {
    /// general with messages from bob, carol, bella and alice (newest last).
    func chatty() -> AppState {
        var state = makeState(["general", "swift-dev", "swiss"])
        state.rooms[0].messages = [
            message("general", 1, "bob"), message("general", 2, "carol"), message("general", 3, "bella"),
            message("general", 4, "alice"),
        ]
        return state
    }

    @Test("a nick at the start of the line gets \": \"; repeated Tab cycles, most recent speaker first")
    func nickAtStart() {
        var state = chatty()
        state.input = InputLine("b")
        press(&state, .tab)
        #expect(state.input.text == "bella: ")
        press(&state, .tab)
        #expect(state.input.text == "bob: ")
        press(&state, .tab)
        #expect(state.input.text == "bella: ")
        #expect(state.input.cursor == 7)
    }

    @Test("a nick mid-line gets a space")
    func nickMidLine() {
        var state = chatty()
        state.input = InputLine("thanks C")
        press(&state, .tab)
        #expect(state.input.text == "thanks carol ")
    }

    @Test("the own nick and unknown prefixes do not complete", arguments: ["al", "zed", ""])
    func noCompletion(_ text: String) {
        var state = chatty()
        state.input = InputLine(text)
        press(&state, .tab)
        #expect(state.input.text == text)
        #expect(state.completion == nil)
    }

    @Test("a command completes and cycles")
    func command() {
        var state = chatty()
        state.input = InputLine("/m")
        press(&state, .tab)
        #expect(state.input.text == "/me ")
        press(&state, .tab)
        #expect(state.input.text == "/members ")
        state.input = InputLine("/jo")
        press(&state, .end)  // any other key ends the cycle
        press(&state, .tab)
        #expect(state.input.text == "/join ")
    }

    @Test("a room completes after /join and /part")
    func room() {
        var state = chatty()
        state.input = InputLine("/join sw")
        press(&state, .tab)
        #expect(state.input.text == "/join swift-dev ")
        press(&state, .tab)
        #expect(state.input.text == "/join swiss ")
        state.input = InputLine("/part GE")
        press(&state, .home, .end, .tab)
        #expect(state.input.text == "/part general ")
    }

    @Test("typing after a completion starts a new one")
    func typingResets() {
        var state = chatty()
        state.input = InputLine("b")
        press(&state, .tab)
        press(&state, .character("h"), .character("i"), .character(" "), .character("c"), .tab)
        #expect(state.input.text == "bella: hi carol ")
    }
}

// MARK: - Rooms and scrolling

@Suite("update: rooms and scrolling")
struct RoomTests {
    @Test("Alt-1…9 picks a room by number; out of range does nothing")
    func altNumber() {
        var state = makeState(["a", "b", "c"])
        press(&state, .alt("2"))
        #expect(state.active == 1)
        press(&state, .alt("3"))
        #expect(state.active == 2)
        press(&state, .alt("9"))
        #expect(state.active == 2)
        press(&state, .alt("0"))
        #expect(state.active == 2)
        press(&state, .alt("1"))
        #expect(state.active == 0)
    }

    @Test("Ctrl-N and Ctrl-P wrap around")
    func nextPrevious() {
        var state = makeState(["a", "b", "c"])
        press(&state, .ctrl("p"))
        #expect(state.active == 2)
        press(&state, .ctrl("n"))
        #expect(state.active == 0)
        press(&state, .ctrl("n"), .ctrl("n"))
        #expect(state.active == 2)
        var none = makeState([])
        #expect(press(&none, .ctrl("n")) == [])
        #expect(none.active == 0)
    }

    @Test("switching rooms resets scrolling, sets the marker and marks the new room read")
    func switchMarksRead() {
        var state = makeState(["a", "b"])
        state.rooms[1].messages = (1...5).map { message("b", $0, "bob") }
        state.rooms[1].head = 5
        state.rooms[1].read = 3
        state.rooms[1].mentions = 1
        state.rooms[0].marker = 7
        state.scroll = 4
        state.newBelow = 1
        #expect(press(&state, .ctrl("n")) == [.markRead(room: "b", seq: 5)])
        #expect(state.rooms[1].marker == 3)
        #expect(state.rooms[1].read == 5)
        #expect(state.rooms[1].mentions == 0)
        #expect(state.rooms[0].marker == nil)
        #expect(state.scroll == 0)
        #expect(state.newBelow == 0)
    }

    @Test("Alt-A goes to rooms with mentions first, then to rooms with unread messages")
    func altA() {
        var state = makeState(["general", "random", "swift", "quiet"])
        state.rooms[1].messages = (1...3).map { message("random", $0, "bob") }
        state.rooms[1].head = 3
        state.rooms[1].read = 1
        state.rooms[2].messages = (1...2).map { message("swift", $0, "bob") }
        state.rooms[2].head = 2
        state.rooms[2].read = 1
        state.rooms[2].mentions = 1
        #expect(press(&state, .alt("a")) == [.markRead(room: "swift", seq: 2)])
        #expect(state.active == 2)
        #expect(press(&state, .alt("a")) == [.markRead(room: "random", seq: 3)])
        #expect(state.active == 1)
        #expect(press(&state, .alt("a")) == [])
        #expect(state.active == 1)
    }

    /// general with `count` messages (seq 101…), connected, page height 20.
    func long(_ count: Int64, hasOlder: Bool) -> AppState {
        var state = makeState()
        state.rooms[0].messages = (101..<(101 + count)).map { message("general", $0, "bob") }
        state.rooms[0].head = 100 + count
        state.rooms[0].read = 100 + count
        state.rooms[0].hasOlder = hasOlder
        state.pageHeight = 20
        return state
    }

    @Test("PageUp scrolls by a page less two lines; past the loaded messages it loads older ones once")
    func pageUpLoadsOlder() {
        var state = long(10, hasOlder: true)
        #expect(press(&state, .pageUp) == [.loadOlder(room: "general", before: 101)])
        #expect(state.scroll == 18)
        #expect(state.rooms[0].loadingOlder)
        #expect(press(&state, .pageUp) == [])
        #expect(state.scroll == 36)
    }

    @Test("PageUp within the loaded messages, or without older history, loads nothing")
    func pageUpNoLoad() {
        var many = long(100, hasOlder: true)
        #expect(press(&many, .pageUp) == [])
        #expect(many.scroll == 18)
        var all = long(10, hasOlder: false)
        #expect(press(&all, .pageUp) == [])
        #expect(all.scroll == 18)
    }

    @Test("PageDown back to the bottom clears \"new below\" and marks the room read")
    func pageDownToBottom() {
        var state = long(30, hasOlder: false)
        press(&state, .pageUp, .pageUp)
        receive(&state, .message(message("general", 131, "bob")))
        #expect(state.newBelow == 1)
        #expect(state.rooms[0].read == 130)
        #expect(press(&state, .pageDown) == [])
        #expect(state.scroll == 18)
        #expect(press(&state, .pageDown) == [.markRead(room: "general", seq: 131)])
        #expect(state.scroll == 0)
        #expect(state.newBelow == 0)
        #expect(press(&state, .pageDown) == [])
        #expect(state.scroll == 0)
    }

    @Test("history merges older messages in order, without duplicates")
    func history() {
        var state = long(3, hasOlder: true)
        press(&state, .pageUp)
        let older = [message("general", 99, "carol"), message("general", 101, "bob"), message("general", 100, "dave")]
        #expect(update(&state, .history(room: "general", messages: older, more: false)) == [])
        #expect(state.rooms[0].messages.map(\.seq) == [99, 100, 101, 102, 103])
        #expect(!state.rooms[0].loadingOlder)
        #expect(!state.rooms[0].hasOlder)
        #expect(state.rooms[0].head == 103)
        #expect(update(&state, .history(room: "nowhere", messages: older, more: true)) == [])
    }
}

// MARK: - Client events

@Suite("update: client events")
struct ClientEventTests {
    @Test(".connected sets the connection and the user, and stores a newly issued token")
    func connected() {
        var state = makeState()
        state.connection = .connecting
        #expect(receive(&state, .connected(user: "Alice", token: "tok")) == [.storeToken(user: "Alice", token: "tok")])
        #expect(state.connection == .connected)
        #expect(state.user == "Alice")
    }

    @Test(".memberships adds new rooms and joins them, and raises head and read of known ones")
    func memberships() {
        var state = makeState(["general"])
        state.rooms[0].head = 2
        state.rooms[0].read = 7
        let effects = receive(
            &state,
            .memberships([
                RoomSummary(name: "General", head: 9, read: 3), RoomSummary(name: "swift-dev", head: 5, read: 1),
            ])
        )
        #expect(effects == [.join("swift-dev")])
        #expect(state.rooms.map(\.name) == ["general", "swift-dev"])
        #expect(state.rooms[0].head == 9)
        #expect(state.rooms[0].read == 7)
        #expect(state.rooms[1].head == 5)
        #expect(state.rooms[1].read == 1)
        #expect(state.rooms[1].unread == 4)
    }

    @Test(".message appends in seq order and drops duplicates")
    func messageOrder() {
        var state = makeState(["general", "random"])
        state.active = 1
        receive(&state, .message(message("general", 2, "bob")))
        receive(&state, .message(message("general", 1, "carol")))
        receive(&state, .message(message("general", 2, "bob", "again")))
        receive(&state, .message(message("general", 3, "dave")))
        #expect(state.rooms[0].messages.map(\.seq) == [1, 2, 3])
        #expect(state.rooms[0].messages.map(\.from) == ["carol", "bob", "dave"])
        #expect(state.rooms[0].head == 3)
        #expect(state.rooms[0].unread == 3)
        #expect(receive(&state, .message(message("elsewhere", 1, "bob"))) == [])
    }

    @Test("an own message removes the pending entry with the same nonce")
    func ownMessage() {
        var state = makeState()
        submit(&state, "one")
        submit(&state, "two")
        #expect(state.rooms[0].pending.map(\.nonce) == ["t-1", "t-2"])
        // Someone else using the same nonce string does not remove it.
        receive(&state, .message(message("general", 1, "mallory", "one", nonce: "t-1")))
        #expect(state.rooms[0].pending.map(\.nonce) == ["t-1", "t-2"])
        let effects = receive(&state, .message(message("general", 2, "alice", "one", nonce: "t-1")))
        #expect(state.rooms[0].pending.map(\.nonce) == ["t-2"])
        #expect(effects == [.markRead(room: "general", seq: 2)])
    }

    @Test("a message in the visible room marks it read; its sender stops typing")
    func visibleMessage() {
        var state = makeState()
        state.rooms[0].typing["bob"] = now + 5_000
        #expect(receive(&state, .message(message("general", 1, "bob"))) == [.markRead(room: "general", seq: 1)])
        #expect(state.rooms[0].read == 1)
        #expect(state.rooms[0].typing["bob"] == nil)
    }

    @Test("a message while scrolled up counts as new below and is not marked read")
    func scrolledMessage() {
        var state = makeState()
        state.scroll = 10
        #expect(receive(&state, .message(message("general", 1, "bob"))) == [])
        #expect(state.newBelow == 1)
        #expect(state.rooms[0].read == 0)
    }

    @Test("a mention in a room that is not visible counts and rings the bell")
    func mentionElsewhere() {
        var state = makeState(["general", "random"])
        #expect(receive(&state, .message(message("random", 1, "bob", "@Alice look"))) == [.bell])
        #expect(state.rooms[1].mentions == 1)
        #expect(receive(&state, .message(message("random", 2, "bob", "no mention here"))) == [])
        #expect(state.rooms[1].mentions == 1)
        #expect(receive(&state, .message(message("random", 2, "bob", "alice: duplicate"))) == [])
        #expect(state.rooms[1].mentions == 1)
        state.bell = false
        #expect(receive(&state, .message(message("random", 3, "bob", "alice: quiet"))) == [])
        #expect(state.rooms[1].mentions == 2)
    }

    @Test("a mention while scrolled up in the active room counts too")
    func mentionScrolled() {
        var state = makeState()
        state.scroll = 3
        #expect(receive(&state, .message(message("general", 1, "bob", "alice, see below"))) == [.bell])
        #expect(state.rooms[0].mentions == 1)
    }

    @Test("a mention in the visible room does not count as unseen")
    func mentionVisible() {
        var state = makeState()
        let effects = receive(&state, .message(message("general", 1, "bob", "alice: hi")))
        #expect(effects.contains(.markRead(room: "general", seq: 1)))
        #expect(state.rooms[0].mentions == 0)
    }

    @Test(
        ".disconnected with a retry shows reconnecting, without one offline",
        arguments: [
            (Duration.seconds(4), Int64(4_000)), (.milliseconds(1_500), 1_500), (.zero, 0),
        ]
    )
    func disconnected(_ retry: Duration, _ ms: Int64) {
        var state = makeState()
        #expect(receive(&state, .disconnected(reason: "connection refused", retryIn: retry)) == [])
        #expect(state.connection == .reconnecting(at: now + ms, reason: "connection refused"))
    }

    @Test(".disconnected without a retry goes offline, keeping the first reason")
    func offline() {
        var state = makeState()
        receive(&state, .disconnected(reason: "server closed", retryIn: nil))
        #expect(state.connection == .offline("server closed"))
        receive(&state, .disconnected(reason: "later", retryIn: nil))
        #expect(state.connection == .offline("server closed"))
    }

    @Test(".authenticationFailed: signed out opens the login form; another refusal goes offline")
    func authenticationFailed() {
        var state = makeState()
        receive(&state, .authenticationFailed(ProtocolError(.unauthorized, "token is not valid")))
        #expect(state.login?.error == "signed out — log in again (token is not valid)")
        #expect(state.login?.user.text == "alice")
        #expect(state.login?.focus == .password)
        #expect(state.connection == .connecting)
        state = makeState()
        receive(&state, .authenticationFailed(ProtocolError(.forbidden, "account disabled")))
        #expect(state.login == nil)
        #expect(state.connection == .offline("login failed: account disabled"))
    }

    @Test(".joined sets the topic and head; a reset drops the messages")
    func joined() {
        var state = makeState()
        state.rooms[0].messages = [message("general", 1, "bob")]
        #expect(
            receive(&state, .joined(room: "General", topic: "hi", head: 4, reset: false, limited: true))
                == [.countMembers("General")]
        )
        #expect(state.rooms[0].name == "General")
        #expect(state.rooms[0].topic == "hi")
        #expect(state.rooms[0].head == 4)
        #expect(state.rooms[0].hasOlder)
        #expect(state.rooms[0].messages.count == 1)
        receive(&state, .joined(room: "general", topic: "hi", head: 2, reset: true, limited: false))
        #expect(state.rooms[0].messages.isEmpty)
        #expect(state.rooms[0].head == 2)
        #expect(state.notice == "general: the server's history was reset; reloaded")
        receive(&state, .joined(room: "new", topic: "", head: 0, reset: false, limited: false))
        #expect(state.rooms.map(\.name) == ["general", "new"])
    }

    @Test(".event(.read) moves the read marker forward only and clears mentions when caught up")
    func read() {
        var state = makeState(["general", "random"])
        state.rooms[1].head = 10
        state.rooms[1].read = 4
        state.rooms[1].mentions = 2
        receive(&state, .event(.read(room: "random", seq: 8)))
        #expect(state.rooms[1].read == 8)
        #expect(state.rooms[1].mentions == 2)
        receive(&state, .event(.read(room: "random", seq: 6)))
        #expect(state.rooms[1].read == 8)
        receive(&state, .event(.read(room: "random", seq: 10)))
        #expect(state.rooms[1].read == 10)
        #expect(state.rooms[1].mentions == 0)
    }

    @Test(".event(.typing) shows the user typing for 6 s; .tick expires it")
    func typing() {
        var state = makeState()
        receive(&state, .event(.typing(room: "general", user: "bob")))
        #expect(state.rooms[0].typing["bob"] == now + 6_000)
        _ = update(&state, .tick(now + 5_999))
        #expect(state.now == now + 5_999)
        #expect(state.rooms[0].typing["bob"] == now + 6_000)
        _ = update(&state, .tick(now + 6_000))
        #expect(state.rooms[0].typing["bob"] == nil)
    }

    @Test(".event(.topic) sets the topic with a notice")
    func topic() {
        var state = makeState()
        receive(&state, .event(.topic(room: "general", topic: "New 🎉", by: "bob")))
        #expect(state.rooms[0].topic == "New 🎉")
        #expect(state.notice == "bob set the topic of general")
    }

    @Test(".event(.joined/.left) counts members")
    func members() {
        var state = makeState()
        state.rooms[0].members = 1
        receive(&state, .event(.joined(room: "general", user: "bob")))
        #expect(state.rooms[0].members == 2)
        receive(&state, .event(.left(room: "general", user: "bob")))
        receive(&state, .event(.left(room: "general", user: "carol")))
        receive(&state, .event(.left(room: "general", user: "dave")))
        #expect(state.rooms[0].members == 0)
    }

    @Test(".sendFailed removes the pending entry, says why and gives the text back in the input line")
    func sendFailed() {
        var state = makeState()
        submit(&state, "one")
        submit(&state, "two")
        receive(&state, .sendFailed(nonce: "t-1", ProtocolError(.forbidden, "not a member of general")))
        #expect(state.rooms[0].pending.map(\.nonce) == ["t-2"])
        #expect(state.notice == "not sent: not a member of general")
        #expect(state.input.text == "one")
    }

    @Test("the visible room is marked read once connected, and on a tick")
    func markReadWhenConnected() {
        var state = makeState()
        state.connection = .connecting
        #expect(receive(&state, .message(message("general", 1, "bob"))) == [])
        #expect(state.rooms[0].read == 0)
        #expect(receive(&state, .connected(user: "alice", token: nil)) == [.markRead(room: "general", seq: 1)])
        #expect(state.rooms[0].read == 1)
        state.connection = .reconnecting(at: now, reason: "x")
        receive(&state, .message(message("general", 2, "bob")))
        #expect(state.rooms[0].read == 1)
        state.connection = .connected
        #expect(update(&state, .tick(now + 1_000)) == [.markRead(room: "general", seq: 2)])
        #expect(update(&state, .tick(now + 2_000)) == [])
    }

    @Test(".lag and .memberCount are stored")
    func lagAndCount() {
        var state = makeState()
        #expect(update(&state, .lag(42)) == [])
        #expect(state.lagMs == 42)
        #expect(update(&state, .memberCount(room: "GENERAL", count: 7)) == [])
        #expect(state.rooms[0].members == 7)
        #expect(update(&state, .memberCount(room: "nowhere", count: 3)) == [])
    }

    @Test(".memberList shows the members as a notice")
    func memberList() {
        var state = makeState()
        _ = update(&state, .memberList(room: "general", members: [("bob", true), ("carol", false)]))
        #expect(state.notice == "general: 2 members: bob, carol (away)")
    }
}

// MARK: - Picker

@Suite("update: /rooms picker")
struct PickerTests {
    func picking(_ names: [String] = ["general", "random", "swift-dev"]) -> AppState {
        var state = makeState()
        _ = update(&state, .roomList(names))
        return state
    }

    @Test("Up and Down move within the list")
    func navigate() {
        var state = picking()
        #expect(state.picker?.items == ["general", "random", "swift-dev"])
        #expect(state.picker?.selected == 0)
        press(&state, .up)
        #expect(state.picker?.selected == 0)
        press(&state, .down, .down, .down)
        #expect(state.picker?.selected == 2)
        press(&state, .up)
        #expect(state.picker?.selected == 1)
    }

    @Test("Enter joins the selected room and closes the picker")
    func enterJoins() {
        var state = picking()
        press(&state, .down, .down)
        #expect(press(&state, .enter) == [.join("swift-dev")])
        #expect(state.picker == nil)
        #expect(state.activeRoom?.name == "swift-dev")
    }

    @Test("Enter on a room already joined switches to it")
    func enterSwitches() {
        var state = picking()
        press(&state, .ctrl("n"))  // ignored while the picker is open
        #expect(state.active == 0)
        #expect(press(&state, .enter) == [])
        #expect(state.rooms.count == 1)
        #expect(state.picker == nil)
    }

    @Test("Esc closes without joining; other keys do not edit the input")
    func escapeCloses() {
        var state = picking()
        press(&state, .character("x"))
        #expect(state.input.isEmpty)
        #expect(press(&state, .escape) == [])
        #expect(state.picker == nil)
        #expect(state.rooms.count == 1)
    }

    @Test("Enter on an empty list just closes it")
    func emptyList() {
        var state = picking([])
        press(&state, .down)
        #expect(state.picker?.selected == 0)
        #expect(press(&state, .enter) == [])
        #expect(state.picker == nil)
    }
}

// MARK: - Mentions

@Suite("mentions(_:user:)")
struct MentionTests {
    @Test(
        "whole words, case-insensitive",
        arguments: [
            ("alice", "alice", true),
            ("Alice: can you look?", "alice", true),
            ("hey ALICE!", "alice", true),
            ("@alice ping", "alice", true),
            ("thanks, alice.", "alice", true),
            ("alice's patch", "alice", true),
            ("(alice)", "alice", true),
            ("hi alice\nbye", "alice", true),
            ("STRASSE ist hier", "straße", true),
            ("ping al.ice", "al.ice", true),
            ("malice", "alice", false),
            ("alices", "alice", false),
            ("alice_bot says hi", "alice", false),
            ("alice-san", "alice", false),
            ("alice.bob", "alice", false),
            ("ali ce", "alice", false),
            ("", "alice", false),
        ]
    )
    func mention(_ text: String, _ user: String, _ expected: Bool) {
        #expect(mentions(text, user: user) == expected)
    }
}

// MARK: - Login form

@Suite("update: login form")
struct LoginTests {
    func form(user: String = "") -> AppState {
        var state = makeState([])
        state.connection = .connecting
        state.login = AppState.LoginForm(user: user)
        return state
    }

    @Test("the form starts on the user field, or on the password when the user is known")
    func focus() {
        #expect(form().login?.focus == .user)
        #expect(form(user: "alice").login?.focus == .password)
    }

    @Test("keys and pastes edit the focused field, never the chat input")
    func editing() {
        var state = form()
        press(&state, .character("b"), .character("o"), .character("b"), .backspace, .character("B"))
        #expect(state.login?.user.text == "boB")
        press(&state, .tab)
        #expect(state.login?.focus == .password)
        _ = update(&state, .paste("pass word\n 日本"))
        #expect(state.login?.password.text == "pass word 日本")
        press(&state, .ctrl("u"))
        #expect(state.login?.password.text == "")
        press(&state, .up)
        #expect(state.login?.focus == .user)
        #expect(state.input.isEmpty)
    }

    @Test("Enter on the user field moves to the password")
    func enterOnUser() {
        var state = form()
        press(&state, .character("x"))
        #expect(press(&state, .enter) == [])
        #expect(state.login?.focus == .password)
    }

    @Test("Enter validates the user name and the password length")
    func validation() {
        var state = form(user: "bad name")
        state.login?.password = InputLine("long enough")
        #expect(press(&state, .enter) == [])
        #expect(state.login?.error?.contains("user name") == true)
        #expect(state.login?.focus == .user)
        state.login?.user = InputLine("alice")
        state.login?.focus = .password
        state.login?.password = InputLine("short")
        #expect(press(&state, .enter) == [])
        #expect(state.login?.error == "the password must be 8 to 1024 bytes")
        press(&state, .character("!"))
        #expect(state.login?.error == nil)
    }

    @Test("a valid form authenticates, registers with Ctrl-R, and is busy until answered")
    func submitForm() {
        var state = form(user: " alice ")
        state.login?.password = InputLine("correct horse")
        press(&state, .ctrl("r"))
        #expect(press(&state, .enter) == [.authenticate(user: "alice", password: "correct horse", register: true)])
        #expect(state.login?.busy == true)
        #expect(state.user == "alice")
        #expect(press(&state, .character("x"), .enter) == [])
        #expect(state.login?.password.text == "correct horse")
    }

    @Test("a refused login clears the password and shows why; Esc quits")
    func refused() {
        var state = form(user: "alice")
        state.login?.password = InputLine("wrong password")
        press(&state, .enter)
        receive(&state, .authenticationFailed(ProtocolError(.unauthorized, "wrong user name or password")))
        #expect(state.login?.busy == false)
        #expect(state.login?.error == "wrong user name or password")
        #expect(state.login?.password.isEmpty == true)
        #expect(state.connection == .connecting)
        #expect(press(&state, .escape) == [.quit])
        #expect(state.quitting)
    }

    @Test("a connection that gives up while logging in shows an error; .connected closes the form")
    func connection() {
        var state = form(user: "alice")
        state.login?.password = InputLine("correct horse")
        press(&state, .enter)
        receive(&state, .disconnected(reason: "connection refused", retryIn: nil))
        #expect(state.login?.error == "cannot connect: connection refused")
        #expect(state.login?.busy == false)
        press(&state, .enter)
        receive(&state, .connected(user: "alice", token: "t"))
        #expect(state.login == nil)
        #expect(state.connection == .connected)
    }
}
