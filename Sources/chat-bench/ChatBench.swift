import ArgumentParser
import ChatConformance
import ChatCore
import ChatLog
import ChatServer
import ChatTUI
import Foundation
import NIOCore
import NIOPosix
import Synchronization

@main
struct ChatBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chat-bench",
        abstract: "Benchmarks for chat-server. Every loop is bounded in count and time; use loopback only.",
        subcommands: [
            Durable.self, GenerateData.self, Startup.self, RenderBench.self, Fanout.self, Conns.self, HistoryBench.self,
            ColdStoreBench.self,
        ]
    )
}

/// Prints one JSON line.
func emit(_ object: JSONObject) {
    print(JSONValue.object(object).jsonString)
}

func seconds(_ d: Duration) -> Double {
    Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
}

struct Durable: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Durable sends/s: N senders, each in its own room, W sends in flight each, until M are acknowledged.",
        discussion: """
            Every sender is a connection of one user, joined to a room of its own (no fan-out to \
            other senders). A send counts when its `ok` arrives; "ack" latency is from writing the \
            send to reading that `ok`. The load generator runs on one event-loop thread.
            """
    )

    @Option(help: "Server URL (loopback).") var url: String
    @Option(help: "Concurrent senders (connections).") var senders = 8
    @Option(help: "Messages to send in total.") var messages = 20_000
    @Option(help: "Sends in flight per sender (1: wait for each ok before the next send).") var window = 1
    @Option(help: "Text size in bytes.") var size = 100
    @Option(help: "Server process to read CPU time from (/proc).") var serverPid: Int32?
    @Option(help: "Stop after this many seconds even if not done.") var maxSeconds = 60
    @Option(help: "Label printed with the result (e.g. the fsync policy).") var label = ""

    func validate() throws {
        guard senders >= 1, messages >= senders, window >= 1, size >= 1 else {
            throw ValidationError("--senders, --window and --size must be at least 1, --messages at least --senders")
        }
    }

    func run() async throws {
        let target = try BenchTarget(url: url)
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let loop = group.next()
        let probe = ServerProbe(pid: serverPid)
        let setupStart = ContinuousClock.now
        let driver = try await BenchDriver.prepare(.chat, target, on: loop, publisher: false)
        let opened = await openConnections(
            count: senders,
            parallel: 16,
            kind: .chat,
            target: target,
            loop: loop,
            deadline: setupStart + .seconds(maxSeconds)
        ) { conn, index in try await driver.setupSender(conn, index: index) }
        guard opened.failures == 0 else {
            await closeAll(opened.connections, on: loop)
            try await group.shutdownGracefully()
            throw BenchError("\(opened.failures) senders failed; first: \(opened.firstError ?? "?")")
        }
        let conns = opened.connections
        let (perSender, window, size, maxSeconds) = (messages / senders, self.window, self.size, self.maxSeconds)
        let cpuBefore = probe.cpuSeconds
        let benchCPUBefore = ProcStats.selfCPUSeconds()
        let (run, finished) = try await loop.submit { () -> (NIOLoopBound<DurableRun>, EventLoopFuture<Void>) in
            let run = DurableRun(
                senders: conns.map(\.channel),
                perSender: perSender,
                window: window,
                deadline: .seconds(Int64(maxSeconds)),
                encode: driver.senderEncoder(size: size)
            )
            for (index, conn) in conns.enumerated() {
                conn.handler.value.durable = run
                conn.handler.value.senderIndex = index
                conn.handler.value.role = .sender
            }
            return (NIOLoopBound(run, eventLoop: loop), run.start())
        }.get()
        try await finished.get()
        let cpuAfter = probe.cpuSeconds
        let benchCPU = ProcStats.selfCPUSeconds() - benchCPUBefore
        let result = try await loop.submit { () -> JSONObject in
            let run = run.value
            var object: JSONObject = [
                "bench": "durable", "label": .string(label), "senders": .int(Int64(senders)),
                "window": .int(Int64(window)), "messages": .int(Int64(run.totalAcked)),
                "seconds": .double((run.seconds * 1000).rounded() / 1000),
                "sends_per_sec": .double(run.seconds > 0 ? (Double(run.totalAcked) / run.seconds).rounded() : 0),
                "ack_p50_ms": .double(run.histogram.percentileMs(0.50)),
                "ack_p99_ms": .double(run.histogram.percentileMs(0.99)),
                "ack_max_ms": .double(run.histogram.percentileMs(1.0)),
                "timed_out": .bool(run.timedOut), "errors": .int(Int64(run.errors)),
                "lost_connections": .int(Int64(run.lostConnections)),
                "bench_cpu_seconds": .double(round2(benchCPU)),
            ]
            if let firstError = run.firstError { object["first_error"] = .string(firstError) }
            if let cpuBefore, let cpuAfter { object["server_cpu_seconds"] = .double(round2(cpuAfter - cpuBefore)) }
            return object
        }.get()
        await closeAll(conns, on: loop)
        try await group.shutdownGracefully()
        emit(result)
    }
}

struct GenerateData: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gen-data",
        abstract: "Write a data directory holding M messages in R rooms (as a log, or as a snapshot)."
    )

    @Option(help: "Data directory to create (must not exist).") var dir: String
    @Option(help: "Messages.") var messages = 1_000_000
    @Option(help: "Rooms.") var rooms = 100
    @Option(help: "Text size in bytes.") var size = 100
    @Flag(help: "Write a snapshot instead of a log.") var snapshot = false
    @Option(
        help:
            "With --snapshot: compact as chat-server does with this --cache-mib (older messages in <dir>/cold, the snapshot holds each room's newest)."
    )
    var cacheMib: Int?
    @Option(help: "Spread the messages' times evenly over this many days up to now (default: 1 ms apart from now on).")
    var spanDays: Double?

    func run() throws {
        guard !FileManager.default.fileExists(atPath: dir) else { throw ValidationError("\(dir) exists") }
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let start = ContinuousClock.now
        var records: [LogRecord] = []
        let hash = try PasswordHasher(rounds: 1024).hash("bench-password")
        for u in 0..<10 { records.append(.userCreated(name: "user\(u)", passwordHash: hash, ts: 0)) }
        for r in 0..<rooms {
            records.append(.roomCreated(name: "room\(r)", epoch: PasswordHasher.newEpoch(), ts: 0))
            for u in 0..<10 { records.append(.memberAdded(room: "room\(r)", user: "user\(u)")) }
        }
        let directory = DataDirectory(dir)
        let text = String(repeating: "y", count: size - 8)
        var seqs = [Int64](repeating: 0, count: rooms)
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        let span = spanDays.map { Int64($0 * 86_400_000) } ?? Int64(messages)
        let first = spanDays == nil ? now : now - span
        func message(_ i: Int) -> LogRecord {
            let r = i % rooms
            seqs[r] += 1
            return .messageAppended(
                ChatMessage(
                    room: "room\(r)",
                    seq: seqs[r],
                    from: "user\(i % 10)",
                    text: String(format: "%08d", i) + text,
                    kind: .text,
                    ts: first + Int64((Double(i) * Double(span) / Double(max(messages, 1))).rounded(.down)),
                    nonce: nil
                )
            )
        }
        if snapshot {
            var state = ChatState()
            for record in records { state.apply(record) }
            for i in 0..<messages { state.apply(message(i)) }
            if let cacheMib {
                state.cold = try FileColdStore(path: dir + "/cold", generation: nil)
                let policy = HotWindow.budget(bytes: cacheMib << 20, minimum: HotWindow.defaultMinimum)
                _ = try Compaction.run(&state, policy: policy, generation: 1)
            }
            try SnapshotFile.write(state, generation: 1, in: directory)
            _ = FileManager.default.createFile(atPath: directory.logPath(1), contents: Data())
        } else {
            let fd = open(directory.logPath(0), O_WRONLY | O_CREAT | O_TRUNC, 0o600)
            var buffer: [UInt8] = []
            for record in records { RecordFraming.append(record, to: &buffer) }
            for i in 0..<messages {
                RecordFraming.append(message(i), to: &buffer)
                if buffer.count > 1 << 22 {
                    try buffer.withUnsafeBytes { try DataDirectory.writeAll(fd, $0, path: dir) }
                    buffer.removeAll(keepingCapacity: true)
                }
            }
            try buffer.withUnsafeBytes { try DataDirectory.writeAll(fd, $0, path: dir) }
            fsync(fd)
            close(fd)
        }
        emit([
            "bench": "gen-data", "messages": .int(Int64(messages)), "rooms": .int(Int64(rooms)),
            "snapshot": .bool(snapshot), "cache_mib": cacheMib.map { .int(Int64($0)) } ?? .null,
            "seconds": .double(seconds(start.duration(to: .now))),
        ])
    }
}

struct Startup: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Start chat-server on a data directory: time to /healthz, RSS, then SIGTERM and time to exit."
    )

    @Option(help: "Path of the chat-server binary.") var server = ".build/release/chat-server"
    @Option(help: "Data directory.") var dir: String
    @Option(help: "Port (loopback).") var port = 17_990
    @Option(help: "Give up after this many seconds.") var maxSeconds = 120
    @Argument(parsing: .postTerminator, help: "More chat-server flags, after --.") var serverFlags: [String] = []

    func run() async throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: server)
        process.arguments =
            ["--host", "127.0.0.1", "--port", "\(port)", "--data-dir", dir, "--log-level", "warning"] + serverFlags
        let start = ContinuousClock.now
        try process.run()
        let url = "ws://127.0.0.1:\(port)"
        var ready: Duration?
        while start.duration(to: .now) < .seconds(maxSeconds), process.isRunning {
            if (try? await httpStatus(url: url, path: "/healthz")) == 200 {
                ready = start.duration(to: .now)
                break
            }
            try await Task.sleep(for: .milliseconds(10))
        }
        guard let ready else {
            process.terminate()
            throw ValidationError("server did not become ready")
        }
        try await Task.sleep(for: .milliseconds(500))
        let rss = Self.rssKiB(process.processIdentifier)
        let stopStart = ContinuousClock.now
        process.terminate()
        while process.isRunning, stopStart.duration(to: .now) < .seconds(maxSeconds) {
            try await Task.sleep(for: .milliseconds(10))
        }
        emit([
            "bench": "startup", "dir": .string(dir), "ready_seconds": .double(seconds(ready)),
            "rss_mib": .double((Double(rss) / 1024).rounded()),
            "shutdown_seconds": .double(seconds(stopStart.duration(to: .now))),
            "exit": .int(Int64(process.isRunning ? -1 : process.terminationStatus)),
        ])
    }

    static func rssKiB(_ pid: Int32) -> Int {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return 0 }
        let line = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") } ?? ""
        return Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0
    }
}

struct RenderBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "render",
        abstract: "TUI render time: a full screen with a long scrollback, and keystroke to frame."
    )

    @Option(help: "Screen width.") var width = 200
    @Option(help: "Screen height.") var height = 60
    @Option(help: "Messages in the active room.") var messages = 10_000
    @Option(help: "Frames to render.") var iterations = 300

    func run() {
        var state = AppState(user: "alice", server: "ws://127.0.0.1:7878")
        state.connection = .connected
        state.now = 1_795_900_000_000
        let texts = [
            "short", "こんにちは、今日の会議は何時からですか？資料はもう共有されていますか。",
            "A longer English line that will certainly need to wrap at least once on a normal width terminal window.",
            "emoji 👍🏽 👨‍👩‍👧‍👦 🇯🇵 mixed with text", "한국어 메시지와 English 混在 text",
        ]
        for r in 0..<10 {
            var room = AppState.Room(name: "room\(r)")
            room.head = Int64(messages)
            room.read = Int64(messages - r * 3)
            state.rooms.append(room)
        }
        var list: [ChatMessage] = []
        list.reserveCapacity(messages)
        for i in 0..<messages {
            list.append(
                ChatMessage(
                    room: "room0",
                    seq: Int64(i + 1),
                    from: ["alice", "bob", "carol", "dave"][i % 4],
                    text: texts[i % texts.count],
                    kind: i % 50 == 0 ? .action : .text,
                    ts: state.now - Int64(messages - i) * 30_000
                )
            )
        }
        state.rooms[0].messages = list
        let size = Size(width: width, height: height)
        var renderTimes: [Double] = []
        var keyTimes: [Double] = []
        var sink = 0
        for i in 0..<iterations {
            let start = ContinuousClock.now
            let frame = render(state, size: size)
            renderTimes.append(seconds(start.duration(to: .now)) * 1000)
            sink &+= frame.cells.count
            let keyStart = ContinuousClock.now
            _ = update(&state, .key(.character(i % 2 == 0 ? "あ" : "a")))
            let next = render(state, size: size)
            sink &+= next == frame ? 0 : 1
            keyTimes.append(seconds(keyStart.duration(to: .now)) * 1000)
        }
        renderTimes.sort()
        keyTimes.sort()
        func q(_ values: [Double], _ p: Double) -> Double {
            (values[min(values.count - 1, Int(Double(values.count - 1) * p))] * 1000).rounded() / 1000
        }
        emit([
            "bench": "render", "width": .int(Int64(width)), "height": .int(Int64(height)),
            "messages": .int(Int64(messages)), "frames": .int(Int64(iterations)),
            "render_p50_ms": .double(q(renderTimes, 0.5)), "render_p99_ms": .double(q(renderTimes, 0.99)),
            "key_to_frame_p50_ms": .double(q(keyTimes, 0.5)), "key_to_frame_p99_ms": .double(q(keyTimes, 0.99)),
            "checksum": .int(Int64(sink % 1000)),
        ])
    }
}
