import ChatConformance
import ChatCore
import Foundation
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
        let dir = NSTemporaryDirectory() + "chat-test-pg-restart-\(UUID().uuidString)"
        let url = try await TestPostgres.cluster(["start", dir, "\(getpid())"])
        defer { _ = try? FileManager.default.removeItem(atPath: dir) }
        let dataDir = NSTemporaryDirectory() + "chat-pg-node-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dataDir) }
        let server = try await ProcessTests.startServer(
            dataDir: dataDir,
            extra: ["--postgres", url, "--rate-burst", "100000", "--rate-per-sec", "100000"]
        )
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
            // Down for two seconds (a fast shutdown disconnects the node), then back on the same port.
            _ = try await TestPostgres.cluster(["restart", dir, "2"])
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
        #expect(seen.internalErrors.load(ordering: .relaxed) > 0, "sends failed while PostgreSQL was down")
        #expect(seen.unhealthy.load(ordering: .relaxed) > 0, "/healthz said 503 while PostgreSQL was down")
        try await CrashTests.verify(server.url, token: owner.token, room: room, acks: acks, trial: 0)
        server.process.terminate()
        #expect(try await ProcessTests.waitForExit(server.process) == 0)
        _ = try await TestPostgres.cluster(["stop", dir])
        print(
            "PostgreSQL restart: \(acks.all.count) acknowledged messages, none lost; "
                + "\(seen.internalErrors.load(ordering: .relaxed)) sends refused with internal meanwhile"
        )
    }
}
