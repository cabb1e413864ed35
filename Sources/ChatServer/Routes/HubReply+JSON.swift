import ChatCore

// The WebSocket/JSON adapter's encoding of the hub core's typed replies and events
// (protocol v1, docs/PROTOCOL.md).

extension HubReply {
    /// The reply's fields, for `Frames.ok(id:_:)`.
    var json: JSONObject {
        switch self {
        case .ok:
            return [:]
        case .authenticated(let user, let token, let rooms):
            var o: JSONObject = ["user": .string(user)]
            if let token { o["token"] = .string(token) }
            o["rooms"] = .array(
                rooms.map { .object(["name": .string($0.name), "head": .int($0.head), "read": .int($0.read)]) }
            )
            return o
        case .joined(let room):
            return [
                "room": .object([
                    "name": .string(room.name), "topic": .string(room.topic), "head": .int(room.head),
                    "epoch": .string(room.epoch),
                ]),
                "messages": .array(room.messages.map { .object($0.json) }),
                "limited": .bool(room.limited),
                "reset": .bool(room.reset),
            ]
        case .history(let messages, let more):
            return ["messages": .array(messages.map { .object($0.json) }), "more": .bool(more)]
        case .rooms(let rooms):
            return [
                "rooms": .array(
                    rooms.map {
                        .object([
                            "name": .string($0.name), "topic": .string($0.topic),
                            "members": .int(Int64($0.members)), "head": .int($0.head),
                        ])
                    }
                )
            ]
        case .members(let members):
            return ["members": .array(members.map { .object(["user": .string($0.user), "online": .bool($0.online)]) })]
        case .sent(let seq, let ts):
            return ["seq": .int(seq), "ts": .int(ts)]
        }
    }
}

extension HubReply {
    /// About how many bytes a reply that can be large takes on the wire (nil: a small one).
    var estimatedBytes: Int? {
        func size(_ messages: ArraySlice<ChatMessage>) -> Int {
            messages.reduce(128) { total, m in
                total + m.text.utf8.count + m.from.utf8.count + m.room.utf8.count + (m.nonce?.utf8.count ?? 0) + 96
            }
        }
        switch self {
        case .history(let messages, _): return size(messages)
        case .joined(let room): return size(room.messages) + room.topic.utf8.count + room.name.utf8.count
        case .rooms(let rooms): return rooms.reduce(64) { $0 + $1.name.utf8.count + $1.topic.utf8.count + 64 }
        case .members(let members): return members.reduce(64) { $0 + $1.user.utf8.count + 32 }
        case .ok, .authenticated, .sent: return nil
        }
    }
}

extension ProtocolError {
    /// A reply that would not fit in what the connection may have queued.
    static func replyWouldNotFit(bytes: Int) -> ProtocolError {
        ProtocolError(
            .rateLimited,
            "the reply (about \(bytes) bytes) does not fit in what this connection may have queued; "
                + "read what was sent, then retry",
            retryAfterMs: 1000
        )
    }
}

extension HubEvent {
    /// The event frame.
    var frame: JSONValue {
        switch self {
        case .message(let message):
            Frames.message(message)
        case .joined(let room, let user):
            Frames.event("joined", ["room": .string(room), "user": .string(user)])
        case .left(let room, let user):
            Frames.event("left", ["room": .string(room), "user": .string(user)])
        case .topic(let room, let topic, let by):
            Frames.event("topic", ["room": .string(room), "topic": .string(topic), "by": .string(by)])
        case .typing(let room, let user):
            Frames.event("typing", ["room": .string(room), "user": .string(user)])
        case .presence(let user, let online):
            Frames.event("presence", ["user": .string(user), "online": .bool(online)])
        case .read(let room, let seq):
            Frames.event("read", ["room": .string(room), "seq": .int(seq)])
        }
    }
}
