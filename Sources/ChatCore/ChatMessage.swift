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

    /// Reads a message object; nil when a required field is missing.
    ///
    /// - Parameters:
    ///   - json: a message object from history or an event.
    ///   - room: the room, when the object does not carry it.
    package init?(json: JSONObject, room: String? = nil) {
        guard let seq = json["seq"]?.intValue, let from = json["from"]?.stringValue,
            let text = json["text"]?.stringValue, let ts = json["ts"]?.intValue,
            let room = json["room"]?.stringValue ?? room
        else { return nil }
        self.init(
            room: room,
            seq: seq,
            from: from,
            text: text,
            kind: MessageKind(rawValue: json["kind"]?.stringValue ?? "text") ?? .text,
            ts: ts,
            nonce: json["nonce"]?.stringValue
        )
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

/// A frame as a client receives it.
package enum ServerFrame: Sendable, Equatable {
    case ok(id: String, body: JSONObject)
    case error(id: String?, ProtocolError)
    case event(ChatEvent)

    /// Parses a server frame; nil when it is not a protocol frame.
    ///
    /// - Parameters:
    ///   - text: the frame text.
    package static func parse(_ text: String) -> ServerFrame? {
        guard case .object(let o)? = try? JSONParser(maxDepth: 64).parse(text),
            let type = o["type"]?.stringValue
        else { return nil }
        switch type {
        case "ok":
            guard let id = o["id"]?.stringValue else { return nil }
            return .ok(id: id, body: o)
        case "error":
            let code = ErrorCode(rawValue: o["code"]?.stringValue ?? "internal")
            let error = ProtocolError(
                code,
                o["message"]?.stringValue ?? "",
                retryAfterMs: o["retry_after_ms"]?.intValue
            )
            return .error(id: o["id"]?.stringValue, error)
        default:
            return .event(ChatEvent(type: type, body: o))
        }
    }
}

/// A server event, decoded.
package enum ChatEvent: Sendable, Equatable {
    case message(ChatMessage)
    case joined(room: String, user: String)
    case left(room: String, user: String)
    case presence(user: String, online: Bool)
    case topic(room: String, topic: String, by: String)
    case typing(room: String, user: String)
    case read(room: String, seq: Int64)
    case other(type: String, body: JSONObject)

    /// Decodes an event object.
    ///
    /// - Parameters:
    ///   - type: the `type` field.
    ///   - body: the whole object.
    package init(type: String, body o: JSONObject) {
        let room = o["room"]?.stringValue
        let user = o["user"]?.stringValue
        switch type {
        case "message":
            if let m = ChatMessage(json: o) {
                self = .message(m)
                return
            }
        case "joined":
            if let room, let user {
                self = .joined(room: room, user: user)
                return
            }
        case "left":
            if let room, let user {
                self = .left(room: room, user: user)
                return
            }
        case "presence":
            if let user, let online = o["online"]?.boolValue {
                self = .presence(user: user, online: online)
                return
            }
        case "topic":
            if let room, let topic = o["topic"]?.stringValue {
                self = .topic(room: room, topic: topic, by: o["by"]?.stringValue ?? "")
                return
            }
        case "typing":
            if let room, let user {
                self = .typing(room: room, user: user)
                return
            }
        case "read":
            if let room, let seq = o["seq"]?.intValue {
                self = .read(room: room, seq: seq)
                return
            }
        default: break
        }
        self = .other(type: type, body: o)
    }
}
