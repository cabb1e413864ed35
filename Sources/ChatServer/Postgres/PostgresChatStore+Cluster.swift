import ChatCore
import ChatLog
import Foundation
import Glibc
import Logging
import Metrics
import NIOCore
import PostgresNIO
import Synchronization

/// `--cluster`: several nodes serve one database at once.
///
/// - **Write turns.** A node changes anything only in a write turn: one transaction that first
///   locks the single row of `cluster_head` (so one node writes at a time, and commit order is
///   the order of `cluster_log` ids), reads every `cluster_log` row this node has not applied,
///   has the hub apply them and then run the requests waiting for the turn, and writes what
///   those produced: the tables' rows, as a single node writes them, plus one `cluster_log` row
///   holding the turn's records and events for the other nodes. The hub acknowledges nothing
///   before the commit.
/// - **Following.** Between turns a node reads `cluster_log` rows after the newest it applied,
///   in id order, and the hub applies them and delivers their messages and events. A writer
///   sends `NOTIFY chat_cluster` after each commit (outside the transaction: `NOTIFY` inside it
///   would serialise commits on PostgreSQL's notify queue lock, and carries nothing a reader
///   needs); the notification only wakes the others, who read by id, so a lost notification
///   delays a message (the periodic check reads once a second) but never loses it.
/// - Nodes hold the serving lock in shared mode; a node without `--cluster` holds it exclusively,
///   so the two kinds never serve one database together.
extension PostgresChatStore {
    /// The channel writers notify after each commit.
    static let clusterChannel = "chat_cluster"
    /// How often a node reads `cluster_log` without a notification.
    static let followInterval = Duration.seconds(1)
    /// `cluster_log` keeps at least this many turns; a node further behind reloads (restarts).
    static let keptTurns: Int64 = 65_536
    /// The channel of presence, typing and heartbeats.
    static let ephemeralChannel = "chat_ephemeral"
    /// How often a node says it is alive (`HubCore.nodeSilenceLimit` is how long it may not).
    static let beatInterval = Duration.seconds(3)
    /// Other nodes' presence and typing events held at most while this node catches up.
    static let maxWaitingEphemeral = 10_000
    /// Users in one `online` notification (each name at most 128 bytes; base64 adds a third).
    static let usersPerNote = 40

    /// Gives the writer the hub whose write turns it runs (before `run`).
    ///
    /// - Parameters:
    ///   - hub: the hub.
    package func attach(_ hub: RoomHub) {
        state.withLock { $0.hub = hub }
    }

    /// The hub has requests waiting for a write turn.
    package func requestTurn() {
        state.withLock { $0.turnWanted = true }
        wake.yield()
    }

    /// Presence and typing for the other nodes: sent by the writer between turns.
    ///
    /// - Parameters:
    ///   - events: the events.
    package func notify(_ events: [EphemeralEvent]) {
        state.withLock { $0.notes.append(contentsOf: events) }
        wake.yield()
    }

    func followSoon() {
        state.withLock { $0.followWanted = true }
        wake.yield()
    }

    /// Takes the serving lock in shared mode (other cluster nodes hold it too).
    func takeClusterLock(_ connection: PostgresConnection) async throws {
        let taken =
            try await connection.query(
                "SELECT pg_try_advisory_lock_shared(\(Self.servingLockKey))",
                logger: logger
            )
            .collect().first?.decode(Bool.self) ?? false
        guard taken else {
            throw PostgresStoreError.source(
                "a chat-server node without --cluster serves this database; stop it, or start this node "
                    + "without --cluster (docs/OPERATIONS.md, section 19)"
            )
        }
    }

    /// The writer, the listener and the periodic check, until shut down and drained.
    func clusterRun() async {
        await withDiscardingTaskGroup { group in
            group.addTask { await self.listen() }
            group.addTask {
                while !Task.isCancelled {
                    try? await Task.sleep(for: Self.followInterval)
                    self.followSoon()
                }
            }
            group.addTask {
                // Heartbeats, and the expiry of nodes that stopped sending them.
                while !Task.isCancelled {
                    try? await Task.sleep(for: Self.beatInterval)
                    self.notify([.beat])
                    await self.state.withLock { $0.hub }?.expireNodes()
                }
            }
            await clusterLoop()
            group.cancelAll()
            let listener = state.withLock { inner -> PostgresConnection? in
                defer { inner.listener = nil }
                return inner.listener
            }
            try? await listener?.close()
        }
    }

    private func clusterLoop() async {
        var wakes = self.wakes.makeAsyncIterator()
        while true {
            let (turn, follow, notes) = state.withLock {
                ($0.turnWanted || !$0.queue.isEmpty, $0.followWanted, !$0.notes.isEmpty)
            }
            // Presence, typing and heartbeats go out between any two turns: under a steady stream
            // of turns they would otherwise wait, and the other nodes would count this one dead.
            if notes { await sendNotes() }
            if turn {
                guard await turnUntilDone() else { return }
                await releaseEphemeral()
                continue
            }
            if follow {
                await followOnce()
                await releaseEphemeral()
                continue
            }
            if notes { continue }
            guard await wakes.next() != nil else { break }
        }
        // Shut down: the hub stopped first; what it left waiting gets a last turn.
        while state.withLock({ $0.turnWanted || !$0.queue.isEmpty }) {
            guard await turnUntilDone() else { return }
        }
    }

    /// Runs a write turn, retrying (reconnecting) until it commits; false when shutting down
    /// gave up.
    private func turnUntilDone() async -> Bool {
        var delay = Duration.milliseconds(100)
        var failedSince: ContinuousClock.Instant?
        while true {
            do {
                let connection = try await writerConnection()
                let start = ContinuousClock.now
                let committed = try await turn(connection)
                state.withLock { inner in
                    inner.uncertain = nil
                    inner.failure = nil
                }
                if let batch = committed {
                    commitTimer.recordInterval(since: start)
                    batches.increment()
                    records.increment(by: batch.records.count)
                    finished(batch)
                    // Wakes the other nodes (outside the transaction; see the type's comment).
                    _ = try? await connection.query("NOTIFY chat_cluster", logger: logger)
                    let id = state.withLock { $0.applied }
                    if id % 1_024 == 0 {
                        _ = try? await connection.query(
                            "DELETE FROM cluster_log WHERE id <= \(id - Self.keptTurns)",
                            logger: logger
                        )
                    }
                }
                failing.record(0)
                if failedSince != nil { logger.notice("PostgreSQL writes again") }
                return true
            } catch let error as ClusterDivergence {
                fatal("\(error)")
            } catch {
                let first = failedSince == nil
                failedSince = failedSince ?? .now
                fail(PostgresStoreError.describe(error), log: first)
                failing.record(1)
                await dropConnection()
                // The requests waiting for a turn are refused meanwhile (`internal`), not held.
                await state.withLock { $0.hub }?.turnsFailed()
                let stopping = state.withLock { $0.stopping }
                if Task.isCancelled || (stopping && failedSince.map { ContinuousClock.now - $0 > .seconds(10) } == true)
                {
                    let lost = state.withLock { $0.queue.reduce(0) { $0 + $1.records.count } }
                    logger.critical(
                        "shutting down without PostgreSQL: changes not stored",
                        metadata: ["chat.records": "\(lost)"]
                    )
                    state.withLock {
                        $0.queue = []
                        $0.turnWanted = false
                    }
                    return false
                }
                try? await Task.sleep(for: delay)
                delay = min(delay * 2, .seconds(2))
            }
        }
    }

    /// One write turn on `connection`: returns the batch it committed (nil: nothing to write).
    private func turn(_ connection: PostgresConnection) async throws -> Batch? {
        // A turn whose commit was not confirmed: its batch is still queued.
        if let uncertain = state.withLock({ $0.uncertain }) {
            if try await committed(uncertain.lsn, connection) {
                logger.notice(
                    "a turn whose commit was not confirmed is stored",
                    metadata: ["chat.lsn": "\(uncertain.lsn)"]
                )
                let batch = state.withLock { inner -> Batch in
                    inner.uncertain = nil
                    inner.applied = uncertain.id
                    return Self.batch(of: inner.queue.prefix { $0.lsn <= uncertain.lsn })
                }
                return batch
            }
            // Not stored: this node's state holds the other nodes' turns up to the one before.
            state.withLock { inner in
                inner.uncertain = nil
                inner.applied = uncertain.id - 1
            }
        }
        guard let hub = state.withLock({ $0.hub }) else { return nil }
        // A turn reads every turn committed before it, as a read does (`catchUp` counts it).
        let index = state.withLock { inner in
            inner.followsStarted += 1
            return inner.followsStarted
        }
        let box = TurnBox()
        try await guarded(connection) {
            try await connection.transaction(logger: self.logger) { connection in
                box.batch = try await self.turnTransaction(connection, hub: hub)
            }
        }
        state.withLock { $0.followDone = max($0.followDone, index) }
        return box.batch
    }

    /// The body of a turn's transaction (see the type's comment).
    private func turnTransaction(_ connection: PostgresConnection, hub: RoomHub) async throws -> Batch? {
        let head =
            try await connection.query("SELECT head FROM cluster_head WHERE id = 1 FOR UPDATE", logger: logger)
            .collect().first?.decode(Int64.self) ?? 0
        let (applied, stale) = state.withLock { inner in
            inner.turnWanted = false
            return (inner.applied, !inner.queue.isEmpty)
        }
        var entries: [ClusterEntry] = []
        if head > applied {
            // Changes this node applied before a failed commit, and other nodes wrote since: this
            // node's state is no longer the database's.
            if stale {
                fatal("other nodes wrote while this node's last changes were not stored; reloading")
            }
            entries = try await read(connection, after: applied, through: head).entries
        }
        try await hub.runTurn(entries)
        let batch = state.withLock { inner -> Batch? in
            inner.applied = head
            guard !inner.queue.isEmpty else { return nil }
            return Self.batch(of: inner.queue[...])
        }
        guard let batch else { return nil }
        let now = Self.now()
        let id = head + 1
        // The tables' rows, the rooms' heads, the node's lsn and the turn's log row: for new
        // messages alone, one statement.
        let turn = ClusterTurnRow(
            id: id,
            node: nodeID,
            body: ByteBuffer(bytes: ClusterEntry.encode(batch.commits)),
            at: now
        )
        if let messages = RecordWriter.plainMessages(batch.records) {
            try await RecordWriter.insertOnly(
                messages,
                connection: connection,
                logger: logger,
                node: nodeID,
                lsn: Int64(batch.lsn),
                now: now,
                turn: turn
            )
        } else {
            var writer = RecordWriter(connection: connection, logger: logger, files: files)
            for record in batch.records { try await writer.apply(record) }
            try await writer.finish(node: nodeID, lsn: Int64(batch.lsn), now: now, turn: turn)
        }
        state.withLock { inner in
            inner.uncertain = (batch.lsn, id)
            inner.applied = id
        }
        return batch
    }

    static func batch(of queue: ArraySlice<(lsn: UInt64, records: [LogRecord], events: [ClusterEvent])>) -> Batch {
        var batch = Batch(records: [], lsn: 0, entries: queue.count)
        for entry in queue {
            batch.records.append(contentsOf: entry.records)
            batch.commits.append(ClusterEntry(records: entry.records, events: entry.events))
            batch.lsn = entry.lsn
        }
        return batch
    }

    /// The `cluster_log` rows after `applied` (through `head`, or as many as there are, at most
    /// 512), checked to follow one another.
    private func read(
        _ connection: PostgresConnection,
        after applied: Int64,
        through head: Int64? = nil
    ) async throws -> (entries: [ClusterEntry], last: Int64) {
        let limit: Int64 = head.map { $0 - applied } ?? 512
        var entries: [ClusterEntry] = []
        var expected = applied + 1
        for try await (id, body) in try await connection.query(
            "SELECT id, body FROM cluster_log WHERE id > \(applied) ORDER BY id LIMIT \(limit)",
            logger: logger
        ).decode((Int64, ByteBuffer).self) {
            guard id == expected else {
                fatal("this node is too far behind the others (the turns it lacks were pruned); reloading")
            }
            expected += 1
            entries.append(contentsOf: try ClusterEntry.decode(Array(body.readableBytesView)))
        }
        if let head, expected != head + 1 {
            fatal("cluster_log lacks turns up to \(head); reloading")
        }
        return (entries, expected - 1)
    }

    /// Applies what other nodes committed since this node last looked.
    /// Returns once this node has applied what other nodes committed before the call — a read
    /// of `cluster_log` or a write turn that started after it finished — or after two seconds,
    /// if PostgreSQL cannot be read. File requests, which do not go through a turn, use it.
    package func catchUp() async {
        let started = state.withLock { $0.followsStarted }
        followSoon()
        let deadline = ContinuousClock.now + .seconds(2)
        while state.withLock({ $0.followDone <= started }), ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(2))
        }
    }

    private func followOnce() async {
        let index = state.withLock { inner in
            inner.followWanted = false
            inner.followsStarted += 1
            return inner.followsStarted
        }
        defer { state.withLock { $0.followDone = max($0.followDone, index) } }
        guard let hub = state.withLock({ $0.hub }) else { return }
        do {
            let connection = try await writerConnection()
            let applied = state.withLock { $0.applied }
            let box = EntriesBox()
            try await guarded(connection) {
                (box.entries, box.last) = try await self.read(connection, after: applied)
            }
            state.withLock { $0.failure = nil }
            guard box.last > applied else { return }
            try await hub.applyRemote(box.entries)
            state.withLock { $0.applied = box.last }
            if box.last - applied == 512 { followSoon() }
        } catch let error as ClusterDivergence {
            fatal("\(error)")
        } catch {
            // The next turn or check tries again (and a turn reports the failure).
            logger.debug("reading other nodes' changes failed", metadata: ["error": "\(error)"])
            await dropConnection()
        }
    }

    /// Sends the queued presence and typing events (lost if PostgreSQL is away: they are ephemeral).
    private func sendNotes() async {
        let events = state.withLock { inner in
            defer { inner.notes = [] }
            return inner.notes
        }
        var payloads: [String] = []
        let after = state.withLock { $0.applied }
        for event in events {
            // A notification's payload must stay under 8000 bytes: long lists go in parts.
            if case .online(let users) = event, users.count > Self.usersPerNote {
                for start in stride(from: 0, to: users.count, by: Self.usersPerNote) {
                    let part = Array(users[start..<min(start + Self.usersPerNote, users.count)])
                    payloads.append(EphemeralEvent.online(part).payload(node: nodeID, after: after))
                }
            } else {
                payloads.append(event.payload(node: nodeID, after: after))
            }
        }
        let all = payloads
        let beat = events.contains(.beat)
        let (node, now) = (nodeID, Self.now())
        do {
            let connection = try await writerConnection()
            try await guarded(connection) {
                try await connection.query(
                    "SELECT pg_notify('chat_ephemeral', p) FROM unnest(\(all)::text[]) AS p",
                    logger: self.logger
                )
                // The node's row says it is alive: rows of nodes that died are removed at the next
                // start of a node (`recover`).
                if beat {
                    try await connection.query(
                        "UPDATE nodes SET seen_at = \(now) WHERE id = \(node)",
                        logger: self.logger
                    )
                }
            }
        } catch {
            logger.debug("telling other nodes of presence failed", metadata: ["error": "\(error)"])
            await dropConnection()
        }
    }

    /// Another node's presence or typing: applied once this node has applied the `cluster_log`
    /// rows the sender had (a `presence` right after a `join` on another node must find the
    /// membership, or it reaches nobody), and after the events that arrived before it.
    private func receive(_ event: EphemeralEvent, from node: String, after: Int64) async {
        let (hub, ready) = state.withLock { inner -> (RoomHub?, Bool) in
            guard inner.waitingEphemeral.isEmpty, inner.applied >= after else {
                // Bounded while PostgreSQL cannot be read (they are ephemeral: the oldest go).
                if inner.waitingEphemeral.count >= Self.maxWaitingEphemeral { inner.waitingEphemeral.removeFirst() }
                inner.waitingEphemeral.append((node, after, event))
                return (inner.hub, false)
            }
            return (inner.hub, true)
        }
        if ready {
            await hub?.applyEphemeral(from: node, event)
        } else {
            followSoon()
        }
    }

    /// Applies the waiting presence and typing events whose turns this node has applied now.
    private func releaseEphemeral() async {
        let (hub, ready) = state.withLock {
            inner -> (RoomHub?, [(node: String, after: Int64, event: EphemeralEvent)]) in
            let count = inner.waitingEphemeral.prefix { $0.after <= inner.applied }.count
            defer { inner.waitingEphemeral.removeFirst(count) }
            return (inner.hub, Array(inner.waitingEphemeral.prefix(count)))
        }
        for item in ready { await hub?.applyEphemeral(from: item.node, item.event) }
    }

    /// Listens for other nodes' commits on its own connection (reconnecting), and asks for a
    /// read after each notification, and once listening starts (to catch what came before).
    private func listen() async {
        while !Task.isCancelled {
            do {
                let connection = try await PostgresConnection.connect(
                    configuration: try settings.connectionConfiguration(),
                    id: 2,
                    logger: logger
                )
                state.withLock { $0.listener = connection }
                do {
                    try await withThrowingDiscardingTaskGroup { group in
                        group.addTask {
                            try await connection.listen(on: Self.clusterChannel) { notifications in
                                self.followSoon()
                                for try await _ in notifications { self.followSoon() }
                            }
                        }
                        group.addTask {
                            try await connection.listen(on: Self.ephemeralChannel) { notifications in
                                // Listening: the other nodes say who is online on them.
                                self.notify([.hello])
                                for try await notification in notifications {
                                    guard let (node, after, event) = EphemeralEvent.decode(notification.payload),
                                        node != self.nodeID
                                    else { continue }
                                    await self.receive(event, from: node, after: after)
                                }
                            }
                        }
                    }
                } catch {
                    try? await connection.close()
                    throw error
                }
                try? await connection.close()
            } catch {
                logger.debug("listening for other nodes failed", metadata: ["error": "\(error)"])
            }
            try? await Task.sleep(for: .seconds(1))
        }
    }

    /// This node's state cannot be brought in line with the database's: it exits, and starts
    /// again from the database (its clients reconnect to the other nodes meanwhile).
    func fatal(_ reason: String) -> Never {
        logger.critical("cluster: this node must reload its state; exiting", metadata: ["reason": "\(reason)"])
        exit(3)
    }
}

/// Carries a turn's batch out of the transaction closure.
private final class TurnBox: @unchecked Sendable {
    var batch: PostgresChatStore.Batch?
}

/// Carries rows read out of a guarded closure.
private final class EntriesBox: @unchecked Sendable {
    var entries: [ClusterEntry] = []
    var last: Int64 = 0
}
