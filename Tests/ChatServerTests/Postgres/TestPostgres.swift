import ChatServer
import Foundation
import Logging
import PostgresNIO
import Testing

/// A PostgreSQL for the tests: `CHAT_TEST_POSTGRES_URL` if set, else a throwaway cluster that
/// `scripts/pg-cluster.sh` starts once per test process, on a free loopback port, and stops when
/// the process is gone. Each test gets a database of its own (`database()`).
///
/// PostgreSQL's server must be installed (`apt-get install postgresql`; `.ci/run` does it): the
/// tests fail, with that advice, when it is not.
enum TestPostgres {
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()

    /// The cluster's URL (the `postgres` database).
    static let server = Task<String, any Error> {
        if let url = ProcessInfo.processInfo.environment["CHAT_TEST_POSTGRES_URL"], !url.isEmpty { return url }
        let dir = NSTemporaryDirectory() + "chat-test-pg-\(getpid())"
        return try await cluster(["start", dir, "\(getpid())"])
    }

    /// Runs `scripts/pg-cluster.sh` with `arguments` and returns the URL it prints (`start`), or
    /// its output. The script blocks for a second or two (initdb, pg_ctl): it runs on a thread of
    /// its own, not on one of the few threads every test's tasks share.
    static func cluster(_ arguments: [String]) async throws -> String {
        try await withCheckedThrowingContinuation { continuation in
            Thread.detachNewThread {
                continuation.resume(with: Result { try runCluster(arguments) })
            }
        }
    }

    /// Runs `scripts/pg-cluster.sh` (blocking).
    private static func runCluster(_ arguments: [String]) throws -> String {
        // popen/pclose rather than Foundation's Process: the script's child (the watchdog) outlives
        // it, and Foundation's Process was seen to leave the script a zombie it never reaped.
        let script = packageRoot.appendingPathComponent("scripts/pg-cluster.sh").path
        let quoted = arguments.map { "'\($0)'" }.joined(separator: " ")
        guard let pipe = popen("/bin/bash '\(script)' \(quoted) 2>&1 </dev/null", "r") else {
            throw TestPostgresError("could not run scripts/pg-cluster.sh")
        }
        var output = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = fread(&buffer, 1, buffer.count, pipe)
            if n <= 0 { break }
            output += buffer[0..<n]
        }
        let status = pclose(pipe)
        let text = String(decoding: output, as: UTF8.self)
        guard arguments.first == "start" else {
            guard status == 0 else { throw TestPostgresError("scripts/pg-cluster.sh \(quoted) failed: \(text)") }
            return text
        }
        guard status == 0, let url = text.split(separator: "\n").last(where: { $0.hasPrefix("postgres://") }) else {
            throw TestPostgresError(
                "could not start a PostgreSQL cluster with scripts/pg-cluster.sh (install PostgreSQL's server: "
                    + "apt-get install postgresql): \(text)"
            )
        }
        return String(url)
    }

    /// Lets the heavy PostgreSQL tests (a server under load, a restart, a failover) start once the
    /// burst at the start of a run has passed: beside the 190 in-process conformance servers, on
    /// two CPUs, their load made a conformance case miss its 5 s wait for a close (their own
    /// figures do not depend on when they run). `CHAT_TEST_HEAVY_DELAY` (seconds) overrides 30.
    static func afterStartBurst() async throws {
        let seconds = Double(ProcessInfo.processInfo.environment["CHAT_TEST_HEAVY_DELAY"] ?? "") ?? 30
        try await Task.sleep(for: .seconds(seconds))
    }

    static let logger: Logger = {
        var logger = Logger(label: "test-postgres")
        logger.logLevel = .error
        return logger
    }()

    /// A new, empty database on the test cluster.
    static func database() async throws -> PostgresSettings {
        var settings = try PostgresSettings(url: try await server.value)
        let name = "t_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
        try await PostgresClient.with(settings, logger: logger) { client in
            try await client.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \(name)"), logger: logger)
        }
        settings.database = name
        return settings
    }

    /// The URL of a database.
    static func url(_ settings: PostgresSettings) -> String {
        "postgres://\(settings.user)@\(settings.host):\(settings.port)/\(settings.database)?sslmode=disable"
    }

    /// Runs `body` with a client of the database.
    @discardableResult
    static func with<Result: Sendable>(
        _ settings: PostgresSettings,
        _ body: @Sendable (PostgresClient) async throws -> Result
    ) async throws -> Result {
        try await PostgresClient.with(settings, logger: logger, body)
    }
}

struct TestPostgresError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
