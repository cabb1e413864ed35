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

/// `messageFrame` writes a plain message's event field by field (issue 19): it must be the
/// same bytes as the event built as a JSON object and framed.
@Suite("Message event frames")
struct MessageFrameTests {
    @Test("the direct writer and the JSON object give the same bytes, for every kind and detail")
    func sameBytes() {
        let texts = ["hi", "", "quote \" backslash \\ newline \n tab \t 日本語 😀", String(repeating: "x", count: 300)]
        let kinds: [MessageKind] = [.text, .action, .file, .edit, .delete, .react, .unreact, .unknown]
        var messages: [ChatMessage] = []
        for text in texts {
            for kind in kinds {
                for nonce in [nil, "n-1", "q\"uote"] as [String?] {
                    messages.append(
                        ChatMessage(
                            room: "général",
                            seq: 42,
                            from: "Ålice",
                            text: text,
                            kind: kind,
                            ts: 1_733_500_000_123,
                            nonce: nonce
                        )
                    )
                }
            }
        }
        var details: [MessageDetails] = []
        details.append(MessageDetails(replyTo: 3))
        details.append(MessageDetails(target: 7, emoji: "👍"))
        details.append(MessageDetails(editedTs: 5, deleted: true))
        var reacted = MessageDetails()
        reacted.reactions = [Reaction(emoji: "🎉", users: ["a", "b"])]
        details.append(reacted)
        var file = MessageDetails()
        file.file = FileRef(
            id: "f1",
            name: "a.png",
            mime: "image/png",
            size: 10,
            sha256: String(repeating: "0", count: 64)
        )
        details.append(file)
        for detail in details {
            messages.append(ChatMessage(room: "r", seq: 1, from: "b", text: "t", kind: .text, ts: 0, details: detail))
        }
        #expect(messages.filter(\.hasNoDetails).count == texts.count * kinds.count * 3)
        for message in messages {
            var direct = WebSocketText.messageFrame(message)
            var generic = WebSocketText.frame(ChatEvent.message(message).frame)
            #expect(
                direct.readBytes(length: direct.readableBytes) == generic.readBytes(length: generic.readableBytes),
                "\(message)"
            )
        }
    }

    @Test("the reply to a send: the same bytes as the generic ok frame")
    func sentReply() {
        for (id, seq, ts) in [("1", 1, 0), ("req-\"x\"", 9_999_999, 1_733_500_000_123), ("日本", 0, -5)]
            as [(String, Int64, Int64)]
        {
            var direct = WebSocketText.sentFrame(id: id, seq: seq, ts: ts)
            var generic = WebSocketText.frame(Frames.ok(id: id, SendReply(seq: seq, ts: ts).json))
            #expect(direct.readBytes(length: direct.readableBytes) == generic.readBytes(length: generic.readableBytes))
        }
    }
}
