import ChatCore
import ChatServer
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite("Cold store")
struct ColdStoreTests {
    static func message(_ room: String, _ seq: Int64, _ text: String? = nil) -> ChatMessage {
        var message = ChatMessage(
            room: room,
            seq: seq,
            from: "user\(seq % 7)",
            text: text ?? "message \(seq) " + String(repeating: "y", count: Int(seq % 150)),
            kind: .text,
            ts: 1_800_000_000_000 + seq,
            nonce: seq % 3 == 0 ? "n\(seq)" : nil
        )
        if seq % 5 == 0 {
            // Reactions are not in log records; the cold store must keep them.
            var details = message.details
            details.reactions = [Reaction(emoji: "👍", users: ["ann", "bo"]), Reaction(emoji: "🎉", users: ["cy"])]
            details.reactionSeqs = [[seq + 1, seq + 2], [seq + 3]]
            message.details = details
        }
        return message
    }

    static func withDirectory(_ body: (String) throws -> Void) throws {
        let path = try StorageTestSupport.makeTemporaryDirectory()
        defer { StorageTestSupport.removeDirectory(path) }
        try body(path + "/cold")
    }

    /// Appends `count` messages to `room` of both stores in chunks, with a few new versions.
    static func fill(_ stores: [any ColdStore], room: String, from: Int64 = 1, count: Int64, chunk: Int64) throws {
        var next = from
        while next < from + count {
            let last = min(from + count - 1, next + chunk - 1)
            let messages = (next...last).map { message(room, $0) }
            let versions = next > 1 ? [message(room, (next - 1) / 2 + 1, "edited before \(next)")] : []
            for store in stores { try store.append(room: room, messages: messages, versions: versions) }
            next = last + 1
        }
    }

    @Test("a file store reads back what the memory store holds, over any range, and after reopening")
    func matchesMemoryStore() throws {
        try Self.withDirectory { path in
            let file = try FileColdStore(path: path, generation: nil)
            let memory = MemoryColdStore()
            try Self.fill([file, memory], room: "café", count: 1_000, chunk: 37)
            try Self.fill([file, memory], room: "lobby", count: 130, chunk: 64)
            // 64 scalars of 4 bytes: its hex would be too long for a file name.
            let long = String(repeating: "\u{20000}", count: 64)
            try Self.fill([file, memory], room: long, count: 3, chunk: 2)
            #expect(file.heads() == ["café": 1_000, "lobby": 130, long: 3])
            #expect(memory.heads() == file.heads())
            var random = SystemRandomNumberGenerator()
            for _ in 0..<300 {
                let lower = Int64.random(in: -3...1_003, using: &random)
                let upper = lower + Int64.random(in: -1...140, using: &random)
                #expect(
                    try file.read(room: "café", from: lower, through: upper)
                        == memory.read(room: "café", from: lower, through: upper)
                )
            }
            #expect(try file.read(room: "café", from: 1, through: 1_000).map(\.seq) == Array(1...1_000))
            #expect(try file.read(room: "café", from: 19, through: 19).first?.text == "edited before 38")
            let reacted = try #require(try file.read(room: "café", from: 25, through: 25).first)
            #expect(reacted.reactions.map(\.users) == [["ann", "bo"], ["cy"]])
            #expect(reacted.details.reactionSeqs == [[26, 27], [28]])
            #expect(try file.read(room: "nowhere", from: 1, through: 10).isEmpty)
            try file.commit(generation: 4)
            let reopened = try FileColdStore(path: path, generation: 4)
            #expect(reopened.heads() == file.heads())
            #expect(
                try reopened.read(room: "café", from: 1, through: 1_000)
                    == memory.read(room: "café", from: 1, through: 1_000)
            )
            #expect(
                try reopened.read(room: "lobby", from: 60, through: 70)
                    == memory.read(room: "lobby", from: 60, through: 70)
            )
        }
    }

    @Test("what was appended after the last commit is gone after a restart, and appending resumes without a duplicate")
    func uncommittedAppendsAreDropped() throws {
        try Self.withDirectory { path in
            let committed = MemoryColdStore()
            do {
                let file = try FileColdStore(path: path, generation: nil)
                try Self.fill([file, committed], room: "r", count: 200, chunk: 50)
                try file.commit(generation: 1)
                // A compaction killed before its commit: appended, never committed.
                try Self.fill([file], room: "r", from: 201, count: 100, chunk: 100)
                try file.append(room: "r", messages: [], versions: [Self.message("r", 3, "uncommitted edit")])
                try file.append(room: "new", messages: [Self.message("new", 1)], versions: [])
                #expect(file.heads()["r"] == 300)
            }
            let file = try FileColdStore(path: path, generation: 1)
            #expect(file.heads() == ["r": 200])
            #expect(try file.read(room: "r", from: 1, through: 300) == committed.read(room: "r", from: 1, through: 300))
            #expect(
                !FileManager.default.fileExists(atPath: path + "/" + FileColdStore.fileName("new") + ".seg"),
                "an uncommitted room's segment"
            )
            try Self.fill([file, committed], room: "r", from: 201, count: 100, chunk: 30)
            try file.commit(generation: 2)
            let again = try FileColdStore(path: path, generation: 2)
            #expect(try again.read(room: "r", from: 1, through: 300).map(\.seq) == Array(1...300))
            #expect(
                try again.read(room: "r", from: 1, through: 300) == committed.read(room: "r", from: 1, through: 300)
            )
        }
    }

    @Test("a restart from the previous snapshot opens the store as that snapshot's commit left it")
    func previousGenerationStaysUntilForgotten() throws {
        try Self.withDirectory { path in
            let file = try FileColdStore(path: path, generation: nil)
            try Self.fill([file], room: "r", count: 100, chunk: 100)
            try file.commit(generation: 1)
            try Self.fill([file], room: "r", from: 101, count: 100, chunk: 100)
            try file.commit(generation: 2)
            do {
                // Snapshot 2 was never written: the server starts from snapshot 1.
                let previous = try FileColdStore(path: path, generation: 1)
                #expect(previous.heads() == ["r": 100])
                #expect(try previous.read(room: "r", from: 90, through: 150).map(\.seq) == Array(90...100))
                try Self.fill([previous], room: "r", from: 101, count: 100, chunk: 100)
                try previous.commit(generation: 2)
                previous.forget(before: 2)
            }
            #expect(throws: StorageError.self) { try FileColdStore(path: path, generation: 1) }
            let current = try FileColdStore(path: path, generation: 2)
            #expect(try current.read(room: "r", from: 1, through: 200).map(\.seq) == Array(1...200))
        }
    }

    @Test("a store that does not match the snapshot refuses to open instead of dropping messages")
    func mismatchesAreRefused() throws {
        try Self.withDirectory { path in
            do {
                let file = try FileColdStore(path: path, generation: nil)
                try Self.fill([file], room: "r", count: 10, chunk: 10)
                try file.commit(generation: 3)
            }
            #expect(throws: StorageError.self) { try FileColdStore(path: path, generation: 5) }
            let segment = path + "/" + FileColdStore.fileName("r") + ".seg"
            #expect(truncate(segment, 20) == 0)
            #expect(throws: StorageError.self) { try FileColdStore(path: path, generation: 3) }
        }
    }

    @Test("opened for a snapshot without cold messages, the store starts empty and removes its files")
    func openingWithoutGenerationResets() throws {
        try Self.withDirectory { path in
            do {
                let file = try FileColdStore(path: path, generation: nil)
                try Self.fill([file], room: "r", count: 10, chunk: 10)
                try file.commit(generation: 3)
            }
            let reset = try FileColdStore(path: path, generation: nil)
            #expect(reset.heads().isEmpty)
            #expect(try FileManager.default.contentsOfDirectory(atPath: path).isEmpty)
            try Self.fill([reset], room: "r", count: 5, chunk: 5)
            #expect(reset.heads() == ["r": 5])
        }
    }

    @Test("a delete rewrites the room: once older manifests are forgotten no file holds the deleted text")
    func deleteRewritesTheRoom() throws {
        try Self.withDirectory { path in
            let file = try FileColdStore(path: path, generation: nil)
            let memory = MemoryColdStore()
            try Self.fill([file, memory], room: "r", count: 300, chunk: 100)
            try file.append(room: "r", messages: [Self.message("r", 301, "the plum secret")], versions: [])
            try memory.append(room: "r", messages: [Self.message("r", 301, "the plum secret")], versions: [])
            try file.commit(generation: 1)
            var deleted = Self.message("r", 301, "")
            var details = deleted.details
            details.deleted = true
            deleted.details = details
            try file.append(room: "r", messages: [Self.message("r", 302)], versions: [deleted])
            try memory.append(room: "r", messages: [Self.message("r", 302)], versions: [deleted])
            func holders() -> [String] { SearchChangeTests.files(holding: "plum secret", under: path) }
            #expect(!holders().isEmpty, "the previous commit's files keep it until forgotten")
            #expect(try file.read(room: "r", from: 1, through: 302) == memory.read(room: "r", from: 1, through: 302))
            try file.commit(generation: 2)
            file.forget(before: 2)
            #expect(holders() == [])
            let reopened = try FileColdStore(path: path, generation: 2)
            #expect(
                try reopened.read(room: "r", from: 1, through: 302) == memory.read(room: "r", from: 1, through: 302)
            )
            // A rewrite that is rolled back leaves the committed files as they were.
            var deleted7 = Self.message("r", 7, "")
            deleted7.details = details
            try file.append(room: "r", messages: [], versions: [deleted7])
            #expect(
                try FileManager.default.contentsOfDirectory(atPath: path).filter { $0.hasSuffix(".seg") }.count == 2
            )
            try file.rollback()
            #expect(try file.read(room: "r", from: 1, through: 302) == memory.read(room: "r", from: 1, through: 302))
            let names = try FileManager.default.contentsOfDirectory(atPath: path).filter { $0.hasSuffix(".seg") }
            #expect(names.count == 1, "\(names)")
        }
    }

    @Test("a rollback drops appends since the last commit; the next appends continue from the committed head")
    func rollbackReturnsToTheLastCommit() throws {
        try Self.withDirectory { path in
            let file = try FileColdStore(path: path, generation: nil)
            try Self.fill([file], room: "r", count: 100, chunk: 50)
            try file.commit(generation: 1)
            try Self.fill([file], room: "r", from: 101, count: 30, chunk: 30)
            try Self.fill([file], room: "new", count: 10, chunk: 10)
            #expect(file.heads() == ["r": 130, "new": 10])
            try file.rollback()
            #expect(file.heads() == ["r": 100])
            #expect(try file.read(room: "r", from: 90, through: 130).map(\.seq) == Array(90...100))
            try Self.fill([file], room: "r", from: 101, count: 20, chunk: 20)
            try file.commit(generation: 2)
            let reopened = try FileColdStore(path: path, generation: 2)
            #expect(try reopened.read(room: "r", from: 1, through: 200).map(\.seq) == Array(1...120))
            #expect(reopened.heads() == ["r": 120])
        }
    }

    @Test("a damaged byte in a segment is an error, never a wrong message")
    func damageIsDetected() throws {
        try Self.withDirectory { path in
            let file = try FileColdStore(path: path, generation: nil)
            try Self.fill([file], room: "r", count: 100, chunk: 100)
            try file.commit(generation: 1)
            let segment = path + "/" + FileColdStore.fileName("r") + ".seg"
            var bytes = try #require(FileManager.default.contents(atPath: segment))
            bytes[200] ^= 0x40
            try bytes.write(to: URL(fileURLWithPath: segment))
            let reopened = try FileColdStore(path: path, generation: 1)
            #expect(throws: StorageError.self) { try reopened.read(room: "r", from: 1, through: 50) }
            #expect(try reopened.read(room: "r", from: 65, through: 100).map(\.seq) == Array(65...100))
        }
    }

    @Test("reads on other threads while one thread appends and commits see whole messages in order")
    func readsDuringAppends() async throws {
        let path = try StorageTestSupport.makeTemporaryDirectory()
        defer { StorageTestSupport.removeDirectory(path) }
        let file = try FileColdStore(path: path + "/cold", generation: nil)
        try Self.fill([file], room: "r", count: 64, chunk: 64)
        let writer = Task.detached {
            var next: Int64 = 65
            for round in 1...40 {
                try Self.fill([file], room: "r", from: next, count: 50, chunk: 50)
                next += 50
                try file.commit(generation: round)
            }
        }
        let readers = (0..<3).map { reader in
            Task.detached { () throws -> Int in
                var pages = 0
                var random = SplitMix64(seed: UInt64(reader + 1))
                while pages < 400 {
                    let head = file.heads()["r"] ?? 0
                    let upper = 1 + Int64(random.next() % UInt64(head))
                    let lower = max(1, upper - 49)
                    let page = try file.read(room: "r", from: lower, through: upper)
                    #expect(page.map(\.seq) == Array(lower...upper))
                    pages += 1
                }
                return pages
            }
        }
        try await writer.value
        for reader in readers { #expect(try await reader.value == 400) }
        #expect(file.heads()["r"] == 2_064)
    }

    @Test("appends must continue the room's seqs")
    func appendsAreContiguous() throws {
        try Self.withDirectory { path in
            let file = try FileColdStore(path: path, generation: nil)
            let memory = MemoryColdStore()
            for store in [file, memory] as [any ColdStore] {
                try store.append(room: "r", messages: [Self.message("r", 1), Self.message("r", 2)], versions: [])
                #expect(throws: StorageError.self) {
                    try store.append(room: "r", messages: [Self.message("r", 4)], versions: [])
                }
            }
        }
    }
}
