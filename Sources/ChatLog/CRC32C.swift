/// CRC-32C (Castagnoli), the checksum of log and snapshot records.
///
/// Hand-written: none of the packages this project may use exposes CRC-32C, and a
/// table-driven loop is a few lines.
package enum CRC32C {
    private static let table: [UInt32] = (0..<256).map { i -> UInt32 in
        var c = UInt32(i)
        for _ in 0..<8 { c = c & 1 != 0 ? 0x82F6_3B78 ^ (c >> 1) : c >> 1 }
        return c
    }

    /// The checksum of some bytes.
    ///
    /// - Parameters:
    ///   - bytes: the data.
    package static func checksum(_ bytes: some Sequence<UInt8>) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        table.withUnsafeBufferPointer { t in
            for b in bytes { crc = t[Int((crc ^ UInt32(b)) & 0xFF)] ^ (crc >> 8) }
        }
        return crc ^ 0xFFFF_FFFF
    }

    /// Continues a running checksum (start with `0`, the result is final after each call).
    ///
    /// - Parameters:
    ///   - crc: the checksum so far (0 for none).
    ///   - buffer: more data.
    package static func update(_ crc: UInt32, _ buffer: UnsafeRawBufferPointer) -> UInt32 {
        var c = crc ^ 0xFFFF_FFFF
        table.withUnsafeBufferPointer { t in
            for b in buffer { c = t[Int((c ^ UInt32(b)) & 0xFF)] ^ (c >> 8) }
        }
        return c ^ 0xFFFF_FFFF
    }

    /// The checksum of a raw buffer.
    ///
    /// - Parameters:
    ///   - buffer: the data.
    package static func checksum(_ buffer: UnsafeRawBufferPointer) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        table.withUnsafeBufferPointer { t in
            for b in buffer { crc = t[Int((crc ^ UInt32(b)) & 0xFF)] ^ (crc >> 8) }
        }
        return crc ^ 0xFFFF_FFFF
    }
}
