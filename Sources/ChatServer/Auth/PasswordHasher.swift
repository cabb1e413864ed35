import Crypto
import Foundation
import _CryptoExtras

/// Salted scrypt password hashes in the form `scrypt$N$r$p$salt$hash` (base64),
/// and random session tokens stored only as SHA-256.
package struct PasswordHasher: Sendable {
    /// scrypt cost parameter N (a power of two).
    package var rounds: Int
    package var blockSize: Int = 8
    package var parallelism: Int = 1

    /// The default scrypt N for new hashes (N KiB of memory per hash with r=8); docs/SECURITY.md,
    /// "Password hashing cost", has the measurement it was chosen from.
    package static let defaultRounds = 65536

    /// Creates a hasher.
    ///
    /// - Parameters:
    ///   - rounds: scrypt N for new hashes (`verify` uses the N stored in the hash).
    package init(rounds: Int = PasswordHasher.defaultRounds) {
        self.rounds = rounds
    }

    /// Hashes a password with a fresh 16-byte salt.
    ///
    /// - Parameters:
    ///   - password: the password.
    package func hash(_ password: String) throws -> String {
        var salt = [UInt8](repeating: 0, count: 16)
        var rng = SystemRandomNumberGenerator()
        for i in salt.indices { salt[i] = rng.next() }
        let key = try derive(password, salt: salt, rounds: rounds, blockSize: blockSize, parallelism: parallelism)
        return
            "scrypt$\(rounds)$\(blockSize)$\(parallelism)$\(Data(salt).base64EncodedString())$\(key.base64EncodedString())"
    }

    /// Checks a password against a stored hash in constant time.
    ///
    /// - Parameters:
    ///   - password: the candidate.
    ///   - stored: a hash from `hash(_:)`.
    package func verify(_ password: String, against stored: String) -> Bool {
        let parts = stored.split(separator: "$", omittingEmptySubsequences: false)
        guard parts.count == 6, parts[0] == "scrypt", let n = Int(parts[1]), let r = Int(parts[2]),
            let p = Int(parts[3]), let salt = Data(base64Encoded: String(parts[4])),
            let expected = Data(base64Encoded: String(parts[5]))
        else { return false }
        guard let key = try? derive(password, salt: Array(salt), rounds: n, blockSize: r, parallelism: p) else {
            return false
        }
        return SymmetricKey(data: key) == SymmetricKey(data: expected)
    }

    private func derive(
        _ password: String,
        salt: [UInt8],
        rounds: Int,
        blockSize: Int,
        parallelism: Int
    ) throws
        -> Data
    {
        let key = try KDF.Scrypt.deriveKey(
            from: Array(password.utf8),
            salt: salt,
            outputByteCount: 32,
            rounds: rounds,
            blockSize: blockSize,
            parallelism: parallelism
        )
        return key.withUnsafeBytes { Data($0) }
    }

    /// A new random session token (256 bits, base64url).
    package static func newToken() -> String {
        var rng = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: 0...255, using: &rng) }
        return Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    /// The stored form of a token: hex SHA-256.
    ///
    /// - Parameters:
    ///   - token: the token.
    package static func tokenHash(_ token: String) -> String {
        SHA256.hash(data: Array(token.utf8)).map { String(format: "%02x", $0) }.joined()
    }

    /// A new random room epoch (64 bits, hex).
    package static func newEpoch() -> String {
        var rng = SystemRandomNumberGenerator()
        return String(format: "%016llx", rng.next() as UInt64)
    }
}
