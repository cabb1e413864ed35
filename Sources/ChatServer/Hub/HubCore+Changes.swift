import ChatCore
import ChatLog

/// A change to a stored message.
enum MessageChange: Equatable {
    case edit(Int64, String)
    case delete(Int64)
    case react(Int64, String)
    case unreact(Int64, String)

    /// The change an `edit`, `delete`, `react` or `unreact` request asks for; nil for others.
    ///
    /// - Parameters:
    ///   - request: the request.
    init?(_ request: Request) {
        switch request {
        case .edit(_, let seq, let text): self = .edit(seq, text)
        case .delete(_, let seq): self = .delete(seq)
        case .react(_, let seq, let emoji): self = .react(seq, emoji)
        case .unreact(_, let seq, let emoji): self = .unreact(seq, emoji)
        default: return nil
        }
    }
}

extension ChatState {
    /// The `text`/`action` message with this seq, not deleted; `not_found` otherwise
    /// (`internal` when it is cold and cannot be read).
    ///
    /// - Parameters:
    ///   - room: the room's fold key.
    ///   - seq: the seq a request names.
    func content(room: String, seq: Int64) throws(ProtocolError) -> ChatMessage {
        guard let head = rooms[room]?.head, seq >= 1, seq <= head else {
            throw ProtocolError(.notFound, "no message \(seq) in this room")
        }
        guard let message = message(room: room, seq: seq) else { throw HubCore.cannotRead }
        guard message.isContent else { throw ProtocolError(.notFound, "no message \(seq) in this room") }
        guard !message.deleted else { throw ProtocolError(.notFound, "message \(seq) was deleted") }
        return message
    }
}

/// Edits, deletes and reactions: each is a new room event with its own seq, stored and
/// published like a message, and applied to its target by `MessageChanges`.
extension HubCore {
    /// Checks a change, then stores its event; a repeated reaction is answered with the
    /// seq of the first one (like a repeated nonce).
    mutating func change(
        _ conn: ConnID,
        id: String,
        user: ChatState.User,
        userKey: String,
        room: String,
        _ change: MessageChange,
        at now: HubTime,
        into step: inout HubStep
    ) throws(ProtocolError) {
        guard let roomState = state.rooms[room] else { throw ProtocolError(.notFound, "no such room") }
        var event = ChatMessage(
            room: roomState.name,
            seq: roomState.head + 1,
            from: user.name,
            text: "",
            kind: .edit,
            ts: now.wallMs
        )
        switch change {
        case .edit(let seq, let text):
            let target = try state.content(room: room, seq: seq)
            guard target.from == user.name else {
                throw ProtocolError(.forbidden, "only its author may edit a message")
            }
            if let window = configuration.editWindow, Double(now.wallMs - target.ts) > window * 1000 {
                throw ProtocolError(.forbidden, "messages can be edited for \(Self.seconds(window)) after sending")
            }
            event.text = text
            event.target = seq
        case .delete(let seq):
            let target = try state.content(room: room, seq: seq)
            guard target.from == user.name || roomState.owner == userKey else {
                throw ProtocolError(.forbidden, "only its author or the room's owner may delete a message")
            }
            event.kind = .delete
            event.target = seq
        case .react(let seq, let emoji):
            let target = try state.content(room: room, seq: seq)
            let details = target.details
            if let i = details.reactions.firstIndex(where: { $0.emoji == emoji }),
                let u = details.reactions[i].users.firstIndex(of: user.name)
            {
                let original = i < details.reactionSeqs.count && u < details.reactionSeqs[i].count
                let seq = original ? details.reactionSeqs[i][u] : target.seq
                let ts = state.message(room: room, seq: seq)?.ts ?? target.ts
                replyAfterPending(conn, id: id, .sent(seq: seq, ts: ts), into: &step)
                return
            }
            if !details.reactions.contains(where: { $0.emoji == emoji }),
                details.reactions.count >= TextRules.maxReactionsPerMessage
            {
                throw ProtocolError(
                    .tooLarge,
                    "a message holds at most \(TextRules.maxReactionsPerMessage) different reactions"
                )
            }
            event.kind = .react
            event.target = seq
            event.emoji = emoji
        case .unreact(let seq, let emoji):
            let target = try state.content(room: room, seq: seq)
            guard target.reactions.contains(where: { $0.emoji == emoji && $0.users.contains(user.name) }) else {
                throw ProtocolError(.notFound, "you have not reacted to message \(seq) with \(emoji)")
            }
            event.kind = .unreact
            event.target = seq
            event.emoji = emoji
        }
        try takeMessageToken(userKey, at: now)
        commitSend(event, room: room, conn: conn, id: id, into: &step)
    }

    /// The event of a server admin's delete (`chat-server message delete`), stored and
    /// published like a member's, `from` the admin (`server`).
    ///
    /// - Parameters:
    ///   - room: the room's fold key.
    ///   - seq: the message.
    ///   - now: the time.
    func deleteEvent(room: String, seq: Int64, at now: HubTime) throws(ProtocolError) -> ChatMessage {
        guard let roomState = state.rooms[room] else { throw ProtocolError(.notFound, "no such room") }
        _ = try state.content(room: room, seq: seq)
        var event = ChatMessage(
            room: roomState.name,
            seq: roomState.head + 1,
            from: Self.adminName,
            text: "",
            kind: .delete,
            ts: now.wallMs
        )
        event.target = seq
        return event
    }

    /// The `from` of changes made by a server admin.
    static let adminName = "server"

    static func seconds(_ s: Double) -> String {
        s == s.rounded() ? "\(Int64(s)) s" : "\(s) s"
    }
}
