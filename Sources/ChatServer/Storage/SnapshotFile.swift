import ChatCore
import ChatLog

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A snapshot file (layout in `SnapshotFormat`): the records that rebuild a
/// `ChatState`. It is written to a temporary file, fsynced, renamed into place and
/// the directory fsynced, so a crash leaves either the old or the new one.
package enum SnapshotFile {
    /// The records that rebuild a state, in an order `ChatState.apply` accepts.
    ///
    /// A room with cold messages (`base > 0`) gets a `roomCold` record and only its hot messages,
    /// and the file references its cold messages hold become `fileShared` records: such a
    /// snapshot is only valid with the cold store committed as its generation (`Compaction`).
    /// With `coldBodies` every message is written instead, cold ones read from the cold store in
    /// pages: a snapshot that needs no cold store (the fallback when a compaction fails).
    ///
    /// - Parameters:
    ///   - state: the state.
    ///   - coldBodies: write the cold messages' bodies too.
    ///   - visit: receives each record.
    package static func records(
        of state: ChatState,
        coldBodies: Bool = false,
        _ visit: (LogRecord) throws -> Void
    ) throws {
        for user in state.users.values {
            try visit(.userCreated(name: user.name, passwordHash: user.passwordHash, ts: user.createdAt))
        }
        for (key, user) in state.users where user.disabled { try visit(.userDisabled(user: key, disabled: true)) }
        for (hash, user) in state.tokens {
            let issued = state.tokenIssuedAt[hash] ?? 0
            try visit(.tokenIssued(user: user, tokenHash: hash, ts: issued))
            if let used = state.tokenUsedAt[hash], used > issued { try visit(.tokenUsed(tokenHash: hash, ts: used)) }
        }
        for (hash, invite) in state.invites {
            try visit(
                .inviteCreated(codeHash: hash, uses: invite.usesLeft, expiresAt: invite.expiresAt, ts: invite.createdAt)
            )
        }
        for (key, room) in state.rooms {
            try visit(.roomCreated(name: room.name, epoch: room.epoch, ts: room.createdAt))
            if room.visibility != .public || room.owner != nil {
                try visit(.roomAccess(room: key, visibility: room.visibility, owner: room.owner))
            }
            if !room.topic.isEmpty { try visit(.topicSet(room: key, topic: room.topic, by: "")) }
            if room.expired > 0 {
                try visit(.roomExpired(room: key, through: room.expired, before: room.expiredBefore))
            }
            for (user, read) in room.members {
                try visit(.memberAdded(room: key, user: user))
                if read > 0 { try visit(.readMarked(room: key, user: user, seq: read)) }
            }
            if room.base == 0 {
                for message in room.messages { try visit(.messageAppended(message)) }
            } else if coldBodies {
                var lower: Int64 = 1
                while lower <= room.head {
                    let page = try state.messages(room: key, from: lower, through: min(room.head, lower + 9_999))
                    for message in page { try visit(.messageAppended(message)) }
                    lower += 10_000
                }
            } else {
                try visit(.roomCold(room: key, base: room.base))
                for message in room.messages { try visit(.messageAppended(message)) }
            }
        }
        for upload in state.uploads.values { try visit(.fileUploaded(upload)) }
        guard !coldBodies else { return }
        // The references of cold messages: the room's count less what its hot messages add back.
        var hot: [String: [String: Int]] = [:]  // room → file id → hot messages sharing it
        for (key, room) in state.rooms where room.base > 0 {
            var counts: [String: Int] = [:]
            for message in room.messages where message.kind == .file && !message.deleted {
                if let id = message.file?.id { counts[id, default: 0] += 1 }
            }
            hot[key] = counts
        }
        for (id, sharing) in state.fileRooms {
            for (key, count) in sharing {
                guard let counts = hot[key] else { continue }
                let cold = count - (counts[id] ?? 0)
                if cold > 0 { try visit(.fileShared(id: id, room: key, count: Int64(cold))) }
            }
        }
    }

    /// Writes a snapshot atomically.
    ///
    /// - Parameters:
    ///   - state: the state to write.
    ///   - generation: its generation number.
    ///   - directory: the data directory.
    ///   - coldBodies: write cold messages' bodies too (see `records(of:coldBodies:_:)`).
    /// - Returns: the size in bytes.
    @discardableResult
    package static func write(
        _ state: ChatState,
        generation: Int,
        in directory: DataDirectory,
        coldBodies: Bool = false
    ) throws -> Int {
        let destination = directory.snapshotPath(generation)
        let temporary = destination + ".tmp"
        let fd = try DataDirectory.createPrivateFile(temporary)
        var crc: UInt32 = 0
        var size = 0
        var count: UInt64 = 0
        var buffer: [UInt8] = []
        buffer.reserveCapacity(1 << 20)
        func flush() throws {
            try buffer.withUnsafeBytes { bytes in
                crc = CRC32C.update(crc, bytes)
                try DataDirectory.writeAll(fd, bytes, path: temporary)
            }
            size += buffer.count
            buffer.removeAll(keepingCapacity: true)
        }
        do {
            buffer.append(contentsOf: SnapshotFormat.header(generation: generation))
            try records(of: state, coldBodies: coldBodies) { record in
                RecordFraming.append(record, to: &buffer)
                count += 1
                if buffer.count >= 1 << 20 { try flush() }
            }
            try flush()
            let trailer = SnapshotFormat.trailer(count: count, crc: crc)
            try trailer.withUnsafeBytes { try DataDirectory.writeAll(fd, $0, path: temporary) }
            size += trailer.count
            guard fsync(fd) == 0 else { throw StorageError.io(temporary, "fsync failed") }
        } catch {
            close(fd)
            unlink(temporary)
            throw error
        }
        close(fd)
        guard rename(temporary, destination) == 0 else { throw StorageError.io(destination, "rename failed") }
        directory.syncDirectory()
        return size
    }

    /// What loading a snapshot found.
    package struct Loaded {
        package var state: ChatState
        package var records: Int
        /// Set when the file was damaged and only a prefix was used (repair).
        package var damage: RecordFraming.Problem?
    }

    /// Loads a snapshot; damage throws unless `repair`, which keeps the valid prefix.
    ///
    /// - Parameters:
    ///   - path: the file.
    ///   - repair: keep the valid prefix of a damaged file.
    package static func load(_ path: String, repair: Bool) throws -> Loaded {
        try load(bytes: try DataDirectory.read(path), path: path, repair: repair)
    }

    /// Loads a snapshot from bytes already read.
    ///
    /// - Parameters:
    ///   - bytes: the file's contents.
    ///   - path: the file, for errors.
    ///   - repair: keep the valid prefix of a damaged file.
    package static func load(bytes: [UInt8], path: String, repair: Bool) throws -> Loaded {
        var state = ChatState()
        state.loadingSnapshot = true
        let decoded = bytes.withUnsafeBytes { raw in SnapshotFormat.decode(raw) { state.apply($0) } }
        state.loadingSnapshot = false
        guard let problem = decoded.damage else { return Loaded(state: state, records: decoded.records, damage: nil) }
        guard repair else {
            if decoded.badHeader {
                throw StorageError.corrupt(path, offset: 0, "not a chat-server snapshot (bad header)")
            }
            throw StorageError.corrupt(path, offset: problem.offset, "damaged snapshot: \(problem.reason)")
        }
        return Loaded(state: state, records: decoded.records, damage: problem)
    }
}
