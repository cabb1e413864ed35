import NIOCore
import Synchronization

/// Runs connection drains on one event loop in batches: a fan-out to a thousand connections
/// on a loop schedules one event-loop task (and at most one wake-up of that thread) rather
/// than a thousand. Each connection appears at most once per batch (its `draining` flag).
final class DrainScheduler: Sendable {
    private struct Pending {
        var connections: [Connection] = []
        var scheduled = false
    }

    let eventLoop: any EventLoop
    private let pending = Mutex(Pending())

    private init(eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    private static let registry = Mutex<[ObjectIdentifier: DrainScheduler]>([:])

    /// The scheduler of an event loop (one per loop, for the life of the process).
    static func forLoop(_ loop: any EventLoop) -> DrainScheduler {
        registry.withLock { schedulers in
            if let existing = schedulers[ObjectIdentifier(loop)] { return existing }
            let made = DrainScheduler(eventLoop: loop)
            schedulers[ObjectIdentifier(loop)] = made
            return made
        }
    }

    /// Drains `connection` in the next batch of this loop.
    func schedule(_ connection: Connection) {
        let first = pending.withLock { p -> Bool in
            p.connections.append(connection)
            guard !p.scheduled else { return false }
            p.scheduled = true
            return true
        }
        if first { eventLoop.execute { self.run() } }
    }

    private func run() {
        let batch = pending.withLock { p -> [Connection] in
            p.scheduled = false
            defer { p.connections = [] }
            return p.connections
        }
        for connection in batch { connection.drain() }
    }
}
