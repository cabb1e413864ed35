import ChatCore
import ChatServer
import Foundation
import Testing

/// The room filter is part of the full-text query (issue 21 item 3): a user whose rooms
/// hold few messages does not walk the posting list of a word common elsewhere.
@Suite("Search room filter")
struct SearchRoomFilterTests {
    @Test("a search limited to a small room walks that room's rows, not every row with the word")
    func filterInsideTheFullTextQuery() async throws {
        let index = try SearchIndex(path: nil)
        var batch = IndexBatch()
        for seq in 1...2000 {
            batch.messages.append(
                IndexedMessage(
                    room: "big",
                    seq: Int64(seq),
                    from: "Alice",
                    fromKey: "alice",
                    text: "hello number \(seq)",
                    ts: 1_000 + Int64(seq)
                )
            )
        }
        for seq in 1...3 {
            batch.messages.append(
                IndexedMessage(
                    room: "small",
                    seq: Int64(seq),
                    from: "Bob",
                    fromKey: "bob",
                    text: "quiet",
                    ts: Int64(seq)
                )
            )
        }
        batch.messages.append(
            IndexedMessage(room: "small", seq: 4, from: "Bob", fromKey: "bob", text: "hello there", ts: 4)
        )
        try await index.write(batch)
        for order in ["relevance", "newest"] {
            let request = try SearchRequest.parse(["query": "hello", "order": .string(order)]).get()
            let page = try await index.search(request, rooms: ["small"], others: ["big"])
            #expect(page.hits.map(\.seq) == [4])
            #expect(!page.more)
            let walked = try await index.matchedRows(request, rooms: ["small"], others: ["big"])
            #expect(walked == 1, "the full-text query yielded \(walked) rows for a room with one match")
            // One named room, and every room (no filter at all).
            #expect(try await index.matchedRows(request, rooms: ["small"]) == 1)
            #expect(try await index.matchedRows(request, rooms: ["small", "big"], others: []) == 2001)
            let everything = try await index.search(request, rooms: ["small", "big"], others: [])
            #expect(everything.hits.count == 20)
            #expect(everything.more)
        }
        // A room the index never saw: nothing to walk.
        let request = try SearchRequest.parse(["query": "hello"]).get()
        #expect(try await index.matchedRows(request, rooms: ["empty"], others: ["big", "small"]) == 0)
        #expect(try await index.search(request, rooms: ["empty"], others: ["big", "small"]).hits.isEmpty)
        // from: and the room filter together.
        let fromBob = try SearchRequest.parse(["query": "hello from:bob"]).get()
        #expect(try await index.search(fromBob, rooms: ["small", "big"], others: ["x"]).hits.map(\.seq) == [4])
    }
}

/// Row ids are `ts << 21 | room << 5 | slot`; an index object remembers the ones it gave out
/// (issue 19) and reads the table only when a message is not newer than its room's last row.
@Suite("Search row ids")
struct SearchRowIDTests {
    private func messages(_ room: String, _ seqs: ClosedRange<Int>, ts: (Int) -> Int64) -> [IndexedMessage] {
        seqs.map { seq in
            IndexedMessage(room: room, seq: Int64(seq), from: "Al", fromKey: "al", text: "word \(seq)", ts: ts(seq))
        }
    }

    @Test("a full millisecond, a reopened index, older and newer messages: every row stored once, none refused")
    func rowIDsAcrossReopens() async throws {
        let path = NSTemporaryDirectory() + "chat-rowid-\(UUID().uuidString).sqlite"
        defer { SearchIndex.removeFiles(path: path) }
        let request = try SearchRequest.parse(["query": "word"]).get()
        do {
            let index = try SearchIndex(path: path)
            var batch = IndexBatch()
            // 40 messages in one millisecond: 32 slots, then the next millisecond.
            batch.messages = messages("a", 1...40) { _ in 5_000 } + messages("b", 1...3) { _ in 5_000 }
            try await index.write(batch)
            batch.messages = messages("a", 41...45) { _ in 5_001 }
            try await index.write(batch)
            #expect(try await index.matchedRows(request, rooms: ["a", "b"], others: []) == 48)
        }
        // A new index object (a restart) knows none of the row ids it did not give out.
        let index = try SearchIndex(path: path)
        var batch = IndexBatch()
        batch.messages =
            messages("a", 46...47) { _ in 4_000 } + messages("a", 48...50) { _ in 5_000 }
            + messages("a", 51...52) { _ in 5_001 } + messages("a", 53...54) { _ in 9_000 }
        try await index.write(batch)
        batch.messages =
            messages("a", 55...56) { _ in 9_000 } + messages("b", 4...5) { _ in 5_000 }
            + messages("a", 57...57) { _ in 2_000 }
        try await index.write(batch)
        #expect(try await index.matchedRows(request, rooms: ["a", "b"], others: []) == 62)
        // A taken row id is refused by SQLite (the write above would have thrown); per room:
        #expect(try await index.matchedRows(request, rooms: ["a"]) == 57)
        #expect(try await index.matchedRows(request, rooms: ["b"]) == 5)
    }
}
