import ChatConformance
import ChatCore
import ChatServer
import Foundation
import Testing

/// The event loops follow the CPUs the server may run on, and Swift tasks run on them (issue 19).
@Suite("Server threads")
struct ServerThreadsTests {
    @Test(
        "kernel CPU lists are counted; anything else is not a list",
        arguments: [
            ("0", 1), ("0-3,8,10-11", 7), ("\t0-1", 2), (" 5", 1), ("0-63", 64),
            ("", nil), ("3-1", nil), ("a", nil), ("1,", nil), ("-1", nil), ("0-1-2", nil),
        ] as [(String, Int?)]
    )
    func cpuLists(list: String, count: Int?) {
        #expect(ServerThreads.cpuCount(list: Substring(list)) == count)
    }

    /// The distinct thread names of a process (a thread started from an event loop inherits its
    /// name, so names, not threads, are counted).
    private func threadNames(_ pid: Int32) -> Set<String> {
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? []
        return Set(
            tasks.compactMap { try? String(contentsOfFile: "/proc/\(pid)/task/\($0)/comm", encoding: .utf8) }
                .map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
        )
    }

    @Test("pinned to one CPU the server runs one event loop; --event-loops sets the number; tasks run on them")
    func eventLoopsFollowAffinity() async throws {
        let taskset = ["/usr/bin/taskset", "/bin/taskset"].first { FileManager.default.isExecutableFile(atPath: $0) }
        try #require(taskset != nil, "taskset (util-linux) is needed")
        let pinned = try await ProcessTests.startServer(launcher: [taskset!, "-c", "0"])
        defer { pinned.process.terminate() }
        #expect(pinned.log.contains(#""chat.event_loops":"1""#), "\(pinned.log.prefix(2000))")
        #expect(pinned.log.contains(#""chat.tasks_on_event_loops":"true""#))
        #expect(threadNames(pinned.process.processIdentifier).filter { $0.hasPrefix("NIO-SGLTN") }.count == 1)
        // It serves: a user registers, creates a room and sends to it.
        let client = try await WireClient.connect(url: pinned.url)
        _ = try expectOK(try await client.request("hello", ["version": 1, "client": "threads-test"]), "hello")
        _ = try expectOK(
            try await client.request("register", ["user": "pinned", "password": "correct horse"]),
            "register"
        )
        _ = try expectOK(try await client.request("join", ["room": "loops"]), "join")
        let sent = try expectOK(try await client.request("send", ["room": "loops", "text": "one loop"]), "send")
        #expect(sent["seq"] == 1)
        await client.disconnect()

        let three = try await ProcessTests.startServer(extra: ["--event-loops", "3"])
        defer { three.process.terminate() }
        #expect(three.log.contains(#""chat.event_loops":"3""#))
        #expect(threadNames(three.process.processIdentifier).filter { $0.hasPrefix("NIO-SGLTN") }.count == 3)

        let pool = try await ProcessTests.startServer(environment: ["CHAT_SERVER_SWIFT_POOL": "1"])
        defer { pool.process.terminate() }
        #expect(pool.log.contains(#""chat.tasks_on_event_loops":"false""#))
    }
}
