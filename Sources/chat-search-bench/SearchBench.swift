import ArgumentParser
import ChatConformance
import ChatCore
import ChatLog
import ChatServer
import Foundation
import Logging
import PostgresNIO
import Synchronization

@main
struct ChatSearchBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chat-search-bench",
        abstract: "Search benchmarks for chat-server. Every loop is bounded in count and time; use loopback only.",
        subcommands: [SearchData.self, SearchQueries.self, SearchLag.self, SearchNarrow.self]
    )

    static func seconds(_ d: Duration) -> Double {
        Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }
}

/// Prints one JSON line.
func emit(_ object: JSONObject) {
    print(JSONValue.object(object).jsonString)
}

func seconds(_ d: Duration) -> Double { ChatSearchBench.seconds(d) }

final class Tally: Sendable {
    let value = Atomic<Int>(0)
}

/// Collected latencies in milliseconds.
final class Latencies: Sendable {
    private let values = Mutex<[Double]>([])

    func add(_ more: [Double]) { values.withLock { $0 += more } }

    func percentile(_ q: Double) -> Double { quantile(values.withLock { $0 }, q) }

    var count: Int { values.withLock { $0.count } }
}

/// Deterministic mixed Japanese/English chat text.
struct MixedText {
    private var state: UInt64

    init(seed: UInt64) { state = seed | 1 }

    mutating func next() -> UInt64 {
        state ^= state << 13
        state ^= state >> 7
        state ^= state << 17
        return state
    }

    mutating func pick<T>(_ items: [T]) -> T { items[Int(next() % UInt64(items.count))] }

    mutating func chance(_ percent: UInt64) -> Bool { next() % 100 < percent }

    static let english = """
        the a to and of in is it you that for on this we be have with are not at can will do just so but \
        what all if about me my your our they there was from up out get like one no time now know see \
        meeting release server deploy build test review tomorrow today morning lunch coffee bug fix issue \
        please thanks ok sure yes maybe later update docs design team client search index message room user \
        login token backup restore crash latency memory disk network cache query report plan week friday \
        monday branch merge commit ticket sprint demo slides budget customer support call notes agenda
        """.split(separator: " ").map(String.init)

    static let japanese = """
        会議 明日 今日 資料 確認 予定 東京 大阪 時間 連絡 問題 対応 開発 仕様 テスト リリース サーバー データ \
        検索 機能 修正 来週 午後 午前 電話 メール 質問 回答 準備 完了 報告 共有 担当 変更 追加 削除 更新 設定 \
        環境 本番 障害 調査 原因 結果 お客様 会社 部長 打ち合わせ 見積 請求 契約 提案 企画 営業 ランチ 出張 \
        週末 天気 電車 遅延 休み 体調 資料作成 レビュー デプロイ ログ 画面 ボタン 設計 性能 容量 通知
        """.split(separator: " ").map(String.init)

    static let particles = ["は", "が", "を", "に", "で", "と", "も", "の", "から", "まで"]
    static let endings = ["です。", "ます。", "ました。", "でしょうか？", "ですね。", "お願いします。", "了解です！", "👍"]

    mutating func englishWord() -> String {
        if chance(75) { return pick(Self.english) }
        // A long tail of rarer words.
        return "w" + String(next() % 50_000, radix: 36)
    }

    mutating func message() -> String {
        let kind = next() % 100
        if kind < 45 {
            var text = ""
            for _ in 0..<(2 + Int(next() % 4)) { text += pick(Self.japanese) + pick(Self.particles) }
            return text + pick(Self.japanese) + pick(Self.endings)
        } else if kind < 85 {
            return (0..<(5 + Int(next() % 10))).map { _ in englishWord() }.joined(separator: " ")
        } else {
            var text = pick(Self.japanese) + "の" + englishWord() + " " + englishWord()
            text += pick(Self.particles) + pick(Self.japanese) + pick(Self.endings)
            return text
        }
    }
}

struct SearchData: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "search-data",
        abstract: "Write a data directory of M mixed Japanese/English messages in R rooms (users user0…9)."
    )

    @Option(help: "Data directory to create (must not exist).") var dir: String
    @Option(help: "Messages.") var messages = 1_000_000
    @Option(help: "Rooms.") var rooms = 100

    func run() throws {
        guard !FileManager.default.fileExists(atPath: dir) else { throw ValidationError("\(dir) exists") }
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let start = ContinuousClock.now
        var buffer: [UInt8] = []
        let hash = try PasswordHasher(rounds: 1024).hash("bench-password")
        for u in 0..<10 { RecordFraming.append(.userCreated(name: "user\(u)", passwordHash: hash, ts: 0), to: &buffer) }
        for r in 0..<rooms {
            RecordFraming.append(.roomCreated(name: "room\(r)", epoch: PasswordHasher.newEpoch(), ts: 0), to: &buffer)
            for u in 0..<10 { RecordFraming.append(.memberAdded(room: "room\(r)", user: "user\(u)"), to: &buffer) }
        }
        let directory = DataDirectory(dir)
        let fd = open(directory.logPath(0), O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        var seqs = [Int64](repeating: 0, count: rooms)
        // One message every 10 ms of simulated time, ending now.
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        var text = MixedText(seed: 42)
        var bytes = 0
        for i in 0..<messages {
            let r = Int(text.next() % UInt64(rooms))
            seqs[r] += 1
            let body = text.message()
            bytes += body.utf8.count
            let message = ChatMessage(
                room: "room\(r)",
                seq: seqs[r],
                from: "user\(text.next() % 10)",
                text: body,
                kind: .text,
                ts: now - Int64(messages - i) * 10
            )
            RecordFraming.append(.messageAppended(message), to: &buffer)
            if buffer.count > 1 << 22 {
                try buffer.withUnsafeBytes { try DataDirectory.writeAll(fd, $0, path: dir) }
                buffer.removeAll(keepingCapacity: true)
            }
        }
        try buffer.withUnsafeBytes { try DataDirectory.writeAll(fd, $0, path: dir) }
        fsync(fd)
        close(fd)
        emit([
            "bench": "search-data", "messages": .int(Int64(messages)), "rooms": .int(Int64(rooms)),
            "text_bytes_avg": .double((Double(bytes) / Double(max(1, messages))).rounded()),
            "seconds": .double(seconds(start.duration(to: .now))),
        ])
    }
}

struct SearchQueries: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "search-query",
        abstract: "Search latency on a data directory's index (in process, snippets included): p50/p99 per query kind."
    )

    @Option(help: "Data directory (its search index must be built: chat-server reindex).") var dir: String
    @Option(help: "Queries per kind.") var queries = 300
    @Option(help: "Rooms the searching user is a member of (room0…).") var memberOf = 20
    @Option(help: "Results per query.") var limit = 20
    @Option(
        help: """
            Run the queries on this PostgreSQL database instead (filled by chat-server migrate --from \
            DIR): the cluster's search, newest first, no snippets.
            """
    )
    var postgres: String?

    func run() async throws {
        var logger = Logger(label: "bench")
        logger.logLevel = .warning
        if let postgres {
            let settings = try PostgresSettings(url: postgres)
            let rooms = (0..<memberOf).map { "room\($0)" }
            let logger = logger
            try await PostgresClient.with(settings, logger: logger) { client in
                try await client.withConnection { connection in
                    try await runQueries(engine: "postgresql", indexed: -1) { request in
                        try await PostgresSearch.search(
                            connection,
                            query: request.query,
                            rooms: rooms,
                            limit: limit,
                            logger: logger
                        ).count
                    }
                }
            }
            return
        }
        let index = try SearchIndex.open(directory: SearchReindex.directory(dataDirectory: dir), logger: logger)
        let indexed = try await index.count()
        guard indexed > 0 else { throw ValidationError("the index is empty: run chat-server reindex first") }
        let rooms = (0..<memberOf).map { "room\($0)" }
        let others = (memberOf..<100).map { "room\($0)" }
        try await runQueries(engine: "sqlite", indexed: indexed) { request in
            let page = try await index.search(request, rooms: rooms, others: others)
            return page.hits.map { SearchSnippet.make(text: $0.text, query: request.query) }.count
        }
    }

    /// Runs every kind of query through `search` (which returns the number of results).
    func runQueries(
        engine: String,
        indexed: Int,
        _ search: (SearchRequest) async throws -> Int
    ) async throws {
        var text = MixedText(seed: 7)
        let kinds: [(String, (inout MixedText) -> String, SearchRequest.Order)] = [
            ("english common word", { $0.pick(Array(MixedText.english.prefix(60))) }, .relevance),
            ("english rare word", { "w" + String($0.next() % 50_000, radix: 36) }, .relevance),
            ("japanese 2-char word", { t in t.pick(MixedText.japanese.filter { $0.count == 2 }) }, .relevance),
            (
                "japanese 1-char", { t in String(t.pick(MixedText.japanese.filter { $0.count == 2 }).first!) },
                .relevance
            ),
            ("two words", { t in t.pick(MixedText.japanese) + " " + t.pick(MixedText.english) }, .relevance),
            ("phrase", { t in "\"" + t.pick(MixedText.english) + " " + t.pick(MixedText.english) + "\"" }, .relevance),
            ("common word, newest first", { $0.pick(Array(MixedText.english.prefix(60))) }, .newest),
            ("word from:user3", { $0.pick(MixedText.japanese) + " from:user3" }, .relevance),
        ]
        var all: [Double] = []
        for (name, make, order) in kinds {
            var times: [Double] = []
            var hits = 0
            for _ in 0..<queries {
                let query = make(&text)
                let request = try SearchRequest.parse([
                    "query": .string(query), "limit": .int(Int64(limit)), "order": .string(order.rawValue),
                ]).get()
                let start = ContinuousClock.now
                let found = try await search(request)
                times.append(seconds(start.duration(to: .now)) * 1000)
                hits += found
            }
            all += times
            emit([
                "bench": "search-query", "engine": .string(engine), "kind": .string(name),
                "queries": .int(Int64(queries)),
                "avg_results": .double(Double(hits) / Double(queries)), "p50_ms": .double(quantile(times, 0.5)),
                "p99_ms": .double(quantile(times, 0.99)), "max_ms": .double(quantile(times, 1)),
            ])
        }
        emit([
            "bench": "search-query", "engine": .string(engine), "kind": "all", "indexed": .int(Int64(indexed)),
            "member_of": .int(Int64(memberOf)),
            "p50_ms": .double(quantile(all, 0.5)), "p99_ms": .double(quantile(all, 0.99)),
            "max_ms": .double(quantile(all, 1)),
        ])
    }
}

func quantile(_ values: [Double], _ q: Double) -> Double {
    let sorted = values.sorted()
    guard !sorted.isEmpty else { return 0 }
    let index = min(sorted.count - 1, Int((Double(sorted.count - 1) * q).rounded()))
    return (sorted[index] * 100).rounded() / 100
}

struct SearchLag: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "search-lag",
        abstract: """
            Index lag under sustained load: senders at a fixed total rate; a probe message every 200 ms is \
            searched for until found; /metrics' lag gauge is sampled.
            """
    )

    @Option(help: "Server URL (loopback), started on a search-data directory with high rate limits.") var url: String
    @Option(help: "Messages per second in total.") var rate = 5000
    @Option(help: "Seconds of load.") var seconds = 30
    @Option(help: "Concurrent senders (users user0…user8, spread over rooms).") var senders = 16

    func run() async throws {
        guard url.contains("127.") || url.contains("localhost") || url.contains("[::1]") else {
            throw ValidationError("loopback URLs only")
        }
        let context = try await ConformanceContext.make(url: url)
        func login(_ user: String) async throws -> WireClient {
            let client = try await context.helloClient()
            _ = try await client.call(
                Request.login(user: try Request.user(user), password: "bench-password"),
                as: AuthReply.self,
                "login \(user)"
            )
            return client
        }
        let sent = Tally()
        let deadline = ContinuousClock.now + .seconds(seconds)
        let perSender = Double(rate) / Double(senders)
        let probeLatencies = Latencies()
        let lagSamples = Latencies()
        let start = ContinuousClock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for s in 0..<senders {
                let client = try await login("user\(s % 9)")
                group.addTask {
                    var text = MixedText(seed: UInt64(s + 100))
                    var i = 0
                    while ContinuousClock.now < deadline {
                        let due = start + .seconds(Double(i) / perSender)
                        if due > .now { try await Task.sleep(until: due) }
                        let room = try Request.room("room\(text.next() % 100)")
                        _ = try await client.call(
                            Request.send(room: room, text: text.message(), kind: .text, nonce: nil),
                            as: SendReply.self,
                            "send"
                        )
                        sent.value.add(1, ordering: .relaxed)
                        i += 1
                    }
                }
            }
            // Probes: send a unique word, then search for it until it is found (at most 10 s each).
            let prober = try await login("user9")
            let searcher = try await login("user9")
            group.addTask {
                var n = 0
                while ContinuousClock.now < deadline {
                    n += 1
                    let word = "probe\(UInt32.random(in: 0...UInt32.max))x\(n)"
                    _ = try await prober.call(
                        Request.send(room: try Request.room("room0"), text: "\(word) 検索テスト", kind: .text, nonce: nil),
                        as: SendReply.self,
                        "probe"
                    )
                    let acked = ContinuousClock.now
                    let search = try SearchRequest.make(query: word, room: "room0").get()
                    while acked.duration(to: .now) < .seconds(10) {
                        let reply = try await searcher.call(search, as: SearchReply.self, "search")
                        if !reply.results.isEmpty { break }
                        try await Task.sleep(for: .milliseconds(5))
                    }
                    probeLatencies.add([Self.ms(acked.duration(to: .now))])
                    try await Task.sleep(for: .milliseconds(200))
                }
            }
            group.addTask {
                while ContinuousClock.now < deadline {
                    if let (_, body) = try? await httpGet(url: url, path: "/metrics"),
                        let line = body.split(separator: "\n").first(where: {
                            $0.hasPrefix("chat_search_index_lag_messages ")
                        }), let value = line.split(separator: " ").last.flatMap({ Double($0) })
                    {
                        lagSamples.add([value])
                    }
                    try await Task.sleep(for: .milliseconds(250))
                }
            }
            try await group.waitForAll()
        }
        let elapsed = ChatSearchBench.seconds(start.duration(to: .now))
        emit([
            "bench": "search-lag", "target_rate": .int(Int64(rate)),
            "achieved_rate": .double((Double(sent.value.load(ordering: .relaxed)) / elapsed).rounded()),
            "seconds": .double(elapsed), "lag_samples": .int(Int64(lagSamples.count)),
            "lag_p50_messages": .double(lagSamples.percentile(0.5)),
            "lag_max_messages": .double(lagSamples.percentile(1)),
            "probe_visible_p50_ms": .double(probeLatencies.percentile(0.5)),
            "probe_visible_p99_ms": .double(probeLatencies.percentile(0.99)),
            "probe_visible_max_ms": .double(probeLatencies.percentile(1)),
        ])
    }

    static func ms(_ d: Duration) -> Double { ChatSearchBench.seconds(d) * 1000 }
}
