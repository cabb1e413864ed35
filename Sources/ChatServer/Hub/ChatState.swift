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
        /// The messages held in memory (the hot window): seq `base + 1 + i` at index `i`.
        package var messages: [ChatMessage] = []
        /// The newest seq no longer held in `messages`: 1…base are in the cold store (issue 16).
        /// 0 while a room holds all of its history in memory, which is the only case the server
        /// produces until compaction moves messages out (`moveToCold`).
        package var base: Int64 = 0
        /// Newer versions of cold messages (an edit, a delete, a reaction since they went cold),
        /// until the cold store takes them.
        package var coldVersions: [Int64: ChatMessage] = [:]
        /// seqs 1…expired are tombstones left by retention (`--retain-days`, `expire`).
        package var expired: Int64 = 0
        /// Every expired message was sent before this time (ms since the epoch; 0: none expired).
        package var expiredBefore: Int64 = 0
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
        package var head: Int64 { base + Int64(messages.count) }

        /// A message held in memory, by seq.
        ///
        /// - Parameters:
        ///   - seq: the seq.
        package func hot(_ seq: Int64) -> ChatMessage? {
            seq > base && seq <= head ? messages[Int(seq - base - 1)] : nil
        }
    }

    package var users: [String: User] = [:]
    package var rooms: [String: Room] = [:]
    /// Where messages that left a room's hot window are (nil: every message is in memory).
    package var cold: (any ColdStore)?
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
    /// Set while a snapshot is loaded: its change events that target cold messages are not
    /// applied again, because the cold store holds every change up to the snapshot (applying an
    /// `unreact` twice over a version holding a later `react` would remove it).
    package var loadingSnapshot = false
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
            if let target = message.target, target >= 1, target < message.seq {
                if target > room.base {
                    let i = Int(target - room.base - 1)
                    let sharedFile = message.kind == .delete ? room.messages[i].file?.id : nil
                    applyChange(message, to: &room)
                    if let sharedFile, room.messages[i].deleted { dropFileReference(sharedFile, room: key) }
                } else if !loadingSnapshot, var original = coldMessage(key, room: room, seq: target) {
                    let sharedFile = message.kind == .delete ? original.file?.id : nil
                    if MessageChanges.apply(message, to: &original) {
                        room.coldVersions[target] = original
                        if message.kind == .delete { blankColdEdits(of: target, before: message.seq, key, in: &room) }
                        applyChange(message, to: &room)
                    }
                    if let sharedFile, original.deleted { dropFileReference(sharedFile, room: key) }
                }
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
        case .roomCold(let key, let base):
            guard var room = rooms[key], room.messages.isEmpty, base > room.base else { return }
            room.base = base
            rooms[key] = room
        case .fileShared(let id, let room, let count):
            guard count > 0, rooms[room] != nil else { return }
            fileRooms[id, default: [:]][room, default: 0] += Int(count)
        case .roomExpired(let key, let through, let before):
            // The snapshot's messages (and the cold store) already hold the tombstones.
            guard var room = rooms[key], through > room.expired else { return }
            room.expired = through
            room.expiredBefore = max(room.expiredBefore, before)
            rooms[key] = room
        }
    }

    /// Applies a change event to its hot target and, for a delete, blanks the target's hot edit
    /// events (they held its text too), as `MessageChanges.apply(_:toRoom:)` does for a room
    /// held from seq 1.
    private func applyChange(_ event: ChatMessage, to room: inout Room) {
        guard let target = event.target else { return }
        if target > room.base {
            guard MessageChanges.apply(event, to: &room.messages[Int(target - room.base - 1)]) else { return }
        }
        guard event.kind == .delete else { return }
        var seq = max(target, room.base) + 1
        while seq < event.seq && seq <= room.head {
            let i = Int(seq - room.base - 1)
            if room.messages[i].kind == .edit, room.messages[i].target == target, !room.messages[i].text.isEmpty {
                room.messages[i].text = ""
            }
            seq += 1
        }
    }

    /// Blanks the cold edit events of a deleted cold message, read from the cold store in pages.
    private func blankColdEdits(of target: Int64, before deleteSeq: Int64, _ key: String, in room: inout Room) {
        var lower = target + 1
        let upper = min(room.base, deleteSeq - 1)
        while lower <= upper {
            let through = min(upper, lower + 499)
            for stored in (try? cold?.read(room: key, from: lower, through: through)) ?? [] {
                let event = room.coldVersions[stored.seq] ?? stored
                guard event.kind == .edit, event.target == target, !event.text.isEmpty else { continue }
                var blank = event
                blank.text = ""
                room.coldVersions[event.seq] = blank
            }
            lower = through + 1
        }
    }

    /// A cold message in its newest version: a pending version, else the cold store's (nil when
    /// it cannot be read).
    private func coldMessage(_ key: String, room: Room, seq: Int64) -> ChatMessage? {
        if let version = room.coldVersions[seq] { return version }
        return (try? cold?.read(room: key, from: seq, through: seq))?.first
    }

    /// A room's message by seq, hot or cold, in its newest version (nil: no such message, or a
    /// cold one that cannot be read).
    ///
    /// - Parameters:
    ///   - room: the room's fold key.
    ///   - seq: the seq.
    package func message(room key: String, seq: Int64) -> ChatMessage? {
        guard let room = rooms[key], seq >= 1, seq <= room.head else { return nil }
        return room.hot(seq) ?? coldMessage(key, room: room, seq: seq)
    }

    /// A room's messages with `lower ≤ seq ≤ upper` (clamped to 1…head), oldest first: the cold
    /// ones from the cold store with their pending versions, the rest from memory.
    ///
    /// - Parameters:
    ///   - room: the room's fold key.
    ///   - lower: the first seq.
    ///   - upper: the last seq.
    package func messages(room key: String, from lower: Int64, through upper: Int64) throws -> ArraySlice<ChatMessage> {
        guard let room = rooms[key] else { return [] }
        let lower = max(lower, 1)
        let upper = min(upper, room.head)
        guard lower <= upper else { return [] }
        if lower > room.base { return room.messages[Int(lower - room.base - 1)..<Int(upper - room.base)] }
        guard let cold else {
            throw StorageError.corrupt("cold store", offset: 0, "room \(key) has cold messages and no cold store")
        }
        var result = try cold.read(room: key, from: lower, through: min(upper, room.base))
        guard result.count == Int(min(upper, room.base) - lower + 1) else {
            throw StorageError.corrupt(
                "cold store",
                offset: 0,
                "room \(key): \(result.count) messages for seqs \(lower)…\(min(upper, room.base))"
            )
        }
        if !room.coldVersions.isEmpty {
            for i in result.indices { if let version = room.coldVersions[result[i].seq] { result[i] = version } }
        }
        if upper > room.base { result.append(contentsOf: room.messages[0..<Int(upper - room.base)]) }
        return result[...]
    }

    /// Moves a room's messages up to `seq` out of memory into the cold store, with the pending
    /// versions of cold messages (the step compaction takes once its commit is durable).
    ///
    /// - Parameters:
    ///   - key: the room's fold key.
    ///   - seq: the newest seq to move (at most the head).
    package mutating func moveToCold(room key: String, through seq: Int64) throws {
        guard let cold, var room = rooms[key] else { return }
        let through = min(max(seq, room.base), room.head)
        guard through > room.base || !room.coldVersions.isEmpty else { return }
        let moving = Array(room.messages[0..<Int(through - room.base)])
        let versions = room.coldVersions.keys.sorted().compactMap { room.coldVersions[$0] }
        try cold.append(room: key, messages: moving, versions: versions)
        // Nonces stay in memory (`nonces`): a retried send of a cold message is still answered.
        room.messages = Array(room.messages[Int(through - room.base)...])
        room.base = through
        room.coldVersions = [:]
        rooms[key] = room
    }

    /// Drops a room's messages up to `through` from memory once a compaction committed them to
    /// the cold store. The compaction worked on a copy of the state taken when the room's head
    /// was `copyHead` and wrote the copy's pending versions (`written`); what changed since the
    /// copy stays as pending versions: versions newer than those written, and the targets of
    /// the change events after the copy (with, for a delete, the target's edit events, whose
    /// text it blanked). Nonces of the dropped messages are forgotten (the idempotency window
    /// is the hot window).
    ///
    /// - Parameters:
    ///   - key: the room's fold key.
    ///   - through: the room's new cold head (at most `copyHead`).
    ///   - copyHead: the room's head in the copy.
    ///   - written: the pending versions the compaction wrote.
    package mutating func trimHot(
        room key: String,
        through: Int64,
        copyHead: Int64,
        written: [Int64: ChatMessage]
    ) {
        guard var room = rooms[key] else { return }
        rooms[key] = nil  // keep the arrays uniquely referenced
        defer { rooms[key] = room }
        var pending: [Int64: ChatMessage] = [:]
        for (seq, version) in room.coldVersions where written[seq] != version { pending[seq] = version }
        guard through > room.base, through <= copyHead, copyHead <= room.head else {
            room.coldVersions = pending
            return
        }
        func hot(_ seq: Int64) -> ChatMessage { room.messages[Int(seq - room.base - 1)] }
        var seq = copyHead + 1
        while seq <= room.head {
            let event = hot(seq)
            seq += 1
            guard let target = event.target, target > room.base, target > room.expired, target <= through else {
                continue
            }
            pending[target] = hot(target)
            guard event.kind == .delete else { continue }
            var edit = target + 1
            while edit <= through {
                let message = hot(edit)
                if message.kind == .edit, message.target == target { pending[edit] = message }
                edit += 1
            }
        }
        // A new buffer of the right size: removeFirst would keep the old capacity allocated.
        room.messages = Array(room.messages[Int(through - room.base)...])
        room.base = through
        room.coldVersions = pending
        if !room.nonces.isEmpty { room.nonces = room.nonces.filter { $0.value > through } }
    }

    /// A file that a message about to expire shares.
    package struct ExpiringFile: Sendable, Equatable {
        package var seq: Int64
        package var id: String
    }

    /// What expires in a room: seqs `room.expired + 1 … through`.
    package struct Expiry: Sendable, Equatable {
        /// The room's new `expired`.
        package var through: Int64
        /// The cutoff: every expired message was sent before it (ms).
        package var before: Int64
        /// The live (not deleted) file messages among them.
        package var files: [ExpiringFile]
    }

    /// The longest run of a room's oldest messages not yet expired that were all sent before
    /// `before` (a message sent later stops the run even if older ones follow it: expired seqs
    /// stay a prefix). Reads the cold ones from the cold store, a page at a time.
    ///
    /// - Parameters:
    ///   - key: the room's fold key.
    ///   - before: the cutoff (ms since the epoch).
    package func expiry(room key: String, before: Int64) throws -> Expiry? {
        guard let room = rooms[key] else { return nil }
        var through = room.expired
        var files: [ExpiringFile] = []
        var lower = room.expired + 1
        scan: while lower <= room.head {
            let upper = min(room.head, lower + 511)
            for message in try messages(room: key, from: lower, through: upper) {
                guard message.ts < before else { break scan }
                if message.isContent, !message.deleted, let file = message.file {
                    files.append(ExpiringFile(seq: message.seq, id: file.id))
                }
                through = message.seq
            }
            lower = upper + 1
        }
        return through > room.expired ? Expiry(through: through, before: before, files: files) : nil
    }

    /// Expires a room's seqs up to `expiry.through` in memory: hot messages become tombstones
    /// (`MessageChanges.expire`), pending versions of cold ones are dropped (the cold store's
    /// `expire` turns those into tombstones), and the files they shared lose the reference
    /// unless the message changed since `expiry` was read (a delete since then dropped it).
    ///
    /// - Parameters:
    ///   - key: the room's fold key.
    ///   - expiry: what expires (from `expiry(room:before:)` on this state or a copy of it).
    package mutating func expire(room key: String, _ expiry: Expiry) {
        guard var room = rooms[key], expiry.through > room.expired else { return }
        rooms[key] = nil  // keep the arrays uniquely referenced
        defer { rooms[key] = room }
        for file in expiry.files {
            if let current = room.hot(file.seq) ?? room.coldVersions[file.seq],
                current.deleted || current.file?.id != file.id
            {
                continue
            }
            dropFileReference(file.id, room: key)
        }
        var seq = max(room.base, room.expired) + 1
        while seq <= min(expiry.through, room.head) {
            MessageChanges.expire(&room.messages[Int(seq - room.base - 1)])
            seq += 1
        }
        if !room.coldVersions.isEmpty { room.coldVersions = room.coldVersions.filter { $0.key > expiry.through } }
        room.expired = expiry.through
        room.expiredBefore = max(room.expiredBefore, expiry.before)
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
