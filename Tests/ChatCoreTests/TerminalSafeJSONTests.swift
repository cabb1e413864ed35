import ChatCore
import Testing

@Suite("Terminal-safe JSON")
struct TerminalSafeJSONTests {
    @Test("DEL, C1 and bidi controls are escaped; the text still parses to the same value")
    func escapes() throws {
        let text = "a\u{7F}b\u{9B}31mc\u{202E}evil\u{2066}d\u{2028}e ok 世界"
        let value = JSONValue.object(["text": .string(text)])
        let safe = value.terminalSafeJSONString
        #expect(safe == #"{"text":"a\u007fb\u009b31mc\u202eevil\u2066d\u2028e ok 世界"}"#)
        #expect(!safe.unicodeScalars.contains { $0.value == 0x7F || (0x80...0x9F).contains($0.value) })
        #expect(try JSONParser(maxDepth: 4).parse(safe) == value)
        #expect(JSONValue.string("plain").terminalSafeJSONString == #""plain""#)
    }
}
