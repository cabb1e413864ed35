import ArgumentParser
import ChatCore
import NIOCore
import NIOPosix

struct Fanout: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Fan-out: N subscribers in one room/channel, one publisher, M messages of S bytes, W in flight.",
        discussion: """
            Prints one JSON line: deliveries/s (messages received by all subscribers per second), \
            publish→delivery latency p50/p99/max from a timestamp inside each payload, and with \
            --server-pid the server's CPU seconds and RSS. chat subscribers share one user (one \
            register, then resume on every connection); the publisher is a second user. The load \
            generator runs on one event-loop thread.
            """
    )

    @Option(name: .customLong("protocol"), help: "chat, redis or irc.") var kind: BenchProtocol
    @Option(help: "Server URL (loopback): ws://127.0.0.1:7878, redis://127.0.0.1:6379, irc://127.0.0.1:6667.")
    var url: String
    @Option(
        help: """
            chat: the subscribers' server URL when it is another node of a cluster (default: --url), \
            for publish→deliver across nodes.
            """
    )
    var subscriberUrl: String?
    @Option(help: "Subscriber connections (N).") var subscribers = 100
    @Option(help: "Messages to publish (M).") var messages = 10_000
    @Option(help: "Payload size in bytes (S, at least 40).") var size = 100
    @Option(help: "Messages in flight at most (W): published but not yet received by every subscriber.")
    var window = 64
    @Option(help: "Publish at most this many messages per second (open loop, still bounded by the window).")
    var rate: Double?
    @Option(help: "Server process to read CPU time and RSS from (/proc).") var serverPid: Int32?
    @Option(help: "Connections in set-up at once.") var parallel = 64
    @Option(help: "irc: OPER name:password for the publisher, then MODE +F (ngircd's flood exemption).")
    var ircOper: String?
    @Option(help: "Give up after this many seconds (set-up and measurement each).") var maxSeconds = 120
    @Option(help: "Label printed with the result.") var label = ""

    func validate() throws {
        guard subscribers >= 1, messages >= 1, window >= 1, parallel >= 1 else {
            throw ValidationError("--subscribers, --messages, --window and --parallel must be at least 1")
        }
        guard size >= 40 else { throw ValidationError("--size must be at least 40 (the payload holds a timestamp)") }
    }

    func run() async throws {
        ProcStats.raiseFileLimit()
        let target = try BenchTarget(url: url)
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let loop = group.next()
        let probe = ServerProbe(pid: serverPid)
        let setupStart = ContinuousClock.now
        var driver = try await BenchDriver.prepare(kind, target, on: loop, publisher: true)
        // After the account set-up: chat's scrypt hashes take 16 MiB each, which is not per subscriber.
        let rssBefore = probe.rssKiB
        if let ircOper, let colon = ircOper.firstIndex(of: ":") {
            driver.ircOper = (String(ircOper[..<colon]), String(ircOper[ircOper.index(after: colon)...]))
        }
        let setupDriver = driver
        let opened = await openConnections(
            count: subscribers,
            parallel: parallel,
            kind: kind,
            target: try subscriberUrl.map { try BenchTarget(url: $0) } ?? target,
            loop: loop,
            deadline: setupStart + .seconds(maxSeconds)
        ) { conn, index in try await setupDriver.setupSubscriber(conn, index: index) }
        guard opened.failures == 0 else {
            await closeAll(opened.connections, on: loop)
            try await group.shutdownGracefully()
            throw BenchError("\(opened.failures) subscribers failed; first: \(opened.firstError ?? "?")")
        }
        let subs = opened.connections
        let publisher = try await driver.openPublisher(on: loop)
        let setupSeconds = seconds(setupStart.duration(to: .now))
        // Let the join storm drain before measuring.
        try await Task.sleep(for: .milliseconds(500))
        let rssConnected = probe.rssKiB
        let cpuBefore = probe.cpuSeconds
        let benchCPUBefore = ProcStats.selfCPUSeconds()
        let machineBefore = ProcStats.machineBusySeconds()
        let (messages, window, size, maxSeconds, rate) = (
            self.messages, self.window, self.size, self.maxSeconds, self.rate
        )
        let (run, finished) = try await loop.submit { () -> (NIOLoopBound<FanoutRun>, EventLoopFuture<Void>) in
            let run = FanoutRun(
                subscribers: subs.count,
                messages: messages,
                window: window,
                publisher: publisher.channel,
                deadline: .seconds(Int64(maxSeconds)),
                rate: rate,
                encode: setupDriver.encoder(size: size)
            )
            for sub in subs {
                sub.handler.value.run = run
                sub.handler.value.role = .subscriber
            }
            publisher.handler.value.run = run
            publisher.handler.value.role = .publisher
            return (NIOLoopBound(run, eventLoop: loop), run.start())
        }.get()
        try await finished.get()
        let cpuAfter = probe.cpuSeconds
        let benchCPU = ProcStats.selfCPUSeconds() - benchCPUBefore
        let machineBusy = ProcStats.machineBusySeconds() - machineBefore
        let rssAfter = probe.rssKiB
        var result = try await loop.submit { run.value.summary() }.get()
        await closeAll(subs + [publisher], on: loop)
        try await group.shutdownGracefully()

        result.fields.insert(contentsOf: [("bench", "fanout"), ("protocol", .string(kind.rawValue))], at: 0)
        result["label"] = .string(label)
        result["size"] = .int(Int64(size))
        result["window"] = .int(Int64(window))
        result["setup_seconds"] = .double(round2(setupSeconds))
        result["bench_cpu_seconds"] = .double(round2(benchCPU))
        if let rate { result["rate"] = .double(rate) }
        if let cpuBefore, let cpuAfter {
            let serverCPU = cpuAfter - cpuBefore
            result["server_cpu_seconds"] = .double(round2(serverCPU))
            // What other processes on the machine used meanwhile (other builds, for instance).
            result["other_cpu_seconds"] = .double(round2(max(0, machineBusy - serverCPU - benchCPU)))
        }
        if let rssBefore { result["server_rss_before_kib"] = .int(Int64(rssBefore)) }
        if let rssConnected { result["server_rss_connected_kib"] = .int(Int64(rssConnected)) }
        if let rssAfter { result["server_rss_after_kib"] = .int(Int64(rssAfter)) }
        emit(result)
    }
}

extension FanoutRun {
    /// The run's figures as JSON fields.
    func summary() -> JSONObject {
        var object: JSONObject = [
            "subscribers": .int(Int64(subscribers)), "messages": .int(Int64(messages)),
            "completed": .int(Int64(completed)), "deliveries": .int(Int64(deliveries)),
            "seconds": .double((seconds * 1000).rounded() / 1000),
            "deliveries_per_sec": .double(seconds > 0 ? (Double(deliveries) / seconds).rounded() : 0),
            "messages_per_sec": .double(seconds > 0 ? (Double(completed) / seconds).rounded() : 0),
            "latency_p50_ms": .double(histogram.percentileMs(0.50)),
            "latency_p99_ms": .double(histogram.percentileMs(0.99)),
            "latency_max_ms": .double(histogram.percentileMs(1.0)),
            "timed_out": .bool(timedOut), "publish_errors": .int(Int64(publishErrors)),
            "lost_connections": .int(Int64(lostConnections)), "unexpected": .int(Int64(unexpected)),
        ]
        if let firstError { object["first_error"] = .string(firstError) }
        return object
    }
}

func round2(_ value: Double) -> Double { (value * 100).rounded() / 100 }
