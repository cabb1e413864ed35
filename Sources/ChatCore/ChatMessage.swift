/// A stored chat message as it travels in `message` events and history.
///
/// Every room event has its own seq: a `text`/`action` message, or a change to one
/// (`edit`, `delete`, `react`, `unreact`, which name it in `target`). A text/action
/// message also carries its current state (`edited_ts`, `deleted`, `reactions`), which
/// `MessageChanges.apply(_:to:)` keeps up to date on the server and in clients alike.
package struct ChatMessage: Sendable, Equatable {
    package var room: String
    package var seq: Int64
    package var from: String
    package var text: String
    package var kind: MessageKind
    package var ts: Int64
    package var nonce: String?
    /// The rarely set fields, boxed so a plain message stays small.
    private var extras: Extras = .none

    /// Creates a message.
    ///
    /// - Parameters:
    ///   - room: room display name.
    ///   - seq: per-room sequence number, from 1.
    ///   - from: sender display name.
    ///   - text: the text (empty for `delete`, `react`, `unreact` and deleted messages).
    ///   - kind: the kind.
    ///   - ts: server time in ms since the epoch.
    ///   - nonce: the sender's idempotency nonce, if any.
    ///   - details: reply, target, emoji and current state.
    package init(
        room: String,
        seq: Int64,
        from: String,
        text: String,
        kind: MessageKind,
        ts: Int64,
        nonce: String? = nil,
        details: MessageDetails = MessageDetails()
    ) {
        self.room = room
        self.seq = seq
        self.from = from
        self.text = text
        self.kind = kind
        self.ts = ts
        self.nonce = nonce
        self.details = details
    }

    /// Whether the message has no details (no reply, target, emoji, file, edit, delete or
    /// reactions): its wire object is the base fields alone.
    package var hasNoDetails: Bool {
        if case .none = extras { return true }
        return false
    }

    /// Reply, target, emoji and current state, together.
    package var details: MessageDetails {
        get {
            switch extras {
            case .none: return MessageDetails()
            case .some(let d): return d
            }
        }
        set { extras = newValue.isEmpty ? .none : .some(newValue) }
    }

    /// The seq of the message this one answers (`send {reply_to}`).
    package var replyTo: Int64? {
        get { details.replyTo }
        set { details.replyTo = newValue }
    }
    /// The message an `edit`, `delete`, `react` or `unreact` changes.
    package var target: Int64? {
        get { details.target }
        set { details.target = newValue }
    }
    /// The emoji of a `react` or `unreact`.
    package var emoji: String? {
        get { details.emoji }
        set { details.emoji = newValue }
    }
    /// When the message was last edited (ms).
    package var editedTs: Int64? {
        get { details.editedTs }
        set { details.editedTs = newValue }
    }
    /// The message was deleted: its text is gone.
    package var deleted: Bool {
        get { details.deleted }
        set { details.deleted = newValue }
    }
    /// Its reactions, in the order each emoji was first used.
    package var reactions: [Reaction] {
        get { details.reactions }
        set { details.reactions = newValue }
    }
    /// The file a `file` message shares (gone once the message is deleted).
    package var file: FileRef? {
        get { details.file }
        set { details.file = newValue }
    }

    /// Whether the message is one people wrote (`text`, `action` or `file`), not a change.
    package var isContent: Bool { kind == .text || kind == .action || kind == .file }

    /// Whether the wire object carries a `text` field: not for deletes, reactions and
    /// deleted messages, whose text is gone or never was; a kind this build does not know
    /// passes on the text it came with.
    package var carriesText: Bool {
        switch kind {
        case .text, .action: return !deleted
        case .file, .edit, .unknown: return !deleted && !text.isEmpty
        case .delete, .react, .unreact: return false
        }
    }

    /// The wire object (as in history), without a `type`.
    package var json: JSONObject {
        var o: JSONObject = ["room": .string(room), "seq": .int(seq), "from": .string(from)]
        if carriesText { o["text"] = .string(text) }
        if case .some(let d) = extras, let name = d.unknownKind {
            o["kind"] = .string(name)
        } else {
            o["kind"] = .string(kind.rawValue)
        }
        o["ts"] = .int(ts)
        if let nonce { o["nonce"] = .string(nonce) }
        guard case .some(let d) = extras else { return o }
        if let replyTo = d.replyTo { o["reply_to"] = .int(replyTo) }
        if let target = d.target { o["target"] = .int(target) }
        if let emoji = d.emoji { o["emoji"] = .string(emoji) }
        if let file = d.file { o["file"] = .object(file.json) }
        if let editedTs = d.editedTs { o["edited_ts"] = .int(editedTs) }
        if d.deleted { o["deleted"] = .bool(true) }
        if !d.reactions.isEmpty {
            o["reactions"] = .array(
                d.reactions.map { r in
                    .object(["emoji": .string(r.emoji), "users": .array(r.users.map { .string($0) })])
                }
            )
        }
        return o
    }

    /// Reads a message object; nil when a required field is missing (see `init(wire:room:)`).
    ///
    /// - Parameters:
    ///   - json: a message object from history or an event.
    ///   - room: the room, when the object does not carry it.
    package init?(json: JSONObject, room: String? = nil) {
        guard let message = try? ChatMessage(wire: json, room: room) else { return nil }
        self = message
    }

    private enum Extras: Sendable, Equatable {
        case none
        indirect case some(MessageDetails)
    }
}

/// The fields of a message that most messages do not have.
package struct MessageDetails: Sendable, Equatable {
    package var replyTo: Int64?
    package var target: Int64?
    package var emoji: String?
    package var editedTs: Int64?
    package var deleted = false
    package var reactions: [Reaction] = []
    /// The file of a `file` message.
    package var file: FileRef?
    /// The wire name of a kind this build does not know (`kind` is then `.unknown`), so it is
    /// passed on as it came.
    package var unknownKind: String?
    /// Server side only: the seq of each user's reaction event, parallel to `reactions`
    /// (so reacting twice answers the first event's seq). Not on the wire.
    package var reactionSeqs: [[Int64]] = []

    /// Creates details.
    package init(
        replyTo: Int64? = nil,
        target: Int64? = nil,
        emoji: String? = nil,
        editedTs: Int64? = nil,
        deleted: Bool = false,
        reactions: [Reaction] = [],
        file: FileRef? = nil
    ) {
        self.file = file
        self.replyTo = replyTo
        self.target = target
        self.emoji = emoji
        self.editedTs = editedTs
        self.deleted = deleted
        self.reactions = reactions
    }

    /// Whether nothing is set.
    package var isEmpty: Bool {
        replyTo == nil && target == nil && emoji == nil && editedTs == nil && !deleted && reactions.isEmpty
            && unknownKind == nil && file == nil
    }

    /// Equal on what the wire carries (`reactionSeqs` is the server's bookkeeping).
    package static func == (a: MessageDetails, b: MessageDetails) -> Bool {
        a.replyTo == b.replyTo && a.target == b.target && a.emoji == b.emoji && a.editedTs == b.editedTs
            && a.deleted == b.deleted && a.reactions == b.reactions && a.unknownKind == b.unknownKind
            && a.file == b.file
    }
}

/// One emoji on a message and who used it, in the order they reacted.
package struct Reaction: Sendable, Equatable {
    package var emoji: String
    /// Display names.
    package var users: [String]

    /// Creates a reaction.
    ///
    /// - Parameters:
    ///   - emoji: the emoji.
    ///   - users: who reacted with it.
    package init(emoji: String, users: [String]) {
        self.emoji = emoji
        self.users = users
    }
}

/// Builders for the frames a server sends.
package enum Frames {
    /// `{"type":"ok","id":ID, ...fields}`.
    ///
    /// - Parameters:
    ///   - id: the request id.
    ///   - fields: reply fields.
    package static func ok(id: String, _ fields: JSONObject = [:]) -> JSONValue {
        var o: JSONObject = ["type": "ok", "id": .string(id)]
        o.fields.append(contentsOf: fields.fields)
        return .object(o)
    }

    /// `{"type":"error","id":ID|null,"code":...,"message":...}`.
    ///
    /// - Parameters:
    ///   - id: the request id, or nil when it could not be read.
    ///   - error: the error.
    package static func error(id: String?, _ error: ProtocolError) -> JSONValue {
        var o: JSONObject = [
            "type": "error", "id": id.map { .string($0) } ?? .null, "code": .string(error.code.rawValue),
            "message": .string(error.message),
        ]
        if let retry = error.retryAfterMs { o["retry_after_ms"] = .int(retry) }
        return .object(o)
    }

    /// An event frame.
    ///
    /// - Parameters:
    ///   - type: the event type.
    ///   - fields: event fields.
    package static func event(_ type: String, _ fields: JSONObject) -> JSONValue {
        var o: JSONObject = ["type": .string(type)]
        o.fields.append(contentsOf: fields.fields)
        return .object(o)
    }

    /// A `message` event.
    ///
    /// - Parameters:
    ///   - message: the message.
    package static func message(_ message: ChatMessage) -> JSONValue {
        event("message", message.json)
    }
}
