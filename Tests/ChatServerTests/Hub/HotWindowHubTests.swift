import ChatCore
import ChatLog
import ChatServer
import Foundation
import Testing

/// A room whose older messages were moved to a cold store must answer exactly as one that
/// holds everything in memory: replies, events, history pages, join backlogs, changes to cold
/// messages (edit, delete, reactions, replies), search batches and snapshots (issue 16).
@Suite("Hub core: a hot window over a cold store")
struct HotWindowHubTests {
    static let lobby = HubHarness.name("lobby")

    static func twoUsers() -> HubHarness {
        var configuration = HubHarness.configuration
        configuration.limits.ratePerSec = 100_000
        configuration.limits.rateBurst = 100_000
        configuration.limits.readPerSec = 100_000
        configuration.limits.readBurst = 100_000
        var hub = HubHarness(configuration)
        hub.user(1, "alice")
        hub.user(2, "bob")
        hub.join(1, "lobby")
        hub.join(2, "lobby")
        hub.received = [:]
        return hub
    }

    /// Every message of a room, cold ones included, in its current version.
    static func all(_ hub: HubHarness) throws -> [ChatMessage] {
        let head = hub.core.state.rooms["lobby"]?.head ?? 0
        return Array(try hub.core.state.messages(room: "lobby", from: 1, through: head))
    }

    /// Drives both hubs with the same random requests; every few steps the second moves all but
    /// its newest `window` messages to its cold store.
    static func run(cold store: any ColdStore, window: Int64, steps: Int, seed: UInt64) throws {
        var plain = twoUsers()
        var windowed = twoUsers()
        let agreed = try drive(&plain, &windowed, steps: steps, seed: seed) { step, windowed in
            guard step % 7 == 6 else { return }
            let head = windowed.core.state.rooms["lobby"]?.head ?? 0
            try windowed.moveToCold(store, through: head - window)
        }
        if agreed { try compare(plain, windowed, window: window + 7) }
    }

    /// Sends the same random requests to both hubs, calls `between` after each step (to move the
    /// windowed hub's messages out), and stops at the first step after which their stored
    /// messages differ (recorded as an issue). Returns whether every step agreed.
    static func drive(
        _ plain: inout HubHarness,
        _ windowed: inout HubHarness,
        steps: Int,
        seed: UInt64,
        recentRetries: Bool = false,
        between: (Int, inout HubHarness) throws -> Void
    ) throws -> Bool {
        var random = SplitMix64(seed: seed)
        for step in 0..<steps {
            let conn = ConnID(1 + random.next() % 2)
            let head = plain.core.state.rooms["lobby"]?.head ?? 0
            let request = randomRequest(step, head: head, &random, recentRetries: recentRetries)
            plain.request(conn, "s\(step)", request)
            windowed.request(conn, "s\(step)", request)
            plain.flush()
            windowed.flush()
            plain.advance(1)
            windowed.advance(1)
            try between(step, &windowed)
            let expected = try all(plain)
            let actual = try all(windowed)
            guard expected == actual else {
                let first = zip(expected, actual).first { $0 != $1 }
                Issue.record("step \(step) (\(request)): first difference \(String(describing: first))")
                return false
            }
        }
        return true
    }

    /// One random request: sends (with nonces, retries and replies), edits, deletes, reactions,
    /// history both ways, at random seqs up to `head`.
    /// With `recentRetries`, a retry repeats the previous step's nonce only: a nonce is
    /// remembered while its message is in the hot window (what the server documents).
    static func randomRequest(
        _ step: Int,
        head: Int64,
        _ random: inout SplitMix64,
        recentRetries: Bool = false
    ) -> Request {
        let emojis = ["👍", "🎉", "😂"]
        let target = head > 0 ? 1 + Int64(random.next() % UInt64(head)) : 1
        let request: Request
        switch random.next() % 10 {
        case 0: request = .edit(room: lobby, seq: target, text: "edit \(step)")
        case 1: request = .delete(room: lobby, seq: target)
        case 2, 3: request = .react(room: lobby, seq: target, emoji: emojis[Int(random.next() % 3)])
        case 4: request = .unreact(room: lobby, seq: target, emoji: emojis[Int(random.next() % 3)])
        case 5:
            request = .send(room: lobby, text: "reply \(step)", kind: .text, nonce: "n\(step)", replyTo: target)
        case 6: request = .history(room: lobby, before: target + 1, after: nil, limit: Int(1 + random.next() % 20))
        case 7: request = .history(room: lobby, before: nil, after: target - 1, limit: Int(1 + random.next() % 20))
        case 8:
            let nonce = recentRetries ? "n\(max(step - 1, 0))" : "n\(random.next() % UInt64(step + 1))"
            request = .send(room: lobby, text: "retry", kind: .text, nonce: nonce)
        default: request = .send(room: lobby, text: "message \(step)", kind: .text, nonce: "n\(step)")
        }
        return request
    }

    /// The two hubs answered alike and hold the same messages, join backlogs, search batches
    /// and snapshot contents.
    static func compare(_ plain: HubHarness, _ windowed: HubHarness, window: Int64) throws {
        var plain = plain
        var windowed = windowed
        #expect(plain.received == windowed.received, "replies and events differ")
        #expect(try all(plain) == all(windowed), "stored messages differ")
        #expect((windowed.core.state.rooms["lobby"]?.base ?? 0) > 0, "nothing went cold")
        #expect(Int64(windowed.core.state.rooms["lobby"]?.messages.count ?? 0) <= window)

        // A join backlog reaching into the cold part, and a rejoin with `since`.
        plain.received = [:]
        windowed.received = [:]
        plain.request(2, "j", .join(room: lobby, since: 2, epoch: nil))
        windowed.request(2, "j", .join(room: lobby, since: 2, epoch: nil))
        #expect(plain.received == windowed.received, "join backlogs differ")

        // Search batches from scratch read the cold part too.
        let fresh = plain.core.indexBatch(after: [:], limit: 10_000)
        let coldBatch = windowed.core.indexBatch(after: [:], limit: 10_000)
        #expect(fresh.messages.map { "\($0.seq) \($0.text)" } == coldBatch.messages.map { "\($0.seq) \($0.text)" })
        #expect(fresh.removals.map(\.seq) == coldBatch.removals.map(\.seq))

        // A snapshot of the windowed state with every body rebuilds the same state.
        var rebuilt = ChatState()
        try SnapshotFile.records(of: windowed.core.state, coldBodies: true) { rebuilt.apply($0) }
        var fromPlain = ChatState()
        try SnapshotFile.records(of: plain.core.state) { fromPlain.apply($0) }
        #expect(StorageTestSupport.differences(fromPlain, rebuilt).isEmpty)
    }

    /// Like `run`, but the way the server compacts: every 9 requests a compaction runs on a copy
    /// of the windowed hub's state (`Compaction.run`, committing the file cold store), 4 more
    /// requests change the hub meanwhile, then the hub drops what moved (`applyCompaction`).
    /// At the end a restart from the last compaction's snapshot (no cold bodies) plus the
    /// records after its copy rebuilds the same messages.
    static func runCompacting(window: Int, steps: Int, seed: UInt64) throws {
        let path = try StorageTestSupport.makeTemporaryDirectory()
        defer { StorageTestSupport.removeDirectory(path) }
        let store = try FileColdStore(path: path + "/cold", generation: nil)
        var plain = twoUsers()
        var windowed = twoUsers()
        try windowed.moveToCold(store, through: 0)  // attaches the store; nothing moves
        var generation = 0
        var pending: Compaction?
        var last: (snapshot: ChatState, records: Int, generation: Int)?
        let agreed = try drive(&plain, &windowed, steps: steps, seed: seed, recentRetries: true) { step, windowed in
            if step % 9 == 4, pending == nil {
                var copy = windowed.core.state
                generation += 1
                pending = try Compaction.run(&copy, policy: .messages(window), generation: generation)
                last = (copy, windowed.records.count, generation)
            } else if step % 9 == 8, let compaction = pending {
                windowed.core.applyCompaction(compaction)
                pending = nil
            }
        }
        guard agreed else { return }
        try compare(plain, windowed, window: Int64(window) + 9)
        guard let last else {
            Issue.record("no compaction ran")
            return
        }
        var restarted = ChatState()
        restarted.loadingSnapshot = true
        try SnapshotFile.records(of: last.snapshot) { restarted.apply($0) }
        restarted.loadingSnapshot = false
        #expect(restarted.rooms["lobby"]?.base == last.snapshot.rooms["lobby"]?.base)
        restarted.cold = try FileColdStore(path: path + "/cold", generation: last.generation)
        for record in windowed.records[last.records...] { restarted.apply(record) }
        let head = plain.core.state.rooms["lobby"]?.head ?? 0
        #expect(try Array(restarted.messages(room: "lobby", from: 1, through: head)) == all(plain))
        #expect(restarted.rooms["lobby"]?.members == plain.core.state.rooms["lobby"]?.members)
    }

    @Test("compacting on a copy while the hub goes on, then trimming, answers as a hub holding everything")
    func compactionOnACopy() throws {
        for seed in [4, 5] as [UInt64] { try Self.runCompacting(window: 5, steps: 500, seed: seed) }
        try Self.runCompacting(window: 0, steps: 300, seed: 6)
    }

    @Test("with a memory cold store and a window of 5, over 600 random requests")
    func memoryStore() throws {
        for seed in [1, 2, 3] as [UInt64] {
            try Self.run(cold: MemoryColdStore(), window: 5, steps: 600, seed: seed)
        }
    }

    @Test("with a file cold store and a window of 0 (everything cold)")
    func fileStore() throws {
        let path = try StorageTestSupport.makeTemporaryDirectory()
        defer { StorageTestSupport.removeDirectory(path) }
        try Self.run(cold: FileColdStore(path: path + "/cold", generation: nil), window: 0, steps: 400, seed: 9)
    }

    @Test("a cold message that cannot be read is an internal error, not a wrong page")
    func unreadableColdStore() throws {
        var hub = Self.twoUsers()
        for i in 0..<10 { hub.request(1, "m\(i)", .send(room: Self.lobby, text: "m\(i)", kind: .text, nonce: nil)) }
        hub.flush()
        let path = try StorageTestSupport.makeTemporaryDirectory()
        defer { StorageTestSupport.removeDirectory(path) }
        try hub.moveToCold(FileColdStore(path: path + "/cold", generation: nil), through: 4)
        try FileManager.default.removeItem(atPath: path + "/cold")
        hub.received = [:]
        hub.request(1, "h", .history(room: Self.lobby, before: nil, after: nil, limit: 5))
        hub.request(1, "old", .history(room: Self.lobby, before: 5, after: nil, limit: 5))
        hub.request(1, "e", .edit(room: Self.lobby, seq: 2, text: "changed"))
        #expect(hub.received[1]?.count == 3)
        guard case .reply("h", .history(let page, _)) = hub.received[1]?[0] else {
            Issue.record("the hot page failed")
            return
        }
        #expect(page.map(\.seq) == [6, 7, 8, 9, 10])
        #expect(hub.received[1]?[1] == .error(id: "old", .internal))
        #expect(hub.received[1]?[2] == .error(id: "e", .internal))
    }
}

extension HubHarness {
    mutating func moveToCold(_ store: any ColdStore, through seq: Int64) throws {
        try core.moveToCold(store, room: "lobby", through: seq)
    }
}
