import ChatCore
import ChatTUI
import Testing

@Suite("Search view")
struct SearchViewTests {
    /// Sun 29 Nov 2026 09:00 UTC, in ms.
    static let t0: Int64 = 1_795_942_800_000

    static func state() -> AppState {
        var state = AppState(user: "alice", server: "chat.example.org")
        state.connection = .connected
        state.now = t0 + 3_600_000
        state.color = true
        var lobby = AppState.Room(name: "lobby")
        var dev = AppState.Room(name: "dev")
        for seq in Int64(90)...100 {
            dev.messages.append(
                ChatMessage(room: "dev", seq: seq, from: "bob", text: "dev message \(seq)", kind: .text, ts: t0 + seq)
            )
        }
        dev.head = 100
        dev.read = 100
        lobby.head = 0
        state.rooms = [lobby, dev]
        return state
    }

    static func result(_ room: String, _ seq: Int64, _ text: String, ranges: [Range<Int>]) -> SearchResult {
        SearchResult(
            room: room,
            seq: seq,
            from: "bob",
            text: text,
            ts: t0 + seq * 60_000,
            snippet: SearchSnippet(text: text, ranges: ranges)
        )
    }

    static func type(_ state: inout AppState, _ text: String) -> [AppEffect] {
        var effects: [AppEffect] = []
        for c in text { effects += update(&state, .key(.character(c))) }
        return effects + update(&state, .key(.enter))
    }

    @Test("/search opens the view and asks the server")
    func startSearch() {
        var state = Self.state()
        let effects = Self.type(&state, "/search 会議 from:bob")
        #expect(effects.contains(.search("会議 from:bob")))
        #expect(state.search?.query == "会議 from:bob")
        #expect(state.search?.loading == true)
        var empty = Self.state()
        _ = Self.type(&empty, "/search")
        #expect(empty.search == nil)
        #expect(empty.notice?.contains("usage: /search") == true)
    }

    @Test("Enter on a result switches to its room, focuses the message and loads the history around it")
    func jump() {
        var state = Self.state()
        _ = Self.type(&state, "/search deploy")
        let results = [
            Self.result("dev", 95, "dev message 95", ranges: [0..<3]),
            Self.result("dev", 12, "deploy went fine", ranges: [0..<6]),
        ]
        _ = update(&state, .searchResults(query: "deploy", results: results, more: false))
        #expect(state.search?.results.count == 2)
        _ = update(&state, .key(.down))
        #expect(state.search?.selected == 1)
        let effects = update(&state, .key(.enter))
        #expect(state.search == nil)
        #expect(state.activeRoom?.name == "dev")
        #expect(state.activeRoom?.focus == 12)
        #expect(effects.contains(.loadAround(room: "dev", seq: 12)))
        let around = (2...22).map {
            ChatMessage(
                room: "dev",
                seq: Int64($0),
                from: "bob",
                text: "old \($0)",
                kind: .text,
                ts: Self.t0 + Int64($0)
            )
        }
        _ = update(&state, .historyAround(room: "dev", messages: around))
        #expect(state.activeRoom?.messages.first?.seq == 2)
        #expect(state.activeRoom?.messages.contains { $0.seq == 12 } == true)
        #expect(state.activeRoom?.hasOlder == true)
        // A loaded message needs no history; PgUp ends the focus.
        var again = Self.state()
        _ = Self.type(&again, "/search dev")
        _ = update(&again, .searchResults(query: "dev", results: [results[0]], more: false))
        let quiet = update(&again, .key(.enter))
        #expect(!quiet.contains { if case .loadAround = $0 { return true } else { return false } })
        #expect(again.activeRoom?.focus == 95)
        _ = update(&again, .key(.pageUp))
        #expect(again.activeRoom?.focus == nil)
    }

    @Test("a refused query shows the server's message; Esc closes; stale answers are ignored")
    func failures() {
        var state = Self.state()
        _ = Self.type(&state, "/search \"oops")
        _ = update(&state, .searchResults(query: "other", results: [], more: false))
        #expect(state.search?.loading == true)
        _ = update(&state, .searchFailed(query: "\"oops", message: "unterminated quote"))
        #expect(state.search?.error == "unterminated quote")
        _ = update(&state, .key(.escape))
        #expect(state.search == nil)
    }

    static func resultsScreen() -> AppState {
        var state = Self.state()
        state.active = 1
        _ = Self.type(&state, "/search 会議")
        _ = update(
            &state,
            .searchResults(
                query: "会議",
                results: [
                    Self.result("dev", 42, "明日の会議は10時からです", ranges: [3..<5]),
                    Self.result("lobby", 7, "会議室を予約しました 🎉", ranges: [0..<2]),
                    Self.result(
                        "dev",
                        3,
                        "Long line about the 会議 that goes on and on past the edge",
                        ranges: [20..<22]
                    ),
                ],
                more: true
            )
        )
        return state
    }

    @Test("golden: the results view", arguments: [Size(width: 80, height: 24)])
    func goldenResults(_ size: Size) {
        assertScreen(render(Self.resultsScreen(), size: size), named: "search-results-\(size.width)x\(size.height)")
    }

    @Test("golden: an opened result is highlighted and centred, with the gap to newer messages marked")
    func goldenFocus() {
        var state = Self.state()
        _ = Self.type(&state, "/search deploy")
        _ = update(
            &state,
            .searchResults(query: "deploy", results: [Self.result("dev", 12, "x", ranges: [])], more: false)
        )
        _ = update(&state, .key(.enter))
        let around = (2...22).map {
            ChatMessage(
                room: "dev",
                seq: Int64($0),
                from: "bob",
                text: "old \($0)",
                kind: .text,
                ts: Self.t0 + Int64($0)
            )
        }
        _ = update(&state, .historyAround(room: "dev", messages: around))
        assertScreen(render(state, size: Size(width: 80, height: 24)), named: "search-focus-80x24")
    }

    @Test("escape sequences from the server never reach the screen")
    func sanitized() {
        var state = Self.state()
        _ = Self.type(&state, "/search red")
        let evil = "\u{1B}[31mred\u{07}\u{1B}]0;title\u{07}"
        _ = update(
            &state,
            .searchResults(
                query: "red",
                results: [Self.result("dev\u{1B}[2J", 1, evil, ranges: [5..<8])],
                more: false
            )
        )
        let screen = render(state, size: Size(width: 80, height: 24))
        #expect(!screen.text.unicodeScalars.contains { $0.value < 0x20 && $0 != "\n" })
        #expect(screen.text.contains("red"))
    }
}
