import ChatLog
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Consistent backups of a data directory, safe while the server runs, and restores.
///
/// A backup holds the newest snapshot and every log segment after it, each cut at
/// its last complete record: a prefix of the server's history. Format: `CHATBAK1`,
/// then entries `[kind u8: 1 snapshot, 2 log][generation u32][length u32 lo][length u32 hi][bytes]`,
/// then `CHATBEND` and the CRC-32C of everything before it.
package enum Backup {
    static let magic = Array("CHATBAK1".utf8)
    static let endMagic = Array("CHATBEND".utf8)

    /// What a backup or restore handled.
    package struct Summary: Sendable, CustomStringConvertible {
        package var files: Int
        package var bytes: Int
        package var rooms: Int
        package var messages: Int
        package var description: String {
            "\(files) files, \(bytes) bytes, \(rooms) rooms, \(messages) messages"
        }
    }

    /// Writes a backup of a data directory (the server may be running).
    ///
    /// - Parameters:
    ///   - dataDirectory: the data directory.
    ///   - output: the backup file to write.
    package static func create(dataDirectory: String, output: String) throws -> Summary {
        let directory = DataDirectory(dataDirectory)
        guard FileManager.default.fileExists(atPath: dataDirectory) else {
            throw StorageError.io(dataDirectory, "no such data directory")
        }
        var lastError: (any Error)?
        for _ in 0..<20 {
            do {
                return try attempt(directory, output: output)
            } catch let error as Retry {
                lastError = error
                usleep(50_000)
            }
        }
        throw StorageError.io(
            dataDirectory,
            "the data directory kept changing during the backup: \(lastError.map { "\($0)" } ?? "")"
        )
    }

    private struct Retry: Error {}

    private static func attempt(_ directory: DataDirectory, output: String) throws -> Summary {
        let (snapshots, logs) = try directory.generations()
        let base = snapshots.last
        // Open everything first: an unlinked file stays readable through its descriptor,
        // so a snapshot finishing meanwhile cannot pull files from under us.
        var opened: [(kind: UInt8, generation: Int, fd: Int32, path: String)] = []
        defer { for file in opened { close(file.fd) } }
        if let base {
            let path = directory.snapshotPath(base)
            let fd = open(path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { throw Retry() }
            opened.append((1, base, fd, path))
        }
        for gen in logs where gen >= (base ?? 0) {
            let path = directory.logPath(gen)
            let fd = open(path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { throw Retry() }
            opened.append((2, gen, fd, path))
        }
        var out = magic
        var state = ChatState()
        var files = 0
        for file in opened {
            var bytes = try readAll(file.fd, path: file.path)
            if file.kind == 1 {
                state = try SnapshotFile.load(bytes: bytes, path: file.path, repair: false).state
            } else {
                let scan = bytes.withUnsafeBytes { raw in RecordFraming.scan(raw) { state.apply($0) } }
                if let problem = scan.problem, !problem.isTail {
                    throw StorageError.corrupt(file.path, offset: problem.offset, "damaged log: \(problem.reason)")
                }
                bytes.removeLast(bytes.count - scan.validLength)
            }
            var w = ByteWriter()
            w.u8(file.kind)
            w.u32le(UInt32(file.generation))
            w.u32le(UInt32(truncatingIfNeeded: bytes.count))
            w.u32le(UInt32(truncatingIfNeeded: bytes.count >> 32))
            out.append(contentsOf: w.bytes)
            out.append(contentsOf: bytes)
            files += 1
        }
        // If the newest snapshot changed while we read, start again for a tidy backup.
        if try directory.generations().snapshots.last != base { throw Retry() }
        out.append(contentsOf: endMagic)
        var crc = ByteWriter()
        crc.u32le(out.withUnsafeBytes { CRC32C.update(0, $0) })
        out.append(contentsOf: crc.bytes)
        let parent = (output as NSString).deletingLastPathComponent
        try DataDirectory(parent.isEmpty ? "." : parent).writeAtomically(out, to: output)
        return Summary(
            files: files,
            bytes: out.count,
            rooms: state.rooms.count,
            messages: state.rooms.values.reduce(0) { $0 + $1.messages.count }
        )
    }

    /// Restores a backup into a data directory; every room gets a new epoch on the next start.
    ///
    /// - Parameters:
    ///   - input: the backup file.
    ///   - dataDirectory: where to restore.
    ///   - force: replace existing state.
    package static func restore(from input: String, dataDirectory: String, force: Bool) throws -> Summary {
        let bytes = try DataDirectory.read(input)
        guard bytes.count >= magic.count + endMagic.count + 4, Array(bytes.prefix(8)) == magic else {
            throw StorageError.corrupt(input, offset: 0, "not a chat-server backup")
        }
        let bodyEnd = bytes.count - 12
        let stored = bytes.withUnsafeBytes { raw -> UInt32? in
            var r = ByteReader(raw, offset: bodyEnd + 8)
            return try? r.u32le()
        }
        guard Array(bytes[bodyEnd..<(bodyEnd + 8)]) == endMagic,
            stored
                == bytes.withUnsafeBytes({ CRC32C.update(0, UnsafeRawBufferPointer(rebasing: $0[0..<(bodyEnd + 8)])) })
        else { throw StorageError.corrupt(input, offset: bytes.count, "backup is truncated or damaged (checksum)") }

        var entries: [(kind: UInt8, generation: Int, bytes: ArraySlice<UInt8>)] = []
        var offset = magic.count
        while offset < bodyEnd {
            let header = try bytes.withUnsafeBytes { raw throws -> (UInt8, UInt32, Int) in
                var r = ByteReader(raw, offset: offset)
                do {
                    let kind = try r.u8()
                    let gen = try r.u32le()
                    let lo = try r.u32le()
                    let hi = try r.u32le()
                    return (kind, gen, Int(UInt64(lo) | UInt64(hi) << 32))
                } catch {
                    throw StorageError.corrupt(input, offset: offset, "damaged entry header")
                }
            }
            let start = offset + 13
            guard header.0 == 1 || header.0 == 2, start + header.2 <= bodyEnd else {
                throw StorageError.corrupt(input, offset: offset, "damaged entry")
            }
            entries.append((header.0, Int(header.1), bytes[start..<(start + header.2)]))
            offset = start + header.2
        }

        let directory = DataDirectory(dataDirectory)
        try directory.prepare()
        let lock = try directory.lockExclusively("a chat-server is running on this data directory; stop it first")
        defer { close(lock) }
        if !(try directory.isEmpty()) {
            guard force else {
                throw StorageError.io(
                    dataDirectory,
                    "the data directory is not empty; use --force to replace its state"
                )
            }
            let (snapshots, logs) = try directory.generations()
            for gen in snapshots { unlink(directory.snapshotPath(gen)) }
            for gen in logs { unlink(directory.logPath(gen)) }
        }
        unlink(directory.runningPath)
        var state = ChatState()
        for entry in entries {
            let path = entry.kind == 1 ? directory.snapshotPath(entry.generation) : directory.logPath(entry.generation)
            let contents = Array(entry.bytes)
            if entry.kind == 1 {
                state = try SnapshotFile.load(bytes: contents, path: input, repair: false).state
            } else {
                let scan = contents.withUnsafeBytes { raw in RecordFraming.scan(raw) { state.apply($0) } }
                if let problem = scan.problem {
                    throw StorageError.corrupt(
                        input,
                        offset: problem.offset,
                        "damaged log in backup: \(problem.reason)"
                    )
                }
            }
            try directory.writeAtomically(contents, to: path)
        }
        try directory.writeAtomically(Array("restored from \(input)\n".utf8), to: directory.epochResetPath)
        return Summary(
            files: entries.count,
            bytes: bytes.count,
            rooms: state.rooms.count,
            messages: state.rooms.values.reduce(0) { $0 + $1.messages.count }
        )
    }

    private static func readAll(_ fd: Int32, path: String) throws -> [UInt8] {
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        var offset: off_t = 0
        while true {
            let n = chunk.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, offset) }
            if n < 0 {
                if errno == EINTR { continue }
                throw StorageError.io(path, "read failed")
            }
            if n == 0 { break }
            bytes.append(contentsOf: chunk[0..<n])
            offset += off_t(n)
        }
        return bytes
    }
}
