import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The files of a data directory:
///
/// - `snap-NNNNNNNN.snap`: the whole state when log segment N began;
/// - `log-NNNNNNNN.aof`: records after snapshot N (segment 0 has no snapshot);
/// - `LOCK`: held (flock) by the running server;
/// - `RUNNING`: present while a server runs (boot id, fsync policy); its presence at
///   start means the last stop was not clean;
/// - `EPOCH-RESET`: left by `restore`; the next start gives every room a new epoch.
package struct DataDirectory: Sendable {
    package let path: String

    package init(_ path: String) { self.path = path }

    /// Creates the directory (and its parents) if needed and makes it 0700 — also one that
    /// existed with looser permissions, since it holds every message in clear text.
    package func prepare() throws {
        try FileManager.default.createDirectory(
            atPath: path,
            withIntermediateDirectories: true,
            attributes: [.posixPermissions: 0o700]
        )
        guard chmod(path, 0o700) == 0 else {
            throw StorageError.io(path, "cannot make the data directory private: \(String(cString: strerror(errno)))")
        }
    }

    /// Creates a new private file for writing (0600): a stale one of the same name is removed
    /// first, and a symbolic link or a file created meanwhile by someone else is refused rather
    /// than followed or truncated.
    ///
    /// - Parameters:
    ///   - path: the file.
    package static func createPrivateFile(_ path: String) throws -> Int32 {
        unlink(path)
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw StorageError.io(path, "cannot create: \(String(cString: strerror(errno)))") }
        return fd
    }

    package func snapshotPath(_ generation: Int) -> String { path + "/snap-" + Self.padded(generation) + ".snap" }
    package func logPath(_ generation: Int) -> String { path + "/log-" + Self.padded(generation) + ".aof" }

    /// `generation` in decimal with at least 8 digits (as `%08d`, without Foundation's formatter).
    static func padded(_ generation: Int) -> String {
        let digits = String(generation)
        return digits.count >= 8 ? digits : String(repeating: "0", count: 8 - digits.count) + digits
    }
    package var lockPath: String { path + "/LOCK" }

    /// Opens `LOCK` and takes its exclusive flock, retrying for up to 200 ms: a process being
    /// spawned elsewhere in this program holds a copy of every descriptor for a moment (between
    /// fork and exec, O_CLOEXEC or not), which must not read as "another server runs here".
    ///
    /// - Returns: the locked descriptor; closing it releases the lock.
    /// - Throws: `StorageError.locked` when another process holds the lock, `.io` when `LOCK`
    ///   cannot be opened.
    package func lockExclusively(_ message: String) throws -> Int32 {
        let fd = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw StorageError.io(lockPath, "cannot open the lock file: \(String(cString: strerror(errno)))")
        }
        var locked = flock(fd, LOCK_EX | LOCK_NB) == 0
        var attempts = 0
        while !locked, errno == EWOULDBLOCK, attempts < 10 {
            attempts += 1
            usleep(20_000)
            locked = flock(fd, LOCK_EX | LOCK_NB) == 0
        }
        guard locked else {
            close(fd)
            throw StorageError.locked(lockPath, message)
        }
        return fd
    }

    /// `POSTGRES`: written by a node that serves from PostgreSQL (`--postgres`) into its own
    /// directory; holds the database's URL without its password.
    package var postgresMarkerPath: String { path + "/POSTGRES" }

    /// Refuses the directory of a node serving from PostgreSQL: its state is in the database, so a
    /// single-box start, an offline admin command or a backup here would work on nothing (and a
    /// start would leave a single box's files the node then refuses).
    ///
    /// - Throws: `StorageError.io` naming the database.
    package func checkNotPostgresNode() throws {
        guard let bytes = FileManager.default.contents(atPath: postgresMarkerPath) else { return }
        let url = String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        throw StorageError.io(
            path,
            "this is the directory of a node serving from PostgreSQL (\(url)), where its state is: start it with "
                + "--postgres; account, invite, token, file and message commands work through the running node; "
                + "back the database up with pg_dump"
        )
    }

    /// The data directory's format (`FORMAT`) this binary writes and reads:
    /// 1: every message in the snapshot, no `FORMAT` file (before issue 16);
    /// 2: older messages in `cold/`, snapshot records 21–23 (`roomCold`, `fileShared`,
    ///    `roomExpired`).
    /// A binary reads every format up to its own and upgrades the directory in place at start;
    /// it refuses a newer one.
    package static let format = 2

    package var formatPath: String { path + "/FORMAT" }

    /// The directory's format: the number in `FORMAT`, 1 when there is no such file.
    ///
    /// - Throws: `StorageError.unsupportedFormat` for a format newer than `DataDirectory.format`,
    ///   `StorageError.corrupt` for a `FORMAT` file that does not name one.
    package func checkFormat() throws -> Int {
        try checkNotPostgresNode()
        guard let bytes = FileManager.default.contents(atPath: formatPath) else { return 1 }
        let text = String(decoding: bytes, as: UTF8.self)
        guard text.hasPrefix(Self.formatPrefix),
            let found = Int(text.dropFirst(Self.formatPrefix.count).prefix { $0 != "\n" }),
            found >= 1
        else {
            throw StorageError.corrupt(formatPath, offset: 0, "not a chat-server data format file")
        }
        guard found <= Self.format else {
            throw StorageError.unsupportedFormat(
                formatPath,
                "the data directory has format \(found), written by a newer chat-server; this one reads formats up "
                    + "to \(Self.format): run the newer binary, or restore a backup made before the upgrade"
            )
        }
        return found
    }

    /// Records that the directory is in this binary's format (atomically).
    package func writeFormat() throws {
        try writeAtomically(Array("\(Self.formatPrefix)\(Self.format)\n".utf8), to: formatPath)
    }

    static let formatPrefix = "chat-server data format "

    package var runningPath: String { path + "/RUNNING" }
    package var epochResetPath: String { path + "/EPOCH-RESET" }

    /// Generations of snapshots and logs present, ascending.
    package func generations() throws -> (snapshots: [Int], logs: [Int]) {
        let names = try FileManager.default.contentsOfDirectory(atPath: path)
        func numbers(_ prefix: String, _ suffix: String) -> [Int] {
            names.compactMap { name -> Int? in
                guard name.hasPrefix(prefix), name.hasSuffix(suffix) else { return nil }
                return Int(name.dropFirst(prefix.count).dropLast(suffix.count))
            }.sorted()
        }
        return (numbers("snap-", ".snap"), numbers("log-", ".aof"))
    }

    /// Whether the directory holds no state files.
    package func isEmpty() throws -> Bool {
        let g = try generations()
        return g.snapshots.isEmpty && g.logs.isEmpty
    }

    /// fsyncs the directory so renames and creations in it are durable.
    package func syncDirectory() {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return }
        _ = fsync(fd)
        close(fd)
    }

    /// Free bytes for an unprivileged writer on the file system holding `path` (nil: unknown).
    ///
    /// - Parameters:
    ///   - path: an existing file or directory.
    package static func freeBytes(onFileSystemOf path: String) -> Int64? {
        let attributes = try? FileManager.default.attributesOfFileSystem(forPath: path)
        return (attributes?[.systemFreeSize] as? NSNumber)?.int64Value
    }

    /// This boot's id (changes on every machine restart).
    package static func bootID() -> String {
        (try? String(contentsOfFile: "/proc/sys/kernel/random/boot_id", encoding: .utf8))?
            .trimmingCharacters(in: .whitespacesAndNewlines) ?? "unknown"
    }

    /// Reads a whole file.
    ///
    /// - Parameters:
    ///   - path: the file.
    package static func read(_ path: String) throws -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw StorageError.io(path, "cannot open: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        let size = lseek(fd, 0, SEEK_END)
        guard size >= 0 else { throw StorageError.io(path, "cannot seek") }
        var bytes = [UInt8](repeating: 0, count: Int(size))
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + done, $0.count - done, off_t(done)) }
            if n < 0 {
                if errno == EINTR { continue }
                throw StorageError.io(path, "read failed: \(String(cString: strerror(errno)))")
            }
            if n == 0 { break }
            done += n
        }
        return Array(bytes[0..<done])
    }

    /// Writes all bytes to a descriptor.
    ///
    /// - Parameters:
    ///   - fd: the descriptor.
    ///   - bytes: the data.
    ///   - path: for errors (made only when one occurs: the log writer calls this for every batch).
    package static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, path: @autoclosure () -> String) throws {
        var done = 0
        while done < bytes.count {
            let n = write(fd, bytes.baseAddress! + done, bytes.count - done)
            if n < 0 {
                if errno == EINTR { continue }
                let reason = "write failed: \(String(cString: strerror(errno)))"
                if errno == ENOSPC || errno == EDQUOT { throw StorageError.noSpace(path(), reason) }
                throw StorageError.io(path(), reason)
            }
            done += n
        }
    }

    /// Writes a small file atomically (temp file, fsync, rename, directory fsync).
    ///
    /// - Parameters:
    ///   - contents: file contents.
    ///   - path: destination.
    package func writeAtomically(_ contents: [UInt8], to destination: String) throws {
        let temporary = destination + ".tmp"
        let fd = try Self.createPrivateFile(temporary)
        do {
            try contents.withUnsafeBytes { try Self.writeAll(fd, $0, path: temporary) }
            guard fsync(fd) == 0 else { throw StorageError.io(temporary, "fsync failed") }
        } catch {
            close(fd)
            throw error
        }
        close(fd)
        guard rename(temporary, destination) == 0 else { throw StorageError.io(destination, "rename failed") }
        syncDirectory()
    }
}
