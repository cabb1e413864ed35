import NIOCore

/// The measuring phase of one durable-send run. Confined to the benchmark's single event loop:
/// each sender has at most `window` sends without an `ok`; an `ok` refills its window.
final class DurableRun {
    /// Appends the `send` request of sender `sender`, stamped with `nanoseconds` (in its id).
    typealias Encoder = (_ sender: Int, _ nanoseconds: UInt64, _ buffer: inout ByteBuffer) -> Void

    let perSender: Int
    let window: Int
    /// Refill a sender's window once this many of its slots are free.
    let refill: Int
    private let senders: [any Channel]
    private let encode: Encoder
    private let done: EventLoopPromise<Void>
    private let deadline: TimeAmount
    private var sent: [Int]
    private var acked: [Int]
    private var finishedSenders = 0
    private(set) var totalAcked = 0
    private(set) var errors = 0
    private(set) var firstError: String?
    private(set) var lostConnections = 0
    private(set) var timedOut = false
    private(set) var histogram = LatencyHistogram()
    private(set) var startNanoseconds: UInt64 = 0
    private(set) var endNanoseconds: UInt64 = 0
    private var finished = false

    init(senders: [any Channel], perSender: Int, window: Int, deadline: TimeAmount, encode: @escaping Encoder) {
        self.senders = senders
        self.perSender = perSender
        self.window = window
        self.refill = max(1, window / 4)
        self.deadline = deadline
        self.encode = encode
        self.sent = [Int](repeating: 0, count: senders.count)
        self.acked = [Int](repeating: 0, count: senders.count)
        self.done = senders[0].eventLoop.makePromise()
    }

    /// Starts every sender; the future completes when all sends are acknowledged, on the
    /// deadline, on an error reply, or when a connection is lost.
    func start() -> EventLoopFuture<Void> {
        let loop = senders[0].eventLoop
        startNanoseconds = NIODeadline.now().uptimeNanoseconds
        let bound = NIOLoopBound(self, eventLoop: loop)
        loop.scheduleTask(in: deadline) {
            bound.value.timedOut = true
            bound.value.finish()
        }
        for index in senders.indices { pump(index) }
        return done.futureResult
    }

    /// Seconds from the first send to the last `ok` (or the end).
    var seconds: Double { Double(endNanoseconds &- startNanoseconds) / 1e9 }

    /// Sender `sender` read the `ok` of a send written at `sentNanoseconds`.
    func acknowledged(sender: Int, sentNanoseconds: UInt64, now: UInt64) {
        guard !finished else { return }
        acked[sender] += 1
        totalAcked += 1
        histogram.record(nanoseconds: now &- sentNanoseconds)
        if acked[sender] == perSender {
            finishedSenders += 1
            if finishedSenders == senders.count { finish() }
        } else if window - (sent[sender] - acked[sender]) >= refill {
            pump(sender)
        }
    }

    /// The server answered a send with an error.
    func failed(_ reply: String) {
        errors += 1
        if firstError == nil { firstError = String(reply.prefix(300)) }
        finish()
    }

    /// A sender's connection closed.
    func connectionLost() {
        lostConnections += 1
        finish()
    }

    private func pump(_ index: Int) {
        guard !finished, sent[index] < perSender, sent[index] - acked[index] < window else { return }
        let now = NIODeadline.now().uptimeNanoseconds
        let channel = senders[index]
        var buffer = channel.allocator.buffer(capacity: 256 * (window - (sent[index] - acked[index])))
        while sent[index] < perSender, sent[index] - acked[index] < window {
            encode(index, now, &buffer)
            sent[index] += 1
        }
        channel.writeAndFlush(buffer, promise: nil)
    }

    private func finish() {
        guard !finished else { return }
        finished = true
        endNanoseconds = NIODeadline.now().uptimeNanoseconds
        done.succeed(())
    }
}
