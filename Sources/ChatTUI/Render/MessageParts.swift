import ChatCore

/// What is drawn around a message's text: the quoted message it answers, "(edited)", "message deleted" and its
/// reactions.
struct MessageParts {
    /// The line above a reply: "┌ NAME: first words…", or "↳ reply to #SEQ" when that message is not loaded.
    var quote: String?
    var edited = false
    var deleted = false
    /// Each emoji, how many used it, and whether the user is one of them.
    var reactions: [(emoji: String, count: Int, own: Bool)] = []

    init() {}

    /// The parts of a loaded message.
    ///
    /// - Parameters:
    ///   - message: the message.
    ///   - room: its room (for the message a reply quotes).
    ///   - user: who is looking (their reactions are highlighted).
    ///   - textWidth: the columns of the text.
    init(_ message: ChatMessage, in room: AppState.Room, user: String, textWidth: Int) {
        deleted = message.deleted
        edited = message.editedTs != nil && !message.deleted
        if let replyTo = message.replyTo {
            if let target = room.message(seq: replyTo) {
                let prefix = "┌ "
                let full = prefix + replyQuote(of: target, columns: max(1, textWidth))
                quote = DisplayWidth.truncate(full.replacingNewlines, columns: textWidth)
            } else {
                quote = "↳ reply to #\(replyTo)"
            }
        }
        let me = TextRules.foldKey(user)
        reactions = message.reactions.filter { !$0.users.isEmpty }.map { reaction in
            (
                TextWrap.sanitize(reaction.emoji), reaction.users.count,
                reaction.users.contains { TextRules.foldKey($0) == me }
            )
        }
    }

    /// The reactions laid out in lines of at most `width` columns: each line a list of (text, own) pieces,
    /// "👍 2" separated by two spaces.
    func reactionLines(width: Int) -> [[(text: String, own: Bool)]] {
        var lines: [[(text: String, own: Bool)]] = []
        var line: [(text: String, own: Bool)] = []
        var used = 0
        for reaction in reactions {
            let piece = "\(reaction.emoji) \(reaction.count)"
            let pieceWidth = DisplayWidth.of(piece)
            if !line.isEmpty, used + 2 + pieceWidth > width {
                lines.append(line)
                line = []
                used = 0
            }
            if !line.isEmpty {
                line.append(("  ", false))
                used += 2
            }
            line.append((piece, reaction.own))
            used += pieceWidth
        }
        if !line.isEmpty { lines.append(line) }
        return lines
    }
}

/// The message a reply, an edit or a reaction being written is about (highlighted while writing it).
func composeTarget(_ state: AppState) -> Int64? {
    switch state.compose {
    case .message: nil
    case .reply(let seq, _), .edit(let seq), .react(let seq): seq
    }
}
