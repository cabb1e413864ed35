import ChatConformance
import ChatCore
import ChatServer
import Foundation
import PostgresNIO
import Synchronization
import Testing

/// A `chat-server --postgres` process while its PostgreSQL restarts (issue 17): on a cluster of
/// its own, so the restart does not disturb the other tests' databases.
@Suite("PostgreSQL restarted under load (processes)")
struct PostgresRestartTests {
    /// What the senders and the health poller saw.
    final class Seen: Sendable {
        let internalErrors = Atomic<Int>(0)
        let unhealthy = Atomic<Int>(0)
        let stop = Atomic<Bool>(false)
    }

    @Test(
        "internal and 503 while PostgreSQL is down; then nothing acknowledged is lost, no gap, none twice",
        .timeLimit(.minutes(3))
    )
    func restartUnderLoad() async throws {
        try await TestPostgres.afterStartBurst()
        let dir = NSTemporaryDirectory() + "chat-test-pg-restart-\(UUID().uuidString)"
        let url = try await TestPostgres.cluster(["start", dir, "\(getpid())"])
        defer { _ = try? FileManager.default.removeItem(atPath: dir) }
        let dataDir = NSTemporaryDirectory() + "chat-pg-node-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dataDir) }
        let server = try await ProcessTests.startServer(
            dataDir: dataDir,
            extra: ["--postgres", url, "--rate-burst", "100000", "--rate-per-sec", "100000"]
        )
        // Not left running when an expectation throws (it would retry its dead cluster forever).
        defer { kill(server.process.processIdentifier, SIGKILL) }
        let context = ConformanceContext(url: server.url, limits: Limits())
        let (owner, room) = try await context.newUserInNewRoom("owner", room: "restart")
        var senders: [TestUser] = []
        for i in 0..<4 {
            let user = try await context.newUser("s\(i)")
            try await context.join(user.client, room)
            senders.append(user)
        }
        let acks = CrashTests.Acks()
        let seen = Seen()
        let serverURL = server.url
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (i, token) in senders.map(\.token).enumerated() {
                group.addTask {
                    let client = try await ConformanceContext(url: serverURL, limits: Limits()).helloClient()
                    try expectOK(try await client.request("resume", ["token": .string(token)]), "resume")
                    // A client as the protocol asks: a send refused with `internal` is sent again
                    // with the same nonce until it is acknowledged.
                    var n = 0
                    while !seen.stop.load(ordering: .relaxed) {
                        let text = "s\(i)-n\(n)"
                        let reply = try await client.request(
                            "send",
                            ["room": .string(room), "text": .string(text), "nonce": .string(text)]
                        )
                        if reply["type"]?.stringValue == "ok", let seq = reply["seq"]?.intValue {
                            acks.add(seq, text)
                            n += 1
                            // Paced (a few hundred sends/s in all): load enough to be caught by the
                            // restart, not enough to starve the tests that run beside this one.
                            try await Task.sleep(for: .milliseconds(5))
                        } else if reply["code"]?.stringValue == "internal" {
                            seen.internalErrors.add(1, ordering: .relaxed)
                            try await Task.sleep(for: .milliseconds(50))
                        } else {
                            Issue.record("unexpected reply: \(reply)")
                            return
                        }
                    }
                }
            }
            group.addTask {
                while !seen.stop.load(ordering: .relaxed) {
                    if (try? await httpStatus(url: serverURL, path: "/healthz")) == 503 {
                        seen.unhealthy.add(1, ordering: .relaxed)
                    }
                    try await Task.sleep(for: .milliseconds(50))
                }
            }
            for _ in 0..<400 where acks.all.count < 200 { try await Task.sleep(for: .milliseconds(25)) }
            let before = acks.all.count
            // Down (a fast shutdown disconnects the node) until a change has been refused, then
            // back on the same port. The probe makes the refusal certain even when the senders
            // are slowed down by the tests running beside this one.
            _ = try await TestPostgres.cluster(["down", dir])
            let probe = try await owner.client.request(
                "send",
                ["room": .string(room), "text": "probe", "nonce": "probe"]
            )
            #expect(probe["code"]?.stringValue == "internal", "a send while PostgreSQL is down: \(probe)")
            #expect(try await httpStatus(url: serverURL, path: "/healthz") == 503)
            try await Task.sleep(for: .seconds(1))
            _ = try await TestPostgres.cluster(["up", dir])
            var healthy = false
            for _ in 0..<300 {
                if (try? await httpStatus(url: serverURL, path: "/healthz")) == 200 {
                    healthy = true
                    break
                }
                try await Task.sleep(for: .milliseconds(100))
            }
            #expect(healthy, "the node accepts changes again after PostgreSQL is back")
            let back = acks.all.count
            for _ in 0..<400 where acks.all.count < back + 200 { try await Task.sleep(for: .milliseconds(25)) }
            seen.stop.store(true, ordering: .relaxed)
            try await group.waitForAll()
            #expect(before >= 200 && acks.all.count >= back + 200, "sends went on before and after the restart")
        }
        // The probe refused meanwhile, sent again with its nonce, is stored once.
        let retried = try expectOK(
            try await owner.client.request("send", ["room": .string(room), "text": "probe", "nonce": "probe"]),
            "the probe again"
        )
        if let seq = retried["seq"]?.intValue { acks.add(seq, "probe") }
        try await CrashTests.verify(server.url, token: owner.token, room: room, acks: acks, trial: 0)
        server.process.terminate()
        #expect(try await ProcessTests.waitForExit(server.process) == 0)
        _ = try await TestPostgres.cluster(["stop", dir])
        print(
            "PostgreSQL restart: \(acks.all.count) acknowledged messages, none lost; "
                + "\(seen.internalErrors.load(ordering: .relaxed)) sends refused with internal meanwhile"
        )
    }

    @Test(
        "kill -9 of the serving node: a standby takes over; nothing acknowledged lost, no gap, none twice",
        .timeLimit(.minutes(3))
    )
    func standbyTakesOver() async throws {
        try await TestPostgres.afterStartBurst()
        let settings = try await TestPostgres.database()
        let url = TestPostgres.url(settings)
        let flags = ["--postgres", url, "--rate-burst", "100000", "--rate-per-sec", "100000"]
        let first = try await ProcessTests.startServer(extra: flags)
        defer {
            kill(first.process.processIdentifier, SIGKILL)
            try? FileManager.default.removeItem(atPath: first.dataDir)
        }
        let context = ConformanceContext(url: first.url, limits: Limits())
        let (owner, room) = try await context.newUserInNewRoom("owner", room: "failover")
        var senders: [TestUser] = []
        for i in 0..<4 {
            let user = try await context.newUser("s\(i)")
            try await context.join(user.client, room)
            senders.append(user)
        }
        // The standby starts while the first node serves: it waits without listening.
        let standby = Task { try await ProcessTests.startServer(extra: flags + ["--standby"]) }
        let acks = CrashTests.Acks()
        let firstURL = first.url
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (i, token) in senders.map(\.token).enumerated() {
                group.addTask {
                    let ctx = ConformanceContext(url: firstURL, limits: Limits())
                    guard let c = try? await ctx.helloClient(),
                        (try? await c.request("resume", ["token": .string(token)]))?["type"]?.stringValue == "ok"
                    else { return }
                    for n in 0..<100_000 {
                        let text = "s\(i)-n\(n)"
                        guard
                            let reply = try? await c.request("send", ["room": .string(room), "text": .string(text)]),
                            reply["type"]?.stringValue == "ok", let seq = reply["seq"]?.intValue
                        else { return }
                        acks.add(seq, text)
                        try? await Task.sleep(for: .milliseconds(5))  // paced, as in the restart test
                    }
                }
            }
            for _ in 0..<400 where acks.all.count < 300 { try await Task.sleep(for: .milliseconds(25)) }
            // The standby has connected (beside the first node's one connection), and polls the lock.
            for _ in 0..<200 {
                let connections = try await TestPostgres.with(settings) { client in
                    try await client.query(
                        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()",
                        logger: TestPostgres.logger
                    ).collect().first?.decode(Int64.self) ?? 0
                }
                if connections >= 2 { break }
                try await Task.sleep(for: .milliseconds(100))
            }
            try await Task.sleep(for: .milliseconds(1_200))
            kill(first.process.processIdentifier, SIGKILL)
            try await group.waitForAll()
        }
        _ = try await ProcessTests.waitForExit(first.process)
        let second = try await standby.value
        defer {
            kill(second.process.processIdentifier, SIGKILL)
            try? FileManager.default.removeItem(atPath: second.dataDir)
        }
        #expect(second.log.contains("standby: another node serves this database"), "it waited as a standby")
        #expect(acks.all.count >= 300)
        try await CrashTests.verify(second.url, token: owner.token, room: room, acks: acks, trial: 0)
        second.process.terminate()
        #expect(try await ProcessTests.waitForExit(second.process) == 0)
        print("standby took over: \(acks.all.count) acknowledged messages on the first node, none lost")
    }

    @Test("a node cut off from PostgreSQL that finds another node serving when it reconnects exits with status 3")
    func takenOver() async throws {
        let settings = try await TestPostgres.database()
        let node = try await ProcessTests.startServer(extra: ["--postgres", TestPostgres.url(settings)])
        defer {
            kill(node.process.processIdentifier, SIGKILL)
            try? FileManager.default.removeItem(atPath: node.dataDir)
        }
        let context = ConformanceContext(url: node.url, limits: Limits())
        let (owner, room) = try await context.newUserInNewRoom("owner", room: "split")
        try expectOK(try await owner.client.request("send", ["room": .string(room), "text": "one"]), "send")
        let connection = try await PostgresConnection.connect(
            configuration: try settings.connectionConfiguration(),
            id: 9,
            logger: TestPostgres.logger
        )
        // Cut the node off, and take the serving lock as another node would.
        try await connection.query(
            """
            SELECT pg_terminate_backend(pid) FROM pg_stat_activity
            WHERE datname = current_database() AND pid <> pg_backend_pid()
            """,
            logger: TestPostgres.logger
        )
        try await connection.query(
            "SELECT pg_advisory_lock(\(PostgresChatStore.servingLockKey))",
            logger: TestPostgres.logger
        )
        // Its next write finds the connection gone, reconnects, and meets the lock.
        let reply = try? await owner.client.request("send", ["room": .string(room), "text": "two"])
        #expect(reply?["type"]?.stringValue != "ok", "a change is not acknowledged: \(String(describing: reply))")
        let status = try await ProcessTests.waitForExit(node.process)
        try await connection.close()
        #expect(status == 3)
        #expect(node.log.contains("another node took over this database"))
    }
}
