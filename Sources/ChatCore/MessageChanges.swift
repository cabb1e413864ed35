/// How a change event (`edit`, `delete`, `react`, `unreact`) changes the message it
/// targets. The server applies it to its stored messages and clients to theirs, with
/// this one function, so a client that follows events ends with what `history` says.
///
/// Every change is idempotent given the events before it, so applying a room's events
/// in seq order (live, from a backlog, or replaying a snapshot whose messages already
/// hold their state) always gives the same result.
package enum MessageChanges {
    /// Applies a change event to the message it targets. A `text`/`action` event, an
    /// unknown kind, or an event whose target is not a live message leaves it as it was.
    ///
    /// - Parameters:
    ///   - event: the change event.
    ///   - message: its target (a `text` or `action` message).
    /// - Returns: whether the message changed.
    @discardableResult
    package static func apply(_ event: ChatMessage, to message: inout ChatMessage) -> Bool {
        guard message.isContent, event.target == message.seq, event.seq > message.seq else { return false }
        switch event.kind {
        case .edit:
            guard !message.deleted, message.from == event.from else { return false }
            message.text = event.text
            message.editedTs = event.ts
            return true
        case .delete:
            guard !message.deleted else { return false }
            makeTombstone(&message)
            return true
        case .react:
            guard !message.deleted, let emoji = event.emoji else { return false }
            var details = message.details
            if let i = details.reactions.firstIndex(where: { $0.emoji == emoji }) {
                guard !details.reactions[i].users.contains(event.from) else { return false }
                details.reactions[i].users.append(event.from)
                if i < details.reactionSeqs.count { details.reactionSeqs[i].append(event.seq) }
            } else {
                details.reactions.append(Reaction(emoji: emoji, users: [event.from]))
                while details.reactionSeqs.count < details.reactions.count - 1 { details.reactionSeqs.append([]) }
                details.reactionSeqs.append([event.seq])
            }
            message.details = details
            return true
        case .unreact:
            guard !message.deleted, let emoji = event.emoji,
                let i = message.reactions.firstIndex(where: { $0.emoji == emoji }),
                let u = message.reactions[i].users.firstIndex(of: event.from)
            else { return false }
            var details = message.details
            details.reactions[i].users.remove(at: u)
            if i < details.reactionSeqs.count, u < details.reactionSeqs[i].count {
                details.reactionSeqs[i].remove(at: u)
            }
            if details.reactions[i].users.isEmpty {
                details.reactions.remove(at: i)
                if i < details.reactionSeqs.count { details.reactionSeqs.remove(at: i) }
            }
            message.details = details
            return true
        case .text, .action, .file, .unknown:
            return false
        }
    }

    /// Applies an event to a room's messages held by seq (`messages[seq - 1]`), as the
    /// server stores them. A delete also drops the text of the target's edit events
    /// (they held its text too).
    ///
    /// - Parameters:
    ///   - event: the event, already appended at `messages[event.seq - 1]`.
    ///   - messages: the room's messages, from seq 1.
    package static func apply(_ event: ChatMessage, toRoom messages: inout [ChatMessage]) {
        guard let target = event.target, target >= 1, target < event.seq, Int(target) <= messages.count else { return }
        let i = Int(target - 1)
        guard apply(event, to: &messages[i]) else { return }
        if event.kind == .delete {
            var j = i + 1
            while j < messages.count && j < Int(event.seq - 1) {
                if messages[j].kind == .edit, messages[j].target == target, !messages[j].text.isEmpty {
                    messages[j].text = ""
                }
                j += 1
            }
        }
    }

    /// What retention (`--retain-days`) leaves of an expired message: a `text`/`action`/`file`
    /// message becomes the tombstone a delete leaves (no text, file, `edited_ts` or
    /// reactions), an `edit` (or unknown) event loses its text; `delete`, `react` and
    /// `unreact` events hold no text and stay as they are.
    ///
    /// - Parameters:
    ///   - message: the message.
    /// - Returns: whether it changed.
    @discardableResult
    package static func expire(_ message: inout ChatMessage) -> Bool {
        switch message.kind {
        case .text, .action, .file:
            guard !message.deleted else { return false }
            makeTombstone(&message)
            return true
        case .edit, .unknown:
            guard !message.text.isEmpty else { return false }
            message.text = ""
            return true
        case .delete, .react, .unreact:
            return false
        }
    }

    /// What a delete (and an expiry) leaves of a content message: `deleted`, and no text, file,
    /// `edited_ts` or reactions.
    private static func makeTombstone(_ message: inout ChatMessage) {
        var details = message.details
        details.editedTs = nil
        details.deleted = true
        details.file = nil
        details.reactions = []
        details.reactionSeqs = []
        message.text = ""
        message.details = details
    }
}
