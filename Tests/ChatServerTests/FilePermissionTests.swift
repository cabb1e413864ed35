import ChatServer
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// What other local users can reach, and hosts that only look like loopback (issue 21).
@Suite("File permissions and loopback")
struct FilePermissionTests {
    static func mode(_ path: String) -> Int {
        var info = stat()
        guard stat(path, &info) == 0 else { return -1 }
        return Int(info.st_mode & 0o777)
    }

    @Test("a data directory that exists with loose permissions is made 0700 when the store opens it")
    func dataDirectoryIsTightened() async throws {
        let directory = try StorageTestSupport.makeTemporaryDirectory() + "/state"
        defer { StorageTestSupport.removeDirectory(directory) }
        try FileManager.default.createDirectory(
            atPath: directory,
            withIntermediateDirectories: true,
            attributes: [.posixPermissions: 0o755]
        )
        #expect(Self.mode(directory) == 0o755)
        let store = StorageTestSupport.makeStore(directory)
        _ = try await store.recover()
        await store.close()
        #expect(Self.mode(directory) == 0o700)
    }

    @Test("the search index's directory and files are private")
    func searchIndexIsPrivate() throws {
        let base = try StorageTestSupport.makeTemporaryDirectory()
        defer { StorageTestSupport.removeDirectory(base) }
        let directory = base + "/search"
        _ = try SearchIndex.open(directory: directory, logger: StorageTestSupport.logger)
        #expect(Self.mode(directory) == 0o700)
        #expect(Self.mode(directory + "/index.sqlite") == 0o600)
    }

    @Test("an atomic write does not follow a symbolic link planted at its temporary name")
    func temporaryFileIsNotFollowed() throws {
        let base = try StorageTestSupport.makeTemporaryDirectory()
        defer { StorageTestSupport.removeDirectory(base) }
        let target = base + "/victim"
        try Data("keep me".utf8).write(to: URL(fileURLWithPath: target))
        let destination = base + "/backup.chatbak"
        #expect(symlink(target, destination + ".tmp") == 0)
        try DataDirectory(base).writeAtomically(Array("backup".utf8), to: destination)
        #expect(String(decoding: try Data(contentsOf: URL(fileURLWithPath: target)), as: UTF8.self) == "keep me")
        #expect(String(decoding: try Data(contentsOf: URL(fileURLWithPath: destination)), as: UTF8.self) == "backup")
        #expect(Self.mode(destination) == 0o600)
    }

    @Test(
        "loopback means 127.0.0.0/8 written as an address, localhost or ::1",
        arguments: [
            ("127.0.0.1", true), ("127.1.2.3", true), ("localhost", true), ("::1", true),
            ("127.example.com", false), ("127.0.0.1.evil.net", false), ("0.0.0.0", false), ("128.0.0.1", false),
            ("127.0.0.256", false), ("127..0.1", false),
        ]
    )
    func loopback(_ host: String, _ expected: Bool) {
        #expect(ServerConfiguration.isLoopback(host) == expected)
    }
}
