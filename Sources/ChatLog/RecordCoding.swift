import ChatCore

/// Appends the binary form of values: unsigned LEB128 varints, zig-zag signed
/// varints, length-prefixed UTF-8 strings.
package struct ByteWriter {
    package var bytes: [UInt8] = []

    package init(capacity: Int = 64) { bytes.reserveCapacity(capacity) }

    package mutating func u8(_ v: UInt8) { bytes.append(v) }

    package mutating func varint(_ v: UInt64) {
        var v = v
        while v >= 0x80 {
            bytes.append(UInt8(v & 0x7F) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }

    package mutating func int(_ v: Int64) { varint(UInt64(bitPattern: (v << 1) ^ (v >> 63))) }

    package mutating func string(_ s: String) {
        var s = s
        s.withUTF8 { utf8 in
            varint(UInt64(utf8.count))
            bytes.append(contentsOf: utf8)
        }
    }

    package mutating func u32le(_ v: UInt32) {
        for shift in stride(from: 0, to: 32, by: 8) { bytes.append(UInt8(truncatingIfNeeded: v >> UInt32(shift))) }
    }
}

/// Reads what `ByteWriter` wrote; every read is bounds-checked.
package struct ByteReader {
    package let bytes: UnsafeRawBufferPointer
    package var offset: Int

    package init(_ bytes: UnsafeRawBufferPointer, offset: Int = 0) {
        self.bytes = bytes
        self.offset = offset
    }

    package var remaining: Int { bytes.count - offset }

    package mutating func u8() throws(RecordDecodingError) -> UInt8 {
        guard offset < bytes.count else { throw RecordDecodingError.truncated }
        defer { offset += 1 }
        return bytes[offset]
    }

    package mutating func varint() throws(RecordDecodingError) -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            let b = try u8()
            guard shift < 64 else { throw RecordDecodingError.malformed("varint too long") }
            result |= UInt64(b & 0x7F) << shift
            if b & 0x80 == 0 { return result }
            shift += 7
        }
    }

    package mutating func int() throws(RecordDecodingError) -> Int64 {
        let z = try varint()
        return Int64(bitPattern: (z >> 1) ^ (0 &- (z & 1)))
    }

    package mutating func string() throws(RecordDecodingError) -> String {
        let count = try varint()
        guard count <= UInt64(remaining) else { throw RecordDecodingError.truncated }
        let slice = UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + Int(count))])
        offset += Int(count)
        guard let s = String(validating: slice, as: UTF8.self) else {
            throw RecordDecodingError.malformed("invalid UTF-8")
        }
        return s
    }

    package mutating func u32le() throws(RecordDecodingError) -> UInt32 {
        guard remaining >= 4 else { throw RecordDecodingError.truncated }
        var v: UInt32 = 0
        for i in 0..<4 { v |= UInt32(bytes[offset + i]) << UInt32(8 * i) }
        offset += 4
        return v
    }
}

/// Why a record could not be decoded.
package enum RecordDecodingError: Error, Equatable {
    case truncated
    case malformed(String)
}

extension LogRecord {
    enum Tag: UInt8 {
        case userCreated = 1
        case passwordChanged, tokenIssued, tokenRevoked, roomCreated, epochChanged
        case memberAdded, memberRemoved, topicSet, messageAppended, readMarked
        case userDisabled, inviteCreated, inviteUsed, inviteRevoked
        case roomAccess
        case tokenUsed
        /// A message with a reply, a target or a state (tag 10 holds the plain ones).
        case messageDetailed
        case fileUploaded, fileRemoved
        case roomCold, fileShared
        case roomExpired
    }

    /// The byte of a message kind in a `messageDetailed` record.
    static func kindByte(_ kind: MessageKind) -> UInt8 {
        switch kind {
        case .text, .unknown: 0
        case .action: 1
        case .edit: 2
        case .delete: 3
        case .react: 4
        case .unreact: 5
        case .file: 6
        }
    }

    static let kinds: [MessageKind] = [.text, .action, .edit, .delete, .react, .unreact, .file]

    /// The byte of a visibility in a `roomAccess` record.
    static func visibilityByte(_ visibility: RoomVisibility) -> UInt8 {
        switch visibility {
        case .public: 0
        case .private: 1
        case .dm: 2
        }
    }

    /// Appends the binary payload of this record.
    ///
    /// - Parameters:
    ///   - w: the writer.
    package func encode(into w: inout ByteWriter) {
        switch self {
        case .userCreated(let name, let hash, let ts):
            w.u8(Tag.userCreated.rawValue)
            w.string(name)
            w.string(hash)
            w.int(ts)
        case .passwordChanged(let user, let hash):
            w.u8(Tag.passwordChanged.rawValue)
            w.string(user)
            w.string(hash)
        case .tokenIssued(let user, let tokenHash, let ts):
            w.u8(Tag.tokenIssued.rawValue)
            w.string(user)
            w.string(tokenHash)
            w.int(ts)
        case .tokenRevoked(let tokenHash):
            w.u8(Tag.tokenRevoked.rawValue)
            w.string(tokenHash)
        case .roomCreated(let name, let epoch, let ts):
            w.u8(Tag.roomCreated.rawValue)
            w.string(name)
            w.string(epoch)
            w.int(ts)
        case .epochChanged(let room, let epoch):
            w.u8(Tag.epochChanged.rawValue)
            w.string(room)
            w.string(epoch)
        case .memberAdded(let room, let user):
            w.u8(Tag.memberAdded.rawValue)
            w.string(room)
            w.string(user)
        case .memberRemoved(let room, let user):
            w.u8(Tag.memberRemoved.rawValue)
            w.string(room)
            w.string(user)
        case .topicSet(let room, let topic, let by):
            w.u8(Tag.topicSet.rawValue)
            w.string(room)
            w.string(topic)
            w.string(by)
        case .messageAppended(let m)
        where m.kind != .text && m.kind != .action || m.replyTo != nil || m.editedTs != nil || m.deleted:
            // Reactions are not stored: replaying the room's react/unreact events rebuilds them.
            w.u8(Tag.messageDetailed.rawValue)
            w.string(m.room)
            w.int(m.seq)
            w.string(m.from)
            w.string(m.text)
            w.u8(Self.kindByte(m.kind))
            w.int(m.ts)
            var flags: UInt8 = 0
            if m.nonce != nil { flags |= 1 }
            if m.replyTo != nil { flags |= 2 }
            if m.target != nil { flags |= 4 }
            if m.emoji != nil { flags |= 8 }
            if m.editedTs != nil { flags |= 16 }
            if m.deleted { flags |= 32 }
            if m.file != nil { flags |= 64 }
            w.u8(flags)
            if let nonce = m.nonce { w.string(nonce) }
            if let replyTo = m.replyTo { w.int(replyTo) }
            if let target = m.target { w.int(target) }
            if let emoji = m.emoji { w.string(emoji) }
            if let editedTs = m.editedTs { w.int(editedTs) }
            if let file = m.file { Self.encode(file, into: &w) }
        case .messageAppended(let m):
            w.u8(Tag.messageAppended.rawValue)
            w.string(m.room)
            w.int(m.seq)
            w.string(m.from)
            w.string(m.text)
            w.u8(m.kind == .action ? 1 : 0)
            w.int(m.ts)
            if let nonce = m.nonce {
                w.u8(1)
                w.string(nonce)
            } else {
                w.u8(0)
            }
        case .readMarked(let room, let user, let seq):
            w.u8(Tag.readMarked.rawValue)
            w.string(room)
            w.string(user)
            w.int(seq)
        case .userDisabled(let user, let disabled):
            w.u8(Tag.userDisabled.rawValue)
            w.string(user)
            w.u8(disabled ? 1 : 0)
        case .inviteCreated(let codeHash, let uses, let expiresAt, let ts):
            w.u8(Tag.inviteCreated.rawValue)
            w.string(codeHash)
            w.int(uses)
            w.int(expiresAt)
            w.int(ts)
        case .inviteUsed(let codeHash):
            w.u8(Tag.inviteUsed.rawValue)
            w.string(codeHash)
        case .inviteRevoked(let codeHash):
            w.u8(Tag.inviteRevoked.rawValue)
            w.string(codeHash)
        case .roomAccess(let room, let visibility, let owner):
            w.u8(Tag.roomAccess.rawValue)
            w.string(room)
            w.u8(Self.visibilityByte(visibility))
            if let owner {
                w.u8(1)
                w.string(owner)
            } else {
                w.u8(0)
            }
        case .tokenUsed(let tokenHash, let ts):
            w.u8(Tag.tokenUsed.rawValue)
            w.string(tokenHash)
            w.int(ts)
        case .fileUploaded(let upload):
            w.u8(Tag.fileUploaded.rawValue)
            Self.encode(upload.file, into: &w)
            w.string(upload.uploader)
            w.int(upload.ts)
        case .fileRemoved(let id):
            w.u8(Tag.fileRemoved.rawValue)
            w.string(id)
        case .roomCold(let room, let base):
            w.u8(Tag.roomCold.rawValue)
            w.string(room)
            w.int(base)
        case .fileShared(let id, let room, let count):
            w.u8(Tag.fileShared.rawValue)
            w.string(id)
            w.string(room)
            w.int(count)
        case .roomExpired(let room, let through, let before):
            w.u8(Tag.roomExpired.rawValue)
            w.string(room)
            w.int(through)
            w.int(before)
        }
    }

    static func encode(_ file: FileRef, into w: inout ByteWriter) {
        w.string(file.id)
        w.string(file.name)
        w.string(file.mime)
        w.int(file.size)
        w.string(file.sha256)
    }

    static func decodeFile(_ r: inout ByteReader) throws(RecordDecodingError) -> FileRef {
        FileRef(
            id: try r.string(),
            name: try r.string(),
            mime: try r.string(),
            size: try r.int(),
            sha256: try r.string()
        )
    }

    /// Decodes one record payload (the whole buffer).
    ///
    /// - Parameters:
    ///   - payload: the record's bytes.
    package static func decode(_ payload: UnsafeRawBufferPointer) throws(RecordDecodingError) -> LogRecord {
        var r = ByteReader(payload)
        guard let tag = Tag(rawValue: try r.u8()) else { throw RecordDecodingError.malformed("unknown record type") }
        let record: LogRecord
        switch tag {
        case .userCreated:
            record = .userCreated(name: try r.string(), passwordHash: try r.string(), ts: try r.int())
        case .passwordChanged:
            record = .passwordChanged(user: try r.string(), passwordHash: try r.string())
        case .tokenIssued:
            record = .tokenIssued(user: try r.string(), tokenHash: try r.string(), ts: try r.int())
        case .tokenRevoked:
            record = .tokenRevoked(tokenHash: try r.string())
        case .roomCreated:
            record = .roomCreated(name: try r.string(), epoch: try r.string(), ts: try r.int())
        case .epochChanged:
            record = .epochChanged(room: try r.string(), epoch: try r.string())
        case .memberAdded:
            record = .memberAdded(room: try r.string(), user: try r.string())
        case .memberRemoved:
            record = .memberRemoved(room: try r.string(), user: try r.string())
        case .topicSet:
            record = .topicSet(room: try r.string(), topic: try r.string(), by: try r.string())
        case .messageAppended:
            let room = try r.string()
            let seq = try r.int()
            let from = try r.string()
            let text = try r.string()
            let kind: MessageKind = try r.u8() == 1 ? .action : .text
            let ts = try r.int()
            let nonce: String? = try r.u8() == 1 ? try r.string() : nil
            record = .messageAppended(
                ChatMessage(room: room, seq: seq, from: from, text: text, kind: kind, ts: ts, nonce: nonce)
            )
        case .readMarked:
            record = .readMarked(room: try r.string(), user: try r.string(), seq: try r.int())
        case .userDisabled:
            let user = try r.string()
            switch try r.u8() {
            case 0: record = .userDisabled(user: user, disabled: false)
            case 1: record = .userDisabled(user: user, disabled: true)
            default: throw RecordDecodingError.malformed("bad flag")
            }
        case .inviteCreated:
            record = .inviteCreated(
                codeHash: try r.string(),
                uses: try r.int(),
                expiresAt: try r.int(),
                ts: try r.int()
            )
        case .inviteUsed:
            record = .inviteUsed(codeHash: try r.string())
        case .inviteRevoked:
            record = .inviteRevoked(codeHash: try r.string())
        case .roomAccess:
            let room = try r.string()
            let visibility: RoomVisibility
            switch try r.u8() {
            case 0: visibility = .public
            case 1: visibility = .private
            case 2: visibility = .dm
            default: throw RecordDecodingError.malformed("bad visibility")
            }
            let owner: String?
            switch try r.u8() {
            case 0: owner = nil
            case 1: owner = try r.string()
            default: throw RecordDecodingError.malformed("bad flag")
            }
            record = .roomAccess(room: room, visibility: visibility, owner: owner)
        case .tokenUsed:
            record = .tokenUsed(tokenHash: try r.string(), ts: try r.int())
        case .fileUploaded:
            let file = try Self.decodeFile(&r)
            record = .fileUploaded(FileUpload(file: file, uploader: try r.string(), ts: try r.int()))
        case .fileRemoved:
            record = .fileRemoved(id: try r.string())
        case .roomCold:
            record = .roomCold(room: try r.string(), base: try r.int())
        case .fileShared:
            record = .fileShared(id: try r.string(), room: try r.string(), count: try r.int())
        case .roomExpired:
            record = .roomExpired(room: try r.string(), through: try r.int(), before: try r.int())
        case .messageDetailed:
            let room = try r.string()
            let seq = try r.int()
            let from = try r.string()
            let text = try r.string()
            let kindByte = Int(try r.u8())
            guard kindByte < Self.kinds.count else { throw RecordDecodingError.malformed("bad message kind") }
            let ts = try r.int()
            let flags = try r.u8()
            guard flags & 0x80 == 0 else { throw RecordDecodingError.malformed("bad message flags") }
            let nonce: String? = flags & 1 != 0 ? try r.string() : nil
            var details = MessageDetails()
            if flags & 2 != 0 { details.replyTo = try r.int() }
            if flags & 4 != 0 { details.target = try r.int() }
            if flags & 8 != 0 { details.emoji = try r.string() }
            if flags & 16 != 0 { details.editedTs = try r.int() }
            details.deleted = flags & 32 != 0
            if flags & 64 != 0 { details.file = try Self.decodeFile(&r) }
            record = .messageAppended(
                ChatMessage(
                    room: room,
                    seq: seq,
                    from: from,
                    text: text,
                    kind: Self.kinds[kindByte],
                    ts: ts,
                    nonce: nonce,
                    details: details
                )
            )
        }
        guard r.remaining == 0 else { throw RecordDecodingError.malformed("trailing bytes in record") }
        return record
    }
}

/// Record framing on disk: `[length u32 LE][crc32c u32 LE][payload]`, the CRC
/// covering the payload. A torn or corrupt record is detected by its length or CRC.
package enum RecordFraming {
    /// Bytes before the payload.
    package static let headerSize = 8
    /// Largest payload accepted (a message is at most a few tens of KiB).
    package static let maxPayload = 16 << 20

    /// Appends one framed record.
    ///
    /// - Parameters:
    ///   - record: the record.
    ///   - out: the buffer.
    package static func append(_ record: LogRecord, to out: inout [UInt8]) {
        var w = ByteWriter()
        record.encode(into: &w)
        var header = ByteWriter(capacity: 8)
        header.u32le(UInt32(w.bytes.count))
        header.u32le(CRC32C.checksum(w.bytes))
        out.append(contentsOf: header.bytes)
        out.append(contentsOf: w.bytes)
    }

    /// What scanning a buffer of framed records found.
    package struct Scan {
        /// Decoded records, in order.
        package var records: [LogRecord] = []
        /// Offset just past the last good record.
        package var validLength: Int = 0
        /// Why scanning stopped before the end, if it did.
        package var problem: Problem?
    }

    /// A damaged place in a file.
    package struct Problem: Equatable {
        package var offset: Int
        package var reason: String
        /// True when nothing valid follows (a torn tail), false for damage in the middle.
        package var isTail: Bool
    }

    /// Decodes framed records from a buffer, stopping at the first damaged one.
    ///
    /// - Parameters:
    ///   - bytes: file contents.
    ///   - visit: called with each record (for streaming); when nil, records are collected.
    package static func scan(_ bytes: UnsafeRawBufferPointer, visit: ((LogRecord) -> Void)? = nil) -> Scan {
        var scan = Scan()
        var offset = 0
        while offset < bytes.count {
            var r = ByteReader(bytes, offset: offset)
            guard let length = try? r.u32le(), let crc = try? r.u32le() else {
                scan.problem = Problem(offset: offset, reason: "truncated record header", isTail: true)
                break
            }
            guard length > 0 else {
                // A zero header (e.g. a zero-filled tail after a machine crash) would pass the
                // CRC check, since the CRC of nothing is 0: never a real record.
                scan.problem = Problem(
                    offset: offset,
                    reason: "zero-length record",
                    isTail: !hasValidRecord(bytes, after: offset + 1)
                )
                break
            }
            guard Int(length) <= maxPayload else {
                scan.problem = Problem(
                    offset: offset,
                    reason: "record length \(length) is not plausible",
                    isTail: !hasValidRecord(bytes, after: offset + 1)
                )
                break
            }
            let start = offset + headerSize
            guard start + Int(length) <= bytes.count else {
                // Past the end: a torn last record, or a damaged length field in front of good
                // records, which must not be mistaken for a tail and truncated away.
                scan.problem = Problem(
                    offset: offset,
                    reason: "truncated record",
                    isTail: !hasValidRecord(bytes, after: offset + 1)
                )
                break
            }
            let payload = UnsafeRawBufferPointer(rebasing: bytes[start..<(start + Int(length))])
            guard CRC32C.checksum(payload) == crc else {
                scan.problem = Problem(
                    offset: offset,
                    reason: "checksum mismatch",
                    isTail: !hasValidRecord(bytes, after: start + Int(length))
                )
                break
            }
            do {
                let record = try LogRecord.decode(payload)
                if let visit { visit(record) } else { scan.records.append(record) }
            } catch {
                scan.problem = Problem(offset: offset, reason: "undecodable record: \(error)", isTail: false)
                break
            }
            offset = start + Int(length)
            scan.validLength = offset
        }
        return scan
    }

    /// Whether a valid record header+payload starts anywhere after `offset` (distinguishes
    /// a torn tail, which is garbage to the end, from damage in the middle of good data).
    static func hasValidRecord(_ bytes: UnsafeRawBufferPointer, after offset: Int) -> Bool {
        var candidate = offset
        let limit = min(bytes.count, offset + (1 << 20))
        while candidate + headerSize <= limit {
            var r = ByteReader(bytes, offset: candidate)
            if let length = try? r.u32le(), let crc = try? r.u32le(), length > 0, Int(length) <= maxPayload,
                candidate + headerSize + Int(length) <= bytes.count
            {
                let start = candidate + headerSize
                let payload = UnsafeRawBufferPointer(rebasing: bytes[start..<(start + Int(length))])
                if CRC32C.checksum(payload) == crc, (try? LogRecord.decode(payload)) != nil { return true }
            }
            candidate += 1
        }
        return false
    }
}
