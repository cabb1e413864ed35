import ArgumentParser
import ChatConformance
import ChatCore
import ChatServer
import Foundation

/// The on-disk cold store by itself (issue 16): how long a page deep in the past takes to read,
/// how much disk the segments use next to the raw text, how long opening takes and what the
/// store keeps in memory.
struct ColdStoreBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cold-store",
        abstract:
            "The file cold store alone: page reads (page cache dropped where permitted), disk, open time, memory.",
        discussion: """
            Writes M messages round-robin into R rooms through FileColdStore, as compactions \
            would: each round appends CHUNK messages to every room and commits. Then it drops \
            the page cache (when the process may write /proc/sys/vm/drop_caches), opens the store \
            again and reads random pages of LIMIT messages at random depths, timing each read.
            """
    )

    @Option(help: "Directory to create (must not exist).") var dir: String
    @Option(help: "Messages.") var messages = 10_000_000
    @Option(help: "Rooms.") var rooms = 1000
    @Option(help: "Text size in bytes.") var size = 100
    @Option(help: "Messages appended to each room per compaction round.") var chunk = 1000
    @Option(help: "Random pages to read.") var pages = 10_000
    @Option(help: "Messages per page.") var limit = 50
    @Option(help: "Seed of the random pages.") var seed: UInt64 = 7

    func run() throws {
        guard !FileManager.default.fileExists(atPath: dir) else { throw ValidationError("\(dir) exists") }
        let perRoom = Int64(messages / rooms)
        let text = String(repeating: "y", count: size - 8)
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        let writeStart = ContinuousClock.now
        var generation = 0
        do {
            let store = try FileColdStore(path: dir, generation: nil)
            var next: Int64 = 1
            while next <= perRoom {
                let last = min(perRoom, next + Int64(chunk) - 1)
                for r in 0..<rooms {
                    let batch = (next...last).map { seq in
                        ChatMessage(
                            room: "room\(r)",
                            seq: seq,
                            from: "user\(Int(seq) % 10)",
                            text: String(format: "%08d", Int(seq) * rooms + r) + text,
                            kind: .text,
                            ts: now + seq,
                            nonce: nil
                        )
                    }
                    try store.append(room: "room\(r)", messages: batch, versions: [])
                }
                generation += 1
                try store.commit(generation: generation)
                store.forget(before: generation)
                next = last + 1
            }
        }
        let written = seconds(writeStart.duration(to: .now))
        let disk = try FileManager.default.contentsOfDirectory(atPath: dir).reduce(Int64(0)) { sum, name in
            let attributes = try FileManager.default.attributesOfItem(atPath: dir + "/" + name)
            return sum + ((attributes[.size] as? NSNumber)?.int64Value ?? 0)
        }
        let dropped = Self.dropPageCache()
        let openStart = ContinuousClock.now
        let store = try FileColdStore(path: dir, generation: generation)
        let opened = seconds(openStart.duration(to: .now))
        var random = SplitMix(seed: seed)
        var times: [Double] = []
        times.reserveCapacity(pages)
        for _ in 0..<pages {
            let r = Int(random.next() % UInt64(rooms))
            let upper = 1 + Int64(random.next() % UInt64(perRoom))
            let lower = max(1, upper - Int64(limit) + 1)
            let start = ContinuousClock.now
            let page = try store.read(room: "room\(r)", from: lower, through: upper)
            times.append(seconds(start.duration(to: .now)) * 1000)
            guard page.count == Int(upper - lower + 1), page.first?.seq == lower else {
                throw ValidationError("room\(r) \(lower)…\(upper): got \(page.count) messages")
            }
        }
        times.sort()
        func q(_ p: Double) -> Double {
            (times[min(times.count - 1, Int(Double(times.count - 1) * p))] * 1000).rounded() / 1000
        }
        emit([
            "bench": "cold-store", "messages": .int(Int64(perRoom) * Int64(rooms)), "rooms": .int(Int64(rooms)),
            "write_seconds": .double((written * 100).rounded() / 100),
            "disk_bytes": .int(disk), "raw_text_bytes": .int(Int64(perRoom) * Int64(rooms) * Int64(size)),
            "page_cache": .string(dropped ? "dropped" : "kept"),
            "open_seconds": .double((opened * 1000).rounded() / 1000),
            "memory_bytes": .int(Int64(store.memoryBytes)),
            "pages": .int(Int64(pages)), "limit": .int(Int64(limit)),
            "read_p50_ms": .double(q(0.5)), "read_p99_ms": .double(q(0.99)), "read_max_ms": .double(q(1)),
        ])
    }

    /// Drops the page cache (root only); whether it could.
    static func dropPageCache() -> Bool {
        sync()
        guard let handle = FileHandle(forWritingAtPath: "/proc/sys/vm/drop_caches") else { return false }
        defer { try? handle.close() }
        return (try? handle.write(contentsOf: Data("3\n".utf8))) != nil
    }
}
