import Crypto
import Foundation
import NIOCore
import NIOPosix

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The bytes of uploads, content-addressed: `files/ab/cdef…` holds the file whose SHA-256 is
/// `abcdef…`, so the same bytes are stored once whoever uploads them. Uploads stream into
/// `files/tmp/` while they are hashed, are fsynced, then renamed into place; what they are
/// (name, type, uploader) lives in the log as `fileUploaded` records.
///
/// A blob is removed only when no upload holds it and none of its bytes were installed since
/// the removal was decided (`removeUnheld`), so a removal never races an upload of the same
/// bytes.
package actor FileStore {
    /// The store's directory.
    package nonisolated let root: String
    private let pool: NIOThreadPool
    /// Content hash → when it was last installed.
    private var lastInstall: [String: ContinuousClock.Instant] = [:]
    /// Content hash → installs not yet registered with the hub.
    private var installing: [String: Int] = [:]

    /// Creates a store.
    ///
    /// - Parameters:
    ///   - root: the directory (`DATA_DIR/files`).
    ///   - pool: threads for the blocking file calls.
    package init(root: String, pool: NIOThreadPool = .singleton) {
        self.root = root
        self.pool = pool
    }

    /// A store in a new temporary directory (a server without a data directory).
    package static func temporary() -> FileStore {
        var template = Array((NSTemporaryDirectory() + "/chat-files-XXXXXX").utf8CString)
        let path = template.withUnsafeMutableBufferPointer { buffer in
            mkdtemp(buffer.baseAddress!).map { String(cString: $0) }
        }
        return FileStore(root: path ?? NSTemporaryDirectory() + "/chat-files-\(getpid())")
    }

    private nonisolated var temporaryDirectory: String { root + "/tmp" }
    /// Bytes gathered before one write to disk.
    static let writeSize = 1 << 20
    /// Free space an upload must leave on the file system, so files never fill the disk the
    /// log needs (the log would then refuse every change).
    package static let reserveBytes: Int64 = 64 << 20

    /// Free bytes on the store's file system for an unprivileged writer (nil: unknown).
    package nonisolated func freeBytes() -> Int64? {
        DataDirectory.freeBytes(onFileSystemOf: root)
    }

    /// Creates the directories (0700) and removes what interrupted uploads left in `tmp/`.
    package nonisolated func prepare() throws {
        for directory in [root, temporaryDirectory] {
            try FileManager.default.createDirectory(
                atPath: directory,
                withIntermediateDirectories: true,
                attributes: [.posixPermissions: 0o700]
            )
        }
        for name in (try? FileManager.default.contentsOfDirectory(atPath: temporaryDirectory)) ?? [] {
            unlink(temporaryDirectory + "/" + name)
        }
    }

    /// Where the bytes with this hash are.
    ///
    /// - Parameters:
    ///   - sha256: the content hash (64 lowercase hex digits).
    package nonisolated func blobPath(_ sha256: String) -> String {
        root + "/" + sha256.prefix(2) + "/" + sha256.dropFirst(2)
    }

    /// An upload's bytes on disk, hashed, not yet in the store.
    package struct Received: Sendable {
        package var temporaryPath: String
        package var size: Int64
        package var sha256: String
    }

    /// Why receiving stopped.
    package enum ReceiveError: Error {
        /// More than `limit` bytes came.
        case tooLarge
        /// The disk refused (full, or an I/O error).
        case storage(String)
    }

    /// Streams a body into a new temporary file while hashing it, then fsyncs it. Past `limit`
    /// bytes, or when the body fails (the client went away), the file is removed and the error
    /// thrown: an interrupted upload leaves nothing behind.
    ///
    /// - Parameters:
    ///   - body: the request body.
    ///   - limit: most bytes accepted.
    ///   - progress: called with the bytes received so far after each chunk.
    package nonisolated func receive<Body: AsyncSequence>(
        _ body: Body,
        limit: Int64
    ) async throws -> Received where Body.Element == ByteBuffer {
        let path = temporaryDirectory + "/" + UUID().uuidString
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw ReceiveError.storage("cannot create \(path): \(String(cString: strerror(errno)))") }
        let descriptor = Descriptor(fd)
        var hasher = SHA256()
        var size: Int64 = 0
        // Network reads are small (tens of KiB): they are gathered into 1 MiB writes, so the
        // thread pool is entered once per MiB, not once per read.
        var pending = ByteBuffer()
        pending.reserveCapacity(Self.writeSize)
        do {
            for try await chunk in body {
                size += Int64(chunk.readableBytes)
                if size > limit { throw ReceiveError.tooLarge }
                chunk.withUnsafeReadableBytes { hasher.update(bufferPointer: $0) }
                var chunk = chunk
                pending.writeBuffer(&chunk)
                if pending.readableBytes >= Self.writeSize {
                    let full = pending
                    try await pool.runIfActive { try descriptor.writeAll(full, path: path) }
                    pending.clear()
                }
            }
            let rest = pending
            try await pool.runIfActive {
                if rest.readableBytes > 0 { try descriptor.writeAll(rest, path: path) }
                guard fsync(descriptor.fd) == 0 else {
                    throw ReceiveError.storage("fsync of \(path) failed: \(String(cString: strerror(errno)))")
                }
            }
        } catch {
            close(fd)
            unlink(path)
            throw error
        }
        close(fd)
        let digest = hasher.finalize().map { String(format: "%02x", $0) }.joined()
        return Received(temporaryPath: path, size: size, sha256: digest)
    }

    /// Moves received bytes into the store (replacing identical bytes already there) and
    /// fsyncs the directory. Pair with `finishedInstall(_:)` once the hub has registered (or
    /// refused) the upload.
    ///
    /// - Parameters:
    ///   - received: what `receive` returned.
    package func install(_ received: Received) async throws {
        installing[received.sha256, default: 0] += 1
        lastInstall[received.sha256] = .now
        let destination = blobPath(received.sha256)
        let directory = String(destination.prefix(root.utf8.count + 3))
        do {
            try await pool.runIfActive {
                if mkdir(directory, 0o700) != 0 && errno != EEXIST {
                    throw ReceiveError.storage("cannot create \(directory): \(String(cString: strerror(errno)))")
                }
                guard rename(received.temporaryPath, destination) == 0 else {
                    throw ReceiveError.storage("cannot store \(destination): \(String(cString: strerror(errno)))")
                }
                Self.syncDirectory(directory)
            }
        } catch {
            unlink(received.temporaryPath)
            finishedInstall(received.sha256)
            throw error
        }
    }

    /// The hub answered for an install.
    ///
    /// - Parameters:
    ///   - sha256: the content hash.
    package func finishedInstall(_ sha256: String) {
        let left = (installing[sha256] ?? 1) - 1
        installing[sha256] = left > 0 ? left : nil
    }

    /// Removes the blobs of `hashes` (uploads removed since the last sweep), except those
    /// installed since `decidedAt` or being installed (an upload of the same bytes the hub did
    /// not know of when it decided).
    ///
    /// - Parameters:
    ///   - hashes: content hashes no upload held.
    ///   - decidedAt: when the hub decided.
    /// - Returns: blobs and bytes removed.
    @discardableResult
    package func remove(_ hashes: Set<String>, decidedAt: ContinuousClock.Instant) -> (files: Int, bytes: Int64) {
        unlinkIdle(hashes.map { ($0, blobPath($0)) }, decidedAt: decidedAt)
    }

    /// Removes every blob on disk not in `held` (at start: what a crash or an offline
    /// `file remove` left), with the same exceptions as `remove`.
    ///
    /// - Parameters:
    ///   - held: the content hashes uploads hold.
    ///   - decidedAt: when `held` was taken.
    /// - Returns: blobs and bytes removed.
    @discardableResult
    package func removeUnheld(_ held: Set<String>, decidedAt: ContinuousClock.Instant) -> (files: Int, bytes: Int64) {
        unlinkIdle(blobs().filter { !held.contains($0.0) }, decidedAt: decidedAt)
    }

    private func unlinkIdle(
        _ candidates: [(String, String)],
        decidedAt: ContinuousClock.Instant
    ) -> (
        files: Int, bytes: Int64
    ) {
        var removed = 0
        var bytes: Int64 = 0
        for (sha, path) in candidates {
            if installing[sha] != nil { continue }
            if let installed = lastInstall[sha], installed >= decidedAt { continue }
            let size = Self.size(of: path)
            if unlink(path) == 0 {
                removed += 1
                bytes += size
            }
        }
        // Forget installs older than any decision still to come.
        let horizon = ContinuousClock.now - .seconds(600)
        lastInstall = lastInstall.filter { $0.value > horizon }
        return (removed, bytes)
    }

    /// Every blob: content hash and path.
    private func blobs() -> [(String, String)] {
        var out: [(String, String)] = []
        let manager = FileManager.default
        for prefix in (try? manager.contentsOfDirectory(atPath: root)) ?? [] where prefix.utf8.count == 2 {
            for rest in (try? manager.contentsOfDirectory(atPath: root + "/" + prefix)) ?? []
            where rest.utf8.count == 62 {
                out.append((prefix + rest, root + "/" + prefix + "/" + rest))
            }
        }
        return out
    }

    /// A file's size in bytes (0 when it cannot be opened).
    private static func size(of path: String) -> Int64 {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return 0 }
        defer { close(fd) }
        return Int64(max(0, lseek(fd, 0, SEEK_END)))
    }

    private static func syncDirectory(_ path: String) {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return }
        fsync(fd)
        close(fd)
    }

    /// Removes the whole store (a temporary one, at shutdown).
    package nonisolated func removeAll() {
        try? FileManager.default.removeItem(atPath: root)
    }
}

/// A file descriptor that can cross into the thread pool.
private struct Descriptor: Sendable {
    let fd: Int32
    init(_ fd: Int32) { self.fd = fd }

    func writeAll(_ buffer: ByteBuffer, path: String) throws {
        try buffer.withUnsafeReadableBytes { bytes in
            var done = 0
            while done < bytes.count {
                let n = write(fd, bytes.baseAddress! + done, bytes.count - done)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw FileStore.ReceiveError.storage("write to \(path) failed: \(String(cString: strerror(errno)))")
                }
                done += n
            }
        }
    }
}
