import ChatCore
import ChatLog
import ChatServer
import Foundation
import Logging
import Testing

// Shared helpers for the storage tests (temporary directories, a seeded PRNG, a
// field-by-field `ChatState` comparison, a random workload), and tests of those
// helpers, so a comparison that silently passes everything cannot go unnoticed.

/// SplitMix64: a tiny deterministic generator, so a failing seed can be replayed.
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    mutating func bytes(_ count: Int) -> [UInt8] { (0..<count).map { _ in UInt8.random(in: 0...255, using: &self) } }
}

enum StorageTestSupport {
    static let logger: Logger = {
        var logger = Logger(label: "storage-tests")
        logger.logLevel = .warning
        return logger
    }()

    // MARK: Directories and files

    /// A fresh, empty directory under the system temporary directory.
    static func makeTemporaryDirectory() throws -> String {
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("chat-storage-tests-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url.path
    }

    static func removeDirectory(_ path: String) { try? FileManager.default.removeItem(atPath: path) }

    static func readFile(_ path: String) throws -> [UInt8] { [UInt8](try Data(contentsOf: URL(fileURLWithPath: path))) }

    static func writeFile(_ path: String, _ bytes: [UInt8]) throws {
        try Data(bytes).write(to: URL(fileURLWithPath: path))
    }

    static func appendToFile(_ path: String, _ bytes: [UInt8]) throws {
        try writeFile(path, try readFile(path) + bytes)
    }

    static func fileSize(_ path: String) throws -> Int {
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        return (attributes[.size] as? NSNumber)?.intValue ?? -1
    }

    static func fileExists(_ path: String) -> Bool { FileManager.default.fileExists(atPath: path) }

    static func fileNames(_ directory: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).sorted()
    }

    /// Copies every regular file of `source` into `destination` (created if needed):
    /// the image a machine would find on disk if the process died now.
    static func copyFiles(from source: String, to destination: String) throws {
        let fm = FileManager.default
        try fm.createDirectory(atPath: destination, withIntermediateDirectories: true)
        for name in try fm.contentsOfDirectory(atPath: source) {
            try fm.copyItem(atPath: source + "/" + name, toPath: destination + "/" + name)
        }
    }

    /// Offsets and total sizes (header + payload) of the framed records in `bytes`,
    /// following the length fields (the buffer must be undamaged).
    static func recordExtents(_ bytes: [UInt8]) -> [(offset: Int, size: Int)] {
        var extents: [(offset: Int, size: Int)] = []
        var offset = 0
        while offset + RecordFraming.headerSize <= bytes.count {
            var length = 0
            for i in 0..<4 { length |= Int(bytes[offset + i]) << (8 * i) }
            let size = RecordFraming.headerSize + length
            guard offset + size <= bytes.count else { break }
            extents.append((offset, size))
            offset += size
        }
        return extents
    }

    static func framed(_ records: [LogRecord]) -> [UInt8] {
        var bytes: [UInt8] = []
        for record in records { RecordFraming.append(record, to: &bytes) }
        return bytes
    }

    static func scan(_ bytes: [UInt8]) -> RecordFraming.Scan { bytes.withUnsafeBytes { RecordFraming.scan($0) } }

    // MARK: Stores

    /// A store with `fsync: always`. `snapshotAfterBytes: 1` makes `snapshotDue` mean
    /// "a snapshot could start now" (the store never snapshots by itself), which
    /// `takeSnapshot` uses to wait for the previous one.
    static func makeStore(_ directory: String, fsync: FsyncPolicy = .always, repair: Bool = false) -> FileChatStore {
        FileChatStore(
            configuration: StorageConfiguration(
                directory: directory,
                fsync: fsync,
                snapshotAfterBytes: 1,
                repair: repair
            ),
            logger: logger
        )
    }

    /// Applies `records` to `state`, appends them as one batch and waits until durable.
    static func commit(_ records: [LogRecord], to state: inout ChatState, in store: FileChatStore) async throws {
        for record in records { state.apply(record) }
        let lsn = store.append(records)
        try await store.waitDurable(lsn)
    }

    /// Polls `condition` every 5 ms for up to `seconds`; records an issue on timeout.
    @discardableResult
    static func waitUntil(
        _ what: String,
        seconds: Double = 20,
        sourceLocation: SourceLocation = #_sourceLocation,
        _ condition: () throws -> Bool
    ) async throws -> Bool {
        if try await eventually(within: .seconds(seconds), { try condition() }) { return true }
        Issue.record("timed out waiting for \(what)", sourceLocation: sourceLocation)
        return false
    }

    /// Takes a snapshot of `state` (which holds every record committed so far; at least
    /// one record must have been committed since the previous snapshot) and waits until
    /// it is on disk and the older files are gone. Returns the new generation.
    @discardableResult
    static func takeSnapshot(
        _ store: FileChatStore,
        _ state: ChatState,
        sourceLocation: SourceLocation = #_sourceLocation
    ) async throws -> Int {
        let directory = DataDirectory(store.configuration.directory)
        try await waitUntil("the previous snapshot to finish", sourceLocation: sourceLocation) { store.snapshotDue }
        let next = store.logPosition.generation + 1
        store.snapshot(state)
        try await waitUntil("snapshot \(next)", sourceLocation: sourceLocation) {
            let (snapshots, logs) = try directory.generations()
            let temporary = fileNames(directory.path).contains { $0.hasSuffix(".tmp") }
            return store.logPosition.generation == next && snapshots == [next] && logs.allSatisfy { $0 >= next }
                && !temporary && !store.isSnapshotRunning  // the compaction is published last
        }
        return next
    }

    /// Fills a new data directory with the sample records and `operations` random ones
    /// (one log record each), optionally taking a snapshot after `snapshotAfter` of them,
    /// and closes the store cleanly. Returns the state it holds.
    static func populate(
        _ directory: String,
        seed: UInt64,
        operations: Int,
        snapshotAfter: Int? = nil
    ) async throws -> ChatState {
        let store = makeStore(directory)
        var state = try await store.recover()
        try await commit(sampleRecords(), to: &state, in: store)
        var workload = StorageWorkload(seed: seed)
        for index in 0..<operations {
            try await commit(workload.batch(1, after: state), to: &state, in: store)
            if index + 1 == snapshotAfter { try await takeSnapshot(store, state) }
        }
        await store.close()
        return state
    }

    /// The epoch of every room, by room key.
    static func epochs(_ state: ChatState) -> [String: String] { state.rooms.mapValues(\.epoch) }

    // MARK: Comparing states

    /// Every difference between two states, field by field (empty when equal).
    static func differences(_ expected: ChatState, _ actual: ChatState, ignoringEpochs: Bool = false) -> [String] {
        var out: [String] = []
        func compare<T: Equatable>(_ what: @autoclosure () -> String, _ e: T, _ a: T) {
            if e != a { out.append("\(what()): expected \(e), got \(a)") }
        }
        func keys<V>(_ e: [String: V], _ a: [String: V], _ what: String) -> [String] {
            for key in Set(e.keys).subtracting(a.keys).sorted() {
                out.append("\(what) \(key.debugDescription) missing")
            }
            for key in Set(a.keys).subtracting(e.keys).sorted() {
                out.append("unexpected \(what) \(key.debugDescription)")
            }
            return Set(e.keys).intersection(a.keys).sorted()
        }
        for key in keys(expected.users, actual.users, "user") {
            guard let e = expected.users[key], let a = actual.users[key] else { continue }
            compare("user \(key.debugDescription) name", e.name, a.name)
            compare("user \(key.debugDescription) passwordHash", e.passwordHash, a.passwordHash)
            compare("user \(key.debugDescription) createdAt", e.createdAt, a.createdAt)
            compare("user \(key.debugDescription) rooms", e.rooms.sorted(), a.rooms.sorted())
            compare("user \(key.debugDescription) disabled", e.disabled, a.disabled)
        }
        for key in keys(expected.tokens, actual.tokens, "token") {
            compare("token \(key) user", expected.tokens[key], actual.tokens[key])
            compare("token \(key) issued", expected.tokenIssuedAt[key], actual.tokenIssuedAt[key])
            compare("token \(key) used", expected.tokenUsedAt[key], actual.tokenUsedAt[key])
        }
        for key in keys(expected.invites, actual.invites, "invite") {
            compare("invite \(key)", expected.invites[key], actual.invites[key])
        }
        for key in keys(expected.rooms, actual.rooms, "room") {
            guard let e = expected.rooms[key], let a = actual.rooms[key] else { continue }
            let room = "room \(key.debugDescription)"
            compare("\(room) name", e.name, a.name)
            compare("\(room) topic", e.topic, a.topic)
            if !ignoringEpochs { compare("\(room) epoch", e.epoch, a.epoch) }
            compare("\(room) createdAt", e.createdAt, a.createdAt)
            compare("\(room) visibility", e.visibility, a.visibility)
            compare("\(room) owner", e.owner, a.owner)
            compare("\(room) message count", e.messages.count, a.messages.count)
            for (index, (em, am)) in zip(e.messages, a.messages).enumerated()
            where em != am || em.details.reactionSeqs != am.details.reactionSeqs {
                out.append("\(room) message at index \(index): expected \(em), got \(am)")
            }
            for user in keys(e.members, a.members, "\(room) member") {
                compare("\(room) read marker of \(user.debugDescription)", e.members[user], a.members[user])
            }
            for nonce in keys(e.nonces, a.nonces, "\(room) nonce") {
                compare("\(room) nonce \(nonce.debugDescription)", e.nonces[nonce], a.nonces[nonce])
            }
        }
        return out
    }

    /// Records an issue listing the differences (at most 20) if the states differ.
    static func expectEqual(
        _ expected: ChatState,
        _ actual: ChatState,
        ignoringEpochs: Bool = false,
        _ context: String,
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        let found = differences(expected, actual, ignoringEpochs: ignoringEpochs)
        if !found.isEmpty {
            let listing = found.prefix(20).joined(separator: "\n")
            Issue.record(
                "\(context): states differ in \(found.count) places:\n\(listing)",
                sourceLocation: sourceLocation
            )
        }
    }

    /// A small fixed state: two users, a token, two rooms with members, topic and messages.
    static func sampleRecords() -> [LogRecord] {
        [
            .userCreated(name: "Alice", passwordHash: "h-alice", ts: 1_700_000_000_000),
            .userCreated(name: "Bücher", passwordHash: "h-bücher", ts: -5),
            .tokenIssued(user: "alice", tokenHash: "t1", ts: 1),
            .roomCreated(name: "Lobby", epoch: "e-lobby", ts: 10),
            .roomCreated(name: "Café", epoch: "e-cafe", ts: 11),
            .memberAdded(room: "lobby", user: "alice"),
            .memberAdded(room: "lobby", user: "bücher"),
            .memberAdded(room: "café", user: "alice"),
            .roomAccess(room: "café", visibility: .private, owner: "alice"),
            .topicSet(room: "lobby", topic: "welcome ✨", by: "Alice"),
            .messageAppended(ChatMessage(room: "Lobby", seq: 1, from: "Alice", text: "hi", kind: .text, ts: 20)),
            .messageAppended(
                ChatMessage(room: "Lobby", seq: 2, from: "Bücher", text: "waves", kind: .action, ts: 21, nonce: "n1")
            ),
            .messageAppended(ChatMessage(room: "Café", seq: 1, from: "Alice", text: "☕️", kind: .text, ts: 22)),
            .messageAppended(
                ChatMessage(
                    room: "Lobby",
                    seq: 3,
                    from: "Alice",
                    text: "hi again",
                    kind: .edit,
                    ts: 23,
                    details: MessageDetails(target: 1)
                )
            ),
            .messageAppended(
                ChatMessage(
                    room: "Lobby",
                    seq: 4,
                    from: "Bücher",
                    text: "",
                    kind: .react,
                    ts: 24,
                    details: MessageDetails(target: 1, emoji: "👍🏽")
                )
            ),
            .messageAppended(
                ChatMessage(
                    room: "Lobby",
                    seq: 5,
                    from: "Alice",
                    text: "replying",
                    kind: .text,
                    ts: 25,
                    details: MessageDetails(replyTo: 2)
                )
            ),
            .messageAppended(
                ChatMessage(
                    room: "Lobby",
                    seq: 6,
                    from: "Bücher",
                    text: "",
                    kind: .delete,
                    ts: 26,
                    details: MessageDetails(target: 2)
                )
            ),
            .readMarked(room: "lobby", user: "alice", seq: 2),
        ]
    }

    static func state(of records: [LogRecord]) -> ChatState {
        var state = ChatState()
        for record in records { state.apply(record) }
        return state
    }
}
