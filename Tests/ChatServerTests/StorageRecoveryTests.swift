import ChatCore
import ChatLog
import ChatServer
import Foundation
import Testing

/// `FileChatStore` recovery: equivalence, torn tails, damage, restarts and locking.
@Suite("Storage recovery")
struct StorageRecoveryTests {
    typealias Support = StorageTestSupport

    // MARK: Equivalence

    @Test("a recovered state equals the stored one (random operations and snapshots)", arguments: 1...20)
    func recoveryEquivalence(seed: Int) async throws {
        let root = try Support.makeTemporaryDirectory()
        defer { Support.removeDirectory(root) }
        let data = root + "/data"
        let crash = root + "/crash"
        let directory = DataDirectory(data)
        var rng = SplitMix64(seed: UInt64(seed) &* 0x5851_F42D_4C95_7F2D)
        var workload = StorageWorkload(seed: UInt64(seed))
        let total = Int.random(in: 200...500, using: &rng)
        let points = (0..<Int.random(in: 1...2, using: &rng)).map { _ in
            Int.random(in: (total / 10)...(total * 9 / 10), using: &rng)
        }

        // Every policy: under everysec and no, appends are written by the caller while the
        // writer thread is idle, and queued while it rotates for a snapshot.
        let store = Support.makeStore(data, fsync: [FsyncPolicy.always, .everysec, .no][seed % 3])
        var state = try await store.recover()
        #expect(state.users.isEmpty && state.rooms.isEmpty && state.tokens.isEmpty, "seed \(seed)")
        var done = 0
        var snapshots = 0
        while done < total {
            let size = min(Int.random(in: 1...4, using: &rng), total - done)
            try await Support.commit(workload.batch(size, after: state), to: &state, in: store)
            let range = done..<(done + size)
            done += size
            if points.contains(where: range.contains) {
                snapshots += 1
                let generation = try await Support.takeSnapshot(store, state)
                #expect(generation == snapshots, "seed \(seed)")
            }
        }
        let messages = state.rooms.values.reduce(0) { $0 + $1.messages.count }
        #expect(messages > 50, "seed \(seed): the workload produced only \(messages) messages")
        let all = state.rooms.values.flatMap(\.messages)
        #expect(
            all.contains { $0.deleted } && all.contains { !$0.reactions.isEmpty } && all.contains { $0.editedTs != nil }
        )

        // The image a crash (kill -9) would leave, taken while the store is open and idle.
        try await Support.waitUntil("seed \(seed): snapshot idle") { store.snapshotDue }
        try Support.copyFiles(from: data, to: crash)
        #expect(Support.fileExists(crash + "/RUNNING"), "seed \(seed)")
        await store.close()
        #expect(!Support.fileExists(directory.runningPath), "seed \(seed): RUNNING left after close()")
        try Support.expectGenerations(
            data,
            snapshots: snapshots > 0 ? [snapshots] : [],
            logs: [snapshots],
            "seed \(seed)"
        )

        let reopened = Support.makeStore(data)
        var recovered = try await reopened.recover()
        Support.expectEqual(state, recovered, "seed \(seed): clean restart")
        Support.expectEqual(
            state,
            try await Support.recoverAndClose(crash),
            "seed \(seed): restart after a process crash"
        )

        // Appending after recovery continues the same history.
        try await Support.commit(workload.batch(30, after: recovered), to: &recovered, in: reopened)
        await reopened.close()
        let again = try await Support.recoverAndClose(data)
        Support.expectEqual(recovered, again, "seed \(seed): restart after appending to a recovered store")
    }

    @Test("close() waits for a snapshot that is still being written")
    func closeWaitsForSnapshot() async throws {
        let root = try Support.makeTemporaryDirectory()
        defer { Support.removeDirectory(root) }
        let (store, sample) = try await Support.openWithSampleRecords(root)
        var state = sample
        var workload = StorageWorkload(seed: 42)
        for _ in 0..<20 { try await Support.commit(workload.batch(200, after: state), to: &state, in: store) }
        store.snapshot(state)
        await store.close()
        try Support.expectGenerations(root, snapshots: [1], logs: [1])
        #expect(!Support.fileNames(root).contains { $0.hasSuffix(".tmp") })
        Support.expectEqual(state, try await Support.recoverAndClose(root), "after close() during a snapshot")
    }

    // MARK: Torn tails

    @Test("garbage appended to the last log file is cut off", arguments: 1...8)
    func tornTailGarbage(seed: Int) async throws {
        let root = try Support.makeTemporaryDirectory()
        defer { Support.removeDirectory(root) }
        let state = try await Support.populate(root, seed: UInt64(seed), operations: 60)
        let log = DataDirectory(root).logPath(0)
        let validSize = try Support.fileSize(log)
        var rng = SplitMix64(seed: UInt64(seed))
        let garbage = rng.bytes(Int.random(in: 1...512, using: &rng))
        try Support.appendToFile(log, garbage)

        let store = Support.makeStore(root)
        let recovered = try await store.recover()
        #expect(try Support.fileSize(log) == validSize, "seed \(seed), \(garbage.count) garbage bytes")
        Support.expectEqual(state, recovered, "seed \(seed), \(garbage.count) garbage bytes")
        await store.close()
    }

    @Test("a partly written last record is cut off")
    func tornTailPartialRecord() async throws {
        let root = try Support.makeTemporaryDirectory()
        defer { Support.removeDirectory(root) }
        let original = root + "/original"
        let (store, sample) = try await Support.openWithSampleRecords(original)
        var state = sample
        let before = state
        let head = state.rooms["lobby"]?.head ?? 0
        let last = LogRecord.messageAppended(
            ChatMessage(room: "Lobby", seq: head + 1, from: "Alice", text: "the last words ✍️", kind: .text, ts: 30)
        )
        try await Support.commit([last], to: &state, in: store)
        #expect(state.rooms["lobby"]?.messages.count == Int(head) + 1)
        await store.close()

        let log = "/log-00000000.aof"
        let full = try Support.fileSize(original + log)
        let size = Support.framed([last]).count
        for cut in [1, 2, size / 2, size - 7, size - 8, size - 9, size - 1] {
            let copy = root + "/cut-\(cut)"
            try Support.copyFiles(from: original, to: copy)
            try Support.writeFile(copy + log, Array(try Support.readFile(copy + log).dropLast(cut)))
            let reopened = Support.makeStore(copy)
            let recovered = try await reopened.recover()
            Support.expectEqual(before, recovered, "last record cut by \(cut) of \(size) bytes")
            #expect(try Support.fileSize(copy + log) == full - size, "last record cut by \(cut) of \(size) bytes")
            await reopened.close()
        }
    }

    @Test("a zero-filled tail (the file grew but the data never arrived) is cut off")
    func tornTailZeros() async throws {
        let root = try Support.makeTemporaryDirectory()
        defer { Support.removeDirectory(root) }
        let state = try await Support.populate(root, seed: 9, operations: 20)
        let log = DataDirectory(root).logPath(0)
        let validSize = try Support.fileSize(log)
        try Support.appendToFile(log, [UInt8](repeating: 0, count: 4_096))
        let store = Support.makeStore(root)
        let recovered = try await store.recover()
        Support.expectEqual(state, recovered, "zero-filled tail")
        #expect(try Support.fileSize(log) == validSize)
        await store.close()
    }

    // MARK: Damage in the middle of the log

    @Test("a damaged record before valid ones stops recovery; repair keeps the records before it")
    func middleCorruption() async throws {
        let root = try Support.makeTemporaryDirectory()
        defer { Support.removeDirectory(root) }
        let data = root + "/data"
        let repairCopy = root + "/repair"
        let original = try await Support.populate(data, seed: 77, operations: 80)
        let log = DataDirectory(data).logPath(0)
        let bytes = try Support.readFile(log)
        let extents = Support.recordExtents(bytes)
        let records = Support.scan(bytes).records
        let damagedIndex = 5
        let damaged = extents[damagedIndex]
        #expect(records.count == extents.count && records.count > 80)
        var corrupted = bytes
        corrupted[damaged.offset + RecordFraming.headerSize + 1] ^= 0x40
        try Support.writeFile(log, corrupted)
        try Support.copyFiles(from: data, to: repairCopy)

        let damagedLog = "recover() accepted a log with a damaged record in the middle"
        if let error = try await Support.refusedRecovery(Support.makeStore(data), damagedLog) {
            #expect(error.isCorruption)
            #expect(error.path == log)
            #expect(error.offset == damaged.offset)
            #expect(error.description.contains(log), "\(error)")
            #expect(error.description.contains("offset \(damaged.offset)"), "\(error)")
        }
        #expect(try Support.readFile(log) == corrupted, "a refused recovery changed the log")

        let prefix = Support.state(of: Array(records[0..<damagedIndex]))
        #expect(prefix.rooms.count == 2 && prefix.users.count == 2)
        let repairing = Support.makeRepairingStore(repairCopy)
        let repaired = try await repairing.recover()
        Support.expectEqual(prefix, repaired, ignoringEpochs: true, "after repair")
        for (key, room) in repaired.rooms {
            #expect(room.epoch != prefix.rooms[key]?.epoch, "room \(key) kept its epoch after repair")
            #expect(room.epoch != original.rooms[key]?.epoch, "room \(key) kept its epoch after repair")
        }
        await repairing.close()
        // The repair is saved as a fresh snapshot that replaces the damaged log, so the next
        // start needs no repair and changes no epoch.
        try Support.expectGenerations(repairCopy, snapshots: [1], logs: [1])
        let saved = try SnapshotFile.load(DataDirectory(repairCopy).snapshotPath(1), repair: false)
        Support.expectEqual(repaired, saved.state, "the snapshot written by the repair")
        Support.expectEqual(repaired, try await Support.recoverAndClose(repairCopy), "restart after repair")
    }

    @Test("a damaged length field before valid records stops recovery instead of dropping them")
    func middleCorruptionInLengthField() async throws {
        let root = try Support.makeTemporaryDirectory()
        defer { Support.removeDirectory(root) }
        let original = try await Support.populate(root, seed: 78, operations: 40)
        let log = DataDirectory(root).logPath(0)
        let bytes = try Support.readFile(log)
        let extents = Support.recordExtents(bytes)
        let damaged = extents[5]
        var corrupted = bytes
        corrupted[damaged.offset + 2] ^= 0x01  // length += 65536: runs past the end of the file
        try Support.writeFile(log, corrupted)

        let store = Support.makeStore(root)
        var outcome = "recover() threw nothing"
        do {
            let recovered = try await store.recover()
            let kept = Support.scan(try Support.readFile(log)).records.count
            outcome =
                "recover() succeeded, truncated the log from \(bytes.count) to \(try Support.fileSize(log)) bytes "
                + "and kept \(kept) of \(extents.count) records; rooms: \(recovered.rooms.count) of "
                + "\(original.rooms.count)"
            await store.close()
        } catch let error as StorageError {
            outcome = "threw \(error)"
            #expect(error.offset == damaged.offset)
        }
        #expect(outcome.hasPrefix("threw"), "\(outcome)")
    }

    @Test("after a refused recovery the same directory can be opened with repair in the same process")
    func refusedRecoveryReleasesTheLock() async throws {
        let root = try Support.makeTemporaryDirectory()
        defer { Support.removeDirectory(root) }
        _ = try await Support.populate(root, seed: 79, operations: 30)
        let log = DataDirectory(root).logPath(0)
        var bytes = try Support.readFile(log)
        bytes[Support.recordExtents(bytes)[3].offset + RecordFraming.headerSize] ^= 0x10
        try Support.writeFile(log, bytes)
        let refused = Support.makeStore(root)
        await #expect(throws: StorageError.self) { _ = try await refused.recover() }
        await refused.close()

        let repairing = Support.makeRepairingStore(root)
        let repaired = try await repairing.recover()
        #expect(repaired.users.count == 2)
        await repairing.close()
    }

    // MARK: Snapshot damage

    /// Bytes cut from the end of the snapshot; 0 means half of the file.
    @Test("a truncated snapshot stops recovery; repair starts with new epochs", arguments: [1, 7, 19, 20, 21, 300, 0])
    func truncatedSnapshot(cut: Int) async throws {
        let root = try Support.makeTemporaryDirectory()
        defer { Support.removeDirectory(root) }
        let data = root + "/data"
        let repairCopy = root + "/repair"
        let original = try await Support.populate(data, seed: 31, operations: 150, snapshotAfter: 120)
        let snapshot = DataDirectory(data).snapshotPath(1)
        let bytes = try Support.readFile(snapshot)
        let removed = cut == 0 ? bytes.count / 2 : cut
        try Support.writeFile(snapshot, Array(bytes.dropLast(removed)))
        try Support.copyFiles(from: data, to: repairCopy)
        let label = "snapshot of \(bytes.count) bytes cut by \(removed)"

        if let error = try await Support.refusedRecovery(Support.makeStore(data), "\(label): recover() accepted it") {
            #expect(error.isCorruption, "\(label)")
            #expect(error.path == snapshot, "\(label)")
            #expect(error.description.contains(snapshot), "\(label): \(error)")
        }

        let repairing = Support.makeRepairingStore(repairCopy)
        let repaired = try await repairing.recover()
        #expect(!repaired.rooms.isEmpty, "\(label)")
        #expect(repaired.rooms.count <= original.rooms.count, "\(label)")
        for (key, room) in repaired.rooms {
            #expect(room.epoch != original.rooms[key]?.epoch, "\(label): room \(key) kept its epoch")
        }
        if removed <= 20 {
            // Only the trailer was damaged: every record is still there.
            Support.expectEqual(original, repaired, ignoringEpochs: true, label)
        }
        await repairing.close()
    }

    @Test("after a snapshot repair the directory starts again without repair")
    func snapshotRepairIsPersistent() async throws {
        let root = try Support.makeTemporaryDirectory()
        defer { Support.removeDirectory(root) }
        _ = try await Support.populate(root, seed: 32, operations: 60, snapshotAfter: 50)
        let snapshot = DataDirectory(root).snapshotPath(1)
        try Support.writeFile(snapshot, Array(try Support.readFile(snapshot).dropLast(5)))
        let repairing = Support.makeRepairingStore(root)
        let repaired = try await repairing.recover()
        await repairing.close()

        Support.expectEqual(repaired, try await Support.recoverAndClose(root), "restart after a snapshot repair")
    }

    @Test("temporary files left by an interrupted snapshot are ignored and deleted")
    func temporarySnapshotIgnored() async throws {
        let root = try Support.makeTemporaryDirectory()
        defer { Support.removeDirectory(root) }
        let data = root + "/data"
        let state = try await Support.populate(data, seed: 33, operations: 50, snapshotAfter: 40)
        let directory = DataDirectory(data)
        // A complete-looking snapshot of another state under a newer generation, and garbage.
        let other = root + "/other"
        try FileManager.default.createDirectory(atPath: other, withIntermediateDirectories: true)
        try SnapshotFile.write(
            Support.state(of: [.userCreated(name: "intruder", passwordHash: "", ts: 0)]),
            generation: 2,
            in: DataDirectory(other)
        )
        try FileManager.default.moveItem(
            atPath: DataDirectory(other).snapshotPath(2),
            toPath: directory.snapshotPath(2) + ".tmp"
        )
        var rng = SplitMix64(seed: 33)
        try Support.writeFile(directory.snapshotPath(3) + ".tmp", rng.bytes(1_000))
        #expect(Support.fileNames(data).filter { $0.hasSuffix(".tmp") }.count == 2)

        let store = Support.makeStore(data)
        let recovered = try await store.recover()
        Support.expectEqual(state, recovered, "with leftover .tmp files")
        #expect(recovered.users["intruder"] == nil)
        #expect(Support.fileNames(data).filter { $0.hasSuffix(".tmp") }.isEmpty, "\(Support.fileNames(data))")
        await store.close()
    }
}
