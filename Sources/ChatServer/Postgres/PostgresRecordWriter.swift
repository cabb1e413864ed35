import ChatCore
import ChatLog
import Foundation
import Logging
import PostgresNIO

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
            try Self.advance(&heads, room: room, to: message.seq)
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
    mutating func finish(node: String, lsn: Int64, now: Int64, turn: ClusterTurnRow? = nil) async throws {
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
            )\(clusterTurn: turn)
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

    /// Records that a batch writes `seq` in `room`: the room's head before the batch, and its
    /// newest seq, which must grow by one each time.
    static func advance(_ heads: inout [String: (before: Int64, last: Int64)], room: String, to seq: Int64) throws {
        if let head = heads[room] {
            guard seq == head.last + 1 else {
                throw PostgresStoreError.source("room \(room): seq \(seq) follows \(head.last)")
            }
            heads[room]?.last = seq
        } else {
            heads[room] = (seq - 1, seq)
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
        now: Int64,
        turn: ClusterTurnRow? = nil
    ) async throws {
        var heads: [String: (before: Int64, last: Int64)] = [:]
        var rows: [MessageRow] = []
        rows.reserveCapacity(messages.count)
        for message in messages {
            let room = TextRules.foldKey(message.room)
            try Self.advance(&heads, room: room, to: message.seq)
            rows.append(MessageRow(message, roomKey: room, senderKey: TextRules.foldKey(message.from)))
        }
        let sorted = heads.sorted { $0.key < $1.key }
        let keys = sorted.map(\.key)
        let before = sorted.map(\.value.before)
        let last = sorted.map(\.value.last)
        _ = try await connection.query(
            """
            WITH inserted AS (
                \(insertMessages: rows)
            ), moved AS (
                UPDATE rooms SET head = h.last
                FROM unnest(\(keys)::text[], \(before)::int8[], \(last)::int8[]) AS h (key, before, last)
                WHERE rooms.key = h.key AND rooms.head = h.before
                RETURNING rooms.key
            ), node AS (
                UPDATE nodes SET lsn = \(lsn), seen_at = \(now) WHERE id = \(node)
            )\(clusterTurn: turn)
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

/// `--cluster`: the `cluster_log` row of a write turn, written by the turn's last statement.
struct ClusterTurnRow {
    var id: Int64
    var node: String
    var body: ByteBuffer
    var at: Int64
}

extension PostgresQuery.StringInterpolation {
    /// Two more parts of a `WITH` (after another): the turn's `cluster_log` row and the new
    /// `cluster_head`; nothing when `turn` is nil.
    ///
    /// - Parameters:
    ///   - turn: the row, if the statement ends a cluster node's write turn.
    mutating func appendInterpolation(clusterTurn turn: ClusterTurnRow?) {
        guard let turn else { return }
        appendLiteral(", cluster_log_row AS (INSERT INTO cluster_log (id, node, body, at) VALUES (")
        appendInterpolation(turn.id)
        appendLiteral(", ")
        appendInterpolation(turn.node)
        appendLiteral(", ")
        appendInterpolation(turn.body)
        appendLiteral(", ")
        appendInterpolation(turn.at)
        appendLiteral(")), cluster_head_row AS (UPDATE cluster_head SET head = ")
        appendInterpolation(turn.id)
        appendLiteral(" WHERE id = 1)")
    }
}
