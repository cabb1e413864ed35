import ChatCore
import ChatLog
import CoreMetrics

/// Files, for the HTTP routes and the sweeper: each call is one short actor turn, plus the
/// durable wait of what it stores.
extension RoomHub {
    /// The user a bearer token belongs to (nil: not a valid session token).
    ///
    /// - Parameters:
    ///   - token: the token.
    package func fileUser(token: String) -> String? {
        core.fileUser(token: token, at: clock.now())
    }

    /// Admits an upload before its bytes are read (rate and quota); see `HubCore.admitUpload`.
    ///
    /// - Parameters:
    ///   - user: the uploader's fold key.
    ///   - declaredSize: the request's `Content-Length`, if any.
    package func admitUpload(user: String, declaredSize: Int64?) -> Result<Int64, FileRefusal> {
        core.admitUpload(user: user, declaredSize: declaredSize, at: clock.now())
    }

    /// Stores an upload's record and returns once it is durable.
    ///
    /// - Parameters:
    ///   - file: the file (its bytes are in the store).
    ///   - user: the uploader's fold key.
    package func registerUpload(_ file: FileRef, user: String) async -> Result<FileRef, FileRefusal> {
        let upload = FileUpload(file: file, uploader: user, ts: clock.now().wallMs)
        switch core.registerUpload(upload) {
        case .failure(let refusal):
            return .failure(refusal)
        case .success(let step):
            perform(step)
            if let commit = step.wait {
                await waitDurable(commit)
                if core.storageFailed { return .failure(.unavailable) }
            }
            metrics.uploads.increment()
            return .success(file)
        }
    }

    /// The file a user may download (nil: answer 404).
    ///
    /// - Parameters:
    ///   - id: the file id.
    ///   - user: the user's fold key.
    package func downloadable(_ id: String, user: String) -> FileRef? {
        core.downloadable(id, user: user)
    }

    /// Removes uploads nobody can reach (see `HubCore.sweepUploads`) and returns the content
    /// hashes every remaining upload holds, once the removals are durable.
    package func sweepUploads() async -> Set<String> {
        let (step, _) = core.sweepUploads(at: clock.now())
        perform(step)
        if let commit = step.wait { await waitDurable(commit) }
        return core.heldBlobs
    }

    /// Wakes `stream` whenever a delete leaves an upload without messages.
    ///
    /// - Parameters:
    ///   - continuation: the sweeper's stream.
    package func onOrphanedFiles(_ continuation: AsyncStream<Void>.Continuation) {
        fileSweeps = continuation
    }

    /// Bytes of uploads as the hub counts them (for metrics).
    package var storedUploadBytes: Int64 { core.state.uploadBytes.values.reduce(0, +) }
}
