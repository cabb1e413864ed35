import ChatCore
import ChatTUI
import Testing

@Suite("Wording")
struct WordingTests {
    @Test(
        "counts and thousands separators",
        arguments: [
            (0, "0 results"), (1, "1 result"), (2, "2 results"), (1000, "1,000 results"),
            (1_234_567, "1,234,567 results"),
        ]
    )
    func count(_ n: Int, _ expected: String) {
        #expect(Wording.count(n, "result") == expected)
    }

    @Test("negative numbers and irregular plurals")
    func other() {
        #expect(Wording.grouped(-4100) == "-4,100")
        #expect(Wording.count(2, "reply", plural: "replies") == "2 replies")
    }
}

/// Counts on the screen: singular for one.
@Suite("counts in the views")
struct CountTests {
    private static let size = Size(width: 80, height: 24)

    /// Connected as alice in `general` with two messages.
    private static func state() -> AppState {
        var state = Screens.base()
        var general = AppState.Room(name: "general")
        general.messages = [
            ChatMessage(room: "general", seq: 1, from: "bob", text: "one", kind: .text, ts: state.now - 120_000),
            ChatMessage(room: "general", seq: 2, from: "carol", text: "two", kind: .text, ts: state.now - 60_000),
        ]
        general.head = 2
        general.read = 2
        state.rooms = [general]
        return state
    }

    @Test("counts are singular for one: 1 member, 2 members")
    func memberCounts() {
        var state = Self.state()
        _ = update(&state, .memberList(room: "general", members: [("bob", true)]))
        #expect(state.notice == "general: 1 member: bob")
    }

    @Test(
        "the search view counts its results: 1 result, 2 results, 50+ results",
        arguments: [
            (1, false, "1 result"), (2, false, "2 results"), (50, true, "50+ results"), (0, false, "0 results"),
        ]
    )
    func searchCount(_ count: Int, _ more: Bool, _ expected: String) {
        var state = Self.state()
        _ = update(&state, .paste("/search log"))
        _ = update(&state, .key(.enter))
        let results = (0..<count).map {
            SearchResult(
                room: "general",
                seq: Int64($0 + 1),
                from: "bob",
                text: "log \($0)",
                ts: state.now,
                snippet: SearchSnippet(text: "log \($0)", ranges: [0..<3])
            )
        }
        _ = update(&state, .searchResults(query: "log", results: results, more: more))
        let title = render(state, size: Self.size).text.split(separator: "\n").first { $0.contains("Search: log") }
        #expect(title?.contains(" · \(expected) · ") == true, "\(title ?? "no title")")
    }

    @Test("a gap of one message says \"1 message not loaded\"")
    func gapCount() {
        var state = Self.state()
        state.rooms[0].messages[1].seq = 3
        state.rooms[0].head = 3
        state.rooms[0].read = 3
        let text = render(state, size: Self.size).text
        #expect(text.contains("── 1 message not loaded "), "\(text)")
    }
}
