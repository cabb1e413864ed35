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
    package func fileUser(token: String) async -> String? {
        // On a cluster node a file request first takes in what the other nodes acknowledged
        // before it arrived (a token issued or revoked there, a file shared or deleted there), as
        // a request on the socket does in its write turn.
        if let clusterStore { await clusterStore.catchUp() }
        return core.fileUser(token: token, at: clock.now())
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
        let registered = await changing { hub in
            let registered = hub.core.registerUpload(upload)
            if case .success(let step) = registered { hub.perform(step) }
            return registered
        }
        switch registered {
        case .failure(let refusal):
            return .failure(refusal)
        case .success(let step):
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
    package func downloadable(_ id: String, user: String) async -> FileRef? {
        if let file = core.downloadable(id, user: user) { return file }
        // Shared on another node a moment ago (after `fileUser`'s catch-up).
        guard let clusterStore else { return nil }
        await clusterStore.catchUp()
        return core.downloadable(id, user: user)
    }

    /// `--cluster`: fetches an upload's bytes this node lacks from PostgreSQL (false: none).
    ///
    /// - Parameters:
    ///   - file: the upload.
    package func fetchMissingBytes(_ file: FileRef) async -> Bool {
        guard let clusterStore else { return false }
        return await clusterStore.fetchBlob(file.sha256, empty: file.size == 0)
    }

    /// What a file sweep found: the content hashes to unlink, and what the uploads hold.
    package struct FileSweep: Sendable {
        /// Hashes no upload holds any more (removed since the last sweep).
        package var freed: Set<String>
        /// Every hash an upload holds.
        package var held: Set<String>
        /// Blobs and bytes the uploads hold (the same bytes once).
        package var stored: (files: Int, bytes: Int64)
    }

    /// Removes uploads nobody can reach (see `HubCore.sweepUploads`) and, once the removals are
    /// durable, says which bytes can go.
    package func sweepUploads() async -> FileSweep {
        let step = await changing { hub in
            let step = hub.core.sweepUploads(at: hub.clock.now()).0
            hub.perform(step)
            return step
        }
        if let commit = step.wait { await waitDurable(commit) }
        return FileSweep(freed: core.takeFreedBlobs(), held: core.heldBlobs, stored: core.storedBlobs)
    }

    /// Wakes `stream` whenever a delete leaves an upload without messages.
    ///
    /// - Parameters:
    ///   - continuation: the sweeper's stream.
    package func onOrphanedFiles(_ continuation: AsyncStream<Void>.Continuation) {
        fileSweeps = continuation
    }
}
