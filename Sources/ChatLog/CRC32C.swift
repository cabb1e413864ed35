/// CRC-32C (Castagnoli), the checksum of log and snapshot records.
///
/// Hand-written: none of the packages this project may use exposes CRC-32C. Slicing-by-8
/// (eight 256-entry tables, eight bytes a step) instead of one table and one byte a step: the
/// checksum of every log record is on the durable-send path.
package enum CRC32C {
    /// `tables[k * 256 + i]`: the CRC of byte `i` followed by `k` zero bytes.
    private static let tables: [UInt32] = {
        var t = [UInt32](repeating: 0, count: 8 * 256)
        for i in 0..<256 {
            var c = UInt32(i)
            for _ in 0..<8 { c = c & 1 != 0 ? 0x82F6_3B78 ^ (c >> 1) : c >> 1 }
            t[i] = c
        }
        for k in 1..<8 {
            for i in 0..<256 {
                let previous = t[(k - 1) * 256 + i]
                t[k * 256 + i] = (previous >> 8) ^ t[Int(previous & 0xFF)]
            }
        }
        return t
    }()

    /// The running (inverted) CRC after `buffer`.
    private static func step(_ crc: UInt32, _ buffer: UnsafeRawBufferPointer) -> UInt32 {
        var c = crc
        let count = buffer.count
        var i = 0
        tables.withUnsafeBufferPointer { t in
            while count - i >= 8 {
                let low = buffer.loadUnaligned(fromByteOffset: i, as: UInt32.self).littleEndian ^ c
                let high = buffer.loadUnaligned(fromByteOffset: i + 4, as: UInt32.self).littleEndian
                c =
                    t[7 * 256 + Int(low & 0xFF)] ^ t[6 * 256 + Int((low >> 8) & 0xFF)]
                    ^ t[5 * 256 + Int((low >> 16) & 0xFF)] ^ t[4 * 256 + Int(low >> 24)]
                    ^ t[3 * 256 + Int(high & 0xFF)] ^ t[2 * 256 + Int((high >> 8) & 0xFF)]
                    ^ t[1 * 256 + Int((high >> 16) & 0xFF)] ^ t[Int(high >> 24)]
                i += 8
            }
            while i < count {
                c = t[Int((c ^ UInt32(buffer[i])) & 0xFF)] ^ (c >> 8)
                i += 1
            }
        }
        return c
    }

    /// The checksum of some bytes.
    ///
    /// - Parameters:
    ///   - bytes: the data.
    package static func checksum(_ bytes: some Sequence<UInt8>) -> UInt32 {
        if let crc = bytes.withContiguousStorageIfAvailable({ checksum(UnsafeRawBufferPointer($0)) }) { return crc }
        return Array(bytes).withUnsafeBytes { checksum($0) }
    }

    /// Continues a running checksum (start with `0`, the result is final after each call).
    ///
    /// - Parameters:
    ///   - crc: the checksum so far (0 for none).
    ///   - buffer: more data.
    package static func update(_ crc: UInt32, _ buffer: UnsafeRawBufferPointer) -> UInt32 {
        step(crc ^ 0xFFFF_FFFF, buffer) ^ 0xFFFF_FFFF
    }

    /// The checksum of a raw buffer.
    ///
    /// - Parameters:
    ///   - buffer: the data.
    package static func checksum(_ buffer: UnsafeRawBufferPointer) -> UInt32 {
        step(0xFFFF_FFFF, buffer) ^ 0xFFFF_FFFF
    }
}
