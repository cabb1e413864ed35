import ChatCore
import ChatLog
import Foundation
import Logging
import NIOCore
import PostgresNIO

/// `chat-server migrate --from DATA_DIR --to URL`: copies a single box's state into an empty
/// PostgreSQL database, in one transaction (a failure, or a kill, leaves the database as it was).
///
/// The data directory is loaded the way the server loads it, under its lock, so this refuses
/// while a server runs on it. Every message is copied in its latest version, cold ones read from
/// the cold store in pages; uploads are copied with their bytes. Every room gets a new epoch, so
/// clients drop what they hold and reload (the seqs are kept).
package enum PostgresImport {
    /// What a copy did.
    package struct Summary: Sendable, Equatable, CustomStringConvertible {
        package var users = 0
        package var tokens = 0
        package var invites = 0
        package var rooms = 0
        package var members = 0
        package var messages = 0
        package var uploads = 0
        package var blobBytes: Int64 = 0
        package var seconds = 0.0

        package var description: String {
            "\(users) users, \(tokens) tokens, \(invites) invites, \(rooms) rooms, \(members) memberships, "
                + "\(messages) messages, \(uploads) files (\(blobBytes) bytes) in "
                + String(format: "%.1f", seconds) + " s; checked before commit: every room holds seqs 1…head once"
        }
    }

    /// Rows per `INSERT … SELECT FROM unnest(…)`.
    static let batchRows = 2_000
    /// Bytes per row of `blobs`.
    package static let blobPart = 1 << 20

    /// Loads a data directory and copies it into the database at `settings`.
    ///
    /// - Parameters:
    ///   - dataDirectory: the data directory (the server must be stopped).
    ///   - settings: the database (migrated first; it must hold no chat state).
    ///   - logger: logger.
    ///   - progress: called with the number of messages copied so far.
    package static func run(
        dataDirectory: String,
        settings: PostgresSettings,
        logger: Logger,
        progress: @escaping @Sendable (Int) -> Void = { _ in }
    ) async throws -> Summary {
        guard (try? DataDirectory(dataDirectory).isEmpty()) == false else {
            throw StorageError.io(dataDirectory, "no chat state in this directory")
        }
        let store = FileChatStore(configuration: StorageConfiguration(directory: dataDirectory), logger: logger)
        let state: ChatState
        do {
            state = try await store.recover()
        } catch {
            await store.close()
            throw error
        }
        // The lock stays held until the copy is over, so no server starts on the directory meanwhile.
        let files = FileStore(root: dataDirectory + "/files")
        let start = ContinuousClock.now
        let outcome: Result<Summary, any Error>
        do {
            outcome = .success(
                try await PostgresClient.with(settings, logger: logger) { client in
                    try await client.withConnection { connection in
                        try await PostgresSchema.migrate(connection, logger: logger)
                        return try await connection.transaction(logger: logger) { connection in
                            try await copy(state, blobs: files, into: connection, logger: logger, progress: progress)
                        }
                    }
                }
            )
        } catch {
            outcome = .failure(error)
        }
        await store.close()
        var summary = try outcome.get()
        summary.seconds = start.duration(to: .now).seconds
        return summary
    }

    /// Copies a state into a migrated, empty database, on a connection inside a transaction.
    ///
    /// - Parameters:
    ///   - state: the state.
    ///   - blobs: where the uploads' bytes are (nil: copy no bytes; tests).
    ///   - connection: the connection, in a transaction.
    ///   - logger: logger.
    ///   - progress: called with the number of messages copied so far.
    package static func copy(
        _ state: ChatState,
        blobs: FileStore?,
        into connection: PostgresConnection,
        logger: Logger,
        progress: @Sendable (Int) -> Void = { _ in }
    ) async throws -> Summary {
        try await connection.query("SELECT pg_advisory_xact_lock(\(PostgresSchema.lockKey))", logger: logger)
        let held = try await connection.query(
            """
            SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM rooms), (SELECT count(*) FROM invites)
            """,
            logger: logger
        ).collect()
        if let row = held.first {
            let (users, rooms, invites) = try row.decode((Int64, Int64, Int64).self)
            if users + rooms + invites > 0 {
                throw PostgresStoreError.notEmpty("\(users) users, \(rooms) rooms, \(invites) invites")
            }
        }
        var summary = Summary()
        let writer = Writer(connection: connection, logger: logger)

        let users = state.users.sorted { $0.key < $1.key }
        for chunk in users.chunked(batchRows) {
            try await writer.users(chunk)
        }
        summary.users = users.count

        let tokens = state.tokens.sorted { $0.key < $1.key }
        for chunk in tokens.chunked(batchRows) {
            try await writer.tokens(
                chunk.map { hash, user in
                    let issued = state.tokenIssuedAt[hash] ?? 0
                    return (hash, user, issued, max(issued, state.tokenUsedAt[hash] ?? issued))
                }
            )
        }
        summary.tokens = tokens.count

        let invites = state.invites.sorted { $0.key < $1.key }
        for chunk in invites.chunked(batchRows) { try await writer.invites(chunk) }
        summary.invites = invites.count

        let rooms = state.rooms.sorted { $0.key < $1.key }
        for chunk in rooms.chunked(batchRows) { try await writer.rooms(chunk) }
        summary.rooms = rooms.count

        let members = rooms.flatMap { key, room in
            room.members.sorted { $0.key < $1.key }.map { (key, $0.key, $0.value) }
        }
        for chunk in members.chunked(batchRows) { try await writer.members(chunk) }
        summary.members = members.count

        var pending: [MessageRow] = []
        pending.reserveCapacity(batchRows)
        for (key, room) in rooms {
            var lower: Int64 = 1
            while lower <= room.head {
                let upper = min(room.head, lower + 9_999)
                let page = try state.messages(room: key, from: lower, through: upper)
                guard page.count == Int(upper - lower + 1), page.first?.seq == lower else {
                    throw PostgresStoreError.source(
                        "room \(room.name): seqs \(lower)…\(upper) read \(page.count) messages from the data directory"
                    )
                }
                for message in page {
                    pending.append(
                        MessageRow(message, roomKey: key, senderKey: state.userKey(ofDisplayName: message.from))
                    )
                    if pending.count == batchRows {
                        try await writer.messages(pending)
                        summary.messages += pending.count
                        pending.removeAll(keepingCapacity: true)
                        progress(summary.messages)
                    }
                }
                lower = upper + 1
            }
        }
        if !pending.isEmpty {
            try await writer.messages(pending)
            summary.messages += pending.count
            progress(summary.messages)
        }

        let uploads = state.uploads.values.sorted { $0.file.id < $1.file.id }
        for chunk in uploads.chunked(batchRows) { try await writer.uploads(chunk) }
        summary.uploads = uploads.count
        if let blobs {
            for sha256 in Set(uploads.map(\.file.sha256)).sorted() {
                summary.blobBytes += try await writer.blob(sha256, path: blobs.blobPath(sha256))
            }
        }
        try await verify(connection, against: state, logger: logger)
        return summary
    }

    /// Checks, before the copy commits, that the tables hold what `state` holds: as many users,
    /// rooms and memberships, and in every room the seqs 1…head, each once (the primary key rules
    /// out duplicates, so a count of `head` between 1 and `head` leaves no gap).
    ///
    /// - Parameters:
    ///   - connection: the connection the copy ran on.
    ///   - state: what was copied.
    ///   - logger: logger.
    /// - Throws: `PostgresStoreError.source` naming the first difference.
    package static func verify(_ connection: PostgresConnection, against state: ChatState, logger: Logger) async throws
    {
        let totals = try await connection.query(
            "SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM rooms), (SELECT count(*) FROM members)",
            logger: logger
        ).collect()
        guard let row = totals.first else { throw PostgresStoreError.source("verification failed: no counts") }
        let (users, rooms, members) = try row.decode((Int64, Int64, Int64).self)
        let expectedMembers = state.rooms.values.reduce(0) { $0 + $1.members.count }
        guard users == state.users.count, rooms == state.rooms.count, members == expectedMembers else {
            throw PostgresStoreError.source(
                "verification failed: the database holds \(users) users, \(rooms) rooms, \(members) memberships; "
                    + "the data directory \(state.users.count), \(state.rooms.count), \(expectedMembers)"
            )
        }
        var found: [String: (count: Int64, lowest: Int64, highest: Int64)] = [:]
        for try await (room, count, lowest, highest) in try await connection.query(
            "SELECT room_key, count(*), min(seq), max(seq) FROM messages GROUP BY room_key",
            logger: logger
        ).decode((String, Int64, Int64, Int64).self) {
            found[room] = (count, lowest, highest)
        }
        for (key, room) in state.rooms.sorted(by: { $0.key < $1.key }) {
            let rows = found.removeValue(forKey: key) ?? (0, 1, 0)
            guard rows.count == room.head, room.head == 0 || (rows.lowest == 1 && rows.highest == room.head) else {
                throw PostgresStoreError.source(
                    "verification failed: room \(room.name) holds \(rows.count) messages (seqs \(rows.lowest)…"
                        + "\(rows.highest)) where the data directory has seqs 1…\(room.head)"
                )
            }
        }
        if let (room, rows) = found.first {
            throw PostgresStoreError.source(
                "verification failed: \(rows.count) messages of room \(room), which the data directory does not have"
            )
        }
    }

    /// The `INSERT`s, one batch of rows each.
    struct Writer {
        let connection: PostgresConnection
        let logger: Logger

        func users(_ rows: ArraySlice<(key: String, value: ChatState.User)>) async throws {
            let keys = rows.map(\.key)
            let names = rows.map(\.value.name)
            let hashes = rows.map(\.value.passwordHash)
            let created = rows.map(\.value.createdAt)
            let disabled = rows.map(\.value.disabled)
            try await connection.query(
                """
                INSERT INTO users (key, name, password_hash, created_at, disabled)
                SELECT * FROM unnest(\(keys)::text[], \(names)::text[], \(hashes)::text[], \(created)::int8[], \(disabled)::bool[])
                """,
                logger: logger
            )
        }

        func tokens(_ rows: [(String, String, Int64, Int64)]) async throws {
            let hashes = rows.map(\.0)
            let users = rows.map(\.1)
            let issued = rows.map(\.2)
            let used = rows.map(\.3)
            try await connection.query(
                """
                INSERT INTO tokens (hash, user_key, issued_at, used_at)
                SELECT * FROM unnest(\(hashes)::text[], \(users)::text[], \(issued)::int8[], \(used)::int8[])
                """,
                logger: logger
            )
        }

        func invites(_ rows: ArraySlice<(key: String, value: ChatState.Invite)>) async throws {
            let hashes = rows.map(\.key)
            let uses = rows.map(\.value.usesLeft)
            let expires = rows.map(\.value.expiresAt)
            let created = rows.map(\.value.createdAt)
            try await connection.query(
                """
                INSERT INTO invites (code_hash, uses_left, expires_at, created_at)
                SELECT * FROM unnest(\(hashes)::text[], \(uses)::int8[], \(expires)::int8[], \(created)::int8[])
                """,
                logger: logger
            )
        }

        func rooms(_ rows: ArraySlice<(key: String, value: ChatState.Room)>) async throws {
            let keys = rows.map(\.key)
            let names = rows.map(\.value.name)
            let topics = rows.map(\.value.topic)
            let epochs = rows.map { _ in PasswordHasher.newEpoch() }
            let created = rows.map(\.value.createdAt)
            let heads = rows.map(\.value.head)
            let visibility = rows.map(\.value.visibility.rawValue)
            let hasOwner = rows.map { $0.value.owner != nil }
            let owners = rows.map { $0.value.owner ?? "" }
            let expired = rows.map(\.value.expired)
            let expiredBefore = rows.map(\.value.expiredBefore)
            try await connection.query(
                """
                INSERT INTO rooms (key, name, topic, epoch, created_at, head, visibility, owner_key, expired, expired_before)
                SELECT k, n, t, e, c, h, v, CASE WHEN ho THEN o END, x, xb
                FROM unnest(\(keys)::text[], \(names)::text[], \(topics)::text[], \(epochs)::text[], \(created)::int8[],
                            \(heads)::int8[], \(visibility)::text[], \(hasOwner)::bool[], \(owners)::text[],
                            \(expired)::int8[], \(expiredBefore)::int8[])
                    AS r (k, n, t, e, c, h, v, ho, o, x, xb)
                """,
                logger: logger
            )
        }

        func members(_ rows: ArraySlice<(String, String, Int64)>) async throws {
            let rooms = rows.map(\.0)
            let users = rows.map(\.1)
            let reads = rows.map(\.2)
            try await connection.query(
                """
                INSERT INTO members (room_key, user_key, read_seq)
                SELECT * FROM unnest(\(rooms)::text[], \(users)::text[], \(reads)::int8[])
                """,
                logger: logger
            )
        }

        func messages(_ rows: [MessageRow]) async throws {
            try await connection.query("\(insertMessages: rows)", logger: logger)
        }

        func uploads(_ rows: ArraySlice<FileUpload>) async throws {
            let ids = rows.map(\.file.id)
            let names = rows.map(\.file.name)
            let mimes = rows.map(\.file.mime)
            let sizes = rows.map(\.file.size)
            let hashes = rows.map(\.file.sha256)
            let uploaders = rows.map(\.uploader)
            let ts = rows.map(\.ts)
            try await connection.query(
                """
                INSERT INTO uploads (id, name, mime, size, sha256, uploader_key, ts)
                SELECT * FROM unnest(\(ids)::text[], \(names)::text[], \(mimes)::text[], \(sizes)::int8[],
                                     \(hashes)::text[], \(uploaders)::text[], \(ts)::int8[])
                """,
                logger: logger
            )
        }

        /// Copies one file's bytes in parts of `blobPart`; returns its size.
        func blob(_ sha256: String, path: String) async throws -> Int64 {
            guard let handle = FileHandle(forReadingAtPath: path) else {
                throw PostgresStoreError.source("file \(sha256) is missing from the data directory (\(path))")
            }
            defer { try? handle.close() }
            var part: Int32 = 0
            var size: Int64 = 0
            while true {
                let data = try handle.read(upToCount: blobPart) ?? Data()
                if data.isEmpty && part > 0 { break }
                let bytes = ByteBuffer(bytes: data)
                try await connection.query(
                    "INSERT INTO blobs (sha256, part, data) VALUES (\(sha256), \(part), \(bytes))",
                    logger: logger
                )
                size += Int64(data.count)
                part += 1
                if data.count < blobPart { break }
            }
            return size
        }
    }
}

extension PostgresQuery.StringInterpolation {
    /// `INSERT INTO messages … SELECT … FROM unnest(…)` of `rows`, one array per column: the
    /// copy's batches and the serving node's one-statement batches (inside a `WITH`) both use it.
    ///
    /// - Parameters:
    ///   - rows: the rows.
    mutating func appendInterpolation(insertMessages rows: [MessageRow]) {
        appendLiteral(
            """
            INSERT INTO messages (room_key, seq, sender, sender_key, kind, body, ts, nonce, details, search)
            SELECT r, s, f, fk, k, b, t, CASE WHEN hn THEN n END, CASE WHEN hd THEN d::jsonb END,
                   CASE WHEN hs THEN v::tsvector END
            FROM unnest(
            """
        )
        appendInterpolation(rows.map(\.room))
        appendLiteral("::text[], ")
        appendInterpolation(rows.map(\.seq))
        appendLiteral("::int8[], ")
        appendInterpolation(rows.map(\.sender))
        appendLiteral("::text[], ")
        appendInterpolation(rows.map(\.senderKey))
        appendLiteral("::text[], ")
        appendInterpolation(rows.map(\.kind))
        appendLiteral("::text[], ")
        appendInterpolation(rows.map(\.body))
        appendLiteral("::text[], ")
        appendInterpolation(rows.map(\.ts))
        appendLiteral("::int8[], ")
        appendInterpolation(rows.map { $0.nonce != nil })
        appendLiteral("::bool[], ")
        appendInterpolation(rows.map { $0.nonce ?? "" })
        appendLiteral("::text[], ")
        appendInterpolation(rows.map { $0.details != nil })
        appendLiteral("::bool[], ")
        appendInterpolation(rows.map { $0.details ?? "" })
        appendLiteral("::text[], ")
        appendInterpolation(rows.map { $0.search != nil })
        appendLiteral("::bool[], ")
        appendInterpolation(rows.map { $0.search ?? "" })
        appendLiteral("::text[]) AS m (r, s, f, fk, k, b, t, hn, n, hd, d, hs, v)")
    }
}

extension Array {
    /// The array in slices of at most `size` elements.
    func chunked(_ size: Int) -> [ArraySlice<Element>] {
        stride(from: 0, to: count, by: size).map { self[$0..<Swift.min($0 + size, count)] }
    }
}

extension Duration {
    /// The duration in seconds.
    var seconds: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }
}
