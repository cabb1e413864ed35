import AsyncHTTPClient
import ChatClient
import ChatConformance
import ChatCore
import Foundation
import NIOCore
import NIOHTTP1
import Testing

/// Files end to end against a `chat-server` process: upload, post, download, permissions,
/// limits, interrupted uploads, removal and backup/restore.
@Suite("Files (processes)", .serialized)
struct FileTests {
    static func temporaryFile(_ bytes: Int, seed: UInt8 = 7) throws -> (path: String, sha: String) {
        let path = NSTemporaryDirectory() + "chat-upload-\(UUID().uuidString).bin"
        var bytesArray = [UInt8](repeating: 0, count: bytes)
        for i in 0..<bytes { bytesArray[i] = UInt8(truncatingIfNeeded: (i &* 31 &+ Int(seed)) ^ (i >> 11)) }
        let data = Data(bytesArray)
        try data.write(to: URL(fileURLWithPath: path))
        return (path, try FileTransfer.sha256(ofFile: path))
    }

    static func rss(_ pid: Int32) -> Int {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") })
        else { return 0 }
        return Int(line.split(separator: " ").dropFirst().first ?? "0").map { $0 * 1024 } ?? 0
    }

    static func blobs(_ dataDir: String) -> [String] {
        let root = dataDir + "/files"
        let manager = FileManager.default
        return ((try? manager.contentsOfDirectory(atPath: root)) ?? []).filter { $0.count == 2 }.flatMap { prefix in
            ((try? manager.contentsOfDirectory(atPath: root + "/" + prefix)) ?? []).map { prefix + $0 }
        }
    }

    static func sendFile(
        _ client: WireClient,
        room: String,
        file: String,
        caption: String = ""
    ) async throws
        -> JSONObject
    {
        try await client.request(
            Request.send(room: try Request.room(room), text: caption, kind: .file, nonce: nil, file: file)
        )
    }

    @Test("upload → post → another member downloads the same bytes; a non-member gets 404; Range resumes")
    func shareAndDownload() async throws {
        let server = try await ProcessTests.startServer()
        defer {
            server.process.terminate()
            try? FileManager.default.removeItem(atPath: server.dataDir)
        }
        let ctx = ConformanceContext(url: server.url, limits: Limits())
        let alice = try await ctx.newUser("alice")
        let bob = try await ctx.newUser("bob")
        let eve = try await ctx.newUser("eve")
        let room = ctx.unique("files")
        for client in [alice.client, bob.client] { try await ctx.join(client, room) }

        let (path, sha) = try Self.temporaryFile(3 * 1024 * 1024 + 17)
        defer { unlink(path) }
        let aliceFiles = try FileTransfer(serverURL: server.url, token: alice.token)
        defer { Task { await aliceFiles.shutdown() } }
        let uploaded = try await aliceFiles.upload(path: path, name: "scan 日本.png", mime: "image/png")
        #expect(uploaded.sha256 == sha)
        #expect(uploaded.size == 3 * 1024 * 1024 + 17)
        #expect(uploaded.name == "scan 日本.png")
        #expect(uploaded.mime == "image/png")
        #expect(FileRef.isValidID(uploaded.id))

        // Only the uploader may post it.
        let stolen = try await Self.sendFile(bob.client, room: room, file: uploaded.id)
        try expectError(stolen, "not_found", "send of someone else's upload")
        let sent = try await Self.sendFile(alice.client, room: room, file: uploaded.id, caption: "the scan")
        _ = try expectOK(sent, "send file")
        let event = try await bob.client.nextMessage()
        #expect(event.kind == .file)
        #expect(event.file == uploaded)
        #expect(event.text == "the scan")

        // Bob downloads byte-identical content; Eve (not a member) gets 404, as for a made-up id.
        let bobFiles = try FileTransfer(serverURL: server.url, token: bob.token)
        defer { Task { await bobFiles.shutdown() } }
        let directory = NSTemporaryDirectory() + "chat-dl-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let target = LocalFiles.freePath(for: event.file!.name, in: directory)
        try await bobFiles.download(event.file!, to: target)
        #expect(try FileTransfer.sha256(ofFile: target) == sha)

        let eveFiles = try FileTransfer(serverURL: server.url, token: eve.token)
        defer { Task { await eveFiles.shutdown() } }
        for file in [
            uploaded, FileRef(id: String(repeating: "a", count: 32), name: "x", mime: "x", size: 1, sha256: ""),
        ] {
            do {
                try await eveFiles.download(file, to: directory + "/eve-\(file.id)")
                Issue.record("a non-member downloaded \(file.id)")
            } catch let failure as FileTransfer.Failure {
                #expect(failure.status == 404)
            }
        }

        // Resume: a partial file of the first 1,000,000 bytes is completed with a Range request.
        let second = directory + "/resumed.png"
        let whole = try Data(contentsOf: URL(fileURLWithPath: path))
        try whole.prefix(1_000_000).write(to: URL(fileURLWithPath: second + ".part"))
        try await bobFiles.download(uploaded, to: second)
        #expect(try FileTransfer.sha256(ofFile: second) == sha)

        // The headers a browser needs to keep a file from acting on the server's origin.
        let http = HTTPClient(eventLoopGroupProvider: .singleton)
        defer { Task { try? await http.shutdown() } }
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(server.port)/v1/files/\(uploaded.id)")
        request.headers.add(name: "Authorization", value: "Bearer \(bob.token)")
        request.headers.add(name: "Range", value: "bytes=10-19")
        let part = try await http.execute(request, timeout: .seconds(30))
        #expect(part.status == .partialContent)
        #expect(part.headers["Content-Range"].first == "bytes 10-19/\(uploaded.size)")
        #expect(part.headers["ETag"].first == "\"\(sha)\"")
        #expect(part.headers["X-Content-Type-Options"].first == "nosniff")
        #expect(part.headers["Content-Security-Policy"].first == "sandbox")
        #expect(part.headers["Content-Disposition"].first?.contains("filename*=UTF-8''scan%20") == true)
        let body = try await part.body.collect(upTo: 100)
        #expect(Array(body.readableBytesView) == Array(whole[10..<20]))
        request.headers.replaceOrAdd(name: "Range", value: "bytes=\(uploaded.size + 5)-")
        #expect(try await http.execute(request, timeout: .seconds(30)).status == .rangeNotSatisfiable)
        var unauthenticated = HTTPClientRequest(url: "http://127.0.0.1:\(server.port)/v1/files/\(uploaded.id)")
        unauthenticated.headers.add(name: "Authorization", value: "Bearer nope")
        #expect(try await http.execute(unauthenticated, timeout: .seconds(30)).status == .unauthorized)

        // Deleting the only message removes the file: 404 for Bob, its bytes gone from disk.
        _ = try expectOK(
            try await alice.client.request(Request.delete(room: try Request.room(room), seq: 1)),
            "delete"
        )
        var gone = false
        for _ in 0..<100 where !gone {
            try await Task.sleep(for: .milliseconds(50))
            gone = Self.blobs(server.dataDir).isEmpty
        }
        #expect(gone, "the blob is still on disk")
        do {
            try await bobFiles.download(uploaded, to: directory + "/after-delete")
            Issue.record("downloaded a deleted file")
        } catch let failure as FileTransfer.Failure {
            #expect(failure.status == 404)
        }
    }

    /// Sends an upload the server refuses early. The server answers 413 and closes the connection
    /// without reading the rest of the body (no lingering close), so a client still writing may
    /// see the connection closed instead of the answer (seen once in about a dozen CI runs): such
    /// a request is sent again, at most twice, and must then be answered.
    static func executeRefused(
        _ http: HTTPClient,
        _ request: HTTPClientRequest,
        again: (() -> HTTPClientRequest)? = nil
    ) async throws -> HTTPClientResponse {
        var request = request
        for attempt in 1...3 {
            do {
                return try await http.execute(request, timeout: .seconds(60))
            } catch let error as ChannelError where error == .ioOnClosedChannel && attempt < 3 {
                if let again { request = again() }
            } catch let error as HTTPClientError where error == .remoteConnectionClosed && attempt < 3 {
                if let again { request = again() }
            }
        }
        return try await http.execute(request, timeout: .seconds(60))
    }

    @Test("limits: 413 over --max-file-bytes without buffering it (RSS), quota, an interrupted upload leaves nothing")
    func limits() async throws {
        let server = try await ProcessTests.startServer(extra: [
            "--max-file-bytes", "\(25 << 20)", "--file-quota-bytes", "\(30 << 20)",
        ])
        defer {
            server.process.terminate()
            try? FileManager.default.removeItem(atPath: server.dataDir)
        }
        let ctx = ConformanceContext(url: server.url, limits: Limits())
        let alice = try await ctx.newUser("alice")
        let http = HTTPClient(eventLoopGroupProvider: .singleton)
        defer { Task { try? await http.shutdown() } }
        let url = "http://127.0.0.1:\(server.port)/v1/files"

        // Declared too large: refused before reading.
        var declared = HTTPClientRequest(url: url)
        declared.method = .POST
        declared.headers.add(name: "Authorization", value: "Bearer \(alice.token)")
        let big = ByteBuffer(repeating: 0x41, count: 26 << 20)
        declared.body = .bytes(big)
        let before = Self.rss(server.process.processIdentifier)
        let refused = try await Self.executeRefused(http, declared)
        #expect(refused.status.code == 413)

        // Streamed without a length (chunked): refused once 25 MiB have passed, not kept.
        func chunked() -> HTTPClientRequest {
            var request = HTTPClientRequest(url: url)
            request.method = .POST
            request.headers.add(name: "Authorization", value: "Bearer \(alice.token)")
            let pieces = AsyncStream<ByteBuffer> { continuation in
                for _ in 0..<26 { continuation.yield(ByteBuffer(repeating: 0x42, count: 1 << 20)) }
                continuation.finish()
            }
            request.body = .stream(pieces, length: .unknown)
            return request
        }
        let streamed = try await Self.executeRefused(http, chunked(), again: chunked)
        #expect(streamed.status.code == 413)
        let after = Self.rss(server.process.processIdentifier)
        #expect(after - before < 26 << 20, "RSS grew by \(after - before) bytes for a refused 26 MiB upload")
        print("files: RSS before \(before) after \(after) bytes (two refused 26 MiB uploads)")
        #expect(Self.blobs(server.dataDir).isEmpty)
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: server.dataDir + "/files/tmp")) ?? []).isEmpty)

        // Quota: 20 MiB fits, another 20 MiB does not (30 MiB per user).
        let files = try FileTransfer(serverURL: server.url, token: alice.token)
        defer { Task { await files.shutdown() } }
        let (first, _) = try Self.temporaryFile(20 << 20, seed: 1)
        let (second, _) = try Self.temporaryFile(20 << 20, seed: 2)
        defer {
            unlink(first)
            unlink(second)
        }
        _ = try await files.upload(path: first)
        do {
            _ = try await files.upload(path: second)
            Issue.record("an upload over the quota was stored")
        } catch let failure as FileTransfer.Failure {
            #expect(failure.status == 413)
            #expect(failure.code == "quota_exceeded")
        }
        #expect(Self.blobs(server.dataDir).count == 1)

        // Interrupted: the client sends half of what it declared and goes away.
        let socket = try HostileClientTests.RawSocket(port: server.port)
        let head =
            "POST /v1/files HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer \(alice.token)\r\n"
            + "Content-Length: 4000000\r\n\r\n"
        #expect(socket.send(head + String(repeating: "C", count: 2_000_000)))
        try await Task.sleep(for: .milliseconds(300))
        socket.close()
        var clean = false
        for _ in 0..<100 where !clean {
            try await Task.sleep(for: .milliseconds(50))
            clean =
                ((try? FileManager.default.contentsOfDirectory(atPath: server.dataDir + "/files/tmp")) ?? []).isEmpty
        }
        #expect(clean, "an interrupted upload left a file behind")
        #expect(Self.blobs(server.dataDir).count == 1)
    }

    /// Reads what arrives on a raw socket within `milliseconds`.
    static func read(_ socket: HostileClientTests.RawSocket, within milliseconds: Int32) -> String {
        var text = ""
        var waited: Int32 = 0
        while waited < milliseconds {
            var descriptor = pollfd(fd: socket.fd, events: Int16(POLLIN), revents: 0)
            if poll(&descriptor, 1, 50) > 0 {
                var buffer = [UInt8](repeating: 0, count: 65536)
                let n = recv(socket.fd, &buffer, buffer.count, 0)
                if n <= 0 { break }
                text += String(decoding: buffer[0..<n], as: UTF8.self)
            } else {
                waited += 50
            }
        }
        return text
    }

    @Test("Expect: 100-continue gets 100 Continue on an upload that fits, none on one over the limit")
    func expectContinue() async throws {
        let server = try await ProcessTests.startServer()
        defer {
            server.process.terminate()
            try? FileManager.default.removeItem(atPath: server.dataDir)
        }
        let ctx = ConformanceContext(url: server.url, limits: Limits())
        let alice = try await ctx.newUser("alice")
        let head =
            "POST /v1/files HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer \(alice.token)\r\n"
            + "Expect: 100-continue\r\nContent-Type: text/plain\r\n"
        let fits = try HostileClientTests.RawSocket(port: server.port)
        defer { fits.close() }
        #expect(fits.send(head + "Content-Length: 5\r\n\r\n"))
        let interim = Self.read(fits, within: 500)
        #expect(interim.hasPrefix("HTTP/1.1 100 Continue\r\n"), "\(interim)")
        #expect(fits.send("hello"))
        let final = Self.read(fits, within: 1000)
        #expect(final.hasPrefix("HTTP/1.1 201"), "\(final)")

        let big = try HostileClientTests.RawSocket(port: server.port)
        defer { big.close() }
        #expect(big.send(head + "Content-Length: \((25 << 20) + 1)\r\n\r\n"))
        let refused = Self.read(big, within: 1000)
        #expect(refused.hasPrefix("HTTP/1.1 413"), "\(refused)")
    }

    @Test(
        "chat upload shares a file; chat download ID saves it by its safe name, then name (1)",
        .timeLimit(.minutes(1))
    )
    func cli() async throws {
        let server = try await ProcessTests.startServer()
        defer {
            server.process.terminate()
            try? FileManager.default.removeItem(atPath: server.dataDir)
        }
        let config = NSTemporaryDirectory() + "chat-cli-files-\(UUID().uuidString)"
        let downloads = config + "/downloads"
        defer { try? FileManager.default.removeItem(atPath: config) }
        func chat(_ arguments: [String]) async throws -> (Int32, String) {
            let (process, out) = try ProcessTests.chatProcess(arguments, config: config, password: "cli-password")
            var environment = process.environment ?? [:]
            environment["XDG_DOWNLOAD_DIR"] = downloads
            process.environment = environment
            process.standardInput = FileHandle.nullDevice
            try process.run()
            let status = try await ProcessTests.waitForExit(process)
            return (status, String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self))
        }
        let user = "up\(Int.random(in: 1000...9999))"
        #expect(try await chat(["login", "--server", server.url, "--user", user, "--register"]).0 == 0)
        let (path, sha) = try Self.temporaryFile(1_500_000, seed: 3)
        defer { unlink(path) }
        let upload = try await chat([
            "upload", "--server", server.url, "--user", user, "--room", "lobby", "--caption", "logs", path,
        ])
        #expect(upload.0 == 0, "\(upload.1)")
        guard case .object(let o)? = try? JSONParser().parse(upload.1), case .object(let file)? = o["file"],
            let id = file["id"]?.stringValue
        else {
            Issue.record("chat upload printed \(upload.1)")
            return
        }
        #expect(file["sha256"]?.stringValue == sha)
        #expect(o["room"]?.stringValue == "lobby")
        for expected in [(path as NSString).lastPathComponent, "chat-upload-x (1).bin"] {
            let download = try await chat(["download", "--server", server.url, "--user", user, "--quiet", id])
            #expect(download.0 == 0, "\(download.1)")
            guard case .object(let d)? = try? JSONParser().parse(download.1), let saved = d["path"]?.stringValue else {
                Issue.record("chat download printed \(download.1)")
                continue
            }
            #expect(saved.hasPrefix(downloads + "/"))
            #expect(try FileTransfer.sha256(ofFile: saved) == sha)
            if expected.hasSuffix("(1).bin") { #expect(saved.hasSuffix(" (1).bin"), "\(saved)") }
        }
        let explicit = config + "/mine.bin"
        let download = try await chat(["download", "--server", server.url, "--user", user, "-o", explicit, id])
        #expect(download.0 == 0)
        #expect(try FileTransfer.sha256(ofFile: explicit) == sha)
        let again = try await chat(["download", "--server", server.url, "--user", user, "-o", explicit, id])
        #expect(again.0 != 0, "-o onto an existing file is refused")
        let missing = try await chat([
            "download", "--server", server.url, "--user", user, String(repeating: "0", count: 32),
        ])
        #expect(missing.0 != 0)
    }

    @Test("backup and restore carry the files; admin lists and removes them")
    func backupRestore() async throws {
        let dataDir = NSTemporaryDirectory() + "chat-files-bak-\(UUID().uuidString)"
        let restored = dataDir + "-restored"
        let backup = dataDir + ".bak"
        defer {
            for path in [dataDir, restored, backup] { try? FileManager.default.removeItem(atPath: path) }
        }
        var server = try await ProcessTests.startServer(dataDir: dataDir)
        let ctx = ConformanceContext(url: server.url, limits: Limits())
        let alice = try await ctx.newUser("alice")
        let room = ctx.unique("bak")
        try await ctx.join(alice.client, room)
        let (path, sha) = try Self.temporaryFile(2_500_000, seed: 9)
        defer { unlink(path) }
        let files = try FileTransfer(serverURL: server.url, token: alice.token)
        let uploaded = try await files.upload(path: path, name: "notes.txt", mime: "text/plain")
        await files.shutdown()
        _ = try expectOK(try await Self.sendFile(alice.client, room: room, file: uploaded.id), "send")

        let listed = try MessageDeleteAdminTests.admin(["file", "list", "--json"], dataDir: dataDir)
        #expect(listed.status == 0, "\(listed.err)")
        #expect(listed.out.contains(uploaded.id) && listed.out.contains(room), "\(listed.out)")
        let usage = try MessageDeleteAdminTests.admin(["file", "usage"], dataDir: dataDir)
        #expect(usage.status == 0 && usage.out.contains("alice") && usage.out.contains("2500000"), "\(usage.out)")

        let made = try MessageDeleteAdminTests.admin(["backup", "--out", backup], dataDir: dataDir)
        #expect(made.status == 0, "\(made.err)")
        server.process.terminate()
        server.process.waitUntilExit()
        let back = try MessageDeleteAdminTests.admin(["restore", "--from", backup], dataDir: restored)
        #expect(back.status == 0, "\(back.err)")

        server = try await ProcessTests.startServer(dataDir: restored)
        defer { server.process.terminate() }
        let downloads = try FileTransfer(serverURL: server.url, token: alice.token)
        defer { Task { await downloads.shutdown() } }
        let target = restored + "-download"
        defer { unlink(target) }
        try await downloads.download(uploaded, to: target)
        #expect(try FileTransfer.sha256(ofFile: target) == sha)

        let removed = try MessageDeleteAdminTests.admin(["file", "remove", uploaded.id], dataDir: restored)
        #expect(removed.status == 0, "\(removed.err)")
        do {
            try await downloads.download(uploaded, to: target + "-2")
            Issue.record("downloaded a removed file")
        } catch let failure as FileTransfer.Failure {
            #expect(failure.status == 404)
        }
    }
}
