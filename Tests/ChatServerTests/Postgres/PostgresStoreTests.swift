import ChatCore
import ChatLog
import ChatServer
import Crypto
import Foundation
import Logging
import PostgresNIO
import Testing

/// The cluster's tables (issue 17): the schema's migrations, a message's row, and
/// `migrate --from DATA_DIR --to URL`, checked against a real PostgreSQL (`TestPostgres`).
@Suite("PostgreSQL: schema and copying a data directory")
struct PostgresStoreTests {
    static let logger = TestPostgres.logger

    @Test("migrate creates the schema once; again it does nothing; four at once apply each version once")
    func schema() async throws {
        let db = try await TestPostgres.database()
        let first = try await PostgresSchema.migrate(db, logger: Self.logger)
        #expect(first == PostgresSchema.Outcome(from: 0, to: PostgresSchema.latest))
        let again = try await PostgresSchema.migrate(db, logger: Self.logger)
        #expect(again == PostgresSchema.Outcome(from: PostgresSchema.latest, to: PostgresSchema.latest))

        let racing = try await TestPostgres.database()
        let outcomes = try await withThrowingTaskGroup(of: PostgresSchema.Outcome.self) { group in
            for _ in 0..<4 { group.addTask { try await PostgresSchema.migrate(racing, logger: Self.logger) } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(outcomes.filter { $0.from == 0 }.count == 1)
        #expect(outcomes.allSatisfy { $0.to == PostgresSchema.latest })
        let versions = try await TestPostgres.with(racing) { client in
            try await client.query("SELECT version FROM chat_schema ORDER BY version").collect()
                .map { Int(try $0.decode(Int32.self)) }
        }
        #expect(versions == Array(1...PostgresSchema.latest))
    }

    @Test("a database migrated by a newer build is refused")
    func newer() async throws {
        let db = try await TestPostgres.database()
        try await PostgresSchema.migrate(db, logger: Self.logger)
        let future = Int32(PostgresSchema.latest + 1)
        try await TestPostgres.with(db) { client in
            try await client.query("INSERT INTO chat_schema (version, name) VALUES (\(future), 'from the future')")
        }
        await #expect(throws: PostgresStoreError.newerSchema(found: Int(future), known: PostgresSchema.latest)) {
            try await PostgresSchema.migrate(db, logger: Self.logger)
        }
    }

    @Test("a message's row keeps every detail: reply, edit, delete, file, reactions with their seqs, an unknown kind")
    func messageRow() throws {
        let file = FileRef(
            id: String(repeating: "a", count: 32),
            name: "plan.pdf",
            mime: "application/pdf",
            size: 1234,
            sha256: String(repeating: "b", count: 64)
        )
        var details = MessageDetails(replyTo: 3, editedTs: 1_700_000_000_123, file: file)
        details.reactions = [Reaction(emoji: "👍", users: ["Ann", "Bo"]), Reaction(emoji: "🎉", users: ["Cy"])]
        details.reactionSeqs = [[7, 9], [11]]
        let message = ChatMessage(
            room: "Lobby",
            seq: 5,
            from: "Ann",
            text: "see \"this\"\n日本語",
            kind: .file,
            ts: 1_700_000_000_000,
            nonce: "n-5",
            details: details
        )
        let row = MessageRow(message, roomKey: "lobby", senderKey: "ann")
        #expect(row.room == "lobby" && row.seq == 5 && row.kind == "file" && row.nonce == "n-5")
        let back = try row.message(roomName: "Lobby")
        #expect(back == message)
        #expect(back.details.reactionSeqs == [[7, 9], [11]])

        var unknown = ChatMessage(
            room: "Lobby",
            seq: 6,
            from: "Bo",
            text: "",
            kind: .unknown,
            ts: 1,
            details: MessageDetails(target: 5, deleted: true)
        )
        var d = unknown.details
        d.unknownKind = "poll"
        unknown.details = d
        let plain = ChatMessage(room: "Lobby", seq: 7, from: "Bo", text: "hi", kind: .text, ts: 2)
        #expect(try MessageRow(unknown, roomKey: "lobby", senderKey: "bo").message(roomName: "Lobby") == unknown)
        #expect(MessageRow(plain, roomKey: "lobby", senderKey: "bo").details == nil)
        #expect(MessageRow(plain, roomKey: "lobby", senderKey: "bo").nonce == nil)
        #expect(try MessageRow(plain, roomKey: "lobby", senderKey: "bo").message(roomName: "Lobby") == plain)

        let broken = MessageRow(
            room: "lobby",
            seq: 1,
            sender: "Bo",
            kind: "text",
            body: "",
            ts: 0,
            nonce: nil,
            details: "[1]"
        )
        #expect(throws: PostgresStoreError.self) { try broken.message(roomName: "Lobby") }
        let badKind = MessageRow(
            room: "lobby",
            seq: 1,
            sender: "Bo",
            kind: "nope",
            body: "",
            ts: 0,
            nonce: nil,
            details: nil
        )
        #expect(throws: PostgresStoreError.self) { try badKind.message(roomName: "Lobby") }
    }

    /// A copy of the format-1 fixture (accounts, a private room, a DM, edits, deletes, reactions,
    /// replies, a file, topics, read markers, invites' absence and tokens).
    static func fixtureCopy() throws -> String {
        let dir = NSTemporaryDirectory() + "chat-pg-import-\(UUID().uuidString)"
        try FileManager.default.copyItem(atPath: FormatUpgradeTests.fixture, toPath: dir)
        return dir
    }

    static func recover(_ dir: String) async throws -> ChatState {
        let store = FileChatStore(configuration: StorageConfiguration(directory: dir), logger: logger)
        let state = try await store.recover()
        await store.close()
        return state
    }

    @Test("migrate --from copies a data directory whole: loaded back, it is the same state, files included")
    func copiesEverything() async throws {
        let dir = try Self.fixtureCopy()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let db = try await TestPostgres.database()
        let summary = try await PostgresImport.run(dataDirectory: dir, settings: db, logger: Self.logger)
        let original = try await Self.recover(dir)
        #expect(summary.users == original.users.count && summary.users >= 2)
        #expect(summary.rooms == original.rooms.count && summary.rooms >= 3)
        #expect(summary.messages == original.rooms.values.reduce(0) { $0 + Int($1.head) })
        #expect(summary.uploads == original.uploads.count && summary.uploads >= 1)
        #expect(summary.tokens == original.tokens.count && summary.tokens >= 2)

        let (copied, blobs) = try await TestPostgres.with(db) { client in
            try await client.withConnection { connection in
                let state = try await PostgresState.load(connection, logger: Self.logger)
                var blobs: [String: [UInt8]] = [:]
                for try await (sha, data) in try await connection.query(
                    "SELECT sha256, data FROM blobs ORDER BY sha256, part",
                    logger: Self.logger
                ).decode((String, ByteBuffer).self) {
                    blobs[sha, default: []] += Array(buffer: data)
                }
                try await Self.expectRows(connection, original)
                return (state, blobs)
            }
        }
        try Self.expectSameState(copied, original)
        // Every file's bytes, by their SHA-256.
        #expect(Set(blobs.keys) == Set(original.uploads.values.map(\.file.sha256)))
        for (sha, bytes) in blobs {
            #expect(SHA256.hash(data: bytes).map { String(format: "%02x", $0) }.joined() == sha)
        }
        // New epochs: clients reload.
        for (key, room) in original.rooms { #expect(copied.rooms[key]?.epoch != room.epoch) }
    }

    /// Every room's rows, read in pages as a cold read fetches them, are the messages of `state`
    /// in their latest versions (each row alone, without replaying the room's events).
    static func expectRows(_ connection: PostgresConnection, _ state: ChatState) async throws {
        for (key, room) in state.rooms {
            var lower: Int64 = 1
            while lower <= room.head {
                let upper = min(room.head, lower + 99)
                let rows = try await PostgresState.messages(
                    connection,
                    room: key,
                    roomName: room.name,
                    from: lower,
                    through: upper,
                    logger: logger
                )
                #expect(rows == Array(try state.messages(room: key, from: lower, through: upper)), "room \(key)")
                lower = upper + 1
            }
        }
    }

    @Test("a room whose older messages are in the cold store, changed since (edit, reaction, delete), is copied whole")
    func copiesColdMessages() async throws {
        typealias Support = StorageTestSupport
        let dir = try Support.makeTemporaryDirectory()
        defer { Support.removeDirectory(dir) }
        let store = ColdRecoveryTests.store(dir)
        var state = try await store.recover()
        let setup: [LogRecord] = [
            .userCreated(name: "alice", passwordHash: "h", ts: 0), .userCreated(name: "bob", passwordHash: "h2", ts: 1),
            .roomCreated(name: "lobby", epoch: "e", ts: 0), .memberAdded(room: "lobby", user: "alice"),
            .memberAdded(room: "lobby", user: "bob"), .readMarked(room: "lobby", user: "bob", seq: 250),
        ]
        let messages: [LogRecord] = (1...300).map { seq in
            .messageAppended(
                ChatMessage(
                    room: "lobby",
                    seq: seq,
                    from: "alice",
                    text: "m\(seq)",
                    kind: .text,
                    ts: 1_000 + seq,
                    nonce: seq % 3 == 0 ? "n\(seq)" : nil
                )
            )
        }
        try await Support.commit(setup + messages, to: &state, in: store)
        try await Support.takeSnapshot(store, state)
        state.apply(try #require(store.takeCompaction(), "the snapshot compacted"))
        #expect(state.rooms["lobby"].map { $0.base > 200 } == true)
        func change(
            _ seq: Int64,
            _ kind: MessageKind,
            target: Int64,
            from: String = "alice",
            text: String = "",
            emoji: String? = nil
        ) -> LogRecord {
            .messageAppended(
                ChatMessage(
                    room: "lobby",
                    seq: seq,
                    from: from,
                    text: text,
                    kind: kind,
                    ts: 2_000 + seq,
                    details: MessageDetails(target: target, emoji: emoji)
                )
            )
        }
        try await Support.commit(
            [
                change(301, .edit, target: 3, text: "three, edited"),
                change(302, .react, target: 4, from: "bob", emoji: "👍"),
                change(303, .delete, target: 5), change(304, .react, target: 4, emoji: "👍"),
            ],
            to: &state,
            in: store
        )
        #expect(state.message(room: "lobby", seq: 4)?.reactions.first?.users.count == 2)
        await store.close()

        let db = try await TestPostgres.database()
        let summary = try await PostgresImport.run(dataDirectory: dir, settings: db, logger: Self.logger)
        #expect(summary.messages == 304)
        let original = try await Self.recover(dir)
        #expect(original.rooms["lobby"].map { $0.base > 200 } == true, "the copy read cold messages")
        let copied = try await TestPostgres.with(db) { client in
            try await client.withConnection { connection in
                try await Self.expectRows(connection, original)
                return try await PostgresState.load(connection, logger: Self.logger)
            }
        }
        try Self.expectSameState(copied, original)
        #expect(copied.message(room: "lobby", seq: 3)?.text == "three, edited")
        #expect(copied.message(room: "lobby", seq: 5)?.deleted == true)
    }

    @Test("the copy's check finds a missing message, an extra one and a missing membership")
    func verification() async throws {
        let dir = try Self.fixtureCopy()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let db = try await TestPostgres.database()
        _ = try await PostgresImport.run(dataDirectory: dir, settings: db, logger: Self.logger)
        let state = try await Self.recover(dir)
        let lobby = try #require(state.rooms.first { $0.value.head >= 5 })
        func expectRefusal(_ change: PostgresQuery, _ words: String) async throws {
            try await TestPostgres.with(db) { client in
                try await client.withConnection { connection in
                    try await PostgresImport.verify(connection, against: state, logger: Self.logger)
                    try await connection.query("BEGIN", logger: Self.logger)
                    try await connection.query(change, logger: Self.logger)
                    await #expect {
                        try await PostgresImport.verify(connection, against: state, logger: Self.logger)
                    } throws: { error in
                        "\(error)".contains("verification failed") && "\(error)".contains(words)
                    }
                    try await connection.query("ROLLBACK", logger: Self.logger)
                }
            }
        }
        try await expectRefusal(
            "DELETE FROM messages WHERE room_key = \(lobby.key) AND seq = 3",
            "room \(lobby.value.name) holds \(lobby.value.head - 1) messages"
        )
        try await expectRefusal(
            "INSERT INTO messages (room_key, seq, sender, sender_key, kind, body, ts) SELECT \(lobby.key), \(lobby.value.head + 1), 'x', 'x', 'text', 'x', 0",
            "holds \(lobby.value.head + 1) messages"
        )
        try await expectRefusal("DELETE FROM members WHERE ctid IN (SELECT ctid FROM members LIMIT 1)", "memberships")
    }

    @Test("a second copy into a database that holds chat state is refused, and changes nothing")
    func refusesNonEmpty() async throws {
        let dir = try Self.fixtureCopy()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let db = try await TestPostgres.database()
        let first = try await PostgresImport.run(dataDirectory: dir, settings: db, logger: Self.logger)
        await #expect {
            try await PostgresImport.run(dataDirectory: dir, settings: db, logger: Self.logger)
        } throws: { error in
            if case PostgresStoreError.notEmpty = error { return true }
            return false
        }
        let messages = try await TestPostgres.with(db) { client in
            try await client.query("SELECT count(*) FROM messages").collect().first?.decode(Int64.self)
        }
        #expect(messages == Int64(first.messages))
    }

    @Test("a copy that fails half-way (a file missing from the data directory) leaves the database empty")
    func atomic() async throws {
        let dir = try Self.fixtureCopy()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let original = try await Self.recover(dir)
        let upload = try #require(original.uploads.values.first)
        try FileManager.default.removeItem(atPath: FileStore(root: dir + "/files").blobPath(upload.file.sha256))
        let db = try await TestPostgres.database()
        await #expect {
            try await PostgresImport.run(dataDirectory: dir, settings: db, logger: Self.logger)
        } throws: { error in
            if case PostgresStoreError.source(let what) = error { return what.contains(upload.file.sha256) }
            return false
        }
        let counts = try await TestPostgres.with(db) { client in
            try await client.query(
                "SELECT (SELECT count(*) FROM users) + (SELECT count(*) FROM rooms) + (SELECT count(*) FROM messages)"
            ).collect().first?.decode(Int64.self)
        }
        #expect(counts == 0)
        // The directory's lock was released: a second attempt can load it.
        _ = try await Self.recover(dir)
    }

    /// Two states hold the same accounts, tokens, invites, files, rooms, members, read markers and
    /// messages (every seq, in its latest version); epochs are not compared.
    static func expectSameState(_ a: ChatState, _ b: ChatState) throws {
        #expect(Set(a.users.keys) == Set(b.users.keys))
        for (key, user) in b.users {
            let other = try #require(a.users[key])
            #expect(other.name == user.name)
            #expect(other.passwordHash == user.passwordHash)
            #expect(other.createdAt == user.createdAt)
            #expect(other.disabled == user.disabled)
            #expect(other.rooms == user.rooms)
        }
        #expect(a.tokens == b.tokens)
        #expect(a.tokenIssuedAt == b.tokenIssuedAt)
        #expect(a.tokenUsedAt == b.tokenUsedAt)
        #expect(a.invites == b.invites)
        #expect(a.uploads == b.uploads)
        #expect(a.fileRooms == b.fileRooms)
        #expect(a.uploadBytes == b.uploadBytes)
        #expect(Set(a.rooms.keys) == Set(b.rooms.keys))
        for (key, room) in b.rooms {
            let other = try #require(a.rooms[key])
            #expect(other.name == room.name)
            #expect(other.topic == room.topic)
            #expect(other.createdAt == room.createdAt)
            #expect(other.head == room.head)
            #expect(other.visibility == room.visibility)
            #expect(other.owner == room.owner)
            #expect(other.members == room.members)
            // The data directory remembers the nonces of the hot window; the rows keep every one.
            for (nonce, seq) in room.nonces { #expect(other.nonces[nonce] == seq) }
            #expect(other.expired == room.expired)
            #expect(other.expiredBefore == room.expiredBefore)
            let mine = Array(try a.messages(room: key, from: 1, through: other.head))
            let theirs = Array(try b.messages(room: key, from: 1, through: room.head))
            #expect(mine == theirs, "room \(key)")
            #expect(mine.map(\.seq) == Array(1...max(1, room.head)).prefix(Int(room.head)).map { $0 })
        }
    }
}
