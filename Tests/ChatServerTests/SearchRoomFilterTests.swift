import ChatCore
import ChatServer
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
