import ChatCore
import NIOCore
import NIOWebSocket
import Synchronization

/// One client connection as the hub and broker see it: a bounded outbound queue
/// and a way to close. The WebSocket writer task drains the queue; when the client
/// reads too slowly and the queue fills, the connection is closed with 4001.
package final class Connection: BrokerSubscriber {
    /// An item for the writer task.
    package enum Outbound: Sendable {
        case frame(ByteBuffer)
        case close(CloseCode, String)
    }

    private struct State {
        var userKey: String?
        var closing = false
        var slow = false
    }

    package let subscriberID: UInt64
    /// The channel, for closing a connection whose writer is stuck.
    let channel: (any Channel)?
    let stream: AsyncStream<Outbound>
    private let continuation: AsyncStream<Outbound>.Continuation
    private let state = Mutex(State())
    private let closeTimeout: TimeAmount
    private let metrics = ServerMetrics()

    /// Creates a connection.
    ///
    /// - Parameters:
    ///   - id: process-unique id.
    ///   - channel: the NIO channel, if any.
    ///   - queueLimit: most frames queued before the client counts as slow.
    ///   - closeTimeout: how long a closing client has to answer before the socket is closed.
    package init(id: UInt64, channel: (any Channel)?, queueLimit: Int, closeTimeout: TimeAmount = .seconds(10)) {
        self.subscriberID = id
        self.channel = channel
        self.closeTimeout = closeTimeout
        (stream, continuation) = AsyncStream.makeStream(
            of: Outbound.self,
            bufferingPolicy: .bufferingOldest(queueLimit)
        )
    }

    package var userKey: String? { state.withLock { $0.userKey } }

    /// The peer's IP address (for per-address limits), or "unknown".
    package var address: String { channel?.remoteAddress?.ipAddress ?? "unknown" }

    func setUser(_ key: String?) { state.withLock { $0.userKey = key } }

    /// Whether a close has been requested (no more requests are answered).
    package var isClosing: Bool { state.withLock { $0.closing } }

    /// Whether the connection was closed as a slow consumer.
    package var isSlow: Bool { state.withLock { $0.slow } }

    package func deliver(_ payload: ByteBuffer) {
        enqueue(.frame(payload))
    }

    /// Queues an error reply and counts it by code.
    ///
    /// - Parameters:
    ///   - id: the request id (nil when it could not be read).
    ///   - error: the error.
    package func reject(id: String?, _ error: ProtocolError) {
        metrics.rejected(error.code)
        send(Frames.error(id: id, error))
    }

    /// Encodes and queues a frame.
    ///
    /// - Parameters:
    ///   - frame: the frame.
    package func send(_ frame: JSONValue) {
        enqueue(.frame(ByteBuffer(string: frame.jsonString)))
    }

    private func enqueue(_ item: Outbound) {
        if case .dropped = continuation.yield(item) { closeSlowConsumer() }
    }

    /// Queues a close frame after everything already queued and stops taking frames.
    ///
    /// - Parameters:
    ///   - code: close code.
    ///   - reason: close reason.
    package func close(_ code: CloseCode, reason: String) {
        let first = state.withLock { s -> Bool in
            defer { s.closing = true }
            return !s.closing
        }
        guard first else { return }
        enqueue(.close(code, reason))
        continuation.finish()
        scheduleHardClose()
    }

    /// The client stopped reading: send 4001 behind what the socket already holds,
    /// drop the queue, and close the socket if the client does not catch up soon.
    private func closeSlowConsumer() {
        let first = state.withLock { s -> Bool in
            defer {
                s.closing = true
                s.slow = true
            }
            return !s.slow
        }
        guard first else { return }
        continuation.finish()
        guard let channel else { return }
        var data = channel.allocator.buffer(capacity: 32)
        data.write(webSocketErrorCode: .init(codeNumber: Int(CloseCode.slowConsumer.rawValue)))
        data.writeString("slow consumer")
        let frame = WebSocketFrame(fin: true, opcode: .connectionClose, data: data)
        channel.writeAndFlush(frame, promise: nil)
        scheduleHardClose()
    }

    private func scheduleHardClose() {
        guard let channel else { return }
        channel.eventLoop.scheduleTask(in: closeTimeout) {
            channel.close(promise: nil)
        }
    }

    /// Ends the outbound stream (the reader finished); queued frames are still written.
    package func finishOutbound() {
        continuation.finish()
    }
}
