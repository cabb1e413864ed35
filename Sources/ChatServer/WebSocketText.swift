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

    /// A final, unmasked text frame holding the compact JSON of `value`.
    ///
    /// - Parameters:
    ///   - value: the frame as JSON.
    package static func frame(_ value: JSONValue) -> ByteBuffer {
        frame(value.jsonString)
    }
}
