import ChatConformance
import ChatCore
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A full disk, on a real server process with its data directory on a small tmpfs (needs root
/// to mount; CI runs as root).
@Suite("Disk full", .serialized)
struct DiskFullTests {
    static func run(_ tool: String, _ arguments: [String]) throws -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: tool)
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        return process.terminationStatus
    }

    /// Mounts a tmpfs of `size` (mount's syntax) at a new temporary directory; nil (and an issue
    /// recorded) when it cannot.
    static func mountTmpfs(size: String) throws -> String? {
        let mountPoint = NSTemporaryDirectory() + "chat-tmpfs-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: mountPoint, withIntermediateDirectories: true)
        guard try run("/bin/mount", ["-t", "tmpfs", "-o", "size=\(size)", "tmpfs", mountPoint]) == 0 else {
            Issue.record("cannot mount a tmpfs at \(mountPoint)")
            try? FileManager.default.removeItem(atPath: mountPoint)
            return nil
        }
        return mountPoint
    }

    /// Unmounts what `mountTmpfs` mounted and removes the directory.
    static func unmount(_ mountPoint: String) {
        _ = try? run("/bin/umount", ["-l", mountPoint])
        try? FileManager.default.removeItem(atPath: mountPoint)
    }

    /// Runs `body` with a server whose data directory is on a new tmpfs of `size` and Alice in
    /// a new room of it; stops the server and unmounts afterwards.
    static func onTmpfs(
        size: String,
        _ body: (
            _ mountPoint: String, _ server: ProcessTests.Running, _ alice: TestUser, _ room: String
        ) async throws -> Void
    ) async throws {
        guard let mountPoint = try mountTmpfs(size: size) else { return }
        defer { unmount(mountPoint) }
        let server = try await ProcessTests.startServer(dataDir: mountPoint + "/state")
        defer { server.process.terminate() }
        let context = ConformanceContext(url: server.url, limits: Limits())
        let alice = try await context.newUser("alice")
        let room = context.unique("disk")
        try await context.join(alice.client, room)
        try await body(mountPoint, server, alice, room)
    }

    /// User plus system CPU seconds of a process so far.
    static func cpuSeconds(_ pid: Int32) -> Double {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return 0 }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 13, let user = Double(fields[11]), let system = Double(fields[12]) else { return 0 }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    @Test(
        "an upload that would leave less than 64 MiB free is refused with 507, and messages go on",
        .enabled(if: getuid() == 0, "mounting a tmpfs needs root")
    )
    func uploadOnAFullDisk() async throws {
        try await Self.onTmpfs(size: "72m") { _, server, alice, room in
            let auth = [("Authorization", "Bearer \(alice.token)")]
            // 72 MiB free at most: 4 MiB fits above the reserve, 16 MiB does not.
            let small = try await httpRequest(
                url: server.url,
                method: "POST",
                path: "/v1/files",
                headers: auth,
                body: [UInt8](repeating: 1, count: 4 << 20)
            )
            #expect(small.status == 201, "\(small.status)")
            let big = try await httpRequest(
                url: server.url,
                method: "POST",
                path: "/v1/files",
                headers: auth + [("Content-Length", "\(16 << 20)")],
                sendBody: false
            )
            #expect(big.status == 507)
            #expect(big.json?["error"]?.stringValue == "insufficient_storage")
            _ = try expectOK(
                try await alice.client.request(
                    Request.send(room: try Request.room(room), text: "still", kind: .text, nonce: nil)
                ),
                "send after a refused upload"
            )
        }
    }

    @Test(
        "with less than 64 MiB free the index waits (the space is the log's) and catches up when space returns",
        .enabled(if: getuid() == 0, "mounting a tmpfs needs root")
    )
    func indexWaitsOnALowDisk() async throws {
        try await Self.onTmpfs(size: "72m") { mountPoint, server, alice, room in
            _ = try await SearchServerTests.send(alice.client, room, "aardvark before")
            var reply = try await SearchServerTests.search(alice.client, ["query": "aardvark"])
            #expect(SearchServerTests.results(reply).count == 1, "indexed with room to spare")
            // 12 MiB taken: 60 MiB free, under the reserve.
            let filler = mountPoint + "/filler"
            #expect(FileManager.default.createFile(atPath: filler, contents: Data(count: 12 << 20)))
            _ = try await SearchServerTests.send(alice.client, room, "aardvark during")
            try await Task.sleep(for: .seconds(2))
            reply = try expectOK(try await alice.client.request("search", ["query": "aardvark"]), "search")
            #expect(SearchServerTests.results(reply).count == 1, "indexed on a disk under the reserve")
            #expect(server.log.contains("indexing waits, the space is left to the message log"))
            try FileManager.default.removeItem(atPath: filler)
            reply = try await SearchServerTests.search(alice.client, ["query": "aardvark"]) {
                SearchServerTests.results($0).count == 2
            }
            #expect(SearchServerTests.results(reply).count == 2, "not indexed after space returned")
        }
    }

    @Test(
        "changes are refused without a log storm or spinning, reads go on, writes resume by themselves, nothing acknowledged is lost or doubled",
        .enabled(if: getuid() == 0, "mounting a tmpfs needs root")
    )
    func fullDisk() async throws {
        guard let mountPoint = try Self.mountTmpfs(size: "4m") else { return }
        defer { Self.unmount(mountPoint) }
        // Most of the 4 MiB is taken by a file the test frees later.
        let filler = mountPoint + "/filler"
        #expect(FileManager.default.createFile(atPath: filler, contents: Data(count: 2_600_000)))
        let dataDir = mountPoint + "/state"
        let flags = [
            "--fsync", "everysec", "--snapshot-log-mib", "100", "--rate-per-sec", "100000", "--rate-burst", "100000",
        ]
        let server = try await ProcessTests.startServer(dataDir: dataDir, extra: flags)
        defer { if server.process.isRunning { server.process.terminate() } }
        do {
            try await fillAndRecover(server: server, dataDir: dataDir, filler: filler, flags: flags)
        } catch {
            Issue.record("\(error); the server's log:\n\(server.log.suffix(3000))")
        }
    }

    func fillAndRecover(server: ProcessTests.Running, dataDir: String, filler: String, flags: [String]) async throws {
        var server = server
        // The server restarted below is this function's to stop (the caller stops the first one).
        defer { if server.process.isRunning { server.process.terminate() } }
        let context = ConformanceContext(url: server.url, limits: Limits())
        let alice = try await context.newUser("alice")
        let room = context.unique("full")
        try await context.join(alice.client, room)
        let text = String(repeating: "x", count: 3900)
        var acknowledged: [String: Int64] = [:]
        var refusedNonce: String?
        for i in 0..<2000 {
            let nonce = "n\(i)"
            let reply = try await alice.client.request(
                "send",
                ["room": .string(room), "text": .string("\(i) \(text)"), "nonce": .string(nonce)]
            )
            if reply["type"]?.stringValue == "ok", let seq = reply["seq"]?.intValue {
                acknowledged[nonce] = seq
            } else {
                try expectError(reply, "internal", "a change on a full disk")
                refusedNonce = nonce
                break
            }
        }
        let refused = try #require(refusedNonce, "the disk never filled")
        #expect(try await httpStatus(url: server.url, path: "/healthz") == 503)
        // Reads go on.
        try expectOK(
            try await alice.client.request("history", ["room": .string(room), "limit": 5]),
            "history while the disk is full"
        )
        // No spinning: an idle server with a full disk uses next to no CPU.
        let before = Self.cpuSeconds(server.process.processIdentifier)
        try await Task.sleep(for: .seconds(3))
        let used = Self.cpuSeconds(server.process.processIdentifier) - before
        #expect(used < 1.0, "the server used \(used) s of CPU in 3 s with a full disk")
        let storageLines = server.log.split(separator: "\n").filter { $0.contains("storage failed") }
        #expect(storageLines.count <= 2, "log storm: \(storageLines.count) lines")

        // Room again: the server accepts changes by itself.
        try FileManager.default.removeItem(atPath: filler)
        var healthy = false
        for _ in 0..<100 where !healthy {
            try await Task.sleep(for: .milliseconds(200))
            healthy = (try? await httpStatus(url: server.url, path: "/healthz")) == 200
        }
        #expect(healthy, "/healthz did not recover after space was freed")
        // The refused send is retried with its nonce: stored once, under one seq.
        let retry = try expectOK(
            try await alice.client.request(
                "send",
                ["room": .string(room), "text": .string("retry \(text)"), "nonce": .string(refused)]
            ),
            "the refused send, retried"
        )
        acknowledged[refused] = retry["seq"]?.intValue
        for i in 0..<5 {
            let reply = try expectOK(
                try await alice.client.request(
                    "send",
                    ["room": .string(room), "text": .string("after \(i)"), "nonce": .string("after\(i)")]
                ),
                "send after recovery"
            )
            acknowledged["after\(i)"] = reply["seq"]?.intValue
        }

        // After a restart every acknowledged message is there, once, and seqs have no holes.
        kill(server.process.processIdentifier, SIGTERM)
        _ = try await ProcessTests.waitForExit(server.process)
        server = try await ProcessTests.startServer(dataDir: dataDir, extra: flags)
        let again = try await ConformanceContext(url: server.url, limits: Limits()).secondConnection(alice)
        try await context.join(again, room)
        var seen: [String: [Int64]] = [:]
        var seqs: [Int64] = []
        var after: Int64 = 0
        while true {
            let page = try expectOK(
                try await again.request("history", ["room": .string(room), "after": .int(after), "limit": 100]),
                "history after the restart"
            )
            let messages = page["messages"]?.arrayValue ?? []
            for case .object(let m) in messages {
                let seq = m["seq"]?.intValue ?? 0
                seqs.append(seq)
                if let nonce = m["nonce"]?.stringValue { seen[nonce, default: []].append(seq) }
                after = seq
            }
            if page["more"]?.boolValue != true || messages.isEmpty { break }
        }
        #expect(seqs == Array(1...Int64(seqs.count)), "seqs without holes or repeats")
        for (nonce, seq) in acknowledged {
            #expect(seen[nonce] == [seq], "acknowledged \(nonce) at \(seq); stored as \(seen[nonce] ?? [])")
        }
        for (nonce, stored) in seen where stored.count != 1 { Issue.record("\(nonce) stored \(stored.count) times") }
    }
}
