import ChatTUI
import Testing

// MARK: - Tables

/// Strings and the columns a modern terminal gives them.
private let widths: [(String, Int)] = [
    ("", 0),
    ("a", 1),
    (" ", 1),
    ("hello", 5),
    ("Hello, world!", 13),
    ("Ω≈ç√", 4),
    ("Привет", 6),
    ("שלום", 4),
    ("مرحبا", 5),
    ("日本語", 6),
    ("ｶﾀｶﾅ", 4),  // halfwidth katakana
    ("カタカナ", 8),
    ("한국어", 6),
    ("\u{1100}\u{1161}\u{11A8}", 2),  // 각 as conjoining jamo
    ("か\u{3099}", 2),  // が decomposed
    ("\u{3000}", 2),  // ideographic space
    ("。、", 4),
    ("Ａ", 2),  // fullwidth A
    ("￥", 2),  // fullwidth yen sign
    ("𠀋", 2),  // plane 2
    ("\u{E9}", 1),  // é precomposed
    ("e\u{301}", 1),  // é decomposed
    ("a\u{0301}", 1),
    ("a\u{0301}\u{0302}\u{0303}", 1),
    ("\u{0301}", 0),  // a lone combining mark
    ("\u{200B}", 0),  // zero-width space
    ("\u{200D}", 0),  // zero-width joiner
    ("\u{FE0F}", 0),
    ("\u{FEFF}", 0),
    ("\u{2060}", 0),
    ("\u{2028}", 0),
    ("\u{E0100}", 0),  // variation selector 17
    ("a\u{200B}b", 2),
    ("\u{AD}", 1),  // soft hyphen is drawn
    ("\u{FFFD}", 1),
    ("…", 1),
    ("👍", 2),
    ("👍🏽", 2),
    ("👨‍👩‍👧‍👦", 2),
    ("👩🏽‍💻", 2),
    ("🧑‍🤝‍🧑", 2),
    ("🏳️‍🌈", 2),
    ("🏴󠁧󠁢󠁳󠁣󠁴󠁿", 2),  // tag sequence
    ("🇯🇵", 2),
    ("🇯🇵🇺🇸", 4),
    ("❤️", 2),
    ("❤", 1),
    ("1️⃣", 2),
    ("#️⃣", 2),
    ("☺", 1),
    ("☺️", 2),
    ("©", 1),
    ("©️", 2),
    ("☝🏽", 2),  // text-default modifier base with a skin tone
    ("x\u{FE0F}", 1),  // VS16 after a non-emoji does nothing
    ("⌚", 2),
    ("🫠", 2),
    ("🫨", 2),  // Unicode 15
    ("🌡", 1),  // text-presentation emoji in the emoji block
    ("🌡️", 2),
    ("Hi 日本 👋", 10),
    ("ok ✅ 完了", 10),
]

/// (string, columns, prefix that fits, its width)
private let fits: [(String, Int, String, Int)] = [
    ("日本", 3, "日", 2),
    ("日本", 4, "日本", 4),
    ("日本", 1, "", 0),
    ("hello", 3, "hel", 3),
    ("hello", 10, "hello", 5),
    ("hello", 0, "", 0),
    ("hello", -1, "", 0),
    ("", 5, "", 0),
    ("a👍b", 2, "a", 1),
    ("a👍b", 3, "a👍", 3),
    ("👨‍👩‍👧‍👦x", 1, "", 0),
    ("👨‍👩‍👧‍👦x", 2, "👨‍👩‍👧‍👦", 2),
    ("e\u{301}x", 1, "e\u{301}", 1),
    ("ab\u{200B}c", 2, "ab\u{200B}", 2),
    ("ｶﾀｶﾅ", 3, "ｶﾀｶ", 3),
]

/// (string, columns, ellipsis, truncated)
private let truncations: [(String, Int, String, String)] = [
    ("hello", 5, "…", "hello"),
    ("hello", 9, "…", "hello"),
    ("hello world", 8, "…", "hello w…"),
    ("日本語", 6, "…", "日本語"),
    ("日本語", 5, "…", "日本…"),
    ("日本語", 4, "…", "日…"),
    ("日本語", 2, "…", "…"),
    ("hello", 1, "…", "…"),
    ("hello", 0, "…", ""),
    ("🇯🇵🇺🇸", 3, "…", "🇯🇵…"),
    ("👨‍👩‍👧‍👦👨‍👩‍👧‍👦", 3, "…", "👨‍👩‍👧‍👦…"),
    ("hello world", 8, "...", "hello..."),
    ("hello", 2, "...", "he"),
]

/// (string, columns, padded)
private let pads: [(String, Int, String)] = [
    ("ab", 4, "ab  "),
    ("abc", 3, "abc"),
    ("", 3, "   "),
    ("日本", 5, "日本 "),
    ("日本語", 5, "日本…"),
    ("日本語", 4, "日… "),
    ("hello", 0, ""),
    ("hello", -2, ""),
    ("👍", 1, "…"),
    ("e\u{301}", 2, "e\u{301} "),
]

/// (text, width, lines)
private let wraps: [(String, Int, [String])] = [
    ("", 10, [""]),
    ("hello world", 20, ["hello world"]),
    ("hello world", 11, ["hello world"]),
    ("hello world", 5, ["hello", "world"]),
    ("hello world", 6, ["hello", "world"]),
    ("the quick brown fox", 10, ["the quick", "brown fox"]),
    ("hello   world", 5, ["hello", "world"]),
    ("ab cd", 2, ["ab", "cd"]),
    ("supercalifragilistic", 5, ["super", "calif", "ragil", "istic"]),
    ("a supercalifragilistic b", 8, ["a", "supercal", "ifragili", "stic b"]),
    ("hello world", 0, ["h", "e", "l", "l", "o", "w", "o", "r", "l", "d"]),
    ("日本語のテキストです", 5, ["日本", "語の", "テキ", "スト", "です"]),
    ("日本語のテキストです", 6, ["日本語", "のテキ", "ストで", "す"]),
    ("Hi 日本語テキスト", 6, ["Hi", "日本語", "テキス", "ト"]),
    ("日本", 1, ["日", "本"]),
    ("a日b", 1, ["a", "日", "b"]),
    ("👨‍👩‍👧‍👦👨‍👩‍👧‍👦👨‍👩‍👧‍👦", 5, ["👨‍👩‍👧‍👦👨‍👩‍👧‍👦", "👨‍👩‍👧‍👦"]),
    ("🇯🇵🇺🇸🇫🇷", 3, ["🇯🇵", "🇺🇸", "🇫🇷"]),
    ("e\u{301}e\u{301}e\u{301}", 2, ["e\u{301}e\u{301}", "e\u{301}"]),
    ("line1\nline2", 20, ["line1", "line2"]),
    ("a\n\nb", 5, ["a", "", "b"]),
    ("a\n", 5, ["a", ""]),
    ("\n", 5, ["", ""]),
    ("a\r\nb", 5, ["a", "b"]),
    ("long line here\nshort", 9, ["long line", "here", "short"]),
    ("\tx", 10, ["    x"]),
    ("a\tb", 10, ["a    b"]),
    ("a\tb", 3, ["a", "b"]),
    ("  indented text", 20, ["  indented text"]),
    ("      x", 4, ["x"]),
    ("      ", 4, [""]),
]

/// Texts wrapped at several widths to check the invariants.
private let wrapTexts: [String] = [
    "The quick brown fox jumps over the lazy dog",
    "日本語のテキストには空白がありませんので、どこでも改行できます。",
    "한국어 텍스트는 띄어쓰기가 있습니다",
    "👨‍👩‍👧‍👦👍🏽🇯🇵❤️1️⃣🏳️‍🌈☺️👩🏽‍💻🧑‍🤝‍🧑",
    "Mixed 日本語 and English with emoji 👋🏽 and e\u{301}\u{302} marks",
    "averyveryverylongwordwithoutanyspacesatall and more",
    "ｶﾀｶﾅとカタカナ",
]

/// (raw, sanitized)
private let sanitizations: [(String, String)] = [
    ("\u{1B}[31mred\u{1B}[0m", "\u{FFFD}[31mred\u{FFFD}[0m"),
    ("bell\u{07}", "bell\u{FFFD}"),
    ("\u{9B}31m", "\u{FFFD}31m"),
    ("abc\u{202E}def", "abc\u{FFFD}def"),
    ("\u{2066}x\u{2069}", "\u{FFFD}x\u{FFFD}"),
    ("\u{0}\u{7F}\u{85}", "\u{FFFD}\u{FFFD}\u{FFFD}"),
    ("a\r\nb", "a\u{FFFD}\nb"),
    ("a\nb\tc", "a\nb\tc"),
    ("日本語のテキスト", "日本語のテキスト"),
    ("👨‍👩‍👧‍👦 \u{200E}\u{200B}", "👨‍👩‍👧‍👦 \u{200E}\u{200B}"),
    ("", ""),
]

// MARK: - Helpers

private func isSingleCharacter(_ line: String) -> Bool { line.count == 1 }

// MARK: - Tests

@Suite("DisplayWidth")
struct DisplayWidthTests {
    @Test("width of a string", arguments: widths)
    func width(text: String, expected: Int) {
        #expect(DisplayWidth.of(text) == expected)
        #expect(DisplayWidth.of(text[...]) == expected)
        if text.count == 1, let character = text.first {
            #expect(DisplayWidth.of(character) == expected)
        }
    }

    @Test("width of a string is the sum over its characters", arguments: widths)
    func sum(text: String, expected: Int) {
        #expect(text.reduce(0) { $0 + DisplayWidth.of($1) } == expected)
    }

    @Test("every scalar on its own is 0, 1 or 2 columns")
    func scalarRange() {
        var outside: [UInt32] = []
        for value: UInt32 in 0...0x10FFFF {
            guard let scalar = Unicode.Scalar(value) else { continue }
            if !(0...2).contains(DisplayWidth.of(Character(scalar))) { outside.append(value) }
        }
        #expect(outside.isEmpty)
    }

    @Test("fit keeps whole characters", arguments: fits)
    func fit(text: String, columns: Int, prefix: String, width: Int) {
        let fitted = DisplayWidth.fit(text, columns: columns)
        #expect(fitted.text == prefix)
        #expect(fitted.width == width)
        #expect(DisplayWidth.of(fitted.text) == fitted.width)
    }

    @Test("truncate adds the ellipsis only when it cuts", arguments: truncations)
    func truncate(text: String, columns: Int, ellipsis: String, expected: String) {
        let truncated = DisplayWidth.truncate(text, columns: columns, ellipsis: ellipsis)
        #expect(truncated == expected)
        #expect(DisplayWidth.of(truncated) <= max(0, columns))
    }

    @Test("pad gives exactly the columns asked for", arguments: pads)
    func pad(text: String, columns: Int, expected: String) {
        #expect(DisplayWidth.pad(text, to: columns) == expected)
    }

    @Test("pad is exact for every table string", arguments: 0...8)
    func padExact(columns: Int) {
        for (text, _) in widths {
            #expect(DisplayWidth.of(DisplayWidth.pad(text, to: columns)) == columns, "\(text)")
        }
    }
}

@Suite("TextWrap")
struct TextWrapTests {
    @Test("wrap", arguments: wraps)
    func wrap(text: String, width: Int, expected: [String]) {
        #expect(TextWrap.wrap(text, width: width) == expected)
    }

    @Test("wrapped lines fit, and never split a character", arguments: wrapTexts)
    func invariants(text: String) {
        for width in 1...30 {
            let lines = TextWrap.wrap(text, width: width)
            for line in lines {
                #expect(
                    DisplayWidth.of(line) <= width || isSingleCharacter(line),
                    "width \(width): \(line)"
                )
            }
            // Only spaces are dropped: the characters that remain are the original ones, in order.
            #expect(lines.flatMap { Array($0) }.filter { $0 != " " } == Array(text).filter { $0 != " " })
            if !text.contains(" ") {
                #expect(lines.joined() == text, "width \(width)")
            }
        }
    }

    @Test("Japanese without spaces at width 5")
    func japanese() {
        let text = "吾輩は猫である。名前はまだ無い。どこで生れたかとんと見当がつかぬ。"
        let lines = TextWrap.wrap(text, width: 5)
        #expect(lines.count > 1)
        for line in lines { #expect(DisplayWidth.of(line) <= 5) }
        #expect(lines.joined() == text)
    }

    @Test("emoji sequences are never split")
    func emoji() {
        let text = String(repeating: "👨‍👩‍👧‍👦🏳️‍🌈🇯🇵👍🏽1️⃣", count: 3)
        for width in 1...7 {
            let lines = TextWrap.wrap(text, width: width)
            #expect(lines.flatMap { Array($0) } == Array(text))
            for line in lines { #expect(DisplayWidth.of(line) <= max(2, width)) }
        }
    }

    @Test("sanitize", arguments: sanitizations)
    func sanitize(raw: String, expected: String) {
        #expect(TextWrap.sanitize(raw) == expected)
    }

    @Test("sanitize leaves no control or bidi override scalar")
    func sanitizeAll() {
        var all = String.UnicodeScalarView()
        for value: UInt32 in 0...0x2100 {
            if let scalar = Unicode.Scalar(value) { all.append(scalar) }
        }
        let clean = TextWrap.sanitize(String(all))
        for scalar in clean.unicodeScalars {
            switch scalar.value {
            case 0x09, 0x0A: continue
            case 0x00...0x1F, 0x7F...0x9F, 0x202A...0x202E, 0x2066...0x2069:
                Issue.record("U+\(String(scalar.value, radix: 16)) survived")
            default: continue
            }
        }
        #expect(clean.unicodeScalars.count == all.count)
    }
}
