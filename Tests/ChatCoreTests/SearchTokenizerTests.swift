import ChatCore
import Testing

@Suite("Search tokenizer")
struct SearchTokenizerTests {
    /// Token texts, colocated ones written as "+x".
    static func doc(_ text: String) -> [String] { SearchTokenizer.tokens(text, mode: .document).map(\.description) }
    static func query(_ text: String) -> [String] { SearchTokenizer.tokens(text, mode: .query).map(\.description) }

    static let documentTable: [(String, String, [String])] = [
        // Japanese: bigrams over the whole CJK run (kanji and kana), the last character again at the end.
        ("Japanese", "明日の会議", ["明日", "日の", "の会", "会議", "+議"]),
        ("Japanese katakana", "カタカナ", ["カタ", "タカ", "カナ", "+ナ"]),
        ("Japanese one character", "猫", ["猫"]),
        ("Japanese with spaces", "会議 明日", ["会議", "+議", "明日", "+日"]),
        ("Japanese punctuation splits runs", "はい。いいえ", ["はい", "+い", "いい", "いえ", "+え"]),
        ("prolonged sound mark", "コーヒー", ["コー", "ーヒ", "ヒー", "+ー"]),
        // Chinese.
        ("Chinese", "我们明天开会", ["我们", "们明", "明天", "天开", "开会", "+会"]),
        ("Chinese with English", "用Swift写代码", ["用", "swift", "写代", "代码", "+码"]),
        // Korean: Hangul syllables make bigrams too, so a word is found with its particle attached.
        ("Korean", "내일 회의를 합니다", ["내일", "+일", "회의", "의를", "+를", "합니", "니다", "+다"]),
        // Emoji: one token each; skin tones, variation selectors and ZWJ are not tokens.
        ("emoji", "party 🎉🎉 time", ["party", "🎉", "🎉", "time"]),
        ("emoji skin tone", "👍🏽ok", ["👍", "ok"]),
        ("emoji ZWJ family", "👨‍👩‍👧", ["👨", "👩", "👧"]),
        ("emoji variation selector", "❤️ love", ["❤", "love"]),
        ("emoji next to Japanese", "了解👍", ["了解", "+解", "👍"]),
        // Mixed scripts.
        ("mixed", "Swift言語でiOS開発", ["swift", "言語", "語で", "+で", "ios", "開発", "+発"]),
        ("mixed digits", "3月15日に release v2.0", ["3", "月", "15", "日に", "+に", "release", "v2", "0"]),
        ("Cyrillic and Greek", "Привет ΚΑΛΗΜΕΡΑ", ["привет", "καλημερα"]),
        // Full-width and half-width forms.
        ("full-width ASCII", "ＡＢＣ１２３", ["abc123"]),
        ("ideographic space", "Ｈｅｌｌｏ　Ｗｏｒｌｄ", ["hello", "world"]),
        ("half-width katakana", "ｶﾀｶﾅ", ["カタ", "タカ", "カナ", "+ナ"]),
        ("half-width voiced", "ﾊﾞｲｸ", ["バイ", "イク", "+ク"]),
        ("half-width voiced after a bigram", "ﾊﾝｶﾞ", ["ハン", "ンガ", "+ガ"]),
        ("half-width semi-voiced", "ﾊﾟﾝ", ["パン", "+ン"]),
        ("combining voiced mark", "か\u{3099}き", ["がき", "+き"]),
        // Case, punctuation, marks.
        ("case", "HELLO World", ["hello", "world"]),
        ("punctuation", "don't stop! e-mail", ["don", "t", "stop", "e", "mail"]),
        ("decomposed accents become NFC", "cafe\u{301} Café", ["café", "café"]),
        ("only punctuation", "!!! ... ???", []),
    ]

    @Test("document tokens", arguments: documentTable.indices)
    func documentTokens(_ i: Int) {
        let (name, text, expected) = Self.documentTable[i]
        #expect(Self.doc(text) == expected, "\(name)")
    }

    @Test("query tokens have no extra unigram at the end of a CJK run")
    func queryTokens() {
        #expect(Self.query("明日の会議") == ["明日", "日の", "の会", "会議"])
        #expect(Self.query("会議") == ["会議"])
        #expect(Self.query("会") == ["会"])
        #expect(Self.query("ｶﾀｶﾅ") == ["カタ", "タカ", "カナ"])
        #expect(Self.query("Ｍｅｅｔｉｎｇ") == ["meeting"])
    }

    @Test("width variants tokenize alike", arguments: [("ｶﾀｶﾅ", "カタカナ"), ("ＡＢＣ", "abc"), ("ﾊﾞｽ", "バス")])
    func widthVariants(_ pair: (String, String)) {
        #expect(Self.doc(pair.0) == Self.doc(pair.1))
    }

    @Test("positions: the end-of-run unigram shares the last bigram's position")
    func positions() {
        let tokens = SearchTokenizer.tokens("会議 meeting", mode: .document)
        #expect(tokens.map(\.position) == [0, 0, 1])
        #expect(tokens.map(\.colocated) == [false, true, false])
        let query = SearchTokenizer.tokens("会議 meeting", mode: .query)
        #expect(query.map(\.position) == [0, 1])
    }

    @Test("offsets point into the original text, in UTF-8 bytes and scalars")
    func offsets() {
        let tokens = SearchTokenizer.tokens("aé ｶﾞｸ", mode: .document)
        #expect(tokens.map(\.text) == ["aé", "ガク", "ク"])
        #expect(tokens.map(\.scalarRange) == [0..<2, 3..<6, 5..<6])
        #expect(tokens.map(\.utf8Range) == [0..<3, 4..<13, 10..<13])
    }

    @Test("very long words are cut to the maximum length")
    func longWord() {
        let word = String(repeating: "a", count: 100)
        let tokens = SearchTokenizer.tokens(word, mode: .document)
        #expect(tokens.count == 1)
        #expect(tokens.first?.text.count == SearchTokenizer.maxWordLength)
        #expect(tokens.first?.scalarRange == 0..<SearchTokenizer.maxWordLength)
    }

    @Test("the ASCII fast path gives exactly the general path's tokens (500 generated texts)")
    func asciiPathMatchesGeneralPath() {
        let alphabet = Array("aZ09 .,-_!?'\"\t\nQxyz" + String(repeating: "a", count: 10)).map(String.init)
        // A fixed pseudo-random walk over the alphabet (Knuth's multiplicative hash): deterministic.
        var state: UInt32 = 0x5EED
        func next() -> Int {
            state = state &* 2_654_435_761 &+ 1
            return Int(state >> 8)
        }
        for round in 0..<500 {
            let length = next() % 150
            var text = ""
            for _ in 0..<length { text += alphabet[next() % alphabet.count] }
            if round % 50 == 0 { text += String(repeating: "Long", count: 30) }
            for mode in [SearchTokenizer.Mode.document, .query] {
                var general: [SearchToken] = []
                SearchTokenizer.tokenizeScalars(text, mode: mode) { general.append($0) }
                #expect(SearchTokenizer.tokens(text, mode: mode) == general, "text: \(text.debugDescription)")
            }
        }
    }
}
