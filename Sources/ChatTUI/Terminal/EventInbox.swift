import Synchronization

/// Events waiting for the run loop; drained all at once so a burst is drawn once.
final class EventInbox: Sendable {
    private let queue = Mutex<[AppEvent]>([])
    let signals: AsyncStream<Void>
    private let signal: AsyncStream<Void>.Continuation

    init() {
        (signals, signal) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    func post(_ event: AppEvent) {
        queue.withLock { $0.append(event) }
        signal.yield()
    }

    func drain() -> [AppEvent] {
        queue.withLock { events in
            defer { events = [] }
            return events
        }
    }
}

/// The current connection (replaced when the login form authenticates again).
final class ConnectionBox: Sendable {
    private let connection = Mutex<(any ChatConnection)?>(nil)
    /// Rooms asked for before any connection existed (login form): joined once one starts.
    private let deferred = Mutex<[String]>([])
    var current: (any ChatConnection)? { connection.withLock { $0 } }
    func set(_ new: any ChatConnection) { connection.withLock { $0 = new } }
    func deferJoin(_ room: String) { deferred.withLock { $0.append(room) } }
    func takeDeferredJoins() -> [String] {
        deferred.withLock { rooms in
            defer { rooms = [] }
            return rooms
        }
    }
}
