import ChatConformance
import ChatCore
import Foundation
import Synchronization
import Testing

/// Real processes, real SIGKILLs: nothing acknowledged may be lost.
@Suite("Crash safety (processes)", .serialized)
struct CrashTests {
    /// What the senders saw acknowledged: seq → text.
    final class Acks: Sendable {
        let map = Mutex<[Int64: String]>([:])
        func add(_ seq: Int64, _ text: String) { map.withLock { $0[seq] = text } }
        var all: [Int64: String] { map.withLock { $0 } }
    }

    static func start(
        _ dataDir: String,
        fsync: String = "always",
        extra: [String] = []
    ) async throws
        -> ProcessTests.Running
    {
        try await ProcessTests.startServer(
            dataDir: dataDir,
            extra: [
                "--fsync", fsync == "postgres" ? "always" : fsync, "--rate-burst", "100000",
                "--rate-per-sec", "100000",
            ] + extra
        )
    }

    /// Every message of a room, paging with `after`.
    static func history(_ client: WireClient, room: String) async throws -> [JSONObject] {
        var all: [JSONObject] = []
        while true {
            let reply = try expectOK(
                try await client.request(
                    "history",
                    ["room": .string(room), "after": .int(Int64(all.count)), "limit": 500]
                ),
                "history"
            )
            let page = try messageList(reply)
            all += page
            if reply["more"]?.boolValue != true || page.isEmpty { return all }
        }
    }

    /// Checks that every acknowledged message is stored with its seq and text, and seqs have no holes.
    static func verify(_ url: String, token: String, room: String, acks: Acks, trial: Int) async throws {
        let context = ConformanceContext(url: url, limits: Limits())
        let client = try await context.helloClient()
        try expectOK(try await client.request("resume", ["token": .string(token)]), "resume after restart")
        let stored = try await history(client, room: room)
        let seqs = stored.compactMap { $0["seq"]?.intValue }
        #expect(seqs == Array(stride(from: Int64(1), through: Int64(seqs.count), by: 1)), "trial \(trial): holes")
        let texts = Dictionary(
            uniqueKeysWithValues: stored.map { ($0["seq"]?.intValue ?? 0, $0["text"]?.stringValue ?? "") }
        )
        var missing = 0
        for (seq, text) in acks.all where texts[seq] != text { missing += 1 }
        #expect(missing == 0, "trial \(trial): \(missing) acknowledged messages lost or changed")
        #expect(Set(texts.values).count == texts.count, "trial \(trial): a message stored twice")
        await client.disconnect()
    }

    /// Flags that make the server compact all the time: a snapshot every second moving all but
    /// each room's newest 20 messages to the cold store (issue 16).
    static let compacting = ["--hot-messages", "20", "--snapshot-interval", "1", "--snapshot-log-mib", "1"]

    /// A process crash loses nothing acknowledged under any policy: `always` acknowledges after
    /// fsync, `everysec` after write(2) (the page cache outlives the process). With compaction
    /// running every second, the kills also land in the middle of compactions.
    @Test(
        "kill -9 under concurrent senders never loses an acknowledged message, nor stores one twice",
        .timeLimit(.minutes(5)),
        arguments: [
            ("always", false), ("everysec", false), ("always", true), ("everysec", true), ("postgres", false),
        ]
    )
    func killNineUnderLoad(fsync: String, compacting: Bool) async throws {
        let dataDir = NSTemporaryDirectory() + "chat-crash-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dataDir) }
        var extra = compacting ? Self.compacting : []
        // "postgres": the state lives in a database of the tests' cluster (`--postgres`, issue 17).
        if fsync == "postgres" { extra += ["--postgres", TestPostgres.url(try await TestPostgres.database())] }
        var server = try await Self.start(dataDir, fsync: fsync, extra: extra)
        let context = ConformanceContext(url: server.url, limits: Limits())
        let (owner, room) = try await context.newUserInNewRoom("owner", room: "crash")
        var senders: [TestUser] = []
        for i in 0..<4 {
            let user = try await context.newUser("s\(i)")
            try await context.join(user.client, room)
            senders.append(user)
        }
        let acks = Acks()
        let trials =
            Int(ProcessInfo.processInfo.environment["CHAT_CRASH_TRIALS"] ?? "") ?? (fsync == "postgres" ? 3 : 6)
        var totalAcked = 0
        for trial in 0..<trials {
            let url = server.url
            let tokens = senders.map(\.token)
            let before = acks.all.count
            try await withThrowingTaskGroup(of: Void.self) { group in
                for (i, token) in tokens.enumerated() {
                    group.addTask {
                        let ctx = ConformanceContext(url: url, limits: Limits())
                        guard let c = try? await ctx.helloClient(),
                            (try? await c.request("resume", ["token": .string(token)]))?["type"]?.stringValue == "ok"
                        else { return }
                        for n in 0..<100_000 {
                            let text = "t\(trial)-s\(i)-n\(n)"
                            guard
                                let reply = try? await c.request(
                                    "send",
                                    ["room": .string(room), "text": .string(text)]
                                ),
                                reply["type"]?.stringValue == "ok", let seq = reply["seq"]?.intValue
                            else { return }
                            acks.add(seq, text)
                        }
                    }
                }
                // Kill while the senders are busy: after the first new acknowledgement (a loaded
                // machine can take longer than the random delay to get there), then at a random point.
                for _ in 0..<400 where acks.all.count == before {
                    try await Task.sleep(for: .milliseconds(25))
                }
                try await Task.sleep(for: .milliseconds(Int.random(in: 0...450)))
                kill(server.process.processIdentifier, SIGKILL)
                try await group.waitForAll()
            }
            _ = try await ProcessTests.waitForExit(server.process)
            totalAcked = acks.all.count
            #expect(totalAcked > before, "trial \(trial): the senders got acknowledgements before the kill")
            server = try await Self.start(dataDir, fsync: fsync, extra: extra)
            try await Self.verify(server.url, token: owner.token, room: room, acks: acks, trial: trial)
        }
        server.process.terminate()
        _ = try await ProcessTests.waitForExit(server.process)
        if compacting {
            let cold = (try? FileManager.default.contentsOfDirectory(atPath: dataDir + "/cold")) ?? []
            #expect(cold.contains { $0.hasPrefix("manifest-") }, "compactions ran")
        }
        print(
            "crash test (--fsync \(fsync)\(compacting ? ", compacting" : "")): \(trials) SIGKILLs, "
                + "\(totalAcked) acknowledged messages, none lost"
        )
    }

    @Test(
        "garbage appended to the log (torn tail) is truncated; everything acknowledged survives",
        arguments: [false, true]
    )
    func tornTail(compacting: Bool) async throws {
        let dataDir = NSTemporaryDirectory() + "chat-torn-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dataDir) }
        let extra = compacting ? Self.compacting : []
        var server = try await Self.start(dataDir, extra: extra)
        let context = ConformanceContext(url: server.url, limits: Limits())
        let (user, room) = try await context.newUserInNewRoom("torn", room: "torn")
        let acks = Acks()
        for i in 0..<50 {
            let reply = try expectOK(
                try await user.client.request("send", ["room": .string(room), "text": .string("m\(i)")]),
                "send"
            )
            acks.add(reply["seq"]?.intValue ?? 0, "m\(i)")
            if compacting && i == 24 { try await Task.sleep(for: .milliseconds(2_500)) }  // a compaction or two
        }
        kill(server.process.processIdentifier, SIGKILL)
        _ = try await ProcessTests.waitForExit(server.process)
        let logs = try FileManager.default.contentsOfDirectory(atPath: dataDir).filter { $0.hasPrefix("log-") }.sorted()
        let last = try #require(logs.last)
        let handle = try #require(FileHandle(forWritingAtPath: dataDir + "/" + last))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data((0..<777).map { _ in UInt8.random(in: 0...255) }))
        try handle.close()
        server = try await Self.start(dataDir, extra: extra)
        try await Self.verify(server.url, token: user.token, room: room, acks: acks, trial: 0)
        let log = server.log
        #expect(log.contains("torn tail"), "the truncation is reported: \(log)")
        server.process.terminate()
        _ = try await ProcessTests.waitForExit(server.process)
    }

    @Test("a truncated snapshot stops the start with the file named; --repair starts anyway")
    func truncatedSnapshot() async throws {
        let dataDir = NSTemporaryDirectory() + "chat-snap-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dataDir) }
        var server = try await Self.start(dataDir)
        let context = ConformanceContext(url: server.url, limits: Limits())
        let (user, room) = try await context.newUserInNewRoom("snap", room: "snap")
        _ = try await context.sendMany(user.client, room, count: 20)
        kill(server.process.processIdentifier, SIGTERM)
        #expect(try await ProcessTests.waitForExit(server.process) == 0)
        let snapshot = try #require(
            try FileManager.default.contentsOfDirectory(atPath: dataDir).first { $0.hasSuffix(".snap") },
            "a clean shutdown writes a snapshot"
        )
        let path = dataDir + "/" + snapshot
        let size = try #require(try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int)
        try #require(truncate(path, off_t(size - 30)) == 0)

        let failing = Process()
        failing.executableURL = try ProcessTests.executable("chat-server")
        failing.arguments = ["--host", "127.0.0.1", "--port", "\(try ProcessTests.freePort())", "--data-dir", dataDir]
        let stderr = Pipe()
        failing.standardError = stderr
        try failing.run()
        let status = try await ProcessTests.waitForExit(failing)
        let message = String(decoding: stderr.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(status == 2)
        #expect(message.contains(snapshot), "the message names the file: \(message)")

        server = try await Self.start(dataDir, extra: ["--repair"])
        let client = try await ConformanceContext(url: server.url, limits: Limits()).helloClient()
        try expectOK(try await client.request("resume", ["token": .string(user.token)]), "resume after repair")
        server.process.terminate()
        _ = try await ProcessTests.waitForExit(server.process)
    }
}
