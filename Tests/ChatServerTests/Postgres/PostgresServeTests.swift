import ChatConformance
import ChatCore
import ChatLog
import ChatServer
import Foundation
import Logging
import PostgresNIO
import Testing

/// `chat-server --postgres`: one node whose whole state lives in PostgreSQL (issue 17).
@Suite("Serving from PostgreSQL")
struct PostgresServeTests {
    static let logger = TestPostgres.logger

    static func configuration(_ settings: PostgresSettings) -> ServerConfiguration {
        var configuration = TestServer.conformanceConfiguration
        configuration.postgres = settings
        return configuration
    }

    @Test(
        "every conformance case passes against one server on PostgreSQL, and the tables reload to its state",
        .timeLimit(.minutes(10))
    )
    func conformanceAndReload() async throws {
        try await TestPostgres.afterStartBurst()
        let settings = try await TestPostgres.database()
        let live = try await TestServer.with(Self.configuration(settings)) { server in
            var failed: [String] = []
            for testCase in ConformanceSuite.all {
                let result = await Runner.run(testCase, context: server.context, timeout: .seconds(60))
                if result.outcome != .passed { failed.append("\(testCase.name): \(result.outcome)") }
            }
            #expect(failed.isEmpty, "\(failed)")
            return await server.hub.stateCopy
        }
        #expect(live.rooms.values.reduce(0) { $0 + $1.head } > 300, "the cases sent messages")
        #expect(!live.uploads.isEmpty, "the cases uploaded files")
        let (loaded, heads) = try await TestPostgres.with(settings) { client in
            try await client.withConnection { connection in
                var heads: [String: Int64] = [:]
                for try await (key, head) in try await connection.query(
                    "SELECT key, head FROM rooms",
                    logger: Self.logger
                ).decode((String, Int64).self) {
                    heads[key] = head
                }
                // Each row alone holds its message's latest version (what a read by seq returns).
                try await PostgresStoreTests.expectRows(connection, live)
                return (try await PostgresState.load(connection, logger: Self.logger), heads)
            }
        }
        try PostgresStoreTests.expectSameState(loaded, live)
        // The counter rows the seqs come from.
        #expect(heads == live.rooms.mapValues(\.head))
        for (key, room) in live.rooms { #expect(loaded.rooms[key]?.epoch == room.epoch) }
    }

    /// Runs SQL as the cluster's superuser on its `postgres` database.
    static func admin(_ sql: String) async throws {
        let admin = try PostgresSettings(url: try await TestPostgres.server.value)
        try await TestPostgres.with(admin) { client in
            try await client.query(PostgresQuery(unsafeSQL: sql), logger: Self.logger)
        }
    }

    @Test(
        "cut off from PostgreSQL: internal and 503 meanwhile, then the change refused meanwhile is stored once",
        .timeLimit(.minutes(3))
    )
    func cutOff() async throws {
        let settings = try await TestPostgres.database()
        let db = settings.database
        try await TestServer.with(Self.configuration(settings)) { server in
            let context = server.context
            let (owner, room) = try await context.newUserInNewRoom("cut", room: "cut")
            func send(_ text: String, _ nonce: String) async throws -> JSONObject {
                try await owner.client.request(
                    "send",
                    ["room": .string(room), "text": .string(text), "nonce": .string(nonce)]
                )
            }
            let before = try expectOK(try await send("before", "n1"), "send before")
            #expect(before["seq"]?.intValue == 1)
            #expect(try await httpStatus(url: server.url, path: "/healthz") == 200)

            // No new connection to the database, and the node's are terminated.
            try await Self.admin("ALTER DATABASE \(db) ALLOW_CONNECTIONS false")
            try await Self.admin(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '\(db)'"
            )
            let during = try await send("during", "n2")
            #expect(during["type"]?.stringValue == "error" && during["code"]?.stringValue == "internal", "\(during)")
            #expect(try await httpStatus(url: server.url, path: "/healthz") == 503)
            let refused = try await send("refused", "n3")
            #expect(refused["code"]?.stringValue == "internal", "\(refused)")

            try await Self.admin("ALTER DATABASE \(db) ALLOW_CONNECTIONS true")
            var status = 0
            for _ in 0..<200 {
                // What the hub's service does once a second (TestServer does not run it).
                await server.hub.checkStorageRecovered()
                status = try await httpStatus(url: server.url, path: "/healthz")
                if status == 200 { break }
                try await Task.sleep(for: .milliseconds(100))
            }
            #expect(status == 200, "the node writes again")
            // The retry of the message refused meanwhile gets the seq it was stored under.
            let retried = try expectOK(try await send("during", "n2"), "retry")
            #expect(retried["seq"]?.intValue == 2)
            let after = try expectOK(try await send("after", "n4"), "send after")
            #expect(after["seq"]?.intValue == 3)
            let history = try await CrashTests.history(owner.client, room: room)
            #expect(history.compactMap { $0["text"]?.stringValue } == ["before", "during", "after"])
        }
        let texts = try await TestPostgres.with(settings) { client in
            var texts: [String] = []
            for try await text in try await client.query(
                "SELECT body FROM messages WHERE kind = 'text' ORDER BY seq",
                logger: Self.logger
            ).decode(String.self) {
                texts.append(text)
            }
            return texts
        }
        #expect(texts == ["before", "during", "after"])
    }

    @Test("a second node on the same database is refused at start, and so is a directory holding a single box's state")
    func refusals() async throws {
        let settings = try await TestPostgres.database()
        let first = PostgresChatStore(settings: settings, files: nil, dataDirectory: nil, logger: Self.logger)
        _ = try await first.recover()
        let second = PostgresChatStore(settings: settings, files: nil, dataDirectory: nil, logger: Self.logger)
        await #expect {
            _ = try await second.recover()
        } throws: {
            "\($0)".contains("another chat-server node serves this database")
        }
        await first.close()
        // Once the first has left, the database is free again.
        _ = try await second.recover()
        await second.close()

        let dir = try PostgresStoreTests.fixtureCopy()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let third = PostgresChatStore(settings: settings, files: nil, dataDirectory: dir, logger: Self.logger)
        await #expect {
            _ = try await third.recover()
        } throws: {
            "\($0)".contains("holds a single-box server's state") && "\($0)".contains("migrate --from")
        }
    }

    @Test(
        "a batch in a room whose head another writer moved fails and none of it is stored",
        arguments: [false, true]
    )
    func headGuard(withTopic: Bool) async throws {
        let settings = try await TestPostgres.database()
        let store = PostgresChatStore(settings: settings, files: nil, dataDirectory: nil, logger: Self.logger)
        _ = try await store.recover()
        let writer = Task { try await store.run() }
        defer { writer.cancel() }
        let first = ChatMessage(room: "g", seq: 1, from: "ann", text: "one", kind: .text, ts: 1)
        try await store.waitDurable(
            store.append([
                .userCreated(name: "ann", passwordHash: "h", ts: 1), .roomCreated(name: "g", epoch: "e", ts: 1),
                .messageAppended(first),
            ])
        )
        try await TestPostgres.with(settings) { client in
            try await client.query("UPDATE rooms SET head = 5 WHERE key = 'g'", logger: Self.logger)
        }
        var second = first
        second.seq = 2
        second.text = "two"
        // Messages alone are one statement; with another record, a transaction of several.
        let records: [LogRecord] =
            withTopic
            ? [.topicSet(room: "g", topic: "t", by: "ann"), .messageAppended(second)] : [.messageAppended(second)]
        await #expect {
            try await store.waitDurable(store.append(records))
        } throws: {
            "\($0)".contains(withTopic ? "room g: its head is no longer 1" : "a room's head is no longer where")
        }
        let bodies = try await TestPostgres.with(settings) { client in
            var bodies: [String] = []
            for try await body in try await client.query("SELECT body FROM messages", logger: Self.logger)
                .decode(String.self)
            {
                bodies.append(body)
            }
            return bodies
        }
        #expect(bodies == ["one"])
        let topic = try await TestPostgres.with(settings) { client in
            try await client.query("SELECT topic FROM rooms", logger: Self.logger).collect().first?.decode(String.self)
        }
        #expect(topic == "")
    }

    @Test("a data directory copied with migrate --from is served from PostgreSQL: same state, files restored")
    func servesACopy() async throws {
        let dir = try PostgresStoreTests.fixtureCopy()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let settings = try await TestPostgres.database()
        _ = try await PostgresImport.run(dataDirectory: dir, settings: settings, logger: Self.logger)
        let original = try await PostgresStoreTests.recover(dir)
        let node = NSTemporaryDirectory() + "chat-pg-node-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: node) }
        var configuration = Self.configuration(settings)
        configuration.storage = StorageConfiguration(directory: node)
        // A search index left from an earlier run of the node is not trusted: it is rebuilt.
        try FileManager.default.createDirectory(atPath: node + "/search", withIntermediateDirectories: true)
        #expect(FileManager.default.createFile(atPath: node + "/search/stale", contents: Data("x".utf8)))
        let served = try await TestServer.with(configuration) { server in await server.hub.stateCopy }
        #expect(!FileManager.default.fileExists(atPath: node + "/search/stale"))
        try PostgresStoreTests.expectSameState(served, original)
        let files = FileStore(root: node + "/files")
        for upload in original.uploads.values {
            let bytes = try #require(FileManager.default.contents(atPath: files.blobPath(upload.file.sha256)))
            #expect(Int64(bytes.count) == upload.file.size)
        }
        // The node's directory is not a single box's: a start without --postgres, an offline admin
        // command (both load it through FileChatStore) and a backup are refused, naming the database.
        let offline = FileChatStore(configuration: StorageConfiguration(directory: node), logger: Self.logger)
        await #expect {
            _ = try await offline.recover()
        } throws: {
            "\($0)".contains("serving from PostgreSQL (\(settings.redacted))")
        }
        #expect {
            _ = try Backup.create(dataDirectory: node, output: node + ".backup")
        } throws: {
            "\($0)".contains("serving from PostgreSQL")
        }
    }
}
