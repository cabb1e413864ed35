import ChatCore
import CoreMetrics
import NIOCore
import NIOWebSocket
import Synchronization

/// One client connection as the hub and broker see it: a bounded outbound queue
/// and a way to close. Frames are written to the channel on its event loop, in
/// batches with one flush each; when the client reads too slowly and the queue
/// fills, the connection is closed with 4001.
///
/// Queued frames go straight to the channel (no task hop per frame): `enqueue`
/// appends under a lock and, when no drain is pending, schedules one on the event
/// loop; the drain writes everything queued so far and flushes once. Frames are
/// queued already framed (`WebSocketText`), so a fan-out shares one buffer and the
/// drain writes it below the WebSocket encoder. Closing with a code goes through the
/// connection's `ChatSocketHandler`, after the frames queued before it.
package final class Connection: BrokerSubscriber {
    /// What waits for the event loop.
    private enum Pending {
        /// Complete WebSocket frames (`WebSocketText.frame`): one, or several back to back.
        /// `reply`: the bytes are this connection's own (not a shared fan-out buffer) and
        /// count against the total budget too.
        case frames(ByteBuffer, count: Int, reply: Bool)
        case close(CloseCode, String)
    }

    private struct State {
        var userKey: String?
        var closing = false
        var slow = false
        /// No more items are taken (close queued, or slow consumer).
        var sealed = false
        var pending: [Pending] = []
        /// Frames in `pending` (what the queue limit counts).
        var pendingFrames = 0
        /// Bytes in `pending` (what the per-connection budget counts).
        var pendingBytes = 0
        /// Bytes of replies in `pending`, taken from the total budget.
        var reservedBytes = 0
        /// An empty array with capacity, handed back by the last drain (saves an allocation).
        var spare: [Pending] = []
        /// A drain is scheduled, running, or waiting for the socket to take more.
        var draining = false
        /// `hold()` is in effect: queue without scheduling a drain until `release()`.
        var held = false
    }

    package let subscriberID: UInt64
    /// The channel the frames are written to.
    let channel: any Channel
    private let state = Mutex(State())
    /// The WebSocket encoder's context, looked up on first use: framed bytes written there
    /// skip the encoder and go straight to the socket, in order with frames the encoder writes.
    private let rawOutput: NIOLoopBoundBox<ChannelHandlerContext?>
    private let queueLimit: Int
    private let budget: OutboundBudget
    private let closeTimeout: TimeAmount
    /// Frames up to this size are coalesced into one buffer per drain.
    static let coalesceLimit = 4096
    /// Batches this connection's drains with those of other connections on its event loop.
    private let drains: DrainScheduler
    private let metrics: ServerMetrics
    /// Told of each error reply (the request's log line and span).
    private let observer: RequestObserver?

    /// Creates a connection.
    ///
    /// - Parameters:
    ///   - id: process-unique id.
    ///   - channel: the NIO channel (its pipeline encodes `WebSocketFrame`s).
    ///   - address: the client's address (nil: the channel's peer).
    ///   - queueLimit: most frames queued before the client counts as slow.
    ///   - closeTimeout: how long a closing client has to answer before the socket is closed.
    ///   - budget: byte budgets for what is queued.
    ///   - observer: follows requests (nil: no request log lines or spans).
    ///   - metrics: the server's metric handles (shared by its connections).
    package init(
        id: UInt64,
        channel: any Channel,
        address: String? = nil,
        queueLimit: Int,
        closeTimeout: TimeAmount = .seconds(10),
        budget: OutboundBudget = OutboundBudget(perConnection: .max / 4, total: .max / 4),
        observer: RequestObserver? = nil,
        metrics: ServerMetrics = ServerMetrics()
    ) {
        self.observer = observer
        self.metrics = metrics
        self.subscriberID = id
        self.channel = channel
        self.address = address ?? channel.remoteAddress?.ipAddress ?? "unknown"
        self.queueLimit = queueLimit
        self.budget = budget
        self.closeTimeout = closeTimeout
        self.rawOutput = .makeEmptyBox(valueType: ChannelHandlerContext.self, eventLoop: channel.eventLoop)
        self.drains = DrainScheduler.forLoop(channel.eventLoop)
    }

    deinit {
        budget.release(state.withLock { $0.reservedBytes })
    }

    package var userKey: String? { state.withLock { $0.userKey } }

    /// The client's IP address (for the login throttle and logs), or "unknown": the TCP peer's,
    /// or behind a trusted proxy the one it forwarded.
    package let address: String

    func setUser(_ key: String?) { state.withLock { $0.userKey = key } }

    /// Whether a close has been requested (no more requests are answered).
    package var isClosing: Bool { state.withLock { $0.closing } }

    /// Whether the connection was closed as a slow consumer.
    package var isSlow: Bool { state.withLock { $0.slow } }

    /// Queues a framed message (`WebSocketText.frame`).
    ///
    /// - Parameters:
    ///   - payload: a complete WebSocket text frame, shared by every receiver of a fan-out.
    package func deliver(_ payload: ByteBuffer) {
        enqueue(.frames(payload, count: 1, reply: false))
    }

    /// Queues several framed messages written back to back in one buffer.
    ///
    /// - Parameters:
    ///   - payload: complete WebSocket text frames, in order, shared by every receiver.
    ///   - frames: how many frames it holds (what the queue limit counts).
    package func deliver(_ payload: ByteBuffer, frames: Int) {
        enqueue(.frames(payload, count: frames, reply: false))
    }

    /// Queues an error reply and counts it by code.
    ///
    /// - Parameters:
    ///   - id: the request id (nil when it could not be read).
    ///   - error: the error.
    package func reject(id: String?, _ error: ProtocolError) {
        metrics.rejected(error.code)
        send(Frames.error(id: id, error))
        if let observer, let id { observer.end(conn: subscriberID, id: id, user: userKey, error: error.code) }
    }

    /// Encodes and queues a frame.
    ///
    /// - Parameters:
    ///   - frame: the frame.
    package func send(_ frame: JSONValue) {
        send(frame: WebSocketText.frame(frame))
    }

    /// Queues a reply already framed (`WebSocketText`).
    ///
    /// - Parameters:
    ///   - frame: one complete WebSocket text frame.
    package func send(frame: ByteBuffer) {
        enqueue(.frames(frame, count: 1, reply: true))
    }

    /// Whether a reply of about `bytes` can be queued now without going over the connection's
    /// or the server's budget: a large reply (history, search) is refused before it is built
    /// rather than closing the connection.
    ///
    /// - Parameters:
    ///   - bytes: the reply's estimated size.
    package func fits(_ bytes: Int) -> Bool {
        let queued = state.withLock { $0.pendingBytes }
        return queued + bytes <= budget.perConnection && budget.inUse + bytes <= budget.total
    }

    private enum EnqueueAction {
        case none
        case schedule
        case slow
    }

    private func enqueue(_ item: Pending) {
        let action = state.withLock { s -> EnqueueAction in
            guard !s.sealed else { return .none }
            switch item {
            case .frames(let bytes, let count, let reply):
                // A batch may go over by its own size once; the next frame finds the queue full.
                guard s.pendingFrames < queueLimit else { return .slow }
                let size = bytes.readableBytes
                // One item larger than the budget still goes alone (a reply was checked with `fits`).
                guard s.pendingBytes == 0 || s.pendingBytes + size <= budget.perConnection else { return .slow }
                if reply {
                    guard budget.reserve(size) else { return .slow }
                    s.reservedBytes += size
                }
                s.pendingFrames += count
                s.pendingBytes += size
            case .close: s.sealed = true
            }
            if s.pending.isEmpty, s.pending.capacity == 0 { swap(&s.pending, &s.spare) }
            s.pending.append(item)
            guard !s.draining, !s.held else { return .none }
            s.draining = true
            return .schedule
        }
        switch action {
        case .none: break
        case .schedule: drains.schedule(self)
        case .slow: closeSlowConsumer()
        }
    }

    /// Queues without waking the event loop until `release()`, so frames queued together
    /// (a message event and the reply to the `send` that caused it) leave in one drain, with
    /// one wake-up of the event-loop thread.
    func hold() {
        state.withLock { $0.held = true }
    }

    /// Ends `hold()`: schedules the drain for what was queued meanwhile.
    func release() {
        let schedule = state.withLock { s -> Bool in
            s.held = false
            guard !s.pending.isEmpty, !s.draining, !s.slow else { return false }
            s.draining = true
            return true
        }
        if schedule { drains.schedule(self) }
    }

    /// On the event loop: writes everything queued, flushes once, and goes again (in the next
    /// batch of its event loop, so other connections get their turn) if more arrived meanwhile.
    /// Pauses while the channel is not writable (the socket is full); meanwhile frames queue
    /// up to the limit.
    func drain() {
        var reserved = 0
        var items = state.withLock { s -> [Pending] in
            var taken: [Pending] = []
            swap(&taken, &s.pending)
            s.pendingFrames = 0
            s.pendingBytes = 0
            swap(&reserved, &s.reservedBytes)
            return s.slow ? [] : taken
        }
        // Handed to the channel now (bounded by the pause below while the socket is full).
        budget.release(reserved)
        // Without the encoder the pipeline is gone (the channel closed): frames are dropped.
        let output =
            rawOutput.value ?? (try? channel.pipeline.syncOperations.context(handlerType: WebSocketFrameEncoder.self))
        rawOutput.value = output
        // Several small frames are copied into one buffer: one write through the pipeline
        // instead of one per frame (the copy costs less than NIO's per-write bookkeeping).
        var batch: ByteBuffer?
        func writeBatch() {
            if let bytes = batch { output?.write(NIOAny(bytes), promise: nil) }
            batch = nil
        }
        for item in items {
            switch item {
            case .frames(let bytes, _, _) where bytes.readableBytes <= Self.coalesceLimit:
                if batch == nil {
                    batch = bytes
                } else {
                    if batch!.writableBytes < bytes.readableBytes {
                        // The first buffer is shared by every receiver: copy into one of our own.
                        var own = channel.allocator.buffer(capacity: Self.coalesceLimit * 4)
                        own.writeImmutableBuffer(batch!)
                        batch = own
                    }
                    batch!.writeImmutableBuffer(bytes)
                }
            case .frames(let bytes, _, _):
                writeBatch()
                output?.write(NIOAny(bytes), promise: nil)
            case .close(let code, let reason):
                writeBatch()
                output?.flush()
                sendCloseFrame(code, reason: reason)
            }
        }
        writeBatch()
        output?.flush()
        items.removeAll(keepingCapacity: true)
        if !channel.isWritable, channel.isActive {
            state.withLock { $0.spare = items }
            channel.eventLoop.scheduleTask(in: .milliseconds(1)) { self.resumeWhenWritable() }
            return
        }
        let more = state.withLock { s -> Bool in
            s.spare = items
            if s.pending.isEmpty || s.slow {
                s.draining = false
                return false
            }
            return true
        }
        if more { drains.schedule(self) }
    }

    private func resumeWhenWritable() {
        if channel.isWritable || !channel.isActive {
            drain()
        } else {
            channel.eventLoop.scheduleTask(in: .milliseconds(1)) { self.resumeWhenWritable() }
        }
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
        scheduleHardClose()
    }

    /// The client stopped reading: send 4001 behind what the socket already holds,
    /// drop the queue, and close the socket if the client does not catch up soon.
    private func closeSlowConsumer() {
        metrics.slowConsumerCloses.increment()
        let (first, reserved) = state.withLock { s -> (Bool, Int) in
            defer {
                s.closing = true
                s.slow = true
                s.sealed = true
                s.pending = []
                s.pendingFrames = 0
                s.pendingBytes = 0
                s.reservedBytes = 0
            }
            return (!s.slow, s.reservedBytes)
        }
        budget.release(reserved)
        guard first else { return }
        channel.eventLoop.execute { self.sendCloseFrame(.slowConsumer, reason: "slow consumer") }
        scheduleHardClose()
    }

    /// On the event loop: the close frame, through the connection's `ChatSocketHandler`
    /// (which runs the close handshake); without one the socket is just closed.
    private func sendCloseFrame(_ code: CloseCode, reason: String) {
        if let handler = try? channel.pipeline.syncOperations.handler(type: ChatSocketHandler.self) {
            handler.sendClose(WebSocketErrorCode(codeNumber: Int(code.rawValue)), reason: reason)
        } else {
            channel.close(promise: nil)
        }
    }

    private func scheduleHardClose() {
        let channel = self.channel
        channel.eventLoop.scheduleTask(in: closeTimeout) {
            channel.close(promise: nil)
        }
    }
}
