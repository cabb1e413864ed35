import NIOCore
import NIOWebSocket

/// Cuts a client's bytes into WebSocket frames (RFC 6455 §5.2) inside `ChatSocketHandler`,
/// with the checks NIOWebSocket's `WebSocketFrameDecoder` makes, in the same order: a frame
/// longer than the limit (`tooLarge`, 1009) is refused as soon as its length is read, before
/// its payload is waited for; a control frame that is fragmented or longer than 125 bytes is a
/// protocol error (1002). Everything else (reserved bits, masks, opcodes) is the handler's to
/// check, as before.
///
/// Why not NIOWebSocket's decoder: it runs only inside a `ByteToMessageHandler`, and that
/// handler, its two queues, the decoder and their pipeline context were about 600 bytes of
/// every idle connection (heaptrack, 4,000 held connections), more than an eighth of it. This
/// reader holds nothing between frames: an idle connection keeps no buffer here.
package struct WebSocketFrameReader {
    /// A frame the connection must be failed for.
    package enum Failure: Error, Equatable {
        /// Longer than `maxFrameSize` (close 1009).
        case tooLarge
        /// A control frame that is fragmented or longer than 125 bytes (close 1002).
        case badControlFrame
    }

    /// The longest payload accepted (`max_frame`).
    package let maxFrameSize: Int
    /// Bytes read that do not make a whole frame yet (nil when there are none).
    private var pending: ByteBuffer?

    /// Creates a reader.
    ///
    /// - Parameters:
    ///   - maxFrameSize: the longest payload accepted.
    package init(maxFrameSize: Int) {
        self.maxFrameSize = maxFrameSize
    }

    /// Whether bytes of an incomplete frame are held.
    package var hasPartialFrame: Bool { pending != nil }

    /// Adds bytes read from the socket.
    ///
    /// - Parameters:
    ///   - bytes: the bytes, in order after the earlier ones.
    package mutating func append(_ bytes: ByteBuffer) {
        guard bytes.readableBytes > 0 else { return }
        if var held = pending {
            pending = nil  // one reference, so the write below does not copy what is held
            var more = bytes
            held.writeBuffer(&more)
            pending = held
        } else {
            pending = bytes
        }
    }

    /// The next complete frame, or nil until more bytes arrive. Its payload is still masked
    /// (`unmaskedData` unmasks it).
    ///
    /// - Throws: `Failure` for a frame the connection must be failed for.
    package mutating func next() throws(Failure) -> WebSocketFrame? {
        guard var buffer = pending, buffer.readableBytes >= 2 else { return nil }
        let start = buffer.readerIndex
        let first = buffer.getInteger(at: start, as: UInt8.self)!
        let second = buffer.getInteger(at: start + 1, as: UInt8.self)!
        var offset = start + 2
        var length = UInt64(second & 0x7F)
        if length == 126 {
            guard let word = buffer.getInteger(at: offset, as: UInt16.self) else { return nil }
            length = UInt64(word)
            offset += 2
        } else if length == 127 {
            guard let quad = buffer.getInteger(at: offset, as: UInt64.self) else { return nil }
            length = quad
            offset += 8
        }
        guard length <= UInt64(maxFrameSize) else { throw .tooLarge }
        let isControl = first & 0x08 != 0
        if isControl, first & 0x80 == 0 || length > 125 { throw .badControlFrame }
        var maskKey: WebSocketMaskingKey?
        if second & 0x80 != 0 {
            guard let key = buffer.getBytes(at: offset, length: 4) else { return nil }
            maskKey = WebSocketMaskingKey(key)
            offset += 4
        }
        guard let data = buffer.getSlice(at: offset, length: Int(length)) else { return nil }
        buffer.moveReaderIndex(to: offset + Int(length))
        pending = buffer.readableBytes == 0 ? nil : buffer
        return WebSocketFrame(
            fin: first & 0x80 != 0,
            rsv1: first & 0x40 != 0,
            rsv2: first & 0x20 != 0,
            rsv3: first & 0x10 != 0,
            opcode: WebSocketOpcode(encodedWebSocketOpcode: first & 0x0F)!,
            maskKey: maskKey,
            data: data
        )
    }
}
