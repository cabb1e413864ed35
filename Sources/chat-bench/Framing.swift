import NIOCore

/// One unit read from a server: a WebSocket message, a RESP value or an IRC line.
struct WireUnit: Sendable {
    /// The HTTP response head that precedes WebSocket frames.
    static let httpHead: UInt8 = 0xFF

    /// WebSocket opcode (0x1 for RESP values and IRC lines, `httpHead` for the upgrade response).
    let opcode: UInt8
    /// The payload (WebSocket), the whole value (RESP) or the line without CR LF (IRC).
    let bytes: ByteBuffer

    var text: String { String(buffer: bytes) }

    /// Whether the unit contains these ASCII bytes.
    func contains(_ needle: StaticString) -> Bool {
        bytes.withUnsafeReadableBytes { haystack in
            let n = needle.utf8CodeUnitCount
            guard n > 0, haystack.count >= n else { return false }
            let first = needle.utf8Start[0]
            for i in 0...(haystack.count - n) where haystack[i] == first {
                var j = 1
                while j < n, haystack[i + j] == needle.utf8Start[j] { j += 1 }
                if j == n { return true }
            }
            return false
        }
    }

    /// Whether the unit starts with these ASCII bytes.
    func hasPrefix(_ prefix: StaticString) -> Bool {
        bytes.withUnsafeReadableBytes { bytes in
            let n = prefix.utf8CodeUnitCount
            guard bytes.count >= n else { return false }
            for i in 0..<n where bytes[i] != prefix.utf8Start[i] { return false }
            return true
        }
    }

    /// The benchmark marker `^^<index>,<nanoseconds>,` in a payload, if present.
    var marker: (index: Int, nanoseconds: UInt64)? {
        bytes.withUnsafeReadableBytes { p -> (Int, UInt64)? in
            let caret = UInt8(ascii: "^")
            var i = 0
            while i + 1 < p.count {
                if p[i] == caret, p[i + 1] == caret {
                    var j = i + 2
                    var index = 0
                    while j < p.count, p[j] >= 48, p[j] <= 57 {
                        index = index * 10 + Int(p[j] - 48)
                        j += 1
                    }
                    guard j < p.count, p[j] == UInt8(ascii: ","), j > i + 2 else { return nil }
                    j += 1
                    var ns: UInt64 = 0
                    while j < p.count, p[j] >= 48, p[j] <= 57 {
                        ns = ns &* 10 &+ UInt64(p[j] - 48)
                        j += 1
                    }
                    return (index, ns)
                }
                i += 1
            }
            return nil
        }
    }
}

/// Cuts a connection's inbound bytes into `WireUnit`s.
struct Framer {
    enum Kind {
        /// HTTP upgrade response, then RFC 6455 frames.
        case webSocket
        /// RESP2/RESP3 values.
        case resp
        /// CR LF (or LF) terminated lines.
        case lines
    }

    private let kind: Kind
    private var upgraded: Bool
    private var buffer = ByteBuffer()

    init(_ protocolKind: BenchProtocol) {
        switch protocolKind {
        case .chat: kind = .webSocket
        case .redis: kind = .resp
        case .irc: kind = .lines
        }
        upgraded = kind != .webSocket
    }

    /// Adds bytes read from the socket.
    mutating func append(_ incoming: inout ByteBuffer) {
        if buffer.readableBytes == 0 {
            buffer = incoming
        } else {
            buffer.writeBuffer(&incoming)
        }
    }

    /// The next complete unit, or nil until more bytes arrive.
    mutating func next() -> WireUnit? {
        guard buffer.readableBytes > 0 else { return nil }
        if !upgraded {
            guard let end = find("\r\n\r\n") else { return nil }
            upgraded = true
            return buffer.readSlice(length: end + 4).map { WireUnit(opcode: WireUnit.httpHead, bytes: $0) }
        }
        switch kind {
        case .webSocket: return nextFrame()
        case .resp:
            guard let length = respLength(at: 0) else { return nil }
            return buffer.readSlice(length: length).map { WireUnit(opcode: 0x1, bytes: $0) }
        case .lines:
            guard let end = find("\n") else { return nil }
            var line = buffer.readSlice(length: end + 1)!
            let trim = end > 0 && line.getInteger(at: line.readerIndex + end - 1, as: UInt8.self) == 13 ? 2 : 1
            line.moveWriterIndex(to: line.writerIndex - trim)
            return WireUnit(opcode: 0x1, bytes: line)
        }
    }

    /// Drops consumed bytes once a good share of the buffer is consumed.
    mutating func compact() {
        if buffer.readableBytes == 0 {
            buffer.clear()
        } else if buffer.readerIndex > 65_536 {
            buffer.discardReadBytes()
        }
    }

    private mutating func nextFrame() -> WireUnit? {
        let start = buffer.readerIndex
        guard let b0: UInt8 = buffer.getInteger(at: start), let b1: UInt8 = buffer.getInteger(at: start + 1) else {
            return nil
        }
        var header = 2
        var length = Int(b1 & 0x7F)
        if length == 126 {
            guard let l: UInt16 = buffer.getInteger(at: start + 2) else { return nil }
            length = Int(l)
            header += 2
        } else if length == 127 {
            guard let l: UInt64 = buffer.getInteger(at: start + 2) else { return nil }
            length = Int(l)
            header += 8
        }
        let masked = b1 & 0x80 != 0
        if masked { header += 4 }
        guard buffer.readableBytes >= header + length else { return nil }
        var mask: [UInt8] = []
        if masked { mask = buffer.getBytes(at: start + header - 4, length: 4) ?? [] }
        buffer.moveReaderIndex(forwardBy: header)
        var payload = buffer.readSlice(length: length)!
        if masked {
            // Servers never mask; unmask anyway so a unit is always plain text.
            var bytes = payload.readBytes(length: length) ?? []
            for i in bytes.indices { bytes[i] ^= mask[i & 3] }
            payload = ByteBuffer(bytes: bytes)
        }
        return WireUnit(opcode: b0 & 0x0F, bytes: payload)
    }

    /// Offset (from the reader index) of the first occurrence of an ASCII needle.
    private func find(_ needle: StaticString) -> Int? {
        buffer.withUnsafeReadableBytes { p -> Int? in
            let n = needle.utf8CodeUnitCount
            guard p.count >= n else { return nil }
            let first = needle.utf8Start[0]
            for i in 0...(p.count - n) where p[i] == first {
                var j = 1
                while j < n, p[i + j] == needle.utf8Start[j] { j += 1 }
                if j == n { return i }
            }
            return nil
        }
    }

    /// Byte length of the complete RESP value starting at `offset` (from the reader index), or nil.
    private func respLength(at offset: Int) -> Int? {
        buffer.withUnsafeReadableBytes { p in Self.respEnd(p, offset, depth: 0) }.map { $0 - offset }
    }

    private static func respEnd(_ p: UnsafeRawBufferPointer, _ offset: Int, depth: Int) -> Int? {
        guard offset < p.count, depth < 8 else { return nil }
        var lineEnd = offset + 1
        while lineEnd + 1 < p.count, !(p[lineEnd] == 13 && p[lineEnd + 1] == 10) { lineEnd += 1 }
        guard lineEnd + 1 < p.count else { return nil }
        let afterLine = lineEnd + 2
        func number() -> Int {
            var i = offset + 1
            var negative = false
            if i < lineEnd, p[i] == UInt8(ascii: "-") {
                negative = true
                i += 1
            }
            var value = 0
            while i < lineEnd {
                value = value * 10 + Int(p[i] &- 48)
                i += 1
            }
            return negative ? -value : value
        }
        switch p[offset] {
        case UInt8(ascii: "$"), UInt8(ascii: "="), UInt8(ascii: "!"):
            let length = number()
            if length < 0 { return afterLine }
            return afterLine + length + 2 <= p.count ? afterLine + length + 2 : nil
        case UInt8(ascii: "*"), UInt8(ascii: ">"), UInt8(ascii: "~"), UInt8(ascii: "%"):
            var count = number()
            if p[offset] == UInt8(ascii: "%") { count *= 2 }
            var end = afterLine
            for _ in 0..<max(0, count) {
                guard let next = respEnd(p, end, depth: depth + 1) else { return nil }
                end = next
            }
            return end
        default:
            return afterLine
        }
    }
}
