import ChatCore
import ChatLog
import ChatServer
import Testing

/// Which uploads a room's messages hold decides who may download them and when the sweeper
/// removes them, so a compaction must keep the references of the messages it moves out of
/// memory (`fileShared` records in the snapshot), and a delete of a cold file message must
/// still release its reference (issue 16).
@Suite("Compaction keeps file references")
struct CompactionFilesTests {
    static func file(_ id: String) -> FileRef {
        FileRef(id: id, name: "\(id).txt", mime: "text/plain", size: 10, sha256: String(repeating: "a", count: 64))
    }

    /// A text message, a file message (`file`) or a delete event (`target`).
    static func message(_ seq: Int64, file: String? = nil, target: Int64? = nil) -> LogRecord {
        let kind: MessageKind = target != nil ? .delete : file != nil ? .file : .text
        return .messageAppended(
            ChatMessage(
                room: "lobby",
                seq: seq,
                from: "alice",
                text: kind == .text ? "m\(seq)" : "",
                kind: kind,
                ts: seq,
                details: MessageDetails(target: target, file: file.map(Self.file))
            )
        )
    }

    /// Alice and Bob, members of "lobby", and Alice's uploads x, y and z.
    static let lobbyWithUploads: [LogRecord] =
        [
            .userCreated(name: "alice", passwordHash: "h", ts: 0),
            .userCreated(name: "bob", passwordHash: "h", ts: 0),
            .roomCreated(name: "lobby", epoch: "e", ts: 0),
            .memberAdded(room: "lobby", user: "alice"),
            .memberAdded(room: "lobby", user: "bob"),
        ] + ["x", "y", "z"].map { .fileUploaded(FileUpload(file: file($0), uploader: "alice", ts: 0)) }

    @Test("references of cold file messages survive a compact snapshot, and a delete of one releases it")
    func references() throws {
        var state = ChatState()
        var records = Self.lobbyWithUploads
        // x twice (1, 3), y once (2), z once (9, hot); 3 deleted at 11.
        records += [Self.message(1, file: "x"), Self.message(2, file: "y"), Self.message(3, file: "x")]
        records += (4...8).map { Self.message($0) } + [Self.message(9, file: "z"), Self.message(10)]
        records.append(Self.message(11, target: 3))
        for record in records { state.apply(record) }
        #expect(state.fileRooms == ["x": ["lobby": 1], "y": ["lobby": 1], "z": ["lobby": 1]])

        let store = MemoryColdStore()
        state.cold = store
        var copy = state
        _ = try Compaction.run(&copy, policy: .messages(3), generation: 1)
        #expect(copy.rooms["lobby"]?.base == 8)
        var written: [LogRecord] = []
        try SnapshotFile.records(of: copy) { written.append($0) }
        #expect(written.contains(.fileShared(id: "x", room: "lobby", count: 1)))
        #expect(written.contains(.fileShared(id: "y", room: "lobby", count: 1)))
        #expect(!written.contains { if case .fileShared(id: "z", _, _) = $0 { true } else { false } }, "z is hot")

        var restarted = ChatState()
        restarted.loadingSnapshot = true
        for record in written { restarted.apply(record) }
        restarted.loadingSnapshot = false
        restarted.cold = store
        #expect(restarted.fileRooms == state.fileRooms)
        #expect(restarted.mayDownload("y", user: "bob"))
        #expect(restarted.orphanedFiles.isEmpty)

        // Deleting the last cold message holding y orphans it, as it does with y in memory.
        let delete = Self.message(12, target: 2)
        state.apply(delete)
        restarted.apply(delete)
        #expect(restarted.fileRooms == state.fileRooms)
        #expect(restarted.orphanedFiles == ["y"])
        #expect(state.orphanedFiles == ["y"])
        #expect(!restarted.mayDownload("y", user: "bob"))
        #expect(restarted.mayDownload("x", user: "bob"))
    }
}
