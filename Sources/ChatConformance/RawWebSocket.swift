import NIOCore
import NIOPosix

/// One WebSocket frame, bit for bit as RFC 6455 §5.2 lays it out: any opcode, any reserved
/// bits, masked or not, final or not, any payload — also the frames the RFC forbids, which
/// is what the `websocket` cases send.
package struct RawFrame: Sendable, Equatable, CustomStringConvertible {
    /// The FIN bit: the last fragment of a message.
    package var fin: Bool
    /// The three reserved bits, RSV1 = 4, RSV2 = 2, RSV3 = 1.
    package var rsv: UInt8
    /// The 4-bit opcode.
    package var opcode: UInt8
    /// Whether the frame is (to be) masked with a random key.
    package var masked: Bool
    /// The payload, unmasked.
    package var payload: [UInt8]

    /// Creates a frame.
    ///
    /// - Parameters:
    ///   - opcode: 0x0 continuation, 0x1 text, 0x2 binary, 0x8 close, 0x9 ping, 0xA pong, or a reserved one.
    ///   - payload: payload bytes.
    ///   - fin: the FIN bit.
    ///   - rsv: reserved bits (RSV1 = 4, RSV2 = 2, RSV3 = 1).
    ///   - masked: whether to mask the payload (clients must).
    package init(_ opcode: UInt8, _ payload: [UInt8] = [], fin: Bool = true, rsv: UInt8 = 0, masked: Bool = true) {
        self.fin = fin
        self.rsv = rsv
        self.opcode = opcode
        self.masked = masked
        self.payload = payload
    }

    /// A text frame.
    ///
    /// - Parameters:
    ///   - text: the text (UTF-8).
    ///   - fin: the FIN bit.
    package static func text(_ text: String, fin: Bool = true) -> RawFrame { RawFrame(0x1, Array(text.utf8), fin: fin) }

    /// A continuation frame.
    ///
    /// - Parameters:
    ///   - text: the payload (UTF-8).
    ///   - fin: the FIN bit.
    package static func continuation(_ text: String, fin: Bool = true) -> RawFrame {
        RawFrame(0x0, Array(text.utf8), fin: fin)
    }

    /// A close frame with a code and a reason.
    ///
    /// - Parameters:
    ///   - code: the close code.
    ///   - reason: reason bytes.
    package static func close(_ code: UInt16, reason: [UInt8] = []) -> RawFrame {
        RawFrame(0x8, [UInt8(code >> 8), UInt8(code & 0xFF)] + reason)
    }

    /// The frame on the wire (with a fresh random masking key when masked).
    package var encoded: [UInt8] {
        var bytes: [UInt8] = [(fin ? 0x80 : 0) | (rsv & 0x7) << 4 | (opcode & 0xF)]
        let maskBit: UInt8 = masked ? 0x80 : 0
        if payload.count < 126 {
            bytes.append(maskBit | UInt8(payload.count))
        } else if payload.count <= 0xFFFF {
            bytes.append(maskBit | 126)
            bytes += [UInt8(payload.count >> 8), UInt8(payload.count & 0xFF)]
        } else {
            bytes.append(maskBit | 127)
            bytes += (0..<8).reversed().map { UInt8(truncatingIfNeeded: UInt64(payload.count) >> (8 * UInt64($0))) }
        }
        guard masked else { return bytes + payload }
        let key: [UInt8] = (0..<4).map { _ in UInt8.random(in: 0...255) }
        bytes += key
        bytes += payload.enumerated().map { $0.element ^ key[$0.offset & 3] }
        return bytes
    }

    /// The close code of a close frame's payload, if it has one.
    package var closeCode: UInt16? {
        payload.count >= 2 ? UInt16(payload[0]) << 8 | UInt16(payload[1]) : nil
    }

    package var description: String {
        let names: [UInt8: String] = [0: "continuation", 1: "text", 2: "binary", 8: "close", 9: "ping", 10: "pong"]
        var text = names[opcode] ?? "opcode \(opcode)"
        if opcode == 0x8 {
            text += closeCode.map { " \($0)" } ?? " (no code)"
        } else if opcode == 0x1, let s = String(validating: payload.prefix(200), as: UTF8.self) {
            text += " \(s)"
        } else {
            text += " (\(payload.count) bytes)"
        }
        if !fin { text += " (not final)" }
        if rsv != 0 { text += " (rsv \(rsv))" }
        if masked { text += " (masked)" }
        return text
    }
}

/// A WebSocket connection that writes frames exactly as given (``RawFrame``), in one TCP
/// write or chopped into pieces, and reads the server's frames one by one, unassembled and
/// unanswered (a ping stays a ping), with a deadline on each read.
package final class RawWebSocket {
    private enum Event: Sendable {
        case upgraded(Int)
        case frame(RawFrame)
        case eof
        case timeout(Int)
    }

    private let channel: any Channel
    private let continuation: AsyncStream<Event>.Continuation
    private var events: AsyncStream<Event>.AsyncIterator
    private var reads = 0

    private init(channel: any Channel, events: AsyncStream<Event>, continuation: AsyncStream<Event>.Continuation) {
        self.channel = channel
        self.events = events.makeAsyncIterator()
        self.continuation = continuation
    }

    deinit {
        channel.close(promise: nil)
    }

    /// Opens a connection and completes the WebSocket upgrade.
    ///
    /// - Parameters:
    ///   - url: the server's `ws://host:port[/path]` URL.
    package static func connect(url: String) async throws -> RawWebSocket {
        let (host, port, path) = try WireClient.parse(url: url)
        let (stream, continuation) = AsyncStream.makeStream(of: Event.self)
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(RawFrameReader(continuation))
                }
            }
            .connect(host: host, port: port)
            .get()
        let socket = RawWebSocket(channel: channel, events: stream, continuation: continuation)
        var request = "GET \(path) HTTP/1.1\r\nHost: \(host):\(port)\r\nUpgrade: websocket\r\n"
        request += "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        request += "Sec-WebSocket-Version: 13\r\n\r\n"
        try await channel.writeAndFlush(ByteBuffer(string: request)).get()
        switch await socket.nextEvent(timeout: .seconds(10)) {
        case .upgraded(101): return socket
        case .upgraded(let status): throw WireError("WebSocket upgrade refused with HTTP \(status)")
        default: throw WireError("no answer to the WebSocket upgrade")
        }
    }

    /// Writes one frame.
    ///
    /// - Parameters:
    ///   - frame: the frame.
    ///   - chop: write it in pieces of this many bytes, each flushed on its own (nil: one write).
    package func write(_ frame: RawFrame, chop: Int? = nil) async throws {
        let bytes = frame.encoded
        guard let chop, chop > 0 else {
            try await channel.writeAndFlush(ByteBuffer(bytes: bytes)).get()
            return
        }
        var start = 0
        while start < bytes.count {
            let end = min(start + chop, bytes.count)
            try await channel.writeAndFlush(ByteBuffer(bytes: bytes[start..<end])).get()
            start = end
        }
    }

    /// The next frame from the server: nil when the connection ended.
    ///
    /// - Parameters:
    ///   - timeout: longest wait; then `WireError`.
    package func next(timeout: Duration) async throws -> RawFrame? {
        switch await nextEvent(timeout: timeout) {
        case .frame(let frame): return frame
        case .eof: return nil
        case .timeout: throw WireError("nothing from the server within \(timeout)")
        case .upgraded: throw WireError("a second HTTP response")
        }
    }

    /// Closes the TCP connection.
    package func disconnect() async {
        try? await channel.close().get()
    }

    private func nextEvent(timeout: Duration) async -> Event {
        reads += 1
        let read = reads
        let continuation = self.continuation
        let timer = channel.eventLoop.scheduleTask(in: .nanoseconds(Int64(timeout / .nanoseconds(1)))) {
            continuation.yield(.timeout(read))
        }
        defer { timer.cancel() }
        while let event = await events.next() {
            if case .timeout(let n) = event, n != read { continue }
            return event
        }
        return .eof
    }

    /// Parses the HTTP response, then frames, into events.
    private final class RawFrameReader: ChannelInboundHandler, @unchecked Sendable {
        // @unchecked: touched only on its channel's event loop.
        typealias InboundIn = ByteBuffer

        private let continuation: AsyncStream<Event>.Continuation
        private var buffer = ByteBuffer()
        private var upgraded = false

        init(_ continuation: AsyncStream<Event>.Continuation) {
            self.continuation = continuation
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            var incoming = unwrapInboundIn(data)
            buffer.writeBuffer(&incoming)
            if !upgraded {
                let view = buffer.readableBytesView
                guard let end = view.firstRange(of: Array("\r\n\r\n".utf8)) else { return }
                let head = buffer.readString(length: end.upperBound - view.startIndex) ?? ""
                upgraded = true
                continuation.yield(.upgraded(Int(head.split(separator: " ").dropFirst().first ?? "") ?? 0))
            }
            while let frame = parseFrame() { continuation.yield(.frame(frame)) }
        }

        func channelInactive(context: ChannelHandlerContext) {
            continuation.yield(.eof)
            continuation.finish()
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            context.close(promise: nil)
        }

        private func parseFrame() -> RawFrame? {
            guard let frame = buffer.readWebSocketFrame() else { return nil }
            return RawFrame(frame.opcode, frame.payload, fin: frame.fin, rsv: frame.rsv, masked: frame.masked)
        }
    }
}
