import ChatCore
import ChatLog
import ChatServer
import Foundation
import Logging
import Synchronization
import Testing

/// Wraps the real index: fails the first `failures` writes and records every attempt.
final class FlakyIndexWriter: SearchIndexWriting {
    let index: SearchIndex
    private let failuresLeft: Mutex<Int>
    private let attempts = Mutex<[IndexBatch]>([])
    private let stored = Mutex<[IndexBatch]>([])

    init(_ index: SearchIndex, failures: Int = 0) {
        self.index = index
        self.failuresLeft = Mutex(failures)
    }

    struct InjectedFailure: Error {}

    var attempted: [IndexBatch] { attempts.withLock { $0 } }
    var written: [IndexBatch] { stored.withLock { $0 } }

    func cursors() async throws -> [String: IndexCursor] { try await index.cursors() }

    func purge() async throws { try await index.purge() }

    func purgePending() async throws -> Bool { try await index.purgePending() }

    func write(_ batch: IndexBatch) async throws {
        attempts.withLock { $0.append(batch) }
        let fail = failuresLeft.withLock { left -> Bool in
            guard left > 0 else { return false }
            left -= 1
            return true
        }
        if fail { throw InjectedFailure() }
        try await index.write(batch)
        stored.withLock { $0.append(batch) }
    }
}

@Suite("Search indexer")
struct SearchIndexerTests {
    static let logger: Logger = {
        var logger = Logger(label: "search-tests")
        logger.logLevel = .critical
        return logger
    }()

    static let fast = SearchIndexerConfiguration(
        batchSize: 100,
        idlePoll: .milliseconds(5),
        retryBase: .milliseconds(1),
        retryMax: .milliseconds(20)
    )

    /// A state with one user and the given rooms, each with `count` messages.
    static func state(rooms: [String: Int], epoch: String = "e1") -> ChatState {
        var state = ChatState()
        state.apply(.userCreated(name: "Alice", passwordHash: "x", ts: 0))
        for (room, count) in rooms.sorted(by: { $0.key < $1.key }) {
            state.apply(.roomCreated(name: room, epoch: epoch, ts: 0))
            state.apply(.memberAdded(room: room, user: "alice"))
            append(&state, room: room, upTo: count)
        }
        return state
    }

    static func append(_ state: inout ChatState, room: String, upTo count: Int, word: String = "note") {
        let head = Int(state.rooms[room]?.head ?? 0)
        guard count > head else { return }
        for seq in (head + 1)...count {
            let message = ChatMessage(
                room: room,
                seq: Int64(seq),
                from: "Alice",
                text: "\(word) \(room) number \(seq) 会議",
                kind: .text,
                ts: 1_700_000_000_000 + Int64(seq)
            )
            state.apply(.messageAppended(message))
        }
    }

    static func hub(_ state: ChatState) -> RoomHub {
        RoomHub(
            configuration: ServerConfiguration(),
            state: state,
            store: MemoryChatStore(),
            broker: InMemoryBroker(),
            logger: logger
        )
    }

    /// An indexer of `state` (through a hub holding it) into `index`, with the fast configuration.
    static func indexer(
        _ state: ChatState,
        into index: any SearchIndexWriting,
        waitForFirstSearch: Bool = false
    ) -> SearchIndexer {
        SearchIndexer(
            hub: hub(state),
            index: index,
            configuration: fast,
            logger: logger,
            waitForFirstSearch: waitForFirstSearch
        )
    }

    /// Runs the indexer until `done` holds (polled, at most 20 s), then stops it.
    static func runIndexer(
        _ indexer: SearchIndexer,
        until done: @escaping @Sendable () async throws -> Bool
    )
        async throws
    {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await indexer.loop() }
            _ = try await eventually(within: .seconds(20), done)
            group.cancelAll()
            try await group.waitForAll()
        }
    }

    @Test("a failing index write is retried with the cursor held: nothing is skipped")
    func retryNothingSkipped() async throws {
        let state = Self.state(rooms: ["alpha": 250, "beta": 120])
        let index = try SearchIndex(path: nil)
        let writer = FlakyIndexWriter(index, failures: 3)
        let indexer = Self.indexer(state, into: writer)
        try await Self.runIndexer(indexer) { try await index.count() >= 370 }
        #expect(try await index.count() == 370)
        #expect(try await index.indexedSeqs(room: "alpha") == Array(1...250))
        #expect(try await index.indexedSeqs(room: "beta") == Array(1...120))
        #expect(indexer.progress.failures == 3)
        #expect(indexer.progress.indexed == 370)
        #expect(indexer.progress.lag == 0)
        // The three failed attempts and the first success carried the same batch.
        let attempts = writer.attempted
        #expect(attempts.count >= 4)
        let first = attempts.prefix(4).map { $0.messages.map { "\($0.room)/\($0.seq)" } }
        #expect(Set(first).count == 1)
        let cursors = try await index.cursors()
        #expect(cursors["alpha"] == IndexCursor(epoch: "e1", seq: 250))
        #expect(cursors["beta"] == IndexCursor(epoch: "e1", seq: 120))
    }

    @Test("a restart resumes from the stored cursor; an epoch change reindexes the room; a deleted index is rebuilt")
    func restartResumes() async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("chat-search-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let directory = root.path

        // First run: 50 messages.
        var state = Self.state(rooms: ["alpha": 50])
        do {
            let index = try SearchIndex.open(directory: directory, logger: Self.logger)
            let indexer = Self.indexer(state, into: index)
            try await Self.runIndexer(indexer) { try await index.count() >= 50 }
        }

        // Second run on the same files: only the 30 new messages are written.
        Self.append(&state, room: "alpha", upTo: 80)
        do {
            let index = try SearchIndex.open(directory: directory, logger: Self.logger)
            #expect(try await index.cursors()["alpha"] == IndexCursor(epoch: "e1", seq: 50))
            let writer = FlakyIndexWriter(index)
            let indexer = Self.indexer(state, into: writer)
            try await Self.runIndexer(indexer) { try await index.count() >= 80 }
            let written = writer.written.flatMap(\.messages).map(\.seq)
            #expect(written == Array(51...80))
            #expect(try await index.indexedSeqs(room: "alpha") == Array(1...80))
        }

        // Third run: the room's epoch changed (e.g. a restore): its messages are indexed again, once.
        state.apply(.epochChanged(room: "alpha", epoch: "e2"))
        do {
            let index = try SearchIndex.open(directory: directory, logger: Self.logger)
            let writer = FlakyIndexWriter(index)
            let indexer = Self.indexer(state, into: writer)
            try await Self.runIndexer(indexer) {
                try await index.cursors()["alpha"] == IndexCursor(epoch: "e2", seq: 80)
            }
            #expect(writer.written.first?.resets == ["alpha"])
            #expect(try await index.indexedSeqs(room: "alpha") == Array(1...80))
            #expect(try await index.cursors()["alpha"] == IndexCursor(epoch: "e2", seq: 80))
        }

        // Fourth run: the index files were deleted; everything is indexed again.
        SearchIndex.removeFiles(path: directory + "/index.sqlite")
        do {
            let index = try SearchIndex.open(directory: directory, logger: Self.logger)
            #expect(try await index.count() == 0)
            let indexer = Self.indexer(state, into: index)
            try await Self.runIndexer(indexer) { try await index.count() >= 80 }
            #expect(try await index.indexedSeqs(room: "alpha") == Array(1...80))
        }
    }

    @Test("an indexer that waits for the first search indexes nothing before it")
    func waitsForFirstSearch() async throws {
        let index = try SearchIndex(path: nil)
        let indexer = Self.indexer(Self.state(rooms: ["alpha": 30]), into: index, waitForFirstSearch: true)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await indexer.loop() }
            try await Task.sleep(for: .milliseconds(100))
            #expect(try await index.count() == 0)
            indexer.activate()
            _ = try await eventually(within: .seconds(20)) { try await index.count() >= 30 }
            group.cancelAll()
        }
        #expect(try await index.count() == 30)
    }

    @Test("rooms beyond the last room number share number 0 and are still filtered exactly")
    func roomNumberOverflow() async throws {
        let index = try SearchIndex(path: nil, maxRoomID: 2)
        var batch = IndexBatch()
        for (i, room) in ["a", "b", "c", "d"].enumerated() {
            for seq in 1...3 {
                batch.messages.append(
                    IndexedMessage(
                        room: room,
                        seq: Int64(seq),
                        from: "Alice",
                        fromKey: "alice",
                        text: "shared word \(room)",
                        ts: 1_000 + Int64(i * 10 + seq)
                    )
                )
            }
        }
        try await index.write(batch)
        func rooms(_ member: [String], others: [String]?) async throws -> Set<String> {
            let request = try SearchRequest.parse(["query": "shared", "limit": 100]).get()
            return Set(try await index.search(request, rooms: member, others: others).hits.map(\.room))
        }
        // a and b have numbers 1 and 2; c and d both have 0.
        #expect(try await rooms(["a", "c"], others: ["b", "d"]) == ["a", "c"])
        #expect(try await rooms(["d"], others: ["a", "b", "c"]) == ["d"])
        #expect(try await rooms(["b"], others: nil) == ["b"])
        #expect(try await rooms(["a", "b", "c", "d"], others: []) == ["a", "b", "c", "d"])
    }

    @Test("the index finds two-character Japanese words, one-character queries and folded widths")
    func indexQueries() async throws {
        let index = try SearchIndex(path: nil)
        var batch = IndexBatch()
        let texts = ["明日の会議は10時から", "ｶﾀｶﾅのテスト", "Let's MEET tomorrow", "大会に出る", "unrelated text"]
        for (i, text) in texts.enumerated() {
            batch.messages.append(
                IndexedMessage(
                    room: "r",
                    seq: Int64(i + 1),
                    from: "Alice",
                    fromKey: "alice",
                    text: text,
                    ts: 1_000 + Int64(i)
                )
            )
        }
        try await index.write(batch)
        func seqs(_ query: String, order: SearchRequest.Order = .relevance) async throws -> [Int64] {
            let request = try SearchRequest.parse(["query": .string(query), "order": .string(order.rawValue)]).get()
            return try await index.search(request, rooms: ["r"]).hits.map(\.seq)
        }
        #expect(try await seqs("会議") == [1])
        #expect(try await seqs("明日") == [1])
        #expect(try await seqs("カタカナ") == [2])
        #expect(try await seqs("ｶﾀｶﾅ") == [2])
        #expect(try await seqs("ＭＥＥＴ") == [3])
        #expect(try await seqs("meet tomorrow") == [3])
        #expect(try await seqs("\"tomorrow meet\"").isEmpty)
        #expect(Set(try await seqs("会")) == [4, 1])
        #expect(try await seqs("会", order: .newest) == [4, 1])
        #expect(try await seqs("会議 from:bob").isEmpty)
        #expect(try await seqs("会議 from:ALICE") == [1])
        #expect(try await index.search(SearchRequest.parse(["query": "会議"]).get(), rooms: ["other"]).hits.isEmpty)
    }
}
