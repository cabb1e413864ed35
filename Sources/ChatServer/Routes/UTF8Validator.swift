/// Checks UTF-8 (RFC 3629) a piece at a time, so a text message sent in fragments fails at
/// the first bad byte (RFC 6455 §8.1, Autobahn's "fail fast") while a code point split
/// between fragments is fine.
struct UTF8Validator {
    /// Continuation bytes still expected for the current code point.
    private var need = 0
    /// Range allowed for the next continuation byte (narrower after E0, ED, F0, F4).
    private var lower: UInt8 = 0x80
    private var upper: UInt8 = 0xBF

    /// Feeds the next bytes; false at the first byte that cannot be part of valid UTF-8.
    ///
    /// - Parameters:
    ///   - bytes: the next bytes of the text.
    mutating func feed(_ bytes: some Sequence<UInt8>) -> Bool {
        for byte in bytes {
            if need > 0 {
                guard byte >= lower && byte <= upper else { return false }
                need -= 1
                lower = 0x80
                upper = 0xBF
                continue
            }
            switch byte {
            case 0x00...0x7F: continue
            case 0xC2...0xDF: need = 1
            case 0xE0: (need, lower) = (2, 0xA0)
            case 0xE1...0xEC, 0xEE...0xEF: need = 2
            case 0xED: (need, upper) = (2, 0x9F)
            case 0xF0: (need, lower) = (3, 0x90)
            case 0xF1...0xF3: need = 3
            case 0xF4: (need, upper) = (3, 0x8F)
            default: return false
            }
        }
        return true
    }

    /// Whether the text fed so far ends on a code point boundary.
    var isComplete: Bool { need == 0 }
}
