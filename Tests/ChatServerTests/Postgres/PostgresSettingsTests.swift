import ChatServer
import Testing

@Suite("PostgreSQL URLs")
struct PostgresSettingsTests {
    @Test("a full URL")
    func full() throws {
        let s = try PostgresSettings(url: "postgres://chat:s%40cret@db.example:6543/chatdb?sslmode=require")
        #expect(s.user == "chat")
        #expect(s.password == "s@cret")
        #expect(s.host == "db.example")
        #expect(s.port == 6543)
        #expect(s.database == "chatdb")
        #expect(s.tls == .require)
        #expect(s.socketDirectory == nil)
        #expect(s.redacted == "postgres://chat:***@db.example:6543/chatdb")
        #expect(!s.redacted.contains("cret"))
    }

    @Test("defaults: port 5432, sslmode prefer; postgresql:// and a socket directory")
    func defaults() throws {
        let s = try PostgresSettings(url: "postgresql://chat@localhost/chat")
        #expect(s.port == 5432)
        #expect(s.tls == .prefer)
        #expect(s.password == nil)
        let socket = try PostgresSettings(url: "postgres://chat@/chat?host=/var/run/postgresql")
        #expect(socket.socketDirectory == "/var/run/postgresql")
        #expect(socket.host.isEmpty)
    }

    @Test(
        "bad URLs are refused with the reason",
        arguments: [
            ("http://chat@localhost/chat", "not a postgres:// URL"),
            ("postgres://localhost/chat", "no user name"),
            ("postgres://chat@localhost", "no database name"),
            ("postgres://chat@localhost/a/b", "no database name"),
            ("postgres://chat@localhost/chat?sslmode=verify", "sslmode must be"),
            ("postgres://chat@localhost/chat?timeout=3", "unknown URL parameter 'timeout'"),
            ("postgres://chat@localhost/chat?host=relative", "socket directory"),
            ("postgres://chat@/chat", "no host"),
            ("postgres://chat@localhost:0/chat", "out of range"),
        ]
    )
    func bad(url: String, reason: String) {
        #expect {
            try PostgresSettings(url: url)
        } throws: { error in
            "\(error)".contains(reason) && "\(error)".hasPrefix("bad PostgreSQL URL: ")
        }
    }
}
