/// Terminal display width of text: how many columns a modern terminal (xterm, VTE, kitty, tmux) gives it.
///
/// The rules follow wcwidth as modern terminals apply it to grapheme clusters (Unicode 15.1 data):
///
/// - A cluster made only of zero-width scalars (combining marks, ZWJ, variation selectors, format
///   characters, default-ignorable code points, Hangul medial and final jamo) and controls is 0 columns.
/// - Otherwise the cluster takes the width of its first scalar that is not zero-width: 2 for East Asian
///   Wide or Fullwidth and for `Emoji_Presentation` scalars, 1 for everything else.
/// - A 1-column cluster is upgraded to 2 when it is shown as an emoji: a VS16 (U+FE0F) after an emoji
///   scalar (`❤️`, `1️⃣`, `🏳️‍🌈`), a skin tone modifier after a modifier base (`☝🏽`), or a ZWJ sequence
///   joining emoji (`👁‍🗨`). Text-presentation emoji without VS16 (`☺`, `©`, `❤`) stay 1 column.
package enum DisplayWidth {
    /// Columns one grapheme cluster occupies: 0, 1 or 2.
    package static func of(_ character: Character) -> Int {
        let scalars = character.unicodeScalars
        guard let first = scalars.first else { return 0 }
        if first.value < 0x7F, character.utf8.count == 1 {
            return first.value >= 0x20 ? 1 : 0
        }
        var base: Unicode.Scalar?
        var width = 0
        var previous: Unicode.Scalar?
        for scalar in scalars {
            defer { previous = scalar }
            guard let baseScalar = base else {
                width = Self.width(of: scalar)
                if width > 0 { base = scalar }
                continue
            }
            if width == 2 { break }
            if isEmojiUpgrade(scalar, previous: previous, base: baseScalar) { width = 2 }
        }
        return width
    }

    /// Columns a string occupies: the sum over its grapheme clusters.
    package static func of(_ string: some StringProtocol) -> Int {
        if string.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) { return string.utf8.count }
        var total = 0
        for character in string { total += of(character) }
        return total
    }

    /// The longest prefix of whole grapheme clusters that fits in `columns`, and its width.
    ///
    /// Zero-width clusters right at the cut stay with the prefix; a wide character that would
    /// straddle the limit is left out (`fit("日本", columns: 3)` is `("日", 2)`).
    package static func fit(_ string: String, columns: Int) -> (text: String, width: Int) {
        var width = 0
        var end = string.startIndex
        while end < string.endIndex {
            let w = of(string[end])
            if width + w > columns { break }
            width += w
            end = string.index(after: end)
        }
        return (String(string[..<end]), width)
    }

    /// `string` if it fits in `columns`, else the longest prefix that fits together with `ellipsis`.
    ///
    /// When not even the ellipsis fits, the prefix that fits is returned without it.
    package static func truncate(_ string: String, columns: Int, ellipsis: String = "…") -> String {
        if of(string) <= columns { return string }
        let ellipsisWidth = of(ellipsis)
        if ellipsisWidth > columns { return fit(string, columns: columns).text }
        return fit(string, columns: columns - ellipsisWidth).text + ellipsis
    }

    /// `string` truncated (with an ellipsis) or padded with spaces to exactly `columns` columns.
    package static func pad(_ string: String, to columns: Int) -> String {
        guard columns > 0 else { return "" }
        let text = truncate(string, columns: columns)
        let width = of(text)
        return width < columns ? text + String(repeating: " ", count: columns - width) : text
    }

    // MARK: - Scalars

    /// Columns of a single scalar on its own: 0, 1 or 2.
    static func width(of scalar: Unicode.Scalar) -> Int {
        let value = scalar.value
        if value < 0x7F { return value >= 0x20 ? 1 : 0 }
        if value < 0xA0 { return 0 }
        if value == 0xAD { return 1 }  // SOFT HYPHEN: format, but terminals draw it.
        if isZeroWidth(scalar) { return 0 }
        if isWide(value) || scalar.properties.isEmojiPresentation { return 2 }
        return 1
    }

    /// Whether a scalar after the base of a 1-column cluster makes the cluster an emoji.
    private static func isEmojiUpgrade(
        _ scalar: Unicode.Scalar,
        previous: Unicode.Scalar?,
        base: Unicode.Scalar
    ) -> Bool {
        if scalar.value == 0xFE0F { return previous?.properties.isEmoji ?? false }
        let properties = scalar.properties
        if properties.isEmojiModifier { return base.properties.isEmojiModifierBase }
        if previous?.value == 0x200D { return properties.isEmoji && base.properties.isEmoji }
        return false
    }

    private static func isZeroWidth(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x200B...0x200F, 0x2028...0x2029, 0x2060...0x2064, 0xFEFF:
            return true
        case 0x1160...0x11FF, 0xD7B0...0xD7FF:
            return true  // Hangul medial vowels and final consonants combine with the initial.
        default:
            break
        }
        let properties = scalar.properties
        switch properties.generalCategory {
        case .nonspacingMark, .enclosingMark, .format, .control, .lineSeparator, .paragraphSeparator:
            return true
        default:
            // Default ignorables are invisible, except the wide Hangul fillers (U+115F, U+3164).
            return properties.isDefaultIgnorableCodePoint && !isWide(scalar.value)
        }
    }

    private static func isWide(_ value: UInt32) -> Bool {
        if value < wideRanges[0].lowerBound { return false }
        var low = 0
        var high = wideRanges.count - 1
        while low <= high {
            let middle = (low + high) / 2
            let range = wideRanges[middle]
            if value < range.lowerBound {
                high = middle - 1
            } else if value > range.upperBound {
                low = middle + 1
            } else {
                return true
            }
        }
        return false
    }

    /// East Asian Wide and Fullwidth code points (EastAsianWidth.txt, Unicode 15.1), sorted, with the
    /// unassigned code points of the CJK and emoji blocks counted as wide so that newer characters come
    /// out right. Text-presentation emoji in the emoji blocks (🌡 U+1F321, 🏳 U+1F3F3, 🖥 U+1F5A5, ...) are
    /// Neutral and deliberately absent: they are 1 column unless followed by VS16.
    private static let wideRanges: [ClosedRange<UInt32>] = [
        0x1100...0x115F,  // Hangul Jamo initial consonants
        0x231A...0x231B,  // ⌚ ⌛
        0x2329...0x232A,  // 〈 〉
        0x23E9...0x23EC,  // ⏩ ⏪ ⏫ ⏬
        0x23F0...0x23F0,  // ⏰
        0x23F3...0x23F3,  // ⏳
        0x25FD...0x25FE,  // ◽ ◾
        0x2614...0x2615,  // ☔ ☕
        0x2648...0x2653,  // ♈ ... ♓
        0x267F...0x267F,  // ♿
        0x2693...0x2693,  // ⚓
        0x26A1...0x26A1,  // ⚡
        0x26AA...0x26AB,  // ⚪ ⚫
        0x26BD...0x26BE,  // ⚽ ⚾
        0x26C4...0x26C5,  // ⛄ ⛅
        0x26CE...0x26CE,  // ⛎
        0x26D4...0x26D4,  // ⛔
        0x26EA...0x26EA,  // ⛪
        0x26F2...0x26F3,  // ⛲ ⛳
        0x26F5...0x26F5,  // ⛵
        0x26FA...0x26FA,  // ⛺
        0x26FD...0x26FD,  // ⛽
        0x2705...0x2705,  // ✅
        0x270A...0x270B,  // ✊ ✋
        0x2728...0x2728,  // ✨
        0x274C...0x274C,  // ❌
        0x274E...0x274E,  // ❎
        0x2753...0x2755,  // ❓ ❔ ❕
        0x2757...0x2757,  // ❗
        0x2795...0x2797,  // ➕ ➖ ➗
        0x27B0...0x27B0,  // ➰
        0x27BF...0x27BF,  // ➿
        0x2B1B...0x2B1C,  // ⬛ ⬜
        0x2B50...0x2B50,  // ⭐
        0x2B55...0x2B55,  // ⭕
        0x2E80...0x303E,  // CJK radicals, Kangxi, ideographic description, CJK symbols and punctuation
        0x3041...0x3247,  // Hiragana, Katakana, Bopomofo, Hangul compatibility jamo, Kanbun, CJK strokes, ...
        0x3250...0x4DBF,  // ... enclosed CJK (U+3248–324F are ambiguous), CJK compatibility, extension A
        0x4E00...0xA4CF,  // CJK unified ideographs, Yi
        0xA960...0xA97F,  // Hangul Jamo extended-A
        0xAC00...0xD7A3,  // Hangul syllables
        0xF900...0xFAFF,  // CJK compatibility ideographs
        0xFE10...0xFE19,  // vertical forms
        0xFE30...0xFE6F,  // CJK compatibility forms, small form variants
        0xFF00...0xFF60,  // fullwidth forms
        0xFFE0...0xFFE6,  // fullwidth signs
        0x16FE0...0x16FE4,  // ideographic symbols and punctuation
        0x16FF0...0x16FF1,  // Vietnamese alternate reading marks
        0x17000...0x18CD5,  // Tangut, Tangut components, Khitan small script
        0x18D00...0x18D08,  // Tangut supplement
        0x1AFF0...0x1AFF3,  // Kana extended-B
        0x1AFF5...0x1AFFB,
        0x1AFFD...0x1AFFE,
        0x1B000...0x1B2FF,  // Kana supplement, Kana extended-A, small Kana extension, Nushu
        0x1F004...0x1F004,  // 🀄
        0x1F0CF...0x1F0CF,  // 🃏
        0x1F18E...0x1F18E,  // 🆎
        0x1F191...0x1F19A,  // 🆑 ... 🆚
        0x1F200...0x1F251,  // enclosed ideographic supplement
        0x1F260...0x1F265,  // rounded symbols for fu, lu, shou, xi, shuangxi, cai
        0x1F300...0x1F320,  // 🌀 ... 🌠
        0x1F32D...0x1F335,  // 🌭 ... 🌵
        0x1F337...0x1F37C,  // 🌷 ... 🍼
        0x1F37E...0x1F393,  // 🍾 ... 🎓
        0x1F3A0...0x1F3CA,  // 🎠 ... 🏊
        0x1F3CF...0x1F3D3,  // 🏏 ... 🏓
        0x1F3E0...0x1F3F0,  // 🏠 ... 🏰
        0x1F3F4...0x1F3F4,  // 🏴
        0x1F3F8...0x1F43E,  // 🏸 ... 🐾, including the skin tone modifiers
        0x1F440...0x1F440,  // 👀
        0x1F442...0x1F4FC,  // 👂 ... 📼
        0x1F4FF...0x1F53D,  // 📿 ... 🔽
        0x1F54B...0x1F54E,  // 🕋 ... 🕎
        0x1F550...0x1F567,  // 🕐 ... 🕧
        0x1F57A...0x1F57A,  // 🕺
        0x1F595...0x1F596,  // 🖕 🖖
        0x1F5A4...0x1F5A4,  // 🖤
        0x1F5FB...0x1F64F,  // 🗻 ... 🙏
        0x1F680...0x1F6C5,  // 🚀 ... 🛅
        0x1F6CC...0x1F6CC,  // 🛌
        0x1F6D0...0x1F6D2,  // 🛐 🛑 🛒
        0x1F6D5...0x1F6DF,  // 🛕 ... 🛟
        0x1F6EB...0x1F6EF,  // 🛫 🛬
        0x1F6F4...0x1F6FF,  // 🛴 ... 🛼
        0x1F7E0...0x1F7EB,  // 🟠 ... 🟫
        0x1F7F0...0x1F7F0,  // 🟰
        0x1F90C...0x1F93A,  // 🤌 ... 🤺
        0x1F93C...0x1F945,  // 🤼 ... 🥅
        0x1F947...0x1F9FF,  // 🥇 ... 🧿
        0x1FA70...0x1FAFF,  // symbols and pictographs extended-A
        0x20000...0x2FFFD,  // CJK unified ideographs extensions B–F, I, compatibility supplement
        0x30000...0x3FFFD,  // CJK unified ideographs extensions G, H
    ]
}
