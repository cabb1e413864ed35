import NIOCore

/// The measuring phase of one fan-out run. Confined to the benchmark's single event loop:
/// subscribers' handlers call `delivered`, which refills the publisher's window.
final class FanoutRun {
    /// Appends the publish command for message `index` stamped with `nanoseconds`.
    typealias Encoder = (_ index: Int, _ nanoseconds: UInt64, _ buffer: inout ByteBuffer) -> Void

    let subscribers: Int
    let messages: Int
    let window: Int
    /// Refill the window once this many slots are free.
    let refill: Int
    private let publisher: any Channel
    private let encode: Encoder
    private let done: EventLoopPromise<Void>
    private let deadline: TimeAmount
    /// Messages per second at most (open-loop pacing), or nil for as fast as the window allows.
    private let rate: Double?
    private var pacer: RepeatedTask?
    /// Per message: subscribers that have not received it yet.
    private var remaining: [Int32]
    private(set) var sent = 0
    /// Messages received by every subscriber (a prefix: each subscriber reads in order).
    private(set) var completed = 0
    private(set) var deliveries = 0
    private(set) var unexpected = 0
    private(set) var publishErrors = 0
    private(set) var firstError: String?
    private(set) var lostConnections = 0
    private(set) var timedOut = false
    private(set) var histogram = LatencyHistogram()
    private(set) var startNanoseconds: UInt64 = 0
    private(set) var endNanoseconds: UInt64 = 0
    private var finished = false

    init(
        subscribers: Int,
        messages: Int,
        window: Int,
        publisher: any Channel,
        deadline: TimeAmount,
        rate: Double? = nil,
        encode: @escaping Encoder
    ) {
        self.rate = rate
        self.subscribers = subscribers
        self.messages = messages
        self.window = window
        self.refill = max(1, window / 8)
        self.publisher = publisher
        self.deadline = deadline
        self.encode = encode
        self.remaining = [Int32](repeating: Int32(subscribers), count: messages)
        self.done = publisher.eventLoop.makePromise()
    }

    /// Starts publishing; the future completes when every subscriber has every message,
    /// on the deadline, or when a connection is lost.
    func start() -> EventLoopFuture<Void> {
        startNanoseconds = NIODeadline.now().uptimeNanoseconds
        let bound = NIOLoopBound(self, eventLoop: publisher.eventLoop)
        publisher.eventLoop.scheduleTask(in: deadline) {
            bound.value.timedOut = true
            bound.value.finish()
        }
        if rate != nil {
            pacer = publisher.eventLoop.scheduleRepeatedTask(initialDelay: .milliseconds(1), delay: .milliseconds(1)) {
                _ in bound.value.pump()
            }
        }
        pump()
        return done.futureResult
    }

    /// Seconds from the first publish to the last delivery (or the end).
    var seconds: Double { Double(endNanoseconds &- startNanoseconds) / 1e9 }

    /// A subscriber read message `index`, published at `sentNanoseconds`.
    func delivered(index: Int, sentNanoseconds: UInt64, now: UInt64) {
        guard index >= 0, index < sent, remaining[index] > 0 else {
            unexpected += 1
            return
        }
        remaining[index] -= 1
        deliveries += 1
        histogram.record(nanoseconds: now &- sentNanoseconds)
        guard remaining[index] == 0, index == completed else { return }
        while completed < sent, remaining[completed] == 0 { completed += 1 }
        if completed == messages {
            finish()
        } else if window - (sent - completed) >= refill {
            pump()
        }
    }

    /// The server refused a publish (the message will never arrive).
    func publishFailed(_ reply: String) {
        publishErrors += 1
        if firstError == nil { firstError = String(reply.prefix(300)) }
        finish()
    }

    /// A measured connection closed.
    func connectionLost() {
        lostConnections += 1
        finish()
    }

    private func pump() {
        guard !finished, sent < messages else { return }
        let now = NIODeadline.now().uptimeNanoseconds
        var limit = messages
        if let rate { limit = min(messages, Int(rate * Double(now &- startNanoseconds) / 1e9) + 1) }
        guard sent < limit, sent - completed < window else { return }
        var buffer = publisher.allocator.buffer(capacity: 256 * (window - (sent - completed)))
        while sent < limit, sent - completed < window {
            encode(sent, now, &buffer)
            sent += 1
        }
        publisher.writeAndFlush(buffer, promise: nil)
    }

    private func finish() {
        guard !finished else { return }
        finished = true
        pacer?.cancel()
        endNanoseconds = NIODeadline.now().uptimeNanoseconds
        done.succeed(())
    }
}
