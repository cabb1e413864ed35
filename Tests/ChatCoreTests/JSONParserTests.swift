import ChatCore
import Testing

// MARK: - Tables

private let validDocuments: [(String, JSONValue)] = [
    ("{}", .object([:])),
    ("[]", .array([])),
    ("null", .null),
    ("true", .bool(true)),
    ("false", .bool(false)),
    (#""""#, .string("")),
    (#""plain""#, .string("plain")),
    (" \t\r\n[1 , 2]\n ", .array([1, 2])),
    (
        #"{"a":1,"b":[true,false,null],"c":{"d":"e"}}"#,
        .object(["a": 1, "b": [true, false, .null], "c": .object(["d": "e"])])
    ),
    (#"{"z":1,"a":2}"#, .object(["z": 1, "a": 2])),
    ("[[[]]]", .array([.array([.array([])])])),
    (#"{"a":{"b":{"c":[1,{"d":null}]}}}"#, .object(["a": .object(["b": .object(["c": [1, .object(["d": .null])]])])])),
    (#"{"a":{"a":1}}"#, .object(["a": .object(["a": 1])])),
    (#"[{"a":1},{"a":2}]"#, .array([.object(["a": 1]), .object(["a": 2])])),
    ("0", .int(0)),
    ("-0", .int(0)),
    ("10", .int(10)),
    ("-42", .int(-42)),
    ("9223372036854775807", .int(.max)),
    ("-9223372036854775808", .int(.min)),
    ("9223372036854775808", .double(9_223_372_036_854_775_808.0)),
    ("-9223372036854775809", .double(-9_223_372_036_854_775_809.0)),
    ("123456789012345678901234567890", .double(1.2345678901234568e29)),
    ("1.5", .double(1.5)),
    ("-0.25", .double(-0.25)),
    ("1.0", .double(1.0)),
    ("1e3", .double(1000)),
    ("1E+2", .double(100)),
    ("2.5e-3", .double(0.0025)),
    ("-1.25E1", .double(-12.5)),
    ("1e400", .double(.infinity)),
    ("-1e400", .double(-.infinity)),
    ("[-1,2.5,3e0]", .array([.int(-1), .double(2.5), .double(3)])),
]

private let escapedStrings: [(String, String)] = [
    (#""\"""#, "\""),
    (#""\\""#, "\\"),
    (#""\/""#, "/"),
    (#""\b""#, "\u{8}"),
    (#""\f""#, "\u{C}"),
    (#""\n""#, "\n"),
    (#""\r""#, "\r"),
    (#""\t""#, "\t"),
    (#""\u0041""#, "A"),
    (#""\u00e9""#, "\u{E9}"),
    (#""\u00E9""#, "\u{E9}"),
    (#""\u65e5\u672c""#, "日本"),
    (#""\u0000""#, "\u{0}"),
    (#""\u001b[0m""#, "\u{1B}[0m"),
    (#""a\"b\\c\/d\be\ff\ng\rh\ti""#, "a\"b\\c/d\u{8}e\u{C}f\ng\rh\ti"),
    ("\"日本語 😀\"", "日本語 😀"),
    ("\"日本\\n語\"", "日本\n語"),
    (#""\ud83d\ude00""#, "😀"),
    (#""\uD83D\uDE00""#, "😀"),
    (#""a\ud83d\ude00b""#, "a😀b"),
    (#""\ud83d\ude00\ud83d\ude00""#, "😀😀"),
    (#""\ud800\udc00""#, "\u{10000}"),
    (#""\udbff\udfff""#, "\u{10FFFF}"),
]

private let loneSurrogates: [String] = [
    #""\ud83d""#,
    #""\ude00""#,
    #""\ud83d\u0041""#,
    #""\ud83dx""#,
    #""x\ud83d""#,
    #""\ud83d\ud83d""#,
    #""\ude00\ud83d""#,
    #""\udfff""#,
    #""\ud800\n""#,
]

private let invalidDocuments: [String] = [
    "",
    "   ",
    #"{"a":1} x"#,
    "[1] [2]",
    "1 2",
    "[1,]",
    #"{"a":1,}"#,
    "{'a':1}",
    "['a']",
    "\"a\u{1}b\"",
    "\"a\nb\"",
    "\"a\tb\"",
    "\"\u{1F}\"",
    "01",
    "-01",
    "[01]",
    "00",
    "1.",
    ".5",
    "+1",
    "-",
    "1e",
    "1e+",
    "0x10",
    #""abc"#,
    #""abc\""#,
    "\"",
    "tru",
    "nul",
    "True",
    "NULL",
    "hello",
    "undefined",
    "NaN",
    "Infinity",
    "true1",
    #"{"a" 1}"#,
    "{a:1}",
    #"{"a":}"#,
    "[1 2]",
    #""\x""#,
    #""\u12""#,
    #""\u12G4""#,
    #""\U0041""#,
    #"{"a":1"#,
    "[",
    "]",
    "}",
    "\u{A0}1",
    #"{"\ud800":1}"#,
]

private let errorDetails: [(String, String, Int)] = [
    ("", "unexpected end", 0),
    (#"{"a":1} x"#, "trailing characters", 8),
    ("[1,]", "unexpected character", 3),
    (#"{"a":1,}"#, "expected a string key", 7),
    ("{'a':1}", "expected a string key", 1),
    ("01", "trailing characters", 1),
    ("\"a\u{1}b\"", "control character in string", 2),
    (#""abc"#, "unterminated string", 4),
    ("tru", "unexpected end", 0),
    ("nope", "invalid literal", 0),
    ("hello", "unexpected character", 0),
    (#""\x""#, "invalid escape", 3),
    ("1.", "invalid number", 2),
    (#"{"a":1,"a":2}"#, #"duplicate key "a""#, 7),
    (#"{"\ud800":1}"#, "invalid key", 1),
]

private let duplicateKeyDocuments: [String] = [
    #"{"a":1,"a":2}"#,
    #"{"a":1,"b":2,"a":3}"#,
    #"{"a":1,"a":1}"#,
    #"{"x":{"k":1,"k":null}}"#,
    #"[{"ok":1},{"k":1,"k":2}]"#,
    #"{"a":1,"\u0061":2}"#,
    #"{"id":"1","type":"ping","id":"2"}"#,
]

private let roundTripValues: [JSONValue] = [
    .null,
    true,
    false,
    0,
    -1,
    .int(.max),
    .int(.min),
    .double(1.5),
    .double(-0.001),
    .double(1e300),
    .double(2.5e-300),
    .double(5.0),
    "",
    "plain",
    "quote\" back\\slash /slash",
    "ctl \u{1B}[31m \u{0} \u{1F} \u{7F} \u{8} \u{C}",
    "\n\r\t",
    "日本語 カタカナ ひらがな 😀 👨‍👩‍👧 e\u{301}",
    "\u{2028}\u{2029}\u{FEFF}",
    [],
    [1, "two", [3, .null], .object(["four": 4])],
    .object([:]),
    .object(["z": 1, "a": 2, "m": [true, false]]),
    .object(["k\"ey\n": "v", "日本": .object(["nested": .double(0.5)])]),
]

private let writerOutputs: [(JSONValue, String)] = [
    (.null, "null"),
    (true, "true"),
    (false, "false"),
    (.int(-7), "-7"),
    (.int(.max), "9223372036854775807"),
    (.double(1.5), "1.5"),
    (.double(.infinity), "null"),
    (.invalidString, "null"),
    ("a\"b\\c", #""a\"b\\c""#),
    ("\u{1B}[0m", #""\u001b[0m""#),
    ("\u{0}\u{1F}", #""\u0000\u001f""#),
    ("\u{8}\u{C}", #""\u0008\u000c""#),
    ("\n\r\t", #""\n\r\t""#),
    ("日本語😀", "\"日本語😀\""),
    ("日本\n語 😀\u{1B}", "\"日本\\n語 😀\\u001b\""),
    ("\u{7F}", "\"\u{7F}\""),
    ("</script>", #""</script>""#),
    ([1, "x", .null], #"[1,"x",null]"#),
    (.object(["b": 1, "a": [true, .null]]), #"{"b":1,"a":[true,null]}"#),
    (.object(["q\"": "\\"]), #"{"q\"":"\\"}"#),
    (.object([:]), "{}"),
    ([], "[]"),
]

// MARK: - Helpers

private func nestedArrays(_ depth: Int) -> String {
    String(repeating: "[", count: depth) + String(repeating: "]", count: depth)
}

private func nestedObjects(_ depth: Int) -> String {
    String(repeating: #"{"a":"#, count: depth - 1) + "{}" + String(repeating: "}", count: depth - 1)
}

// MARK: - Tests

@Suite("JSONParser")
struct JSONParserTests {
    let parser = JSONParser()

    @Test("parses valid documents", arguments: validDocuments)
    func validDocument(text: String, expected: JSONValue) throws {
        #expect(try parser.parse(text) == expected)
    }

    @Test("keeps object field order")
    func fieldOrder() throws {
        let value = try parser.parse(#"{"z":1,"a":2,"m":3}"#)
        let keys = try #require(value.objectValue).fields.map(\.key)
        #expect(keys == ["z", "a", "m"])
        #expect(value != .object(["a": 2, "z": 1, "m": 3]))
    }

    @Test("decodes every string escape", arguments: escapedStrings)
    func escapes(text: String, expected: String) throws {
        let value = try parser.parse(text)
        let string = try #require(value.stringValue)
        #expect(Array(string.unicodeScalars) == Array(expected.unicodeScalars))
    }

    @Test("lone surrogate escapes give .invalidString", arguments: loneSurrogates)
    func loneSurrogate(text: String) throws {
        #expect(try parser.parse(text) == .invalidString)
    }

    @Test("a lone surrogate in one field leaves the rest readable")
    func loneSurrogateInField() throws {
        let value = try parser.parse(#"{"id":"7","text":"a\ud800b","n":1}"#)
        let object = try #require(value.objectValue)
        #expect(object["id"] == "7")
        #expect(object["text"] == .invalidString)
        #expect(object["n"] == 1)
    }

    @Test("rejects invalid documents", arguments: invalidDocuments)
    func invalidDocument(text: String) {
        #expect(throws: JSONParseError.self) { try parser.parse(text) }
    }

    @Test("reports a reason and the byte offset", arguments: errorDetails)
    func errorDetail(text: String, reason: String, offset: Int) {
        let error = #expect(throws: JSONParseError.self) { try parser.parse(text) }
        #expect(error?.reason == reason)
        #expect(error?.offset == offset)
        #expect(error?.description == "\(reason) at byte \(offset)")
    }

    @Test("rejects duplicate keys", arguments: duplicateKeyDocuments)
    func duplicateKeys(text: String) {
        let error = #expect(throws: JSONParseError.self) { try parser.parse(text) }
        #expect(error?.reason.hasPrefix("duplicate key") == true)
    }

    @Test("an object with thousands of keys parses in linear time, duplicates still found")
    func manyKeys() throws {
        // A 64 KiB frame holds about 6900 keys; the duplicate check compared each key
        // with every key before it and took seconds per frame.
        let keys = (0..<6900).map { "\"k\(String($0, radix: 16))\":0" }
        let text = "{" + keys.joined(separator: ",") + "}"
        #expect(text.utf8.count <= 65536)
        var parsed: JSONValue?
        let elapsed = try ContinuousClock().measure { parsed = try parser.parse(text) }
        #expect(parsed?.objectValue?.fields.count == 6900)
        #expect(elapsed < .seconds(1))
        let duplicate = #expect(throws: JSONParseError.self) {
            try parser.parse("{" + keys.joined(separator: ",") + ",\"k1a00\":1}")
        }
        #expect(duplicate?.reason == "duplicate key \"k1a00\"")
    }

    @Test("duplicate keys are compared the same way in small and large objects", arguments: [1, 15, 16, 17, 40])
    func duplicateKeysAnySize(before: Int) {
        // Canonically equivalent keys (é precomposed and decomposed) are the same key.
        let fields = (0..<before).map { "\"f\($0)\":0" } + [#""\u00e9":1"#, #""e\u0301":2"#]
        let error = #expect(throws: JSONParseError.self) { try parser.parse("{" + fields.joined(separator: ",") + "}") }
        #expect(error?.reason.hasPrefix("duplicate key") == true)
    }

    @Test("default depth limit is 32")
    func defaultDepth() {
        #expect(JSONParser().maxDepth == 32)
    }

    @Test("accepts nesting up to maxDepth", arguments: [1, 2, 31, 32])
    func depthAccepted(depth: Int) throws {
        var arrays = try parser.parse(nestedArrays(depth))
        var objects = try parser.parse(nestedObjects(depth))
        for _ in 1..<depth {
            arrays = try #require(arrays.arrayValue?.first)
            objects = try #require(objects.objectValue?["a"])
        }
        #expect(arrays == .array([]))
        #expect(objects == .object([:]))
    }

    @Test("rejects nesting beyond maxDepth", arguments: [33, 34, 100, 10_000])
    func depthRejected(depth: Int) {
        for text in [nestedArrays(depth), nestedObjects(depth)] {
            let error = #expect(throws: JSONParseError.self) { try parser.parse(text) }
            #expect(error?.reason == "nesting deeper than 32")
        }
    }

    @Test("a custom maxDepth is honoured")
    func customDepth() throws {
        let shallow = JSONParser(maxDepth: 2)
        #expect(try shallow.parse("[[1]]") == [[1]])
        #expect(try shallow.parse(#"{"a":[1]}"#) == .object(["a": [1]]))
        #expect(throws: JSONParseError.self) { try shallow.parse("[[[1]]]") }
        #expect(throws: JSONParseError.self) { try shallow.parse(#"{"a":{"b":{}}}"#) }
        #expect(try JSONParser(maxDepth: 0).parse("42") == 42)
        #expect(throws: JSONParseError.self) { try JSONParser(maxDepth: 0).parse("[]") }
    }

    @Test("parse(value.jsonString) == value", arguments: roundTripValues)
    func roundTrip(value: JSONValue) throws {
        #expect(try parser.parse(value.jsonString) == value)
    }

    @Test("round trip keeps strings scalar-exact", arguments: ["e\u{301}", "\u{E9}", "\u{1B}x\u{0}", "😀\u{FE0F}"])
    func roundTripScalars(string: String) throws {
        let parsed = try #require(try parser.parse(JSONValue.string(string).jsonString).stringValue)
        #expect(Array(parsed.unicodeScalars) == Array(string.unicodeScalars))
    }

    @Test("writer output", arguments: writerOutputs)
    func writer(value: JSONValue, expected: String) {
        #expect(value.jsonString == expected)
        #expect(Array(value.jsonString.utf8) == Array(expected.utf8))
    }

    @Test("write(to:) appends")
    func writeAppends() {
        var out = "x="
        JSONValue.array([1, "a"]).write(to: &out)
        #expect(out == #"x=[1,"a"]"#)
    }
}
