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

extension RoomHub {
    /// Shortest token or invite id accepted by `revoke`.
    static let minimumIDLength = 6
    /// Characters of a hash shown as a token or invite id.
    static let shownIDLength = 12

    /// An invite code as typed: case and separators do not matter.
    ///
    /// - Parameters:
    ///   - code: the code as entered.
    package static func normalizedInvite(_ code: String) -> String {
        String(code.uppercased().unicodeScalars.filter { $0 != "-" && $0 != " " })
    }

    /// A new invite code: 120 random bits in Crockford base32 (24 characters, grouped by 4).
    package static func newInviteCode() -> String {
        let alphabet = Array("0123456789ABCDEFGHJKMNPQRSTVWXYZ")
        var rng = SystemRandomNumberGenerator()
        let chars = (0..<24).map { _ in alphabet[Int.random(in: 0..<32, using: &rng)] }
        return stride(from: 0, to: 24, by: 4).map { String(chars[$0..<$0 + 4]) }.joined(separator: "-")
    }

    /// Runs an operator's command.
    ///
    /// - Parameters:
    ///   - command: the command.
    /// - Returns: the result, as the CLI prints it.
    package func admin(_ command: AdminCommand) async throws(AdminError) -> JSONObject {
        switch command {
        case .addUser(let name, let hash):
            let user = try Self.validUser(name)
            guard state.users[user.key] == nil else { throw AdminError("user '\(user.display)' already exists") }
            try await store([.userCreated(name: user.display, passwordHash: hash, ts: wallClock())])
            return ["user": .string(user.display)]
        case .setPassword(let name, let hash):
            let key = try existingUser(name)
            let revoked = tokenHashes(of: key)
            try await store(
                [.passwordChanged(user: key, passwordHash: hash)] + revoked.map { .tokenRevoked(tokenHash: $0) }
            )
            endSessions(of: key)
            return ["user": .string(state.users[key]?.name ?? name), "tokens_revoked": .int(Int64(revoked.count))]
        case .setDisabled(let name, let disabled):
            let key = try existingUser(name)
            let revoked = disabled ? tokenHashes(of: key) : []
            try await store(
                [.userDisabled(user: key, disabled: disabled)] + revoked.map { .tokenRevoked(tokenHash: $0) }
            )
            if disabled { endSessions(of: key) }
            return [
                "user": .string(state.users[key]?.name ?? name), "disabled": .bool(disabled),
                "tokens_revoked": .int(Int64(revoked.count)),
            ]
        case .listUsers:
            let tokenCounts = Dictionary(state.tokens.values.map { ($0, 1) }, uniquingKeysWith: +)
            let users = state.users.sorted { codePointLess($0.value.name, $1.value.name) }.map { key, user in
                JSONValue.object([
                    "name": .string(user.name), "created": .int(user.createdAt), "disabled": .bool(user.disabled),
                    "rooms": .int(Int64(user.rooms.count)), "tokens": .int(Int64(tokenCounts[key] ?? 0)),
                    "online": .int(Int64(userConnections[key]?.count ?? 0)),
                ])
            }
            return ["users": .array(users)]
        case .createInvite(let uses, let expiresIn):
            guard uses >= 1 else { throw AdminError("an invite needs at least one use") }
            guard expiresIn >= 0 else { throw AdminError("the expiry must not be negative") }
            let code = Self.newInviteCode()
            let hash = PasswordHasher.tokenHash(Self.normalizedInvite(code))
            let now = wallClock()
            let expiresAt = expiresIn == 0 ? 0 : now + expiresIn * 1000
            try await store([.inviteCreated(codeHash: hash, uses: uses, expiresAt: expiresAt, ts: now)])
            return [
                "code": .string(code), "id": .string(String(hash.prefix(Self.shownIDLength))), "uses": .int(uses),
                "expires": .int(expiresAt),
            ]
        case .listInvites:
            let now = wallClock()
            let invites = state.invites.sorted { $0.value.createdAt < $1.value.createdAt }.map { hash, invite in
                JSONValue.object([
                    "id": .string(String(hash.prefix(Self.shownIDLength))), "uses_left": .int(invite.usesLeft),
                    "created": .int(invite.createdAt), "expires": .int(invite.expiresAt),
                    "expired": .bool(invite.expiresAt != 0 && now >= invite.expiresAt),
                ])
            }
            return ["invites": .array(invites)]
        case .revokeInvite(let id):
            let hash = try Self.match(id, in: Array(state.invites.keys), what: "invite")
            try await store([.inviteRevoked(codeHash: hash)])
            return ["revoked": .int(1)]
        case .listTokens(let name):
            let key = try existingUser(name)
            let live = sessions.values.reduce(into: [String: Int64]()) { counts, session in
                if session.userKey == key, let hash = session.tokenHash { counts[hash, default: 0] += 1 }
            }
            let tokens = tokenHashes(of: key).sorted { (state.tokenIssuedAt[$0] ?? 0) < (state.tokenIssuedAt[$1] ?? 0) }
                .map { hash in
                    JSONValue.object([
                        "id": .string(String(hash.prefix(Self.shownIDLength))),
                        "issued": .int(state.tokenIssuedAt[hash] ?? 0), "connections": .int(live[hash] ?? 0),
                    ])
                }
            return ["user": .string(state.users[key]?.name ?? name), "tokens": .array(tokens)]
        case .revokeTokens(let name, let id):
            let key = try existingUser(name)
            let owned = tokenHashes(of: key)
            var revoked = owned
            if let id { revoked = [try Self.match(id, in: owned, what: "token")] }
            try await store(revoked.map { .tokenRevoked(tokenHash: $0) })
            let set = Set(revoked)
            for session in sessions.values where session.tokenHash.map(set.contains) == true {
                session.conn.close(.sessionRevoked, reason: "session revoked")
            }
            return ["user": .string(state.users[key]?.name ?? name), "revoked": .int(Int64(revoked.count))]
        }
    }

    private func store(_ records: [LogRecord]) async throws(AdminError) {
        guard !records.isEmpty else { return }
        switch await persist(records) {
        case .stored: return
        case .refused: throw AdminError("the server cannot store changes (storage failed earlier; see its log)")
        case .failed: throw AdminError("storing the change failed; see the server log")
        }
    }

    private static func validUser(_ name: String) throws(AdminError) -> ValidName {
        switch TextRules.userName(name) {
        case .success(let user): return user
        case .failure(let error): throw AdminError(error.message)
        }
    }

    private func existingUser(_ name: String) throws(AdminError) -> String {
        let key = try Self.validUser(name).key
        guard state.users[key] != nil else { throw AdminError("no user '\(name)'") }
        return key
    }

    private func tokenHashes(of userKey: String) -> [String] {
        state.tokens.compactMap { $0.value == userKey ? $0.key : nil }
    }

    /// Closes every connection the user has open (after their tokens were revoked).
    private func endSessions(of userKey: String) {
        for session in sessions.values where session.userKey == userKey {
            session.conn.close(.sessionRevoked, reason: "session revoked")
        }
    }

    private static func match(_ id: String, in hashes: [String], what: String) throws(AdminError) -> String {
        let id = id.lowercased()
        guard id.count >= minimumIDLength else {
            throw AdminError("a \(what) id needs at least \(minimumIDLength) characters")
        }
        let matches = hashes.filter { $0.hasPrefix(id) }
        guard matches.count == 1, let hash = matches.first else {
            throw AdminError(matches.isEmpty ? "no \(what) with id '\(id)'" : "the \(what) id '\(id)' is ambiguous")
        }
        return hash
    }
}
