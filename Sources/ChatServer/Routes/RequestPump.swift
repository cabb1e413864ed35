import ChatCore
import Logging
import NIOCore
import Synchronization

/// Answers one connection's requests in order, off the event loop. The event loop pushes
/// messages; a task runs while there are any and ends when the queue is empty, so an idle
/// connection has no task. The first item connects the connection to the hub; the last
/// disconnects it.
final class RequestPump: @unchecked Sendable {
    // @unchecked: `session` and `open` are touched only by the one running drain task (the
    // `running` flag, set and cleared under the lock, makes sure there is one at a time).
    enum Item {
        case connect
        case text(String)
        case binary
        case disconnect
    }

    private struct Queue {
        var items: [Item] = []
        var running = false
        var ended = false
        var readingHeld = false
    }

    /// Queued messages beyond which the event loop stops reading from the socket.
    static let highWater = 64

    private let queue = Mutex(Queue())
    private let connections: ConnectionHandler
    private let conn: Connection
    private let logger: Logger
    private let resumeReading: @Sendable () -> Void
    private var session = ReaderState()
    private var open = false

    init(
        connections: ConnectionHandler,
        conn: Connection,
        logger: Logger,
        resumeReading: @escaping @Sendable () -> Void
    ) {
        self.connections = connections
        self.conn = conn
        self.logger = logger
        self.resumeReading = resumeReading
        session.address = conn.address
    }

    /// Connects to the hub (the first item).
    func start() {
        push(.connect)
    }

    /// Queues a message; ignored once the connection ended.
    func push(_ item: Item) {
        let start = queue.withLock { q -> Bool in
            guard !q.ended else { return false }
            q.items.append(item)
            guard !q.running else { return false }
            q.running = true
            return true
        }
        if start { Task { await self.run() } }
    }

    /// No more requests are taken (close sent or received, or the socket closed): what is
    /// queued is dropped, and the connection leaves the hub.
    func end() {
        let start = queue.withLock { q -> Bool in
            guard !q.ended else { return false }
            q.ended = true
            q.items.removeAll { item in
                if case .connect = item { return false }
                return true
            }
            q.items.append(.disconnect)
            guard !q.running else { return false }
            q.running = true
            return true
        }
        if start { Task { await self.run() } }
    }

    /// On the event loop, before a socket read: true (and remembered) when the backlog is
    /// too long to read more now.
    func holdReading() -> Bool {
        queue.withLock { q in
            if q.items.count >= Self.highWater && !q.ended { q.readingHeld = true }
            return q.readingHeld
        }
    }

    private func run() async {
        while true {
            let (batch, resume) = queue.withLock { q -> ([Item], Bool) in
                guard !q.items.isEmpty else {
                    q.running = false
                    return ([], false)
                }
                defer {
                    q.items = []
                    q.readingHeld = false
                }
                return (q.items, q.readingHeld)
            }
            if batch.isEmpty { return }
            if resume { conn.channel.eventLoop.execute { self.resumeReading() } }
            await process(batch)
        }
    }

    /// Answers a batch in order. Consecutive requests for the hub go to it together (one trip
    /// to the actor); anything answered elsewhere first waits for the hub's earlier replies.
    private func process(_ batch: [Item]) async {
        var group: [(id: String, request: Request)] = []
        for item in batch {
            switch item {
            case .connect:
                open = await connect()
            case .text(let text):
                guard open, !conn.isClosing else { continue }
                var prepared = connections.prepare(text, session: session)
                if case .reject(_, let error) = prepared, error.code == .unauthorized, !group.isEmpty {
                    // A `resume` waiting in the group may authenticate the connection.
                    await flush(&group)
                    prepared = connections.prepare(text, session: session)
                }
                observe(prepared, text: text)
                if case .hub(let id, let request) = prepared {
                    group.append((id, request))
                    continue
                }
                await flush(&group)
                guard !conn.isClosing else { continue }
                await connections.execute(prepared, conn: conn, session: &session, logger: logger)
                if let observer = connections.observer, let id = prepared.id {
                    // Answered by now; an error reply ended it already (`Connection.reject`).
                    observer.end(conn: conn.subscriberID, id: id, user: conn.userKey, error: nil)
                }
            case .binary:
                await flush(&group)
                guard open, !conn.isClosing else { continue }
                connections.protocolError(conn, &session, .badRequest("binary frames are not accepted; send JSON text"))
            case .disconnect:
                await flush(&group)
                guard open else { continue }
                open = false
                await connections.hub.disconnect(conn)
                connections.observer?.endAll(conn: conn.subscriberID)
                logger.debug("connection closed", metadata: ["chat.conn.id": "\(conn.subscriberID)"])
            }
        }
        await flush(&group)
    }

    private func flush(_ group: inout [(id: String, request: Request)]) async {
        guard !group.isEmpty else { return }
        let requests = group
        group = []
        session.authenticated = await connections.hub.handle(conn, requests: requests)
        if let observer = connections.observer {
            for (id, _) in requests { observer.end(conn: conn.subscriberID, id: id, user: conn.userKey, error: nil) }
        }
    }

    /// Tells the observer (if any) that a request arrived.
    private func observe(_ prepared: ConnectionHandler.Prepared, text: String) {
        guard let observer = connections.observer else { return }
        let id: String
        let type: String
        var room: String?
        switch prepared {
        case .reject(nil, _): return
        case .reject(let rejectedID?, _):
            id = rejectedID
            // The type when it is one the protocol knows; anything else as `invalid` (a
            // client's string never reaches the log or a span name).
            type =
                if case .success(let envelope) = RequestEnvelope.parse(text),
                    RequestType(rawValue: envelope.type) != nil || envelope.type == SearchRequest.type
                {
                    envelope.type
                } else {
                    "invalid"
                }
        case .search(let searchID, let body):
            id = searchID
            type = SearchRequest.type
            room = body["room"]?.stringValue.flatMap { try? TextRules.roomName($0).get().key }
        case .local(let localID, let request), .hub(let localID, let request):
            id = localID
            type = request.typeName
            room = request.roomKey
        }
        observer.begin(conn: conn.subscriberID, id: id, type: type, room: room, user: conn.userKey)
    }

    private func connect() async -> Bool {
        switch await connections.hub.connect(conn) {
        case nil:
            logger.debug(
                "connection opened",
                metadata: ["chat.conn.id": "\(conn.subscriberID)", "chat.peer": "\(conn.address)"]
            )
            return true
        case .shuttingDown?:
            conn.close(.goingAway, reason: "server shutting down")
        }
        return false
    }
}
