/// A server event, typed both ways.
///
/// The server writes an event with `event.frame`; a client decodes one with
/// `init(json:)` (usually through `ServerFrame`). Field order is the server's:
/// `type` first, then the fields as listed in PROTOCOL.md §6.8 and §7.3.
package enum ChatEvent: Sendable, Equatable {
    case message(ChatMessage)
    case joined(room: String, user: String)
    case left(room: String, user: String)
    case presence(user: String, online: Bool)
    case topic(room: String, topic: String, by: String)
    case typing(room: String, user: String)
    case read(room: String, seq: Int64)
    /// The user was made a member of a room (`invite`, or the peer opened a direct-message room).
    case added(room: String, by: String, visibility: RoomVisibility)
    /// The user was removed from a room (`kick`).
    case removed(room: String, by: String)
    /// An event type this client does not know; clients must ignore it.
    case other(type: String, body: JSONObject)

    /// Decodes an event object. An unknown `type` gives `.other`; a known type with a
    /// missing or mistyped field is an error.
    ///
    /// - Parameters:
    ///   - o: the whole event object, `type` included.
    package init(json o: JSONObject) throws(WireDecodingError) {
        let f = WireFields(o)
        let type = try f.string("type")
        switch type {
        case "message": self = .message(try ChatMessage(fields: f, room: nil))
        case "joined": self = .joined(room: try f.string("room"), user: try f.string("user"))
        case "left": self = .left(room: try f.string("room"), user: try f.string("user"))
        case "presence": self = .presence(user: try f.string("user"), online: try f.bool("online"))
        case "topic": self = .topic(room: try f.string("room"), topic: try f.string("topic"), by: try f.string("by"))
        case "typing": self = .typing(room: try f.string("room"), user: try f.string("user"))
        case "read": self = .read(room: try f.string("room"), seq: try f.int("seq"))
        case "added":
            self = .added(
                room: try f.string("room"),
                by: try f.string("by"),
                visibility: RoomVisibility(wire: try f.string("visibility"))
            )
        case "removed": self = .removed(room: try f.string("room"), by: try f.string("by"))
        default: self = .other(type: type, body: o)
        }
    }

    /// The event's `type`.
    package var type: String {
        switch self {
        case .message: return "message"
        case .joined: return "joined"
        case .left: return "left"
        case .presence: return "presence"
        case .topic: return "topic"
        case .typing: return "typing"
        case .read: return "read"
        case .added: return "added"
        case .removed: return "removed"
        case .other(let type, _): return type
        }
    }

    /// The whole event object, `type` first.
    package var json: JSONObject {
        switch self {
        case .message(let m):
            var o: JSONObject = ["type": "message"]
            o.fields.append(contentsOf: m.json.fields)
            return o
        case .joined(let room, let user):
            return ["type": "joined", "room": .string(room), "user": .string(user)]
        case .left(let room, let user):
            return ["type": "left", "room": .string(room), "user": .string(user)]
        case .presence(let user, let online):
            return ["type": "presence", "user": .string(user), "online": .bool(online)]
        case .topic(let room, let topic, let by):
            return ["type": "topic", "room": .string(room), "topic": .string(topic), "by": .string(by)]
        case .typing(let room, let user):
            return ["type": "typing", "room": .string(room), "user": .string(user)]
        case .read(let room, let seq):
            return ["type": "read", "room": .string(room), "seq": .int(seq)]
        case .added(let room, let by, let visibility):
            return [
                "type": "added", "room": .string(room), "by": .string(by), "visibility": .string(visibility.rawValue),
            ]
        case .removed(let room, let by):
            return ["type": "removed", "room": .string(room), "by": .string(by)]
        case .other(_, let body):
            return body
        }
    }

    /// The event frame as the server sends it.
    package var frame: JSONValue { .object(json) }
}
