import ChatCore

extension Request {
    /// The request type, for logs.
    var typeName: String {
        switch self {
        case .hello: "hello"
        case .register: "register"
        case .login: "login"
        case .resume: "resume"
        case .logout: "logout"
        case .join: "join"
        case .leave: "leave"
        case .rooms: "rooms"
        case .members: "members"
        case .topic: "topic"
        case .history: "history"
        case .markRead: "mark_read"
        case .send: "send"
        case .typing: "typing"
        case .ping: "ping"
        case .create: "create"
        case .invite: "invite"
        case .kick: "kick"
        case .dm: "dm"
        }
    }

    /// The room the request names, for logs.
    var roomKey: String? {
        switch self {
        case .join(let room, _, _), .leave(let room), .members(let room), .topic(let room, _),
            .history(let room, _, _, _), .markRead(let room, _), .send(let room, _, _, _), .typing(let room),
            .create(let room, _, _), .invite(let room, _), .kick(let room, _):
            room.key
        default: nil
        }
    }
}
