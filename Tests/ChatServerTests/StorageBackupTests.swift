import ChatCore
import ChatLog
import ChatServer
import Foundation
import Testing

/// `Backup.create` and `Backup.restore`.
@Suite("Storage backup")
struct StorageBackupTests {
    typealias Support = StorageTestSupport

    static func messageCount(_ state: ChatState) -> Int { state.rooms.values.reduce(0) { $0 + $1.messages.count } }

    @Test("a backup of a running store restores to the same state with new epochs")
    func backupAndRestore() async throws {
        let root = try Support.makeTemporaryDirectory()
        defer { Support.removeDirectory(root) }
        let data = root + "/data"
        let backup = root + "/chat.backup"
        let target = root + "/restored"

        let (store, sample) = try await Support.openWithSampleRecords(data)
        var state = sample
        var workload = StorageWorkload(seed: 2024)
        for _ in 0..<150 { try await Support.commit(workload.batch(1, after: state), to: &state, in: store) }
        try await Support.takeSnapshot(store, state)
        for _ in 0..<60 { try await Support.commit(workload.batch(1, after: state), to: &state, in: store) }
        #expect(try DataDirectory(data).generations().logs == [1])

        let created = try Backup.create(dataDirectory: data, output: backup)
        #expect(created.files == 2)
        #expect(created.rooms == state.rooms.count)
        #expect(created.messages == Self.messageCount(state))
        #expect(created.bytes == (try Support.fileSize(backup)))

        let restored = try Backup.restore(from: backup, dataDirectory: target, force: false)
        #expect(restored.files == 2)
        #expect(restored.rooms == state.rooms.count)
        #expect(restored.messages == Self.messageCount(state))
        let targetDirectory = DataDirectory(target)
        #expect(Support.fileExists(targetDirectory.epochResetPath))
        try Support.expectGenerations(target, snapshots: [1], logs: [1])

        let recovered = try await Support.recoverAndClose(target)
        Support.expectEqual(state, recovered, ignoringEpochs: true, "restored state")
        #expect(recovered.rooms.count == state.rooms.count && state.rooms.count >= 2)
        for (key, room) in recovered.rooms {
            #expect(room.epoch != state.rooms[key]?.epoch, "room \(key) kept its epoch after a restore")
        }
        #expect(!Support.fileExists(targetDirectory.epochResetPath), "EPOCH-RESET still there after recovery")
        Support.expectEqual(recovered, try await Support.recoverAndClose(target), "second start after the restore")

        // The backed-up store kept running and is unaffected.
        try await Support.commit(workload.batch(5, after: state), to: &state, in: store)
        await store.close()
        Support.expectEqual(state, try await Support.recoverAndClose(data), "the original after the backup")
    }

    @Test("restore refuses a data directory that holds state unless forced")
    func restoreIntoNonEmpty() async throws {
        let root = try Support.makeTemporaryDirectory()
        defer { Support.removeDirectory(root) }
        let source = root + "/source"
        let target = root + "/target"
        let backup = root + "/chat.backup"
        let wanted = try await Support.populate(source, seed: 61, operations: 40, snapshotAfter: 30)
        _ = try Backup.create(dataDirectory: source, output: backup)
        // The target holds a different state, with more log generations than the backup.
        let existing = try await Support.populate(target, seed: 62, operations: 30, snapshotAfter: 10)
        let store = Support.makeStore(target)
        var extended = try await store.recover()
        try await Support.commit([.userCreated(name: "Zed", passwordHash: "z", ts: 1)], to: &extended, in: store)
        try await Support.takeSnapshot(store, extended)
        try await Support.commit([.userCreated(name: "Zoe", passwordHash: "z", ts: 2)], to: &extended, in: store)

        // Not while a server runs on it, even with force.
        #expect(throws: StorageError.self) { try Backup.restore(from: backup, dataDirectory: target, force: true) }
        await store.close()
        #expect(existing.users.count + 2 == extended.users.count)
        let before = try Support.fileNames(target).map { ($0, try Support.readFile(target + "/" + $0)) }

        do {
            _ = try Backup.restore(from: backup, dataDirectory: target, force: false)
            Issue.record("restore replaced existing state without force")
        } catch let error as StorageError {
            #expect(!error.isCorruption)
            #expect(error.description.contains(target), "\(error)")
        }
        let after = try Support.fileNames(target).map { ($0, try Support.readFile(target + "/" + $0)) }
        #expect(before.map(\.0) == after.map(\.0), "a refused restore changed the file list")
        #expect(before.map(\.1) == after.map(\.1), "a refused restore changed file contents")
        Support.expectEqual(extended, try await Support.recoverAndClose(target), "after a refused restore")

        let summary = try Backup.restore(from: backup, dataDirectory: target, force: true)
        #expect(summary.rooms == wanted.rooms.count)
        let recovered = try await Support.recoverAndClose(target)
        Support.expectEqual(wanted, recovered, ignoringEpochs: true, "after a forced restore")
        #expect(recovered.users["zed"] == nil && recovered.users["zoe"] == nil)
        for (key, room) in recovered.rooms {
            #expect(room.epoch != wanted.rooms[key]?.epoch, "room \(key) kept its epoch after a forced restore")
        }
    }

    @Test("a backup with one damaged byte is refused and the target is left alone")
    func damagedBackup() async throws {
        let root = try Support.makeTemporaryDirectory()
        defer { Support.removeDirectory(root) }
        let source = root + "/source"
        let backup = root + "/chat.backup"
        _ = try await Support.populate(source, seed: 63, operations: 60, snapshotAfter: 40)
        _ = try Backup.create(dataDirectory: source, output: backup)
        let bytes = try Support.readFile(backup)
        let positions =
            [0, 7, 8, 9, 13, bytes.count / 3, bytes.count / 2, bytes.count - 13, bytes.count - 5]
            + [bytes.count - 1]
        for position in positions {
            var damaged = bytes
            damaged[position] ^= 0x04
            let file = root + "/damaged-\(position).backup"
            try Support.writeFile(file, damaged)
            let target = root + "/target-\(position)"
            do {
                _ = try Backup.restore(from: file, dataDirectory: target, force: false)
                Issue.record("a backup damaged at byte \(position) of \(bytes.count) was restored")
            } catch let error as StorageError {
                #expect(error.isCorruption, "byte \(position): \(error)")
                #expect(error.path == file, "byte \(position): \(error)")
            }
            let names = Support.fileNames(target).filter { $0.hasPrefix("snap-") || $0.hasPrefix("log-") }
            #expect(names.isEmpty, "byte \(position): restore wrote \(names)")
            #expect(!Support.fileExists(target + "/EPOCH-RESET"), "byte \(position)")
        }
        // Truncated backups too.
        for cut in [1, 12, bytes.count / 2, bytes.count - 1] {
            let file = root + "/cut-\(cut).backup"
            try Support.writeFile(file, Array(bytes.dropLast(cut)))
            #expect(throws: StorageError.self, "cut \(cut)") {
                try Backup.restore(from: file, dataDirectory: root + "/cut-target-\(cut)", force: false)
            }
        }
        // The undamaged backup still restores.
        let summary = try Backup.restore(from: backup, dataDirectory: root + "/good", force: false)
        #expect(summary.files == 2)
    }

    @Test("a backup of a directory without snapshots, with a torn tail, holds every complete record")
    func backupWithoutSnapshotAndTornTail() async throws {
        let root = try Support.makeTemporaryDirectory()
        defer { Support.removeDirectory(root) }
        let source = root + "/source"
        let backup = root + "/chat.backup"
        let state = try await Support.populate(source, seed: 64, operations: 50)
        let log = DataDirectory(source).logPath(0)
        try Support.appendToFile(log, [0x30, 0, 0, 0, 1, 2, 3, 4, 0x0A])  // a record header and 1 payload byte
        let created = try Backup.create(dataDirectory: source, output: backup)
        #expect(created.files == 1)
        #expect(created.messages == Self.messageCount(state))
        let target = root + "/target"
        _ = try Backup.restore(from: backup, dataDirectory: target, force: false)
        let restoredLog = try Support.readFile(DataDirectory(target).logPath(0))
        #expect(restoredLog == Array(try Support.readFile(log).dropLast(9)), "the torn tail was backed up")
        let recovered = try await Support.recoverAndClose(target)
        Support.expectEqual(state, recovered, ignoringEpochs: true, "restored from a log-only backup")
        for (key, room) in recovered.rooms { #expect(room.epoch != state.rooms[key]?.epoch, "room \(key)") }
    }

    @Test("backing up a missing directory fails")
    func backupMissingDirectory() throws {
        let root = try Support.makeTemporaryDirectory()
        defer { Support.removeDirectory(root) }
        #expect(throws: StorageError.self) {
            try Backup.create(dataDirectory: root + "/nope", output: root + "/out.backup")
        }
        #expect(!Support.fileExists(root + "/out.backup"))
    }
}
