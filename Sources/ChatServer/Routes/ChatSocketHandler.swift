import ChatCore
import Logging
import NIOCore
import NIOWebSocket
import Synchronization

/// Runs one chat WebSocket connection inside the channel pipeline (after NIOWebSocket's
/// frame encoder), on the connection's event loop:
///
/// - cuts the socket's bytes into frames (`WebSocketFrameReader`: a frame longer than
///   `max_frame` closes 1009, a fragmented or long control frame 1002);
/// - reassembles fragmented messages up to `max_frame` bytes (more: close 1009), checks
///   that text is UTF-8 as its fragments arrive (otherwise close 1007), and hands each
///   message to a `RequestPump`, which answers the connection's requests in order;
/// - fails the connection with 1002 on what else RFC 6455 forbids: a reserved bit set (no extension is negotiated), an unmasked frame, an unknown
///   opcode, a continuation without a message or a new message inside one, a close frame
///   with a 1-byte payload or a code no peer may send (a close reason that is not UTF-8: 1007);
/// - answers pings; pings the client every `pingInterval` (with the other connections of its
///   event loop, `PingTimer`) and closes it (1001) when the previous ping got no pong;
/// - runs the close handshake: echoes a client's valid close code; after a server close (sent through
///   `sendClose`), closes the socket when the client answers or `closeTimeout` passes;
/// - stops reading while the pump has a backlog (backpressure on a pipelining client).
///
/// Replies and events do not pass through here: `Connection` writes them below the encoder.
final class ChatSocketHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    private let connections: ConnectionHandler
    private let logger: Logger
    private var context: ChannelHandlerContext?
    private var pump: RequestPump?
    /// A fragmented message being reassembled, and its opcode.
    private var partial: ByteBuffer?
    /// Cuts the socket's bytes into frames (see `WebSocketFrameReader` for why not a decoder handler).
    private var reader: WebSocketFrameReader
    /// A frame was refused: nothing more is read.
    private var readerFailed = false
    private var partialIsText = false
    /// Checks a fragmented text message as its fragments arrive.
    private var partialUTF8 = UTF8Validator()
    private var closeSent = false
    private var closeReceived = false
    private var awaitingPong = false
    /// Pings this connection with the others of its event loop.
    private var pinger: PingTimer?
    /// The connection's id (0 until `handlerAdded`), for log lines.
    private var connID: UInt64 = 0
    /// A `read` was held back while the pump had a backlog.
    private var readHeld = false

    /// The client's address (behind a trusted proxy, the one it forwarded).
    private let address: String

    init(connections: ConnectionHandler, address: String, logger: Logger) {
        self.connections = connections
        self.address = address
        self.logger = logger
        self.reader = WebSocketFrameReader(maxFrameSize: connections.configuration.limits.maxFrame)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        let configuration = connections.configuration
        let conn = Connection(
            id: ConnectionHandler.nextID.add(1, ordering: .relaxed).oldValue,
            channel: context.channel,
            address: address,
            queueLimit: configuration.outboundQueueLimit,
            closeTimeout: .nanoseconds(configuration.closeTimeout.nanoseconds),
            budget: connections.budget,
            observer: connections.observer,
            metrics: connections.metrics
        )
        connID = conn.subscriberID
        // The logger is shared, not copied with this connection's id as metadata (a copy per
        // connection was a storage object, a box and a dictionary): each line names the id.
        let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
        pump = RequestPump(connections: connections, conn: conn, logger: logger) {
            // Called by the pump when it took its backlog: read again if a read was held.
            loopBound.value.resumeReading()
        }
        pump?.start()
        let interval = TimeAmount.nanoseconds(configuration.pingInterval.nanoseconds)
        pinger = PingTimer.forLoop(context.eventLoop, interval: interval)
        pinger?.add(self)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        ended()
        self.context = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        ended()
        context.fireChannelInactive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        // The server allows half-closure: the client's FIN arrives as an event, not a close.
        if let event = event as? ChannelEvent, event == .inputClosed {
            context.close(promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    private func ended() {
        pinger?.remove(self)
        pinger = nil
        pump?.end()
        pump = nil
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        logger.trace("connection error", metadata: ["chat.conn.id": "\(connID)", "error": "\(error)"])
        context.close(promise: nil)
    }

    // MARK: Inbound

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !readerFailed else { return }
        reader.append(unwrapInboundIn(data))
        while true {
            let frame: WebSocketFrame?
            do {
                frame = try reader.next()
            } catch {
                return refuse(context, error)
            }
            guard let frame else { return }
            frameRead(context, frame)
        }
    }

    /// Fails the connection for a frame the reader refused, as for any other protocol failure
    /// (RFC 6455 §7.4.1: 1009 too large, 1002 a bad control frame); what the client sends after
    /// it is not read as frames.
    private func refuse(_ context: ChannelHandlerContext, _ failure: WebSocketFrameReader.Failure) {
        readerFailed = true
        logger.debug("WebSocket protocol error", metadata: ["chat.conn.id": "\(connID)", "chat.reason": "\(failure)"])
        switch failure {
        case .tooLarge: fail(.messageTooLarge, reason: "frame larger than max_frame")
        case .badControlFrame: fail(.protocolError, reason: "control frame fragmented or over 125 bytes")
        }
    }

    private func frameRead(_ context: ChannelHandlerContext, _ frame: WebSocketFrame) {
        // After our close only the client's close matters (RFC 6455 §5.5.1).
        if closeSent, frame.opcode != .connectionClose { return }
        // No extension is negotiated, so every reserved bit must be 0 (RFC 6455 §5.2).
        guard !frame.rsv1, !frame.rsv2, !frame.rsv3 else {
            return failProtocol(context, "reserved bit set without an extension")
        }
        // A client masks every frame it sends (RFC 6455 §5.1).
        guard frame.maskKey != nil else { return failProtocol(context, "client frame not masked") }
        switch frame.opcode {
        case .text, .binary:
            guard partial == nil else { return failProtocol(context, "a new message began inside a fragmented one") }
            if frame.fin {
                message(context, frame.unmaskedData, isText: frame.opcode == .text)
            } else {
                partial = frame.unmaskedData
                partialIsText = frame.opcode == .text
                partialUTF8 = UTF8Validator()
                if partialIsText, !partialUTF8.feed(frame.unmaskedData.readableBytesView) {
                    return invalidUTF8()
                }
            }
        case .continuation:
            guard var buffer = partial else { return failProtocol(context, "a continuation without a message") }
            partial = nil
            var more = frame.unmaskedData
            guard buffer.readableBytes + more.readableBytes <= connections.configuration.limits.maxFrame else {
                return fail(.messageTooLarge, reason: "message larger than max_frame")
            }
            if partialIsText, !partialUTF8.feed(more.readableBytesView) { return invalidUTF8() }
            buffer.writeBuffer(&more)
            if frame.fin {
                message(context, buffer, isText: partialIsText)
            } else {
                partial = buffer
            }
        case .ping:
            guard !closeSent else { return }
            let pong = WebSocketFrame(fin: true, opcode: .pong, data: frame.unmaskedData)
            context.writeAndFlush(wrapOutboundOut(pong), promise: nil)
        case .pong:
            awaitingPong = false
        case .connectionClose:
            receivedClose(context, frame)
        default:
            failProtocol(context, "unknown opcode")
        }
    }

    private func message(_ context: ChannelHandlerContext, _ buffer: ByteBuffer, isText: Bool) {
        guard !closeSent, !closeReceived, let pump else { return }
        guard isText else {
            pump.push(.binary)
            return
        }
        guard let text = String(validating: buffer.readableBytesView, as: UTF8.self) else { return invalidUTF8() }
        pump.push(.text(text))
    }

    private func receivedClose(_ context: ChannelHandlerContext, _ frame: WebSocketFrame) {
        closeReceived = true
        pump?.end()
        if closeSent {
            context.close(promise: nil)
            return
        }
        // Echo the client's code (RFC 6455 §5.5.1), then close the socket; a malformed close
        // fails the connection instead (§5.5.1, §7.4: 1002; §8.1: a reason that is not UTF-8, 1007).
        var data = frame.unmaskedData
        var reply = context.channel.allocator.buffer(capacity: 2)
        if data.readableBytes == 1 {
            return failProtocol(context, "close payload of 1 byte")
        }
        if let code = data.readInteger(as: UInt16.self) {
            guard Self.isValidCloseCode(code) else { return failProtocol(context, "close code \(code) is not allowed") }
            guard String(validating: data.readableBytesView, as: UTF8.self) != nil else {
                return fail(.dataInconsistentWithMessage, reason: "close reason is not valid UTF-8")
            }
            reply.writeInteger(code)
        }
        closeSent = true
        let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
        context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .connectionClose, data: reply)))
            .whenComplete { _ in loopBound.value.close(promise: nil) }
    }

    /// Whether a peer may send this close code (RFC 6455 §7.4.1 and the IANA registry): the
    /// defined codes except 1004 (reserved) and 1005, 1006 and 1015 (never sent on the wire),
    /// and 3000–4999 for libraries and applications.
    ///
    /// - Parameters:
    ///   - code: the code of a received close frame.
    static func isValidCloseCode(_ code: UInt16) -> Bool {
        switch code {
        case 1000...1003, 1007...1014, 3000...4999: return true
        default: return false
        }
    }

    private func invalidUTF8() {
        fail(.dataInconsistentWithMessage, reason: "text is not valid UTF-8")
    }

    private func failProtocol(_ context: ChannelHandlerContext, _ reason: String) {
        logger.debug("WebSocket protocol error", metadata: ["chat.conn.id": "\(connID)", "chat.reason": "\(reason)"])
        fail(.protocolError, reason: reason)
    }

    // MARK: Outbound

    func read(context: ChannelHandlerContext) {
        if let pump, pump.holdReading() {
            readHeld = true
        } else {
            context.read()
        }
    }

    private func resumeReading() {
        guard readHeld, let context else { return }
        readHeld = false
        context.read()
    }

    /// Pings the client, or closes the connection when the previous ping got no pong
    /// (called by `PingTimer` every ping interval).
    func ping() {
        guard let context, !closeSent else { return }
        if awaitingPong {
            logger.debug("no answer to the previous ping: closing", metadata: ["chat.conn.id": "\(connID)"])
            sendClose(.goingAway, reason: "ping timeout")
            context.close(promise: nil)
            return
        }
        awaitingPong = true
        var data = context.channel.allocator.buffer(capacity: 8)
        data.writeInteger(UInt64.random(in: 0...UInt64.max))
        context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .ping, data: data)), promise: nil)
    }

    /// Fails the connection (RFC 6455 §7.1.7): sends the close frame, then closes the socket
    /// for writing at once, without waiting for the client's close (reading goes on until the
    /// client's close or FIN, so nothing it still sends turns into a reset that could destroy
    /// the close frame on its way).
    private func fail(_ code: WebSocketErrorCode, reason: String) {
        sendClose(code, reason: reason, failing: true)
    }

    /// Sends a close frame (once) after everything written so far. The socket closes when
    /// the client answers it (or at once if the client's close came first); `Connection`
    /// closes it anyway after `closeTimeout`.
    ///
    /// - Parameters:
    ///   - code: the close code.
    ///   - reason: the close reason (UTF-8, cut to fit a control frame).
    ///   - failing: whether the connection is failed (then the socket's output closes after the frame).
    func sendClose(_ code: WebSocketErrorCode, reason: String, failing: Bool = false) {
        guard let context, !closeSent else { return }
        closeSent = true
        pump?.end()
        var data = context.channel.allocator.buffer(capacity: 2 + reason.utf8.count)
        data.write(webSocketErrorCode: code)
        data.writeString(String(decoding: reason.utf8.prefix(120), as: UTF8.self))
        let frame = WebSocketFrame(fin: true, opcode: .connectionClose, data: data)
        if closeReceived {
            let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
            context.writeAndFlush(wrapOutboundOut(frame)).whenComplete { _ in loopBound.value.close(promise: nil) }
        } else if failing {
            let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
            context.writeAndFlush(wrapOutboundOut(frame)).whenComplete { _ in
                loopBound.value.close(mode: .output).whenFailure { _ in loopBound.value.close(promise: nil) }
            }
        } else {
            context.writeAndFlush(wrapOutboundOut(frame), promise: nil)
        }
        if !closeReceived {
            let timeout = TimeAmount.nanoseconds(connections.configuration.closeTimeout.nanoseconds)
            let channel = context.channel
            context.eventLoop.scheduleTask(in: timeout) { channel.close(promise: nil) }
        }
    }
}
