import ChatCore
import ChatTUI
import Testing

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

let family = "👨‍👩‍👧‍👦"
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
