import NIOCore
import Synchronization

/// Pings the chat connections of one event loop from one repeated task, instead of one
/// repeated task per connection: a per-connection task (the task, its cancellation promise and
/// future, the closure, its place in the loop's timer heap) was about 250 bytes of every idle
/// connection, where a place in this table is a dictionary entry.
///
/// Every `interval` each member is asked to `ping()`; a member that did not answer the previous
/// ping closes itself then. A connection's first ping therefore comes within one interval of
/// its arrival (not exactly one interval after it), and a client that stops answering is closed
/// within two intervals, as before.
final class PingTimer: Sendable {
    private struct Key: Hashable {
        let loop: ObjectIdentifier
        let interval: Int64
    }

    private static let registry = Mutex<[Key: PingTimer]>([:])

    private let eventLoop: any EventLoop
    private let interval: TimeAmount
    /// Touched on `eventLoop` only.
    private let members: NIOLoopBoundBox<[ObjectIdentifier: ChatSocketHandler]>
    private let task: NIOLoopBoundBox<RepeatedTask?>

    private init(eventLoop: any EventLoop, interval: TimeAmount) {
        self.eventLoop = eventLoop
        self.interval = interval
        self.members = .makeBoxSendingValue([:], eventLoop: eventLoop)
        self.task = .makeBoxSendingValue(nil, eventLoop: eventLoop)
    }

    /// The timer of an event loop for a ping interval (one per loop and interval, for the life
    /// of the process; it runs only while it has members).
    ///
    /// - Parameters:
    ///   - loop: the connection's event loop.
    ///   - interval: the ping period.
    static func forLoop(_ loop: any EventLoop, interval: TimeAmount) -> PingTimer {
        let key = Key(loop: ObjectIdentifier(loop), interval: interval.nanoseconds)
        return registry.withLock { timers in
            if let existing = timers[key] { return existing }
            let made = PingTimer(eventLoop: loop, interval: interval)
            timers[key] = made
            return made
        }
    }

    /// Adds a connection (on the event loop).
    ///
    /// - Parameters:
    ///   - handler: the connection's handler.
    func add(_ handler: ChatSocketHandler) {
        members.value[ObjectIdentifier(handler)] = handler
        guard task.value == nil else { return }
        task.value = eventLoop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { [self] _ in
            tick()
        }
    }

    /// Removes a connection (on the event loop); the task stops with the last one.
    ///
    /// - Parameters:
    ///   - handler: the connection's handler.
    func remove(_ handler: ChatSocketHandler) {
        members.value[ObjectIdentifier(handler)] = nil
        guard members.value.isEmpty, let running = task.value else { return }
        running.cancel()
        task.value = nil
    }

    private func tick() {
        // A ping may close its connection, which removes it: go over a copy.
        for handler in Array(members.value.values) { handler.ping() }
    }
}
