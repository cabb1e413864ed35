import ChatLog

/// The `fuzz-log-record` target: one input is the contents of a log or snapshot file,
/// or one record payload.
///
/// A random file rarely gets past the CRC-32C of a record or of a snapshot trailer,
/// so the input is also wrapped with valid checksums; that way the record decoder,
/// the scan after a good record and the snapshot trailer checks all see fuzzed bytes.
///
/// Besides "no crash, no hang, no leak" it checks that a decoded record encodes to
/// bytes that decode to the same record, and that a scan never reports more valid
/// bytes than it was given.
package enum LogRecordFuzzer {
    /// Runs one input.
    ///
    /// - Parameters:
    ///   - bytes: file contents or a record payload.
    package static func testOneInput(_ bytes: UnsafeRawBufferPointer) {
        // The input as a whole log file, as recovery reads it.
        checkScan(bytes)
        // The input as one record payload.
        if let record = try? LogRecord.decode(bytes) { checkRoundTrip(record) }
        // The input as the payload of a well-framed record, followed by the input again
        // (damage after a good record: torn tail or damage in the middle).
        var framed = frame(bytes)
        framed.append(contentsOf: bytes)
        framed.withUnsafeBytes { checkScan($0) }
        // The input as a snapshot file, and as the body of a snapshot with a valid trailer.
        _ = SnapshotFormat.decode(bytes) { _ in }
        var snapshot = SnapshotFormat.header(generation: 1)
        snapshot.append(contentsOf: bytes)
        let count = snapshot.withUnsafeBytes { raw in
            RecordFraming.scan(UnsafeRawBufferPointer(rebasing: raw[SnapshotFormat.headerSize...])).records.count
        }
        let crc = snapshot.withUnsafeBytes { CRC32C.update(0, $0) }
        snapshot.append(contentsOf: SnapshotFormat.trailer(count: UInt64(count), crc: crc))
        let decoded = snapshot.withUnsafeBytes { raw in SnapshotFormat.decode(raw) { _ in } }
        guard decoded.records == count else {
            fatalError("snapshot decoded \(decoded.records) records, its body scans to \(count)")
        }
    }

    /// `[length][crc32c][payload]` around some bytes.
    static func frame(_ payload: UnsafeRawBufferPointer) -> [UInt8] {
        var w = ByteWriter(capacity: RecordFraming.headerSize + payload.count)
        w.u32le(UInt32(payload.count))
        w.u32le(CRC32C.checksum(payload))
        w.bytes.append(contentsOf: payload)
        return w.bytes
    }

    static func checkScan(_ bytes: UnsafeRawBufferPointer) {
        let scan = RecordFraming.scan(bytes)
        guard scan.validLength <= bytes.count, scan.problem != nil || scan.validLength == bytes.count else {
            fatalError("scan claims \(scan.validLength) valid bytes of \(bytes.count)")
        }
        for record in scan.records { checkRoundTrip(record) }
    }

    static func checkRoundTrip(_ record: LogRecord) {
        var w = ByteWriter()
        record.encode(into: &w)
        let again = w.bytes.withUnsafeBytes { raw in try? LogRecord.decode(raw) }
        guard again == record else { fatalError("record does not round-trip: \(record)") }
    }
}
