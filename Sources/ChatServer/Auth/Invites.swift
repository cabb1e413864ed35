/// Invite codes for `--registration invite`: how they are made and compared.
package enum Invites {
    /// An invite code as typed: case and separators do not matter.
    ///
    /// - Parameters:
    ///   - code: the code as entered.
    package static func normalized(_ code: String) -> String {
        String(code.uppercased().unicodeScalars.filter { $0 != "-" && $0 != " " })
    }

    /// A new invite code: 120 random bits in Crockford base32 (24 characters, grouped by 4).
    package static func newCode() -> String {
        let alphabet = Array("0123456789ABCDEFGHJKMNPQRSTVWXYZ")
        var rng = SystemRandomNumberGenerator()
        let chars = (0..<24).map { _ in alphabet[Int.random(in: 0..<32, using: &rng)] }
        return stride(from: 0, to: 24, by: 4).map { String(chars[$0..<$0 + 4]) }.joined(separator: "-")
    }
}
