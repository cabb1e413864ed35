/// The one decoder of message objects, as they come in `message` events and in the
/// `messages` of `join` and `history` replies.
extension ChatMessage {
    /// Decodes a message object: `{room, seq, from, text?, kind, ts, nonce?, reply_to?,
    /// target?, emoji?, file?, edited_ts?, deleted?, reactions?}`.
    ///
    /// `seq`, `from`, `ts` and `room` are required (`room` may come from the caller when
    /// the object has none); `text` is required of `text` and `action` messages that are
    /// not deleted. A missing `kind` reads as `text`; one this client does not know reads
    /// as `.unknown` (clients ignore those, but still count their seq).
    ///
    /// - Parameters:
    ///   - json: the message object.
    ///   - room: the room, when the object does not carry it.
    package init(wire json: JSONObject, room: String? = nil) throws(WireDecodingError) {
        try self.init(fields: WireFields(json), room: room)
    }

    init(fields f: WireFields, room: String?) throws(WireDecodingError) {
        let seq = try f.int("seq")
        let from = try f.string("from")
        let ts = try f.int("ts")
        guard let room = try f.optionalString("room") ?? room else { throw .missing(f.at("room")) }
        let kindName = try f.optionalString("kind")
        let kind = kindName.map(MessageKind.init(wire:)) ?? .text
        var details = MessageDetails()
        if kind == .unknown { details.unknownKind = kindName }
        details.deleted = try f.value("deleted").map { _ throws(WireDecodingError) in try f.bool("deleted") } ?? false
        let text: String
        if (kind == .text || kind == .action) && !details.deleted {
            text = try f.string("text")
        } else {
            text = try f.optionalString("text") ?? ""
        }
        details.replyTo = try f.optionalInt("reply_to")
        details.target = try f.optionalInt("target")
        details.emoji = try f.optionalString("emoji")
        details.editedTs = try f.optionalInt("edited_ts")
        if f.value("file") != nil { details.file = try FileRef(fields: try f.object("file")) }
        if f.value("reactions") != nil {
            details.reactions = try f.objects("reactions") { r throws(WireDecodingError) in
                guard let users = try r.required("users").arrayValue else {
                    throw .wrongType(r.at("users"), expected: "an array")
                }
                var names: [String] = []
                for (i, u) in users.enumerated() {
                    guard let name = u.stringValue else { throw .wrongType(r.at("users[\(i)]"), expected: "a string") }
                    names.append(name)
                }
                return Reaction(emoji: try r.string("emoji"), users: names)
            }
        }
        self.init(
            room: room,
            seq: seq,
            from: from,
            text: text,
            kind: kind,
            ts: ts,
            nonce: try f.optionalString("nonce"),
            details: details
        )
    }

    /// Decodes the message list of a reply (`messages` of `join` or `history`), oldest first.
    ///
    /// - Parameters:
    ///   - json: the reply object.
    ///   - key: the list's field.
    ///   - room: the room for messages that do not carry one.
    package static func list(
        in json: JSONObject,
        key: String = "messages",
        room: String? = nil
    ) throws(WireDecodingError) -> [ChatMessage] {
        try list(in: WireFields(json), key: key, room: room)
    }

    static func list(in f: WireFields, key: String, room: String?) throws(WireDecodingError) -> [ChatMessage] {
        try f.objects(key) { m throws(WireDecodingError) in try ChatMessage(fields: m, room: room) }
    }

    /// The wire form of a message list.
    ///
    /// - Parameters:
    ///   - messages: the messages, oldest first.
    package static func listJSON(_ messages: some Sequence<ChatMessage>) -> JSONValue {
        .array(messages.map { .object($0.json) })
    }
}
