/// The request types of protocol v1.
package enum RequestType: String, Sendable, CaseIterable {
    case hello, register, login, resume, logout, join, leave, rooms, members, topic, history
    case markRead = "mark_read"
    case send, typing, ping
    case create, invite, kick, dm
    case edit, delete, react, unreact

    /// Whether the request may be sent before authentication.
    package var allowedBeforeAuth: Bool {
        switch self {
        case .hello, .register, .login, .resume, .ping: return true
        default: return false
        }
    }
}

/// The kind of a message: one people wrote (`text`, `action`) or a change to one.
package enum MessageKind: String, Sendable, Equatable {
    case text
    case action
    /// A shared file (`file`), with an optional caption in `text`.
    case file
    /// New text for `target`.
    case edit
    /// `target` was deleted.
    case delete
    /// `from` reacted to `target` with `emoji`.
    case react
    /// `from` took back their `emoji` on `target`.
    case unreact
    /// A kind this build does not know (a newer server's): clients ignore it.
    case unknown

    /// The kind named on the wire; an unknown name gives `.unknown`.
    ///
    /// - Parameters:
    ///   - wire: the `kind` field.
    package init(wire: String) {
        self = MessageKind(rawValue: wire) ?? .unknown
    }
}

/// A parsed, validated request.
package enum Request: Sendable, Equatable {
    case hello(version: Int64, client: String)
    case register(user: ValidName, password: String, invite: String?)
    case login(user: ValidName, password: String)
    case resume(token: String)
    case logout
    case join(room: ValidName, since: Int64?, epoch: String?)
    case leave(room: ValidName)
    case rooms
    case members(room: ValidName)
    case topic(room: ValidName, topic: String)
    case history(room: ValidName, before: Int64?, after: Int64?, limit: Int?)
    case markRead(room: ValidName, seq: Int64)
    /// `file`: the upload a `kind: "file"` message shares (nil for text and action).
    case send(
        room: ValidName,
        text: String,
        kind: MessageKind,
        nonce: String?,
        replyTo: Int64? = nil,
        file: String? = nil
    )
    case typing(room: ValidName)
    case ping
    /// Creates a room (`visibility` is `public` or `private`); the caller owns it.
    case create(room: ValidName, visibility: RoomVisibility, topic: String?)
    /// Adds a user to a private room.
    case invite(room: ValidName, user: ValidName)
    /// Removes a user from a private room (owner only).
    case kick(room: ValidName, user: ValidName)
    /// Opens the direct-message room of the caller and `user`.
    case dm(user: ValidName)
    /// Replaces the text of one of the caller's messages.
    case edit(room: ValidName, seq: Int64, text: String)
    /// Deletes a message (its author, the room's owner).
    case delete(room: ValidName, seq: Int64)
    /// Adds the caller's reaction to a message.
    case react(room: ValidName, seq: Int64, emoji: String)
    /// Takes the caller's reaction back.
    case unreact(room: ValidName, seq: Int64, emoji: String)
}

/// The outer shape of a request frame: `{"type": T, "id": ID, ...}`.
package struct RequestEnvelope: Sendable, Equatable {
    package var id: String
    package var type: String
    package var body: JSONObject

    /// Parses the envelope of a text frame.
    ///
    /// Returns the `id` when one could be read even if something else is wrong, so
    /// the error can be answered by id; a nil id means an `"id": null` error.
    ///
    /// - Parameters:
    ///   - text: the frame's text.
    ///   - maxDepth: deepest JSON nesting accepted.
    package static func parse(_ text: String, maxDepth: Int = 32) -> Result<RequestEnvelope, EnvelopeError> {
        let value: JSONValue
        do {
            value = try JSONParser(maxDepth: maxDepth).parse(text)
        } catch {
            return .failure(EnvelopeError(id: nil, error: .badRequest("frame is not valid JSON: \(error)")))
        }
        guard case .object(let body) = value else {
            return .failure(EnvelopeError(id: nil, error: .badRequest("frame must be a JSON object")))
        }
        guard case .string(let id)? = body["id"], (1...64).contains(id.unicodeScalars.count) else {
            return .failure(EnvelopeError(id: nil, error: .badRequest("'id' must be a string of 1 to 64 scalars")))
        }
        guard case .string(let type)? = body["type"] else {
            return .failure(EnvelopeError(id: id, error: .badRequest("'type' must be a string")))
        }
        return .success(RequestEnvelope(id: id, type: type, body: body))
    }
}

/// A frame whose envelope was unusable.
package struct EnvelopeError: Error, Sendable, Equatable {
    /// The id, when it could be read.
    package var id: String?
    /// What to answer.
    package var error: ProtocolError
}

extension Request {
    /// Parses and validates the fields of a request of a known type.
    ///
    /// - Parameters:
    ///   - type: the request type.
    ///   - body: the whole request object.
    ///   - limits: the server's limits (for text length).
    package static func parse(
        _ type: RequestType,
        body: JSONObject,
        limits: Limits
    ) -> Result<Request, ProtocolError> {
        do {
            let f = Fields(body)
            switch type {
            case .hello:
                guard let version = try f.optionalInt("version") else {
                    throw ProtocolError.badRequest("'version' is required")
                }
                let client = try f.string("client", maxLength: 128)
                return .success(.hello(version: version, client: client))
            case .register:
                let user = try f.userName("user")
                let password = try f.password()
                let invite = try f.optionalString("invite", maxLength: 128)
                return .success(.register(user: user, password: password, invite: invite))
            case .login:
                let user = try f.userName("user")
                return .success(.login(user: user, password: try f.password()))
            case .resume:
                return .success(.resume(token: try f.string("token", maxLength: 256)))
            case .logout:
                return .success(.logout)
            case .join:
                let room = try f.roomName("room")
                let since = try f.optionalInt("since")
                if let since, since < 0 { throw ProtocolError.badRequest("'since' must not be negative") }
                let epoch = try f.optionalString("epoch", maxLength: 128)
                return .success(.join(room: room, since: since, epoch: epoch))
            case .leave:
                return .success(.leave(room: try f.roomName("room")))
            case .rooms:
                return .success(.rooms)
            case .members:
                return .success(.members(room: try f.roomName("room")))
            case .topic:
                let room = try f.roomName("room")
                guard case .string(let topic)? = body["topic"] else {
                    throw f.invalid("topic", "a string")
                }
                if let error = TextRules.topic(topic) { throw error }
                return .success(.topic(room: room, topic: topic))
            case .history:
                let room = try f.roomName("room")
                let before = try f.optionalInt("before")
                let after = try f.optionalInt("after")
                let limit = try f.optionalInt("limit")
                if before != nil, after != nil {
                    throw ProtocolError.badRequest("'before' and 'after' cannot both be given")
                }
                if let before, before < 1 { throw ProtocolError.badRequest("'before' must be at least 1") }
                if let after, after < 0 { throw ProtocolError.badRequest("'after' must not be negative") }
                if let limit, limit < 1 { throw ProtocolError.badRequest("'limit' must be at least 1") }
                let clamped = limit.map { Int(min($0, Int64(limits.historyLimit))) }
                return .success(.history(room: room, before: before, after: after, limit: clamped))
            case .markRead:
                let room = try f.roomName("room")
                guard let seq = try f.optionalInt("seq") else { throw f.invalid("seq", "an integer") }
                if seq < 0 { throw ProtocolError.badRequest("'seq' must not be negative") }
                return .success(.markRead(room: room, seq: seq))
            case .send:
                let room = try f.roomName("room")
                let kind: MessageKind
                switch try f.optionalString("kind", maxLength: 16) {
                case nil, "text": kind = .text
                case "action": kind = .action
                case "file": kind = .file
                default: throw ProtocolError.badRequest("'kind' must be \"text\", \"action\" or \"file\"")
                }
                var file: String?
                if kind == .file {
                    guard let id = try f.optionalString("file", maxLength: 64), FileRef.isValidID(id) else {
                        throw ProtocolError.badRequest("'file' must be a file id (32 hex digits) from POST /v1/files")
                    }
                    file = id
                } else if body["file"] != nil {
                    throw ProtocolError.badRequest("'file' goes with kind \"file\"")
                }
                let text: String
                switch body["text"] {
                case .string(let value)?: text = value
                case .invalidString?: throw ProtocolError.badRequest("'text' holds an unpaired surrogate")
                case nil where kind == .file: text = ""
                default: throw f.invalid("text", "a string")
                }
                if kind != .file || !text.isEmpty { try f.checkText(text, limits: limits) }
                let nonce = try f.optionalString("nonce", maxLength: 64)
                if let nonce, nonce.isEmpty { throw ProtocolError.badRequest("'nonce' must be 1 to 64 scalars") }
                let replyTo = try f.optionalInt("reply_to")
                if let replyTo, replyTo < 1 { throw ProtocolError.badRequest("'reply_to' must be at least 1") }
                return .success(.send(room: room, text: text, kind: kind, nonce: nonce, replyTo: replyTo, file: file))
            case .typing:
                return .success(.typing(room: try f.roomName("room")))
            case .ping:
                return .success(.ping)
            case .create:
                let room = try f.roomName("room")
                let visibility: RoomVisibility
                switch try f.anyString("visibility") {
                case "public": visibility = .public
                case "private": visibility = .private
                default: throw ProtocolError.badRequest("'visibility' must be \"public\" or \"private\"")
                }
                var topic: String?
                switch body["topic"] {
                case nil, .null?: topic = nil
                case .string(let t)?:
                    if let error = TextRules.topic(t) { throw error }
                    topic = t
                default: throw f.invalid("topic", "a string")
                }
                return .success(.create(room: room, visibility: visibility, topic: topic))
            case .invite:
                return .success(.invite(room: try f.roomName("room"), user: try f.userName("user")))
            case .kick:
                return .success(.kick(room: try f.roomName("room"), user: try f.userName("user")))
            case .dm:
                return .success(.dm(user: try f.userName("user")))
            case .edit:
                let room = try f.roomName("room")
                let seq = try f.seq()
                guard let textValue = body["text"], case .string(let text) = textValue else {
                    throw f.invalid("text", "a string")
                }
                try f.checkText(text, limits: limits)
                return .success(.edit(room: room, seq: seq, text: text))
            case .delete:
                return .success(.delete(room: try f.roomName("room"), seq: try f.seq()))
            case .react, .unreact:
                let room = try f.roomName("room")
                let seq = try f.seq()
                let emoji = try f.anyString("emoji")
                if let error = TextRules.emoji(emoji) { throw error }
                return .success(
                    type == .react
                        ? .react(room: room, seq: seq, emoji: emoji) : .unreact(room: room, seq: seq, emoji: emoji)
                )
            }
        } catch let error as ProtocolError {
            return .failure(error)
        } catch {
            return .failure(.badRequest("\(error)"))
        }
    }
}

/// Typed access to request fields with contract errors.
private struct Fields {
    let body: JSONObject
    init(_ body: JSONObject) { self.body = body }

    func invalid(_ key: String, _ what: String) -> ProtocolError {
        if case .invalidString? = body[key] { return .badRequest("'\(key)' holds an unpaired surrogate") }
        return .badRequest("'\(key)' must be \(what)")
    }

    /// A string field of at most `maxLength` Unicode scalars.
    func string(_ key: String, maxLength: Int) throws -> String {
        let s = try anyString(key)
        guard s.unicodeScalars.count <= maxLength else {
            throw ProtocolError.badRequest("'\(key)' is longer than \(maxLength) scalars")
        }
        return s
    }

    /// A string field whose length the caller checks.
    func anyString(_ key: String) throws -> String {
        guard case .string(let s)? = body[key] else { throw invalid(key, "a string") }
        return s
    }

    func optionalString(_ key: String, maxLength: Int) throws -> String? {
        switch body[key] {
        case nil, .null?: return nil
        default: return try string(key, maxLength: maxLength)
        }
    }

    func optionalInt(_ key: String) throws -> Int64? {
        switch body[key] {
        case nil, .null?: return nil
        case .int(let i)?: return i
        default: throw invalid(key, "an integer")
        }
    }

    func userName(_ key: String) throws -> ValidName {
        try TextRules.userName(try anyString(key)).get()
    }

    func roomName(_ key: String) throws -> ValidName {
        try TextRules.roomName(try anyString(key)).get()
    }

    /// The `seq` a change names: an integer, at least 1.
    func seq() throws -> Int64 {
        guard let seq = try optionalInt("seq") else { throw invalid("seq", "an integer") }
        guard seq >= 1 else { throw ProtocolError.badRequest("'seq' must be at least 1") }
        return seq
    }

    /// The rules of `send`'s text.
    func checkText(_ text: String, limits: Limits) throws {
        if let error = TextRules.messageText(text, maxText: limits.maxText) { throw error }
    }

    func password() throws -> String {
        guard case .string(let p)? = body["password"] else { throw invalid("password", "a string") }
        guard (8...1024).contains(p.utf8.count) else {
            throw ProtocolError.badRequest("password must be 8 to 1024 bytes")
        }
        return p
    }
}
