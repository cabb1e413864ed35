import ChatCore

// The WebSocket/JSON adapter: the hub core's typed replies and events as protocol v1, through
// ChatCore's typed wire (docs/PROTOCOL.md). Another protocol (an IRC gateway) would be a second
// adapter beside this one.

extension HubReply {
    /// The reply as protocol v1 (ChatCore's typed wire); `json` is what `Frames.ok(id:_:)` takes.
    var wire: any WireReply {
        switch self {
        case .ok:
            return EmptyReply()
        case .authenticated(let user, let token, let rooms):
            return AuthReply(
                user: user,
                token: token,
                rooms: rooms.map {
                    AuthReply.Room(
                        name: $0.name,
                        head: $0.head,
                        read: $0.read,
                        visibility: $0.visibility,
                        owner: $0.owner
                    )
                }
            )
        case .joined(let room):
            return JoinReply(
                room: JoinReply.Room(name: room.name, topic: room.topic, head: room.head, epoch: room.epoch),
                messages: Array(room.messages),
                limited: room.limited,
                reset: room.reset
            )
        case .history(let messages, let more):
            return HistoryReply(messages: Array(messages), more: more)
        case .rooms(let rooms):
            return RoomsReply(
                rooms: rooms.map {
                    RoomsReply.Room(
                        name: $0.name,
                        topic: $0.topic,
                        members: Int64($0.members),
                        head: $0.head,
                        visibility: $0.visibility,
                        owner: $0.owner
                    )
                }
            )
        case .members(let members):
            return MembersReply(members: members.map { MembersReply.Member(user: $0.user, online: $0.online) })
        case .sent(let seq, let ts):
            return SendReply(seq: seq, ts: ts)
        case .created(let room, let head, let epoch):
            return CreateReply(room: room, head: head, epoch: epoch)
        case .directRoom(let room):
            return DMReply(room: room)
        }
    }

    /// The reply's fields, for `Frames.ok(id:_:)`.
    var json: JSONObject { wire.json }
}

extension HubReply {
    /// About how many bytes a reply that can be large takes on the wire (nil: a small one).
    var estimatedBytes: Int? {
        func size(_ messages: ArraySlice<ChatMessage>) -> Int {
            messages.reduce(128) { total, m in
                total + m.text.utf8.count + m.from.utf8.count + m.room.utf8.count + (m.nonce?.utf8.count ?? 0) + 96
                    + m.reactions.reduce(0) { sum, r in
                        sum + r.emoji.utf8.count + 24 + r.users.reduce(0) { $0 + $1.utf8.count + 3 }
                    } + (m.emoji?.utf8.count ?? 0)
            }
        }
        switch self {
        case .history(let messages, _): return size(messages)
        case .joined(let room): return size(room.messages) + room.topic.utf8.count + room.name.utf8.count
        case .rooms(let rooms): return rooms.reduce(64) { $0 + $1.name.utf8.count + $1.topic.utf8.count + 64 }
        case .members(let members): return members.reduce(64) { $0 + $1.user.utf8.count + 32 }
        case .ok, .authenticated, .sent, .created, .directRoom: return nil
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
    /// The event as protocol v1 (ChatCore's typed wire).
    var wire: ChatEvent {
        switch self {
        case .message(let message): .message(message)
        case .joined(let room, let user): .joined(room: room, user: user)
        case .left(let room, let user): .left(room: room, user: user)
        case .topic(let room, let topic, let by): .topic(room: room, topic: topic, by: by)
        case .typing(let room, let user): .typing(room: room, user: user)
        case .presence(let user, let online): .presence(user: user, online: online)
        case .read(let room, let seq): .read(room: room, seq: seq)
        case .added(let room, let by, let visibility): .added(room: room, by: by, visibility: visibility)
        case .removed(let room, let by): .removed(room: room, by: by)
        }
    }

    /// The event frame.
    var frame: JSONValue { wire.frame }
}
