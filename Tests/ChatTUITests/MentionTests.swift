import ChatCore
import ChatTUI
import Testing

// MARK: - Mentions

@Suite("mentions(_:user:)")
struct MentionTests {
    @Test(
        "whole words, case-insensitive",
        arguments: [
            ("alice", "alice", true),
            ("Alice: can you look?", "alice", true),
            ("hey ALICE!", "alice", true),
            ("@alice ping", "alice", true),
            ("thanks, alice.", "alice", true),
            ("alice's patch", "alice", true),
            ("(alice)", "alice", true),
            ("hi alice\nbye", "alice", true),
            ("STRASSE ist hier", "straße", true),
            ("ping al.ice", "al.ice", true),
            ("malice", "alice", false),
            ("alices", "alice", false),
            ("alice_bot says hi", "alice", false),
            ("alice-san", "alice", false),
            ("alice.bob", "alice", false),
            ("ali ce", "alice", false),
            ("", "alice", false),
        ]
    )
    func mention(_ text: String, _ user: String, _ expected: Bool) {
        #expect(mentions(text, user: user) == expected)
    }
}
