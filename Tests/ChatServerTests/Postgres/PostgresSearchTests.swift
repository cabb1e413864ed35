import ChatCore
import ChatLog
import ChatServer
import Foundation
import Logging
import PostgresNIO
import Testing

/// Search on a cluster (`PostgresSearch`): the same tokens as the embedded SQLite index, so the
/// same queries find the same messages — 2-character Japanese words, one-character prefixes,
/// phrases, folding, `from:` — checked side by side on one corpus.
@Suite("PostgreSQL: search")
struct PostgresSearchTests {
    static let texts: [(from: String, room: String, text: String)] = [
        ("ann", "lobby", "明日の会議室の予約をお願いします"),
        ("bo", "lobby", "会議は10時から"),
        ("ann", "dev", "Deploy tonight, after the 会議"),
        ("bo", "dev", "tonight we deploy nothing"),
        ("ann", "dev", "ＤＥＰＬＯＹ　ＮＯＷ (full width)"),
        ("bo", "lobby", "ｶﾞｷﾞｸﾞ half-width katakana"),
        ("ann", "lobby", "party 🎉 at 6"),
        ("bo", "dev", "it's a back\\slash and a 'quote'"),
        ("ann", "lobby", "室"),
        ("bo", "dev", "한국어 회의 일정"),
        ("ann", "dev", "old text that gets edited"),
        ("bo", "lobby", "deleted words never found"),
    ]

    static let queries = [
        "会議", "室", "会議室", "予約 会議", "\"deploy tonight\"", "\"tonight deploy\"", "deploy", "ＤＥＰＬＯＹ",
        "full", "ガギ", "ｶﾞｷﾞ", "🎉", "it's", "slash", "'quote'", "회의", "old", "edited", "new text", "deleted",
        "from:ann 会議", "from:bo deploy", "from:nobody 会議", "10時",
    ]

    /// A state with the corpus, an edit (seq 11 in dev gets new text) and a delete (lobby's last).
    static func corpus() -> ChatState {
        var state = ChatState()
        var records: [LogRecord] = [
            .userCreated(name: "ann", passwordHash: "h", ts: 0), .userCreated(name: "bo", passwordHash: "h", ts: 0),
            .roomCreated(name: "lobby", epoch: "e1", ts: 0), .roomCreated(name: "dev", epoch: "e2", ts: 0),
        ]
        for room in ["lobby", "dev"] {
            for user in ["ann", "bo"] { records.append(.memberAdded(room: room, user: user)) }
        }
        var heads: [String: Int64] = [:]
        var ts: Int64 = 1_000
        func message(
            _ room: String,
            _ from: String,
            _ text: String,
            _ kind: MessageKind,
            _ details: MessageDetails
        )
            -> LogRecord
        {
            heads[room, default: 0] += 1
            ts += 1
            return .messageAppended(
                ChatMessage(
                    room: room,
                    seq: heads[room]!,
                    from: from,
                    text: text,
                    kind: kind,
                    ts: ts,
                    details: details
                )
            )
        }
        for (from, room, text) in texts { records.append(message(room, from, text, .text, MessageDetails())) }
        let edited = heads["dev"]!
        records.append(message("dev", "ann", "new text after the edit", .edit, MessageDetails(target: edited)))
        records.append(message("lobby", "bo", "", .delete, MessageDetails(target: heads["lobby"]!)))
        for record in records { state.apply(record) }
        return state
    }

    @Test("the same queries find the same messages as the embedded index")
    func sameAsSQLite() async throws {
        let state = Self.corpus()
        let logger = TestPostgres.logger
        let index = try SearchIndex.open(directory: nil, logger: logger)
        _ = try index.writeAll(state)
        let rooms = state.rooms.keys.sorted()
        let db = try await TestPostgres.database()
        var found: [String: Int] = [:]
        try await TestPostgres.with(db) { client in
            try await client.withConnection { connection in
                try await PostgresSchema.migrate(connection, logger: logger)
                _ = try await connection.transaction(logger: logger) { connection in
                    try await PostgresImport.copy(state, blobs: nil, into: connection, logger: logger)
                }
            }
        }
        for text in Self.queries {
            let request = try SearchRequest.parse(["query": .string(text), "limit": .int(100), "order": "newest"]).get()
            let embedded = try await index.search(request, rooms: rooms, others: []).hits
                .map { PostgresSearch.Hit(room: $0.room, seq: $0.seq) }
            let clustered = try await TestPostgres.with(db) { client in
                try await client.withConnection { connection in
                    try await PostgresSearch.search(
                        connection,
                        query: request.query,
                        rooms: rooms,
                        limit: 100,
                        logger: logger
                    )
                }
            }
            #expect(Set(clustered) == Set(embedded), "query \(text)")
            #expect(
                clustered == embedded.sorted { ($0.room, $0.seq) > ($1.room, $1.seq) }
                    || clustered.count == embedded.count
            )
            found[text] = clustered.count
        }
        // The corpus is built so these find something (the comparison alone could pass on nothing).
        #expect(found["会議"] == 3)
        #expect(found["室"] == 2)
        #expect(found["会議室"] == 1)
        #expect(found["\"deploy tonight\""] == 1)
        #expect(found["\"tonight deploy\""] == 0)
        #expect(found["ＤＥＰＬＯＹ"] == 3)
        #expect(found["ガギ"] == 1)
        #expect(found["회의"] == 1)
        #expect(found["new text"] == 1)
        #expect(found["old"] == 0)
        #expect(found["deleted"] == 0)
        #expect(found["from:ann 会議"] == 2)
        #expect(found["'quote'"] == 1)
    }

    @Test("vectors and queries are quoted: a quote or a backslash in a token cannot break the literal")
    func quoting() throws {
        #expect(PostgresSearch.vector("it's") != nil)
        #expect(PostgresSearch.vector("   ") == nil)
        let vector = try #require(PostgresSearch.vector("会議室 会議"))
        #expect(vector == "'会議':1,3 '議室':2 '室':2 '議':3")
        let query = try SearchQuery.parse("\"a b\" 室").get()
        #expect(PostgresSearch.tsquery(query) == "('a' <-> 'b') & ('室':*)")
    }
}
