import ChatCore
import Testing

// MARK: - Tables

/// Scalars the contract forbids in message text and topics.
private let forbiddenScalars: [UInt32] = [
    0x00, 0x01, 0x07, 0x08, 0x0B, 0x0C, 0x0D, 0x1B, 0x1F,
    0x7F, 0x80, 0x85, 0x9B, 0x9F,
    0x202A, 0x202B, 0x202C, 0x202D, 0x202E,
    0x2066, 0x2067, 0x2068, 0x2069,
]

/// Scalars next to or outside the forbidden ranges that must be allowed.
private let allowedScalars: [UInt32] = [
    0x09, 0x0A, 0x20, 0x7E, 0xA0, 0xA1, 0x200B, 0x200D, 0x200E, 0x200F, 0x2029, 0x2065, 0x206A, 0xFEFF, 0x1F600,
]

private let allowedTexts: [String] = [
    "hello",
    "line one\nline two",
    "col\tcol",
    "no\u{A0}break",
    "zero\u{200B}width",
    "日本語のテキスト",
    "😀",
    "👨‍👩‍👧",
    "🇯🇵",
    "e\u{301}",
    " ",
    "\n",
]

// MARK: - Helpers

private func forbiddenError(_ value: UInt32) -> ProtocolError {
    let hex = String(value, radix: 16, uppercase: true)
    return .badRequest("text must not contain control or bidirectional-override characters (found U+\(hex))")
}

private func scalarString(_ value: UInt32) -> String {
    guard let scalar = Unicode.Scalar(value) else { return "" }
    return String(Character(scalar))
}

// MARK: - Tests

@Suite("TextRules: message text and topic")
struct TextRulesTests {
    @Test("empty text is bad_request")
    func emptyText() {
        #expect(TextRules.messageText("", maxText: 4000) == .badRequest("text must not be empty"))
    }

    @Test("allowed text", arguments: allowedTexts)
    func allowedText(text: String) {
        #expect(TextRules.messageText(text, maxText: 4000) == nil)
        #expect(TextRules.topic(text) == nil)
    }

    @Test("forbidden scalars are bad_request in text and topic", arguments: forbiddenScalars)
    func forbidden(value: UInt32) throws {
        let scalar = scalarString(value)
        #expect(TextRules.isForbidden(try #require(Unicode.Scalar(value))))
        #expect(TextRules.messageText(scalar, maxText: 4000) == forbiddenError(value))
        #expect(TextRules.messageText("before \(scalar) after", maxText: 4000) == forbiddenError(value))
        #expect(TextRules.topic("topic\(scalar)") == forbiddenError(value))
    }

    @Test("scalars outside the forbidden classes are allowed", arguments: allowedScalars)
    func allowed(value: UInt32) throws {
        let scalar = scalarString(value)
        #expect(!TextRules.isForbidden(try #require(Unicode.Scalar(value))))
        #expect(TextRules.messageText("a\(scalar)b", maxText: 4000) == nil)
        #expect(TextRules.topic("a\(scalar)b") == nil)
    }

    @Test("CR LF is rejected even though it is one Character")
    func crlf() {
        #expect(TextRules.messageText("a\r\nb", maxText: 4000) == forbiddenError(0x0D))
    }

    @Test(
        "length is counted in Unicode scalars",
        arguments: [
            ("x", 1),
            ("日本語", 3),
            ("😀", 1),
            ("e\u{301}", 2),
            ("👨‍👩‍👧", 5),
            ("🇯🇵", 2),
            ("👍🏽", 2),
        ]
    )
    func scalarLength(text: String, scalars: Int) {
        #expect(TextRules.messageText(text, maxText: scalars) == nil)
        #expect(
            TextRules.messageText(text, maxText: scalars - 1)
                == ProtocolError(.tooLarge, "text is longer than \(scalars - 1) scalars")
        )
    }

    @Test("maxText scalars ok, maxText + 1 too_large", arguments: [1, 10, 4000])
    func maxText(limit: Int) {
        #expect(TextRules.messageText(String(repeating: "a", count: limit), maxText: limit) == nil)
        #expect(TextRules.messageText(String(repeating: "日", count: limit), maxText: limit) == nil)
        let long = String(repeating: "a", count: limit + 1)
        let expected = ProtocolError(.tooLarge, "text is longer than \(limit) scalars")
        #expect(TextRules.messageText(long, maxText: limit) == expected)
    }

    @Test("too_large is not bad_request")
    func tooLargeCode() {
        let error = TextRules.messageText("ab", maxText: 1)
        #expect(error?.code == .tooLarge)
        #expect(error?.code.rawValue == "too_large")
        #expect(error?.retryAfterMs == nil)
    }

    @Test("an empty topic is allowed")
    func emptyTopic() {
        #expect(TextRules.topic("") == nil)
    }

    @Test("topic: 512 scalars ok, 513 too_large", arguments: ["a", "日", "😀"])
    func topicLength(unit: String) {
        #expect(TextRules.topic(String(repeating: unit, count: 512)) == nil)
        #expect(
            TextRules.topic(String(repeating: unit, count: 513))
                == ProtocolError(.tooLarge, "topic is longer than 512 scalars")
        )
    }

    @Test("topic length counts scalars, not characters")
    func topicScalars() {
        // 103 families of 5 scalars = 515 scalars in 103 characters.
        let topic = String(repeating: "👨‍👩‍👧", count: 103)
        #expect(topic.count == 103)
        #expect(TextRules.topic(topic) == ProtocolError(.tooLarge, "topic is longer than 512 scalars"))
    }
}

/// The message text check has an ASCII fast path and counts scalars only past the byte limit
/// (issue 19): the same answers as the scalar-by-scalar rules.
@Suite("Message text rules")
struct MessageTextRuleTests {
    @Test("every ASCII character and the C1, bidi and ordinary scalars: refused exactly when forbidden")
    func forbiddenScalars() {
        let scalars =
            (0...0x7F).map { Unicode.Scalar(UInt8($0)) } + [
                "\u{80}", "\u{9F}", "\u{A0}", "\u{202A}", "\u{202E}", "\u{2066}", "\u{2069}", "\u{2065}", "日",
            ]
        for scalar in scalars {
            let text = "ok " + String(Character(scalar)) + " ok"
            let refused = TextRules.messageText(text, maxText: 100) != nil
            #expect(refused == TextRules.isForbidden(scalar), "U+\(String(scalar.value, radix: 16))")
        }
    }

    @Test("the limit counts scalars, not bytes or grapheme clusters")
    func scalarLimit() {
        #expect(TextRules.messageText(String(repeating: "a", count: 10), maxText: 10) == nil)
        #expect(TextRules.messageText(String(repeating: "a", count: 11), maxText: 10)?.code == .tooLarge)
        // 10 scalars of 3 bytes each (30 bytes): within a limit of 10.
        #expect(TextRules.messageText(String(repeating: "日", count: 10), maxText: 10) == nil)
        #expect(TextRules.messageText(String(repeating: "日", count: 11), maxText: 10)?.code == .tooLarge)
        // One grapheme cluster of 11 scalars (e + 10 combining marks): over a limit of 10.
        #expect(TextRules.messageText("e" + String(repeating: "\u{301}", count: 10), maxText: 10)?.code == .tooLarge)
    }
}
