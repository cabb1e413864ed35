import ChatCore
import Testing

@Suite("Search query and snippets")
struct SearchQueryTests {
    static func parse(_ text: String) throws -> SearchQuery {
        switch SearchQuery.parse(text) {
        case .success(let q): return q
        case .failure(let error): throw error
        }
    }

    static func error(_ text: String) -> ProtocolError? {
        if case .failure(let error) = SearchQuery.parse(text) { return error }
        return nil
    }

    @Test("words, phrases, from: and in:")
    func fullQuery() throws {
        let q = try Self.parse(#"会議 "Next Week" from:Alice in:general"#)
        #expect(q.terms.map(\.tokens) == [["会議"], ["next", "week"]])
        #expect(q.terms.map(\.quoted) == [false, true])
        #expect(q.from?.key == "alice")
        #expect(q.room?.display == "general")
        #expect(q.matchExpression == #""会議" AND "next week""#)
    }

    @Test("a one-character CJK word is a prefix query")
    func oneCharacter() throws {
        #expect(try Self.parse("会").matchExpression == #""会"*"#)
        #expect(try Self.parse("3月").matchExpression == #""3 月"*"#)
        #expect(try Self.parse("会議").matchExpression == #""会議""#)
    }

    @Test("FTS5 syntax in a query is only text")
    func noInjection() throws {
        let q = try Self.parse("foo AND bar OR NEAR(x) col:y ^z")
        #expect(q.matchExpression == #""foo" AND "and" AND "bar" AND "or" AND "near x" AND "col y" AND "z""#)
    }

    @Test(
        "invalid queries are bad_request with a helpful message",
        arguments: [
            ("", "empty"),
            ("   ", "empty"),
            (#""unterminated phrase"#, "unterminated quote"),
            (#"say"hi""#, "quote inside a word"),
            (#""a""b""#, "space after the closing quote"),
            (#""  ""#, "empty phrase"),
            ("from:", "from: needs a user name"),
            ("in:", "in: needs a room name"),
            ("from:bad/name hello", "from:bad/name"),
            ("from:alice", "add a word"),
            ("from:a from:b hello", "only one from:"),
            ("in:a in:b hello", "only one in:"),
            ("!!! ???", "no words"),
            (Array(repeating: "w", count: 17).joined(separator: " "), "at most 16"),
        ]
    )
    func invalid(_ example: (String, String)) {
        let error = Self.error(example.0)
        #expect(error?.code == .badRequest, "\(example.0)")
        #expect(error?.message.contains(example.1) == true, "\(example.0): \(error?.message ?? "no error")")
        #expect(error?.message.lowercased().contains("sqlite") != true)
        #expect(error?.message.lowercased().contains("fts5") != true)
    }

    @Test("search request fields")
    func request() throws {
        let ok = SearchRequest.parse(["query": "会議", "room": "Dev", "limit": 1000, "before": 5, "order": "newest"])
        let r = try ok.get()
        #expect(r.room?.key == "dev")
        #expect(r.limit == SearchRequest.maxLimit)
        #expect(r.before == 5)
        #expect(r.order == .newest)
        #expect(try SearchRequest.parse(["query": "x"]).get().limit == SearchRequest.defaultLimit)
        let conflicting = SearchRequest.parse(["query": "x in:a", "room": "b"])
        #expect(throws: ProtocolError.self) { try conflicting.get() }
        #expect(throws: ProtocolError.self) { try SearchRequest.parse(["query": 1]).get() }
        #expect(throws: ProtocolError.self) { try SearchRequest.parse(["query": "x", "limit": 0]).get() }
        #expect(throws: ProtocolError.self) { try SearchRequest.parse(["query": "x", "order": "oldest"]).get() }
        #expect(throws: ProtocolError.self) { try SearchRequest.parse(["query": "x", "before": "1"]).get() }
    }

    static func ranges(_ text: String, _ query: String) throws -> [Range<Int>] {
        SearchSnippet.matchRanges(text: text, query: try parse(query))
    }

    @Test("match ranges are Unicode scalar offsets of every occurrence")
    func matchRanges() throws {
        #expect(try Self.ranges("明日の会議は10時から", "会議") == [3..<5])
        #expect(try Self.ranges("Hello hello HELLO", "hello") == [0..<5, 6..<11, 12..<17])
        #expect(try Self.ranges("see you next week, next time", #""next week""#) == [8..<17])
        #expect(try Self.ranges("大会です", "会") == [1..<2])
        #expect(try Self.ranges("ｶﾀｶﾅで書く", "カタカナ") == [0..<4])
        #expect(try Self.ranges("🎉 party 🎉", "🎉") == [0..<1, 8..<9])
        #expect(try Self.ranges("会議室の会議", "会議 会議室") == [0..<3, 4..<6])
        #expect(try Self.ranges("nothing here", "absent").isEmpty)
    }

    @Test("a long message gives a window around the first match, with ellipses")
    func window() throws {
        let text = String(repeating: "x ", count: 200) + "needle " + String(repeating: "y ", count: 200)
        let snippet = SearchSnippet.make(text: text, query: try Self.parse("needle"), maxLength: 40)
        let scalars = Array(snippet.text.unicodeScalars)
        #expect(scalars.first == "…")
        #expect(scalars.last == "…")
        #expect(scalars.count == 42)
        #expect(snippet.ranges.count == 1)
        if let r = snippet.ranges.first {
            #expect(String(String.UnicodeScalarView(scalars[r])) == "needle")
        }
    }

    @Test("snippets replace newlines and survive a JSON round trip")
    func snippetJSON() throws {
        let snippet = SearchSnippet.make(text: "line one\nmeeting", query: try Self.parse("meeting"))
        #expect(snippet.text == "line one meeting")
        #expect(snippet.ranges == [9..<16])
        #expect(SearchSnippet(json: snippet.json) == snippet)
    }

    @Test("snippet ranges cost a bounded number of token comparisons, whatever the text and phrase")
    func matchRangesAreBounded() throws {
        // 2,000 positions of "a" and a phrase of 200 × "a" then "b": every position matches
        // 200 tokens before failing, 360,000 comparisons without a bound.
        let text = String(repeating: "a ", count: 2000)
        let phrase = "\"" + String(repeating: "a ", count: 200) + "b\""
        var comparisons = 0
        let ranges = SearchSnippet.matchRanges(text: text, query: try Self.parse(phrase), comparisons: &comparisons)
        #expect(ranges.isEmpty)
        #expect(comparisons <= 20_000, "\(comparisons) token comparisons for one snippet")
        // An ordinary text is matched in full.
        var few = 0
        let normal = SearchSnippet.matchRanges(
            text: "see you next week, next time",
            query: try Self.parse(#""next week""#),
            comparisons: &few
        )
        #expect(normal == [8..<17])
        #expect(few < 20)
    }
}
