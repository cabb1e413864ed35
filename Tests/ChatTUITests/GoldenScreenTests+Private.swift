import ChatCore
import ChatTUI
import Testing

// MARK: - Fixtures

/// Sun 29 Nov 2026 00:00 UTC, in ms.
private let day: Int64 = 1_795_910_400_000

private func at(_ hour: Int64, _ minute: Int64) -> Int64 { day + (hour * 60 + minute) * 60_000 }

private func room(
    _ name: String,
    head: Int64 = 0,
    read: Int64 = 0,
    mentions: Int = 0,
    isPrivate: Bool = false
) -> AppState.Room {
    var room = AppState.Room(name: name)
    room.head = head
    room.read = read
    room.mentions = mentions
    room.isPrivate = isPrivate || room.isDirect
    return room
}

extension Screens {
    /// (l) Rooms with two private ones (one with a Japanese name), then three direct messages: bob online with
    /// two unread direct messages, 花子さん away (the open one) and a long name, away.
    static func directMessages() -> AppState {
        var state = base()
        var hanako = room("@alice+花子さん", head: 3, read: 3)
        hanako.messages = [
            ChatMessage(
                room: hanako.name,
                seq: 1,
                from: "花子さん",
                text: "資料を送りました。確認してください。",
                kind: .text,
                ts: at(9, 10)
            ),
            ChatMessage(
                room: hanako.name,
                seq: 2,
                from: "alice",
                text: "thanks! I'll read it before lunch",
                kind: .text,
                ts: at(9, 12)
            ),
            ChatMessage(room: hanako.name, seq: 3, from: "花子さん", text: "よろしくお願いします 🙏", kind: .text, ts: at(9, 13)),
        ]
        state.rooms = [
            room("general", head: 3, read: 3),
            room("ops", head: 12, read: 9, isPrivate: true),
            room("開発チーム", head: 5, read: 4, mentions: 1, isPrivate: true),
            room("@alice+bob", head: 7, read: 5, mentions: 2),
            hanako,
            room("@alice+maximilian_the_great", head: 1, read: 1),
        ]
        state.active = 4
        state.people = [
            "bob": AppState.Person(name: "bob", online: true),
            "花子さん": AppState.Person(name: "花子さん", online: false),
        ]
        return state
    }

    /// (m) The same without colours: the padlock becomes `*`.
    static func directMessagesNoColor() -> AppState {
        var state = directMessages()
        state.color = false
        return state
    }
}

private func name(_ base: String, _ size: Size) -> String { "\(base)-\(size.width)x\(size.height)" }

@Suite("Golden screens: private rooms and direct messages")
struct PrivateGoldenScreenTests {
    @Test("(l) sidebar with private rooms and a Direct messages section", arguments: Screens.sizes)
    func directMessages(size: Size) {
        let screen = render(Screens.directMessages(), size: size)
        assertScreen(screen, named: name("direct-messages", size))
        #expect(gridProblems(screen).isEmpty, "\(gridProblems(screen))")
    }

    @Test("(m) the same without colours")
    func directMessagesNoColor() {
        let screen = render(Screens.directMessagesNoColor(), size: Size(width: 80, height: 24))
        assertScreen(screen, named: "direct-messages-no-color-80x24")
        let colored = (0..<24).flatMap { row in (0..<80).map { screen[row, $0].style } }
            .filter { $0.fg != .default || $0.bg != .default }
        #expect(colored.isEmpty, "NO_COLOR must not use any colour")
    }

    @Test("names from the server never put control characters on the screen")
    func controlCharactersInNames() {
        var state = Screens.base()
        let evil = "b\u{1B}[2J\u{1B}]0;owned\u{07}ob\u{9B}31m\u{202E}"
        var direct = AppState.Room(name: "@alice+\(evil)")
        direct.messages = [ChatMessage(room: direct.name, seq: 1, from: evil, text: "hi", kind: .text, ts: at(9, 0))]
        var secret = AppState.Room(name: "ops\u{1B}[31m")
        secret.isPrivate = true
        state.rooms = [secret, direct]
        state.active = 1
        state.people[TextRules.foldKey(evil)] = AppState.Person(name: evil, online: true)
        state.notice = "\(evil) removed you from ops"
        let screen = render(state, size: Size(width: 80, height: 24))
        let unsafe = screen.cells.flatMap(\.text.unicodeScalars).filter {
            $0.value < 0x20 || (0x7F...0x9F).contains($0.value) || (0x202A...0x202E).contains($0.value)
        }
        #expect(unsafe.isEmpty, "\(unsafe.map { String($0.value, radix: 16) })")
        #expect(gridProblems(screen).isEmpty, "\(gridProblems(screen))")
    }
}
