import ChatCore
import ChatTUI
import Testing

/// Edits, deletes and reactions (issue 14): how events change the loaded messages, and the keys and commands
/// that ask for them.
@Suite("Edits, deletes and reactions")
struct ChangeTests {
    func change(
        _ seq: Int64,
        _ from: String,
        _ kind: MessageKind,
        target: Int64,
        text: String = "",
        emoji: String? = nil,
        room: String = "general"
    ) -> ChatMessage {
        ChatMessage(
            room: room,
            seq: seq,
            from: from,
            text: text,
            kind: kind,
            ts: now + seq,
            details: MessageDetails(target: target, emoji: emoji)
        )
    }

    /// alice's room with bob's message 1 and alice's message 2.
    func roomWithMessages() -> AppState {
        var state = makeState()
        receive(&state, .message(message("general", 1, "bob", "first from bob")))
        receive(&state, .message(message("general", 2, "alice", "mine to change")))
        return state
    }

    // MARK: Model

    @Test("live edit, react and delete events change their target and are kept out of the lines")
    func eventsApplied() {
        var state = roomWithMessages()
        receive(&state, .message(change(3, "alice", .edit, target: 2, text: "changed")))
        receive(&state, .message(change(4, "bob", .react, target: 2, emoji: "👍")))
        receive(&state, .message(change(5, "alice", .react, target: 2, emoji: "👍")))
        receive(&state, .message(change(6, "alice", .unreact, target: 2, emoji: "👍")))
        receive(&state, .message(change(7, "alice", .delete, target: 1)))
        let room = state.rooms[0]
        #expect(room.message(seq: 2)?.text == "changed")
        #expect(room.message(seq: 2)?.editedTs == now + 3)
        #expect(room.message(seq: 2)?.reactions == [Reaction(emoji: "👍", users: ["bob"])])
        #expect(room.message(seq: 1)?.deleted == true)
        #expect(room.message(seq: 1)?.text == "")
        #expect(room.head == 7)
        let screen = render(state, size: Size(width: 80, height: 24)).text
        #expect(screen.contains("changed (edited)"))
        #expect(screen.contains("message deleted"))
        #expect(!screen.contains("not loaded"), "loaded change events are no gap")
    }

    @Test("unknown kinds change nothing, show nothing, but their seq counts")
    func unknownKindsIgnored() {
        var state = roomWithMessages()
        let before = state.rooms[0].messages.filter(\.isContent)
        var odd = change(3, "bob", .unknown, target: 2, text: "something new")
        odd.emoji = "👍"
        receive(&state, .message(odd))
        receive(&state, .message(message("general", 4, "bob", "after")))
        #expect(state.rooms[0].messages.filter(\.isContent).dropLast() == before[...])
        #expect(state.rooms[0].head == 4)
        let screen = render(state, size: Size(width: 80, height: 24)).text
        #expect(!screen.contains("something new"))
        #expect(!screen.contains("not loaded"))
    }

    @Test("an event whose target is not loaded is dropped")
    func unloadedTargetDropped() {
        var state = makeState()
        receive(&state, .message(message("general", 10, "bob", "recent")))
        receive(&state, .message(change(11, "bob", .edit, target: 3, text: "old one changed")))
        #expect(state.rooms[0].messages.filter(\.isContent).map(\.text) == ["recent"])
        #expect(state.rooms[0].head == 11)
    }

    @Test("an older page brings a message in its current state: its older edits do not turn the text back")
    func olderPageKeepsCurrentState() {
        var state = makeState()
        receive(&state, .message(change(9, "alice", .edit, target: 2, text: "v3")))
        var current = message("general", 2, "alice", "v3")
        current.editedTs = now + 9
        let page = [message("general", 1, "bob"), current, change(5, "alice", .edit, target: 2, text: "v2")]
        _ = update(&state, .history(room: "general", messages: page, more: false))
        #expect(state.rooms[0].message(seq: 2)?.text == "v3")
        #expect(state.rooms[0].message(seq: 2)?.editedTs == now + 9)
    }

    @Test("a reaction from someone else neither rings nor counts as new below")
    func reactionsDoNotRing() {
        var state = roomWithMessages()
        state.scroll = 5
        let effects = receive(&state, .message(change(3, "bob", .react, target: 2, emoji: "🎉")))
        #expect(!effects.contains(.bell))
        #expect(state.newBelow == 0)
    }

    @Test(
        "a change in another room read to the end leaves it read (its marker moves past it); after unread messages it does not"
    )
    func changesInReadRoomsAreNotUnread() {
        var state = makeState(["general", "random"])
        state.rooms[1].head = 4
        state.rooms[1].read = 4
        receive(&state, .message(message("random", 4, "bob", "seen")))
        let effects = receive(&state, .message(change(5, "bob", .react, target: 4, emoji: "🎉", room: "random")))
        #expect(state.rooms[1].unread == 0)
        #expect(effects == [.markRead(room: "random", seq: 5)])
        receive(&state, .message(message("random", 6, "bob", "new one")))
        #expect(state.rooms[1].unread == 1)
        let later = receive(&state, .message(change(7, "bob", .edit, target: 6, text: "new one!", room: "random")))
        #expect(later.isEmpty, "the marker stays before the unread message")
        #expect(state.rooms[1].unread == 2)
    }

    // MARK: Selection

    @Test("Alt-S selects the newest message; ↑/↓ move over text messages and skip deleted ones; Esc leaves")
    func selection() {
        var state = roomWithMessages()
        receive(&state, .message(message("general", 3, "bob", "gone soon")))
        receive(&state, .message(change(4, "bob", .delete, target: 3)))
        receive(&state, .message(change(5, "bob", .react, target: 2, emoji: "👍")))
        press(&state, .alt("s"))
        #expect(state.selection == 2)
        press(&state, .up)
        #expect(state.selection == 1)
        press(&state, .up)
        #expect(state.selection == 1, "stays on the oldest")
        press(&state, .down)
        #expect(state.selection == 2)
        press(&state, .escape)
        #expect(state.selection == nil)
        press(&state, .alt("s"), .down)
        #expect(state.selection == nil, "↓ past the newest leaves selection")
    }

    @Test("e opens the input line with the text; Enter sends the edit")
    func editSelected() {
        var state = roomWithMessages()
        press(&state, .alt("s"), .character("e"))
        #expect(state.compose == .edit(seq: 2))
        #expect(state.input.text == "mine to change")
        state.input = InputLine("mine, changed")
        #expect(press(&state, .enter) == [.edit(room: "general", seq: 2, text: "mine, changed")])
        #expect(state.compose == .message)
        #expect(state.input.text.isEmpty)
    }

    @Test("e on someone else's message says so; Esc cancels an edit and empties the input")
    func editRefusedAndCancelled() {
        var state = roomWithMessages()
        press(&state, .alt("s"), .up, .character("e"))
        #expect(state.compose == .message)
        #expect(state.notice == "only your own messages can be edited")
        press(&state, .alt("s"), .character("e"), .escape)
        #expect(state.compose == .message)
        #expect(state.input.text.isEmpty)
    }

    @Test("↑ in an empty input edits the user's last message (as in Slack); with text it recalls history")
    func upEditsLast() {
        var state = roomWithMessages()
        state.inputHistory = ["earlier line"]
        press(&state, .up)
        #expect(state.compose == .edit(seq: 2))
        #expect(state.input.text == "mine to change")
        press(&state, .up)
        #expect(state.compose == .message, "↑ again, before changing the text, goes on to the history")
        #expect(state.input.text == "earlier line")
        press(&state, .down)
        #expect(state.input.text.isEmpty)
        state.input = InputLine("draft")
        press(&state, .up)
        #expect(state.compose == .message)
        #expect(state.input.text == "earlier line")
    }

    @Test("↑ and ↓ never replace an edit that was changed with a history line")
    func upKeepsChangedEdit() {
        var state = roomWithMessages()
        state.inputHistory = ["earlier line"]
        press(&state, .up, .character("!"), .up, .down)
        #expect(state.compose == .edit(seq: 2))
        #expect(state.input.text == "mine to change!")
    }

    @Test("d asks first: y deletes, anything else keeps the message")
    func deleteSelected() {
        var state = roomWithMessages()
        press(&state, .alt("s"), .character("d"))
        #expect(state.notice == "delete alice: mine to change? y/n")
        #expect(press(&state, .character("n")).isEmpty)
        #expect(state.notice == "not deleted")
        #expect(state.selection == nil)
        press(&state, .alt("s"), .up, .character("d"))
        #expect(press(&state, .character("y")) == [.delete(room: "general", seq: 1)])
    }

    @Test("r: the input shows whom it answers and the next send carries reply_to")
    func replySelected() {
        var state = roomWithMessages()
        press(&state, .alt("s"), .up, .character("r"))
        #expect(state.compose == .reply(seq: 1, quote: "bob: first from bob"))
        let screen = render(state, size: Size(width: 80, height: 24)).text
        #expect(screen.split(separator: "\n").last?.hasPrefix("replying to bob: first from bob › ") == true)
        #expect(
            submit(&state, "agreed")
                == [.send(room: "general", text: "agreed", kind: .text, nonce: "t-1", replyTo: 1)]
        )
        #expect(state.compose == .message)
        #expect(submit(&state, "next") == [.send(room: "general", text: "next", kind: .text, nonce: "t-2")])
    }

    @Test("a refused reply comes back into the input as a reply to the same message")
    func refusedReplyComesBack() {
        var state = roomWithMessages()
        press(&state, .alt("s"), .up, .character("r"))
        submit(&state, "agreed")
        #expect(state.compose == .message)
        receive(&state, .sendFailed(nonce: "t-1", ProtocolError(.notFound, "message 1 was deleted")))
        #expect(state.input.text == "agreed")
        #expect(state.compose == .reply(seq: 1, quote: "bob: first from bob"))
        #expect(state.notice == "not sent: message 1 was deleted")
    }

    @Test("a long first line is cut with an ellipsis in the reply prompt, CJK by columns")
    func replyQuoteTruncated() {
        var state = makeState()
        receive(&state, .message(message("general", 1, "さくら", "日本語のメッセージが長い場合でも正しく折り返されます")))
        press(&state, .alt("s"), .character("r"))
        #expect(state.compose == .reply(seq: 1, quote: "さくら: 日本語のメッセージが長…"))
    }

    @Test("+ offers the last used emoji first, Tab offers others, Enter reacts; the same again takes it back")
    func reactSelected() {
        var state = roomWithMessages()
        press(&state, .alt("s"), .up, .character("+"))
        #expect(state.compose == .react(seq: 1))
        #expect(state.input.text == "👍")
        press(&state, .tab)
        #expect(state.input.text == "❤️")
        #expect(press(&state, .enter) == [.react(room: "general", seq: 1, emoji: "❤️")])
        #expect(state.recentEmoji == ["❤️"])
        receive(&state, .message(change(3, "alice", .react, target: 1, emoji: "❤️")))
        press(&state, .alt("s"), .up, .character("+"))
        #expect(state.input.text == "❤️")
        #expect(press(&state, .enter) == [.unreact(room: "general", seq: 1, emoji: "❤️")])
    }

    @Test("the reaction prompt refuses what is not one emoji, before sending")
    func reactValidated() {
        var state = roomWithMessages()
        press(&state, .alt("s"), .character("+"))
        state.input = InputLine("ok")
        #expect(press(&state, .enter).isEmpty)
        #expect(state.compose == .react(seq: 2))
        #expect(state.notice?.hasPrefix("not a single emoji") == true)
    }

    // MARK: Commands

    @Test("/edit, /delete and /react act on the user's last message")
    func commands() {
        var state = roomWithMessages()
        #expect(submit(&state, "/edit new words 日本") == [.edit(room: "general", seq: 2, text: "new words 日本")])
        #expect(submit(&state, "/react 🎉") == [.react(room: "general", seq: 2, emoji: "🎉")])
        #expect(submit(&state, "/react nope").isEmpty)
        #expect(state.notice?.hasPrefix("not a single emoji") == true)
        #expect(submit(&state, "/delete").isEmpty)
        #expect(state.notice == "delete alice: mine to change? y/n")
        #expect(press(&state, .character("y")) == [.delete(room: "general", seq: 2)])
        submit(&state, "/edit")
        #expect(state.compose == .edit(seq: 2))
        #expect(state.input.text == "mine to change")
    }

    @Test("the commands say so when the user has no message in the room")
    func commandsWithoutOwnMessage() {
        var state = makeState()
        receive(&state, .message(message("general", 1, "bob")))
        #expect(submit(&state, "/edit x").isEmpty)
        #expect(state.notice == "you have no message in general to change")
    }

    @Test("the new commands complete with Tab")
    func completion() {
        var state = makeState()
        state.input = InputLine("/re")
        press(&state, .tab)
        #expect(state.input.text == "/react ")
        #expect(chatCommands.contains("/edit") && chatCommands.contains("/delete"))
    }

    @Test("switching rooms ends selection and what was being written")
    func switchingRoomsResets() {
        var state = roomWithMessages()
        state.rooms.append(AppState.Room(name: "random"))
        press(&state, .alt("s"), .character("r"))
        press(&state, .ctrl("n"))
        #expect(state.compose == .message)
        #expect(state.selection == nil)
    }
}

extension ChangeTests: UpdateTestSupport {}

extension ChangeTests {
    @Test("a selected message deleted meanwhile: ↑ moves from where it was, e says it is gone")
    func selectedMessageDeleted() {
        var state = roomWithMessages()
        press(&state, .alt("s"))
        receive(&state, .message(change(3, "alice", .delete, target: 2)))
        press(&state, .up)
        #expect(state.selection == 1)
        press(&state, .down)
        #expect(state.selection == nil)
        press(&state, .alt("s"))
        #expect(state.selection == 1)
        receive(&state, .message(change(4, "bob", .delete, target: 1)))
        #expect(press(&state, .character("e")).isEmpty)
        #expect(state.notice == "that message was deleted")
        #expect(state.selection == nil)
    }
}
