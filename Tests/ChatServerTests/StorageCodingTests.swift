import ChatCore
import ChatLog
import ChatServer
import Foundation
import Testing

/// Binary record coding, framing and CRC-32C.
@Suite("Storage coding")
struct StorageCodingTests {
    static let longText = String(repeating: "字", count: 20_000)

    /// Every `LogRecord` case, with unicode, empty strings, negative and extreme integers.
    static let samples: [LogRecord] = [
        .userCreated(
            name: "alice",
            passwordHash: "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA",
            ts: 1_700_000_000_000
        ),
        .userCreated(name: "", passwordHash: "", ts: 0),
        .userCreated(name: "名前👩‍👩‍👧", passwordHash: "ü", ts: Int64.min),
        .passwordChanged(user: "ß", passwordHash: String(repeating: "x", count: 200)),
        .passwordChanged(user: "", passwordHash: ""),
        .tokenIssued(user: "bob", tokenHash: String(repeating: "ab", count: 32), ts: Int64.max),
        .tokenIssued(user: "", tokenHash: "", ts: -1),
        .tokenRevoked(tokenHash: "abc"),
        .tokenRevoked(tokenHash: ""),
        .roomCreated(name: "Café ☕️", epoch: "0123abcd", ts: -1_700_000_000_000),
        .roomCreated(name: "", epoch: "", ts: 0),
        .epochChanged(room: "café ☕️", epoch: "zz"),
        .epochChanged(room: "", epoch: ""),
        .memberAdded(room: "r", user: "u"),
        .memberAdded(room: "", user: ""),
        .memberRemoved(room: "чат", user: "σίσυφος"),
        .memberRemoved(room: "", user: ""),
        .topicSet(room: "r", topic: "multi\nline \u{0} nul \u{FFFD}", by: "Ünï"),
        .topicSet(room: "", topic: "", by: ""),
        .messageAppended(ChatMessage(room: "Lobby", seq: 1, from: "alice", text: "hi", kind: .text, ts: 1)),
        .messageAppended(
            ChatMessage(room: "Lobby", seq: 2, from: "alice", text: "waves", kind: .action, ts: 2, nonce: "n-1")
        ),
        .messageAppended(ChatMessage(room: "r", seq: 3, from: "b", text: "", kind: .text, ts: -2, nonce: "")),
        .messageAppended(
            ChatMessage(room: "部屋", seq: Int64.max, from: "ü", text: longText, kind: .action, ts: Int64.min, nonce: "ñ")
        ),
        .messageAppended(ChatMessage(room: "", seq: 0, from: "", text: "", kind: .text, ts: 0)),
        .messageAppended(ChatMessage(room: "x", seq: -1, from: "y", text: "👍🏽", kind: .text, ts: Int64.max)),
        .messageAppended(
            ChatMessage(
                room: "r",
                seq: 4,
                from: "b",
                text: "yes",
                kind: .text,
                ts: 5,
                details: MessageDetails(replyTo: 1)
            )
        ),
        .messageAppended(
            ChatMessage(
                room: "r",
                seq: 5,
                from: "b",
                text: "fixed",
                kind: .edit,
                ts: 6,
                nonce: "n",
                details: MessageDetails(target: 4)
            )
        ),
        .messageAppended(
            ChatMessage(
                room: "r",
                seq: 6,
                from: "a",
                text: "",
                kind: .delete,
                ts: 7,
                details: MessageDetails(target: 4)
            )
        ),
        .messageAppended(
            ChatMessage(
                room: "部屋",
                seq: 7,
                from: "ü",
                text: "",
                kind: .react,
                ts: 8,
                details: MessageDetails(target: 2, emoji: "👍🏽")
            )
        ),
        .messageAppended(
            ChatMessage(
                room: "r",
                seq: 8,
                from: "b",
                text: "",
                kind: .unreact,
                ts: 9,
                details: MessageDetails(target: 2, emoji: "🎉")
            )
        ),
        .messageAppended(
            ChatMessage(
                room: "r",
                seq: 2,
                from: "b",
                text: "",
                kind: .action,
                ts: 3,
                details: MessageDetails(replyTo: 1, editedTs: 4, deleted: true)
            )
        ),
        .readMarked(room: "r", user: "u", seq: 42),
        .readMarked(room: "", user: "", seq: Int64.min),
        .readMarked(room: "x", user: "y", seq: Int64.max),
        .userDisabled(user: "ü", disabled: true),
        .userDisabled(user: "", disabled: false),
        .inviteCreated(codeHash: String(repeating: "ab", count: 32), uses: 3, expiresAt: 0, ts: 1),
        .inviteCreated(codeHash: "", uses: Int64.max, expiresAt: Int64.min, ts: Int64.max),
        .inviteUsed(codeHash: "c0ffee"),
        .inviteRevoked(codeHash: ""),
        .roomAccess(room: "ops", visibility: .private, owner: "ünï"),
        .roomAccess(room: "@a+b", visibility: .dm, owner: nil),
        .roomAccess(room: "", visibility: .public, owner: ""),
        .tokenUsed(tokenHash: String(repeating: "ab", count: 32), ts: 1_700_000_000_000),
        .tokenUsed(tokenHash: "", ts: Int64.min),
        .fileUploaded(
            FileUpload(
                file: FileRef(
                    id: String(repeating: "0f", count: 16),
                    name: "日本語 report (1).pdf",
                    mime: "application/pdf",
                    size: 26_214_400,
                    sha256: String(repeating: "ab", count: 32)
                ),
                uploader: "ünï",
                ts: 1_700_000_000_000
            )
        ),
        .fileUploaded(
            FileUpload(file: FileRef(id: "", name: "", mime: "", size: 0, sha256: ""), uploader: "", ts: Int64.min)
        ),
        .fileRemoved(id: String(repeating: "0f", count: 16)),
        .roomCold(room: "général", base: 9_999_950),
        .roomCold(room: "", base: 0),
        .fileShared(id: String(repeating: "0f", count: 16), room: "général", count: 3),
        .roomExpired(room: "général", through: 1_234_567, before: 1_700_000_000_000),
        .roomExpired(room: "", through: 0, before: Int64.min),
        .messageAppended(
            ChatMessage(
                room: "r",
                seq: 9,
                from: "a",
                text: "the logs",
                kind: .file,
                ts: 10,
                nonce: "n-1",
                details: MessageDetails(
                    replyTo: 3,
                    file: FileRef(id: "ab", name: "x.log", mime: "text/plain", size: 12, sha256: "cd")
                )
            )
        ),
        .messageAppended(
            ChatMessage(
                room: "r",
                seq: 10,
                from: "a",
                text: "",
                kind: .file,
                ts: 11,
                details: MessageDetails(deleted: true)
            )
        ),
    ]

    static func caseName(_ record: LogRecord) -> String {
        switch record {
        case .userCreated: "userCreated"
        case .passwordChanged: "passwordChanged"
        case .tokenIssued: "tokenIssued"
        case .tokenRevoked: "tokenRevoked"
        case .roomCreated: "roomCreated"
        case .epochChanged: "epochChanged"
        case .memberAdded: "memberAdded"
        case .memberRemoved: "memberRemoved"
        case .topicSet: "topicSet"
        case .messageAppended: "messageAppended"
        case .readMarked: "readMarked"
        case .userDisabled: "userDisabled"
        case .inviteCreated: "inviteCreated"
        case .inviteUsed: "inviteUsed"
        case .inviteRevoked: "inviteRevoked"
        case .roomAccess: "roomAccess"
        case .tokenUsed: "tokenUsed"
        case .fileUploaded: "fileUploaded"
        case .fileRemoved: "fileRemoved"
        case .roomCold: "roomCold"
        case .fileShared: "fileShared"
        case .roomExpired: "roomExpired"
        }
    }

    static func payload(_ record: LogRecord) -> [UInt8] {
        var writer = ByteWriter()
        record.encode(into: &writer)
        return writer.bytes
    }

    static func decode(_ bytes: [UInt8]) -> Result<LogRecord, RecordDecodingError> {
        bytes.withUnsafeBytes { raw in Result { () throws(RecordDecodingError) in try LogRecord.decode(raw) } }
    }

    @Test("the samples cover every record type")
    func samplesCoverEveryCase() {
        #expect(Set(Self.samples.map(Self.caseName)).count == 22)
    }

    @Test("a record round-trips through encode, decode and framing", arguments: samples)
    func roundTrip(record: LogRecord) throws {
        let payload = Self.payload(record)
        #expect(try Self.decode(payload).get() == record)
        #expect(Self.payload(try Self.decode(payload).get()) == payload, "re-encoding is not byte-identical")

        let framed = StorageTestSupport.framed([record])
        #expect(framed.count == RecordFraming.headerSize + payload.count)
        #expect(Array(framed[8...]) == payload)
        var header = ByteWriter()
        header.u32le(UInt32(payload.count))
        header.u32le(CRC32C.checksum(payload))
        #expect(Array(framed[0..<8]) == header.bytes)
        let scan = StorageTestSupport.scan(framed)
        #expect(scan.records == [record])
        #expect(scan.validLength == framed.count)
        #expect(scan.problem == nil)

        // Every strict prefix is rejected, and so is a trailing byte.
        let cuts = payload.count <= 2_000 ? Array(0..<payload.count) : [0, 1, 2, payload.count / 2, payload.count - 1]
        for cut in cuts {
            guard case .failure = Self.decode(Array(payload[0..<cut])) else {
                Issue.record("a \(cut)-byte prefix of a \(payload.count)-byte payload decoded")
                continue
            }
        }
        #expect(Self.decode(payload + [0]) == .failure(.malformed("trailing bytes in record")))
    }

    @Test("the binary format is stable (golden bytes)")
    func goldenBytes() {
        #expect(Self.payload(.readMarked(room: "r", user: "u", seq: 42)) == [11, 1, 0x72, 1, 0x75, 84])
        #expect(Self.payload(.tokenRevoked(tokenHash: "é")) == [4, 2, 0xC3, 0xA9])
        #expect(Self.payload(.userCreated(name: "a", passwordHash: "", ts: -3)) == [1, 1, 0x61, 0, 5])
        let action = ChatMessage(room: "R", seq: 1, from: "a", text: "", kind: .action, ts: -1, nonce: "n")
        #expect(Self.payload(.messageAppended(action)) == [10, 1, 0x52, 2, 1, 0x61, 0, 1, 1, 1, 1, 0x6E])
        let plain = ChatMessage(room: "R", seq: 1, from: "a", text: "", kind: .text, ts: 0)
        #expect(Self.payload(.messageAppended(plain)) == [10, 1, 0x52, 2, 1, 0x61, 0, 0, 0, 0])
        #expect(Self.payload(.roomAccess(room: "r", visibility: .private, owner: "u")) == [16, 1, 0x72, 1, 1, 1, 0x75])
        #expect(Self.payload(.roomAccess(room: "r", visibility: .dm, owner: nil)) == [16, 1, 0x72, 2, 0])
        let crc = CRC32C.checksum([4, 2, 0xC3, 0xA9] as [UInt8])
        let framed = StorageTestSupport.framed([.tokenRevoked(tokenHash: "é")])
        #expect(
            framed == [
                4, 0, 0, 0, UInt8(crc & 0xFF), UInt8(crc >> 8 & 0xFF), UInt8(crc >> 16 & 0xFF), UInt8(crc >> 24),
            ]
                + [4, 2, 0xC3, 0xA9]
        )
    }

    @Test("varints and zig-zag integers have the expected encodings and round-trip")
    func integers() throws {
        let varints: [(UInt64, [UInt8])] = [
            (0, [0]), (1, [1]), (127, [0x7F]), (128, [0x80, 0x01]), (300, [0xAC, 0x02]),
            (UInt64.max, [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]),
        ]
        for (value, bytes) in varints {
            var writer = ByteWriter()
            writer.varint(value)
            #expect(writer.bytes == bytes, "varint \(value)")
            let read = try bytes.withUnsafeBytes { raw in
                var reader = ByteReader(raw)
                return (try reader.varint(), reader.remaining)
            }
            #expect(read.0 == value && read.1 == 0, "varint \(value)")
        }
        let zigzag: [(Int64, [UInt8])] = [
            (0, [0]), (-1, [1]), (1, [2]), (-64, [0x7F]), (64, [0x80, 0x01]), (63, [0x7E]),
            (Int64.min, [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]),
            (Int64.max, [0xFE, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]),
        ]
        for (value, bytes) in zigzag {
            var writer = ByteWriter()
            writer.int(value)
            #expect(writer.bytes == bytes, "int \(value)")
        }
        var rng = SplitMix64(seed: 99)
        var values: [Int64] = [Int64.min, Int64.min + 1, -1_000_000_007, -129, -128, 0, 127, 128, Int64.max - 1]
        values += (0..<500).map { _ in Int64(bitPattern: rng.next()) >> Int64.random(in: 0...63, using: &rng) }
        var writer = ByteWriter()
        for value in values { writer.int(value) }
        let decoded = try writer.bytes.withUnsafeBytes { raw throws(RecordDecodingError) -> [Int64] in
            var reader = ByteReader(raw)
            var out: [Int64] = []
            while reader.remaining > 0 { out.append(try reader.int()) }
            return out
        }
        #expect(decoded == values)

        var u32 = ByteWriter()
        u32.u32le(0xDEAD_BEEF)
        #expect(u32.bytes == [0xEF, 0xBE, 0xAD, 0xDE])
    }

    @Test("damaged payloads are rejected with a decoding error, not a crash")
    func malformedPayloads() {
        #expect(Self.decode([]) == .failure(.truncated))
        for tag: UInt8 in [0, 24, 200, 255] {
            #expect(Self.decode([tag, 0, 0]) == .failure(.malformed("unknown record type")), "tag \(tag)")
        }
        // tokenRevoked with a string claiming 5 bytes but holding 2.
        #expect(Self.decode([4, 5, 0x61, 0x62]) == .failure(.truncated))
        // tokenRevoked with invalid UTF-8.
        #expect(Self.decode([4, 2, 0xC3, 0x28]) == .failure(.malformed("invalid UTF-8")))
        #expect(Self.decode([4, 1, 0xFF]) == .failure(.malformed("invalid UTF-8")))
        // roomAccess with an unknown visibility or owner flag.
        #expect(Self.decode([16, 1, 0x72, 3, 0]) == .failure(.malformed("bad visibility")))
        #expect(Self.decode([16, 1, 0x72, 1, 2]) == .failure(.malformed("bad flag")))
        // readMarked whose seq varint never ends.
        let endless: [UInt8] = [11, 0, 0] + Array(repeating: 0x80, count: 11) + [0]
        #expect(Self.decode(endless) == .failure(.malformed("varint too long")))
        // A string length larger than any buffer.
        #expect(Self.decode([4, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F]) == .failure(.truncated))
    }

    @Test("CRC-32C matches the published check values")
    func crcVectors() {
        #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
        #expect(CRC32C.checksum([UInt8]()) == 0)
        // Slicing-by-8 against the one-byte-a-step definition, at every length and alignment
        // up to 64 bytes, whole and continued at every split.
        func reference(_ bytes: [UInt8]) -> UInt32 {
            var crc: UInt32 = 0xFFFF_FFFF
            for b in bytes {
                crc ^= UInt32(b)
                for _ in 0..<8 { crc = crc & 1 != 0 ? 0x82F6_3B78 ^ (crc >> 1) : crc >> 1 }
            }
            return crc ^ 0xFFFF_FFFF
        }
        var generator = SystemRandomNumberGenerator()
        let data = (0..<80).map { _ in UInt8.random(in: 0...255, using: &generator) }
        for offset in 0..<8 {
            for length in 0...64 {
                let bytes = Array(data[offset..<(offset + length)])
                #expect(CRC32C.checksum(bytes) == reference(bytes), "offset \(offset) length \(length)")
                #expect(CRC32C.checksum(bytes.lazy.map { $0 }) == reference(bytes))
                let split = length / 3
                let continued = bytes.withUnsafeBytes { all in
                    CRC32C.update(
                        CRC32C.update(0, UnsafeRawBufferPointer(rebasing: all[..<split])),
                        UnsafeRawBufferPointer(rebasing: all[split...])
                    )
                }
                #expect(continued == reference(bytes))
            }
        }
        // RFC 3720 (iSCSI) B.4 test vectors.
        #expect(CRC32C.checksum([UInt8](repeating: 0, count: 32)) == 0x8A91_36AA)
        #expect(CRC32C.checksum([UInt8](repeating: 0xFF, count: 32)) == 0x62A8_AB43)
        #expect(CRC32C.checksum((0..<32).map { UInt8($0) }) == 0x46DD_794E)
        #expect(CRC32C.checksum((0..<32).reversed().map { UInt8($0) }) == 0x113F_DB5C)

        let digits = Array("123456789".utf8)
        digits.withUnsafeBytes { raw in
            #expect(CRC32C.checksum(raw) == 0xE306_9283)
            #expect(CRC32C.update(0, UnsafeRawBufferPointer(rebasing: raw[0..<0])) == 0)
            for split in 0...digits.count {
                let first = CRC32C.update(0, UnsafeRawBufferPointer(rebasing: raw[0..<split]))
                let both = CRC32C.update(first, UnsafeRawBufferPointer(rebasing: raw[split...]))
                #expect(both == 0xE306_9283, "split at \(split)")
            }
        }
    }

    /// Framed random records and the offset where each one ends.
    static func randomLog(seed: UInt64, count: Int) -> (records: [LogRecord], bytes: [UInt8], ends: [Int]) {
        var workload = StorageWorkload(seed: seed)
        let records = workload.batch(count, after: ChatState())
        var bytes: [UInt8] = []
        var ends: [Int] = []
        for record in records {
            RecordFraming.append(record, to: &bytes)
            ends.append(bytes.count)
        }
        return (records, bytes, ends)
    }

    @Test("scanning many framed records returns them all, collected or streamed")
    func scanMany() {
        let log = Self.randomLog(seed: 7, count: 2_000)
        let scan = StorageTestSupport.scan(log.bytes)
        #expect(scan.records.count == 2_000)
        #expect(scan.records == log.records)
        #expect(scan.validLength == log.bytes.count)
        #expect(scan.problem == nil)

        var visited: [LogRecord] = []
        let streamed = log.bytes.withUnsafeBytes { RecordFraming.scan($0) { visited.append($0) } }
        #expect(streamed.records.isEmpty)
        #expect(visited == log.records)
        #expect(streamed.validLength == log.bytes.count)
        #expect(streamed.problem == nil)

        let empty = StorageTestSupport.scan([])
        #expect(empty.records.isEmpty && empty.validLength == 0 && empty.problem == nil)
    }

    @Test("every prefix of a log decodes exactly the complete records and reports a torn tail")
    func everyPrefix() {
        let log = Self.randomLog(seed: 11, count: 40)
        for length in 0...log.bytes.count {
            let complete = log.ends.prefix { $0 <= length }.count
            let boundary = complete == 0 ? 0 : log.ends[complete - 1]
            let scan = StorageTestSupport.scan(Array(log.bytes[0..<length]))
            #expect(scan.records == Array(log.records[0..<complete]), "prefix \(length)")
            #expect(scan.validLength == boundary, "prefix \(length)")
            if length == boundary {
                #expect(scan.problem == nil, "prefix \(length)")
            } else {
                #expect(scan.problem?.isTail == true, "prefix \(length): \(String(describing: scan.problem))")
                #expect(scan.problem?.offset == boundary, "prefix \(length)")
            }
        }
    }

    @Test("a flipped bit in the payload or checksum of a middle record is damage in the middle")
    func flippedByteInMiddle() {
        let log = Self.randomLog(seed: 5, count: 9)
        let middle = 4
        let start = log.ends[middle - 1]
        for position in (start + 4)..<log.ends[middle] {
            for mask: UInt8 in [0x01, 0x80, 0xFF] {
                var damaged = log.bytes
                damaged[position] ^= mask
                let scan = StorageTestSupport.scan(damaged)
                let label = "byte \(position - start) of the record, mask \(mask)"
                #expect(scan.records == Array(log.records[0..<middle]), "\(label)")
                #expect(scan.validLength == start, "\(label)")
                #expect(scan.problem?.offset == start, "\(label)")
                #expect(scan.problem?.isTail == false, "\(label): \(String(describing: scan.problem))")
            }
        }
    }

    @Test("a damaged length field of a middle record is damage in the middle, not a torn tail")
    func damagedLengthInMiddle() {
        let log = Self.randomLog(seed: 5, count: 9)
        let middle = 4
        let start = log.ends[middle - 1]
        var tornTail: [String] = []
        for position in start..<(start + 4) {
            for mask: UInt8 in [0x01, 0x80] {
                var damaged = log.bytes
                damaged[position] ^= mask
                let scan = StorageTestSupport.scan(damaged)
                let label = "length byte \(position - start), mask \(mask)"
                #expect(scan.records == Array(log.records[0..<middle]), "\(label)")
                #expect(scan.validLength == start, "\(label)")
                #expect(scan.problem?.offset == start, "\(label)")
                if scan.problem?.isTail != false { tornTail.append("\(label): \(String(describing: scan.problem))") }
            }
        }
        #expect(tornTail.isEmpty, "reported as a torn tail although 4 valid records follow:\n\(tornTail)")
    }

    @Test("garbage after valid records is a torn tail", arguments: 1...12)
    func garbageTail(seed: Int) {
        let log = Self.randomLog(seed: 3, count: 25)
        var rng = SplitMix64(seed: UInt64(seed))
        let garbage = rng.bytes(Int.random(in: 1...300, using: &rng))
        let scan = StorageTestSupport.scan(log.bytes + garbage)
        #expect(scan.records == log.records, "seed \(seed)")
        #expect(scan.validLength == log.bytes.count, "seed \(seed)")
        #expect(scan.problem?.offset == log.bytes.count, "seed \(seed)")
        #expect(scan.problem?.isTail == true, "seed \(seed): \(String(describing: scan.problem))")
    }

    @Test("zero bytes between valid records are damage in the middle")
    func zerosInMiddle() {
        let log = Self.randomLog(seed: 3, count: 25)
        let cut = log.ends[9]
        let bytes = Array(log.bytes[0..<cut]) + [UInt8](repeating: 0, count: 64) + log.bytes[cut...]
        let scan = StorageTestSupport.scan(bytes)
        #expect(scan.records == Array(log.records[0..<10]))
        #expect(scan.validLength == cut)
        #expect(scan.problem?.offset == cut)
        #expect(scan.problem?.isTail == false, "\(String(describing: scan.problem))")
    }

    @Test("a zero-filled tail (file extended by a crash) is a torn tail", arguments: [1, 7, 8, 512, 4_096])
    func zeroTail(count: Int) {
        let log = Self.randomLog(seed: 3, count: 25)
        let scan = StorageTestSupport.scan(log.bytes + [UInt8](repeating: 0, count: count))
        #expect(scan.records == log.records)
        #expect(scan.validLength == log.bytes.count)
        #expect(scan.problem?.offset == log.bytes.count)
        // With 8 or more zero bytes the header reads length 0 and CRC 0, which is the CRC
        // of an empty payload: it must still count as a torn tail, not as damage.
        #expect(scan.problem?.isTail == true, "\(count) zero bytes: \(String(describing: scan.problem))")
    }
}
