import NIOCore

/// One WebSocket frame as it arrived, its payload unmasked.
struct ParsedFrame {
    /// The first header byte: FIN, RSV1–3, opcode.
    let header: UInt8
    let payload: [UInt8]
    let masked: Bool

    var fin: Bool { header & 0x80 != 0 }
    var opcode: UInt8 { header & 0x0F }
    var rsv: UInt8 { (header >> 4) & 0x7 }
}

extension ByteBuffer {
    /// Takes one whole WebSocket frame off the front of the buffer (RFC 6455 §5.2); nil, with
    /// nothing taken, while it has not all arrived.
    mutating func readWebSocketFrame() -> ParsedFrame? {
        let start = readerIndex
        guard let b0: UInt8 = getInteger(at: start), let b1: UInt8 = getInteger(at: start + 1) else { return nil }
        var offset = start + 2
        var length = Int(b1 & 0x7F)
        if length == 126 {
            guard let l: UInt16 = getInteger(at: offset) else { return nil }
            length = Int(l)
            offset += 2
        } else if length == 127 {
            guard let l: UInt64 = getInteger(at: offset), l < 1 << 40 else { return nil }
            length = Int(l)
            offset += 8
        }
        var key: [UInt8]?
        if b1 & 0x80 != 0 {
            guard let k = getBytes(at: offset, length: 4) else { return nil }
            key = k
            offset += 4
        }
        guard var payload = getBytes(at: offset, length: length) else { return nil }
        moveReaderIndex(to: offset + length)
        discardReadBytes()
        if let key { for i in payload.indices { payload[i] ^= key[i & 3] } }
        return ParsedFrame(header: b0, payload: payload, masked: key != nil)
    }
}
