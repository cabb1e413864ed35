import ChatCore
import ChatLog
import ChatServer
import Foundation
import Testing

/// Restart detection and the data directory lock.
extension StorageRecoveryTests {
    // MARK: Restart detection

    enum Marker: String, CaseIterable, Sendable {
        case otherBootEverysec
        case otherBootNo
        case otherBootNoPolicy
        case otherBootAlways
        case sameBootEverysec

        var epochsChange: Bool { self == .otherBootEverysec || self == .otherBootNo || self == .otherBootNoPolicy }

        func contents(bootID: String) -> String {
            switch self {
            case .otherBootEverysec: "boot_id=someone-else\nfsync=everysec\n"
            case .otherBootNo: "boot_id=someone-else\nfsync=no\npid=1\n"
            case .otherBootNoPolicy: "boot_id=someone-else\n"
            case .otherBootAlways: "boot_id=someone-else\nfsync=always\n"
            case .sameBootEverysec: "boot_id=\(bootID)\nfsync=everysec\n"
            }
        }
    }

    @Test(
        "an unclean stop across a machine restart changes epochs unless every change was fsynced",
        arguments: Marker.allCases
    )
    func machineRestart(marker: Marker) async throws {
        let root = try Support.makeTemporaryDirectory()
        defer { Support.removeDirectory(root) }
        let bootID = try String(contentsOfFile: "/proc/sys/kernel/random/boot_id", encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(bootID == DataDirectory.bootID())
        #expect(bootID.count == 36)
        let original = try await Support.populate(root, seed: 51, operations: 40)
        let directory = DataDirectory(root)
        #expect(!Support.fileExists(directory.runningPath))
        try Support.writeFile(directory.runningPath, Array(marker.contents(bootID: bootID).utf8))

        let store = Support.makeStore(root)
        let recovered = try await store.recover()
        Support.expectEqual(original, recovered, ignoringEpochs: true, "\(marker)")
        #expect(recovered.rooms.count == original.rooms.count && original.rooms.count >= 2)
        for (key, room) in recovered.rooms {
            let changed = room.epoch != original.rooms[key]?.epoch
            #expect(changed == marker.epochsChange, "\(marker): room \(key) epoch changed: \(changed)")
        }
        let running = try String(contentsOfFile: directory.runningPath, encoding: .utf8)
        #expect(running.hasPrefix("boot_id=\(bootID)\nfsync=always\npid="), "\(running)")
        await store.close()
        #expect(!Support.fileExists(directory.runningPath))

        // The new epochs are stored: a clean restart keeps them.
        Support.expectEqual(recovered, try await Support.recoverAndClose(root), "\(marker): clean restart")
    }

    // MARK: Locking

    @Test("a second store cannot open a data directory in use")
    func locking() async throws {
        let root = try Support.makeTemporaryDirectory()
        defer { Support.removeDirectory(root) }
        let (first, sample) = try await Support.openWithSampleRecords(root)
        var state = sample

        let inUse = "a second store opened a data directory that is in use"
        if let error = try await Support.refusedRecovery(Support.makeStore(root), inUse) {
            #expect(!error.isCorruption)
            #expect(error.path == DataDirectory(root).lockPath)
            #expect(error.description.contains("LOCK"), "\(error)")
        }
        // The first store is unaffected.
        let more = LogRecord.userCreated(name: "Carol", passwordHash: "h", ts: 5)
        try await Support.commit([more], to: &state, in: first)
        await first.close()

        Support.expectEqual(state, try await Support.recoverAndClose(root), "after the first store closed")
    }
}
