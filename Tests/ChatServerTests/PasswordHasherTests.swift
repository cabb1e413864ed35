import ChatServer
import Testing

/// The scrypt cost (issue 21 item 8): new hashes use the configured N, and a hash keeps the N it
/// was made with, so raising the default needs no migration.
@Suite("Password hashing cost")
struct PasswordHasherTests {
    @Test("a hash made at one cost verifies with a hasher set to another")
    func storedCostIsUsed() throws {
        let old = try PasswordHasher(rounds: 1024).hash("correct horse battery")
        #expect(old.hasPrefix("scrypt$1024$8$1$"), "the cost is stored with the hash")
        let current = PasswordHasher(rounds: 2048)
        #expect(current.verify("correct horse battery", against: old))
        #expect(!current.verify("correct horse batterY", against: old))
        #expect(try current.hash("correct horse battery").hasPrefix("scrypt$2048$8$1$"), "new hashes use the new cost")
    }

    @Test("the default cost is the one measured in SECURITY.md, for the server and the admin commands")
    func defaultCost() {
        #expect(PasswordHasher.defaultRounds == 1 << 16)
        #expect(PasswordHasher().rounds == PasswordHasher.defaultRounds)
        #expect(ServerConfiguration().passwordRounds == PasswordHasher.defaultRounds)
    }
}
