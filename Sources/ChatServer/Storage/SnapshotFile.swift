import ChatCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A snapshot: `CHATSNP1`, generation (u32), framed records that rebuild the
/// state, then a trailer `CHATEND1`, record count (u64) and CRC-32C of all that
/// precedes the trailer. It is written to a temporary file, fsynced, renamed into
/// place and the directory fsynced, so a crash leaves either the old or the new one.
package enum SnapshotFile {
    static let magic = Array("CHATSNP1".utf8)
    static let endMagic = Array("CHATEND1".utf8)
    static let headerSize = 12
    static let trailerSize = 20

    /// The records that rebuild a state, in an order `ChatState.apply` accepts.
    ///
    /// - Parameters:
    ///   - state: the state.
    ///   - visit: receives each record.
    package static func records(of state: ChatState, _ visit: (LogRecord) throws -> Void) rethrows {
        for user in state.users.values {
            try visit(.userCreated(name: user.name, passwordHash: user.passwordHash, ts: user.createdAt))
        }
        for (key, user) in state.users where user.disabled { try visit(.userDisabled(user: key, disabled: true)) }
        for (hash, user) in state.tokens {
            try visit(.tokenIssued(user: user, tokenHash: hash, ts: state.tokenIssuedAt[hash] ?? 0))
        }
        for (hash, invite) in state.invites {
            try visit(
                .inviteCreated(codeHash: hash, uses: invite.usesLeft, expiresAt: invite.expiresAt, ts: invite.createdAt)
            )
        }
        for (key, room) in state.rooms {
            try visit(.roomCreated(name: room.name, epoch: room.epoch, ts: room.createdAt))
            if !room.topic.isEmpty { try visit(.topicSet(room: key, topic: room.topic, by: "")) }
            for (user, read) in room.members {
                try visit(.memberAdded(room: key, user: user))
                if read > 0 { try visit(.readMarked(room: key, user: user, seq: read)) }
            }
            for message in room.messages { try visit(.messageAppended(message)) }
        }
    }

    /// Writes a snapshot atomically.
    ///
    /// - Parameters:
    ///   - state: the state to write.
    ///   - generation: its generation number.
    ///   - directory: the data directory.
    /// - Returns: the size in bytes.
    @discardableResult
    package static func write(_ state: ChatState, generation: Int, in directory: DataDirectory) throws -> Int {
        let destination = directory.snapshotPath(generation)
        let temporary = destination + ".tmp"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw StorageError.io(temporary, "cannot create: \(String(cString: strerror(errno)))") }
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
            var header = ByteWriter()
            header.bytes = magic
            header.u32le(UInt32(generation))
            buffer.append(contentsOf: header.bytes)
            try records(of: state) { record in
                RecordFraming.append(record, to: &buffer)
                count += 1
                if buffer.count >= 1 << 20 { try flush() }
            }
            try flush()
            var trailer = ByteWriter()
            trailer.bytes = endMagic
            trailer.u32le(UInt32(truncatingIfNeeded: count))
            trailer.u32le(UInt32(truncatingIfNeeded: count >> 32))
            trailer.u32le(crc)
            try trailer.bytes.withUnsafeBytes { try DataDirectory.writeAll(fd, $0, path: temporary) }
            size += trailer.bytes.count
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
        try bytes.withUnsafeBytes { raw -> Loaded in
            guard raw.count >= headerSize, Array(raw[0..<8]) == magic else {
                if repair {
                    return Loaded(
                        state: ChatState(),
                        records: 0,
                        damage: .init(offset: 0, reason: "bad header", isTail: false)
                    )
                }
                throw StorageError.corrupt(path, offset: 0, "not a chat-server snapshot (bad header)")
            }
            var trailerOK = false
            var expectedCount: UInt64 = 0
            if raw.count >= headerSize + trailerSize {
                let t = raw.count - trailerSize
                var r = ByteReader(raw, offset: t + 8)
                if Array(raw[t..<(t + 8)]) == endMagic, let lo = try? r.u32le(), let hi = try? r.u32le(),
                    let crc = try? r.u32le(), crc == CRC32C.update(0, UnsafeRawBufferPointer(rebasing: raw[0..<t]))
                {
                    trailerOK = true
                    expectedCount = UInt64(lo) | UInt64(hi) << 32
                }
            }
            var state = ChatState()
            let end = trailerOK ? raw.count - trailerSize : raw.count
            let body = UnsafeRawBufferPointer(rebasing: raw[headerSize..<end])
            var count: UInt64 = 0
            let scan = RecordFraming.scan(body) { record in
                state.apply(record)
                count += 1
            }
            if trailerOK, scan.problem == nil, count == expectedCount {
                return Loaded(state: state, records: Int(count), damage: nil)
            }
            let problem =
                scan.problem.map {
                    RecordFraming.Problem(offset: $0.offset + headerSize, reason: $0.reason, isTail: $0.isTail)
                }
                ?? RecordFraming.Problem(
                    offset: raw.count,
                    reason: trailerOK ? "record count mismatch" : "missing or damaged trailer (truncated snapshot)",
                    isTail: true
                )
            guard repair else {
                throw StorageError.corrupt(path, offset: problem.offset, "damaged snapshot: \(problem.reason)")
            }
            return Loaded(state: state, records: Int(count), damage: problem)
        }
    }
}
