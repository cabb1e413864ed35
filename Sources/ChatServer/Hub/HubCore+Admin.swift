import ChatCore
import ChatLog

/// An operator's command as the core decides it: the records to store, the answer to give
/// once they are stored, and what to do then (end sessions).
package struct AdminPlan: Sendable {
    package var result: JSONObject
    /// The step that appends the records (no step when nothing changes).
    package var step: HubStep
}

/// Operators' commands (`chat-server user|invite|token`), online over the admin socket and
/// offline alike.
extension HubCore {
    /// Shortest token or invite id accepted by `revoke`.
    static let minimumIDLength = 6
    /// Characters of a hash shown as a token or invite id.
    static let shownIDLength = 12

    /// Decides an operator's command. Its records are applied and handed out in the plan's
    /// step; the result stands once that step's commit is durable.
    ///
    /// - Parameters:
    ///   - command: the command.
    ///   - inviteCode: the code a new invite gets.
    ///   - now: the time.
    package mutating func admin(
        _ command: AdminCommand,
        inviteCode: String = Invites.newCode(),
        at now: HubTime
    ) throws(AdminError) -> AdminPlan {
        switch command {
        case .addUser(let name, let hash):
            let user = try Self.validUser(name)
            guard state.users[user.key] == nil else { throw AdminError("user '\(user.display)' already exists") }
            if let error = lookalikeRefusal(user) { throw AdminError(error.message) }
            let step = try store([.userCreated(name: user.display, passwordHash: hash, ts: now.wallMs)])
            lookalikes[Self.lookalikeKey(user.display)] = user.key
            return AdminPlan(result: ["user": .string(user.display)], step: step)
        case .setPassword(let name, let hash):
            let key = try existingUser(name)
            let revoked = tokenHashes(of: key)
            let step = try store(
                [.passwordChanged(user: key, passwordHash: hash)] + revoked.map { .tokenRevoked(tokenHash: $0) },
                then: [.endSessions(user: key, tokenHashes: [])]
            )
            return AdminPlan(
                result: [
                    "user": .string(state.users[key]?.name ?? name), "tokens_revoked": .int(Int64(revoked.count)),
                ],
                step: step
            )
        case .setDisabled(let name, let disabled):
            let key = try existingUser(name)
            let revoked = disabled ? tokenHashes(of: key) : []
            let step = try store(
                [.userDisabled(user: key, disabled: disabled)] + revoked.map { .tokenRevoked(tokenHash: $0) },
                then: disabled ? [.endSessions(user: key, tokenHashes: [])] : []
            )
            return AdminPlan(
                result: [
                    "user": .string(state.users[key]?.name ?? name), "disabled": .bool(disabled),
                    "tokens_revoked": .int(Int64(revoked.count)),
                ],
                step: step
            )
        case .listUsers:
            let tokenCounts = Dictionary(state.tokens.values.map { ($0, 1) }, uniquingKeysWith: +)
            let users = state.users.sorted { codePointLess($0.value.name, $1.value.name) }.map { key, user in
                JSONValue.object([
                    "name": .string(user.name), "created": .int(user.createdAt), "disabled": .bool(user.disabled),
                    "rooms": .int(Int64(user.rooms.count)), "tokens": .int(Int64(tokenCounts[key] ?? 0)),
                    "online": .int(Int64(sessions.connections(of: key).count)),
                ])
            }
            return AdminPlan(result: ["users": .array(users)], step: HubStep())
        case .createInvite(let uses, let expiresIn):
            guard uses >= 1 else { throw AdminError("an invite needs at least one use") }
            guard expiresIn >= 0 else { throw AdminError("the expiry must not be negative") }
            let hash = PasswordHasher.tokenHash(Invites.normalized(inviteCode))
            let expiresAt = expiresIn == 0 ? 0 : now.wallMs + expiresIn * 1000
            let step = try store([.inviteCreated(codeHash: hash, uses: uses, expiresAt: expiresAt, ts: now.wallMs)])
            return AdminPlan(
                result: [
                    "code": .string(inviteCode), "id": .string(String(hash.prefix(Self.shownIDLength))),
                    "uses": .int(uses), "expires": .int(expiresAt),
                ],
                step: step
            )
        case .listInvites:
            let invites = state.invites.sorted { $0.value.createdAt < $1.value.createdAt }.map { hash, invite in
                JSONValue.object([
                    "id": .string(String(hash.prefix(Self.shownIDLength))), "uses_left": .int(invite.usesLeft),
                    "created": .int(invite.createdAt), "expires": .int(invite.expiresAt),
                    "expired": .bool(invite.expiresAt != 0 && now.wallMs >= invite.expiresAt),
                ])
            }
            return AdminPlan(result: ["invites": .array(invites)], step: HubStep())
        case .revokeInvite(let id):
            let hash = try Self.match(id, in: Array(state.invites.keys), what: "invite")
            let step = try store([.inviteRevoked(codeHash: hash)])
            return AdminPlan(result: ["revoked": .int(1)], step: step)
        case .listTokens(let name):
            let key = try existingUser(name)
            var live: [String: Int64] = [:]
            for session in sessions.sessions.values where session.userKey == key {
                if let hash = session.tokenHash { live[hash, default: 0] += 1 }
            }
            let tokens = tokenHashes(of: key).sorted { (state.tokenIssuedAt[$0] ?? 0) < (state.tokenIssuedAt[$1] ?? 0) }
                .map { hash in
                    JSONValue.object([
                        "id": .string(String(hash.prefix(Self.shownIDLength))),
                        "issued": .int(state.tokenIssuedAt[hash] ?? 0), "last_used": .int(lastUse(of: hash)),
                        "connections": .int(live[hash] ?? 0),
                    ])
                }
            return AdminPlan(
                result: ["user": .string(state.users[key]?.name ?? name), "tokens": .array(tokens)],
                step: HubStep()
            )
        case .revokeTokens(let name, let id):
            let key = try existingUser(name)
            let owned = tokenHashes(of: key)
            var revoked = owned
            if let id { revoked = [try Self.match(id, in: owned, what: "token")] }
            let step = try store(
                revoked.map { .tokenRevoked(tokenHash: $0) },
                then: [.endSessions(user: nil, tokenHashes: Set(revoked))]
            )
            return AdminPlan(
                result: ["user": .string(state.users[key]?.name ?? name), "revoked": .int(Int64(revoked.count))],
                step: step
            )
        case .deleteMessage(let room, let seq):
            let key: String
            switch TextRules.roomName(room) {
            case .success(let name): key = name.key
            case .failure(let error): throw AdminError(error.message)
            }
            let event: ChatMessage
            do throws(ProtocolError) {
                event = try deleteEvent(room: key, seq: seq, at: now)
            } catch {
                throw AdminError(error.message)
            }
            let step = try store([.messageAppended(event)], then: [.message(event, room: key)])
            return AdminPlan(
                result: ["room": .string(event.room), "seq": .int(seq), "event_seq": .int(event.seq)],
                step: step
            )
        case .listFiles(let user):
            let owner = try user.map { name throws(AdminError) in try existingUser(name) }
            let files = state.uploads.values.filter { owner == nil || $0.uploader == owner }
                .sorted { ($0.ts, $0.file.id) < ($1.ts, $1.file.id) }
                .map { upload in
                    var o = upload.file.json
                    o["uploader"] = .string(state.users[upload.uploader]?.name ?? upload.uploader)
                    o["ts"] = .int(upload.ts)
                    let rooms = (state.fileRooms[upload.file.id] ?? [:]).keys.compactMap { state.rooms[$0]?.name }
                    o["rooms"] = .array(rooms.sorted(by: codePointLess).map { .string($0) })
                    return JSONValue.object(o)
                }
            return AdminPlan(result: ["files": .array(files)], step: HubStep())
        case .removeFile(let id):
            guard let upload = state.uploads[id] else { throw AdminError("no file '\(id)'") }
            var step = HubStep()
            guard !storageFailed else {
                throw AdminError("the server cannot store changes (storage failed earlier; see its log)")
            }
            removeUploads([id], into: &step)
            return AdminPlan(result: ["id": .string(id), "name": .string(upload.file.name)], step: step)
        case .fileUsage:
            var counts: [String: Int64] = [:]
            for upload in state.uploads.values { counts[upload.uploader, default: 0] += 1 }
            let rows = state.uploadBytes.sorted { ($1.value, $0.key) < ($0.value, $1.key) }.map { key, bytes in
                JSONValue.object([
                    "user": .string(state.users[key]?.name ?? key), "bytes": .int(bytes),
                    "files": .int(counts[key] ?? 0),
                ])
            }
            let total = state.uploadBytes.values.reduce(0, +)
            return AdminPlan(
                result: [
                    "users": .array(rows), "bytes": .int(total), "files": .int(Int64(state.uploads.count)),
                    "stored_bytes": .int(storedBlobs.bytes),
                    "quota_bytes": .int(configuration.limits.fileQuotaBytes),
                ],
                step: HubStep()
            )
        }
    }

    private mutating func store(_ records: [LogRecord], then work: [AfterCommit] = []) throws(AdminError) -> HubStep {
        var step = HubStep()
        guard !records.isEmpty else { return step }
        guard commit(records, holder: nil, work: work, into: &step) else {
            throw AdminError("the server cannot store changes (storage failed earlier; see its log)")
        }
        return step
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
