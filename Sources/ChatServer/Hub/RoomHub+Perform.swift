import ChatCore
import ChatLog
import CoreMetrics
import Logging
import NIOCore
import Tracing

/// The shell's two jobs besides feeding inputs: waiting for the store's durability, and
/// performing the core's actions on connections, the broker and the store.
extension RoomHub {
    // MARK: Durability

    /// Waits until the connection's replies that wait for commits are out.
    func settle(_ conn: ConnID, holding connection: Connection) async {
        while let commit = core.awaitedCommit(of: conn) {
            guard await waitDurable(commit, holding: connection) else { return }
        }
    }

    /// Waits until `commit` is stored and feeds that to the core (or the store's failure).
    /// False when the commit is unknown (released already).
    @discardableResult
    func waitDurable(_ commit: CommitID, holding connection: Connection? = nil) async -> Bool {
        guard commit >= lsnBase, commit - lsnBase < lsns.count else { return false }
        let lsn = lsns[Int(commit - lsnBase)]
        // Already stored (written in `append` under everysec/no): no suspension, no hop.
        if !store.isDurable(lsn) {
            let span =
                tracing
                ? Spans.start(
                    "chat.durable_wait",
                    parent: connection.flatMap { observer?.context(conn: $0.subscriberID) }
                )
                : nil
            span?.attributes["chat.lsn"] = Int64(truncatingIfNeeded: lsn)
            do {
                try await store.waitDurable(lsn)
                span?.end()
            } catch {
                if let span {
                    span.recordError(error)
                    span.setStatus(SpanStatus(code: .error))
                    span.end()
                }
                if !loggedStorageFailure {
                    loggedStorageFailure = true
                    logger.critical("storing a change failed; refusing changes", metadata: ["error": "\(error)"])
                }
                perform(core.storageFailed(at: clock.now()))
                lsnBase += CommitID(lsns.count)
                lsns = []
                return true
            }
        }
        guard commit >= lsnBase else { return true }  // released while this task waited
        let released = Int(commit - lsnBase) + 1
        lsns.removeFirst(released)
        lsnBase += CommitID(released)
        // The caller's messages and acks leave together, in one drain of its connection.
        connection?.hold()
        if tracing, let connection { currentContext = observer?.context(conn: connection.subscriberID) }
        perform(core.durable(through: commit, at: clock.now()))
        currentContext = nil
        connection?.release()
        if let clusterStore, core.hasDeferredDrains { clusterStore.requestTurn() }
        return true
    }

    // MARK: Actions

    /// Performs a step's actions in order; then, if it appended, gives the store its snapshot
    /// chance (the core's state now holds exactly what was appended).
    func perform(_ step: HubStep) {
        var appended = false
        for action in step.actions {
            switch action {
            case .reply(let conn, let id, let reply):
                guard let connection = connections[conn] else { continue }
                // A large reply is measured before it is built: one that would not fit in the
                // connection's budget is refused, so a client that does not read cannot pile
                // up replies (`history` of 500 long messages, pipelined).
                if let bytes = reply.estimatedBytes, !connection.fits(bytes) {
                    connection.reject(id: id, ProtocolError.replyWouldNotFit(bytes: bytes))
                    continue
                }
                if case .sent(let seq, let ts) = reply {
                    connection.send(frame: WebSocketText.sentFrame(id: id, seq: seq, ts: ts))
                } else {
                    connection.send(Frames.ok(id: id, reply.json))
                }
                observer?.end(conn: conn, id: id, user: connection.userKey, error: nil)
            case .reject(let conn, let id, let error):
                connections[conn]?.reject(id: id, error)
            case .publish(let room, let event, let excludingUser):
                let span = tracing ? Spans.start("chat.fanout", parent: currentContext) : nil
                let receivers = broker.publish(room, WebSocketText.frame(event.frame), excludingUser: excludingUser)
                metrics.deliveries.increment(by: Int64(receivers))
                if let span {
                    span.attributes["chat.room"] = room
                    span.attributes["chat.receivers"] = receivers
                    span.end()
                }
            case .publishMessages(let room, let messages):
                let span = tracing ? Spans.start("chat.fanout", parent: currentContext) : nil
                let receivers = publish(messages, room: room)
                if let span {
                    span.attributes["chat.room"] = room
                    span.attributes["chat.messages"] = messages.count
                    span.attributes["chat.receivers"] = receivers
                    span.end()
                }
            case .deliver(let event, let targets):
                let payload = WebSocketText.frame(event.frame)
                for target in targets { connections[target]?.deliver(payload) }
            case .subscribe(let conn, let room):
                if let connection = connections[conn] { broker.subscribe(room, connection) }
            case .unsubscribe(let conn, let room):
                broker.unsubscribe(room, subscriberID: conn)
            case .identify(let conn, let user):
                connections[conn]?.setUser(user)
            case .append(let records, let commit):
                if lsns.isEmpty { lsnBase = commit }
                if let clusterStore {
                    lastLSN = appendClustered(records, commit: commit, to: clusterStore)
                } else {
                    lastLSN = store.append(records)
                }
                lsns.append(lastLSN)
                appended = true
            case .close(let conn, let code, let reason):
                connections[conn]?.close(code, reason: reason)
            }
        }
        if appended {
            takeCompaction()
            if store.snapshotDue { store.snapshot(core.state) }
        }
        if appended, !core.state.orphanedFiles.isEmpty { fileSweeps?.yield() }
        if let clusterStore, core.hasEphemeral { clusterStore.notify(core.takeEphemeral()) }
    }

    /// A room's ready messages, published together: each subscriber takes them in one go and
    /// writes them with one writev.
    private func publish(_ messages: [ChatMessage], room: String) -> Int {
        let receivers: Int
        if messages.count == 1 {
            receivers = broker.publish(
                room,
                WebSocketText.messageFrame(messages[0]),
                excludingUser: nil
            )
        } else {
            receivers = broker.publish(
                room,
                contentsOf: messages.map { WebSocketText.messageFrame($0) }
            )
        }
        metrics.messagesIn.increment(by: Int64(messages.count))
        metrics.messagesOut.increment(by: Int64(receivers * messages.count))
        metrics.deliveries.increment(by: Int64(receivers * messages.count))
        // The oldest message of the batch waited longest.
        metrics.fanoutLag.recordMilliseconds(max(0, clock.now().wallMs - messages[0].ts))
        return receivers
    }
}
