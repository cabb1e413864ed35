import Foundation

/// A validated user or room name: its display form and its comparison key.
package struct ValidName: Sendable, Hashable {
    /// NFC form, as first written; what is shown.
    package var display: String
    /// NFC + case folded; two names with the same key are the same name.
    package var key: String
}

/// The contract's rules for names and text.
package enum TextRules {
    /// Longest user name, in Unicode scalars after NFC.
    package static let maxUserName = 32
    /// Longest room name, in Unicode scalars after NFC.
    package static let maxRoomName = 64
    /// Most combining marks on one base character of a name.
    package static let maxMarksPerCharacter = 4
    /// Longest topic, in Unicode scalars.
    package static let maxTopic = 512

    /// Validates a user name.
    ///
    /// - Parameters:
    ///   - raw: the name as received.
    package static func userName(_ raw: String) -> Result<ValidName, ProtocolError> {
        name(raw, max: maxUserName, what: "user name")
    }

    /// Validates a room name: a name users make, or a direct-message room's (`@alice+bob`,
    /// see `DirectRoom`). Only `dm` makes the latter; `join` and `create` refuse to.
    ///
    /// - Parameters:
    ///   - raw: the name as received.
    package static func roomName(_ raw: String) -> Result<ValidName, ProtocolError> {
        if DirectRoom.isDirect(raw) { return DirectRoom.validate(raw) }
        return name(raw, max: maxRoomName, what: "room name")
    }

    /// The comparison key of a name: NFC, then Unicode full case folding (Foundation's
    /// case-insensitive folding: ß and ẞ → ss, ς → σ, ı stays ı), then NFC again.
    ///
    /// - Parameters:
    ///   - name: an already-valid name.
    package static func foldKey(_ name: String) -> String {
        if let ascii = asciiFold(name) { return ascii }
        var nfc = name.precomposedStringWithCanonicalMapping
        if nfc.unicodeScalars.contains(where: { (0x1C80...0x1C88).contains($0.value) }) {
            // Foundation on Linux leaves the Cyrillic letter variants U+1C80…U+1C88
            // unfolded; CaseFolding.txt maps them to these letters.
            var scalars = String.UnicodeScalarView()
            for scalar in nfc.unicodeScalars {
                if (0x1C80...0x1C88).contains(scalar.value) {
                    scalars.append(Self.cyrillicVariantFolds[Int(scalar.value - 0x1C80)])
                } else {
                    scalars.append(scalar)
                }
            }
            nfc = String(scalars)
        }
        return nfc.folding(options: [.caseInsensitive], locale: nil).precomposedStringWithCanonicalMapping
    }

    /// CaseFolding.txt targets of U+1C80…U+1C88: в д о с т т ъ ѣ ꙋ.
    private static let cyrillicVariantFolds: [Unicode.Scalar] = [
        "\u{0432}", "\u{0434}", "\u{043E}", "\u{0441}", "\u{0442}", "\u{0442}", "\u{044A}", "\u{0463}", "\u{A64B}",
    ]

    /// The fold key of an ASCII string (NFC and case folding are then just lower-casing),
    /// or nil when the string has a non-ASCII byte. Names are checked per message; this
    /// keeps Foundation's normalisation off that path for the common case.
    private static func asciiFold(_ text: String) -> String? {
        var text = text
        return text.withUTF8 { bytes -> String? in
            var upper = false
            for byte in bytes {
                if byte >= 0x80 { return nil }
                if byte >= 0x41 && byte <= 0x5A { upper = true }
            }
            guard upper else { return String(decoding: bytes, as: UTF8.self) }
            return String(decoding: bytes.lazy.map { $0 >= 0x41 && $0 <= 0x5A ? $0 | 0x20 : $0 }, as: UTF8.self)
        }
    }

    /// Validates an all-ASCII name without Foundation: nil when `raw` is not ASCII.
    private static func asciiName(_ raw: String, max: Int, what: String) -> Result<ValidName, ProtocolError>? {
        var raw = raw
        let verdict = raw.withUTF8 { bytes -> Result<Void, ProtocolError>? in
            // Same checks in the same order as the general path: empty, length, characters.
            guard bytes.allSatisfy({ $0 < 0x80 }) else { return nil }
            if bytes.isEmpty { return .failure(.badRequest("\(what) must not be empty")) }
            if bytes.count > max { return .failure(tooLong(what, max)) }
            for byte in bytes {
                switch byte {
                case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                    UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "_"), UInt8(ascii: "-"), UInt8(ascii: "."):
                    continue
                default:
                    let hex = String(byte, radix: 16, uppercase: true)
                    return .failure(
                        .badRequest("\(what) may hold only letters, digits, marks, '_', '-' and '.' (found U+\(hex))")
                    )
                }
            }
            return .success(())
        }
        switch verdict {
        case nil: return nil
        case .failure(let error)?: return .failure(error)
        case .success?: return .success(ValidName(display: raw, key: asciiFold(raw) ?? raw))
        }
    }

    static func name(_ raw: String, max: Int, what: String) -> Result<ValidName, ProtocolError> {
        if let result = asciiName(raw, max: max, what: what) { return result }
        // Bound the work before normalising: NFC turns a scalar into at most 4 (of at most 4
        // bytes each) and composes, never more, so a name longer than 16 × max bytes is
        // longer than max scalars after NFC too.
        guard raw.utf8.count <= 16 * max else { return .failure(tooLong(what, max)) }
        let nfc = raw.precomposedStringWithCanonicalMapping
        let length = nfc.unicodeScalars.count
        guard length >= 1 else { return .failure(.badRequest("\(what) must not be empty")) }
        guard length <= max else { return .failure(tooLong(what, max)) }
        var first = true
        var marks = 0
        for scalar in nfc.unicodeScalars {
            defer { first = false }
            switch scalar {
            case "_", "-", ".":
                marks = 0
                continue
            default: break
            }
            switch scalar.properties.generalCategory {
            case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter, .decimalNumber:
                if let invisible = invisible(scalar, what) { return .failure(invisible) }
                marks = 0
                continue
            case .nonspacingMark, .spacingMark, .enclosingMark:
                if let invisible = invisible(scalar, what) { return .failure(invisible) }
                if first { return .failure(.badRequest("\(what) must not start with a combining mark")) }
                marks += 1
                guard marks <= maxMarksPerCharacter else {
                    return .failure(
                        .badRequest("\(what) has more than \(maxMarksPerCharacter) combining marks on one character")
                    )
                }
                continue
            default:
                let hex = String(scalar.value, radix: 16, uppercase: true)
                return .failure(
                    .badRequest("\(what) may hold only letters, digits, marks, '_', '-' and '.' (found U+\(hex))")
                )
            }
        }
        return .success(ValidName(display: nfc, key: foldKey(nfc)))
    }

    /// The error for a letter or mark that is invisible in a name, so that two names that look
    /// the same would differ: default-ignorable code points (U+034F COMBINING GRAPHEME JOINER,
    /// Hangul fillers, …; the format characters among them fail the category check first) and
    /// variation selectors.
    private static func invisible(_ scalar: Unicode.Scalar, _ what: String) -> ProtocolError? {
        guard scalar.properties.isDefaultIgnorableCodePoint || scalar.properties.isVariationSelector else { return nil }
        let hex = String(scalar.value, radix: 16, uppercase: true)
        return .badRequest("\(what) must not contain invisible characters or variation selectors (found U+\(hex))")
    }

    private static func tooLong(_ what: String, _ max: Int) -> ProtocolError {
        .badRequest("\(what) is longer than \(max) scalars")
    }

    /// The NFC form of a name, as the server shows it.
    ///
    /// - Parameters:
    ///   - name: a name as typed.
    package static func userNameDisplay(_ name: String) -> String {
        name.precomposedStringWithCanonicalMapping
    }

    /// Validates message text: 1…`maxText` scalars, no forbidden characters.
    ///
    /// - Parameters:
    ///   - text: the text as received.
    ///   - maxText: the server's `max_text`.
    package static func messageText(_ text: String, maxText: Int) -> ProtocolError? {
        if text.isEmpty { return .badRequest("text must not be empty") }
        if let bad = forbiddenScalar(in: text) { return bad }
        // A scalar is at least one byte: only a text of more bytes than the limit is counted.
        if text.utf8.count > maxText, text.unicodeScalars.count > maxText {
            return ProtocolError(.tooLarge, "text is longer than \(maxText) scalars")
        }
        return nil
    }

    /// Most bytes of a reaction's emoji.
    package static let maxEmojiBytes = 32
    /// Most distinct emoji on one message.
    package static let maxReactionsPerMessage = 20

    /// Validates a reaction: one grapheme cluster of at most 32 UTF-8 bytes that is an
    /// emoji — it holds a scalar with the Emoji property outside ASCII, or an ASCII one
    /// (a keycap's digit, `#`, `*`) made an emoji by U+FE0F or U+20E3.
    ///
    /// - Parameters:
    ///   - emoji: the `emoji` field.
    package static func emoji(_ emoji: String) -> ProtocolError? {
        let bytes = emoji.utf8.count
        guard bytes > 0 else { return .badRequest("'emoji' must not be empty") }
        guard bytes <= maxEmojiBytes else {
            return ProtocolError(.tooLarge, "'emoji' is longer than \(maxEmojiBytes) bytes")
        }
        if let bad = forbiddenScalar(in: emoji) { return bad }
        guard emoji.count == 1 else { return .badRequest("'emoji' must be one emoji (one grapheme cluster)") }
        let scalars = emoji.unicodeScalars
        let presented = scalars.contains { $0.value == 0xFE0F || $0.value == 0x20E3 }
        let isEmoji = scalars.contains { s in
            s.properties.isEmojiPresentation || (s.properties.isEmoji && (s.value > 0x7F || presented))
        }
        guard isEmoji else { return .badRequest("'emoji' must be an emoji") }
        return nil
    }

    /// Validates a topic: 0…512 scalars, no forbidden characters.
    ///
    /// - Parameters:
    ///   - text: the topic as received.
    package static func topic(_ text: String) -> ProtocolError? {
        if let bad = forbiddenScalar(in: text) { return bad }
        if text.unicodeScalars.count > maxTopic {
            return ProtocolError(.tooLarge, "topic is longer than \(maxTopic) scalars")
        }
        return nil
    }

    /// Whether a scalar may never appear in message text or topics.
    ///
    /// - Parameters:
    ///   - scalar: the scalar to check.
    package static func isForbidden(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x09, 0x0A: return false
        case 0x00...0x1F, 0x7F...0x9F, 0x202A...0x202E, 0x2066...0x2069: return true
        default: return false
        }
    }

    static func forbiddenScalar(in text: String) -> ProtocolError? {
        // Printable ASCII, tab and newline throughout (most texts): nothing to decode.
        let plain = text.utf8.withContiguousStorageIfAvailable { bytes in
            bytes.allSatisfy { ($0 >= 0x20 && $0 < 0x7F) || $0 == 0x09 || $0 == 0x0A }
        }
        if plain == true { return nil }
        for scalar in text.unicodeScalars where isForbidden(scalar) {
            let hex = String(scalar.value, radix: 16, uppercase: true)
            return .badRequest(
                "text must not contain control or bidirectional-override characters (found U+\(hex))"
            )
        }
        return nil
    }
}
