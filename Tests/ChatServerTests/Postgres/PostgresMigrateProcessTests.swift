import ChatServer
import Foundation
import Testing

/// `chat-server migrate`, run as a user runs it, against the test PostgreSQL.
@Suite("chat-server migrate (processes)")
struct PostgresMigrateProcessTests {
    /// Runs `chat-server ARGS`; returns its status, standard output and standard error.
    static func chatServer(_ arguments: [String]) async throws -> (status: Int32, out: String, err: String) {
        let process = Process()
        process.executableURL = try ProcessTests.executable("chat-server")
        process.arguments = arguments
        let base = NSTemporaryDirectory() + "chat-migrate-\(UUID().uuidString)"
        _ = FileManager.default.createFile(atPath: base + ".out", contents: nil)
        _ = FileManager.default.createFile(atPath: base + ".err", contents: nil)
        defer {
            try? FileManager.default.removeItem(atPath: base + ".out")
            try? FileManager.default.removeItem(atPath: base + ".err")
        }
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: base + ".out"))
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: base + ".err"))
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let status = try await ProcessTests.waitForExit(process, seconds: 60)
        let out = (try? String(contentsOfFile: base + ".out", encoding: .utf8)) ?? ""
        let err = (try? String(contentsOfFile: base + ".err", encoding: .utf8)) ?? ""
        return (status, out, err)
    }

    @Test("migrate --postgres creates the schema, then says it is current; a bad URL is a usage error")
    func schema() async throws {
        let url = TestPostgres.url(try await TestPostgres.database())
        let first = try await Self.chatServer(["migrate", "--postgres", url])
        #expect(first.status == 0, "\(first.err)")
        #expect(first.out.contains("schema migrated from version 0 to \(PostgresSchema.latest)"))
        let again = try await Self.chatServer(["migrate", "--postgres", url])
        #expect(again.status == 0)
        #expect(again.out.contains("schema already at version \(PostgresSchema.latest)"))

        let bad = try await Self.chatServer(["migrate", "--postgres", "http://nobody@localhost/chat"])
        #expect(bad.status == 64)
        #expect(bad.err.contains("bad PostgreSQL URL: not a postgres:// URL"))
        let half = try await Self.chatServer(["migrate", "--from", "/tmp/x"])
        #expect(half.status == 64)
        #expect(half.err.contains("--from needs --to URL"))
    }

    @Test("migrate against a port where no PostgreSQL listens fails with the reason, in bounded time")
    func unreachable() async throws {
        let port = try ProcessTests.freePort()
        let result = try await Self.chatServer([
            "migrate", "--postgres", "postgres://chat@127.0.0.1:\(port)/chat?sslmode=disable",
        ])
        #expect(result.status == 1)
        #expect(result.err.contains("migrate failed: PostgreSQL"), "\(result.err)")
    }

    @Test("migrate --from --to copies a stopped server's directory; a second copy and a running server are refused")
    func copy() async throws {
        let dir = try PostgresStoreTests.fixtureCopy()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let url = TestPostgres.url(try await TestPostgres.database())

        let server = try await ProcessTests.startServer(dataDir: dir)
        let busy = try await Self.chatServer(["migrate", "--from", dir, "--to", url])
        server.process.terminate()
        _ = try await ProcessTests.waitForExit(server.process)
        #expect(busy.status == 1)
        #expect(busy.err.contains("in use by another chat-server"), "\(busy.err)")

        let copied = try await Self.chatServer(["migrate", "--from", dir, "--to", url])
        #expect(copied.status == 0, "\(copied.err)")
        #expect(copied.out.contains("copied \(dir) into postgres://postgres@"), "\(copied.out)")
        #expect(copied.out.contains("2 users"), "\(copied.out)")
        let twice = try await Self.chatServer(["migrate", "--from", dir, "--to", url])
        #expect(twice.status == 1)
        #expect(twice.err.contains("the database already holds chat state"), "\(twice.err)")
    }
}
