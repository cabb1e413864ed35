import ChatCore
import ChatLog
import ChatServer
import Foundation
import Logging
import Testing

/// Edits and deletes reach the search index through the asynchronous indexer, also when the
/// server stops between the change and its indexing; deleted words leave the index files.
@Suite("Search: edits and deletes")
struct SearchChangeTests {
    static func change(_ kind: MessageKind, _ state: inout ChatState, target: Int64, text: String = "") {
        let room = state.rooms["alpha"]!
        let event = ChatMessage(
            room: "alpha",
            seq: room.head + 1,
            from: "Alice",
            text: text,
            kind: kind,
            ts: 1_800_000_000_000 + room.head,
            details: MessageDetails(target: target)
        )
        state.apply(.messageAppended(event))
    }

    static func seqs(_ index: SearchIndex, _ query: String) async throws -> [Int64] {
        let request = try SearchRequest.parse(["query": .string(query), "order": "newest"]).get()
        return try await index.search(request, rooms: ["alpha"]).hits.map(\.seq)
    }

    /// Whether any file under `directory` holds `needle`.
    static func filesHold(_ needle: String, under directory: String) -> Bool {
        !files(holding: needle, under: directory).isEmpty
    }

    /// The files under `directory` (relative paths) that hold `needle`.
    static func files(holding needle: String, under directory: String) -> [String] {
        let bytes = Data(needle.utf8)
        let files = FileManager.default.enumerator(atPath: directory)?.compactMap { $0 as? String } ?? []
        return files.filter { file in
            FileManager.default.contents(atPath: directory + "/" + file)?.range(of: bytes) != nil
        }
    }

    @Test("an edit reindexes, a delete removes; a stop between the change and its indexing loses neither")
    func editAndDeleteAcrossRestart() async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("chat-search-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let directory = root.path
        var state = SearchIndexerTests.state(rooms: ["alpha": 10])
        // Messages 3 and 4 get distinctive words.
        for seq in [3, 4] {
            state.rooms["alpha"]!.messages[seq - 1].text = seq == 3 ? "quokka original wording" : "zebrafinch private"
        }
        do {
            let index = try SearchIndex.open(directory: directory, logger: SearchIndexerTests.logger)
            let indexer = SearchIndexerTests.indexer(state, into: index)
            try await SearchIndexerTests.runIndexer(indexer) { try await index.count() >= 10 }
            #expect(try await Self.seqs(index, "quokka") == [3])
            #expect(try await Self.seqs(index, "zebrafinch") == [4])
        }
        // Stored and acknowledged, then the server stops before the indexer sees them.
        Self.change(.edit, &state, target: 3, text: "wombat replacement")
        Self.change(.delete, &state, target: 4)
        Self.change(.react, &state, target: 3)
        do {
            let index = try SearchIndex.open(directory: directory, logger: SearchIndexerTests.logger)
            #expect(try await index.cursors()["alpha"]?.seq == 10)
            let indexer = SearchIndexerTests.indexer(state, into: index)
            try await SearchIndexerTests.runIndexer(indexer) { try await index.cursors()["alpha"]?.seq == 13 }
            #expect(try await Self.seqs(index, "quokka").isEmpty, "the old words no longer match")
            #expect(try await Self.seqs(index, "wombat") == [3])
            #expect(try await Self.seqs(index, "zebrafinch").isEmpty)
            #expect(try await index.indexedSeqs(room: "alpha") == [1, 2, 3, 5, 6, 7, 8, 9, 10])
            #expect(indexer.progress.purges == 1, "the loop's end purged what was removed")
        }
        #expect(!Self.filesHold("zebrafinch", under: directory), "the deleted word is gone from the index files")
        #expect(!Self.filesHold("quokka", under: directory), "the edited-away word is gone too")
        #expect(Self.filesHold("wombat", under: directory), "the check can find words that are there")
    }

    @Test("a purge cut short by a stop is done after the restart")
    func purgeAfterRestart() async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("chat-search-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        var state = SearchIndexerTests.state(rooms: ["alpha": 3])
        state.rooms["alpha"]!.messages[1].text = "capybara secret"
        let index = try SearchIndex.open(directory: root.path, logger: SearchIndexerTests.logger)
        var batch = IndexBatch()
        batch.messages = state.rooms["alpha"]!.messages.map { IndexedMessage($0, room: "alpha", in: state) }
        try await index.write(batch)
        #expect(try await !index.purgePending())
        // The delete is indexed, then the process dies before the purge.
        var removal = IndexBatch()
        removal.removals = [IndexRemoval(room: "alpha", seq: 2, ts: state.rooms["alpha"]!.messages[1].ts)]
        removal.cursors["alpha"] = IndexCursor(epoch: "e1", seq: 4)
        try await index.write(removal)
        #expect(try await index.purgePending())
        #expect(Self.filesHold("capybara", under: root.path), "the words are still in the files")

        Self.change(.delete, &state, target: 2)
        let restarted = try SearchIndex.open(directory: root.path, logger: SearchIndexerTests.logger)
        let indexer = SearchIndexerTests.indexer(state, into: restarted)
        try await SearchIndexerTests.runIndexer(indexer) { indexer.progress.purges >= 1 }
        #expect(try await !restarted.purgePending())
        #expect(!Self.filesHold("capybara", under: root.path))
    }

    @Test("a batch that holds a message and its edit indexes it once, with the current text")
    func editInSameBatch() async throws {
        var state = SearchIndexerTests.state(rooms: ["alpha": 3])
        Self.change(.edit, &state, target: 2, text: "platypus now")
        Self.change(.edit, &state, target: 2, text: "platypus again")
        Self.change(.delete, &state, target: 1)
        let index = try SearchIndex(path: nil)
        let indexer = SearchIndexerTests.indexer(state, into: index)
        try await SearchIndexerTests.runIndexer(indexer) { try await index.cursors()["alpha"]?.seq == 6 }
        #expect(try await index.indexedSeqs(room: "alpha") == [2, 3])
        #expect(try await Self.seqs(index, "platypus") == [2])
        #expect(try await Self.seqs(index, "now").isEmpty)
    }
}
