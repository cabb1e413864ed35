import ArgumentParser
import ChatConformance
import ChatCore
import Foundation

/// History paging on a stored archive (issue 16): page latency in the newest messages ("hot")
/// and at random depths ("cold"), server RSS before and after, and a full check that paging
/// `history {before}` from the head down returns every seq from 1 to head exactly once.
struct HistoryBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "history",
        abstract: "History pages on a stored archive: latency (hot and cold), server RSS, and a gap/duplicate check.",
        discussion: """
            Logs in as an existing user (`gen-data` makes user0…user9 with the password \
            bench-password, members of room0…roomR-1) over one connection, joins the rooms to learn \
            their heads, then asks for pages one at a time. Latency is from writing the request to \
            reading its reply, on loopback: an upper bound of the server's time. `--check` pages \
            every room from its head down to seq 1 and fails on a gap, a duplicate or a wrong order.
            """
    )

    @Option(help: "Server URL (loopback).") var url: String
    @Option(help: "User to log in as.") var user = "user0"
    @Option(help: "Password.") var password = "bench-password"
    @Option(help: "Rooms room0…roomN-1.") var rooms = 1000
    @Option(help: "Random pages to read in each mode.") var pages = 10_000
    @Option(help: "Messages per page.") var limit = 50
    @Option(help: "A hot page ends within this many messages of the head.") var hotDepth = 200
    @Option(help: "Modes to run, in order: hot, cold, check.") var modes: [String] = ["hot", "cold"]
    @Option(help: "Page size of the check (at most the server's history_limit).") var checkLimit = 500
    @Option(help: "Rooms the check covers (from room0); 0: all.") var checkRooms = 0
    @Option(help: "Seed of the random pages.") var seed: UInt64 = 42
    @Option(help: "chat-server pid, for its RSS.") var serverPID: Int32?
    @Option(help: "Give up after this many seconds.") var maxSeconds = 600

    func run() async throws {
        let deadline = ContinuousClock.now + .seconds(maxSeconds)
        let client = try await WireClient.connect(url: url)
        _ = try await client.call(
            Request.hello(version: 1, client: "chat-bench"),
            as: HelloReply.self,
            "hello"
        )
        _ = try await client.call(
            Request.login(user: try Request.user(user), password: password),
            as: AuthReply.self,
            "login"
        )
        var heads: [Int64] = []
        for r in 0..<rooms {
            let reply = try await client.call(
                Request.join(room: try Request.room("room\(r)"), since: nil, epoch: nil),
                as: JoinReply.self,
                "join room\(r)"
            )
            heads.append(reply.room.head)
        }
        let rssStart = serverPID.flatMap(ProcStats.rssKiB)
        var random = SplitMix(seed: seed)
        for mode in modes {
            guard ContinuousClock.now < deadline else { throw ValidationError("out of time before \(mode)") }
            switch mode {
            case "hot", "cold":
                var latencies: [Double] = []
                latencies.reserveCapacity(pages)
                var received = 0
                for _ in 0..<pages where ContinuousClock.now < deadline {
                    let r = Int(random.next() % UInt64(rooms))
                    let head = heads[r]
                    guard head > 0 else { continue }
                    let depth = mode == "hot" ? min(head, Int64(hotDepth)) : head
                    let before = head + 1 - Int64(random.next() % UInt64(depth))
                    let start = ContinuousClock.now
                    let reply = try await client.call(
                        Request.history(room: try Request.room("room\(r)"), before: before, after: nil, limit: limit),
                        as: HistoryReply.self,
                        "history"
                    )
                    latencies.append(seconds(start.duration(to: .now)) * 1000)
                    received += reply.messages.count
                    let expected = Int(min(Int64(limit), before - 1))
                    guard reply.messages.count == expected, reply.messages.last.map({ $0.seq == before - 1 }) ?? true
                    else {
                        throw ValidationError(
                            "room\(r) before \(before): \(reply.messages.count) messages, expected \(expected)"
                        )
                    }
                }
                latencies.sort()
                func q(_ p: Double) -> Double {
                    guard !latencies.isEmpty else { return 0 }
                    let value = latencies[min(latencies.count - 1, Int(Double(latencies.count - 1) * p))]
                    return (value * 1000).rounded() / 1000
                }
                var object: JSONObject = [
                    "bench": "history", "mode": .string(mode), "pages": .int(Int64(latencies.count)),
                    "limit": .int(Int64(limit)), "messages": .int(Int64(received)),
                    "p50_ms": .double(q(0.5)), "p99_ms": .double(q(0.99)), "max_ms": .double(q(1)),
                ]
                if let rss = serverPID.flatMap(ProcStats.rssKiB) { object["server_rss_mib"] = .int(Int64(rss / 1024)) }
                if let rssStart { object["server_rss_start_mib"] = .int(Int64(rssStart / 1024)) }
                emit(object)
            case "check":
                let covered = checkRooms > 0 ? min(checkRooms, rooms) : rooms
                var checked: Int64 = 0
                for r in 0..<covered {
                    let room = try Request.room("room\(r)")
                    var expected = heads[r]
                    var before = heads[r] + 1
                    var more = heads[r] > 0
                    while more {
                        guard ContinuousClock.now < deadline else { throw ValidationError("out of time in the check") }
                        let reply = try await client.call(
                            Request.history(room: room, before: before, after: nil, limit: checkLimit),
                            as: HistoryReply.self,
                            "history"
                        )
                        for message in reply.messages.reversed() {
                            guard message.seq == expected else {
                                throw ValidationError(
                                    "room\(r): seq \(message.seq) where \(expected) was expected (before \(before))"
                                )
                            }
                            expected -= 1
                        }
                        checked += Int64(reply.messages.count)
                        more = reply.more
                        before = reply.messages.first?.seq ?? 0
                        guard !more || !reply.messages.isEmpty else {
                            throw ValidationError("room\(r): an empty page says more (before \(before))")
                        }
                    }
                    guard expected == 0 else {
                        throw ValidationError("room\(r): paging stopped at seq \(expected + 1), not 1")
                    }
                }
                emit([
                    "bench": "history-check", "rooms": .int(Int64(covered)), "messages": .int(checked),
                    "ok": true,
                ])
            default:
                throw ValidationError("unknown mode \(mode) (hot, cold, check)")
            }
        }
        await client.disconnect()
    }
}

/// A small seeded generator, so two runs page the same places.
struct SplitMix {
    var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
