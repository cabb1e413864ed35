import ChatCore
import Foundation
import Testing

// MARK: - Tables

private let validNames: [String] = [
    "alice",
    "Alice_01",
    "a-b.c",
    "_",
    "-",
    ".",
    "...",
    "123",
    "日本語",
    "カタカナ",
    "ひらがな",
    "漢字かなカナ",
    "Иван",
    "Ωμέγα",
    "Straße",
    "١٢٣",
    "\u{E9}",
    "\u{E1}\u{302}\u{303}",
    "ＡＢＣ",
    "ǅemal",
    "aʰ",
    "한국어",
    "עברית",
    "العربية",
    "हिन्दी",
    String(repeating: "x", count: 32),
]

private let invalidUserNames: [(String, String)] = [
    ("", "user name must not be empty"),
    (" ", "user name may hold only letters, digits, marks, '_', '-' and '.' (found U+20)"),
    ("a b", "user name may hold only letters, digits, marks, '_', '-' and '.' (found U+20)"),
    (" alice", "user name may hold only letters, digits, marks, '_', '-' and '.' (found U+20)"),
    ("alice ", "user name may hold only letters, digits, marks, '_', '-' and '.' (found U+20)"),
    ("😀", "user name may hold only letters, digits, marks, '_', '-' and '.' (found U+1F600)"),
    ("a😀", "user name may hold only letters, digits, marks, '_', '-' and '.' (found U+1F600)"),
    ("alice!", "user name may hold only letters, digits, marks, '_', '-' and '.' (found U+21)"),
    ("a@b", "user name may hold only letters, digits, marks, '_', '-' and '.' (found U+40)"),
    ("#room", "user name may hold only letters, digits, marks, '_', '-' and '.' (found U+23)"),
    ("a/b", "user name may hold only letters, digits, marks, '_', '-' and '.' (found U+2F)"),
    ("a+b", "user name may hold only letters, digits, marks, '_', '-' and '.' (found U+2B)"),
    ("a'b", "user name may hold only letters, digits, marks, '_', '-' and '.' (found U+27)"),
    ("\u{301}a", "user name must not start with a combining mark"),
    ("\u{301}", "user name must not start with a combining mark"),
    ("a\u{0}", "user name may hold only letters, digits, marks, '_', '-' and '.' (found U+0)"),
    ("a\u{1B}", "user name may hold only letters, digits, marks, '_', '-' and '.' (found U+1B)"),
    ("a\tb", "user name may hold only letters, digits, marks, '_', '-' and '.' (found U+9)"),
    ("a\nb", "user name may hold only letters, digits, marks, '_', '-' and '.' (found U+A)"),
    ("a\u{7F}", "user name may hold only letters, digits, marks, '_', '-' and '.' (found U+7F)"),
    ("a\u{200B}b", "user name may hold only letters, digits, marks, '_', '-' and '.' (found U+200B)"),
    ("a\u{200D}b", "user name may hold only letters, digits, marks, '_', '-' and '.' (found U+200D)"),
    ("a\u{202E}b", "user name may hold only letters, digits, marks, '_', '-' and '.' (found U+202E)"),
    ("a\u{A0}b", "user name may hold only letters, digits, marks, '_', '-' and '.' (found U+A0)"),
    ("Ⅻ", "user name may hold only letters, digits, marks, '_', '-' and '.' (found U+216B)"),
    ("x²", "user name may hold only letters, digits, marks, '_', '-' and '.' (found U+B2)"),
    ("日本語。", "user name may hold only letters, digits, marks, '_', '-' and '.' (found U+3002)"),
    (String(repeating: "x", count: 33), "user name is longer than 32 scalars"),
    ("a\u{34F}b", "user name must not contain invisible characters or variation selectors (found U+34F)"),
    ("alice\u{34F}", "user name must not contain invisible characters or variation selectors (found U+34F)"),
    ("a\u{FE0F}", "user name must not contain invisible characters or variation selectors (found U+FE0F)"),
    ("a\u{E0100}", "user name must not contain invisible characters or variation selectors (found U+E0100)"),
    ("a\u{3164}b", "user name must not contain invisible characters or variation selectors (found U+3164)"),
    ("a\u{1160}", "user name must not contain invisible characters or variation selectors (found U+1160)"),
    ("a\u{FEFF}", "user name may hold only letters, digits, marks, '_', '-' and '.' (found U+FEFF)"),
    ("a\u{AD}b", "user name may hold only letters, digits, marks, '_', '-' and '.' (found U+AD)"),
    ("a\u{2060}", "user name may hold only letters, digits, marks, '_', '-' and '.' (found U+2060)"),
    ("a\u{180E}", "user name may hold only letters, digits, marks, '_', '-' and '.' (found U+180E)"),
    ("a\u{E0041}", "user name may hold only letters, digits, marks, '_', '-' and '.' (found U+E0041)"),
    ("x" + String(repeating: "\u{301}", count: 5), "user name has more than 4 combining marks on one character"),
    ("a" + String(repeating: "\u{301}", count: 6000), "user name is longer than 32 scalars"),
]

/// Groups of names that must share one key; keys of different groups differ.
private let sameNameGroups: [[String]] = [
    ["Alice", "alice", "ALICE", "aLiCe"],
    ["Straße", "STRASSE", "strasse", "StraSSe", "STRAẞE", "straẞe"],
    ["ΣΊΣΥΦΟΣ", "σίσυφος", "Σίσυφος", "σίσυφοσ"],
    ["ＡＢＣ", "ａｂｃ", "Ａｂｃ"],
    ["Иван", "ИВАН", "иван"],
    ["Cafe\u{301}", "CAF\u{C9}", "caf\u{E9}", "CAFE\u{301}"],
    ["Ǆemal", "ǅemal", "ǆemal"],
    ["D\u{17D}emal", "d\u{17E}emal", "D\u{17E}EMAL"],
    ["ı"],
    ["i", "I"],
    ["日本語"],
    ["e"],
    ["\u{E9}"],
    ["a"],
    ["ａ"],
]

private let expectedKeys: [(String, String)] = [
    ("Alice", "alice"),
    ("Straße", "strasse"),
    ("ΣΊΣΥΦΟΣ", "σίσυφοσ"),
    ("ＡＢＣ", "ａｂｃ"),
    ("Cafe\u{301}", "caf\u{E9}"),
    ("İstanbul", "i\u{307}stanbul"),
    ("日本語", "日本語"),
]

// MARK: - Helpers

private func scalars(_ s: String) -> [Unicode.Scalar] { Array(s.unicodeScalars) }

private func failure(_ result: Result<ValidName, ProtocolError>) -> ProtocolError? {
    if case .failure(let error) = result { return error }
    return nil
}

// MARK: - Tests

@Suite("Names")
struct NamesTests {
    @Test("valid user and room names", arguments: validNames)
    func validName(name: String) throws {
        let user = try TextRules.userName(name).get()
        let room = try TextRules.roomName(name).get()
        #expect(user == room)
        #expect(scalars(user.display) == scalars(name))
    }

    @Test("invalid user names are bad_request with a reason", arguments: invalidUserNames)
    func invalidUserName(name: String, message: String) {
        #expect(failure(TextRules.userName(name)) == .badRequest(message))
    }

    @Test(
        "invalid room names use the room wording",
        arguments: invalidUserNames.filter { $0.0.unicodeScalars.count < 33 }
    )
    func invalidRoomName(name: String, message: String) {
        let roomMessage = message.replacing("user name", with: "room name")
        #expect(failure(TextRules.roomName(name)) == .badRequest(roomMessage))
    }

    @Test("33 characters is too long for a user but fine for a room")
    func thirtyThree() throws {
        let name = String(repeating: "r", count: 33)
        #expect(failure(TextRules.userName(name)) == .badRequest("user name is longer than 32 scalars"))
        #expect(try TextRules.roomName(name).get().display == name)
    }

    @Test(
        "user names: 32 scalars after NFC ok, 33 rejected",
        arguments: ["x", "日", "e\u{301}", "\u{E9}", "한", "\u{1100}\u{1161}", "\u{30AB}\u{3099}"]
    )
    func userNameLength(unit: String) throws {
        let ok = String(repeating: unit, count: 32)
        #expect(try TextRules.userName(ok).get().display.unicodeScalars.count == 32)
        let long = String(repeating: unit, count: 33)
        #expect(failure(TextRules.userName(long)) == .badRequest("user name is longer than 32 scalars"))
    }

    @Test("the length counts scalars, not characters: a letter with two marks that stay is 3")
    func lengthCountsScalars() throws {
        // NFC makes á of a + U+0301; U+0302 stays: 2 scalars per character.
        let ok = String(repeating: "a\u{301}\u{302}", count: 16)
        #expect(try TextRules.userName(ok).get().display.unicodeScalars.count == 32)
        let long = String(repeating: "a\u{301}\u{302}", count: 17)
        #expect(long.count == 17)
        #expect(failure(TextRules.userName(long)) == .badRequest("user name is longer than 32 scalars"))
    }

    @Test("room names: 64 scalars after NFC ok, 65 rejected", arguments: ["x", "日", "e\u{301}", "ひ"])
    func roomNameLength(unit: String) throws {
        let ok = String(repeating: unit, count: 64)
        #expect(try TextRules.roomName(ok).get().display.unicodeScalars.count == 64)
        let long = String(repeating: unit, count: 65)
        #expect(failure(TextRules.roomName(long)) == .badRequest("room name is longer than 64 scalars"))
    }

    @Test("up to 4 combining marks on one letter, not 5; the count starts again at each letter")
    func marksPerCharacter() throws {
        let four = "x" + String(repeating: "\u{301}", count: 4)
        #expect(try TextRules.userName(four + "b" + String(repeating: "\u{300}", count: 4)).get().display.count == 2)
        let five = "x" + String(repeating: "\u{301}", count: 5)
        let message = "room name has more than 4 combining marks on one character"
        #expect(failure(TextRules.roomName(five)) == .badRequest(message))
        #expect(failure(TextRules.roomName("x_" + String(repeating: "\u{301}", count: 5))) == .badRequest(message))
        // Marks are counted after NFC: a + U+0301 becomes á, so a + 5 × U+0301 is á + 4 marks.
        #expect(
            try TextRules.roomName("a" + String(repeating: "\u{301}", count: 5)).get().display.unicodeScalars.count == 5
        )
    }

    @Test("a letter with 6,000 marks (one character, 12 KB) is too long, as user and as room name")
    func zalgo() {
        let name = "a" + String(repeating: "\u{301}", count: 6000)
        #expect(name.count == 1)
        #expect(failure(TextRules.userName(name)) == .badRequest("user name is longer than 32 scalars"))
        #expect(failure(TextRules.roomName(name)) == .badRequest("room name is longer than 64 scalars"))
        // Also when the length is checked after NFC (below the pre-NFC byte bound).
        let short = "a" + String(repeating: "\u{301}", count: 40)
        #expect(failure(TextRules.userName(short)) == .badRequest("user name is longer than 32 scalars"))
    }

    @Test("the ASCII fast path folds exactly as Foundation does, for every ASCII character")
    func asciiFoldMatchesFoundation() {
        for value in UInt8(0x01)...UInt8(0x7F) {
            let text = "a" + String(UnicodeScalar(value)) + "Z"
            let expected = text.precomposedStringWithCanonicalMapping
                .folding(options: [.caseInsensitive], locale: nil).precomposedStringWithCanonicalMapping
            #expect(TextRules.foldKey(text) == expected, "byte \(value)")
        }
    }

    @Test("an ASCII name with CR LF counts both scalars, like the general path")
    func crlfCountsTwice() {
        let name = String(repeating: "x", count: 31) + "\r\n"
        #expect(failure(TextRules.userName(name)) == .badRequest("user name is longer than 32 scalars"))
        #expect(
            failure(TextRules.userName("x\r\n"))
                == .badRequest("user name may hold only letters, digits, marks, '_', '-' and '.' (found U+D)")
        )
    }

    @Test("the limits are the contract's")
    func limits() {
        #expect(TextRules.maxUserName == 32)
        #expect(TextRules.maxRoomName == 64)
        #expect(TextRules.maxTopic == 512)
        #expect(TextRules.maxMarksPerCharacter == 4)
    }

    @Test(
        "NFD input is normalised to NFC",
        arguments: [
            ("e\u{301}", "\u{E9}"),
            ("Cafe\u{301}", "Caf\u{E9}"),
            ("a\u{301}\u{302}\u{303}", "\u{E1}\u{302}\u{303}"),
            ("\u{30AB}\u{3099}", "\u{30AC}"),
            ("\u{1100}\u{1161}", "\u{AC00}"),
        ]
    )
    func nfc(decomposed: String, composed: String) throws {
        let fromNFD = try TextRules.userName(decomposed).get()
        let fromNFC = try TextRules.userName(composed).get()
        #expect(scalars(fromNFD.display) == scalars(composed))
        #expect(scalars(fromNFD.key) == scalars(fromNFC.key))
        #expect(fromNFD == fromNFC)
    }

    @Test("display keeps the case as written")
    func displayKeepsCase() throws {
        let name = try TextRules.userName("ALICE").get()
        #expect(name.display == "ALICE")
        #expect(name.key == "alice")
    }

    @Test("the fold key of a name", arguments: expectedKeys)
    func foldKey(name: String, key: String) {
        #expect(scalars(TextRules.foldKey(name)) == scalars(key))
    }

    @Test("names equal after NFC and case folding share a key", arguments: sameNameGroups)
    func sameName(group: [String]) throws {
        let keys = try group.map { try TextRules.userName($0).get().key }
        for key in keys {
            #expect(scalars(key) == scalars(keys[0]))
        }
    }

    @Test("different names have different keys")
    func differentNames() throws {
        let keys = try sameNameGroups.map { try TextRules.userName($0[0]).get().key }
        #expect(Set(keys.map(scalars)).count == sameNameGroups.count)
    }

    @Test("fullwidth letters are letters, distinct from ASCII")
    func fullwidth() throws {
        let name = try TextRules.userName("ＡＢＣ").get()
        #expect(scalars(name.display) == scalars("\u{FF21}\u{FF22}\u{FF23}"))
        #expect(scalars(name.key) == scalars("\u{FF41}\u{FF42}\u{FF43}"))
        #expect(name.key != TextRules.foldKey("abc"))
    }

    @Test("capital sharp s (U+1E9E) folds to ss like ß")
    func capitalSharpS() {
        // Unicode full case folding maps both U+00DF and U+1E9E to "ss".
        #expect(scalars(TextRules.foldKey("STRAẞE")) == scalars("strasse"))
        #expect(scalars(TextRules.foldKey("ẞ")) == scalars("ss"))
        #expect(scalars(TextRules.foldKey("ß")) == scalars("ss"))
    }

    @Test("dotless ı is a different name from i")
    func dotlessI() {
        // Default (non-Turkic) case folding keeps U+0131 as is.
        #expect(scalars(TextRules.foldKey("ı")) == scalars("\u{131}"))
        #expect(TextRules.foldKey("ı") != TextRules.foldKey("i"))
    }

    @Test("Cyrillic letter variants fold like their base letters")
    func cyrillicVariants() {
        // CaseFolding.txt: U+1C80 (rounded ve) → U+0432 в, U+1C82 (wide on) → U+043E о.
        let check = {
            #expect(TextRules.foldKey("\u{1C80}ася") == TextRules.foldKey("вася"))
            #expect(TextRules.foldKey("\u{1C82}") == TextRules.foldKey("О"))
        }
        check()
        for (variant, base) in zip(0x1C80...0x1C88, ["в", "д", "о", "с", "т", "т", "ъ", "ѣ", "ꙋ"]) {
            #expect(TextRules.foldKey(String(Character(Unicode.Scalar(UInt32(variant))!))) == TextRules.foldKey(base))
        }
    }
}
