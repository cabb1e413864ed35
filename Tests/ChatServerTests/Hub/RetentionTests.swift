import ChatCore
import ChatLog
import ChatServer
import Foundation
import Testing

/// Retention (`--retain-days`, issue 16): at a compaction, each room's oldest messages sent
/// before the cutoff become tombstones, in memory and in the cold store, seqs stay contiguous,
/// the files they shared lose the reference, and the search index drops their rows.
@Suite("Retention")
struct RetentionTests {
    /// seq `seq` sent at `ts` ms: text (default), a file, or a change event of `kind`.
    static func message(
        _ seq: Int64,
        ts: Int64? = nil,
        kind: MessageKind = .text,
        file: String? = nil,
        target: Int64? = nil,
        text: String? = nil,
        from: String = "alice"
    ) -> LogRecord {
        let kind: MessageKind = file != nil ? .file : kind
        let body = text ?? (kind == .text ? "old words \(seq)" : "")
        return .messageAppended(
            ChatMessage(
                room: "lobby",
                seq: seq,
                from: from,
                text: body,
                kind: kind,
                ts: ts ?? seq * 10,
                details: MessageDetails(
                    target: target,
                    emoji: kind == .react ? "👍" : nil,
                    file: file.map(CompactionFilesTests.file)
                )
            )
        )
    }

    /// A room with 20 messages sent at seq × 10 ms: files at 2 (x), 5 (y) and 17 (z), an edit of
    /// 3 at 4, a reaction to 6 at 7; seqs 1…10 in the cold store (`MemoryColdStore`).
    static func state() throws -> ChatState {
        var state = ChatState()
        var records = CompactionFilesTests.lobbyWithUploads
        for seq in Int64(1)...20 {
            switch seq {
            case 2: records.append(Self.message(seq, file: "x"))
            case 5: records.append(Self.message(seq, file: "y"))
            case 17: records.append(Self.message(seq, file: "z"))
            case 4: records.append(Self.message(seq, kind: .edit, target: 3, text: "old words 3, edited"))
            case 7: records.append(Self.message(seq, kind: .react, target: 6, from: "bob"))
            default: records.append(Self.message(seq))
            }
        }
        for record in records { state.apply(record) }
        state.cold = MemoryColdStore()
        try state.moveToCold(room: "lobby", through: 10)
        return state
    }

    static func all(_ state: ChatState) throws -> [ChatMessage] {
        Array(try state.messages(room: "lobby", from: 1, through: state.rooms["lobby"]?.head ?? 0))
    }

    @Test("messages sent before the cutoff become tombstones, cold and hot; seqs stay contiguous; files are released")
    func expiresAPrefix() throws {
        var state = try Self.state()
        let compaction = try #require(try Compaction.run(&state, policy: nil, expireBefore: 125, generation: 1))
        #expect(compaction.rooms["lobby"]?.expiry?.through == 12)
        state.apply(compaction)  // a no-op on the copy itself, as on any state already expired
        let messages = try Self.all(state)
        #expect(messages.map(\.seq) == Array(1...20), "every seq, once")
        for message in messages.prefix(12) {
            #expect(message.text.isEmpty, "seq \(message.seq) has no text")
            #expect(message.file == nil && message.reactions.isEmpty && message.editedTs == nil)
            if message.isContent { #expect(message.deleted, "seq \(message.seq) is a tombstone") }
        }
        #expect(messages[6].kind == .react && messages[6].target == 6, "a reaction event stays an event")
        #expect(messages[12].text == "old words 13" && !messages[12].deleted, "13 was sent after the cutoff")
        #expect(state.rooms["lobby"]?.expired == 12)
        #expect(state.rooms["lobby"]?.expiredBefore == 125)
        #expect(state.fileRooms == ["z": ["lobby": 1]])
        #expect(state.orphanedFiles == ["x", "y"])
        #expect(!state.mayDownload("x", user: "bob"))
        // The same cutoff again: nothing more expires.
        #expect(try Compaction.run(&state, policy: nil, expireBefore: 125, generation: 2)?.rooms.isEmpty != false)
    }

    @Test("a message sent after the cutoff stops the expiry, even if older ones follow it")
    func prefixOnly() throws {
        var state = ChatState()
        state.apply(.roomCreated(name: "lobby", epoch: "e", ts: 0))
        for (seq, ts) in [(1, 10), (2, 20), (3, 500), (4, 30), (5, 40)] {
            state.apply(Self.message(Int64(seq), ts: Int64(ts)))
        }
        state.cold = MemoryColdStore()
        let expiry = try state.expiry(room: "lobby", before: 100)
        #expect(expiry?.through == 2)
        #expect(try state.expiry(room: "lobby", before: 5) == nil)
    }

    @Test("the hub's state, changed while a copy expires, ends as a restart from the copy's snapshot and log")
    func differential() throws {
        let state = try Self.state()
        var copy = state
        var live = state
        // While the compaction runs on the copy (with a window of 3), the live hub goes on: a
        // delete of the file message at 5 (expiring), a reaction to 9 (expiring), an edit of 15
        // (not expiring), a new message. (The hub applies them before the compaction rewrites
        // the cold store: after it, the expiring messages read as tombstones and the hub
        // refuses changes to them.)
        let tail: [LogRecord] = [
            Self.message(21, kind: .delete, target: 5),
            Self.message(22, kind: .react, target: 9, from: "bob"),
            Self.message(23, kind: .edit, target: 15, text: "old words 15, edited"),
            Self.message(24),
        ]
        for record in tail { live.apply(record) }
        #expect(live.orphanedFiles == ["y"], "the delete released y")
        let compaction = try #require(try Compaction.run(&copy, policy: .messages(3), expireBefore: 125, generation: 1))
        var snapshot: [LogRecord] = []
        try SnapshotFile.records(of: copy) { snapshot.append($0) }
        #expect(snapshot.contains(.roomExpired(room: "lobby", through: 12, before: 125)))
        live.apply(compaction)

        var restarted = ChatState()
        restarted.loadingSnapshot = true
        for record in snapshot { restarted.apply(record) }
        restarted.loadingSnapshot = false
        restarted.cold = copy.cold
        for record in tail { restarted.apply(record) }

        let liveMessages = try Self.all(live)
        #expect(liveMessages == (try Self.all(restarted)))
        #expect(liveMessages.map(\.seq) == Array(1...24))
        #expect(liveMessages[8].deleted && liveMessages[8].reactions.isEmpty, "a reaction after the copy is gone too")
        #expect(liveMessages[14].text == "old words 15, edited")
        #expect(live.fileRooms == restarted.fileRooms)
        #expect(live.fileRooms == ["z": ["lobby": 1]], "y was released once, not twice")
        #expect(live.rooms["lobby"]?.expired == 12 && restarted.rooms["lobby"]?.expired == 12)
        #expect(live.rooms["lobby"]?.base == 17)
        #expect(
            live.rooms["lobby"].map { Array($0.coldVersions.keys) } == [15],
            "only the edit since the copy is pending"
        )
    }

    @Test("the file cold store rewrites the room: the expired text leaves its files")
    func fileStoreRewrites() throws {
        try ColdStoreTests.withDirectory { path in
            let store = try FileColdStore(path: path, generation: nil)
            let messages = (Int64(1)...200).map { ColdStoreTests.message("lobby", $0, "plum \($0) secret") }
            try store.append(room: "lobby", messages: messages, versions: [])
            try store.commit(generation: 1)
            try store.expire(room: "lobby", through: 150)
            try store.commit(generation: 2)
            store.forget(before: 2)
            let read = try store.read(room: "lobby", from: 1, through: 200)
            #expect(read.map(\.seq) == Array(1...200))
            #expect(read.prefix(150).allSatisfy { $0.deleted && $0.text.isEmpty && $0.reactions.isEmpty })
            #expect(read.suffix(50).allSatisfy { !$0.deleted && $0.text.hasPrefix("plum") })
            #expect(SearchChangeTests.files(holding: "plum 150 secret", under: path) == [])
            #expect(SearchChangeTests.filesHold("plum 151 secret", under: path))
            let reopened = try FileColdStore(path: path, generation: 2)
            #expect(try reopened.read(room: "lobby", from: 1, through: 200) == read)
        }
    }

    @Test("the search index drops the rows of expired messages, and only those")
    func searchIndexDropsExpiredRows() async throws {
        let index = try SearchIndex(path: nil)
        var batch = IndexBatch()
        for room in ["lobby", "other"] {
            for seq in Int64(1)...6 {
                batch.messages.append(
                    IndexedMessage(
                        room: room,
                        seq: seq,
                        from: "alice",
                        fromKey: "alice",
                        text: "wombat \(seq)",
                        ts: seq * 1000
                    )
                )
            }
            batch.cursors[room] = IndexCursor(epoch: "e", seq: 6)
        }
        try await index.write(batch)
        var expiry = IndexBatch()
        expiry.expiries = [IndexExpiry(room: "lobby", through: 4, before: 4_500)]
        #expect(!expiry.isEmpty)
        try await index.write(expiry)
        #expect(try await index.indexedSeqs(room: "lobby") == [5, 6])
        #expect(try await index.indexedSeqs(room: "other") == Array(1...6))
    }

    @Test("the hub hands the search index each room's expiry once, and again after a restart")
    func hubHandsExpiriesToTheIndex() throws {
        var copy = try Self.state()
        let compaction = try #require(try Compaction.run(&copy, policy: nil, expireBefore: 125, generation: 1))
        var hub = HubCore(configuration: ServerConfiguration(), state: try Self.state())
        #expect(hub.indexExpiries.isEmpty)
        hub.applyCompaction(compaction)
        #expect(hub.takeIndexExpiries() == [IndexExpiry(room: "lobby", through: 12, before: 125)])
        #expect(hub.takeIndexExpiries().isEmpty)
        let restarted = HubCore(configuration: ServerConfiguration(), state: copy)
        #expect(restarted.indexExpiries == ["lobby": IndexExpiry(room: "lobby", through: 12, before: 125)])
    }
}
