/// The encoder of client requests: `Request` → the frame PROTOCOL.md describes.
///
/// Names are written in their NFC display form (the server normalises them the same
/// way), optional fields only when set, and `kind` only for actions. Encoding and
/// then `Request.parse` gives back the same request.
extension Request: WireRequest {
    /// The request's type.
    package var requestType: RequestType {
        switch self {
        case .hello: return .hello
        case .register: return .register
        case .login: return .login
        case .resume: return .resume
        case .logout: return .logout
        case .join: return .join
        case .leave: return .leave
        case .rooms: return .rooms
        case .members: return .members
        case .topic: return .topic
        case .history: return .history
        case .markRead: return .markRead
        case .send: return .send
        case .typing: return .typing
        case .ping: return .ping
        case .create: return .create
        case .invite: return .invite
        case .kick: return .kick
        case .dm: return .dm
        case .edit: return .edit
        case .delete: return .delete
        case .react: return .react
        case .unreact: return .unreact
        }
    }

    package var wireType: String { requestType.rawValue }

    package var fields: JSONObject {
        switch self {
        case .hello(let version, let client):
            return ["version": .int(version), "client": .string(client)]
        case .register(let user, let password, let invite):
            var o: JSONObject = ["user": .string(user.display), "password": .string(password)]
            if let invite { o["invite"] = .string(invite) }
            return o
        case .login(let user, let password):
            return ["user": .string(user.display), "password": .string(password)]
        case .resume(let token):
            return ["token": .string(token)]
        case .logout, .rooms, .ping:
            return [:]
        case .join(let room, let since, let epoch):
            var o: JSONObject = ["room": .string(room.display)]
            if let since { o["since"] = .int(since) }
            if let epoch { o["epoch"] = .string(epoch) }
            return o
        case .leave(let room), .members(let room), .typing(let room):
            return ["room": .string(room.display)]
        case .topic(let room, let topic):
            return ["room": .string(room.display), "topic": .string(topic)]
        case .history(let room, let before, let after, let limit):
            var o: JSONObject = ["room": .string(room.display)]
            if let before { o["before"] = .int(before) }
            if let after { o["after"] = .int(after) }
            if let limit { o["limit"] = .int(Int64(limit)) }
            return o
        case .markRead(let room, let seq):
            return ["room": .string(room.display), "seq": .int(seq)]
        case .send(let room, let text, let kind, let nonce, let replyTo, let file):
            var o: JSONObject = ["room": .string(room.display)]
            if kind != .file || !text.isEmpty { o["text"] = .string(text) }
            if kind != .text { o["kind"] = .string(kind.rawValue) }
            if let file { o["file"] = .string(file) }
            if let nonce { o["nonce"] = .string(nonce) }
            if let replyTo { o["reply_to"] = .int(replyTo) }
            return o
        case .create(let room, let visibility, let topic):
            var o: JSONObject = ["room": .string(room.display), "visibility": .string(visibility.rawValue)]
            if let topic { o["topic"] = .string(topic) }
            return o
        case .invite(let room, let user), .kick(let room, let user):
            return ["room": .string(room.display), "user": .string(user.display)]
        case .dm(let user):
            return ["user": .string(user.display)]
        case .edit(let room, let seq, let text):
            return ["room": .string(room.display), "seq": .int(seq), "text": .string(text)]
        case .delete(let room, let seq):
            return ["room": .string(room.display), "seq": .int(seq)]
        case .react(let room, let seq, let emoji), .unreact(let room, let seq, let emoji):
            return ["room": .string(room.display), "seq": .int(seq), "emoji": .string(emoji)]
        }
    }

    /// Validates a room name for a request, with the server's error for a bad one.
    ///
    /// - Parameters:
    ///   - raw: the name as the user wrote it.
    package static func room(_ raw: String) throws(ProtocolError) -> ValidName {
        try TextRules.roomName(raw).get()
    }

    /// Validates a user name for a request, with the server's error for a bad one.
    ///
    /// - Parameters:
    ///   - raw: the name as the user wrote it.
    package static func user(_ raw: String) throws(ProtocolError) -> ValidName {
        try TextRules.userName(raw).get()
    }
}
