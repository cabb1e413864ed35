import ChatCore
import ChatLog
import ChatServer
import Testing

/// Files in the pure core: who may post and read an upload, quotas, the upload rate, and the
/// sweep that removes unposted and orphaned uploads (and replays to the same state).
@Suite("HubCore: files")
struct HubFilesTests {
    static func upload(_ h: inout HubHarness, user: String, sha: String, size: Int64 = 1000) -> FileRef {
        let file = FileRef(
            id: HubCore.fileID(sha256: sha, uploader: user),
            name: "f.bin",
            mime: "application/octet-stream",
            size: size,
            sha256: sha
        )
        guard case .success(let step) = h.core.registerUpload(FileUpload(file: file, uploader: user, ts: h.now.wallMs))
        else {
            Issue.record("upload refused")
            return file
        }
        h.perform(step)
        h.flush()
        return file
    }

    static func sweep(_ h: inout HubHarness) -> [String] {
        let (step, unused) = h.core.sweepUploads(at: h.now)
        h.perform(step)
        h.flush()
        return unused
    }

    static let sha1 = String(repeating: "a1", count: 32)
    static let sha2 = String(repeating: "b2", count: 32)

    @Test("only the uploader posts an upload; members of a room that shares it read it, others do not")
    func postingAndReading() {
        var h = HubHarness()
        h.user(1, "alice")
        h.user(2, "bob")
        h.user(3, "carol")
        h.join(1, "general")
        h.join(2, "general")
        let file = Self.upload(&h, user: "alice", sha: Self.sha1)
        #expect(h.core.downloadable(file.id, user: "alice") == file)
        #expect(h.core.downloadable(file.id, user: "bob") == nil)
        h.request(2, "s1", .send(room: HubHarness.name("general"), text: "", kind: .file, nonce: nil, file: file.id))
        h.flush()
        #expect(h.received[2]?.last == .error(id: "s1", .notFound))
        h.request(1, "s2", .send(room: HubHarness.name("general"), text: "cap", kind: .file, nonce: nil, file: file.id))
        h.flush()
        #expect(h.core.downloadable(file.id, user: "bob") == file)
        #expect(h.core.downloadable(file.id, user: "carol") == nil)
        h.request(2, "l", .leave(room: HubHarness.name("general")))
        h.flush()
        #expect(h.core.downloadable(file.id, user: "bob") == nil)
    }

    @Test("an unposted upload goes after 24 h; a posted one stays until its last message is deleted")
    func sweep() {
        var h = HubHarness()
        h.user(1, "alice")
        h.join(1, "general")
        let idle = Self.upload(&h, user: "alice", sha: Self.sha1)
        let posted = Self.upload(&h, user: "alice", sha: Self.sha2)
        h.request(1, "s", .send(room: HubHarness.name("general"), text: "", kind: .file, nonce: nil, file: posted.id))
        h.flush()
        h.advance(23 * 3600)
        #expect(Self.sweep(&h) == [])
        #expect(h.core.state.uploads[idle.id] != nil)
        h.advance(3600 + 1)
        #expect(Self.sweep(&h) == [Self.sha1])
        #expect(h.core.state.uploads[idle.id] == nil)
        #expect(h.core.state.uploads[posted.id] != nil)
        #expect(h.records.contains(.fileRemoved(id: idle.id)))
        h.request(1, "d", .delete(room: HubHarness.name("general"), seq: 1))
        h.flush()
        #expect(h.core.state.orphanedFiles == [posted.id])
        #expect(h.core.downloadable(posted.id, user: "alice") == posted)  // still the uploader's until swept
        #expect(Self.sweep(&h) == [Self.sha2])
        #expect(h.core.state.uploads.isEmpty)
        #expect(h.core.state.uploadBytes.isEmpty)

        // Replaying the records gives the same files.
        var replayed = ChatState()
        for record in h.records { replayed.apply(record) }
        #expect(replayed.uploads.isEmpty)
        #expect(replayed.fileRooms.isEmpty)
    }

    @Test("the same bytes from two users: two ids, one blob, freed when the last upload goes")
    func sharedBlob() throws {
        var h = HubHarness()
        h.user(1, "alice")
        h.user(2, "bob")
        let a = Self.upload(&h, user: "alice", sha: Self.sha1)
        let b = Self.upload(&h, user: "bob", sha: Self.sha1)
        #expect(a.id != b.id)
        #expect(h.core.heldBlobs == [Self.sha1])
        h.perform(try h.core.admin(.removeFile(id: a.id), at: h.now).step)
        h.flush()
        #expect(h.core.heldBlobs == [Self.sha1])
        #expect(h.core.takeFreedBlobs().isEmpty)
        h.perform(try h.core.admin(.removeFile(id: b.id), at: h.now).step)
        h.flush()
        #expect(h.core.heldBlobs.isEmpty)
        #expect(h.core.takeFreedBlobs() == [Self.sha1])
        #expect(h.core.takeFreedBlobs().isEmpty)
    }

    @Test("quota and upload rate")
    func limits() {
        var configuration = HubHarness.configuration
        configuration.limits.fileQuotaBytes = 2500
        configuration.limits.uploadsPerMinute = 2
        var h = HubHarness(configuration)
        h.user(1, "alice")
        #expect(
            h.core.admitUpload(user: "alice", declaredSize: 2501, at: h.now)
                == .failure(.overQuota(quota: 2500, used: 0))
        )
        _ = Self.upload(&h, user: "alice", sha: Self.sha1, size: 2000)
        #expect(h.core.admitUpload(user: "alice", declaredSize: 400, at: h.now) == .success(500))
        let over = FileRef(
            id: HubCore.fileID(sha256: Self.sha2, uploader: "alice"),
            name: "x",
            mime: "x",
            size: 600,
            sha256: Self.sha2
        )
        if case .success = h.core.registerUpload(FileUpload(file: over, uploader: "alice", ts: 0)) {
            Issue.record("an upload over the quota was registered")
        }
        // The same bytes again replace the upload: counted once.
        _ = Self.upload(&h, user: "alice", sha: Self.sha1, size: 2000)
        #expect(h.core.state.uploadBytes["alice"] == 2000)
        #expect(h.core.admitUpload(user: "alice", declaredSize: 1, at: h.now) == .success(500))
        if case .failure(.rateLimited) = h.core.admitUpload(user: "alice", declaredSize: 1, at: h.now) {
        } else {
            Issue.record("the third upload in a minute was admitted")
        }
        #expect(
            h.core.admitUpload(user: "alice", declaredSize: 26 << 20, at: h.now) == .failure(.tooLarge(limit: 25 << 20))
        )
    }
}
