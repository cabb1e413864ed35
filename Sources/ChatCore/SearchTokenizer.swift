import Foundation

/// One token of a text as the search index sees it.
package struct SearchToken: Sendable, Equatable, CustomStringConvertible {
    /// The folded token text (lower case, ASCII and katakana width folded).
    package var text: String
    /// The token position; a colocated token shares the position of the one before it.
    package var position: Int
    /// Whether the token is an extra token at the previous token's position.
    package var colocated: Bool
    /// Where the token is in the original text, in UTF-8 bytes.
    package var utf8Range: Range<Int>
    /// Where the token is in the original text, in Unicode scalars.
    package var scalarRange: Range<Int>

    package var description: String { colocated ? "+\(text)" : text }
}

/// The search tokenizer: Unicode word tokens for scripts that separate words with
/// spaces, overlapping character bigrams for Chinese, Japanese and Korean, and one
/// token per emoji.
///
/// Folding, applied to every scalar before it is classified:
/// - full-width ASCII (U+FF01…U+FF5E) becomes ASCII and U+3000 a space (`Ａ` = `A`);
/// - half-width katakana becomes full-width, and a following half-width or
///   combining (semi-)voiced sound mark is composed (`ｶﾞ` = `ガ`, `ﾊﾟ` = `パ`);
/// - letters are lower-cased (Unicode lower-case mapping), and a word with
///   combining marks is put in NFC.
///
/// Runs of CJK characters (Han, kana, Hangul) become overlapping bigrams: `会議室`
/// gives `会議`, `議室`. In a document, the last character of a run of two or more
/// is also emitted as a unigram at the position of the last bigram, and a run of
/// one character is a unigram, so a one-character query (a prefix query on that
/// character) finds every occurrence of the character. In a query, no extra
/// unigram is emitted, so phrase positions line up with the document's.
package enum SearchTokenizer {
    /// Bump when the tokens produced for some text change: stored indexes are rebuilt.
    package static let version = 1
    /// Word tokens longer than this (in scalars) are cut to this length.
    package static let maxWordLength = 64

    /// What the text is tokenized for.
    package enum Mode: Sendable {
        case document
        case query
    }

    /// Tokenizes a text.
    ///
    /// - Parameters:
    ///   - text: the text.
    ///   - mode: document (indexing, snippets) or query.
    package static func tokens(_ text: String, mode: Mode) -> [SearchToken] {
        var result: [SearchToken] = []
        tokenize(text, mode: mode) { result.append($0) }
        return result
    }

    /// Tokenizes a text, calling `emit` for each token in order.
    ///
    /// - Parameters:
    ///   - text: the text.
    ///   - mode: document (indexing, snippets) or query.
    ///   - emit: receives each token.
    package static func tokenize(_ text: String, mode: Mode, emit: (SearchToken) -> Void) {
        if tokenizeASCII(text, emit: emit) { return }
        tokenizeScalars(text, mode: mode, emit: emit)
    }

    /// The general path, scalar by scalar (tests compare the ASCII path with it).
    package static func tokenizeScalars(_ text: String, mode: Mode, emit: (SearchToken) -> Void) {
        var state = TokenizerState(mode: mode)
        var utf8Offset = 0
        var scalarOffset = 0
        for scalar in text.unicodeScalars {
            let width = UTF8.width(scalar)
            let here = Place(utf8: utf8Offset, scalar: scalarOffset)
            utf8Offset += width
            scalarOffset += 1
            let end = Place(utf8: utf8Offset, scalar: scalarOffset)
            // Voiced sound marks after a kana compose with it.
            if let mark = voicedMark(scalar), let last = state.lastKana,
                let composed = composeKana(last, mark: mark)
            {
                state.replaceLastKana(with: composed, end: end)
                continue
            }
            let folded = fold(scalar)
            switch classify(folded) {
            case .cjk:
                state.flushWord(emit)
                state.cjk(folded, start: here, end: end, emit)
            case .emoji:
                state.flushWord(emit)
                state.flushCJK(emit)
                state.single(String(folded), start: here, end: end, emit)
            case .word:
                state.flushCJK(emit)
                state.word(folded, isMark: false, start: here, end: end)
            case .mark:
                if state.inWord {
                    state.word(folded, isMark: true, start: here, end: end)
                } else {
                    state.flushCJK(emit)
                }
            case .ignored:
                break
            case .separator:
                state.flushWord(emit)
                state.flushCJK(emit)
            }
        }
        state.flushWord(emit)
        state.flushCJK(emit)
    }

    /// All-ASCII text, byte by byte: letters and digits make words (lower-cased, cut to
    /// `maxWordLength`), everything else separates. The same tokens as the general path
    /// (ASCII has no CJK, emoji, marks or ignored characters), without Unicode lookups.
    /// Returns false, having emitted nothing, when the text is not all ASCII.
    private static func tokenizeASCII(_ text: String, emit: (SearchToken) -> Void) -> Bool {
        var text = text
        return text.withUTF8 { bytes -> Bool in
            guard bytes.allSatisfy({ $0 < 0x80 }) else { return false }
            var position = 0
            var start = -1
            func flush(_ end: Int) {
                guard start >= 0 else { return }
                let cut = min(end, start + maxWordLength)
                let word = String(
                    decoding: bytes[start..<cut].lazy.map { $0 >= 0x41 && $0 <= 0x5A ? $0 | 0x20 : $0 },
                    as: UTF8.self
                )
                emit(
                    SearchToken(
                        text: word,
                        position: position,
                        colocated: false,
                        utf8Range: start..<cut,
                        scalarRange: start..<cut
                    )
                )
                position += 1
                start = -1
            }
            for (i, byte) in bytes.enumerated() {
                let isWord =
                    (byte >= 0x61 && byte <= 0x7A) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x30 && byte <= 0x39)
                if isWord {
                    if start < 0 { start = i }
                } else {
                    flush(i)
                }
            }
            flush(bytes.count)
            return true
        }
    }

    // MARK: Folding

    /// Width and case folding of one scalar.
    ///
    /// - Parameters:
    ///   - scalar: the scalar.
    package static func fold(_ scalar: Unicode.Scalar) -> Unicode.Scalar {
        let v = scalar.value
        if v < 0x80 {
            if v >= 0x41, v <= 0x5A { return Unicode.Scalar(v + 0x20)! }
            return scalar
        }
        if v >= 0xFF01, v <= 0xFF5E { return fold(Unicode.Scalar(v - 0xFEE0)!) }
        if v == 0x3000 { return " " }
        if v >= 0xFF61, v <= 0xFF9F { return Unicode.Scalar(halfwidthKatakana[Int(v - 0xFF61)])! }
        if scalar.properties.changesWhenLowercased {
            let lower = scalar.properties.lowercaseMapping.unicodeScalars
            if lower.count == 1, let first = lower.first { return first }
        }
        return scalar
    }

    /// U+FF61…U+FF9F mapped to their full-width forms.
    private static let halfwidthKatakana: [UInt32] = [
        0x3002, 0x300C, 0x300D, 0x3001, 0x30FB, 0x30F2, 0x30A1, 0x30A3, 0x30A5, 0x30A7, 0x30A9, 0x30E3, 0x30E5,
        0x30E7, 0x30C3, 0x30FC, 0x30A2, 0x30A4, 0x30A6, 0x30A8, 0x30AA, 0x30AB, 0x30AD, 0x30AF, 0x30B1, 0x30B3,
        0x30B5, 0x30B7, 0x30B9, 0x30BB, 0x30BD, 0x30BF, 0x30C1, 0x30C4, 0x30C6, 0x30C8, 0x30CA, 0x30CB, 0x30CC,
        0x30CD, 0x30CE, 0x30CF, 0x30D2, 0x30D5, 0x30D8, 0x30DB, 0x30DE, 0x30DF, 0x30E0, 0x30E1, 0x30E2, 0x30E4,
        0x30E6, 0x30E8, 0x30E9, 0x30EA, 0x30EB, 0x30EC, 0x30ED, 0x30EF, 0x30F3, 0x309B, 0x309C,
    ]

    /// 1 for a voiced (dakuten) mark, 2 for a semi-voiced (handakuten) mark.
    private static func voicedMark(_ scalar: Unicode.Scalar) -> Int? {
        switch scalar.value {
        case 0xFF9E, 0x3099, 0x309B: return 1
        case 0xFF9F, 0x309A, 0x309C: return 2
        default: return nil
        }
    }

    /// The kana with a (semi-)voiced mark, when that kana has such a form.
    private static func composeKana(_ kana: Unicode.Scalar, mark: Int) -> Unicode.Scalar? {
        let v = kana.value
        // か…ぢ and カ…ヂ (even steps), つ…ど / ツ…ド, は…ぽ / ハ…ポ: the voiced form is +1, semi-voiced +2.
        let bases: [ClosedRange<UInt32>] = [0x304B...0x3062, 0x3064...0x3069, 0x30AB...0x30C2, 0x30C4...0x30C9]
        let hBases: [ClosedRange<UInt32>] = [0x306F...0x307D, 0x30CF...0x30DD]
        if mark == 1 {
            if v == 0x30A6 { return Unicode.Scalar(0x30F4) }  // ウ → ヴ
            if v == 0x3046 { return Unicode.Scalar(0x3094) }  // う → ゔ
            for range in bases where range.contains(v) {
                // Unvoiced and voiced kana alternate, starting with an unvoiced one.
                let unvoiced = (v - range.lowerBound) % 2 == 0
                return unvoiced ? Unicode.Scalar(v + 1) : nil
            }
            for range in hBases where range.contains(v) {
                return (v - range.lowerBound) % 3 == 0 ? Unicode.Scalar(v + 1) : nil
            }
        } else {
            for range in hBases where range.contains(v) {
                return (v - range.lowerBound) % 3 == 0 ? Unicode.Scalar(v + 2) : nil
            }
        }
        return nil
    }

    // MARK: Classes

    enum ScalarClass {
        case word, mark, cjk, emoji, separator, ignored
    }

    static func classify(_ scalar: Unicode.Scalar) -> ScalarClass {
        let v = scalar.value
        if v < 0x80 {
            if (v >= 0x61 && v <= 0x7A) || (v >= 0x30 && v <= 0x39) { return .word }
            return .separator
        }
        if isCJK(v) { return .cjk }
        switch v {
        // Variation selectors, the combining keycap, skin-tone modifiers: part of the character before.
        case 0xFE00...0xFE0F, 0x20E3, 0x1F3FB...0x1F3FF, 0xE0100...0xE01EF: return .ignored
        default: break
        }
        let properties = scalar.properties
        if v > 0xFF, properties.isEmoji, !properties.isEmojiModifier, v != 0x200D, v != 0xFE0F, v != 0x20E3 {
            switch properties.generalCategory {
            case .otherSymbol, .mathSymbol, .otherPunctuation, .currencySymbol, .modifierSymbol:
                return .emoji
            default: break
            }
        }
        switch properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter,
            .decimalNumber, .letterNumber, .otherNumber:
            return .word
        case .nonspacingMark, .spacingMark, .enclosingMark:
            return .mark
        default:
            return .separator
        }
    }

    /// Han, hiragana, katakana (with the prolonged sound mark) and Hangul.
    static func isCJK(_ v: UInt32) -> Bool {
        switch v {
        case 0x3005...0x3007,  // 々 〆 〇
            0x3041...0x3096, 0x309D...0x309F,  // hiragana
            0x30A1...0x30FA, 0x30FC...0x30FF,  // katakana (not ・)
            0x31F0...0x31FF,  // katakana phonetic extensions
            0x3400...0x4DBF, 0x4E00...0x9FFF, 0xF900...0xFAFF, 0x20000...0x3FFFF,  // Han
            0x1100...0x11FF, 0x3131...0x318E, 0xA960...0xA97F, 0xAC00...0xD7AF, 0xD7B0...0xD7FF:  // Hangul
            return true
        default:
            return false
        }
    }

    static func isKana(_ v: UInt32) -> Bool {
        (0x3041...0x3096).contains(v) || (0x30A1...0x30FA).contains(v)
    }
}

/// A position in the original text.
struct Place {
    var utf8: Int
    var scalar: Int
}

/// The tokenizer's running state: the word or CJK run being collected.
private struct TokenizerState {
    let mode: SearchTokenizer.Mode
    var position = 0
    // The word being collected.
    var wordScalars = String.UnicodeScalarView()
    var wordCount = 0
    var wordHasMarks = false
    var wordStart = Place(utf8: 0, scalar: 0)
    var wordEnd = Place(utf8: 0, scalar: 0)
    // The CJK run being collected.
    var run: [(scalar: Unicode.Scalar, start: Place, end: Place)] = []

    init(mode: SearchTokenizer.Mode) { self.mode = mode }

    var inWord: Bool { wordCount > 0 }

    var lastKana: Unicode.Scalar? {
        guard wordCount == 0, let last = run.last, SearchTokenizer.isKana(last.scalar.value) else { return nil }
        return last.scalar
    }

    mutating func replaceLastKana(with scalar: Unicode.Scalar, end: Place) {
        guard let last = run.popLast() else { return }
        run.append((scalar, last.start, end))
    }

    mutating func word(_ scalar: Unicode.Scalar, isMark: Bool, start: Place, end: Place) {
        if wordCount == 0 { wordStart = start }
        if wordCount < SearchTokenizer.maxWordLength {
            wordScalars.append(scalar)
            wordHasMarks = wordHasMarks || isMark
            wordEnd = end
        }
        wordCount += 1
    }

    mutating func flushWord(_ emit: (SearchToken) -> Void) {
        guard wordCount > 0 else { return }
        var text = String(wordScalars)
        if wordHasMarks { text = text.precomposedStringWithCanonicalMapping }
        single(text, start: wordStart, end: wordEnd, emit)
        wordScalars = String.UnicodeScalarView()
        wordCount = 0
        wordHasMarks = false
    }

    mutating func single(_ text: String, start: Place, end: Place, _ emit: (SearchToken) -> Void) {
        emit(
            SearchToken(
                text: text,
                position: position,
                colocated: false,
                utf8Range: start.utf8..<end.utf8,
                scalarRange: start.scalar..<end.scalar
            )
        )
        position += 1
    }

    /// Adds a CJK character to the run. A bigram is emitted one character late, so a
    /// voiced sound mark can still change the character that ends it.
    mutating func cjk(_ scalar: Unicode.Scalar, start: Place, end: Place, _ emit: (SearchToken) -> Void) {
        run.append((scalar, start, end))
        if run.count >= 3 { bigram(run.count - 3, emit) }
    }

    private mutating func bigram(_ i: Int, _ emit: (SearchToken) -> Void) {
        let a = run[i]
        let b = run[i + 1]
        var text = String.UnicodeScalarView()
        text.append(a.scalar)
        text.append(b.scalar)
        single(String(text), start: a.start, end: b.end, emit)
    }

    mutating func flushCJK(_ emit: (SearchToken) -> Void) {
        defer { run.removeAll(keepingCapacity: true) }
        guard let last = run.last else { return }
        if run.count == 1 {
            single(String(last.scalar), start: last.start, end: last.end, emit)
            return
        }
        bigram(run.count - 2, emit)
        if mode == .document {
            emit(
                SearchToken(
                    text: String(last.scalar),
                    position: position - 1,
                    colocated: true,
                    utf8Range: last.start.utf8..<last.end.utf8,
                    scalarRange: last.start.scalar..<last.end.scalar
                )
            )
        }
    }
}
