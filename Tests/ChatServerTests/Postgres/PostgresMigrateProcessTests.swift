import ChatServer
import Foundation
import Testing

/// `chat-server migrate`, run as a user runs it, against the test PostgreSQL.
@Suite("chat-server migrate (processes)")
struct PostgresMigrateProcessTests {
    /// Runs `chat-server ARGS`; returns its status, standard output and standard error.
    ///
    /// Spawned and reaped here (`posix_spawn`, `waitpid`) rather than with Foundation's `Process`,
    /// which was seen to leave a process that exits within milliseconds a zombie it never reaped.
    static func chatServer(
        _ arguments: [String],
        environment extra: [String: String] = [:]
    ) async throws -> (status: Int32, out: String, err: String) {
        let executable = try ProcessTests.executable("chat-server").path
        let base = NSTemporaryDirectory() + "chat-migrate-\(UUID().uuidString)"
        defer {
            unlink(base + ".out")
            unlink(base + ".err")
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, base + ".out", O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_addopen(&actions, 2, base + ".err", O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        let argv: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { for arg in argv { free(arg) } }
        let environment = ProcessInfo.processInfo.environment.merging(extra) { $1 }
        let envp: [UnsafeMutablePointer<CChar>?] = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { for entry in envp { free(entry) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, executable, &actions, nil, argv, envp)
        guard spawned == 0 else { throw TestPostgresError("posix_spawn failed: \(spawned)") }
        var status: Int32 = 0
        var waited: pid_t = 0
        for _ in 0..<3_000 {
            waited = waitpid(pid, &status, WNOHANG)
            if waited == pid { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        if waited != pid {
            kill(pid, SIGKILL)
            _ = waitpid(pid, &status, 0)
            throw TestPostgresError("chat-server \(arguments.joined(separator: " ")) did not exit within 60 s")
        }
        let exit = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        let out = (try? String(contentsOfFile: base + ".out", encoding: .utf8)) ?? ""
        let err = (try? String(contentsOfFile: base + ".err", encoding: .utf8)) ?? ""
        return (exit, out, err)
    }

    @Test(
        "migrate --postgres (or CHAT_POSTGRES_URL) creates the schema, then says it is current; a bad URL is a usage error"
    )
    func schema() async throws {
        let url = TestPostgres.url(try await TestPostgres.database())
        let first = try await Self.chatServer(["migrate", "--postgres", url])
        #expect(first.status == 0, "\(first.err)")
        #expect(first.out.contains("schema migrated from version 0 to \(PostgresSchema.latest)"))
        let again = try await Self.chatServer(["migrate", "--postgres", url])
        #expect(again.status == 0)
        #expect(again.out.contains("schema already at version \(PostgresSchema.latest)"))

        let fromEnvironment = try await Self.chatServer(["migrate"], environment: ["CHAT_POSTGRES_URL": url])
        #expect(fromEnvironment.status == 0, "\(fromEnvironment.err)")
        #expect(fromEnvironment.out.contains("schema already at version \(PostgresSchema.latest)"))
        let none = try await Self.chatServer(["migrate"], environment: ["CHAT_POSTGRES_URL": ""])
        #expect(none.status == 64)
        #expect(none.err.contains("give --postgres URL"))

        let bad = try await Self.chatServer(["migrate", "--postgres", "http://nobody@localhost/chat"])
        #expect(bad.status == 64)
        #expect(bad.err.contains("bad PostgreSQL URL: not a postgres:// URL"))
        let half = try await Self.chatServer(["migrate", "--from", "/tmp/x"])
        #expect(half.status == 64)
        #expect(half.err.contains("--from needs --to URL"))
    }

    @Test("migrate against a port where no PostgreSQL listens fails with the reason, in bounded time")
    func unreachable() async throws {
        // A port bound but not listening, held for the test: connections to it are refused (a port
        // merely probed free could be taken by a server another test starts meanwhile).
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0
            }
        }
        try #require(bound)
        let port = Int(UInt16(bigEndian: address.sin_port))
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
        #expect(copied.out.contains("checked before commit: every room holds seqs 1…head once"), "\(copied.out)")
        let twice = try await Self.chatServer(["migrate", "--from", dir, "--to", url])
        #expect(twice.status == 1)
        #expect(twice.err.contains("the database already holds chat state"), "\(twice.err)")
    }
}
