import ChatCore
import ChatLog
import ChatServer
import Foundation
import Logging
import Testing

// Shared helpers for the storage tests (temporary directories, a seeded PRNG, a
// field-by-field `ChatState` comparison, a random workload), and tests of those
// helpers, so a comparison that silently passes everything cannot go unnoticed.

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
        mutations.append(("token used", { $0.tokenUsedAt["t1"] = 12345 }))
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
