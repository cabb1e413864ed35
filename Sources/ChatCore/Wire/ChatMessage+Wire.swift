/// The one decoder of message objects, as they come in `message` events and in the
/// `messages` of `join` and `history` replies.
extension ChatMessage {
    /// Decodes a message object: `{room, seq, from, text, kind, ts, nonce?}`.
    ///
    /// `seq`, `from`, `text`, `ts` and `room` are required (`room` may come from the
    /// caller when the object has none); a missing `kind`, or one this client does not
    /// know, reads as `text`.
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
        let text = try f.string("text")
        let ts = try f.int("ts")
        guard let room = try f.optionalString("room") ?? room else { throw .missing(f.at("room")) }
        let kind = try f.optionalString("kind").flatMap(MessageKind.init(rawValue:)) ?? .text
        self.init(
            room: room,
            seq: seq,
            from: from,
            text: text,
            kind: kind,
            ts: ts,
            nonce: try f.optionalString("nonce")
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
