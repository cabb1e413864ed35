import ChatCore
import ChatTUI
import Testing

// MARK: - Fixtures

/// Sun 29 Nov 2026 00:00 UTC, in ms.
private let day: Int64 = 1_795_910_400_000

private func at(_ hour: Int64, _ minute: Int64) -> Int64 { day + (hour * 60 + minute) * 60_000 }

private func said(_ seq: Int64, _ from: String, _ text: String, _ minute: Int64, replyTo: Int64? = nil) -> ChatMessage {
    ChatMessage(
        room: "general",
        seq: seq,
        from: from,
        text: text,
        kind: .text,
        ts: at(9, minute),
        details: MessageDetails(replyTo: replyTo)
    )
}

private func changed(
    _ seq: Int64,
    _ from: String,
    _ kind: MessageKind,
    target: Int64,
    text: String = "",
    emoji: String? = nil
) -> ChatMessage {
    ChatMessage(
        room: "general",
        seq: seq,
        from: from,
        text: text,
        kind: kind,
        ts: at(9, 10) + seq,
        details: MessageDetails(target: target, emoji: emoji)
    )
}

extension Screens {
    /// (n) Edits, a delete, reactions (alice's own highlighted), replies (one to a message that is not loaded), in
    /// English and Japanese. Built through `update` from a history page that holds the change events too, as the
    /// server sends it after a `join {since}`; the unknown kind at the end changes nothing.
    static func changes() -> AppState {
        var state = base()
        var general = AppState.Room(name: "general")
        general.members = 5
        general.hasOlder = true
        general.head = 15
        general.read = 15
        state.rooms = [general]
        let page = [
            said(2, "alice", "Yes, it works for me, but the first launch is slow.", 2),
            said(3, "carol", "oops, wrong room", 3),
            said(4, "さくら", "日本語の表示も大丈夫です。全角文字の幅を確認しました。", 4),
            said(5, "bob", "Thanks! How slow is slow?", 5, replyTo: 2),
            said(6, "alice", "ありがとうございます！", 6, replyTo: 4),
            said(7, "dave", "About the old question: yes.", 7, replyTo: 1),
            changed(8, "alice", .edit, target: 2, text: "Yes, it works for me on Debian; the first launch is slow."),
            changed(9, "carol", .delete, target: 3),
            changed(10, "bob", .react, target: 2, emoji: "👍"),
            changed(11, "alice", .react, target: 2, emoji: "👍"),
            changed(12, "さくら", .react, target: 2, emoji: "🎉"),
            changed(13, "さくら", .edit, target: 4, text: "日本語の表示も大丈夫です。全角文字の幅も確認済みです。"),
            changed(14, "alice", .react, target: 4, emoji: "🙏"),
            ChatMessage(room: "general", seq: 15, from: "dave", text: "poll?", kind: .unknown, ts: at(9, 11)),
        ]
        _ = update(&state, .history(room: "general", messages: page, more: true))
        return state
    }

    /// (o) The same with bob's reply selected (Alt-S, ↑ ↑).
    static func changesSelected() -> AppState {
        var state = changes()
        for key in [Key.alt("s"), .up, .up] { _ = update(&state, .key(key)) }
        return state
    }

    /// (p) Replying to さくら's message: the input line says to whom, with the start of its text.
    static func changesReplying() -> AppState {
        var state = changes()
        for key in [Key.alt("s"), .up, .up, .up, .character("r")] { _ = update(&state, .key(key)) }
        for c in "そうですね" { _ = update(&state, .key(.character(c))) }
        return state
    }
}

private func name(_ base: String, _ size: Size) -> String { "\(base)-\(size.width)x\(size.height)" }

@Suite("Golden screens: edits, deletes, reactions and replies")
struct ChangeGoldenScreenTests {
    @Test(
        "(n) (edited), message deleted, reactions with alice's own highlighted, reply quotes",
        arguments: Screens.sizes
    )
    func changes(size: Size) {
        let screen = render(Screens.changes(), size: size)
        assertScreen(screen, named: name("changes", size))
        #expect(gridProblems(screen).isEmpty, "\(gridProblems(screen))")
    }

    @Test("(o) a selected message is highlighted and the status line lists the keys")
    func selected() {
        let screen = render(Screens.changesSelected(), size: Size(width: 80, height: 24))
        assertScreen(screen, named: "changes-selected-80x24")
        #expect(gridProblems(screen).isEmpty, "\(gridProblems(screen))")
    }

    @Test("(p) replying: the input line shows the quoted start of the message, CJK cut by columns")
    func replying() {
        let screen = render(Screens.changesReplying(), size: Size(width: 80, height: 24))
        assertScreen(screen, named: "changes-replying-80x24")
        #expect(gridProblems(screen).isEmpty, "\(gridProblems(screen))")
    }

    @Test("own reactions are drawn in their own style, others plainly")
    func ownReactionStyle() {
        let screen = render(Screens.changes(), size: Size(width: 80, height: 24))
        let rows = screen.text.split(separator: "\n", omittingEmptySubsequences: false)
        guard let row = rows.firstIndex(where: { $0.contains("👍 2") }) else {
            Issue.record("no reactions line:\n\(screen.text)")
            return
        }
        let cells = (0..<80).map { screen[row, $0] }
        let thumbs = cells.first { $0.text == "👍" }
        let party = cells.first { $0.text == "🎉" }
        #expect(thumbs?.style.bold == true && thumbs?.style.fg != .default)
        #expect(party?.style == .plain)
    }

    @Test("quoted text and emoji never put control characters on the screen")
    func controlCharactersInQuotesAndReactions() {
        var state = Screens.base()
        var room = AppState.Room(name: "general")
        let evil = "b\u{1B}[2J\u{1B}]0;owned\u{07}ad\u{9B}31m\u{202E}"
        var target = said(1, "bob", evil, 1)
        target.reactions = [Reaction(emoji: "👍\u{1B}[31m", users: ["bob"])]
        room.messages = [target, said(2, "alice", "reply", 2, replyTo: 1)]
        state.rooms = [room]
        for key in [Key.alt("s"), .up, .character("r")] { _ = update(&state, .key(key)) }
        let screen = render(state, size: Size(width: 80, height: 24))
        let unsafe = screen.cells.flatMap(\.text.unicodeScalars).filter {
            $0.value < 0x20 || (0x7F...0x9F).contains($0.value) || (0x202A...0x202E).contains($0.value)
        }
        #expect(unsafe.isEmpty, "\(unsafe.map { String($0.value, radix: 16) })")
        #expect(gridProblems(screen).isEmpty, "\(gridProblems(screen))")
    }
}
