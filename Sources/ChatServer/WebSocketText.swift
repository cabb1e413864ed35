import ChatCore
import NIOCore

/// Server-to-client WebSocket text messages as ready-to-send bytes. A server's frames are not
/// masked, so one message is the same bytes for every receiver: a fan-out frames a message
/// once and every connection writes that same buffer (see `Connection`).
package enum WebSocketText {
    /// A final, unmasked text frame holding `text`.
    ///
    /// - Parameters:
    ///   - text: the message (UTF-8).
    package static func frame(_ text: String) -> ByteBuffer {
        let length = text.utf8.count
        var buffer = ByteBufferAllocator().buffer(capacity: length + 10)
        buffer.writeInteger(UInt8(0x81))  // FIN, opcode 1 (text)
        if length < 126 {
            buffer.writeInteger(UInt8(length))
        } else if length <= 0xFFFF {
            buffer.writeInteger(UInt8(126))
            buffer.writeInteger(UInt16(length))
        } else {
            buffer.writeInteger(UInt8(127))
            buffer.writeInteger(UInt64(length))
        }
        buffer.writeString(text)
        return buffer
    }

    /// A final, unmasked text frame holding the compact JSON of `value` (the same text as
    /// `value.jsonString`). The JSON is written straight into the frame's buffer after room
    /// for the longest header; the header then goes just before it, so nothing is copied.
    ///
    /// - Parameters:
    ///   - value: the frame as JSON.
    package static func frame(_ value: JSONValue) -> ByteBuffer {
        var buffer = startFrame()
        value.write(to: &buffer)
        finishFrame(&buffer)
        return buffer
    }

    /// A `message` event's frame: the same bytes as `frame(ChatEvent.message(message).frame)`.
    /// A message without details (most of them) is written field by field, without building
    /// the JSON object first; any other goes through `frame(_:)`.
    ///
    /// - Parameters:
    ///   - message: the message.
    package static func messageFrame(_ message: ChatMessage) -> ByteBuffer {
        guard message.hasNoDetails else { return frame(ChatEvent.message(message).frame) }
        var buffer = startFrame()
        buffer.writeStaticString(#"{"type":"message","room":"#)
        JSONValue.writeString(message.room, to: &buffer)
        buffer.writeStaticString(#","seq":"#)
        JSONValue.writeInteger(message.seq, to: &buffer)
        buffer.writeStaticString(#","from":"#)
        JSONValue.writeString(message.from, to: &buffer)
        if message.carriesText {
            buffer.writeStaticString(#","text":"#)
            JSONValue.writeString(message.text, to: &buffer)
        }
        buffer.writeStaticString(#","kind":"#)
        JSONValue.writeString(message.kind.rawValue, to: &buffer)
        buffer.writeStaticString(#","ts":"#)
        JSONValue.writeInteger(message.ts, to: &buffer)
        if let nonce = message.nonce {
            buffer.writeStaticString(#","nonce":"#)
            JSONValue.writeString(nonce, to: &buffer)
        }
        buffer.writeInteger(UInt8(ascii: "}"))
        finishFrame(&buffer)
        return buffer
    }

    /// The reply to a `send`: the same bytes as `frame(Frames.ok(id: id, HubReply.sent(seq, ts).json))`,
    /// written without building the JSON object.
    ///
    /// - Parameters:
    ///   - id: the request id.
    ///   - seq: the message's seq.
    ///   - ts: its server time.
    package static func sentFrame(id: String, seq: Int64, ts: Int64) -> ByteBuffer {
        var buffer = startFrame()
        buffer.writeStaticString(#"{"type":"ok","id":"#)
        JSONValue.writeString(id, to: &buffer)
        buffer.writeStaticString(#","seq":"#)
        JSONValue.writeInteger(seq, to: &buffer)
        buffer.writeStaticString(#","ts":"#)
        JSONValue.writeInteger(ts, to: &buffer)
        buffer.writeInteger(UInt8(ascii: "}"))
        finishFrame(&buffer)
        return buffer
    }

    /// A buffer for one frame, the JSON to be written after room for the longest header.
    private static func startFrame() -> ByteBuffer {
        var buffer = ByteBufferAllocator().buffer(capacity: 256)
        buffer.moveWriterIndex(forwardBy: 10)
        buffer.moveReaderIndex(forwardBy: 10)
        return buffer
    }

    /// Puts the header just before the JSON written since `startFrame`, so nothing is copied.
    private static func finishFrame(_ buffer: inout ByteBuffer) {
        let length = buffer.readableBytes
        let start: Int
        if length < 126 {
            start = 8
            buffer.setInteger(UInt8(length), at: 9)
        } else if length <= 0xFFFF {
            start = 6
            buffer.setInteger(UInt8(126), at: 7)
            buffer.setInteger(UInt16(length), at: 8)
        } else {
            start = 0
            buffer.setInteger(UInt8(127), at: 1)
            buffer.setInteger(UInt64(length), at: 2)
        }
        buffer.setInteger(UInt8(0x81), at: start)  // FIN, opcode 1 (text)
        buffer.moveReaderIndex(to: start)
    }
}

extension JSONValue {
    /// Appends the compact JSON text of this value (as `write(to: &String)` does).
    ///
    /// - Parameters:
    ///   - buffer: the buffer to append to.
    func write(to buffer: inout ByteBuffer) {
        switch self {
        case .null, .invalidString: buffer.writeStaticString("null")
        case .bool(let b): buffer.writeStaticString(b ? "true" : "false")
        case .int(let i): Self.writeInteger(i, to: &buffer)
        case .double(let d): buffer.writeString(d.isFinite ? String(d) : "null")
        case .string(let s): Self.writeString(s, to: &buffer)
        case .array(let a):
            buffer.writeInteger(UInt8(ascii: "["))
            for (i, v) in a.enumerated() {
                if i > 0 { buffer.writeInteger(UInt8(ascii: ",")) }
                v.write(to: &buffer)
            }
            buffer.writeInteger(UInt8(ascii: "]"))
        case .object(let o):
            buffer.writeInteger(UInt8(ascii: "{"))
            for (i, field) in o.fields.enumerated() {
                if i > 0 { buffer.writeInteger(UInt8(ascii: ",")) }
                Self.writeString(field.key, to: &buffer)
                buffer.writeInteger(UInt8(ascii: ":"))
                field.value.write(to: &buffer)
            }
            buffer.writeInteger(UInt8(ascii: "}"))
        }
    }

    /// Decimal digits without a `String` in between (seqs, times and counts are in every event).
    fileprivate static func writeInteger(_ value: Int64, to buffer: inout ByteBuffer) {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 20) { digits in
            var magnitude = value.magnitude
            var start = digits.count
            repeat {
                start -= 1
                digits[start] = UInt8(ascii: "0") + UInt8(magnitude % 10)
                magnitude /= 10
            } while magnitude > 0
            if value < 0 { buffer.writeInteger(UInt8(ascii: "-")) }
            buffer.writeBytes(UnsafeBufferPointer(rebasing: digits[start...]))
        }
    }

    fileprivate static func writeString(_ s: String, to buffer: inout ByteBuffer) {
        buffer.writeInteger(UInt8(ascii: "\""))
        // Scanned over the string's contiguous UTF-8 (every native string has it): one pass
        // over bytes instead of the UTF-8 view's iterator.
        let plain =
            s.utf8.withContiguousStorageIfAvailable { bytes in
                !bytes.contains { $0 < 0x20 || $0 == 0x22 || $0 == 0x5C }
            } ?? !s.utf8.contains { $0 < 0x20 || $0 == 0x22 || $0 == 0x5C }
        if plain {
            buffer.writeString(s)
        } else {
            // Rare (quotes, backslashes, newlines): the String writer's escaping, then the bytes.
            var escaped = ""
            JSONValue.string(s).write(to: &escaped)
            buffer.writeString(String(escaped.dropFirst().dropLast()))
        }
        buffer.writeInteger(UInt8(ascii: "\""))
    }
}
