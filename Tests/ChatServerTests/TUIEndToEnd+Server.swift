import ChatConformance
import ChatCore
import Foundation
import Testing

// MARK: - The server

/// A chat-server process on a fixed port, so it can be stopped and started again on the same port and data.
/// Its log goes to a file (shown when it fails to start), not to a pipe nobody reads.
final class E2EServer {
    let port: Int
    let directory: String
    let extra: [String]
    private(set) var process: Process
    var url: String { "ws://127.0.0.1:\(port)" }
    var dataDir: String { directory + "/data" }
    var logPath: String { directory + "/server.log" }

    private init(port: Int, directory: String, extra: [String], process: Process) {
        self.port = port
        self.directory = directory
        self.extra = extra
        self.process = process
    }

    /// Starts a server on a free port and a fresh data directory.
    static func start(extra: [String] = []) async throws -> E2EServer {
        let directory = try makeTemporaryDirectory("chat-e2e-server")
        let port = try ProcessTests.freePort()
        let process = try await launch(port: port, directory: directory, extra: extra)
        return E2EServer(port: port, directory: directory, extra: extra, process: process)
    }

    /// SIGTERM, then the exit, which must be 0.
    func terminate() async throws {
        kill(process.processIdentifier, SIGTERM)
        let status = try await ProcessTests.waitForExit(process)
        #expect(status == 0, "chat-server exits 0 on SIGTERM")
    }

    /// Starts the server again on the same port and data directory.
    func restart() async throws {
        process = try await Self.launch(port: port, directory: directory, extra: extra)
    }

    /// Stops the server if it runs (SIGTERM, then SIGKILL after 5 s) and removes its files.
    func stop() {
        if process.isRunning {
            process.terminate()
            for _ in 0..<250 where process.isRunning { usleep(20_000) }
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        }
        try? FileManager.default.removeItem(atPath: directory)
    }

    private static func launch(port: Int, directory: String, extra: [String]) async throws -> Process {
        let log = directory + "/server.log"
        if !FileManager.default.fileExists(atPath: log) {
            _ = FileManager.default.createFile(atPath: log, contents: nil)
        }
        // The port may still be held for a moment after a stop: a start that exits at once is retried.
        for _ in 0..<20 {
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
            defer { try? handle.close() }
            let logStart = try handle.seekToEnd()
            let process = Process()
            process.executableURL = try ProcessTests.executable("chat-server")
            process.arguments =
                ["--host", "127.0.0.1", "--port", "\(port)", "--data-dir", directory + "/data", "--scrypt-n", "1024"]
                + extra
            process.standardError = handle
            process.standardOutput = FileHandle.nullDevice
            try process.run()
            let deadline = ContinuousClock.now + .seconds(15)
            while process.isRunning, ContinuousClock.now < deadline {
                // Our process must say it listens: another test's server may have taken the port
                // between `freePort()` and this start, and would answer /healthz instead.
                if (try? await httpStatus(url: "ws://127.0.0.1:\(port)", path: "/healthz")) == 200, process.isRunning,
                    Self.logSince(logStart, in: log).contains("listening on 127.0.0.1:\(port)")
                {
                    return process
                }
                try await Task.sleep(for: .milliseconds(50))
            }
            if process.isRunning {
                process.terminate()
                break
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        throw E2EFailure("chat-server did not start on port \(port); its log:\n\(text.suffix(2000))")
    }

    /// The log written after `offset`.
    private static func logSince(_ offset: UInt64, in path: String) -> String {
        guard let handle = FileHandle(forReadingAtPath: path) else { return "" }
        defer { try? handle.close() }
        try? handle.seek(toOffset: offset)
        return String(decoding: handle.readDataToEndOfFile(), as: UTF8.self)
    }
}
