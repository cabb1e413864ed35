import ChatCore
import ChatLog
import ChatServer
import Foundation
import Testing

/// Starts and repairs of a data directory whose rooms have messages in the cold store (issue 16).
@Suite("Recovery with a cold store")
struct ColdRecoveryTests {
    typealias Support = StorageTestSupport

    static func store(_ directory: String, repair: Bool = false) -> FileChatStore {
        FileChatStore(
            configuration: StorageConfiguration(
                directory: directory,
                fsync: .always,
                snapshotAfterBytes: 1,
                repair: repair,
                hotWindow: .messages(2)
            ),
            logger: Support.logger
        )
    }

    static func message(_ seq: Int64, _ text: String, edits target: Int64? = nil) -> LogRecord {
        .messageAppended(
            ChatMessage(
                room: "lobby",
                seq: seq,
                from: "alice",
                text: text,
                kind: target == nil ? .text : .edit,
                ts: 1_000 + seq,
                details: MessageDetails(target: target)
            )
        )
    }

    @Test("--repair keeps the changes to cold messages that the log replayed before the damage")
    func repairKeepsColdChanges() async throws {
        let directory = try Support.makeTemporaryDirectory()
        defer { Support.removeDirectory(directory) }
        let store = Self.store(directory)
        var state = try await store.recover()
        let setup: [LogRecord] = [
            .userCreated(name: "alice", passwordHash: "h", ts: 0), .roomCreated(name: "lobby", epoch: "e", ts: 0),
            .memberAdded(room: "lobby", user: "alice"),
        ]
        try await Support.commit(setup + (1...10).map { Self.message($0, "m\($0)") }, to: &state, in: store)
        try await Support.takeSnapshot(store, state)
        let compaction = try #require(store.takeCompaction(), "the snapshot compacted")
        state.apply(compaction)
        #expect(state.rooms["lobby"]?.base == 8)
        let edit = Self.message(11, "three, edited", edits: 3)
        try await Support.commit([edit], to: &state, in: store)
        try await Support.commit([Self.message(12, "m12")], to: &state, in: store)
        try await Support.commit([Self.message(13, "m13")], to: &state, in: store)
        #expect(state.message(room: "lobby", seq: 3)?.text == "three, edited")
        await store.close()

        // Damage the record after the edit, with a valid one after it: damage in the middle.
        let log = DataDirectory(directory).logPath(store.logPosition.generation)
        var editBytes: [UInt8] = []
        RecordFraming.append(edit, to: &editBytes)
        var bytes = try DataDirectory.read(log)
        bytes[editBytes.count + 10] ^= 0xFF
        try Data(bytes).write(to: URL(fileURLWithPath: log))
        _ = try await Support.refusedRecovery(Self.store(directory), "damage in the middle is refused")

        let repairing = Self.store(directory, repair: true)
        let repaired = try await repairing.recover()
        await repairing.close()
        #expect(repaired.rooms["lobby"]?.head == 11)
        let restarted = Self.store(directory)
        let final = try await restarted.recover()
        await restarted.close()
        #expect(final.rooms["lobby"]?.base == 8, "the repaired snapshot keeps the cold store")
        let messages = try final.messages(room: "lobby", from: 1, through: 20).map(\.text)
        #expect(messages == ["m1", "m2", "three, edited"] + (4...10).map { "m\($0)" } + ["three, edited"])
    }
}
