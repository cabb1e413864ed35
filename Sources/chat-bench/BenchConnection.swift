import NIOCore
import NIOPosix

/// What a setup step makes of a unit it was waiting for.
enum UnitMatch: Sendable {
    /// Not the one; keep waiting.
    case skip
    /// The awaited unit.
    case done
    /// The server refused; give up with this reason.
    case fail(String)
}

/// The per-connection NIO handler of the load generator. It lives on the single event loop of
/// the benchmark: during setup it hands the awaited unit to a promise, while measuring it
/// reports delivered markers to the `FanoutRun` without leaving the loop.
final class BenchHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    enum Role {
        /// Running its setup script; unawaited units are dropped.
        case setup
        /// Counting deliveries.
        case subscriber
        /// Sending; watching replies for errors.
        case publisher
        /// Held open; answering pings only.
        case idle
        /// Sending durable messages (`senderIndex`); counting the `ok` replies.
        case sender
    }

    let kind: BenchProtocol
    var role = Role.setup
    var run: FanoutRun?
    var durable: DurableRun?
    var senderIndex = 0
    private var framer: Framer
    private var waiter: (id: Int, match: @Sendable (WireUnit) -> UnitMatch, promise: EventLoopPromise<String>)?
    private var nextWaiterID = 0
    private(set) var isOpen = true

    init(kind: BenchProtocol) {
        self.kind = kind
        self.framer = Framer(kind)
    }

    /// Waits for a unit that `match` accepts; call on the event loop before writing the request.
    func expect(
        on loop: any EventLoop,
        timeout: TimeAmount,
        _ match: @escaping @Sendable (WireUnit) -> UnitMatch
    ) -> EventLoopFuture<String> {
        let promise = loop.makePromise(of: String.self)
        guard isOpen else {
            promise.fail(BenchError("connection closed"))
            return promise.futureResult
        }
        nextWaiterID += 1
        let id = nextWaiterID
        waiter?.promise.fail(BenchError("superseded"))
        waiter = (id, match, promise)
        let bound = NIOLoopBound(self, eventLoop: loop)
        let timer = loop.scheduleTask(in: timeout) {
            let handler = bound.value
            guard let waiter = handler.waiter, waiter.id == id else { return }
            handler.waiter = nil
            waiter.promise.fail(BenchError("no answer within \(timeout.nanoseconds / 1_000_000) ms"))
        }
        promise.futureResult.whenComplete { _ in timer.cancel() }
        return promise.futureResult
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var incoming = unwrapInboundIn(data)
        framer.append(&incoming)
        let now = role == .subscriber || role == .sender ? NIODeadline.now().uptimeNanoseconds : 0
        while let unit = framer.next() {
            handle(unit, context: context, now: now)
        }
        framer.compact()
    }

    private func handle(_ unit: WireUnit, context: ChannelHandlerContext, now: UInt64) {
        switch role {
        case .subscriber:
            if let (index, sent) = unit.marker {
                run?.delivered(index: index, sentNanoseconds: sent, now: now)
                return
            }
        case .publisher:
            if kind == .chat, unit.opcode == 0x1, unit.contains("\"type\":\"error\"") {
                run?.publishFailed(unit.text)
            } else if kind == .redis, unit.hasPrefix("-") {
                run?.publishFailed(unit.text)
            } else if kind == .irc, unit.contains(" 404 ") || unit.hasPrefix("ERROR") {
                run?.publishFailed(unit.text)
            }
        case .setup:
            if let waiter {
                switch waiter.match(unit) {
                case .skip: break
                case .done:
                    self.waiter = nil
                    waiter.promise.succeed(unit.text)
                case .fail(let reason):
                    self.waiter = nil
                    waiter.promise.fail(BenchError(reason))
                }
            }
        case .sender:
            // Only `ok` and `error` replies carry the marker (in the request id).
            if unit.opcode == 0x1, unit.contains("\"type\":\"error\"") {
                durable?.failed(unit.text)
            } else if unit.opcode == 0x1, let (_, sent) = unit.marker {
                durable?.acknowledged(sender: senderIndex, sentNanoseconds: sent, now: now)
            }
        case .idle:
            break
        }
        answerKeepAlive(unit, context: context)
    }

    /// Answers WebSocket pings and IRC PINGs so idle connections stay open.
    private func answerKeepAlive(_ unit: WireUnit, context: ChannelHandlerContext) {
        switch kind {
        case .chat where unit.opcode == 0x9:
            var frame = context.channel.allocator.buffer(capacity: unit.bytes.readableBytes + 6)
            WebSocketClientFrame.write(opcode: 0xA, payload: unit.bytes, into: &frame)
            context.writeAndFlush(wrapOutboundOut(frame), promise: nil)
        case .irc where unit.hasPrefix("PING"):
            var line = context.channel.allocator.buffer(capacity: unit.bytes.readableBytes + 2)
            line.writeString("PONG")
            var rest = unit.bytes
            rest.moveReaderIndex(forwardBy: 4)
            line.writeBuffer(&rest)
            line.writeString("\r\n")
            context.writeAndFlush(wrapOutboundOut(line), promise: nil)
        default:
            break
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        isOpen = false
        if let waiter {
            self.waiter = nil
            waiter.promise.fail(BenchError("connection closed by the server"))
        }
        if role == .subscriber || role == .publisher { run?.connectionLost() }
        if role == .sender { durable?.connectionLost() }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}

/// Client-side WebSocket frames (masked with a zero key: valid, and the XOR is a no-op).
enum WebSocketClientFrame {
    /// Appends one final frame.
    static func write(opcode: UInt8, payload: ByteBuffer, into buffer: inout ByteBuffer) {
        writeHeader(opcode: opcode, length: payload.readableBytes, into: &buffer)
        var payload = payload
        buffer.writeBuffer(&payload)
    }

    /// Appends the header of one final frame of `length` payload bytes.
    static func writeHeader(opcode: UInt8, length: Int, into buffer: inout ByteBuffer) {
        buffer.writeInteger(0x80 | opcode)
        if length < 126 {
            buffer.writeInteger(UInt8(0x80 | length))
        } else if length <= 0xFFFF {
            buffer.writeInteger(UInt8(0x80 | 126))
            buffer.writeInteger(UInt16(length))
        } else {
            buffer.writeInteger(UInt8(0x80 | 127))
            buffer.writeInteger(UInt64(length))
        }
        buffer.writeInteger(UInt32(0))
    }
}

/// One load-generator connection, usable from async code: writes go through the channel,
/// handler state is reached on the event loop.
struct BenchConnection: Sendable {
    let channel: any Channel
    let handler: NIOLoopBound<BenchHandler>

    /// Opens a TCP connection (TCP_NODELAY) on the benchmark's event loop.
    static func open(_ kind: BenchProtocol, _ target: BenchTarget, on loop: any EventLoop) async throws -> Self {
        let channel = try await ClientBootstrap(group: loop)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .connectTimeout(.seconds(10))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(BenchHandler(kind: kind))
                }
            }
            .connect(host: target.host, port: target.port)
            .get()
        let handler = try await channel.eventLoop.submit {
            NIOLoopBound(
                try channel.pipeline.syncOperations.handler(type: BenchHandler.self),
                eventLoop: channel.eventLoop
            )
        }.get()
        return Self(channel: channel, handler: handler)
    }

    /// Writes `request` (if any) and waits for the first unit `match` accepts; returns it as text.
    func exchange(
        _ request: ByteBuffer?,
        timeout: TimeAmount = .seconds(30),
        until match: @escaping @Sendable (WireUnit) -> UnitMatch
    ) async throws -> String {
        let handler = self.handler
        let channel = self.channel
        let future = try await channel.eventLoop.submit {
            let reply = handler.value.expect(on: channel.eventLoop, timeout: timeout, match)
            if let request { channel.writeAndFlush(request, promise: nil) }
            return reply
        }.get()
        return try await future.get()
    }

    /// Writes bytes without waiting for anything.
    func send(_ bytes: ByteBuffer) async throws {
        try await channel.writeAndFlush(bytes).get()
    }

    /// Closes the connection (no close handshake).
    func close() {
        channel.close(promise: nil)
    }
}
