import ChatCore
import ChatLog
import Crypto

/// Why an upload or a download is refused, as the HTTP routes answer it.
package enum FileRefusal: Error, Equatable, Sendable {
    /// 401: no token, or one that is not valid.
    case unauthorized
    /// 404: no such file, or not one this user may see (the two are not told apart).
    case notFound
    /// 413: larger than `--max-file-bytes`.
    case tooLarge(limit: Int64)
    /// 413: the user's uploads would exceed `--file-quota-bytes`.
    case overQuota(quota: Int64, used: Int64)
    /// 429: `--uploads-per-min` spent.
    case rateLimited(retryAfterMs: Int64)
    /// 503: the store failed; nothing can be stored.
    case unavailable
    /// 507: the upload would leave less than `FileStore.reserveBytes` free on the disk.
    case diskFull
}

/// Files: uploads, who may download them, and their removal.
extension HubCore {
    /// How long an upload that was never posted is kept (ms).
    package static let unpostedUploadLifetimeMs: Int64 = 24 * 3600 * 1000

    /// The id of an upload: derived from its content hash and its uploader, so the same user
    /// uploading the same bytes gets the same id, and two users never share one.
    ///
    /// - Parameters:
    ///   - sha256: the content hash (hex).
    ///   - uploader: the uploader's fold key.
    package static func fileID(sha256: String, uploader: String) -> String {
        let digest = SHA256.hash(data: Array((uploader + "\u{0}" + sha256).utf8))
        let hex = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        for byte in digest.prefix(16) { out += [hex[Int(byte >> 4)], hex[Int(byte & 15)]] }
        return String(decoding: out, as: UTF8.self)
    }

    /// The user a session token belongs to, for the file routes: the same tokens `resume`
    /// takes (a disabled user's or an idle one is refused).
    ///
    /// - Parameters:
    ///   - token: the bearer token.
    ///   - now: the time.
    package func fileUser(token: String, at now: HubTime) -> String? {
        let hash = PasswordHasher.tokenHash(token)
        guard let key = state.tokens[hash], let user = state.users[key], !user.disabled,
            !tokenIsIdle(hash, at: now)
        else { return nil }
        return key
    }

    /// Admits an upload before its bytes are read: takes an upload token and checks the quota
    /// against the declared size. Returns how many bytes the user may still store.
    ///
    /// - Parameters:
    ///   - user: the uploader's fold key.
    ///   - declaredSize: `Content-Length`, when the client sent one.
    ///   - now: the time.
    package mutating func admitUpload(
        user: String,
        declaredSize: Int64?,
        at now: HubTime
    ) -> Result<Int64, FileRefusal> {
        if storageFailed { return .failure(.unavailable) }
        let limits = configuration.limits
        if let declaredSize, declaredSize > limits.maxFileBytes {
            return .failure(.tooLarge(limit: limits.maxFileBytes))
        }
        let used = state.uploadBytes[user] ?? 0
        let room = limits.fileQuotaBytes > 0 ? max(0, limits.fileQuotaBytes - used) : Int64.max
        if let declaredSize, declaredSize > room {
            return .failure(.overQuota(quota: limits.fileQuotaBytes, used: used))
        }
        do throws(ProtocolError) {
            try take([(.upload, 1)], user: user, at: now)
        } catch {
            return .failure(.rateLimited(retryAfterMs: error.retryAfterMs ?? 1000))
        }
        return .success(room)
    }

    /// Stores an upload whose bytes are in the file store: its record, once durable, makes it
    /// postable and downloadable. The quota is checked again (uploads may run in parallel).
    ///
    /// - Parameters:
    ///   - upload: the upload.
    package mutating func registerUpload(_ upload: FileUpload) -> Result<HubStep, FileRefusal> {
        let quota = configuration.limits.fileQuotaBytes
        let previous = state.uploads[upload.file.id]?.file.size ?? 0
        let used = (state.uploadBytes[upload.uploader] ?? 0) - previous
        if quota > 0, used + upload.file.size > quota { return .failure(.overQuota(quota: quota, used: used)) }
        var step = HubStep()
        guard commit([.fileUploaded(upload)], holder: nil, work: [], into: &step) else {
            return .failure(.unavailable)
        }
        return .success(step)
    }

    /// The file a user may download, or nil (no such file, or not theirs to see).
    ///
    /// - Parameters:
    ///   - id: the file id.
    ///   - user: the user's fold key.
    package func downloadable(_ id: String, user: String) -> FileRef? {
        state.mayDownload(id, user: user) ? state.uploads[id]?.file : nil
    }

    /// Removes uploads nobody can reach any more: never posted for 24 hours, or whose every
    /// message was deleted. Returns the step storing the removals and the content hashes no
    /// upload holds any longer (their bytes can go).
    ///
    /// - Parameters:
    ///   - now: the time.
    package mutating func sweepUploads(at now: HubTime) -> (step: HubStep, unusedBlobs: [String]) {
        var step = HubStep()
        let expired = state.uploads.values.filter { upload in
            state.fileRooms[upload.file.id] == nil
                && (state.orphanedFiles.contains(upload.file.id)
                    || now.wallMs - upload.ts > Self.unpostedUploadLifetimeMs)
        }
        state.orphanedFiles = []
        guard !expired.isEmpty else { return (step, []) }
        let unused = removeUploads(expired.map(\.file.id), into: &step)
        return (step, unused)
    }

    /// Removes uploads (an operator's `file remove`, or the sweep).
    ///
    /// - Parameters:
    ///   - ids: the uploads.
    ///   - step: the step the removal records go into.
    /// - Returns: the content hashes no upload holds any longer (also kept in `freedBlobs`).
    @discardableResult
    mutating func removeUploads(_ ids: [String], into step: inout HubStep) -> [String] {
        let hashes = Set(ids.compactMap { state.uploads[$0]?.file.sha256 })
        guard commit(ids.map { .fileRemoved(id: $0) }, holder: nil, work: [], into: &step) else { return [] }
        let unused = hashes.subtracting(heldBlobs)
        freedBlobs.formUnion(unused)
        return unused.sorted()
    }

    /// The content hashes freed since the last call: the file store unlinks their bytes.
    package mutating func takeFreedBlobs() -> Set<String> {
        defer { freedBlobs = [] }
        return freedBlobs
    }

    /// Every content hash an upload holds (the file store removes other blobs).
    package var heldBlobs: Set<String> { Set(state.uploads.values.map(\.file.sha256)) }

    /// Blobs the uploads hold and their bytes on disk (the same bytes counted once).
    package var storedBlobs: (files: Int, bytes: Int64) {
        let sizes = Dictionary(state.uploads.values.map { ($0.file.sha256, $0.file.size) }) { a, _ in a }
        return (sizes.count, sizes.values.reduce(0, +))
    }
}
