import ChatCore
import Testing

private func user(_ name: String) throws -> ValidName { try TextRules.userName(name).get() }

@Suite("Direct-message room names")
struct DirectRoomTests {
    @Test("the name is '@' and the two user names in key code-point order, whoever asks")
    func name() throws {
        let a = try user("alice")
        let b = try user("Bob")
        #expect(DirectRoom.name(a, b) == DirectRoom.name(b, a))
        #expect(DirectRoom.name(a, b).display == "@alice+Bob")
        #expect(DirectRoom.name(a, b).key == "@alice+bob")
        // Keys, not display names, order them: "Zed" < "alice" by display, "alice" < "zed" by key.
        #expect(DirectRoom.name(try user("Zed"), a).display == "@alice+Zed")
        #expect(DirectRoom.name(a, try user("ALICE")).display == "@alice")
        // Code points, not a locale: "é" (U+E9) sorts after "z".
        #expect(DirectRoom.name(try user("é"), try user("z")).display == "@z+é")
    }

    @Test("a request may name a direct-message room; its key is the room's key")
    func validate() throws {
        let named = try TextRules.roomName("@Alice+bob").get()
        #expect(named.key == "@alice+bob")
        #expect(try TextRules.roomName("@alice").get().key == "@alice")
        // 66 scalars: longer than a room name may be, as two 32-scalar user names are.
        let long = "@" + String(repeating: "a", count: 32) + "+" + String(repeating: "b", count: 32)
        #expect(try TextRules.roomName(long).get().display == long)
        for bad in ["@", "@+", "@a+", "@+a", "@a+b+c", "@bob+alice", "@a+A", "@a b", "a+b", "a@b", "@a@b"] {
            #expect(throws: ProtocolError.self, "\(bad)") { try TextRules.roomName(bad).get() }
        }
    }

    @Test("user names cannot hold '@' or '+', so no user name makes another direct-message name")
    func userNames() {
        for bad in ["@alice", "a+b", "+", "@"] {
            #expect(throws: ProtocolError.self, "\(bad)") { try TextRules.userName(bad).get() }
        }
    }

    @Test("the peer of a direct-message room")
    func peer() {
        #expect(DirectRoom.peer(in: "@alice+Bob", of: "bob") == "alice")
        #expect(DirectRoom.peer(in: "@alice+Bob", of: "Alice") == "Bob")
        #expect(DirectRoom.peer(in: "@alice", of: "alice") == "alice")
        #expect(DirectRoom.peer(in: "@alice+Bob", of: "carol") == nil)
        #expect(DirectRoom.peer(in: "general", of: "alice") == nil)
        #expect(DirectRoom.users(in: "@a+b") == ["a", "b"])
    }
}
