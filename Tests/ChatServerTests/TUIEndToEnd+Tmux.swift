import ChatConformance
import ChatCore
import Foundation
import Testing

// MARK: - tmux

/// The `chat` TUI running in a detached session of a private tmux server.
final class TmuxChat {
    let tmux: String
    let socket: String
    let directory: String
    private(set) var columns: Int
    private(set) var rows: Int

    private init(tmux: String, socket: String, directory: String, columns: Int, rows: Int) {
        self.tmux = tmux
        self.socket = socket
        self.directory = directory
        self.columns = columns
        self.rows = rows
    }

    /// Starts `chat --server URL --user NAME --room ROOM` in a new tmux server.
    ///
    /// - Parameters:
    ///   - url: the server.
    ///   - user: who logs in.
    ///   - password: given as CHAT_PASSWORD.
    ///   - configHome: XDG_CONFIG_HOME (default: a fresh folder, so no token is stored yet).
    ///   - room: the room to open.
    ///   - columns: terminal width.
    ///   - rows: terminal height.
    static func start(
        url: String,
        user: String,
        password: String,
        configHome: String? = nil,
        room: String = TUIEndToEndTests.room,
        columns: Int = 80,
        rows: Int = 24,
        environment: [String: String] = [:]
    ) async throws -> TmuxChat {
        let tmux = try findTmux()
        let directory = try makeTemporaryDirectory("chat-e2e-tmux")
        let socket = "chat-e2e-\(getpid())-\(UUID().uuidString.prefix(8))"
        let session = TmuxChat(tmux: tmux, socket: socket, directory: directory, columns: columns, rows: rows)
        do {
            // No status line (it would take a row), and a dead pane stays on screen to show why it died.
            let config = directory + "/tmux.conf"
            try "set -g status off\nset -g remain-on-exit on\n".write(toFile: config, atomically: true, encoding: .utf8)
            let variables: [String] = environment.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
            let prefix: [String] = [
                "env", "LANG=C.UTF-8", "LC_ALL=C.UTF-8", "TERM=xterm-256color",
                "XDG_CONFIG_HOME=\(configHome ?? directory + "/config")", "CHAT_PASSWORD=\(password)",
            ]
            let program: [String] = [
                try ProcessTests.executable("chat").path, "--server", url, "--user", user, "--room", room,
            ]
            let command = (prefix + variables + program).map(shellQuoted).joined(separator: " ")
            try await session.run([
                "-f", config, "-u", "new-session", "-d", "-s", "chat", "-x", "\(columns)", "-y", "\(rows)", command,
            ])
            try await session.waitForScreen("the TUI to start") { $0.input.hasPrefix("[\(room)]") }
            return session
        } catch {
            session.kill()
            throw error
        }
    }

    /// Starts `chat` with no flags and no configuration, as on a first start: it asks for the
    /// server and the user on the terminal.
    ///
    /// - Parameters:
    ///   - configHome: XDG_CONFIG_HOME (an empty folder).
    ///   - login: $USER (the default user name offered).
    static func startFirstRun(configHome: String, login: String) async throws -> TmuxChat {
        let tmux = try findTmux()
        let directory = try makeTemporaryDirectory("chat-e2e-tmux")
        let socket = "chat-e2e-\(getpid())-\(UUID().uuidString.prefix(8))"
        let session = TmuxChat(tmux: tmux, socket: socket, directory: directory, columns: 100, rows: 24)
        do {
            let config = directory + "/tmux.conf"
            try "set -g status off\nset -g remain-on-exit on\n".write(toFile: config, atomically: true, encoding: .utf8)
            let command = [
                "env", "LANG=C.UTF-8", "LC_ALL=C.UTF-8", "TERM=xterm-256color", "XDG_CONFIG_HOME=\(configHome)",
                "USER=\(login)", try ProcessTests.executable("chat").path,
            ].map(shellQuoted).joined(separator: " ")
            try await session.run([
                "-f", config, "-u", "new-session", "-d", "-s", "chat", "-x", "100", "-y", "24", command,
            ])
            try await session.waitForScreen("the first question") { $0.text.contains("Server [ws://localhost:7878]:") }
            return session
        } catch {
            session.kill()
            throw error
        }
    }

    /// tmux, or a failure saying it is missing.
    static func findTmux() throws -> String {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        let folders = path.split(separator: ":").map(String.init) + ["/usr/bin", "/usr/local/bin", "/opt/homebrew/bin"]
        guard let tmux = folders.map({ $0 + "/tmux" }).first(where: FileManager.default.isExecutableFile(atPath:))
        else {
            throw E2EFailure("tmux is not installed (not on PATH): the TUI end-to-end tests need tmux 3.x")
        }
        return tmux
    }

    /// Runs a tmux command on this test's server; throws with tmux's output if it fails.
    @discardableResult
    func run(_ arguments: [String]) async throws -> String {
        let result = try await runTool(tmux, ["-L", socket] + arguments, environment: ["TMUX": nil, "TMUX_PANE": nil])
        guard result.status == 0 else {
            throw E2EFailure("tmux \(arguments.prefix(3).joined(separator: " ")) failed: \(result.output)")
        }
        return result.output
    }

    /// The pane as text.
    func capture() async throws -> Screen {
        var lines = try await run(["capture-pane", "-p", "-t", "chat"]).components(separatedBy: "\n")
        if lines.last == "" { lines.removeLast() }
        return Screen(lines: lines, columns: columns, rows: rows)
    }

    /// Types literal text.
    func type(_ text: String) async throws {
        try await run(["send-keys", "-t", "chat", "-l", text])
    }

    /// Presses keys by tmux name: Enter, PPage, NPage, C-n…
    func press(_ keys: String...) async throws {
        try await press(keys)
    }

    /// Presses keys by tmux name.
    func press(_ keys: [String]) async throws {
        try await run(["send-keys", "-t", "chat"] + keys)
    }

    /// Pastes text the way a terminal does (bracketed paste, if the client asked for it).
    func paste(_ text: String) async throws {
        try await run(["set-buffer", "-b", "e2e", "--", text])
        try await run(["paste-buffer", "-p", "-d", "-b", "e2e", "-t", "chat"])
    }

    /// Resizes the window (the client gets SIGWINCH).
    func resize(columns: Int, rows: Int) async throws {
        try await run(["resize-window", "-t", "chat", "-x", "\(columns)", "-y", "\(rows)"])
        self.columns = columns
        self.rows = rows
    }

    /// Polls the screen every 50 ms until the condition holds on a settled screen; fails with the last screen
    /// after `timeout`.
    @discardableResult
    func waitForScreen(
        _ what: String,
        timeout: Duration = .seconds(10),
        until condition: (Screen) -> Bool
    ) async throws -> Screen {
        try await waitForScreen(what, timeout: timeout) { condition($0) ? [] : ["not yet"] }
    }

    /// Polls the screen every 50 ms until `problems` finds none on a settled screen (two captures in a row
    /// alike: tmux may be caught halfway through a redraw); fails with them and the last screen after `timeout`.
    @discardableResult
    func waitForScreen(
        _ what: String,
        timeout: Duration = .seconds(10),
        problems: (Screen) -> [String]
    ) async throws -> Screen {
        let deadline = ContinuousClock.now + timeout
        var previous: [String]?
        while true {
            let screen = try await capture()
            let found = problems(screen)
            if found.isEmpty, screen.lines == previous { return screen }
            guard ContinuousClock.now < deadline else {
                let list = found.isEmpty || found == ["not yet"] ? "" : " (" + found.joined(separator: "; ") + ")"
                throw E2EFailure("timed out after \(timeout) waiting for \(what)\(list); the screen:\n\(screen)")
            }
            previous = screen.lines
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    /// Waits until the screen shows a text.
    @discardableResult
    func waitForScreen(containing text: String, timeout: Duration = .seconds(10)) async throws -> Screen {
        try await waitForScreen("\"\(text)\" on the screen", timeout: timeout) { $0.text.contains(text) }
    }

    /// Kills this test's tmux server (and the TUI in it); safe to call more than once.
    func kill() {
        if let spawned = try? Spawned(tmux, ["-L", socket, "kill-server"], environment: ["TMUX": nil]) {
            spawned.finishBlocking()
        }
        // tmux leaves its socket file behind.
        let folder = ProcessInfo.processInfo.environment["TMUX_TMPDIR"] ?? "/tmp"
        unlink("\(folder)/tmux-\(getuid())/\(socket)")
        try? FileManager.default.removeItem(atPath: directory)
    }
}
