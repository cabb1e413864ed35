import ChatConformance
import ChatCore
import ChatServer
import Foundation
import Logging
import Testing

/// `chat search`, `chat-server reindex` and index rebuilds. The CLI runs as few processes as
/// possible, against in-process servers (cheap password hashing), so the suite stays light.
@Suite("Search executables", .serialized)
struct SearchProcessTests {
    static func run(
        _ name: String,
        _ arguments: [String],
        environment: [String: String] = [:]
    ) async throws -> (
        status: Int32, out: String
    ) {
        let process = Process()
        process.executableURL = try ProcessTests.executable(name)
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        for (key, value) in environment { env[key] = value }
        process.environment = env
        let out = Pipe()
        process.standardOutput = out
        process.standardError = out
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let status = try await ProcessTests.waitForExit(process, seconds: 60)
        return (status, String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self))
    }

    @Test(
        "chat search prints JSON lines; reindex rebuilds the index; a deleted index is rebuilt at start",
        .timeLimit(.minutes(2))
    )
    func searchReindexRebuild() async throws {
        let dataDir = NSTemporaryDirectory() + "chat-search-\(UUID().uuidString)"
        let config = NSTemporaryDirectory() + "chat-search-cli-\(UUID().uuidString)"
        defer {
            try? FileManager.default.removeItem(atPath: dataDir)
            try? FileManager.default.removeItem(atPath: config)
        }
        var configuration = TestServer.conformanceConfiguration
        configuration.storage = StorageConfiguration(directory: dataDir, fsync: .no)
        let user = "finder\(Int.random(in: 1000...9999))"
        let env = ["XDG_CONFIG_HOME": config, "CHAT_PASSWORD": "search-password"]

        /// Runs `chat search` until it prints a line (the index is filled in the background), at most 10 s.
        func search(_ url: String, _ query: String) async throws -> [String] {
            let deadline = ContinuousClock.now + .seconds(10)
            while true {
                let result = try await Self.run(
                    "chat",
                    ["search", "--server", url, "--user", user, "--room", "cli", query],
                    environment: env
                )
                #expect(result.status == 0, "\(result.out)")
                let lines = result.out.split(separator: "\n").map(String.init)
                if !lines.isEmpty || ContinuousClock.now > deadline { return lines }
                try await Task.sleep(for: .milliseconds(100))
            }
        }

        try await TestServer.with(configuration) { server in
            let login = try await Self.run(
                "chat",
                ["login", "--server", server.url, "--user", user, "--register"],
                environment: env
            )
            #expect(login.status == 0, "\(login.out)")
            // Messages go in over the wire (fewer processes: each spawn briefly holds the parent's files).
            let client = try await server.context.helloClient()
            try expectOK(
                try await client.request("login", ["user": .string(user), "password": "search-password"]),
                "login"
            )
            try await server.context.join(client, "cli")
            for text in ["明日の会議は10時から", "lunch at noon"] {
                try expectOK(try await client.request("send", ["room": "cli", "text": .string(text)]), "send")
            }
            let lines = try await search(server.url, "会議")
            #expect(lines.count == 1)
            let result = lines.first.flatMap { try? JSONParser().parse($0) }.flatMap { SearchResult(json: $0) }
            #expect(result?.room == "cli")
            #expect(result?.seq == 1)
            #expect(result?.snippet.ranges == [3..<5])
            // reindex refuses while the server holds the data directory.
            await #expect(throws: StorageError.self) {
                _ = try await SearchReindex.run(dataDirectory: dataDir, logger: Logger(label: "test"))
            }
        }

        // Offline rebuild from scratch.
        try FileManager.default.removeItem(atPath: dataDir + "/search")
        let reindex = try await Self.run("chat-server", ["reindex", "--data-dir", dataDir])
        #expect(reindex.status == 0, "\(reindex.out)")
        #expect(reindex.out.contains("2 messages in 1 rooms"), "\(reindex.out)")
        #expect(FileManager.default.fileExists(atPath: dataDir + "/search/index.sqlite"))

        // Deleted index files: the server rebuilds them by itself.
        try FileManager.default.removeItem(atPath: dataDir + "/search")
        try await TestServer.with(configuration) { server in
            let client = try await server.context.helloClient()
            try expectOK(
                try await client.request("login", ["user": .string(user), "password": "search-password"]),
                "login"
            )
            let reply = try await SearchServerTests.search(client, ["query": "lunch", "room": "cli"])
            #expect(SearchServerTests.results(reply).map(\.text) == ["lunch at noon"])
        }
    }
}
