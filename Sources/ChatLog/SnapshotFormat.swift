/// The layout of a snapshot file: `CHATSNP1`, generation (u32), framed records that
/// rebuild the state, then a trailer `CHATEND1`, record count (u64) and CRC-32C of all
/// that precedes the trailer.
///
/// Pure byte handling, so the decoder can be tested and fuzzed without files; writing
/// and applying records to the server state live in `ChatServer`'s `SnapshotFile`.
package enum SnapshotFormat {
    /// The first eight bytes of a snapshot.
    package static let magic = Array("CHATSNP1".utf8)
    /// The first eight bytes of the trailer.
    package static let endMagic = Array("CHATEND1".utf8)
    /// Magic and generation.
    package static let headerSize = 12
    /// End magic, record count and CRC.
    package static let trailerSize = 20

    /// The bytes a snapshot starts with.
    ///
    /// - Parameters:
    ///   - generation: the snapshot's generation number.
    package static func header(generation: Int) -> [UInt8] {
        var header = ByteWriter()
        header.bytes = magic
        header.u32le(UInt32(generation))
        return header.bytes
    }

    /// The bytes a snapshot ends with.
    ///
    /// - Parameters:
    ///   - count: the number of records written.
    ///   - crc: CRC-32C of everything before the trailer.
    package static func trailer(count: UInt64, crc: UInt32) -> [UInt8] {
        var trailer = ByteWriter()
        trailer.bytes = endMagic
        trailer.u32le(UInt32(truncatingIfNeeded: count))
        trailer.u32le(UInt32(truncatingIfNeeded: count >> 32))
        trailer.u32le(crc)
        return trailer.bytes
    }

    /// What decoding a snapshot found.
    package struct Decoded: Equatable {
        /// Records handed to the visitor.
        package var records: Int
        /// Where and why the file is damaged; nil when it is intact. Offsets are from the
        /// start of the file.
        package var damage: RecordFraming.Problem?
        /// The file does not start with a snapshot header; nothing was decoded.
        package var badHeader: Bool
    }

    /// Decodes a snapshot, handing each record of its valid prefix to `visit`.
    ///
    /// - Parameters:
    ///   - raw: the file's contents.
    ///   - visit: receives each record, in order.
    package static func decode(_ raw: UnsafeRawBufferPointer, _ visit: (LogRecord) -> Void) -> Decoded {
        guard raw.count >= headerSize, raw[0..<8].elementsEqual(magic) else {
            return Decoded(
                records: 0,
                damage: .init(offset: 0, reason: "bad header", isTail: false),
                badHeader: true
            )
        }
        var trailerOK = false
        var expectedCount: UInt64 = 0
        if raw.count >= headerSize + trailerSize {
            let t = raw.count - trailerSize
            var r = ByteReader(raw, offset: t + 8)
            if raw[t..<(t + 8)].elementsEqual(endMagic), let lo = try? r.u32le(), let hi = try? r.u32le(),
                let crc = try? r.u32le(), crc == CRC32C.update(0, UnsafeRawBufferPointer(rebasing: raw[0..<t]))
            {
                trailerOK = true
                expectedCount = UInt64(lo) | UInt64(hi) << 32
            }
        }
        let end = trailerOK ? raw.count - trailerSize : raw.count
        let body = UnsafeRawBufferPointer(rebasing: raw[headerSize..<end])
        var count = 0
        let scan = withoutActuallyEscaping(visit) { visit in
            RecordFraming.scan(body) { record in
                visit(record)
                count += 1
            }
        }
        if trailerOK, scan.problem == nil, UInt64(count) == expectedCount {
            return Decoded(records: count, damage: nil, badHeader: false)
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
        return Decoded(records: count, damage: problem, badHeader: false)
    }
}
