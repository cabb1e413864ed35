/// Counts in words for the screen: "1 result", "2 results", "4,100 characters".
package enum Wording {
    /// A count and its noun, singular for exactly one.
    ///
    /// - Parameters:
    ///   - count: how many.
    ///   - singular: the noun for one.
    ///   - plural: the noun for any other count (default: `singular` + "s").
    package static func count(_ count: some BinaryInteger, _ singular: String, plural: String? = nil) -> String {
        "\(grouped(count)) \(count == 1 ? singular : plural ?? singular + "s")"
    }

    /// A number with thousands separators: 4100 → "4,100".
    ///
    /// - Parameters:
    ///   - number: the number.
    package static func grouped(_ number: some BinaryInteger) -> String {
        let digits = String(number.magnitude)
        var out = ""
        for (i, digit) in digits.enumerated() {
            if i > 0, (digits.count - i) % 3 == 0 { out.append(",") }
            out.append(digit)
        }
        return (number < 0 ? "-" : "") + out
    }

    /// Why a message over the server's limit is not sent (limits are in Unicode scalars, see PROTOCOL.md).
    ///
    /// - Parameters:
    ///   - length: the message's length in Unicode scalars.
    ///   - limit: the server's `max_text`.
    package static func tooLong(_ length: Int, limit: Int) -> String {
        "message is \(count(length, "character")); the limit is \(grouped(limit))"
    }
}
