import ChatCore

extension Request {
    /// The request type, for logs.
    var typeName: String {
        requestType.rawValue
    }

    /// The room the request names, for logs.
    var roomKey: String? {
        switch self {
        case .join(let room, _, _), .leave(let room), .members(let room), .topic(let room, _),
            .history(let room, _, _, _), .markRead(let room, _), .send(let room, _, _, _, _, _), .typing(let room),
            .create(let room, _, _), .invite(let room, _), .kick(let room, _), .edit(let room, _, _),
            .delete(let room, _), .react(let room, _, _), .unreact(let room, _, _):
            room.key
        default: nil
        }
    }
}
