import ChatCore
import ChatLog

/// An operator's command for accounts, invites and tokens (`chat-server user|invite|token`).
///
/// The same commands run offline (the CLI opens the data directory itself) and
/// against a running server (over the admin socket in the data directory), through
/// `RoomHub.admin(_:)`, so both paths have one meaning.
package enum AdminCommand: Sendable, Equatable {
    case addUser(name: String, passwordHash: String)
    /// Also revokes every token of the user (their sessions end).
    case setPassword(name: String, passwordHash: String)
    /// Disabling also revokes every token of the user.
    case setDisabled(name: String, disabled: Bool)
    case listUsers
    /// `expiresIn`: seconds from now; 0: never.
    case createInvite(uses: Int64, expiresIn: Int64)
    case listInvites
    case revokeInvite(id: String)
    case listTokens(name: String)
    /// `id`: a token id (a prefix of its hash, as `listTokens` shows); nil: every token of the user.
    case revokeTokens(name: String, id: String?)
    /// Deletes a message (its text is gone; a `delete` event from `server` is published).
    case deleteMessage(room: String, seq: Int64)
    /// Lists uploads (of one user, or of everyone).
    case listFiles(user: String?)
    /// Removes an upload (its bytes go at the running server's next file sweep, or at start).
    case removeFile(id: String)
    /// Bytes and uploads by user.
    case fileUsage

    /// The wire form on the admin socket.
    package var json: JSONObject {
        switch self {
        case .addUser(let name, let hash):
            ["op": "user.add", "name": .string(name), "password_hash": .string(hash)]
        case .setPassword(let name, let hash):
            ["op": "user.passwd", "name": .string(name), "password_hash": .string(hash)]
        case .setDisabled(let name, let disabled):
            ["op": "user.disable", "name": .string(name), "disabled": .bool(disabled)]
        case .listUsers:
            ["op": "user.list"]
        case .createInvite(let uses, let expiresIn):
            ["op": "invite.create", "uses": .int(uses), "expires_in": .int(expiresIn)]
        case .listInvites:
            ["op": "invite.list"]
        case .revokeInvite(let id):
            ["op": "invite.revoke", "id": .string(id)]
        case .listTokens(let name):
            ["op": "token.list", "name": .string(name)]
        case .revokeTokens(let name, let id):
            ["op": "token.revoke", "name": .string(name), "id": id.map { .string($0) } ?? .null]
        case .deleteMessage(let room, let seq):
            ["op": "message.delete", "room": .string(room), "seq": .int(seq)]
        case .listFiles(let user):
            ["op": "file.list", "user": user.map { .string($0) } ?? .null]
        case .removeFile(let id):
            ["op": "file.remove", "id": .string(id)]
        case .fileUsage:
            ["op": "file.usage"]
        }
    }

    /// Parses the wire form.
    ///
    /// - Parameters:
    ///   - object: the request body.
    package init(json object: JSONObject) throws(AdminError) {
        func string(_ key: String) throws(AdminError) -> String {
            guard let value = object[key]?.stringValue else { throw AdminError("'\(key)' must be a string") }
            return value
        }
        func int(_ key: String) throws(AdminError) -> Int64 {
            guard let value = object[key]?.intValue else { throw AdminError("'\(key)' must be an integer") }
            return value
        }
        switch object["op"]?.stringValue {
        case "user.add": self = .addUser(name: try string("name"), passwordHash: try string("password_hash"))
        case "user.passwd": self = .setPassword(name: try string("name"), passwordHash: try string("password_hash"))
        case "user.disable":
            guard let disabled = object["disabled"]?.boolValue else { throw AdminError("'disabled' must be a boolean") }
            self = .setDisabled(name: try string("name"), disabled: disabled)
        case "user.list": self = .listUsers
        case "invite.create": self = .createInvite(uses: try int("uses"), expiresIn: try int("expires_in"))
        case "invite.list": self = .listInvites
        case "invite.revoke": self = .revokeInvite(id: try string("id"))
        case "token.list": self = .listTokens(name: try string("name"))
        case "token.revoke":
            let id: String? = object["id"] == nil || object["id"] == .null ? nil : try string("id")
            self = .revokeTokens(name: try string("name"), id: id)
        case "message.delete": self = .deleteMessage(room: try string("room"), seq: try int("seq"))
        case "file.list":
            let user: String? = object["user"] == nil || object["user"] == .null ? nil : try string("user")
            self = .listFiles(user: user)
        case "file.remove": self = .removeFile(id: try string("id"))
        case "file.usage": self = .fileUsage
        case let op?: throw AdminError("unknown admin operation '\(op)'")
        case nil: throw AdminError("'op' is required")
        }
    }
}

/// Why an admin command was refused; the message is for the operator.
package struct AdminError: Error, Equatable, CustomStringConvertible {
    package let description: String
    package init(_ description: String) { self.description = description }
}
