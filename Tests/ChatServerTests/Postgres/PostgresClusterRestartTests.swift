import ChatConformance
import ChatCore
import ChatServer
import Foundation
import PostgresNIO
import Synchronization
import Testing

/// A cluster of `chat-server --postgres URL --cluster` processes when a node or PostgreSQL dies
/// under load (issue 17).
@Suite("A cluster when a node or PostgreSQL dies")
struct PostgresClusterRestartTests {
    final class Seen: Sendable {
        let internalErrors = Atomic<Int>(0)
        let moves = Atomic<Int>(0)
        let stop = Atomic<Bool>(false)
    }

    static let flags = ["--cluster", "--rate-burst", "100000", "--rate-per-sec", "100000"]

    /// A client as a load balancer in front of the nodes gives it: when its connection closes it
    /// connects to the next node and resumes; a send refused with `internal` (or lost with the
    /// connection) is sent again with the same nonce until it is acknowledged.
    static func sender(
        _ i: Int,
        token: String,
        room: String,
        urls: [String],
        acks: CrashTests.Acks,
        seen: Seen
    ) async throws {
        var node = i % urls.count
        func connect() async throws -> WireClient {
            let deadline = ContinuousClock.now + .seconds(30)
            while true {
                if let client = try? await ConformanceContext(url: urls[node], limits: Limits()).helloClient(),
                    (try? await client.request("resume", ["token": .string(token)]))?["type"]?.stringValue == "ok"
                {
                    return client
                }
                guard ContinuousClock.now < deadline else { throw TestPostgresError("no node answers") }
                node = (node + 1) % urls.count
                try await Task.sleep(for: .milliseconds(100))
            }
        }
        var client = try await connect()
        var n = 0
        while !seen.stop.load(ordering: .relaxed) {
            let text = "s\(i)-n\(n)"
            guard
                let reply = try? await client.request(
                    "send",
                    ["room": .string(room), "text": .string(text), "nonce": .string(text)]
                )
            else {
                seen.moves.add(1, ordering: .relaxed)
                node = (node + 1) % urls.count
                client = try await connect()
                continue
            }
            if reply["type"]?.stringValue == "ok", let seq = reply["seq"]?.intValue {
                acks.add(seq, text)
                n += 1
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

    @Test(
        "kill -9 of a node under load: its clients move to the other node; nothing acknowledged lost, no gap, none twice; its users go offline",
        .timeLimit(.minutes(3))
    )
    func killNodeUnderLoad() async throws {
        try await TestPostgres.afterStartBurst()
        let settings = try await TestPostgres.database()
        let flags = ["--postgres", TestPostgres.url(settings)] + Self.flags
        let a = try await ProcessTests.startServer(extra: flags)
        defer {
            kill(a.process.processIdentifier, SIGKILL)
            try? FileManager.default.removeItem(atPath: a.dataDir)
        }
        let b = try await ProcessTests.startServer(extra: flags)
        defer {
            kill(b.process.processIdentifier, SIGKILL)
            try? FileManager.default.removeItem(atPath: b.dataDir)
        }
        let onA = ConformanceContext(url: a.url, limits: Limits())
        let onB = ConformanceContext(url: b.url, limits: Limits())
        let (owner, room) = try await onA.newUserInNewRoom("owner", room: "nodekill")
        // A user only on a, and a member on b who watches its presence.
        let present = try await onA.newUser("present")
        try await onA.join(present.client, room)
        let watcher = try await onB.newUser("watcher")
        try await onB.join(watcher.client, room)
        var tokens: [String] = []
        for i in 0..<4 {
            let user = try await onA.newUser("s\(i)")
            try await onA.join(user.client, room)
            tokens.append(user.token)
        }
        let acks = CrashTests.Acks()
        let seen = Seen()
        let urls = [a.url, b.url]
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (i, token) in tokens.enumerated() {
                group.addTask {
                    try await Self.sender(i, token: token, room: room, urls: urls, acks: acks, seen: seen)
                }
            }
            for _ in 0..<400 where acks.all.count < 300 { try await Task.sleep(for: .milliseconds(25)) }
            kill(a.process.processIdentifier, SIGKILL)
            let killed = acks.all.count
            for _ in 0..<600 where acks.all.count < killed + 300 { try await Task.sleep(for: .milliseconds(25)) }
            seen.stop.store(true, ordering: .relaxed)
            try await group.waitForAll()
            #expect(killed >= 300 && acks.all.count >= killed + 300, "sends went on on b after a died")
        }
        #expect(seen.moves.load(ordering: .relaxed) >= 2, "the senders on a moved to b")
        // Within the heartbeat limit (10 s) b says the user only on a went offline (the senders
        // went offline with a too, and online again on b).
        var presence: [ChatEvent] = []
        while presence.last != .presence(user: present.name, online: false) {
            presence.append(try await watcher.client.nextChatEvent("presence"))
        }
        print("presence seen on b: \(presence)")
        try await CrashTests.verify(b.url, token: owner.token, room: room, acks: acks, trial: 0)
        b.process.terminate()
        #expect(try await ProcessTests.waitForExit(b.process) == 0)
        print("node killed: \(acks.all.count) acknowledged messages across two nodes, none lost")
    }

    @Test(
        "PostgreSQL restarted under two nodes: internal and 503 meanwhile; then nothing acknowledged lost, no gap, none twice",
        .timeLimit(.minutes(3))
    )
    func restartUnderLoad() async throws {
        try await TestPostgres.afterStartBurst()
        let dir = NSTemporaryDirectory() + "chat-test-pg-cluster-restart-\(UUID().uuidString)"
        let url = try await TestPostgres.cluster(["start", dir, "\(getpid())"])
        defer { _ = try? FileManager.default.removeItem(atPath: dir) }
        let flags = ["--postgres", url] + Self.flags
        let a = try await ProcessTests.startServer(extra: flags)
        defer {
            kill(a.process.processIdentifier, SIGKILL)
            try? FileManager.default.removeItem(atPath: a.dataDir)
        }
        let b = try await ProcessTests.startServer(extra: flags)
        defer {
            kill(b.process.processIdentifier, SIGKILL)
            try? FileManager.default.removeItem(atPath: b.dataDir)
        }
        let onA = ConformanceContext(url: a.url, limits: Limits())
        let (owner, room) = try await onA.newUserInNewRoom("owner", room: "pgrestart")
        var tokens: [String] = []
        for i in 0..<4 {
            let user = try await onA.newUser("s\(i)")
            try await onA.join(user.client, room)
            tokens.append(user.token)
        }
        let acks = CrashTests.Acks()
        let seen = Seen()
        let urls = [a.url, b.url]
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (i, token) in tokens.enumerated() {
                group.addTask {
                    try await Self.sender(i, token: token, room: room, urls: urls, acks: acks, seen: seen)
                }
            }
            for _ in 0..<400 where acks.all.count < 200 { try await Task.sleep(for: .milliseconds(25)) }
            let before = acks.all.count
            _ = try await TestPostgres.cluster(["down", dir])
            // Each node refuses changes and says 503.
            for node in [a, b] {
                let context = ConformanceContext(url: node.url, limits: Limits())
                let probe = try await context.newUserOrRefusal()
                #expect(probe == "internal", "a sign-up while PostgreSQL is down on \(node.url): \(probe)")
                var status = 0
                for _ in 0..<100 {
                    status = (try? await httpStatus(url: node.url, path: "/healthz")) ?? 0
                    if status == 503 { break }
                    try await Task.sleep(for: .milliseconds(50))
                }
                #expect(status == 503)
            }
            try await Task.sleep(for: .seconds(1))
            _ = try await TestPostgres.cluster(["up", dir])
            var healthy = 0
            for node in [a, b] {
                for _ in 0..<300 {
                    if (try? await httpStatus(url: node.url, path: "/healthz")) == 200 {
                        healthy += 1
                        break
                    }
                    // A node whose last batch was being committed when PostgreSQL went away, and
                    // whose rooms another node wrote to first, exits with 3 to reload.
                    if !node.process.isRunning { break }
                    try await Task.sleep(for: .milliseconds(100))
                }
            }
            #expect(healthy >= 1, "a node accepts changes again after PostgreSQL is back")
            let back = acks.all.count
            for _ in 0..<400 where acks.all.count < back + 200 { try await Task.sleep(for: .milliseconds(25)) }
            seen.stop.store(true, ordering: .relaxed)
            try await group.waitForAll()
            #expect(before >= 200 && acks.all.count >= back + 200, "sends went on before and after the restart")
        }
        var exits: [Int32] = []
        for node in [a, b] where !node.process.isRunning { exits.append(node.process.terminationStatus) }
        #expect(exits.allSatisfy { $0 == 3 }, "a node that stopped did so to reload: \(exits)")
        let survivor = a.process.isRunning ? a : b
        try await CrashTests.verify(survivor.url, token: owner.token, room: room, acks: acks, trial: 0)
        for node in [a, b] where node.process.isRunning {
            node.process.terminate()
            #expect(try await ProcessTests.waitForExit(node.process) == 0)
        }
        _ = try await TestPostgres.cluster(["stop", dir])
        print(
            "PostgreSQL restart under two nodes: \(acks.all.count) acknowledged, none lost; "
                + "\(seen.internalErrors.load(ordering: .relaxed)) refused meanwhile; nodes that reloaded: \(exits.count)"
        )
    }
}

extension PostgresClusterRestartTests {
    @Test(
        "nodes cut off from PostgreSQL (backends terminated): internal and 503 meanwhile, then both write again and nothing acknowledged is lost",
        .timeLimit(.minutes(3))
    )
    func cutOff() async throws {
        try await TestPostgres.afterStartBurst()
        let settings = try await TestPostgres.database()
        let db = settings.database
        let flags = ["--postgres", TestPostgres.url(settings)] + Self.flags
        let a = try await ProcessTests.startServer(extra: flags)
        defer {
            kill(a.process.processIdentifier, SIGKILL)
            try? FileManager.default.removeItem(atPath: a.dataDir)
        }
        let b = try await ProcessTests.startServer(extra: flags)
        defer {
            kill(b.process.processIdentifier, SIGKILL)
            try? FileManager.default.removeItem(atPath: b.dataDir)
        }
        let onA = ConformanceContext(url: a.url, limits: Limits())
        let (owner, room) = try await onA.newUserInNewRoom("owner", room: "cutoff")
        var tokens: [String] = []
        for i in 0..<4 {
            let user = try await onA.newUser("s\(i)")
            try await onA.join(user.client, room)
            tokens.append(user.token)
        }
        let acks = CrashTests.Acks()
        let seen = Seen()
        let urls = [a.url, b.url]
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (i, token) in tokens.enumerated() {
                group.addTask {
                    try await Self.sender(i, token: token, room: room, urls: urls, acks: acks, seen: seen)
                }
            }
            for _ in 0..<400 where acks.all.count < 200 { try await Task.sleep(for: .milliseconds(25)) }
            let before = acks.all.count
            // No new connection to the database, and every node's are terminated.
            try await PostgresServeTests.admin("ALTER DATABASE \(db) ALLOW_CONNECTIONS false")
            try await PostgresServeTests.admin(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '\(db)'"
            )
            for node in [a, b] {
                let probe = try await ConformanceContext(url: node.url, limits: Limits()).newUserOrRefusal()
                #expect(probe == "internal", "a sign-up while cut off, on \(node.url): \(probe)")
                #expect((try? await httpStatus(url: node.url, path: "/healthz")) == 503)
            }
            try await PostgresServeTests.admin("ALTER DATABASE \(db) ALLOW_CONNECTIONS true")
            var healthy = 0
            for node in [a, b] {
                for _ in 0..<300 {
                    if (try? await httpStatus(url: node.url, path: "/healthz")) == 200 {
                        healthy += 1
                        break
                    }
                    if !node.process.isRunning { break }
                    try await Task.sleep(for: .milliseconds(100))
                }
            }
            #expect(healthy >= 1, "a node accepts changes again")
            let back = acks.all.count
            for _ in 0..<400 where acks.all.count < back + 200 { try await Task.sleep(for: .milliseconds(25)) }
            seen.stop.store(true, ordering: .relaxed)
            try await group.waitForAll()
            #expect(before >= 200 && acks.all.count >= back + 200, "sends went on before and after")
        }
        var exits: [Int32] = []
        for node in [a, b] where !node.process.isRunning { exits.append(node.process.terminationStatus) }
        #expect(exits.allSatisfy { $0 == 3 }, "a node that stopped did so to reload: \(exits)")
        let survivor = a.process.isRunning ? a : b
        try await CrashTests.verify(survivor.url, token: owner.token, room: room, acks: acks, trial: 0)
        print(
            "cut off: \(acks.all.count) acknowledged, none lost; "
                + "\(seen.internalErrors.load(ordering: .relaxed)) refused meanwhile; nodes that reloaded: \(exits.count)"
        )
    }
}

extension ConformanceContext {
    /// Signs a new user up: "ok", or the error code it was refused with.
    func newUserOrRefusal() async throws -> String {
        let client = try await helloClient()
        let reply = try await client.request(
            "register",
            ["user": .string(unique("probe")), "password": "pw-probe-secret"]
        )
        await client.disconnect()
        return reply["type"]?.stringValue == "ok" ? "ok" : reply["code"]?.stringValue ?? "?"
    }
}
