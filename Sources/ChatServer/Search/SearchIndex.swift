import ChatCore
import Foundation
import GRDB
import Logging
import NIOPosix
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The full-text index: SQLite FTS5 (through GRDB) with the `chat` tokenizer, in
/// `<data-dir>/search/index.sqlite` (WAL mode) or in memory.
///
/// Row ids encode time and room: `ts << 21 | roomID << 5 | slot` (a 16-bit room number
/// from the `room` table, 32 slots per room and millisecond). "Newest first" is FTS5's
/// native descending row id order and `before` is a row id bound.
///
/// The room filter is part of the full-text query: every row's `tags` column holds a
/// token for its room (`r` + hash of the room key), and a search that may not see every
/// room ANDs its terms with those tokens, so FTS5 walks the posting lists of the user's
/// rooms, not the whole posting list of a common word. Row ids are checked as well
/// (arithmetic on the room number; rooms beyond the 65 535th share room number 0 and are
/// checked against the stored room key), which keeps the filter exact.
package final class SearchIndex: SearchIndexWriting {
    private let writer: any DatabaseWriter
    /// Room fold key → room number, as committed.
    private let roomIDs: Mutex<[String: Int64]>
    /// Row ids given out, so a message in a newer millisecond than its room's last row (or in
    /// the same one) takes its slot without reading the table: `highest` is at least the
    /// table's highest row id (read at the first write), `last[room]` at least the highest of
    /// that room number's rows (`highest` when the room was first seen). Only `store` (one
    /// write at a time) uses them. After a failed write or a delete they are above the table,
    /// which leaves gaps, never a taken row id.
    private let rowIDs = Mutex<(highest: Int64?, last: [Int64: Int64])>((nil, [:]))
    /// The database file, nil in memory.
    package let path: String?

    /// How many of the newest matches relevance ranking looks at.
    package static let rankingWindow = 1000
    static let timeShift: Int64 = 21
    static let roomShift: Int64 = 5
    static let roomMask: Int64 = 0xFFFF
    /// The highest room number handed out (0xFFFF; lower in tests of the overflow path).
    let maxRoomID: Int64
    /// Bump when the table layout changes: stored indexes are rebuilt.
    static let schemaVersion = 4

    /// Opens (or creates) an index. A file that cannot be opened or that was built
    /// by another tokenizer version is deleted and the index starts empty: it is
    /// derived data, and the indexer rebuilds it from the message log.
    ///
    /// - Parameters:
    ///   - directory: the directory for the index files; nil keeps the index in memory.
    ///   - logger: logger.
    package static func open(directory: String?, logger: Logger) throws -> SearchIndex {
        guard let directory else { return try SearchIndex(path: nil) }
        try DataDirectory(directory).prepare()
        let path = directory + "/index.sqlite"
        do {
            let index = try SearchIndex(path: path)
            // SQLite creates its files 0644; they hold every message's text.
            for file in [path, path + "-wal", path + "-shm"] { chmod(file, 0o600) }
            return index
        } catch {
            logger.warning(
                "search index unusable; deleting it to rebuild",
                metadata: ["chat.file": "\(path)", "error": "\(error)"]
            )
            removeFiles(path: path)
            return try SearchIndex(path: path)
        }
    }

    /// Deletes an index's files (the database and its WAL).
    ///
    /// - Parameters:
    ///   - path: the database path.
    package static func removeFiles(path: String) {
        for suffix in ["", "-wal", "-shm", "-journal"] { unlink(path + suffix) }
    }

    /// Opens an index at a path (nil: in memory).
    ///
    /// - Parameters:
    ///   - path: database file.
    ///   - maxRoomID: the highest room number; rooms beyond share number 0.
    package init(path: String?, maxRoomID: Int64 = 0xFFFF) throws {
        self.maxRoomID = min(maxRoomID, Self.roomMask)
        var configuration = Configuration()
        configuration.label = "chat-search"
        // SQLite's page cache is per connection: at most two readers (two cores) and 4 MiB each
        // keep it to 12 MiB in all (it was 16 MiB for each of up to six connections). The OS
        // page cache still holds the index file; a miss here costs a pread, not a disk read.
        configuration.maximumReaderCount = 2
        configuration.prepareDatabase { db in
            db.add(tokenizer: ChatFTS5Tokenizer.self)
            try db.execute(sql: "PRAGMA cache_size = -4096")
            // Freed pages are zeroed: a deleted message's text must not linger in the file.
            try db.execute(sql: "PRAGMA secure_delete = ON")
        }
        if let path {
            let pool = try DatabasePool(path: path, configuration: configuration)
            try pool.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA synchronous = NORMAL") }
            writer = pool
        } else {
            writer = try DatabaseQueue(configuration: configuration)
        }
        self.path = path
        let ids = try writer.write { db -> [String: Int64] in
            try Self.migrate(db)
            var ids: [String: Int64] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT key, id FROM room") { ids[row[0]] = row[1] }
            return ids
        }
        roomIDs = Mutex(ids)
    }

    private static func migrate(_ db: Database) throws {
        try db.execute(sql: "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL)")
        let version = try Int.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'tokenizer'")
        let schema = try Int.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'schema'")
        if version != SearchTokenizer.version || schema != schemaVersion {
            try db.execute(sql: "DROP TABLE IF EXISTS msg")
            try db.execute(sql: "DROP TABLE IF EXISTS cursor")
            try db.execute(sql: "DROP TABLE IF EXISTS room")
        }
        try db.execute(
            sql: """
                CREATE VIRTUAL TABLE IF NOT EXISTS msg USING fts5(
                    text, tags, room UNINDEXED, seq UNINDEXED, sender UNINDEXED, ts UNINDEXED,
                    tokenize = 'chat'
                );
                CREATE TABLE IF NOT EXISTS room(id INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE);
                CREATE TABLE IF NOT EXISTS cursor(
                    room TEXT PRIMARY KEY, epoch TEXT NOT NULL, seq INTEGER NOT NULL
                ) WITHOUT ROWID;
                """
        )
        try db.execute(
            sql: "INSERT OR REPLACE INTO meta(key, value) VALUES ('tokenizer', ?), ('schema', ?)",
            arguments: [SearchTokenizer.version, schemaVersion]
        )
    }

    package func cursors() async throws -> [String: IndexCursor] {
        try await writer.read { db in
            var result: [String: IndexCursor] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT room, epoch, seq FROM cursor") {
                result[row[0]] = IndexCursor(epoch: row[1], seq: row[2])
            }
            return result
        }
    }

    /// The thread index batches are written on, shared by every index in the process, at nice
    /// 10. Indexing (SQLite and the tokenizer: a fifth of a saturated one-core server's CPU)
    /// then yields to delivering messages when the CPU is short: search trails by more
    /// (`chat_search_lag`) and catches up when the load drops; an idle machine sees no
    /// difference. GRDB runs a synchronous write on the calling thread.
    private static let writeThread: NIOThreadPool = {
        let pool = NIOThreadPool(numberOfThreads: 1)
        pool.start()
        pool.submit { _ in
            #if os(Linux)
            // On Linux the nice value is per thread, and `who` 0 is the calling thread.
            _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, 10)
            #endif
        }
        return pool
    }()

    /// Free bytes below which the server's indexer does not write: the last of the disk is
    /// left to the message log (the index is derived and catches up), as uploads leave it.
    package static let reserveBytes: Int64 = FileStore.reserveBytes

    /// A batch not written because the index's disk is nearly full (the indexer retries it).
    package struct LowDiskSpace: Error, CustomStringConvertible {
        package var description: String {
            "less than \(SearchIndex.reserveBytes >> 20) MiB free on the search index's disk; "
                + "indexing waits, the space is left to the message log"
        }
    }

    package func write(_ batch: IndexBatch) async throws {
        if let path, let free = DataDirectory.freeBytes(onFileSystemOf: path), free < Self.reserveBytes {
            throw LowDiskSpace()
        }
        try await Self.writeThread.runIfActive { try self.writeNow(batch) }
    }

    /// Stores a batch synchronously (the offline `reindex`).
    ///
    /// - Parameters:
    ///   - batch: the batch.
    package func writeNow(_ batch: IndexBatch) throws {
        do {
            try writer.write { db in try self.store(batch, db) }
        } catch {
            // Whatever failed, the next attempt reads the row ids from the table again rather
            // than trusting what this object remembers.
            rowIDs.withLock { $0 = (nil, [:]) }
            throw error
        }
    }

    private func store(_ batch: IndexBatch, _ db: Database) throws {
        for room in batch.resets {
            try db.execute(sql: "DELETE FROM msg WHERE room = ?", arguments: [room])
            try db.execute(sql: "DELETE FROM cursor WHERE room = ?", arguments: [room])
        }
        if !batch.removals.isEmpty {
            // A row's rowid starts with its time, and a row is stored at its millisecond or, when
            // that one's slots are full, a later one: look one second ahead.
            let remove = try db.cachedStatement(
                sql: "DELETE FROM msg WHERE rowid >= ? AND rowid < ? AND room = ? AND seq = ?"
            )
            for removal in batch.removals {
                let start = max(0, removal.ts) << Self.timeShift
                let end = (max(0, removal.ts) + 1000) << Self.timeShift
                try remove.execute(arguments: [start, end, removal.room, removal.seq])
            }
        }
        if !batch.expiries.isEmpty {
            // One pass over the rows stored before the latest cutoff (a row sits at its
            // millisecond or up to a second later), each checked against its room's expiry.
            try db.execute(
                sql: """
                    CREATE TEMP TABLE IF NOT EXISTS expiry(room TEXT PRIMARY KEY, through INTEGER NOT NULL)
                    WITHOUT ROWID
                    """
            )
            try db.execute(sql: "DELETE FROM temp.expiry")
            let add = try db.cachedStatement(sql: "INSERT OR REPLACE INTO temp.expiry(room, through) VALUES (?, ?)")
            for expiry in batch.expiries { try add.execute(arguments: [expiry.room, expiry.through]) }
            let before = batch.expiries.map { max(0, $0.before) }.max() ?? 0
            try db.execute(
                sql: """
                    DELETE FROM msg WHERE rowid < ?
                    AND seq <= (SELECT through FROM temp.expiry WHERE temp.expiry.room = msg.room)
                    """,
                arguments: [(before + 1000) << Self.timeShift]
            )
        }
        let insert = try db.cachedStatement(
            sql: "INSERT INTO msg(rowid, text, tags, room, seq, sender, ts) VALUES (?, ?, ?, ?, ?, ?, ?)"
        )
        let probe = try db.cachedStatement(sql: "SELECT max(id) FROM msg_content WHERE id >= ? AND id < ?")
        let addRoom = try db.cachedStatement(sql: "INSERT INTO room(id, key) VALUES (?, ?)")
        var ids = roomIDs.withLock { $0 }
        var newIDs: [String: Int64] = [:]
        var (known, last) = rowIDs.withLock { ($0.highest, $0.last) }
        var highest = try known ?? Int64.fetchOne(db, sql: "SELECT max(id) FROM msg_content") ?? -1
        let slots: Int64 = 1 << Self.roomShift
        for message in batch.messages.sorted(by: { ($0.ts, $0.seq) < ($1.ts, $1.seq) }) {
            var roomID = ids[message.room]
            if roomID == nil {
                let next = (ids.values.max() ?? 0) + 1
                let id = next <= maxRoomID ? next : 0
                if id > 0 { try addRoom.execute(arguments: [id, message.room]) }
                ids[message.room] = id
                newIDs[message.room] = id
                roomID = id
            }
            let room = roomID ?? 0
            // The first free slot of this room and millisecond (or a later millisecond).
            var base = max(0, message.ts) << Self.timeShift | room << Self.roomShift
            var rowid: Int64
            let previous = last[room] ?? highest
            if previous < base {
                rowid = base  // newer than every row of the room: the millisecond's first slot
            } else if previous + 1 < base + slots {
                rowid = previous + 1  // the room's last row is in this millisecond: the next slot
            } else {
                while true {
                    let top = try Int64.fetchOne(probe, arguments: [base, base + slots])
                    rowid = top.map { $0 + 1 } ?? base
                    if rowid < base + slots { break }
                    base += 1 << Self.timeShift
                }
            }
            last[room] = max(previous, rowid)
            highest = max(highest, rowid)
            try insert.execute(
                arguments: [
                    rowid, message.text, Self.senderTag(message.fromKey) + " " + Self.roomTag(message.room),
                    message.room, message.seq, message.from, message.ts,
                ]
            )
        }
        if !batch.removals.isEmpty || !batch.resets.isEmpty || !batch.expiries.isEmpty {
            try db.execute(sql: "INSERT OR REPLACE INTO meta(key, value) VALUES ('purge_due', 1)")
        }
        let upsert = try db.cachedStatement(
            sql: """
                INSERT INTO cursor(room, epoch, seq) VALUES (?, ?, ?)
                ON CONFLICT(room) DO UPDATE SET epoch = excluded.epoch, seq = excluded.seq
                """
        )
        for (room, cursor) in batch.cursors {
            try upsert.execute(arguments: [room, cursor.epoch, cursor.seq])
        }
        known = highest
        rowIDs.withLock { $0 = (known, last) }
        if !newIDs.isEmpty {
            // Published once the transaction commits (GRDB calls back after COMMIT).
            let assigned = newIDs
            db.afterNextTransaction { _ in
                self.roomIDs.withLock { $0.merge(assigned) { $1 } }
            }
        }
    }

    /// Merges the index's segments (after a bulk load) and folds the WAL into the database file.
    package func optimize() throws {
        try writer.write { db in try db.execute(sql: "INSERT INTO msg(msg) VALUES ('optimize')") }
        try writer.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA wal_checkpoint(TRUNCATE)") }
    }

    /// Merges the full-text index into one segment (FTS5 keeps a removed row's words in older
    /// segments until a merge reaches them) and truncates the WAL, so removed rows leave nothing
    /// in the files (freed pages are zeroed: `secure_delete`). Costs one pass over the index;
    /// the indexer runs it only after removals, at most every `purgeSpacing`, and at shutdown.
    package func purge() async throws {
        try await writer.write { db in
            try db.execute(sql: "INSERT INTO msg(msg) VALUES ('optimize')")
            try db.execute(sql: "DELETE FROM meta WHERE key = 'purge_due'")
        }
        guard path != nil else { return }
        // The merged pages replace the old ones in the main file only once the WAL is
        // checkpointed; a reader in the middle of a search can hold that back for a moment.
        for attempt in 0..<50 {
            let busy = try await writer.writeWithoutTransaction { db in
                try Int.fetchOne(db, sql: "PRAGMA wal_checkpoint(TRUNCATE)") ?? 1
            }
            if busy == 0 { return }
            if attempt < 49 { try await Task.sleep(for: .milliseconds(20)) }
        }
        throw PurgeIncomplete()
    }

    /// The WAL could not be checkpointed: readers kept it busy.
    struct PurgeIncomplete: Error {}

    /// Whether rows were removed and not yet purged (stored with the batch that removed them,
    /// so a purge cut short by a crash is done after the restart).
    package func purgePending() async throws -> Bool {
        try await writer.read { db in
            try Int.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'purge_due'") != nil
        }
    }

    /// Number of indexed messages.
    package func count() async throws -> Int {
        try await writer.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM msg_content") ?? 0 }
    }

    /// The seqs indexed for a room, ascending (tests and diagnostics).
    ///
    /// - Parameters:
    ///   - room: room fold key.
    package func indexedSeqs(room: String) async throws -> [Int64] {
        try await writer.read { db in
            try Int64.fetchAll(db, sql: "SELECT seq FROM msg WHERE room = ? ORDER BY seq", arguments: [room])
        }
    }

    /// The `tags` token of a sender (for `from:`).
    static func senderTag(_ userKey: String) -> String { "u" + hash(userKey) }

    /// The `tags` token of a room (the room filter inside the full-text query).
    static func roomTag(_ roomKey: String) -> String { "r" + hash(roomKey) }

    /// FNV-1a, 64 bits, as 16 hex digits.
    static func hash(_ key: String) -> String {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in key.utf8 { h = (h ^ UInt64(byte)) &* 0x100_0000_01b3 }
        let hex = String(h, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }

    /// The SQL condition that keeps only rows of the given rooms (nil: no condition).
    func roomCondition(rooms: [String], everyRoom: Bool) -> String? {
        guard !everyRoom else { return nil }
        let ids = roomIDs.withLock { $0 }
        let numbered = rooms.compactMap { ids[$0] }.filter { $0 > 0 }.sorted()
        let overflow = rooms.filter { ids[$0] == 0 }
        let roomID = "((rowid >> \(Self.roomShift)) & \(Self.roomMask))"
        var parts: [String] = []
        if !numbered.isEmpty { parts.append(roomID + " IN (" + numbered.map(String.init).joined(separator: ",") + ")") }
        if !overflow.isEmpty {
            let keys = overflow.map { "'" + $0.replacingOccurrences(of: "'", with: "''") + "'" }
            parts.append("(" + roomID + " = 0 AND room IN (" + keys.joined(separator: ",") + "))")
        }
        return parts.isEmpty ? "0" : "(" + parts.joined(separator: " OR ") + ")"
    }

    /// The MATCH expression of a search: the query's terms in `text`, the sender and, unless
    /// the user may see every room, one of the rooms in `tags`.
    ///
    /// - Parameters:
    ///   - query: the query.
    ///   - rooms: the room fold keys the user may see.
    ///   - everyRoom: whether those are all the rooms (then no room filter).
    static func matchExpression(_ query: SearchQuery, rooms: [String], everyRoom: Bool) -> String {
        var expression = "(" + query.matchExpression(column: "text") + ")"
        if let from = query.from { expression += " AND tags : \"" + senderTag(from.key) + "\"" }
        if !everyRoom {
            expression +=
                " AND (" + rooms.sorted().map { "tags : \"" + roomTag($0) + "\"" }.joined(separator: " OR ") + ")"
        }
        return expression
    }

    /// How many rows the full-text part of a search yields, before row ids are checked: the
    /// rows FTS5 walks for it (tests and benchmarks).
    ///
    /// - Parameters:
    ///   - request: the validated request.
    ///   - rooms: the room fold keys the user may see.
    ///   - others: the fold keys of every other room (nil when `rooms` is one named room).
    package func matchedRows(_ request: SearchRequest, rooms: [String], others: [String]? = nil) async throws -> Int {
        guard !rooms.isEmpty else { return 0 }
        let match = Self.matchExpression(request.query, rooms: rooms, everyRoom: others?.isEmpty == true)
        return try await writer.read { db in
            try Int.fetchOne(db, sql: "SELECT count(*) FROM msg WHERE msg MATCH ?", arguments: [match]) ?? 0
        }
    }

    /// Runs a search.
    ///
    /// - Parameters:
    ///   - request: the validated request.
    ///   - rooms: the room fold keys the user may see (already narrowed to `request.room`).
    ///   - others: the fold keys of every other room (nil when `rooms` is one named room).
    package func search(
        _ request: SearchRequest,
        rooms: [String],
        others: [String]? = nil
    ) async throws -> (hits: [IndexHit], more: Bool) {
        guard !rooms.isEmpty else { return ([], false) }
        let everyRoom = others?.isEmpty == true
        let match = Self.matchExpression(request.query, rooms: rooms, everyRoom: everyRoom)
        let filter = roomCondition(rooms: rooms, everyRoom: everyRoom).map { " AND " + $0 } ?? ""
        let before = request.before.map { $0 << Self.timeShift } ?? Int64.max
        let limit = request.limit
        let order = request.order
        return try await writer.read { db in
            let rowids: [Int64]
            if order == .relevance {
                // Rank only the newest matches, so a very common word costs a bounded amount.
                let cutoff =
                    try Int64.fetchOne(
                        db,
                        sql: """
                            SELECT rowid FROM msg WHERE msg MATCH ? AND rowid < ?\(filter)
                            ORDER BY rowid DESC LIMIT 1 OFFSET ?
                            """,
                        arguments: [match, before, Self.rankingWindow - 1]
                    ) ?? 0
                rowids = try Int64.fetchAll(
                    db,
                    sql: """
                        SELECT rowid FROM msg WHERE msg MATCH ? AND rowid < ? AND rowid >= ?\(filter)
                        ORDER BY bm25(msg, 1.0, 0.0), rowid DESC LIMIT ?
                        """,
                    arguments: [match, before, cutoff, limit + 1]
                )
            } else {
                rowids = try Int64.fetchAll(
                    db,
                    sql: "SELECT rowid FROM msg WHERE msg MATCH ? AND rowid < ?\(filter) ORDER BY rowid DESC LIMIT ?",
                    arguments: [match, before, limit + 1]
                )
            }
            let fetch = try db.cachedStatement(sql: "SELECT room, seq, sender, text, ts FROM msg WHERE rowid = ?")
            var hits: [IndexHit] = []
            for rowid in rowids.prefix(limit) {
                guard let row = try Row.fetchOne(fetch, arguments: [rowid]) else { continue }
                hits.append(IndexHit(room: row[0], seq: row[1], from: row[2], text: row[3], ts: row[4]))
            }
            return (hits, rowids.count > limit)
        }
    }
}
