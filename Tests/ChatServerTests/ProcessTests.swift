import ChatConformance
import ChatCore
import Foundation
import Testing

/// Runs the built executables as separate processes, as a user would.
@Suite("Executables", .serialized)
struct ProcessTests {
    /// The folder holding the built products (next to the test bundle).
    static var productsDirectory: URL {
        let candidates = [
            URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent(),
            URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
                .deletingLastPathComponent().appendingPathComponent(".build/debug"),
        ]
        return candidates.first {
            FileManager.default.isExecutableFile(atPath: $0.appendingPathComponent("chat-server").path)
        } ?? candidates[0]
    }

    static func executable(_ name: String) throws -> URL {
        let url = productsDirectory.appendingPathComponent(name)
        guard FileManager.default.isExecutableFile(atPath: url.path) else {
            throw WireError("\(url.path) is missing: build all products first (swift build --build-tests)")
        }
        return url
    }

    /// A free loopback port (bind 0, read it, close).
    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0
            }
        }
        guard bound else { throw WireError("cannot bind a probe socket") }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    struct Running {
        let process: Process
        let port: Int
        let dataDir: String
        /// Its standard error: an unlinked file, read through this handle (nothing is left in /tmp).
        let logHandle: FileHandle
        var url: String { "ws://127.0.0.1:\(port)" }
        /// Everything it logged so far.
        var log: String {
            guard (try? logHandle.seek(toOffset: 0)) != nil, let data = try? logHandle.readToEnd() else { return "" }
            return String(decoding: data, as: UTF8.self)
        }
    }

    static func startServer(
        dataDir: String = NSTemporaryDirectory() + "chat-test-\(UUID().uuidString)",
        extra: [String] = [],
        environment: [String: String] = [:],
        launcher: [String] = []
    ) async throws -> Running {
        // The port is free when probed but another test may take it before this server binds it:
        // a server that does not say it listens on it is retried on another port.
        for _ in 0..<5 {
            let port = try freePort()
            let logPath = NSTemporaryDirectory() + "chat-test-log-\(UUID().uuidString)"
            _ = FileManager.default.createFile(atPath: logPath, contents: nil)
            let logHandle = try FileHandle(forReadingFrom: URL(fileURLWithPath: logPath))
            let process = Process()
            process.executableURL = try executable("chat-server")
            // The lowest scrypt cost keeps the debug build's logins fast (the default is 2^16).
            process.arguments =
                ["--host", "127.0.0.1", "--port", "\(port)", "--data-dir", dataDir, "--scrypt-n", "1024"] + extra
            if let command = launcher.first {
                // Started through another program (`taskset`), which execs the server.
                process.arguments = Array(launcher.dropFirst()) + [process.executableURL!.path] + process.arguments!
                process.executableURL = URL(fileURLWithPath: command)
            }
            process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
            process.standardOutput = FileHandle.nullDevice
            if !environment.isEmpty {
                process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
            }
            try process.run()
            unlink(logPath)
            let running = Running(process: process, port: port, dataDir: dataDir, logHandle: logHandle)
            for _ in 0..<300 where process.isRunning {
                if running.log.contains("listening on 127.0.0.1:\(port)"),
                    (try? await httpStatus(url: running.url, path: "/healthz")) == 200
                {
                    return running
                }
                try await Task.sleep(for: .milliseconds(50))
            }
            if process.isRunning {
                process.terminate()
                throw WireError("chat-server did not answer /healthz; its log:\n\(running.log.suffix(2000))")
            }
        }
        throw WireError("chat-server did not start (5 ports tried)")
    }

    static func waitForExit(_ process: Process, seconds: Int = 20) async throws -> Int32 {
        for _ in 0..<(seconds * 20) {
            if !process.isRunning { return process.terminationStatus }
            // Foundation's Process was seen, under load, never to reap a child that had exited
            // (a zombie: `isRunning` stays true): reap it here. WNOHANG: a running child is left
            // alone; if Foundation reaps it first, this returns -1 and `isRunning` turns false.
            var status: Int32 = 0
            if waitpid(process.processIdentifier, &status, WNOHANG) == process.processIdentifier {
                let signal = status & 0x7f
                return signal == 0 ? (status >> 8) & 0xff : signal
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        process.interrupt()
        throw WireError("process did not exit within \(seconds) s")
    }

    /// A `chat` process (not started) with its own configuration directory and password,
    /// its standard output to a pipe and its standard error discarded.
    static func chatProcess(
        _ arguments: [String],
        config: String,
        password: String?
    ) throws -> (process: Process, output: Pipe) {
        let process = Process()
        process.executableURL = try executable("chat")
        process.arguments = arguments
        var environment = ProcessInfo.processInfo.environment
        environment["XDG_CONFIG_HOME"] = config
        environment["CHAT_PASSWORD"] = password
        process.environment = environment
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        return (process, output)
    }

    @Test("SIGTERM closes clients with 1001 and exits 0", arguments: [SIGTERM, SIGINT])
    func gracefulSignal(_ signal: Int32) async throws {
        let server = try await Self.startServer()
        let context = ConformanceContext(url: server.url, limits: Limits())
        let user = try await context.newUser()
        kill(server.process.processIdentifier, signal)
        #expect(try await user.client.waitForClose() == 1001)
        #expect(try await Self.waitForExit(server.process) == 0)
        #expect(FileManager.default.fileExists(atPath: server.dataDir), "--data-dir is created")
    }

    @Test(
        "invalid flags are refused with a message",
        arguments: [
            ["--port", "70000"], ["--rate-per-sec", "0"], ["--registration", "maybe"], ["--log-level", "loud"],
        ]
    )
    func invalidFlags(_ flags: [String]) async throws {
        let process = Process()
        process.executableURL = try Self.executable("chat-server")
        process.arguments = flags
        let stderr = Pipe()
        process.standardError = stderr
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let status = try await Self.waitForExit(process)
        let text = String(decoding: stderr.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(status != 0)
        #expect(text.contains("Error"), "stderr: \(text)")
    }

    @Test("on a fresh data directory the server says how the first account comes to be; not once there is one")
    func firstStartHint() async throws {
        let dataDir = NSTemporaryDirectory() + "chat-test-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dataDir) }
        var server = try await Self.startServer(dataDir: dataDir, extra: ["--registration", "invite"])
        let hint = "create the first invite code with 'chat-server invite create --data-dir \(dataDir)'"
        var logged = false
        for _ in 0..<100 where !logged {
            logged = server.log.lowercased().contains(hint.lowercased())
            if !logged { try await Task.sleep(for: .milliseconds(50)) }
        }
        #expect(logged, "the log:\n\(server.log)")
        server.process.terminate()
        _ = try await Self.waitForExit(server.process)

        server = try await Self.startServer(dataDir: dataDir)  // loopback: sign-up is open
        #expect(server.log.contains("sign-up is open to anyone who reaches ws://127.0.0.1:\(server.port)"))
        let user = try await ConformanceContext(url: server.url, limits: Limits()).newUser("first")
        await user.client.disconnect()
        server.process.terminate()
        _ = try await Self.waitForExit(server.process)

        server = try await Self.startServer(dataDir: dataDir)
        try await Task.sleep(for: .milliseconds(300))
        #expect(!server.log.contains("first start"), "an account exists:\n\(server.log)")
        server.process.terminate()
        _ = try await Self.waitForExit(server.process)
    }

    @Test("--version prints the version and commit", arguments: ["chat-server", "chat", "chat-conformance"])
    func version(_ binary: String) async throws {
        let process = Process()
        process.executableURL = try Self.executable(binary)
        process.arguments = ["--version"]
        process.environment = [:]
        let out = Pipe()
        process.standardOutput = out
        try process.run()
        #expect(try await Self.waitForExit(process) == 0)
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(text == "\(BuildInfo.description)\n")
        #expect(text.hasPrefix("dev (commit "), "a build from a checkout: \(text)")
    }

    @Test("--help explains every flag")
    func help() async throws {
        let process = Process()
        process.executableURL = try Self.executable("chat-server")
        process.arguments = ["serve", "--help"]
        let out = Pipe()
        process.standardOutput = out
        try process.run()
        _ = try await Self.waitForExit(process)
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        for flag in [
            "--host", "--port", "--data-dir", "--rate-per-sec", "--rate-burst", "--max-text", "--history-limit",
            "--max-frame", "--log-level", "--registration", "--tls-cert", "--tls-key", "--handshake-timeout",
            "--ping-interval", "--no-admin-socket", "--scrypt-n",
        ] {
            #expect(text.contains(flag), "help mentions \(flag)")
        }
    }

    @Test("chat login, send and tail work against a running server", .timeLimit(.minutes(1)))
    func cliEndToEnd() async throws {
        let server = try await Self.startServer()
        defer { server.process.terminate() }
        let config = NSTemporaryDirectory() + "chat-cli-\(UUID().uuidString)"
        let user = "cli\(Int.random(in: 1000...9999))"
        func chat(_ arguments: [String], password: String? = "cli-password") async throws -> (Int32, String) {
            let (process, out) = try Self.chatProcess(arguments, config: config, password: password)
            process.standardInput = FileHandle.nullDevice
            try process.run()
            let status = try await Self.waitForExit(process)
            return (status, String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self))
        }
        let login = try await chat(["login", "--server", server.url, "--user", user, "--register"])
        #expect(login.0 == 0)
        let attributes = try FileManager.default.attributesOfItem(atPath: config + "/chat/tokens.json")
        #expect((attributes[.posixPermissions] as? Int) == 0o600)
        // With the stored token, no password is needed.
        let sent = try await chat(
            ["send", "--server", server.url, "--user", user, "--room", "cli", "日本語 ✓"],
            password: nil
        )
        #expect(sent.0 == 0)
        #expect(sent.1.contains(#""seq":1"#))

        let (tail, out) = try Self.chatProcess(
            ["tail", "--server", server.url, "--user", user, "--room", "cli", "--since", "0"],
            config: config,
            password: nil
        )
        try tail.run()
        _ = try await chat(["send", "--server", server.url, "--user", user, "--room", "cli", "second"], password: nil)
        var lines: [String] = []
        let reader = out.fileHandleForReading
        var buffer = Data()
        while lines.count < 2 {
            let chunk = reader.availableData
            if chunk.isEmpty { break }
            buffer.append(chunk)
            lines = String(decoding: buffer, as: UTF8.self).split(separator: "\n").map(String.init)
        }
        tail.terminate()
        #expect(lines.count == 2)
        #expect(lines.first?.contains("日本語 ✓") == true)
        #expect(lines.last?.contains(#""seq":2"#) == true)
    }

    @Test("chat login --register --invite signs up on a server where sign-up is by invite", .timeLimit(.minutes(1)))
    func cliInvite() async throws {
        let server = try await Self.startServer(extra: ["--registration", "invite"])
        defer { server.process.terminate() }
        let config = NSTemporaryDirectory() + "chat-cli-\(UUID().uuidString)"
        func run(_ binary: String, _ arguments: [String]) async throws -> (Int32, String) {
            let (process, out) =
                binary == "chat"
                ? try Self.chatProcess(arguments, config: config, password: "cli-password")
                : (Process(), Pipe())
            if binary != "chat" {
                process.executableURL = try Self.executable(binary)
                process.arguments = arguments
                process.standardOutput = out
                process.standardError = FileHandle.nullDevice
            }
            process.standardInput = FileHandle.nullDevice
            try process.run()
            let status = try await Self.waitForExit(process)
            return (status, String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self))
        }
        let user = "inv\(Int.random(in: 1000...9999))"
        let refused = try await run("chat", ["login", "--server", server.url, "--user", user, "--register"])
        #expect(refused.0 != 0, "no invite, no account")
        let created = try await run("chat-server", ["invite", "create", "--data-dir", server.dataDir])
        #expect(created.0 == 0)
        let code = created.1.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(!code.isEmpty)
        let login = try await run(
            "chat",
            ["login", "--server", server.url, "--user", user, "--register", "--invite", code]
        )
        #expect(login.0 == 0, "\(login.1)")
        #expect(login.1.contains("logged in as \(user)"))
        let misuse = try await run("chat", ["login", "--server", server.url, "--user", user, "--invite", code])
        #expect(misuse.0 != 0, "--invite without --register is refused")
    }

    @Test("chat send --to sends a direct message; chat tail --dm follows it", .timeLimit(.minutes(1)))
    func cliDirectMessage() async throws {
        let server = try await Self.startServer()
        defer { server.process.terminate() }
        let config = NSTemporaryDirectory() + "chat-cli-\(UUID().uuidString)"
        let (alice, bob) = ("alice\(Int.random(in: 1000...9999))", "bob\(Int.random(in: 1000...9999))")
        func chat(_ arguments: [String], password: String? = "cli-password") async throws -> (Int32, String) {
            let (process, out) = try Self.chatProcess(arguments, config: config, password: password)
            process.standardInput = FileHandle.nullDevice
            try process.run()
            let status = try await Self.waitForExit(process)
            return (status, String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self))
        }
        for user in [alice, bob] {
            #expect(try await chat(["login", "--server", server.url, "--user", user, "--register"]).0 == 0)
        }
        let room = DirectRoom.name(try Request.user(alice), try Request.user(bob)).display
        let sent = try await chat(
            ["send", "--server", server.url, "--user", alice, "--to", bob, "psst"],
            password: nil
        )
        #expect(sent.0 == 0)
        #expect(sent.1.contains(#""room":"\#(room)","seq":1"#), "\(sent.1)")
        let both = try await chat(
            ["send", "--server", server.url, "--user", alice, "--to", bob, "--room", "x", "no"],
            password: nil
        )
        #expect(both.0 != 0, "--to and --room together are refused")

        let (tail, out) = try Self.chatProcess(
            ["tail", "--server", server.url, "--user", bob, "--dm", alice, "--since", "0"],
            config: config,
            password: nil
        )
        try tail.run()
        var text = ""
        let reader = out.fileHandleForReading
        while !text.contains("psst") {
            let chunk = reader.availableData
            if chunk.isEmpty { break }
            text += String(decoding: chunk, as: UTF8.self)
        }
        tail.terminate()
        #expect(text.contains(#""room":"\#(room)""#) && text.contains("psst"), "\(text)")
    }
}
