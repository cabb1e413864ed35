import ChatConformance
import ChatCore
import Foundation
import Testing

// MARK: - Processes and files

struct E2EFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// A fresh folder under the temporary directory.
func makeTemporaryDirectory(_ prefix: String) throws -> String {
    let path = NSTemporaryDirectory() + "\(prefix)-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

/// A program started with `posix_spawn`: default signal handlers, nothing blocked, and only stdin
/// (/dev/null), stdout and stderr (one pipe) open.
///
/// Foundation's `Process` is not used for tmux: the tmux server daemonizes from the first client and would
/// inherit the descriptor `Process` watches to notice the exit (so the client's exit is never noticed), and
/// it would inherit the test runner's signal mask (a tmux or `chat` with SIGHUP or SIGTERM blocked ignores
/// `kill-server`).
struct Spawned {
    let pid: pid_t
    /// Non-blocking read end of the output pipe.
    let output: Int32

    /// Starts a program.
    ///
    /// - Parameters:
    ///   - path: the executable.
    ///   - arguments: its arguments.
    ///   - environment: variables to set (nil removes one) on top of this process's environment.
    init(_ path: String, _ arguments: [String], environment: [String: String?] = [:]) throws {
        guard let closeFrom = Self.addCloseFrom else {
            throw E2EFailure("posix_spawn_file_actions_addclosefrom_np is missing (glibc 2.34 or later is needed)")
        }
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { throw E2EFailure("pipe failed: errno \(errno)") }
        _ = fcntl(fds[0], F_SETFD, FD_CLOEXEC)
        _ = fcntl(fds[1], F_SETFD, FD_CLOEXEC)
        _ = fcntl(fds[0], F_SETFL, O_NONBLOCK)
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, fds[1], 1)
        posix_spawn_file_actions_adddup2(&actions, fds[1], 2)
        _ = closeFrom(&actions, 3)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var none = sigset_t()
        sigemptyset(&none)
        var all = sigset_t()
        sigfillset(&all)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        var variables = ProcessInfo.processInfo.environment
        for (key, value) in environment { variables[key] = value }
        let argv = ([path] + arguments).map { strdup($0) } + [nil]
        let envp = variables.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { for pointer in argv + envp { free(pointer) } }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, path, &actions, &attributes, argv, envp)
        close(fds[1])
        guard result == 0 else {
            close(fds[0])
            throw E2EFailure("cannot run \(path): \(String(cString: strerror(result)))")
        }
        self.pid = pid
        self.output = fds[0]
    }

    private typealias AddCloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>?, Int32) -> Int32

    /// glibc's `posix_spawn_file_actions_addclosefrom_np` (Swift's Glibc module does not declare it).
    private static let addCloseFrom: AddCloseFrom? = dlsym(nil, "posix_spawn_file_actions_addclosefrom_np").map {
        unsafeBitCast($0, to: AddCloseFrom.self)
    }

    /// Appends what can be read now.
    func drain(into data: inout [UInt8]) {
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = read(output, &buffer, buffer.count)
            if count <= 0 { return }
            data += buffer[..<count]
        }
    }

    /// The exit status if the program has ended (reaping it), else nil.
    func poll() -> Int32? {
        var status: Int32 = 0
        guard waitpid(pid, &status, WNOHANG) == pid else { return nil }
        return status & 0x7F == 0 ? (status >> 8) & 0xFF : 128 + (status & 0x7F)
    }

    /// Kills and reaps the program.
    func abandon() {
        kill(pid, SIGKILL)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        close(output)
    }

    /// Waits for the end (bounded); returns the exit status and the output.
    func finish(timeout: Duration = .seconds(20)) async throws -> (status: Int32, output: String) {
        let deadline = ContinuousClock.now + timeout
        var data: [UInt8] = []
        while true {
            drain(into: &data)
            if let status = poll() {
                drain(into: &data)
                close(output)
                return (status, String(decoding: data, as: UTF8.self))
            }
            guard ContinuousClock.now < deadline, !Task.isCancelled else {
                abandon()
                throw E2EFailure("\(pid) did not finish within \(timeout)")
            }
            try? await Task.sleep(for: .milliseconds(5))
        }
    }

    /// Waits for the end without suspending (for cleanup in `defer`); kills the program after `seconds`.
    func finishBlocking(seconds: Double = 10) {
        let deadline = Date().addingTimeInterval(seconds)
        var data: [UInt8] = []
        while Date() < deadline {
            drain(into: &data)
            if poll() != nil {
                close(output)
                return
            }
            usleep(5000)
        }
        abandon()
    }
}

/// Runs a program to its end; returns its exit status and its output (stdout and stderr together).
///
/// - Parameters:
///   - path: the executable.
///   - arguments: its arguments.
///   - environment: variables to set (nil removes one) on top of this process's environment.
func runTool(
    _ path: String,
    _ arguments: [String],
    environment: [String: String?] = [:]
) async throws -> (status: Int32, output: String) {
    try await Spawned(path, arguments, environment: environment).finish()
}

/// The argument quoted for sh.
func shellQuoted(_ argument: String) -> String {
    "'" + argument.replacingOccurrences(of: "'", with: "'\\''") + "'"
}
