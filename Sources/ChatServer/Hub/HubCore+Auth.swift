import ChatCore
import ChatLog

/// Accounts and sessions: sign-up, login with its throttle, resume, logout.
extension HubCore {
    /// Checks a sign-up before its password is hashed: the server's policy, the invite and
    /// the name, so a refused one costs no scrypt. Nil: go ahead and hash.
    ///
    /// - Parameters:
    ///   - conn: the connection.
    ///   - id: request id.
    ///   - user: validated name.
    ///   - invite: the invite code, if any.
    ///   - now: the time.
    package func checkRegister(
        _ conn: ConnID,
        id: String,
        user: ValidName,
        invite: String?,
        at now: HubTime
    ) -> HubStep? {
        switch registrationCheck(user: user, invite: invite, at: now) {
        case .success: return nil
        case .failure(let error):
            var step = HubStep()
            step.append(.reject(conn, id: id, error))
            return step
        }
    }

    /// Creates an account (after the password was hashed off the hub) and, once stored,
    /// authenticates the connection and answers with a token.
    ///
    /// - Parameters:
    ///   - conn: the connection.
    ///   - id: request id.
    ///   - user: validated name.
    ///   - passwordHash: the hash.
    ///   - invite: the invite code, if any.
    ///   - now: the time.
    package mutating func register(
        _ conn: ConnID,
        id: String,
        user: ValidName,
        passwordHash: String,
        invite: String?,
        at now: HubTime
    ) -> HubStep {
        var step = HubStep()
        guard sessions[conn] != nil else { return step }
        let inviteHash: String?
        switch registrationCheck(user: user, invite: invite, at: now) {
        case .success(let hash): inviteHash = hash
        case .failure(let error):
            step.append(.reject(conn, id: id, error))
            return step
        }
        let token = entropy.newToken()
        let tokenHash = PasswordHasher.tokenHash(token)
        var records: [LogRecord] = [
            .userCreated(name: user.display, passwordHash: passwordHash, ts: now.wallMs),
            .tokenIssued(user: user.key, tokenHash: tokenHash, ts: now.wallMs),
        ]
        if let inviteHash { records.append(.inviteUsed(codeHash: inviteHash)) }
        if !storageFailed { lookalikes[Self.lookalikeKey(user.display)] = user.key }
        let work: [AfterCommit] = [.authenticate(conn, id: id, user: user.key, token: token, tokenHash: tokenHash)]
        commitOrRefuse(records, conn: conn, id: id, work: work, into: &step)
        return step
    }

    /// The sign-up policy, the invite (its hash when one is used) and the name's availability.
    private func registrationCheck(user: ValidName, invite: String?, at now: HubTime) -> Result<String?, ProtocolError>
    {
        var inviteHash: String?
        switch configuration.registration {
        case .open: break
        case .closed:
            return .failure(ProtocolError(.forbidden, "this server does not allow sign-up"))
        case .invite:
            guard let invite, !invite.isEmpty else {
                return .failure(ProtocolError(.forbidden, "sign-up on this server needs an invite code"))
            }
            let hash = PasswordHasher.tokenHash(Invites.normalized(invite))
            guard let stored = state.invites[hash], stored.expiresAt == 0 || now.wallMs < stored.expiresAt else {
                return .failure(ProtocolError(.forbidden, "the invite code is not valid (unknown, used or expired)"))
            }
            inviteHash = hash
        }
        guard state.users[user.key] == nil else { return .failure(ProtocolError(.conflict, "user name is taken")) }
        if let error = lookalikeRefusal(user) { return .failure(error) }
        return .success(inviteHash)
    }

    /// A name is compared with the others by its Unicode TR39 skeleton, ignoring case: `pаypal`
    /// (Cyrillic а) or `PAYPAI` look like `paypal`.
    static func lookalikeKey(_ name: String) -> String {
        confusableSkeleton(confusableSkeleton(name).lowercased())
    }

    /// Refuses a new user name that looks like an existing user's.
    func lookalikeRefusal(_ user: ValidName) -> ProtocolError? {
        guard let other = lookalikes[Self.lookalikeKey(user.display)], other != user.key,
            let existing = state.users[other]
        else { return nil }
        return ProtocolError(.conflict, "user name looks too much like the existing user '\(existing.name)'")
    }

    /// What a login does before the password is checked.
    package enum LoginStart: Sendable, Equatable {
        /// Answered already (throttled).
        case refused(HubStep)
        /// Verify the password against this hash (nil: no such user; verify against a dummy
        /// so both cost the same), then call `finishLogin`.
        case verify(passwordHash: String?)
    }

    /// Starts a login: refused while the throttle asks to wait; otherwise the attempt takes its
    /// place in the throttle now, before the password is hashed, so parallel guesses cannot
    /// all pass the check at once.
    ///
    /// - Parameters:
    ///   - conn: the connection.
    ///   - id: request id.
    ///   - userKey: user fold key (the user need not exist).
    ///   - now: the time.
    package mutating func beginLogin(_ conn: ConnID, id: String, userKey: String, at now: HubTime) -> LoginStart {
        let address = sessions[conn]?.address ?? "unknown"
        if let wait = loginThrottle.wait(user: userKey, address: address, now: now.monotonic) {
            var step = HubStep()
            step.append(
                .reject(
                    conn,
                    id: id,
                    ProtocolError(.rateLimited, "too many failed logins; wait before trying again", retryAfterMs: wait)
                )
            )
            return .refused(step)
        }
        loginThrottle.failed(user: userKey, address: address, now: now.monotonic)
        return .verify(passwordHash: state.users[userKey]?.passwordHash)
    }

    /// Ends a login once the password was checked: a token is issued and, once stored, the
    /// connection is authenticated. The password must have matched the hash the user has
    /// now: one verified against a hash that `user passwd` replaced meanwhile gets no token.
    ///
    /// - Parameters:
    ///   - conn: the connection.
    ///   - id: request id.
    ///   - userKey: user fold key.
    ///   - verifiedHash: the stored hash the password matched (from `beginLogin`); nil when
    ///     it did not match or the user does not exist.
    ///   - now: the time.
    package mutating func finishLogin(
        _ conn: ConnID,
        id: String,
        userKey: String,
        verifiedHash: String?,
        at now: HubTime
    ) -> HubStep {
        var step = HubStep()
        let address = sessions[conn]?.address ?? "unknown"
        guard let verifiedHash, let account = state.users[userKey], account.passwordHash == verifiedHash else {
            loginThrottle.confirmFailure(user: userKey, address: address, now: now.monotonic)
            step.append(.reject(conn, id: id, ProtocolError(.unauthorized, "wrong user name or password")))
            return step
        }
        guard !account.disabled else {
            step.append(.reject(conn, id: id, ProtocolError(.forbidden, "this account is disabled")))
            return step
        }
        loginThrottle.succeeded(user: userKey, address: address)
        guard sessions[conn] != nil else { return step }
        let token = entropy.newToken()
        let tokenHash = PasswordHasher.tokenHash(token)
        // Tokens unused for `tokenIdleDays` are dropped; of the rest, at most `maxTokensPerUser`
        // stay live: the oldest make room (their sessions end).
        let owned = state.tokens.compactMap { $0.value == userKey ? $0.key : nil }
            .sorted { (state.tokenIssuedAt[$0] ?? 0, $0) < (state.tokenIssuedAt[$1] ?? 0, $1) }
        let idle = owned.filter { tokenIsIdle($0, at: now) }
        let live = owned.filter { !tokenIsIdle($0, at: now) }
        let revoked = idle + live.prefix(max(0, live.count - configuration.maxTokensPerUser + 1))
        var work: [AfterCommit] = [.authenticate(conn, id: id, user: userKey, token: token, tokenHash: tokenHash)]
        if !revoked.isEmpty { work.insert(.endSessions(user: nil, tokenHashes: Set(revoked)), at: 0) }
        commitOrRefuse(
            revoked.map { .tokenRevoked(tokenHash: $0) } + [
                .tokenIssued(user: userKey, tokenHash: tokenHash, ts: now.wallMs)
            ],
            conn: conn,
            id: id,
            work: work,
            into: &step
        )
        return step
    }

    /// Resumes a session with a token. A token unused for more than `tokenIdleDays` is refused
    /// like a revoked one, and dropped. A use on a later UTC day than the last one stored is
    /// stored (`tokenUsed`, at most one record per token and day); the reply does not wait
    /// for it.
    mutating func resume(_ conn: ConnID, id: String, token: String, at now: HubTime, into step: inout HubStep) {
        let refusal = ProtocolError(.unauthorized, "token is not valid")
        guard let index = state.tokens.index(forKey: PasswordHasher.tokenHash(token)) else {
            step.append(.reject(conn, id: id, refusal))
            return
        }
        // The session keeps the state's copy of the hash: every connection on a token shares
        // one string instead of holding its own (144 bytes of each idle connection).
        let (tokenHash, userKey) = state.tokens[index]
        guard let user = state.users[userKey], !user.disabled else {
            step.append(.reject(conn, id: id, refusal))
            return
        }
        if tokenIsIdle(tokenHash, at: now) {
            let work: [AfterCommit] = [
                .endSessions(user: nil, tokenHashes: [tokenHash]), .reject(conn, id: id, refusal),
            ]
            if !commit([.tokenRevoked(tokenHash: tokenHash)], holder: conn, work: work, into: &step) {
                step.append(.reject(conn, id: id, refusal))
            }
            return
        }
        if Self.day(ofMs: now.wallMs) != Self.day(ofMs: lastUse(of: tokenHash)) {
            _ = commit([.tokenUsed(tokenHash: tokenHash, ts: now.wallMs)], holder: nil, work: [], into: &step)
        }
        authenticate(conn, userKey: userKey, tokenHash: tokenHash, into: &step)
        step.append(.reply(conn, id: id, .authenticated(user: user.name, token: nil, rooms: roomList(of: userKey))))
    }

    /// The UTC day of a time in ms since the epoch.
    static func day(ofMs ms: Int64) -> Int64 {
        ms >= 0 ? ms / 86_400_000 : (ms + 1) / 86_400_000 - 1
    }

    /// When a token was last used as stored: its issue, or a `resume` (the first of its day).
    func lastUse(of tokenHash: String) -> Int64 {
        state.tokenUsedAt[tokenHash] ?? state.tokenIssuedAt[tokenHash] ?? 0
    }

    /// Whether a token went unused for more than `tokenIdleDays` whole UTC days: one last used
    /// on day D is refused from day D + `tokenIdleDays` + 1 on.
    func tokenIsIdle(_ tokenHash: String, at now: HubTime) -> Bool {
        Self.day(ofMs: now.wallMs) - Self.day(ofMs: lastUse(of: tokenHash)) > Int64(configuration.tokenIdleDays)
    }

    mutating func logout(_ conn: ConnID, id: String, into step: inout HubStep) {
        guard let tokenHash = sessions[conn]?.tokenHash else {
            unauthenticate(conn, into: &step)
            step.append(.reply(conn, id: id, .ok))
            return
        }
        commitOrRefuse(
            [.tokenRevoked(tokenHash: tokenHash)],
            conn: conn,
            id: id,
            work: [.logout(conn, tokenHash: tokenHash), .reply(conn, id: id, .ok)],
            into: &step
        )
    }

    /// The user's rooms with their published heads and read markers, in code-point order.
    ///
    /// - Parameters:
    ///   - userKey: the user's fold key.
    package func roomList(of userKey: String) -> [RoomStatus] {
        guard let user = state.users[userKey] else { return [] }
        return user.rooms.compactMap { key -> RoomStatus? in
            guard let room = state.rooms[key] else { return nil }
            return RoomStatus(
                name: room.name,
                head: sequencer.head(key),
                read: room.members[userKey] ?? 0,
                visibility: room.visibility,
                owner: room.owner.flatMap { state.users[$0]?.name }
            )
        }
        .sorted { codePointLess($0.name, $1.name) }
    }
}
