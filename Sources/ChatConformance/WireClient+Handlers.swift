import ChatCore
import NIOCore
import NIOPosix
import Synchronization

final class Handshake: Sendable {
    private let state = Mutex<(Int?, [EventLoopPromise<Int>])>((nil, []))
    var status: Handshake { self }

    func futureResult(on loop: any EventLoop) -> EventLoopFuture<Int> {
        let promise = loop.makePromise(of: Int.self)
        let done: Int? = state.withLock { s in
            if let status = s.0 { return status }
            s.1.append(promise)
            return nil
        }
        if let done { promise.succeed(done) }
        return promise.futureResult
    }

    func complete(_ status: Int) {
        let waiters = state.withLock { s -> [EventLoopPromise<Int>] in
            s.0 = status
            defer { s.1 = [] }
            return s.1
        }
        for waiter in waiters { waiter.succeed(status) }
    }
}

/// Whether the reader answers pings itself, on the event loop, the moment they arrive (as a
/// real client does), instead of handing them to whoever reads the frames next.
final class PingPolicy: Sendable {
    let answersAtOnce = Atomic<Bool>(false)
}

/// Parses the HTTP upgrade response, then server frames, into an AsyncStream.
final class FrameReader: ChannelInboundHandler, @unchecked Sendable {
    // @unchecked: used only on its channel's event loop.
    typealias InboundIn = ByteBuffer

    let continuation: AsyncStream<WireFrame>.Continuation
    let handshake: Handshake
    let pings: PingPolicy
    var buffer = ByteBuffer()
    var upgraded = false
    var fragments: [UInt8] = []
    var fragmentOpcode: UInt8 = 0

    init(continuation: AsyncStream<WireFrame>.Continuation, handshake: Handshake, pings: PingPolicy) {
        self.continuation = continuation
        self.handshake = handshake
        self.pings = pings
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var incoming = unwrapInboundIn(data)
        buffer.writeBuffer(&incoming)
        if !upgraded {
            let view = buffer.readableBytesView
            guard let end = view.firstRange(of: Array("\r\n\r\n".utf8)) else { return }
            let length = end.upperBound - view.startIndex
            let head = buffer.readString(length: length) ?? ""
            let status = Int(head.split(separator: " ").dropFirst().first ?? "") ?? 0
            upgraded = true
            handshake.complete(status)
            if status != 101 { return }
        }
        while let frame = parseFrame() {
            if case .ping(let payload) = frame, pings.answersAtOnce.load(ordering: .relaxed) {
                var pong = context.channel.allocator.buffer(capacity: payload.count + 6)
                WireClient.appendFrame(to: &pong, opcode: 0xA, payload: payload)
                context.writeAndFlush(NIOAny(pong), promise: nil)
                continue
            }
            continuation.yield(frame)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        if !upgraded { handshake.complete(0) }
        continuation.yield(.eof)
        continuation.finish()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    private func parseFrame() -> WireFrame? {
        while let frame = buffer.readWebSocketFrame() {
            let payload = frame.payload
            let fin = frame.fin
            let opcode = frame.opcode
            switch opcode {
            case 0x0:
                fragments += payload
                if fin { return dataFrame(fragmentOpcode, fragments) }
            case 0x1, 0x2:
                if fin { return dataFrame(opcode, payload) }
                fragmentOpcode = opcode
                fragments = payload
            case 0x8:
                let code = payload.count >= 2 ? UInt16(payload[0]) << 8 | UInt16(payload[1]) : nil
                let reason = payload.count > 2 ? String(decoding: payload[2...], as: UTF8.self) : ""
                return .close(code: code, reason: reason)
            case 0x9: return .ping(payload)
            case 0xA: return .pong(payload)
            default: return .binary(payload)
            }
        }
        return nil
    }

    private func dataFrame(_ opcode: UInt8, _ payload: [UInt8]) -> WireFrame {
        opcode == 0x1 ? .text(String(decoding: payload, as: UTF8.self)) : .binary(payload)
    }
}
