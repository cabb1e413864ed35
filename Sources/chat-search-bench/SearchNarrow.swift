import ArgumentParser
import ChatCore
import ChatServer
import Foundation
import Logging

/// A user whose only room is small searches a word that is common in a room they cannot see:
/// the rows the full-text query walks and the latency (issue 21 item 3).
struct SearchNarrow: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "search-narrow",
        abstract: """
            Search cost for a user whose only room holds one message, for a word in every message of a \
            big room they are not in (in process, on a fresh index in a temporary directory).
            """
    )

    @Option(help: "Messages in the big room (each contains the searched word).") var messages = 100_000
    @Option(help: "Queries per order.") var queries = 50
    @Option(help: "Stop the queries of one order after this many seconds.") var seconds = 60.0

    func run() async throws {
        guard messages >= 1, messages <= 2_000_000, queries >= 1, queries <= 10_000 else {
            throw ValidationError("--messages must be 1…2000000 and --queries 1…10000")
        }
        var logger = Logger(label: "bench")
        logger.logLevel = .warning
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("search-narrow-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let index = try SearchIndex.open(directory: directory, logger: logger)
        var text = MixedText(seed: 11)
        let loadStart = ContinuousClock.now
        var next = 0
        while next < messages {
            var batch = IndexBatch()
            for seq in next..<min(messages, next + 10_000) {
                let words = (0..<6).map { _ in text.pick(MixedText.english) }.joined(separator: " ")
                batch.messages.append(
                    IndexedMessage(
                        room: "big",
                        seq: Int64(seq + 1),
                        from: "Alice",
                        fromKey: "alice",
                        text: "hello " + words,
                        ts: 1_700_000_000_000 + Int64(seq)
                    )
                )
            }
            try index.writeNow(batch)
            next += batch.messages.count
        }
        var small = IndexBatch()
        small.messages.append(
            IndexedMessage(
                room: "small",
                seq: 1,
                from: "Bob",
                fromKey: "bob",
                text: "a quiet room",
                ts: 1_600_000_000_000
            )
        )
        try index.writeNow(small)
        try index.optimize()
        emit([
            "bench": "search-narrow", "phase": "load", "messages": .int(Int64(messages + 1)),
            "seconds": .double(ChatSearchBench.seconds(loadStart.duration(to: .now))),
        ])
        for order in [SearchRequest.Order.relevance, .newest] {
            let request = try SearchRequest.parse(["query": "hello", "order": .string(order.rawValue)]).get()
            let walked = try await index.matchedRows(request, rooms: ["small"], others: ["big"])
            var times: [Double] = []
            var results = 0
            let start = ContinuousClock.now
            for _ in 0..<queries {
                let t = ContinuousClock.now
                let page = try await index.search(request, rooms: ["small"], others: ["big"])
                times.append(ChatSearchBench.seconds(t.duration(to: .now)) * 1000)
                results += page.hits.count
                if ChatSearchBench.seconds(start.duration(to: .now)) > seconds { break }
            }
            emit([
                "bench": "search-narrow", "order": .string(order.rawValue), "queries": .int(Int64(times.count)),
                "rows_walked": .int(Int64(walked)), "results": .int(Int64(results)),
                "p50_ms": .double(quantile(times, 0.5)), "max_ms": .double(quantile(times, 1)),
            ])
        }
    }
}
