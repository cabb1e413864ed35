import ChatCore
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
/// then `CHATBEND` and the CRC-32C of everything before it. Kind 3 entries hold the bytes of
/// one upload: its SHA-256 in 64 hex digits, then the bytes; they are streamed both ways, so
/// files never sit in memory whole. Kind 4 entries hold one file of the cold store
/// (`<data>/cold/`, issue 16) as the snapshot's manifest committed it: the name's length (u16),
/// the name, then the bytes (a segment or index cut at its committed length, or the manifest),
/// streamed too.
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
    ///   - output: the backup file to write (written to `output.tmp`, then renamed).
    package static func create(dataDirectory: String, output: String) throws -> Summary {
        let directory = DataDirectory(dataDirectory)
        guard FileManager.default.fileExists(atPath: dataDirectory) else {
            throw StorageError.io(dataDirectory, "no such data directory")
        }
        _ = try directory.checkFormat()
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
        // The cold store as the snapshot's compaction committed it (absent when it has no cold
        // messages). Segments only grow while a server runs, so the committed prefix stays.
        var coldFiles: [(name: String, fd: Int32, length: Int)] = []
        defer { for file in coldFiles { close(file.fd) } }
        let coldPath = directory.path + "/cold"
        if let base, case let manifest = FileColdStore.manifestPath(coldPath, base),
            case let fd = open(manifest, O_RDONLY | O_CLOEXEC), fd >= 0
        {
            let size = Int(lseek(fd, 0, SEEK_END))
            coldFiles.append(((manifest as NSString).lastPathComponent, fd, size))
            // Removed since it was opened: a newer snapshot is in place, so start again.
            guard let entries = try? FileColdStore.readManifest(manifest) else { throw Retry() }
            for (key, entry) in entries {
                for (suffix, length) in [(".seg", entry.segmentBytes), (".idx", entry.indexBytes)] {
                    let name = FileColdStore.fileName(key, generation: entry.fileGeneration) + suffix
                    let fd = open(coldPath + "/" + name, O_RDONLY | O_CLOEXEC)
                    guard fd >= 0 else { throw Retry() }
                    coldFiles.append((name, fd, Int(length)))
                }
            }
        }
        let parent = (output as NSString).deletingLastPathComponent
        let temporary = output + ".tmp"
        let out = try BackupOutput(path: temporary)
        var finished = false
        defer {
            out.close()
            if !finished { unlink(temporary) }
        }
        try out.write(magic)
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
            try out.write(entryHeader(kind: file.kind, generation: file.generation, length: bytes.count))
            try out.write(bytes)
            files += 1
        }
        // If the newest snapshot changed while we read, start again for a tidy backup.
        if try directory.generations().snapshots.last != base { throw Retry() }
        if state.hasColdMessages && coldFiles.isEmpty {
            throw StorageError.corrupt(coldPath, offset: 0, "the snapshot has cold messages but no cold-store manifest")
        }
        for file in coldFiles {
            let name = Array(file.name.utf8)
            var header = ByteWriter()
            header.u8(UInt8(truncatingIfNeeded: name.count))
            header.u8(UInt8(truncatingIfNeeded: name.count >> 8))
            try out.write(entryHeader(kind: 4, generation: base ?? 0, length: 2 + name.count + file.length))
            try out.write(header.bytes + name)
            try out.copy(from: file.fd, count: file.length, path: coldPath + "/" + file.name)
            files += 1
        }
        // The bytes of every upload the backed-up state holds, streamed (kind 3: hash, then bytes).
        let store = FileStore(root: directory.path + "/files")
        var blobs = 0
        for sha in Set(state.uploads.values.map(\.file.sha256)).sorted() {
            let path = store.blobPath(sha)
            let fd = open(path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { continue }  // removed meanwhile: its upload went too
            defer { Glibc.close(fd) }
            let size = Int(lseek(fd, 0, SEEK_END))
            guard size >= 0 else { continue }
            try out.write(entryHeader(kind: 3, generation: 0, length: 64 + size))
            try out.write(Array(sha.utf8))
            try out.copy(from: fd, count: size, path: path)
            blobs += 1
        }
        try out.write(endMagic)
        var crc = ByteWriter()
        crc.u32le(out.crc)
        try out.write(crc.bytes)
        try out.finish()
        guard rename(temporary, output) == 0 else { throw StorageError.io(output, "rename failed") }
        finished = true
        DataDirectory(parent.isEmpty ? "." : parent).syncDirectory()
        return Summary(
            files: files + blobs,
            bytes: Int(out.written),
            rooms: state.rooms.count,
            messages: state.rooms.values.reduce(0) { $0 + Int($1.head) }
        )
    }

    static func entryHeader(kind: UInt8, generation: Int, length: Int) -> [UInt8] {
        var w = ByteWriter()
        w.u8(kind)
        w.u32le(UInt32(generation))
        w.u32le(UInt32(truncatingIfNeeded: length))
        w.u32le(UInt32(truncatingIfNeeded: length >> 32))
        return w.bytes
    }

    /// Restores a backup into a data directory; every room gets a new epoch on the next start.
    ///
    /// - Parameters:
    ///   - input: the backup file.
    ///   - dataDirectory: where to restore.
    ///   - force: replace existing state.
    package static func restore(from input: String, dataDirectory: String, force: Bool) throws -> Summary {
        let backup = try BackupInput(path: input)
        defer { backup.close() }
        let total = backup.size
        guard total >= magic.count + endMagic.count + 4, try backup.read(at: 0, count: 8) == magic else {
            throw StorageError.corrupt(input, offset: 0, "not a chat-server backup")
        }
        let bodyEnd = total - 12
        let trailer = try backup.read(at: bodyEnd, count: 12)
        let stored = trailer.withUnsafeBytes { raw -> UInt32? in
            var r = ByteReader(raw, offset: 8)
            return try? r.u32le()
        }
        guard Array(trailer.prefix(8)) == endMagic, stored == (try backup.crc(upTo: bodyEnd + 8)) else {
            throw StorageError.corrupt(input, offset: total, "backup is truncated or damaged (checksum)")
        }

        // Entries: (kind, generation, offset of the contents, length).
        var entries: [(kind: UInt8, generation: Int, start: Int, length: Int)] = []
        var offset = magic.count
        while offset < bodyEnd {
            let raw = try backup.read(at: offset, count: min(13, bodyEnd - offset))
            let header = try raw.withUnsafeBytes { raw throws -> (UInt8, UInt32, Int) in
                var r = ByteReader(raw)
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
            guard (1...4).contains(header.0), start + header.2 <= bodyEnd, header.0 != 3 || header.2 >= 64,
                header.0 != 4 || header.2 >= 2
            else {
                throw StorageError.corrupt(input, offset: offset, "damaged entry")
            }
            entries.append((header.0, Int(header.1), start, header.2))
            offset = start + header.2
        }

        let directory = DataDirectory(dataDirectory)
        try directory.prepare()
        let lock = try directory.lockExclusively("a chat-server is running on this data directory; stop it first")
        defer { Glibc.close(lock) }
        let store = FileStore(root: directory.path + "/files")
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
            let cold = directory.path + "/cold"
            for name in (try? FileManager.default.contentsOfDirectory(atPath: cold)) ?? [] {
                unlink(cold + "/" + name)
            }
        }
        // Files the restored state does not hold are removed at the server's next start.
        try store.prepare()
        unlink(directory.runningPath)
        try directory.writeFormat()
        var state = ChatState()
        var blobs = 0
        for entry in entries where entry.kind == 4 {
            let cold = directory.path + "/cold"
            if mkdir(cold, 0o700) != 0 && errno != EEXIST { throw StorageError.io(cold, "cannot create") }
            let lengthBytes = try backup.read(at: entry.start, count: 2)
            let nameLength = Int(lengthBytes[0]) | Int(lengthBytes[1]) << 8
            guard 2 + nameLength <= entry.length else {
                throw StorageError.corrupt(input, offset: entry.start, "damaged cold-store entry")
            }
            let name = String(decoding: try backup.read(at: entry.start + 2, count: nameLength), as: UTF8.self)
            guard !name.isEmpty, name.utf8.count <= 64,
                name.utf8.allSatisfy({
                    ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x7a) || $0 == 0x2E || $0 == 0x2D
                })
            else { throw StorageError.corrupt(input, offset: entry.start, "bad cold-store file name") }
            let destination = cold + "/" + name
            try backup.install(
                at: entry.start + 2 + nameLength,
                count: entry.length - 2 - nameLength,
                via: destination + ".tmp",
                to: destination
            )
            DataDirectory(cold).syncDirectory()
        }
        for entry in entries where entry.kind == 1 || entry.kind == 2 {
            let path = entry.kind == 1 ? directory.snapshotPath(entry.generation) : directory.logPath(entry.generation)
            let contents = try backup.read(at: entry.start, count: entry.length)
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
        for entry in entries where entry.kind == 3 {
            let sha = String(decoding: try backup.read(at: entry.start, count: 64), as: UTF8.self)
            guard sha.utf8.count == 64,
                sha.utf8.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) })
            else { throw StorageError.corrupt(input, offset: entry.start, "damaged file entry") }
            let destination = store.blobPath(sha)
            let folder = (destination as NSString).deletingLastPathComponent
            if mkdir(folder, 0o700) != 0 && errno != EEXIST { throw StorageError.io(folder, "cannot create") }
            try backup.install(
                at: entry.start + 64,
                count: entry.length - 64,
                via: store.root + "/tmp/restore-" + sha,
                to: destination
            )
            blobs += 1
        }
        try directory.writeAtomically(Array("restored from \(input)\n".utf8), to: directory.epochResetPath)
        return Summary(
            files: entries.count,
            bytes: total,
            rooms: state.rooms.count,
            messages: state.rooms.values.reduce(0) { $0 + Int($1.head) }
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

/// A backup being written: bytes go to the file with a running CRC-32C.
final class BackupOutput {
    let fd: Int32
    let path: String
    private(set) var crc: UInt32 = 0
    private(set) var written: Int64 = 0
    private var closed = false

    init(path: String) throws {
        self.path = path
        fd = try DataDirectory.createPrivateFile(path)
    }

    func write(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { raw in
            crc = CRC32C.update(crc, raw)
            try DataDirectory.writeAll(fd, raw, path: path)
        }
        written += Int64(bytes.count)
    }

    /// Appends `count` bytes read from `source`, 1 MiB at a time.
    func copy(from source: Int32, count: Int, path sourcePath: String) throws {
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        var done = 0
        while done < count {
            let n = chunk.withUnsafeMutableBytes {
                pread(source, $0.baseAddress, min($0.count, count - done), off_t(done))
            }
            if n < 0 {
                if errno == EINTR { continue }
                throw StorageError.io(sourcePath, "read failed")
            }
            guard n > 0 else { throw StorageError.io(sourcePath, "the file shrank during the backup") }
            try chunk.withUnsafeBytes { raw in
                let part = UnsafeRawBufferPointer(rebasing: raw[0..<n])
                crc = CRC32C.update(crc, part)
                try DataDirectory.writeAll(fd, part, path: path)
            }
            written += Int64(n)
            done += n
        }
    }

    func finish() throws {
        guard fsync(fd) == 0 else { throw StorageError.io(path, "fsync failed") }
    }

    func close() {
        if !closed {
            Glibc.close(fd)
            closed = true
        }
    }

    deinit { close() }
}

/// A backup being read: positioned reads, a streamed CRC and streamed copies.
final class BackupInput {
    let fd: Int32
    let path: String
    let size: Int

    init(path: String) throws {
        self.path = path
        fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw StorageError.io(path, "cannot open: \(String(cString: strerror(errno)))") }
        let end = lseek(fd, 0, SEEK_END)
        guard end >= 0 else {
            Glibc.close(fd)
            throw StorageError.io(path, "cannot seek")
        }
        size = Int(end)
    }

    func read(at offset: Int, count: Int) throws -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        var done = 0
        while done < count {
            let n = bytes.withUnsafeMutableBytes {
                pread(fd, $0.baseAddress! + done, count - done, off_t(offset + done))
            }
            if n < 0 {
                if errno == EINTR { continue }
                throw StorageError.io(path, "read failed")
            }
            guard n > 0 else { throw StorageError.corrupt(path, offset: offset + done, "backup is truncated") }
            done += n
        }
        return bytes
    }

    func crc(upTo end: Int) throws -> UInt32 {
        var crc: UInt32 = 0
        var offset = 0
        while offset < end {
            let part = try read(at: offset, count: min(1 << 20, end - offset))
            part.withUnsafeBytes { crc = CRC32C.update(crc, $0) }
            offset += part.count
        }
        return crc
    }

    func copy(at offset: Int, count: Int, to target: Int32, path targetPath: String) throws {
        var done = 0
        while done < count {
            let part = try read(at: offset + done, count: min(1 << 20, count - done))
            try part.withUnsafeBytes { try DataDirectory.writeAll(target, $0, path: targetPath) }
            done += part.count
        }
    }

    /// Streams `count` bytes at `offset` into a new file `temporary`, fsyncs it and renames it
    /// to `destination` (the caller fsyncs the directory).
    func install(at offset: Int, count: Int, via temporary: String, to destination: String) throws {
        let fd = try DataDirectory.createPrivateFile(temporary)
        do {
            try copy(at: offset, count: count, to: fd, path: temporary)
            guard fsync(fd) == 0 else { throw StorageError.io(temporary, "fsync failed") }
        } catch {
            Glibc.close(fd)
            unlink(temporary)
            throw error
        }
        Glibc.close(fd)
        guard rename(temporary, destination) == 0 else { throw StorageError.io(destination, "rename failed") }
    }

    func close() { Glibc.close(fd) }
}
