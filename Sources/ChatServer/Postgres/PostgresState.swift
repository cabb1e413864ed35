import ChatCore
import ChatLog
import Logging
import PostgresNIO

/// Reads the chat state back from the cluster's tables, as the records that rebuild it (the
/// same order a snapshot uses), so `ChatState.apply` builds it exactly as a start from a data
/// directory does.
package enum PostgresState {
    /// Loads the whole state, every message included.
    ///
    /// - Parameters:
    ///   - connection: a connection (a transaction with `REPEATABLE READ` gives one consistent view).
    ///   - logger: logger.
    package static func load(_ connection: PostgresConnection, logger: Logger) async throws -> ChatState {
        var state = ChatState()
        try await records(connection, logger: logger) { state.apply($0) }
        return state
    }

    /// Visits the records that rebuild the stored state.
    ///
    /// - Parameters:
    ///   - connection: a connection.
    ///   - logger: logger.
    ///   - visit: receives each record.
    package static func records(
        _ connection: PostgresConnection,
        logger: Logger,
        _ visit: (LogRecord) throws -> Void
    ) async throws {
        var disabled: [String] = []
        for try await (key, name, hash, created, off) in try await connection.query(
            "SELECT key, name, password_hash, created_at, disabled FROM users ORDER BY key",
            logger: logger
        ).decode((String, String, String, Int64, Bool).self) {
            try visit(.userCreated(name: name, passwordHash: hash, ts: created))
            if off { disabled.append(key) }
        }
        for key in disabled { try visit(.userDisabled(user: key, disabled: true)) }
        for try await (hash, user, issued, used) in try await connection.query(
            "SELECT hash, user_key, issued_at, used_at FROM tokens ORDER BY hash",
            logger: logger
        ).decode((String, String, Int64, Int64).self) {
            try visit(.tokenIssued(user: user, tokenHash: hash, ts: issued))
            if used > issued { try visit(.tokenUsed(tokenHash: hash, ts: used)) }
        }
        for try await (hash, uses, expires, created) in try await connection.query(
            "SELECT code_hash, uses_left, expires_at, created_at FROM invites ORDER BY code_hash",
            logger: logger
        ).decode((String, Int64, Int64, Int64).self) {
            try visit(.inviteCreated(codeHash: hash, uses: uses, expiresAt: expires, ts: created))
        }
        var names: [String: String] = [:]
        for try await (key, name, topic, epoch, created, visibility, owner, expired, expiredBefore)
            in try await connection
            .query(
                """
                SELECT key, name, topic, epoch, created_at, visibility, owner_key, expired, expired_before
                FROM rooms ORDER BY key
                """,
                logger: logger
            ).decode((String, String, String, String, Int64, String, String?, Int64, Int64).self)
        {
            guard let visibility = RoomVisibility(rawValue: visibility) else {
                throw PostgresStoreError.source("room \(key): unknown visibility '\(visibility)'")
            }
            names[key] = name
            try visit(.roomCreated(name: name, epoch: epoch, ts: created))
            if visibility != .public || owner != nil {
                try visit(.roomAccess(room: key, visibility: visibility, owner: owner))
            }
            if !topic.isEmpty { try visit(.topicSet(room: key, topic: topic, by: "")) }
            if expired > 0 { try visit(.roomExpired(room: key, through: expired, before: expiredBefore)) }
        }
        for try await (room, user, read) in try await connection.query(
            "SELECT room_key, user_key, read_seq FROM members ORDER BY room_key, user_key",
            logger: logger
        ).decode((String, String, Int64).self) {
            try visit(.memberAdded(room: room, user: user))
            if read > 0 { try visit(.readMarked(room: room, user: user, seq: read)) }
        }
        for try await row in try await connection.query(
            """
            SELECT room_key, seq, sender, kind, body, ts, nonce, details::text
            FROM messages ORDER BY room_key, seq
            """,
            logger: logger
        ).decode((String, Int64, String, String, String, Int64, String?, String?).self) {
            let message = try MessageRow(
                room: row.0,
                seq: row.1,
                sender: row.2,
                kind: row.3,
                body: row.4,
                ts: row.5,
                nonce: row.6,
                details: row.7
            ).message(roomName: names[row.0] ?? row.0)
            try visit(.messageAppended(message))
        }
        for try await (id, name, mime, size, sha256, uploader, ts) in try await connection.query(
            "SELECT id, name, mime, size, sha256, uploader_key, ts FROM uploads ORDER BY id",
            logger: logger
        ).decode((String, String, String, Int64, String, String, Int64).self) {
            let file = FileRef(id: id, name: name, mime: mime, size: size, sha256: sha256)
            try visit(.fileUploaded(FileUpload(file: file, uploader: uploader, ts: ts)))
        }
    }

    /// A room's messages with `lower ≤ seq ≤ upper`, oldest first (a cold read).
    ///
    /// - Parameters:
    ///   - connection: a connection.
    ///   - room: the room's fold key.
    ///   - roomName: its display name.
    ///   - lower: the first seq.
    ///   - upper: the last seq.
    ///   - logger: logger.
    package static func messages(
        _ connection: PostgresConnection,
        room: String,
        roomName: String,
        from lower: Int64,
        through upper: Int64,
        logger: Logger
    ) async throws -> [ChatMessage] {
        var messages: [ChatMessage] = []
        for try await row in try await connection.query(
            """
            SELECT seq, sender, kind, body, ts, nonce, details::text FROM messages
            WHERE room_key = \(room) AND seq BETWEEN \(lower) AND \(upper) ORDER BY seq
            """,
            logger: logger
        ).decode((Int64, String, String, String, Int64, String?, String?).self) {
            messages.append(
                try MessageRow(
                    room: room,
                    seq: row.0,
                    sender: row.1,
                    kind: row.2,
                    body: row.3,
                    ts: row.4,
                    nonce: row.5,
                    details: row.6
                ).message(roomName: roomName)
            )
        }
        return messages
    }
}
