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
                && !temporary
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
            compare("\(room) message count", e.messages.count, a.messages.count)
            for (index, (em, am)) in zip(e.messages, a.messages).enumerated() where em != am {
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
            .topicSet(room: "lobby", topic: "welcome ✨", by: "Alice"),
            .messageAppended(ChatMessage(room: "Lobby", seq: 1, from: "Alice", text: "hi", kind: .text, ts: 20)),
            .messageAppended(
                ChatMessage(room: "Lobby", seq: 2, from: "Bücher", text: "waves", kind: .action, ts: 21, nonce: "n1")
            ),
            .messageAppended(ChatMessage(room: "Café", seq: 1, from: "Alice", text: "☕️", kind: .text, ts: 22)),
            .readMarked(room: "lobby", user: "alice", seq: 2),
        ]
    }

    static func state(of records: [LogRecord]) -> ChatState {
        var state = ChatState()
        for record in records { state.apply(record) }
        return state
    }
}

/// Random valid operations, as the hub would produce them, against the current state.
struct StorageWorkload {
    var rng: SplitMix64
    private var counter = 0
    private var clock: Int64 = 1_700_000_000_000

    init(seed: UInt64) { rng = SplitMix64(seed: seed) }

    private static let userStems = ["user", "Ünïcödé", "名前", "Straße", "ΣΊΣΥΦΟΣ", "MiXeD"]
    private static let roomStems = ["room", "Café", "чат", "部屋", "ZZ"]
    private static let texts = ["", "hello", "ünïcödé ✓", "👩‍👩‍👧 family", "line1\nline2", "\u{0}nul", "\"quoted\""]

    private mutating func pick<T>(_ values: [T]) -> T { values[Int.random(in: 0..<values.count, using: &rng)] }

    private mutating func chance(_ percent: Int) -> Bool { Int.random(in: 0..<100, using: &rng) < percent }

    private mutating func hex(_ count: Int) -> String {
        String((0..<count).map { _ in "0123456789abcdef".randomElement(using: &rng) ?? "0" })
    }

    private mutating func timestamp() -> Int64 {
        clock += Int64.random(in: 0...5_000, using: &rng)
        if chance(3) { return pick([Int64.min, Int64.max, -1, 0]) }
        return clock
    }

    private mutating func text() -> String {
        if chance(5) { return "" }
        if chance(10) { return String(repeating: pick(["a", "é", "字"]), count: 300) + "\(counter)" }
        return pick(Self.texts) + " #\(counter)"
    }

    /// One record that is valid against `state`.
    mutating func next(_ state: ChatState) -> LogRecord {
        counter += 1
        let users = state.users.keys.sorted()
        let rooms = state.rooms.keys.sorted()
        if users.count < 2 || (users.count < 30 && chance(6)) {
            let name = "\(pick(Self.userStems))\(counter)"
            return .userCreated(name: name, passwordHash: "$argon2id$" + hex(16), ts: timestamp())
        }
        if rooms.isEmpty || (rooms.count < 12 && chance(4)) {
            return .roomCreated(name: "\(pick(Self.roomStems))\(counter)", epoch: hex(12), ts: timestamp())
        }
        let roomKey = pick(rooms)
        guard let room = state.rooms[roomKey] else { fatalError("room vanished") }
        let members = room.members.keys.sorted()
        let outsiders = users.filter { room.members[$0] == nil }
        let roll = Int.random(in: 0..<100, using: &rng)
        switch roll {
        case 0..<4:
            return .passwordChanged(user: pick(users), passwordHash: "$argon2id$" + hex(16))
        case 4..<10:
            return .tokenIssued(user: pick(users), tokenHash: hex(64), ts: timestamp())
        case 10..<13 where !state.tokens.isEmpty:
            return .tokenRevoked(tokenHash: pick(state.tokens.keys.sorted()))
        case 13..<16:
            return .epochChanged(room: roomKey, epoch: hex(12))
        case 32..<34:
            let user = pick(users)
            return .userDisabled(user: user, disabled: state.users[user]?.disabled != true)
        case 34..<36:
            return .inviteCreated(
                codeHash: hex(64),
                uses: Int64.random(in: 1...3, using: &rng),
                expiresAt: chance(2) ? 0 : timestamp(),
                ts: timestamp()
            )
        case 36..<38 where !state.invites.isEmpty:
            let code = pick(state.invites.keys.sorted())
            return chance(4) ? .inviteRevoked(codeHash: code) : .inviteUsed(codeHash: code)
        case 16..<20 where members.count > 1:
            return .memberRemoved(room: roomKey, user: pick(members))
        case 20..<24:
            let by = state.users[pick(users)]?.name ?? ""
            let clear = !room.topic.isEmpty && chance(20)
            return .topicSet(room: roomKey, topic: clear ? "" : "topic \(counter) \(text())", by: by)
        case 24..<32 where !members.isEmpty && room.head > 0:
            let member = pick(members)
            let current = room.members[member] ?? 0
            if current < room.head {
                return .readMarked(
                    room: roomKey,
                    user: member,
                    seq: Int64.random(in: (current + 1)...room.head, using: &rng)
                )
            }
            fallthrough
        default:
            if !outsiders.isEmpty && (members.isEmpty || chance(12)) {
                return .memberAdded(room: roomKey, user: pick(outsiders))
            }
            let from = state.users[pick(members)]?.name ?? "?"
            let nonce: String? = chance(40) ? (chance(10) ? "ñ-\(counter)" : "n\(counter)") : nil
            let message = ChatMessage(
                room: room.name,
                seq: room.head + 1,
                from: from,
                text: text(),
                kind: chance(15) ? .action : .text,
                ts: timestamp(),
                nonce: nonce
            )
            return .messageAppended(message)
        }
    }

    /// `count` records, each valid after the previous ones (applied to a copy of `state`).
    mutating func batch(_ count: Int, after state: ChatState) -> [LogRecord] {
        var scratch = state
        var records: [LogRecord] = []
        for _ in 0..<count {
            let record = next(scratch)
            scratch.apply(record)
            records.append(record)
        }
        return records
    }
}

@Suite("Storage test support")
struct StorageSupportTests {
    @Test("the state comparison finds a difference in every compared field")
    func comparisonDetectsEveryField() {
        let base = StorageTestSupport.state(of: StorageTestSupport.sampleRecords())
        #expect(StorageTestSupport.differences(base, base).isEmpty)
        #expect(base.users.count == 2 && base.rooms.count == 2 && base.tokens.count == 1)

        var mutations: [(String, (inout ChatState) -> Void)] = []
        mutations.append(("user name", { $0.users["alice"]?.name = "ALICE" }))
        mutations.append(("passwordHash", { $0.users["alice"]?.passwordHash = "x" }))
        mutations.append(("createdAt", { $0.users["alice"]?.createdAt = 0 }))
        mutations.append(("user rooms", { $0.users["alice"]?.rooms.remove("café") }))
        mutations.append(("missing user", { $0.users["alice"] = nil }))
        mutations.append(("token", { $0.tokens["t1"] = "bücher" }))
        mutations.append(("extra token", { $0.tokens["t2"] = "alice" }))
        mutations.append(("token issued", { $0.tokenIssuedAt["t1"] = 12345 }))
        mutations.append(("disabled", { $0.users["alice"]?.disabled = true }))
        mutations.append(("invite", { $0.invites["i1"] = .init(usesLeft: 1, expiresAt: 0, createdAt: 0) }))
        mutations.append(("room name", { $0.rooms["lobby"]?.name = "LOBBY" }))
        mutations.append(("topic", { $0.rooms["lobby"]?.topic = "" }))
        mutations.append(("epoch", { $0.rooms["lobby"]?.epoch = "other" }))
        mutations.append(("room createdAt", { $0.rooms["lobby"]?.createdAt = 99 }))
        mutations.append(("message text", { $0.rooms["lobby"]?.messages[0].text = "bye" }))
        mutations.append(("message nonce", { $0.rooms["lobby"]?.messages[1].nonce = nil }))
        mutations.append(("message kind", { $0.rooms["lobby"]?.messages[1].kind = .text }))
        mutations.append(("message removed", { $0.rooms["lobby"]?.messages.removeLast() }))
        mutations.append(("read marker", { $0.rooms["lobby"]?.members["alice"] = 1 }))
        mutations.append(("member", { $0.rooms["café"]?.members["bücher"] = 0 }))
        mutations.append(("nonce", { $0.rooms["lobby"]?.nonces = [:] }))
        mutations.append(("missing room", { $0.rooms["café"] = nil }))
        for (what, mutate) in mutations {
            var changed = base
            mutate(&changed)
            let found = StorageTestSupport.differences(base, changed)
            #expect(found.count >= 1, "a change of \(what) went unnoticed")
        }
        var epochOnly = base
        epochOnly.rooms["lobby"]?.epoch = "other"
        #expect(StorageTestSupport.differences(base, epochOnly, ignoringEpochs: true).isEmpty)
        #expect(
            StorageTestSupport.differences(base, epochOnly) == [#"room "lobby" epoch: expected e-lobby, got other"#]
        )
    }

    @Test("SplitMix64 is deterministic and matches the reference output")
    func splitMixReference() {
        var a = SplitMix64(seed: 1_234_567)
        var b = SplitMix64(seed: 1_234_567)
        let first = (0..<5).map { _ in a.next() }
        #expect(first == (0..<5).map { _ in b.next() })
        // Reference values of SplitMix64 seeded with 1234567 (Vigna's splitmix64.c).
        #expect(first[0] == 6_457_827_717_110_365_317)
        #expect(first[1] == 3_203_168_211_198_807_973)
    }

    @Test("the workload generator only produces records that change the state", arguments: [UInt64(1), 2, 3])
    func workloadRecordsApply(seed: UInt64) {
        var workload = StorageWorkload(seed: seed)
        var state = ChatState()
        var messages = 0
        for index in 0..<400 {
            let record = workload.next(state)
            if case .messageAppended = record { messages += 1 }
            var after = state
            after.apply(record)
            let changed = !StorageTestSupport.differences(state, after).isEmpty
            #expect(changed, "seed \(seed) record \(index) was a no-op: \(record)")
            state = after
        }
        #expect(messages > 100, "seed \(seed): only \(messages) messages")
        #expect(state.rooms.values.contains { !$0.nonces.isEmpty }, "seed \(seed): no nonces")
    }
}
