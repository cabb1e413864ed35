import ChatCore

// MARK: Edits, deletes, reactions

extension AppState.Room {
    /// The loaded message with a seq, if any (messages are sorted by seq).
    ///
    /// - Parameters:
    ///   - seq: the seq.
    package func message(seq: Int64) -> ChatMessage? { index(ofSeq: seq).map { messages[$0] } }

    /// Where the message with a seq is in `messages`, if loaded.
    func index(ofSeq seq: Int64) -> Int? {
        var low = 0
        var high = messages.count - 1
        while low <= high {
            let mid = (low + high) / 2
            if messages[mid].seq == seq { return mid }
            if messages[mid].seq < seq { low = mid + 1 } else { high = mid - 1 }
        }
        return nil
    }
}

/// Applies the change events among `batch` (edit, delete, react, unreact) to their targets in the room with
/// `MessageChanges.apply`. Change events stay in `messages` (their seqs count for gaps and the head) but are
/// never shown as lines; unknown kinds change nothing. An event whose target is not loaded is dropped: history
/// brings the target with its current state.
///
/// Every loaded event for a touched target is replayed in seq order, so an older page that brings both a
/// message (in its current state) and its older edits cannot turn the text back.
func applyChanges(of batch: [ChatMessage], to room: inout AppState.Room) {
    let targets = Set(batch.lazy.filter { !$0.isContent }.compactMap(\.target))
    guard !targets.isEmpty else { return }
    var positions: [Int64: Int] = [:]
    for target in targets { if let i = room.index(ofSeq: target) { positions[target] = i } }
    guard !positions.isEmpty else { return }
    for i in room.messages.indices where !room.messages[i].isContent {
        let event = room.messages[i]
        guard let target = event.target, let j = positions[target] else { continue }
        MessageChanges.apply(event, to: &room.messages[j])
    }
}

/// Whether a name is the user's (names compare without case, as the server does).
func isOwn(_ name: String, _ state: AppState) -> Bool { TextRules.foldKey(name) == TextRules.foldKey(state.user) }

/// The messages that can be selected in the active room: text and actions that are not deleted, oldest first.
func selectable(_ state: AppState) -> [ChatMessage] {
    state.activeRoom?.messages.filter { $0.isContent && !$0.deleted } ?? []
}

/// The user's newest message in the active room that can still be changed.
func lastOwnMessage(_ state: AppState) -> ChatMessage? {
    state.activeRoom?.messages.last { $0.isContent && !$0.deleted && isOwn($0.from, state) }
}

/// "NAME: first words…": who wrote a message and the start of its first line, for a reply.
///
/// - Parameters:
///   - message: the message.
///   - columns: how wide the words may be.
func replyQuote(of message: ChatMessage, columns: Int = 24) -> String {
    let firstLine = TextWrap.sanitize(message.text).split(separator: "\n", omittingEmptySubsequences: false).first
    let words = message.deleted ? "message deleted" : String(firstLine ?? "")
    return "\(message.from): " + DisplayWidth.truncate(words, columns: columns)
}

/// Emoji offered by `+` and Tab in the reaction prompt: the recently used first, then a few common ones.
func reactionChoices(_ state: AppState) -> [String] {
    var choices = state.recentEmoji
    for emoji in ["👍", "❤️", "😂", "🎉", "😮", "😢", "👀", "✅"] where !choices.contains(emoji) {
        choices.append(emoji)
    }
    return choices
}

/// Alt-S: selection mode, on the newest message.
func startSelection(_ state: inout AppState) {
    guard let newest = selectable(state).last else {
        state.notice = "no message to select here"
        return
    }
    state.selection = newest.seq
    state.scroll = 0
}

/// Keys while a message is selected. If it was deleted meanwhile, ↑/↓ move from where it was and the
/// actions say it is gone.
func handleSelectionKey(_ state: inout AppState, _ key: Key) -> [AppEffect] {
    let messages = selectable(state)
    guard let seq = state.selection else { return [] }
    let older = messages.lastIndex { $0.seq < seq }
    let newer = messages.firstIndex { $0.seq > seq }
    let message = messages.first { $0.seq == seq }
    switch key {
    case .up, .character("k"), .alt("s"):
        if let older { state.selection = messages[older].seq } else if message == nil { state.selection = nil }
    case .down, .character("j"):
        state.selection = newer.map { messages[$0].seq }
    case .escape:
        state.selection = nil
    case .character("e"), .character("d"), .character("r"), .enter, .character("+"):
        guard let message else {
            state.selection = nil
            state.notice = "that message was deleted"
            return []
        }
        switch key {
        case .character("e"): startEdit(&state, message)
        case .character("d"): askDelete(&state, message)
        case .character("+"): startReaction(&state, message)
        default: startReply(&state, message)
        }
    case .character("s"), .character("o"):
        guard let file = message?.file else {
            state.notice = "not a file message"
            return []
        }
        state.selection = nil
        return startTransfer(&state, file, open: key == .character("o"), path: nil)
    case .ctrl("c"):
        state.quitting = true
        return [.quit]
    default:
        break
    }
    return []
}

/// `e`, `/edit` without text, or ↑ in an empty input: the input line opens with the message's text.
func startEdit(_ state: inout AppState, _ message: ChatMessage) {
    state.selection = nil
    guard isOwn(message.from, state) else {
        state.notice = "only your own messages can be edited"
        return
    }
    state.compose = .edit(seq: message.seq)
    state.input = InputLine(message.text)
    state.historyIndex = nil
    state.notice = nil
}

/// `d` or `/delete`: asks first.
func askDelete(_ state: inout AppState, _ message: ChatMessage) {
    state.selection = message.seq
    state.confirmDelete = message.seq
    state.notice = "delete \(replyQuote(of: message))? y/n"
}

/// The answer to "delete …? y/n".
func handleConfirmDeleteKey(_ state: inout AppState, _ key: Key) -> [AppEffect] {
    guard let seq = state.confirmDelete else { return [] }
    state.confirmDelete = nil
    state.selection = nil
    guard key == .character("y") || key == .character("Y"), let room = state.activeRoom else {
        state.notice = "not deleted"
        return []
    }
    state.notice = nil
    return [.delete(room: room.name, seq: seq)]
}

/// `r`: the next message sent answers this one.
func startReply(_ state: inout AppState, _ message: ChatMessage) {
    state.selection = nil
    state.compose = .reply(seq: message.seq, quote: replyQuote(of: message))
    state.notice = nil
}

/// `+`: the input line asks for an emoji, the last used one already in it.
func startReaction(_ state: inout AppState, _ message: ChatMessage) {
    state.selection = nil
    state.compose = .react(seq: message.seq)
    state.input = InputLine(reactionChoices(state)[0])
    state.historyIndex = nil
    state.notice = nil
}

/// Esc while writing a reply, an edit or a reaction: back to writing messages.
func cancelCompose(_ state: inout AppState) {
    switch state.compose {
    case .message: return
    case .reply: break
    case .edit, .react: state.input = InputLine()
    }
    state.compose = .message
    state.notice = nil
}

/// Tab in the reaction prompt: the next of the offered emoji.
func nextReactionChoice(_ state: inout AppState) {
    let choices = reactionChoices(state)
    let current = choices.firstIndex(of: state.input.text.trimmingSpaces) ?? -1
    state.input = InputLine(choices[(current + 1) % choices.count])
}

/// Enter while the input line is an edit or a reaction (nil: a message or a reply, sent as usual).
func submitChange(_ state: inout AppState) -> [AppEffect]? {
    guard let room = state.activeRoom else { return nil }
    switch state.compose {
    case .message, .reply: return nil
    case .edit(let seq):
        let text = state.input.text
        guard !text.trimmingSpaces.isEmpty else {
            state.notice = "the new text is empty — Esc keeps the message as it is"
            return []
        }
        guard text.unicodeScalars.count <= state.limits.maxText else {
            state.notice = Wording.tooLong(text.unicodeScalars.count, limit: state.limits.maxText) + " — not edited"
            return []
        }
        state.compose = .message
        state.input = InputLine()
        if room.message(seq: seq)?.text == text {
            state.notice = "not changed"
            return []
        }
        return [.edit(room: room.name, seq: seq, text: text)]
    case .react(let seq):
        let emoji = state.input.text.trimmingSpaces
        guard let effect = reaction(&state, emoji, to: seq) else { return [] }
        state.compose = .message
        state.input = InputLine()
        return [effect]
    }
}

/// A reaction with an emoji, or taking it back when the user has it already (nil: not an emoji, said why).
func reaction(_ state: inout AppState, _ emoji: String, to seq: Int64) -> AppEffect? {
    guard let room = state.activeRoom else { return nil }
    if let error = TextRules.emoji(emoji) {
        state.notice = "not a single emoji: \(error.message)"
        return nil
    }
    state.recentEmoji.removeAll { $0 == emoji }
    state.recentEmoji.insert(emoji, at: 0)
    if state.recentEmoji.count > 8 { state.recentEmoji.removeLast() }
    state.notice = nil
    let mine = room.message(seq: seq)?.reactions.contains { r in
        r.emoji == emoji && r.users.contains { isOwn($0, state) }
    }
    return mine == true
        ? .unreact(room: room.name, seq: seq, emoji: emoji) : .react(room: room.name, seq: seq, emoji: emoji)
}

/// `/edit TEXT`, `/delete`, `/react EMOJI`: on the user's last message in the room.
func runChangeCommand(_ state: inout AppState, _ command: String, _ argument: String) -> [AppEffect] {
    guard let room = state.activeRoom else {
        state.notice = "join a room first"
        return []
    }
    guard let last = lastOwnMessage(state) else {
        state.notice = "you have no message in \(state.title(of: room)) to change"
        return []
    }
    switch command {
    case "/edit":
        guard !argument.isEmpty else {
            startEdit(&state, last)
            return []
        }
        guard argument.unicodeScalars.count <= state.limits.maxText else {
            state.notice = Wording.tooLong(argument.unicodeScalars.count, limit: state.limits.maxText) + " — not edited"
            return []
        }
        return [.edit(room: room.name, seq: last.seq, text: argument)]
    case "/delete":
        askDelete(&state, last)
        return []
    default:
        guard !argument.isEmpty else {
            state.notice = "usage: /react EMOJI"
            return []
        }
        return reaction(&state, argument, to: last.seq).map { [$0] } ?? []
    }
}
