/// A stored chat message as it travels in `message` events and history.
package struct ChatMessage: Sendable, Equatable {
    package var room: String
    package var seq: Int64
    package var from: String
    package var text: String
    package var kind: MessageKind
    package var ts: Int64
    package var nonce: String?

    /// Creates a message.
    ///
    /// - Parameters:
    ///   - room: room display name.
    ///   - seq: per-room sequence number, from 1.
    ///   - from: sender display name.
    ///   - text: the text.
    ///   - kind: `text` or `action`.
    ///   - ts: server time in ms since the epoch.
    ///   - nonce: the sender's idempotency nonce, if any.
    package init(
        room: String,
        seq: Int64,
        from: String,
        text: String,
        kind: MessageKind,
        ts: Int64,
        nonce: String? = nil
    ) {
        self.room = room
        self.seq = seq
        self.from = from
        self.text = text
        self.kind = kind
        self.ts = ts
        self.nonce = nonce
    }

    /// The wire object (as in history), without a `type`.
    package var json: JSONObject {
        var o: JSONObject = [
            "room": .string(room), "seq": .int(seq), "from": .string(from), "text": .string(text),
            "kind": .string(kind.rawValue), "ts": .int(ts),
        ]
        if let nonce { o["nonce"] = .string(nonce) }
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
