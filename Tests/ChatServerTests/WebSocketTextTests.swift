import ChatCore
import ChatServer
import NIOCore
import Testing

/// The frames a fan-out shares: the bytes must be a valid server-to-client text frame.
@Suite("WebSocket text frames")
struct WebSocketTextTests {
    @Test("FIN + text, unmasked, length in 7, 16 or 64 bits", arguments: [0, 1, 125, 126, 65_535, 65_536, 70_000])
    func frameHeader(length: Int) throws {
        let text = String(repeating: "あ", count: length / 3) + String(repeating: "x", count: length % 3)
        var frame = WebSocketText.frame(text)
        let opcode = frame.readInteger(as: UInt8.self)
        #expect(opcode == 0x81)
        let byte = frame.readInteger(as: UInt8.self)
        let first = try #require(byte)
        #expect(first & 0x80 == 0, "server frames are not masked")
        var decoded = Int(first)
        if first == 126 {
            let long = frame.readInteger(as: UInt16.self)
            decoded = Int(try #require(long))
        } else if first == 127 {
            let long = frame.readInteger(as: UInt64.self)
            decoded = Int(try #require(long))
        }
        #expect(decoded == text.utf8.count)
        #expect(first == (decoded < 126 ? UInt8(decoded) : decoded <= 0xFFFF ? 126 : 127))
        #expect(frame.readString(length: frame.readableBytes) == text)
    }

    @Test("a JSON frame holds exactly the JSON text of the value, at every header size")
    func jsonFrames() throws {
        let values: [JSONValue] = [
            .object([:]), .array([]), .null, .bool(true), .int(-42), .double(1.5), .invalidString,
            .int(0), .int(7), .int(10), .int(1_733_500_000_123), .int(.max), .int(.min), .int(-1),
            .object([
                "type": "message", "text": .string("quote \" backslash \\ newline \n tab \t bell \u{7} 日本語 😀"),
                "n": .array([1, .double(2.25), .null, .bool(false), .object(["k": "v"])]),
            ]),
            .object(["pad": .string(String(repeating: "x", count: 200))]),
            .object(["pad": .string(String(repeating: "y", count: 70_000))]),
        ]
        for value in values {
            let text = value.jsonString
            var frame = WebSocketText.frame(value)
            var expected = WebSocketText.frame(text)
            #expect(frame.readableBytes == expected.readableBytes, "\(text.prefix(40))")
            #expect(frame.readBytes(length: frame.readableBytes) == expected.readBytes(length: expected.readableBytes))
        }
    }
}
