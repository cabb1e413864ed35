import ChatCore
import ChatLog

/// Everything the server knows, as plain values. Mutated only by `apply(_:)`, so
/// live changes and log replay take the same path.
package struct ChatState: Sendable {
    /// A registered account.
    package struct User: Sendable {
        package var name: String
        package var passwordHash: String
        package var createdAt: Int64
        /// Fold keys of rooms the user is a member of.
        package var rooms: Set<String> = []
        /// A disabled user cannot log in or resume; `chat-server user disable`.
        package var disabled = false
    }

    /// An invite code for `--registration invite`.
    package struct Invite: Sendable, Equatable {
        package var usesLeft: Int64
        /// Milliseconds since the epoch; 0: never expires.
        package var expiresAt: Int64
        package var createdAt: Int64

        package init(usesLeft: Int64, expiresAt: Int64, createdAt: Int64) {
            self.usesLeft = usesLeft
            self.expiresAt = expiresAt
            self.createdAt = createdAt
        }
    }

    /// A room and its history.
    package struct Room: Sendable {
        package var name: String
        package var topic: String = ""
        package var epoch: String
        package var createdAt: Int64
        /// Message with seq `n` is at index `n - 1`.
        package var messages: [ChatMessage] = []
        /// Member fold key → read marker.
        package var members: [String: Int64] = [:]
        /// "userKey\u{0}nonce" → seq.
        package var nonces: [String: Int64] = [:]
        /// Who may see the room: everyone, or its members only.
        package var visibility: RoomVisibility = .public
        /// The owner's fold key (`create`); nil for rooms made by `join` and direct-message rooms.
        package var owner: String?

        /// Whether a user may see the room: it is public, or they are a member.
        ///
        /// - Parameters:
        ///   - user: the user's fold key.
        package func isVisible(to user: String) -> Bool { visibility == .public || members[user] != nil }

        /// seq of the newest stored message.
        package var head: Int64 { Int64(messages.count) }
    }

    package var users: [String: User] = [:]
    package var rooms: [String: Room] = [:]
    /// SHA-256 of a token (hex) → user fold key.
    package var tokens: [String: String] = [:]
    /// SHA-256 of a token (hex) → when it was issued (ms).
    package var tokenIssuedAt: [String: Int64] = [:]
    /// SHA-256 of a token (hex) → its last use (issue, or a `resume` on a later UTC day) in ms.
    package var tokenUsedAt: [String: Int64] = [:]
    /// SHA-256 of an invite code (hex) → the invite.
    package var invites: [String: Invite] = [:]
    /// File id → the upload (`POST /v1/files`).
    package var uploads: [String: FileUpload] = [:]
    /// File id → room fold key → how many live (not deleted) messages there share it.
    package var fileRooms: [String: [String: Int]] = [:]
    /// User fold key → bytes of their uploads (the quota counts each upload once).
    package var uploadBytes: [String: Int64] = [:]
    /// Uploads whose last message was deleted since the last file sweep: the sweep removes
    /// them unless they were posted again meanwhile.
    package var orphanedFiles: Set<String> = []
    /// Display name → fold key, so replaying a message does not fold its names again.
    private var roomKeys: [String: String] = [:]
    private var userKeys: [String: String] = [:]

    /// Creates an empty state.
    package init() {}

    static func nonceKey(user: String, nonce: String) -> String { user + "\u{0}" + nonce }

    /// Applies one record. Records are produced by the hub after validation, so an
    /// inapplicable record (e.g. replayed out of order) is ignored rather than trapping.
    ///
    /// - Parameters:
    ///   - record: the change.
    package mutating func apply(_ record: LogRecord) {
        switch record {
        case .userCreated(let name, let hash, let ts):
            let key = TextRules.foldKey(name)
            if users[key] == nil {
                users[key] = User(name: name, passwordHash: hash, createdAt: ts)
                userKeys[name] = key
            }
        case .passwordChanged(let user, let hash):
            users[user]?.passwordHash = hash
        case .tokenIssued(let user, let tokenHash, let ts):
            tokens[tokenHash] = user
            tokenIssuedAt[tokenHash] = ts
            tokenUsedAt[tokenHash] = ts
        case .tokenRevoked(let tokenHash):
            tokens[tokenHash] = nil
            tokenIssuedAt[tokenHash] = nil
            tokenUsedAt[tokenHash] = nil
        case .tokenUsed(let tokenHash, let ts):
            guard tokens[tokenHash] != nil else { return }
            tokenUsedAt[tokenHash] = max(tokenUsedAt[tokenHash] ?? ts, ts)
        case .roomCreated(let name, let epoch, let ts):
            let key = TextRules.foldKey(name)
            if rooms[key] == nil {
                rooms[key] = Room(name: name, epoch: epoch, createdAt: ts)
                roomKeys[name] = key
            }
        case .epochChanged(let room, let epoch):
            rooms[room]?.epoch = epoch
        case .memberAdded(let room, let user):
            guard rooms[room] != nil, users[user] != nil else { return }
            if rooms[room]?.members[user] == nil { rooms[room]?.members[user] = 0 }
            users[user]?.rooms.insert(room)
        case .memberRemoved(let room, let user):
            rooms[room]?.members[user] = nil
            users[user]?.rooms.remove(room)
        case .topicSet(let room, let topic, _):
            rooms[room]?.topic = topic
        case .messageAppended(let message):
            let key = roomKeys[message.room] ?? TextRules.foldKey(message.room)
            guard var room = rooms[key], message.seq == room.head + 1 else { return }
            rooms[key] = nil  // keep the array uniquely referenced while appending
            if message.reactions.isEmpty {
                room.messages.append(message)
            } else {
                var stored = message
                var details = stored.details
                details.reactions = []  // rebuilt by the room's react events
                details.reactionSeqs = []
                stored.details = details
                room.messages.append(stored)
            }
            if message.kind == .file, let file = message.file, !message.deleted {
                fileRooms[file.id, default: [:]][key, default: 0] += 1
            }
            if let target = message.target {
                let sharedFile: String? =
                    message.kind == .delete && target >= 1 && target <= room.head
                    ? room.messages[Int(target - 1)].file?.id : nil
                MessageChanges.apply(message, toRoom: &room.messages)
                if let sharedFile, room.messages[Int(target - 1)].deleted { dropFileReference(sharedFile, room: key) }
            }
            if let nonce = message.nonce {
                let user = userKeys[message.from] ?? TextRules.foldKey(message.from)
                room.nonces[Self.nonceKey(user: user, nonce: nonce)] = message.seq
            }
            rooms[key] = room
        case .readMarked(let room, let user, let seq):
            if let current = rooms[room]?.members[user], seq > current { rooms[room]?.members[user] = seq }
        case .userDisabled(let user, let disabled):
            users[user]?.disabled = disabled
        case .inviteCreated(let codeHash, let uses, let expiresAt, let ts):
            invites[codeHash] = Invite(usesLeft: uses, expiresAt: expiresAt, createdAt: ts)
        case .inviteUsed(let codeHash):
            guard var invite = invites[codeHash] else { return }
            invite.usesLeft -= 1
            invites[codeHash] = invite.usesLeft > 0 ? invite : nil
        case .inviteRevoked(let codeHash):
            invites[codeHash] = nil
        case .roomAccess(let room, let visibility, let owner):
            rooms[room]?.visibility = visibility
            rooms[room]?.owner = owner
        case .fileUploaded(let upload):
            if let old = uploads[upload.file.id] { uploadBytes[old.uploader, default: 0] -= old.file.size }
            uploads[upload.file.id] = upload
            uploadBytes[upload.uploader, default: 0] += upload.file.size
            orphanedFiles.remove(upload.file.id)
        case .fileRemoved(let id):
            orphanedFiles.remove(id)
            guard let old = uploads.removeValue(forKey: id) else { return }
            let left = (uploadBytes[old.uploader] ?? 0) - old.file.size
            uploadBytes[old.uploader] = left > 0 ? left : nil
        }
    }

    private mutating func dropFileReference(_ id: String, room: String) {
        guard let count = fileRooms[id]?[room] else { return }
        if count > 1 {
            fileRooms[id]?[room] = count - 1
        } else {
            fileRooms[id]?[room] = nil
            if fileRooms[id]?.isEmpty == true {
                fileRooms[id] = nil
                orphanedFiles.insert(id)
            }
        }
    }

    /// Whether a user may download a file: they uploaded it, or they are a member of a room
    /// where a message that was not deleted shares it.
    ///
    /// - Parameters:
    ///   - id: the file id.
    ///   - user: the user's fold key.
    package func mayDownload(_ id: String, user: String) -> Bool {
        guard let upload = uploads[id] else { return false }
        if upload.uploader == user { return true }
        guard let roomsSharing = fileRooms[id] else { return false }
        return roomsSharing.keys.contains { rooms[$0]?.members[user] != nil }
    }

    /// The fold key of a user's display name.
    ///
    /// - Parameters:
    ///   - name: display name as stored.
    package func userKey(ofDisplayName name: String) -> String {
        userKeys[name] ?? TextRules.foldKey(name)
    }

    /// The seq a nonce was stored under, if the user already sent it to the room.
    ///
    /// - Parameters:
    ///   - room: room fold key.
    ///   - user: user fold key.
    ///   - nonce: the nonce.
    package func seq(forNonce nonce: String, room: String, user: String) -> Int64? {
        rooms[room]?.nonces[Self.nonceKey(user: user, nonce: nonce)]
    }
}
