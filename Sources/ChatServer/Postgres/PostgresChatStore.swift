import ChatCore
import ChatLog
import Foundation
import Glibc
import Logging
import Metrics
import NIOCore
import PostgresNIO
import ServiceLifecycle
import Synchronization

/// The store of `chat-server --postgres URL` (issue 17, first step: one node): every change is a
/// row in the cluster's tables, and a change is acknowledged once the transaction that holds it
/// has committed.
///
/// - `recover` migrates the schema, takes the database's serving lock (one node at a time until
///   nodes share rooms: a second node is refused at start), registers the node in `nodes`, and
///   loads the state in one `REPEATABLE READ` transaction; an upload whose bytes this node lacks
///   gets them from `blobs`.
/// - `append` queues records; one writer turns whatever is queued into **one transaction**
///   (group commit: a batch of inserts for consecutive messages, a statement for anything else,
///   in the order the hub applied them). The transaction moves each room's `head` from the
///   first new seq − 1 to the last, and fails if another writer moved it; it also stores the
///   batch's log sequence number in the node's row, so a batch whose commit outcome was lost
///   with the connection is recognised rather than written twice.
/// - When PostgreSQL is unreachable, the waiting changes fail (the hub refuses changes, replies
///   `internal`, and `/healthz` says 503); the writer reconnects and retries the same batch until
///   it commits, and the hub accepts changes again. Nothing queued is dropped.
package final class PostgresChatStore: ChatStore {
    /// The session-level advisory lock a serving node holds ("chat" + 1).
    package static let servingLockKey: Int64 = PostgresSchema.lockKey + 1
    /// Most records in one transaction.
    static let maxBatchRecords = 4_096

    private let settings: PostgresSettings
    private let files: FileStore?
    private let directory: DataDirectory?
    /// `--standby`: wait at start while another node serves the database, then take over.
    private let standby: Bool
    /// The data directory's `LOCK`, held while the node runs (-1: none).
    private let lockFD = Mutex<Int32>(-1)
    private let logger: Logger
    /// This node's row in `nodes`.
    package let nodeID: String
    private let state = Mutex(Inner())
    /// Each batch's transaction, from `BEGIN` to the answer to `COMMIT`.
    private let commitTimer = Timer(label: "chat_postgres_commit_seconds")
    private let batches = Counter(label: "chat_postgres_batches_total")
    private let records = Counter(label: "chat_postgres_records_total")
    /// 1 while writing failed and changes are refused (as for the file store).
    private let failing = Gauge(label: "chat_storage_failing")
    /// The write in progress and its connection (`write`, `watch`).
    private let inFlight = Mutex<(connection: ObjectIdentifier, once: ResumeOnce)?>(nil)
    private let wakes: AsyncStream<Void>
    private let wake: AsyncStream<Void>.Continuation

    private struct Inner {
        var queue: [(lsn: UInt64, records: [LogRecord])] = []
        var lastLSN: UInt64 = 0
        var durable: UInt64 = 0
        var failure: String?
        var waiters: [(lsn: UInt64, continuation: CheckedContinuation<Void, any Error>)] = []
        /// The connection `recover` opened, for the writer.
        var connection: PostgresConnection?
        var stopping = false
    }

    /// Creates the store; nothing is opened until `recover`.
    ///
    /// - Parameters:
    ///   - settings: the database.
    ///   - files: where this node keeps upload bytes (their copy of record is in `blobs`).
    ///   - dataDirectory: the node's own directory (locked while it runs; nil: none).
    ///   - standby: wait while another node serves the database (else refuse to start).
    ///   - logger: logger.
    package init(
        settings: PostgresSettings,
        files: FileStore?,
        dataDirectory: String?,
        standby: Bool = false,
        logger: Logger
    ) {
        self.settings = settings
        self.standby = standby
        self.files = files
        directory = dataDirectory.map(DataDirectory.init)
        self.logger = logger
        nodeID = UUID().uuidString.lowercased()
        (wakes, wake) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    // MARK: ChatStore

    package func recover() async throws -> ChatState {
        if let directory {
            try directory.prepare()
            let fd = try directory.lockExclusively("another chat-server runs on this data directory")
            lockFD.withLock { $0 = fd }
            do {
                // A single box's state here would be ignored without a word: say how to move it.
                guard try directory.isEmpty() else {
                    throw StorageError.io(
                        directory.path,
                        "this data directory holds a single-box server's state, which --postgres does not read: "
                            + "copy it with 'chat-server migrate --from \(directory.path) --to URL' and give the "
                            + "node another --data-dir"
                    )
                }
                // Marks the directory as this kind of node's (`DataDirectory.checkNotPostgresNode`).
                try directory.writeAtomically(
                    Array((settings.redacted + "\n").utf8),
                    to: directory.postgresMarkerPath
                )
                // The search index is derived from the state, which may have changed since this
                // node last ran (another node served, the database was restored): an edit or a
                // delete made meanwhile would leave old text findable. It is rebuilt from the
                // state this start loads.
                try? FileManager.default.removeItem(atPath: SearchReindex.directory(dataDirectory: directory.path))
                return try await recoverFromPostgres()
            } catch {
                unlock()
                throw error
            }
        }
        return try await recoverFromPostgres()
    }

    private func unlock() {
        let fd = lockFD.withLock { fd in
            defer { fd = -1 }
            return fd
        }
        if fd >= 0 { Glibc.close(fd) }
    }

    private func recoverFromPostgres() async throws -> ChatState {
        try await settings.probe(logger: logger)
        let connection = try await PostgresConnection.connect(
            configuration: try settings.connectionConfiguration(),
            id: 1,
            logger: logger
        )
        do {
            let outcome = try await PostgresSchema.migrate(connection, logger: logger)
            if standby {
                try await waitForServingLock(connection)
            } else {
                try await takeServingLock(connection)
            }
            // Under the serving lock no other node runs: other rows were left by nodes that died.
            try await connection.query("DELETE FROM nodes", logger: logger)
            try await connection.query(
                """
                INSERT INTO nodes (id, lsn, started_at, seen_at)
                VALUES (\(nodeID), 0, \(Self.now()), \(Self.now()))
                """,
                logger: logger
            )
            let state = try await connection.transaction(logger: logger) { connection in
                try await connection.query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ", logger: logger)
                return try await PostgresState.load(connection, logger: logger)
            }
            let restored = try await restoreBlobs(state, connection)
            logger.info(
                "state loaded from PostgreSQL",
                metadata: [
                    "chat.postgres": "\(settings.redacted)",
                    "chat.schema": "\(outcome.from)→\(outcome.to)",
                    "chat.node": "\(nodeID)",
                    "chat.users": "\(state.users.count)",
                    "chat.rooms": "\(state.rooms.count)",
                    "chat.messages": "\(state.rooms.values.reduce(0) { $0 + $1.head })",
                    "chat.files_restored": "\(restored)",
                ]
            )
            self.state.withLock { $0.connection = connection }
            watch(connection)
            return state
        } catch {
            try? await connection.close()
            throw error
        }
    }

    package func append(_ records: [LogRecord]) -> UInt64 {
        let lsn = state.withLock { inner -> UInt64 in
            guard !records.isEmpty else { return inner.lastLSN }
            inner.lastLSN += 1
            inner.queue.append((inner.lastLSN, records))
            return inner.lastLSN
        }
        wake.yield()
        return lsn
    }

    package func waitDurable(_ lsn: UInt64) async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let outcome = state.withLock { inner -> Result<Void, any Error>? in
                if inner.durable >= lsn { return .success(()) }
                if let failure = inner.failure { return .failure(PostgresStoreError.source(failure)) }
                inner.waiters.append((lsn, continuation))
                return nil
            }
            if let outcome { continuation.resume(with: outcome) }
        }
    }

    package func isDurable(_ lsn: UInt64) -> Bool {
        state.withLock { $0.durable >= lsn }
    }

    /// Every change is in the tables as it commits: there is nothing to snapshot.
    package var snapshotDue: Bool { false }

    package func snapshot(_ state: ChatState) {}

    package func run() async throws {
        await withGracefulShutdownHandler {
            await writeLoop()
        } onGracefulShutdown: {
            self.state.withLock { $0.stopping = true }
            self.wake.finish()
        }
        await close()
    }

    /// Leaves: removes the node's row, closes the connection (releasing the serving lock) and
    /// unlocks the data directory. `run` does it once everything queued is written.
    package func close() async {
        let connection = state.withLock { inner -> PostgresConnection? in
            defer { inner.connection = nil }
            return inner.connection
        }
        if let connection {
            _ = try? await connection.query("DELETE FROM nodes WHERE id = \(nodeID)", logger: logger)
            // Released now, not when the server notices the closed connection (a node started
            // right after this one stops must not find it still held).
            _ = try? await connection.query("SELECT pg_advisory_unlock(\(Self.servingLockKey))", logger: logger)
            try? await connection.close()
        }
        unlock()
    }

    // MARK: Writer

    /// Writes batches until shut down and drained.
    private func writeLoop() async {
        var wakes = self.wakes.makeAsyncIterator()
        while true {
            if let batch = nextBatch() {
                await store(batch)
                continue
            }
            guard await wakes.next() != nil else { break }
        }
        // Shut down: what the hub appended last (it stops first) is written too.
        while let batch = nextBatch() { await store(batch) }
    }

    private struct Batch {
        var records: [LogRecord]
        var lsn: UInt64
        var entries: Int
    }

    /// The queued records, oldest first, up to `maxBatchRecords` (at least one entry).
    private func nextBatch() -> Batch? {
        state.withLock { inner in
            guard !inner.queue.isEmpty else { return nil }
            var records: [LogRecord] = []
            var entries = 0
            var lsn: UInt64 = 0
            for entry in inner.queue {
                if entries > 0, records.count + entry.records.count > Self.maxBatchRecords { break }
                records.append(contentsOf: entry.records)
                lsn = entry.lsn
                entries += 1
            }
            return Batch(records: records, lsn: lsn, entries: entries)
        }
    }

    /// Commits a batch, retrying (reconnecting) until it is stored; on shutdown gives up after
    /// about ten seconds of failures and says what was lost.
    private func store(_ batch: Batch) async {
        var delay = Duration.milliseconds(100)
        var failedSince: ContinuousClock.Instant?
        var uncertain = false
        while true {
            do {
                let connection = try await writerConnection()
                if uncertain, try await committed(batch.lsn, connection) {
                    logger.notice(
                        "a batch whose commit was not confirmed is stored",
                        metadata: ["chat.lsn": "\(batch.lsn)"]
                    )
                } else {
                    let start = ContinuousClock.now
                    try await write(batch, connection)
                    commitTimer.recordInterval(since: start)
                    batches.increment()
                    records.increment(by: batch.records.count)
                }
                finished(batch)
                failing.record(0)
                if failedSince != nil { logger.notice("PostgreSQL writes again") }
                return
            } catch {
                uncertain = true
                let first = failedSince == nil
                failedSince = failedSince ?? .now
                fail(PostgresStoreError.describe(error), log: first)
                failing.record(1)
                await dropConnection()
                let stopping = state.withLock { $0.stopping }
                let cancelled = Task.isCancelled
                if cancelled || (stopping && failedSince.map { ContinuousClock.now - $0 > .seconds(10) } == true) {
                    let lost = state.withLock { $0.queue.reduce(0) { $0 + $1.records.count } }
                    logger.critical(
                        "shutting down without PostgreSQL: changes not stored",
                        metadata: ["chat.records": "\(lost)"]
                    )
                    state.withLock { $0.queue = [] }
                    return
                }
                try? await Task.sleep(for: delay)
                delay = min(delay * 2, .seconds(2))
            }
        }
    }

    /// The batch is stored: its waiters resume, and the store works (again).
    private func finished(_ batch: Batch) {
        let ready = state.withLock { inner -> [CheckedContinuation<Void, any Error>] in
            inner.queue.removeFirst(batch.entries)
            inner.durable = batch.lsn
            inner.failure = nil
            var ready: [CheckedContinuation<Void, any Error>] = []
            inner.waiters.removeAll { waiter in
                guard waiter.lsn <= batch.lsn else { return false }
                ready.append(waiter.continuation)
                return true
            }
            return ready
        }
        for continuation in ready { continuation.resume() }
    }

    /// Storing failed: every waiter gets the error (the hub refuses changes until the retry
    /// goes through).
    private func fail(_ reason: String, log: Bool) {
        if log {
            logger.error("writing to PostgreSQL failed; retrying", metadata: ["error": "\(reason)"])
        }
        let waiters = state.withLock { inner in
            inner.failure = reason
            defer { inner.waiters = [] }
            return inner.waiters
        }
        for waiter in waiters { waiter.continuation.resume(throwing: PostgresStoreError.source(reason)) }
    }

    private func dropConnection() async {
        let connection = state.withLock { inner -> PostgresConnection? in
            defer { inner.connection = nil }
            return inner.connection
        }
        try? await connection?.close()
    }

    /// The writer's connection, opened again (with the serving lock) after a failure.
    private func writerConnection() async throws -> PostgresConnection {
        if let connection = state.withLock({ $0.connection }), !connection.isClosed { return connection }
        let connection = try await PostgresConnection.connect(
            configuration: try settings.connectionConfiguration(),
            id: 1,
            logger: logger
        )
        do {
            try await retakeServingLock(connection)
        } catch {
            // Closed on every way out: postgres-nio traps when a connection is released open.
            try? await connection.close()
            throw error
        }
        state.withLock { $0.connection = connection }
        watch(connection)
        return connection
    }

    /// Takes the serving lock again after a reconnect. This node's previous session may hold it
    /// for a moment yet (PostgreSQL releases it when that backend exits, a little after the
    /// connection closed): only a lock still held after ten seconds is another node's, and then
    /// this node exits.
    private func retakeServingLock(_ connection: PostgresConnection) async throws {
        let deadline = ContinuousClock.now + .seconds(10)
        while true {
            do {
                try await takeServingLock(connection)
                return
            } catch let error as PostgresStoreError {
                guard ContinuousClock.now >= deadline else {
                    try await Task.sleep(for: .milliseconds(200))
                    continue
                }
                // Another node took the database over while this one was cut off (it started as
                // a standby): whatever this node still holds is stale, and it can never write
                // again. Its clients reconnect (through the load balancer) to the node that serves.
                logger.critical(
                    "another node took over this database while this one was cut off from it; exiting",
                    metadata: ["error": "\(error)"]
                )
                exit(3)
            }
        }
    }

    /// Waits (polling once a second) until no other node serves the database, then takes the lock.
    private func waitForServingLock(_ connection: PostgresConnection) async throws {
        var logged = false
        while true {
            let taken =
                try await connection.query("SELECT pg_try_advisory_lock(\(Self.servingLockKey))", logger: logger)
                .collect().first?.decode(Bool.self) ?? false
            if taken { break }
            if !logged {
                logger.notice("standby: another node serves this database; taking over when it stops")
                logged = true
            }
            try await Task.sleep(for: .seconds(1))
        }
        if logged { logger.notice("standby: the database is free; taking over") }
    }

    /// Takes the session-level lock that one serving node holds.
    private func takeServingLock(_ connection: PostgresConnection) async throws {
        let taken =
            try await connection.query("SELECT pg_try_advisory_lock(\(Self.servingLockKey))", logger: logger)
            .collect().first?.decode(Bool.self) ?? false
        guard taken else {
            throw PostgresStoreError.source(
                "another chat-server node serves this database; one node serves a database at a time "
                    + "(start this one with --standby to take over when that one stops; docs/OPERATIONS.md, section 19)"
            )
        }
    }

    /// Whether the batch ending at `lsn` committed (its commit outcome was lost with the connection).
    private func committed(_ lsn: UInt64, _ connection: PostgresConnection) async throws -> Bool {
        let stored =
            try await connection.query("SELECT lsn FROM nodes WHERE id = \(nodeID)", logger: logger)
            .collect().first?.decode(Int64.self) ?? 0
        return stored >= Int64(lsn)
    }

    /// `transaction(_:_:)`, or an error as soon as the connection closes: postgres-nio was seen to
    /// leave a query of the transaction waiting forever when PostgreSQL shut down under it (a fast
    /// shutdown while the batch was being written; the node then neither stored nor failed
    /// anything until it was killed). The abandoned task only ever meets the closed connection.
    private func write(_ batch: Batch, _ connection: PostgresConnection) async throws {
        defer { inFlight.withLock { $0 = nil } }
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let once = ResumeOnce(continuation)
            inFlight.withLock { $0 = (ObjectIdentifier(connection), once) }
            if connection.isClosed { once.resume(.failure(Self.closed)) }  // closed before `watch` could see it
            Task {
                do {
                    try await self.transaction(batch, connection)
                    once.resume(.success(()))
                } catch {
                    once.resume(.failure(error))
                }
            }
        }
    }

    static let closed = PostgresStoreError.source("the connection to PostgreSQL closed")

    /// Fails the write in flight on `connection` when it closes (one callback per connection, not
    /// one per write: the future keeps every callback until it completes).
    private func watch(_ connection: PostgresConnection) {
        let id = ObjectIdentifier(connection)
        connection.closeFuture.whenComplete { [weak self] _ in
            let once = self?.inFlight.withLock { $0?.connection == id ? $0?.once : nil }
            once?.resume(.failure(Self.closed))
        }
    }

    /// One transaction: the records in order, then the rooms' heads, then the node's lsn.
    private func transaction(_ batch: Batch, _ connection: PostgresConnection) async throws {
        let logger = self.logger
        let nodeID = self.nodeID
        let files = self.files
        if let messages = RecordWriter.plainMessages(batch.records) {
            // The usual batch: new messages only, in one statement (one round trip, atomic).
            try await RecordWriter.insertOnly(
                messages,
                connection: connection,
                logger: logger,
                node: nodeID,
                lsn: Int64(batch.lsn),
                now: Self.now()
            )
            return
        }
        try await connection.transaction(logger: logger) { connection in
            var writer = RecordWriter(connection: connection, logger: logger, files: files)
            for record in batch.records { try await writer.apply(record) }
            try await writer.finish(node: nodeID, lsn: Int64(batch.lsn), now: Self.now())
        }
    }

    /// Writes into this node's file store the bytes of every upload it lacks.
    private func restoreBlobs(_ state: ChatState, _ connection: PostgresConnection) async throws -> Int {
        guard let files else { return 0 }
        var restored = 0
        for sha256 in Set(state.uploads.values.map(\.file.sha256)).sorted() {
            let path = files.blobPath(sha256)
            guard !FileManager.default.fileExists(atPath: path) else { continue }
            var data = Data()
            for try await part in try await connection.query(
                "SELECT data FROM blobs WHERE sha256 = \(sha256) ORDER BY part",
                logger: logger
            ).decode(ByteBuffer.self) {
                data.append(contentsOf: part.readableBytesView)
            }
            guard
                !data.isEmpty || state.uploads.values.contains(where: { $0.file.sha256 == sha256 && $0.file.size == 0 })
            else {
                logger.warning(
                    "an upload's bytes are in neither this node nor PostgreSQL",
                    metadata: ["chat.sha256": "\(sha256)"]
                )
                continue
            }
            try FileManager.default.createDirectory(
                atPath: (path as NSString).deletingLastPathComponent,
                withIntermediateDirectories: true,
                attributes: [.posixPermissions: 0o700]
            )
            try data.write(to: URL(fileURLWithPath: path), options: .atomic)
            restored += 1
        }
        return restored
    }

    static func now() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) }
}

/// Turns records into statements inside one transaction. Consecutive new messages go in one
/// `INSERT … unnest`; a change event also rewrites its target row (`MessageChanges`), so every row
/// holds its message's latest version, as the copy (`migrate --from`) writes them.
struct RecordWriter {
    let connection: PostgresConnection
    let logger: Logger
    let files: FileStore?
    private var rows: [MessageRow] = []
    /// Room key → (head before this batch, newest seq written).
    private var heads: [String: (before: Int64, last: Int64)] = [:]

    init(connection: PostgresConnection, logger: Logger, files: FileStore?) {
        self.connection = connection
        self.logger = logger
        self.files = files
    }

    mutating func apply(_ record: LogRecord) async throws {
        if case .messageAppended(let message) = record {
            let room = TextRules.foldKey(message.room)
            if let head = heads[room] {
                guard message.seq == head.last + 1 else {
                    throw PostgresStoreError.source("room \(room): seq \(message.seq) follows \(head.last)")
                }
                heads[room]?.last = message.seq
            } else {
                heads[room] = (message.seq - 1, message.seq)
            }
            rows.append(MessageRow(message, roomKey: room, senderKey: TextRules.foldKey(message.from)))
            if rows.count >= PostgresImport.batchRows { try await flush() }
            if let target = message.target, target >= 1, target < message.seq {
                try await flush()
                try await change(message, room: room, target: target)
            }
            return
        }
        try await flush()
        try await statement(record)
    }

    /// Writes the pending message rows, then in one statement moves every room's head from where
    /// this batch found it (failing if another writer moved one) and stores the batch's lsn in the
    /// node's row. One statement, not one per room: a batch of 64 senders' messages in 64 rooms
    /// took 64 round trips (about 20 ms) before.
    mutating func finish(node: String, lsn: Int64, now: Int64) async throws {
        try await flush()
        let sorted = heads.sorted { $0.key < $1.key }
        let keys = sorted.map(\.key)
        let before = sorted.map(\.value.before)
        let last = sorted.map(\.value.last)
        let moved = try await connection.query(
            """
            WITH moved AS (
                UPDATE rooms SET head = h.last
                FROM unnest(\(keys)::text[], \(before)::int8[], \(last)::int8[]) AS h (key, before, last)
                WHERE rooms.key = h.key AND rooms.head = h.before
                RETURNING rooms.key
            ), node AS (
                UPDATE nodes SET lsn = \(lsn), seen_at = \(now) WHERE id = \(node)
            )
            SELECT key FROM moved
            """,
            logger: logger
        ).collect()
        guard moved.count == keys.count else {
            let done = Set(try moved.map { try $0.decode(String.self) })
            let room = keys.first { !done.contains($0) } ?? "?"
            throw PostgresStoreError.source(
                "room \(room): its head is no longer \(heads[room]?.before ?? 0) (another writer stored messages)"
            )
        }
    }

    /// The messages of a batch made only of new messages that change no other (nil: anything
    /// else, or more rows than one insert takes).
    static func plainMessages(_ records: [LogRecord]) -> [ChatMessage]? {
        guard records.count <= PostgresImport.batchRows else { return nil }
        var messages: [ChatMessage] = []
        messages.reserveCapacity(records.count)
        for record in records {
            guard case .messageAppended(let message) = record, message.target == nil else { return nil }
            messages.append(message)
        }
        return messages
    }

    /// Inserts new messages, moves their rooms' heads (failing unless each was where the batch
    /// found it) and stores the node's lsn, in one statement: it commits or fails whole
    /// (`chat_refuse`, schema version 3, raises when a head had moved).
    static func insertOnly(
        _ messages: [ChatMessage],
        connection: PostgresConnection,
        logger: Logger,
        node: String,
        lsn: Int64,
        now: Int64
    ) async throws {
        var heads: [String: (before: Int64, last: Int64)] = [:]
        var rows: [MessageRow] = []
        rows.reserveCapacity(messages.count)
        for message in messages {
            let room = TextRules.foldKey(message.room)
            if let head = heads[room] {
                guard message.seq == head.last + 1 else {
                    throw PostgresStoreError.source("room \(room): seq \(message.seq) follows \(head.last)")
                }
                heads[room]?.last = message.seq
            } else {
                heads[room] = (message.seq - 1, message.seq)
            }
            rows.append(MessageRow(message, roomKey: room, senderKey: TextRules.foldKey(message.from)))
        }
        let sorted = heads.sorted { $0.key < $1.key }
        let keys = sorted.map(\.key)
        let before = sorted.map(\.value.before)
        let last = sorted.map(\.value.last)
        let rooms = rows.map(\.room)
        let seqs = rows.map(\.seq)
        let senders = rows.map(\.sender)
        let senderKeys = rows.map(\.senderKey)
        let hasSearch = rows.map { $0.search != nil }
        let search = rows.map { $0.search ?? "" }
        let kinds = rows.map(\.kind)
        let bodies = rows.map(\.body)
        let ts = rows.map(\.ts)
        let hasNonce = rows.map { $0.nonce != nil }
        let nonces = rows.map { $0.nonce ?? "" }
        let hasDetails = rows.map { $0.details != nil }
        let details = rows.map { $0.details ?? "" }
        _ = try await connection.query(
            """
            WITH inserted AS (
                INSERT INTO messages (room_key, seq, sender, sender_key, kind, body, ts, nonce, details, search)
                SELECT r, s, f, fk, k, b, t, CASE WHEN hn THEN n END, CASE WHEN hd THEN d::jsonb END,
                       CASE WHEN hs THEN v::tsvector END
                FROM unnest(\(rooms)::text[], \(seqs)::int8[], \(senders)::text[], \(senderKeys)::text[],
                            \(kinds)::text[], \(bodies)::text[], \(ts)::int8[], \(hasNonce)::bool[], \(nonces)::text[],
                            \(hasDetails)::bool[], \(details)::text[], \(hasSearch)::bool[], \(search)::text[])
                    AS m (r, s, f, fk, k, b, t, hn, n, hd, d, hs, v)
            ), moved AS (
                UPDATE rooms SET head = h.last
                FROM unnest(\(keys)::text[], \(before)::int8[], \(last)::int8[]) AS h (key, before, last)
                WHERE rooms.key = h.key AND rooms.head = h.before
                RETURNING rooms.key
            ), node AS (
                UPDATE nodes SET lsn = \(lsn), seen_at = \(now) WHERE id = \(node)
            )
            SELECT CASE WHEN (SELECT count(*) FROM moved) = \(Int64(keys.count)) THEN 0
                ELSE chat_refuse('a room''s head is no longer where this batch found it (another writer stored messages)')
            END
            """,
            logger: logger
        ).collect()
    }

    private mutating func flush() async throws {
        guard !rows.isEmpty else { return }
        try await PostgresImport.Writer(connection: connection, logger: logger).messages(rows)
        rows.removeAll(keepingCapacity: true)
    }

    /// Rewrites the target of a change event (and, for a delete, blanks its edit events).
    private func change(_ event: ChatMessage, room: String, target: Int64) async throws {
        let found = try await connection.query(
            """
            SELECT sender, kind, body, ts, nonce, details::text FROM messages
            WHERE room_key = \(room) AND seq = \(target)
            """,
            logger: logger
        ).collect()
        guard let row = found.first else { return }
        let (sender, kind, body, ts, nonce, details) = try row.decode(
            (String, String, String, Int64, String?, String?).self
        )
        var message = try MessageRow(
            room: room,
            seq: target,
            sender: sender,
            kind: kind,
            body: body,
            ts: ts,
            nonce: nonce,
            details: details
        ).message(roomName: event.room)
        guard MessageChanges.apply(event, to: &message) else { return }
        let updated = MessageRow(message, roomKey: room, senderKey: TextRules.foldKey(message.from))
        let hasDetails = updated.details != nil
        let hasSearch = updated.search != nil
        try await connection.query(
            """
            UPDATE messages SET body = \(updated.body),
                details = CASE WHEN \(hasDetails) THEN \(updated.details ?? "")::jsonb END,
                search = CASE WHEN \(hasSearch) THEN \(updated.search ?? "")::tsvector END
            WHERE room_key = \(room) AND seq = \(target)
            """,
            logger: logger
        )
        if event.kind == .delete {
            try await connection.query(
                """
                UPDATE messages SET body = ''
                WHERE room_key = \(room) AND seq > \(target) AND seq < \(event.seq) AND kind = 'edit'
                    AND (details->>'target')::int8 = \(target) AND body <> ''
                """,
                logger: logger
            )
        }
    }

    // swiftlint:disable:next cyclomatic_complexity function_body_length
    private func statement(_ record: LogRecord) async throws {
        switch record {
        case .userCreated(let name, let hash, let ts):
            try await run(
                """
                INSERT INTO users (key, name, password_hash, created_at, disabled)
                VALUES (\(TextRules.foldKey(name)), \(name), \(hash), \(ts), false) ON CONFLICT (key) DO NOTHING
                """
            )
        case .passwordChanged(let user, let hash):
            try await run("UPDATE users SET password_hash = \(hash) WHERE key = \(user)")
        case .userDisabled(let user, let disabled):
            try await run("UPDATE users SET disabled = \(disabled) WHERE key = \(user)")
        case .tokenIssued(let user, let hash, let ts):
            try await run(
                """
                INSERT INTO tokens (hash, user_key, issued_at, used_at) VALUES (\(hash), \(user), \(ts), \(ts))
                ON CONFLICT (hash) DO UPDATE SET user_key = excluded.user_key, issued_at = excluded.issued_at,
                    used_at = excluded.used_at
                """
            )
        case .tokenRevoked(let hash):
            try await run("DELETE FROM tokens WHERE hash = \(hash)")
        case .tokenUsed(let hash, let ts):
            try await run("UPDATE tokens SET used_at = greatest(used_at, \(ts)) WHERE hash = \(hash)")
        case .roomCreated(let name, let epoch, let ts):
            try await run(
                """
                INSERT INTO rooms (key, name, epoch, created_at) VALUES (\(TextRules.foldKey(name)), \(name), \(epoch), \(ts))
                ON CONFLICT (key) DO NOTHING
                """
            )
        case .epochChanged(let room, let epoch):
            try await run("UPDATE rooms SET epoch = \(epoch) WHERE key = \(room)")
        case .roomAccess(let room, let visibility, let owner):
            try await run(
                "UPDATE rooms SET visibility = \(visibility.rawValue), owner_key = \(owner) WHERE key = \(room)"
            )
        case .topicSet(let room, let topic, _):
            try await run("UPDATE rooms SET topic = \(topic) WHERE key = \(room)")
        case .memberAdded(let room, let user):
            try await run(
                """
                INSERT INTO members (room_key, user_key, read_seq)
                SELECT \(room), \(user), 0
                WHERE EXISTS (SELECT 1 FROM rooms WHERE key = \(room)) AND EXISTS (SELECT 1 FROM users WHERE key = \(user))
                ON CONFLICT DO NOTHING
                """
            )
        case .memberRemoved(let room, let user):
            try await run("DELETE FROM members WHERE room_key = \(room) AND user_key = \(user)")
        case .readMarked(let room, let user, let seq):
            try await run(
                "UPDATE members SET read_seq = \(seq) WHERE room_key = \(room) AND user_key = \(user) AND read_seq < \(seq)"
            )
        case .inviteCreated(let hash, let uses, let expiresAt, let ts):
            try await run(
                """
                INSERT INTO invites (code_hash, uses_left, expires_at, created_at) VALUES (\(hash), \(uses), \(expiresAt), \(ts))
                ON CONFLICT (code_hash) DO UPDATE SET uses_left = excluded.uses_left, expires_at = excluded.expires_at,
                    created_at = excluded.created_at
                """
            )
        case .inviteUsed(let hash):
            try await run("UPDATE invites SET uses_left = uses_left - 1 WHERE code_hash = \(hash)")
            try await run("DELETE FROM invites WHERE code_hash = \(hash) AND uses_left <= 0")
        case .inviteRevoked(let hash):
            try await run("DELETE FROM invites WHERE code_hash = \(hash)")
        case .fileUploaded(let upload):
            let file = upload.file
            try await run(
                """
                INSERT INTO uploads (id, name, mime, size, sha256, uploader_key, ts)
                VALUES (\(file.id), \(file.name), \(file.mime), \(file.size), \(file.sha256), \(upload.uploader), \(upload.ts))
                ON CONFLICT (id) DO UPDATE SET name = excluded.name, mime = excluded.mime, size = excluded.size,
                    sha256 = excluded.sha256, uploader_key = excluded.uploader_key, ts = excluded.ts
                """
            )
            try await blob(file.sha256)
        case .fileRemoved(let id):
            let removed = try await connection.query(
                "DELETE FROM uploads WHERE id = \(id) RETURNING sha256",
                logger: logger
            ).collect()
            for row in removed {
                let sha256 = try row.decode(String.self)
                try await run(
                    """
                    DELETE FROM blobs WHERE sha256 = \(sha256)
                        AND NOT EXISTS (SELECT 1 FROM uploads WHERE sha256 = \(sha256))
                    """
                )
            }
        case .roomExpired(let room, let through, let before):
            try await run(
                """
                UPDATE rooms SET expired = greatest(expired, \(through)), expired_before = greatest(expired_before, \(before))
                WHERE key = \(room)
                """
            )
        case .roomCold, .fileShared:
            break  // snapshot records: the tables hold every message
        case .messageAppended:
            break  // handled by `apply`
        }
    }

    /// Stores an upload's bytes unless they are there already (the same bytes uploaded twice).
    private func blob(_ sha256: String) async throws {
        guard let files else { return }
        let held = try await connection.query(
            "SELECT 1 FROM blobs WHERE sha256 = \(sha256) AND part = 0",
            logger: logger
        ).collect()
        guard held.isEmpty else { return }
        let path = files.blobPath(sha256)
        guard FileManager.default.fileExists(atPath: path) else {
            // Removed by the sweeper before this batch was written: nothing to keep.
            logger.warning(
                "an upload's bytes were gone before they reached PostgreSQL",
                metadata: ["chat.sha256": "\(sha256)"]
            )
            return
        }
        _ = try await PostgresImport.Writer(connection: connection, logger: logger).blob(sha256, path: path)
    }

    private func run(_ query: PostgresQuery) async throws {
        try await connection.query(query, logger: logger)
    }
}

/// Resumes a continuation once; later results are dropped.
private final class ResumeOnce: Sendable {
    private let continuation: Mutex<CheckedContinuation<Void, any Error>?>

    init(_ continuation: CheckedContinuation<Void, any Error>) { self.continuation = Mutex(continuation) }

    func resume(_ result: Result<Void, any Error>) {
        let continuation = self.continuation.withLock { continuation in
            defer { continuation = nil }
            return continuation
        }
        continuation?.resume(with: result)
    }
}
