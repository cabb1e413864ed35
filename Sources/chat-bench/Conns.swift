import ArgumentParser
import ChatCore
import NIOCore
import NIOPosix

struct Conns: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Idle connections: opens N authenticated connections, holds them, reports server RSS per connection.",
        discussion: """
            Authenticated means: chat hello + resume (all connections share one user), irc NICK/USER \
            until 001, redis PING. With --join every connection also joins one room/channel. \
            bytes_per_conn = (RSS with all N open, after a 1 s settle − RSS before) / N.
            """
    )

    @Option(name: .customLong("protocol"), help: "chat, redis or irc.") var kind: BenchProtocol
    @Option(help: "Server URL (loopback).") var url: String
    @Option(help: "Connections to open (N).") var count = 1000
    @Option(help: "Server process to read RSS from (/proc).") var serverPid: Int32
    @Option(help: "Connections in set-up at once.") var parallel = 64
    @Option(help: "Seconds to hold the connections after the RSS reading, then check they are all still open.")
    var holdSeconds = 2
    @Flag(help: "Also join one room/channel on every connection.") var join = false
    @Option(help: "Give up opening connections after this many seconds.") var maxSeconds = 300
    @Option(help: "Label printed with the result.") var label = ""

    func validate() throws {
        guard count >= 1, parallel >= 1, holdSeconds >= 0 else {
            throw ValidationError("--count and --parallel must be at least 1, --hold-seconds at least 0")
        }
    }

    func run() async throws {
        ProcStats.raiseFileLimit()
        let target = try BenchTarget(url: url)
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let loop = group.next()
        let start = ContinuousClock.now
        let driver = try await BenchDriver.prepare(kind, target, on: loop, publisher: false)
        // After the account set-up: chat's scrypt hash alone takes 16 MiB, which is not per connection.
        let rssBefore = ProcStats.rssKiB(serverPid)
        let join = self.join
        let opened = await openConnections(
            count: count,
            parallel: parallel,
            kind: kind,
            target: target,
            loop: loop,
            deadline: start + .seconds(maxSeconds)
        ) { conn, index in
            if join {
                try await driver.setupSubscriber(conn, index: index)
            } else {
                try await driver.setupIdle(conn, index: index)
            }
        }
        let setupSeconds = seconds(start.duration(to: .now))
        let conns = opened.connections
        try await loop.submit { for conn in conns { conn.handler.value.role = .idle } }.get()
        try await Task.sleep(for: .seconds(1))
        let rssAfter = ProcStats.rssKiB(serverPid)
        try await Task.sleep(for: .seconds(holdSeconds))
        let open = try await loop.submit { conns.filter { $0.handler.value.isOpen }.count }.get()
        await closeAll(conns, on: loop)
        try await group.shutdownGracefully()

        var result: JSONObject = [
            "bench": "conns", "protocol": .string(kind.rawValue), "label": .string(label),
            "count": .int(Int64(count)), "opened": .int(Int64(conns.count)), "failures": .int(Int64(opened.failures)),
            "open_after_hold": .int(Int64(open)), "held": .bool(open == count), "joined": .bool(join),
            "setup_seconds": .double(round2(setupSeconds)),
        ]
        if let firstError = opened.firstError { result["first_error"] = .string(firstError) }
        if let rssBefore, let rssAfter {
            result["server_rss_before_kib"] = .int(Int64(rssBefore))
            result["server_rss_after_kib"] = .int(Int64(rssAfter))
            let perConn = Double(rssAfter - rssBefore) * 1024 / Double(max(1, conns.count))
            result["bytes_per_conn"] = .double(perConn.rounded())
        }
        emit(result)
    }
}
