import ChatCore
import ChatLog

/// Commits: a change's records are applied and handed out at once; what it answers or
/// publishes waits here until the store says the records are durable, and is released in
/// commit order (or refused, if storing failed).
extension HubCore {
    /// What a commit releases once durable (or refuses, if storing failed).
    enum AfterCommit: Sendable {
        /// A reply that must wait for the change to be stored.
        case reply(ConnID, id: String, HubReply)
        /// A refusal that must wait for earlier replies of its session.
        case reject(ConnID, id: String, ProtocolError)
        /// A stored message: published in seq order.
        case message(ChatMessage, room: String)
        /// A `send`: the message is published in seq order, then the sender gets its ack.
        case sent(ConnID, id: String, ChatMessage, room: String)
        case publish(room: String, HubEvent, excludingUser: String?)
        /// An event to a user's connections except one.
        case deliverToUser(String, HubEvent, except: ConnID?)
        /// `register`/`login`: authenticate the connection and answer with the token.
        case authenticate(ConnID, id: String, user: String, token: String, tokenHash: String)
        /// `join`: subscribe and answer with the backlog, in one turn.
        case join(ConnID, id: String, user: String, room: String, since: Int64?, epoch: String?, announce: Bool)
        /// `leave`: every connection of the user stops following the room.
        case leave(user: String, room: String)
        /// `create`: subscribe the creator's connection and answer, in one turn.
        case create(ConnID, id: String, user: String, room: String)
        /// `logout`: close the token's other connections and drop the caller's identity.
        case logout(ConnID, tokenHash: String)
        /// Close every connection of a user, or using one of these tokens.
        case endSessions(user: String?, tokenHashes: Set<String>)
    }

    /// A commit not yet durable. The first item of work and the first holder are stored
    /// inline: a send, the common case, then costs no array.
    struct PendingCommit: Sendable {
        let id: CommitID
        var first: AfterCommit?
        var more: [AfterCommit] = []
        /// The session whose replies wait for this commit, and any others.
        var holder: ConnID?
        var moreHolders: [ConnID] = []

        init(id: CommitID, work: [AfterCommit], holder: ConnID?) {
            self.id = id
            self.first = work.first
            if work.count > 1 { self.more = Array(work.dropFirst()) }
            self.holder = holder
        }

        init(id: CommitID, single: AfterCommit, holder: ConnID) {
            self.id = id
            self.first = single
            self.holder = holder
        }

        mutating func add(_ work: AfterCommit, holder conn: ConnID) {
            if first == nil { first = work } else { more.append(work) }
            if holder == nil { holder = conn } else { moreHolders.append(conn) }
        }

        func isHeld(by conn: ConnID) -> Bool { holder == conn || moreHolders.contains(conn) }

        func forEachWork(_ body: (AfterCommit) -> Void) {
            if let first { body(first) }
            for work in more { body(work) }
        }

        func forEachHolder(_ body: (ConnID) -> Void) {
            if let holder { body(holder) }
            for conn in moreHolders { body(conn) }
        }
    }

    /// Applies records and hands them out as an `.append`; `work` runs once they are durable.
    /// False, with nothing applied, after a storage failure.
    ///
    /// - Parameters:
    ///   - records: the changes.
    ///   - holder: the session whose replies wait for this commit.
    ///   - work: what the commit releases.
    mutating func commit(
        _ records: [LogRecord],
        holder: ConnID?,
        work: [AfterCommit],
        into step: inout HubStep
    ) -> Bool {
        guard !storageFailed else { return false }
        for record in records { state.apply(record) }
        lastCommit += 1
        step.append(.append(records, commit: lastCommit))
        step.wait = lastCommit
        pending.append(PendingCommit(id: lastCommit, work: work, holder: holder))
        if let holder { sessions[holder]?.outstanding += 1 }
        if configuration.cluster {
            let events = clusterEvents(of: work)
            if !events.isEmpty { clusterEvents[lastCommit] = events }
        }
        return true
    }

    /// `commitOrRefuse` for a `send` (one record, one item of work: no arrays beyond the record's).
    mutating func commitSend(_ message: ChatMessage, room: String, conn: ConnID, id: String, into step: inout HubStep) {
        guard !storageFailed else {
            step.append(.reject(conn, id: id, Self.cannotStore))
            return
        }
        let records: [LogRecord] = [.messageAppended(message)]
        state.apply(records[0])
        lastCommit += 1
        step.append(.append(records, commit: lastCommit))
        step.wait = lastCommit
        pending.append(PendingCommit(id: lastCommit, single: .sent(conn, id: id, message, room: room), holder: conn))
        sessions[conn]?.outstanding += 1
    }

    /// `commit`, or the request is refused when changes cannot be stored.
    mutating func commitOrRefuse(
        _ records: [LogRecord],
        conn: ConnID,
        id: String,
        work: [AfterCommit],
        into step: inout HubStep
    ) {
        if !commit(records, holder: conn, work: work, into: &step) {
            step.append(.reject(conn, id: id, Self.cannotStore))
        }
    }

    static let cannotStore = ProtocolError(.internal, "the server cannot store changes")
    static let storeFailed = ProtocolError(.internal, "the server could not store the change")

    /// A reply released after everything committed so far is durable (at once when nothing
    /// is pending); refused after a storage failure.
    mutating func replyAfterPending(_ conn: ConnID, id: String, _ reply: HubReply, into step: inout HubStep) {
        guard !storageFailed else {
            step.append(.reject(conn, id: id, Self.storeFailed))
            return
        }
        guard !pending.isEmpty else {
            step.append(.reply(conn, id: id, reply))
            return
        }
        pending[pending.count - 1].add(.reply(conn, id: id, reply), holder: conn)
        sessions[conn]?.outstanding += 1
    }

    /// Everything up to `commit` is stored: releases what waited for it, in commit order,
    /// then the requests that waited behind those replies.
    ///
    /// - Parameters:
    ///   - commit: a commit number from an `.append`.
    ///   - now: the time.
    package mutating func durable(through commit: CommitID, at now: HubTime) -> HubStep {
        var step = HubStep()
        var release = ReleaseBuffer()
        var unblocked: [ConnID] = []
        var count = 0
        while count < pending.count, pending[count].id <= commit {
            let done = pending[count]
            count += 1
            done.forEachWork { run($0, release: &release, into: &step) }
            unhold(done, unblocked: &unblocked)
        }
        guard count > 0 else { return step }
        pending.removeFirst(count)
        release.flush(into: &step)
        // On a cluster node a change is made only in a write turn (`HubCore+Cluster.swift`):
        // the requests that waited run in the next one.
        if configuration.cluster {
            deferredDrains.append(contentsOf: unblocked)
        } else {
            for conn in unblocked { drainQueue(conn, at: now, into: &step) }
        }
        return step
    }

    /// The store failed: every pending change is refused (its records stay applied in memory,
    /// so nothing is published), and so is every change from now on.
    ///
    /// - Parameters:
    ///   - now: the time.
    package mutating func storageFailed(at now: HubTime) -> HubStep {
        storageFailed = true
        var step = HubStep()
        var unblocked: [ConnID] = []
        let failed = pending
        pending = []
        for done in failed {
            done.forEachWork { work in
                switch work {
                case .reply(let conn, let id, _), .authenticate(let conn, let id, _, _, _),
                    .join(let conn, let id, _, _, _, _, _), .create(let conn, let id, _, _):
                    step.append(.reject(conn, id: id, Self.storeFailed))
                case .reject(let conn, let id, let error):
                    step.append(.reject(conn, id: id, error))
                case .message(let message, let room):
                    unconfirmed.append((message, room))
                case .sent(let conn, let id, let message, let room):
                    unconfirmed.append((message, room))
                    step.append(.reject(conn, id: id, Self.storeFailed))
                case .publish, .deliverToUser, .leave, .logout, .endSessions:
                    break
                }
            }
            unhold(done, unblocked: &unblocked)
        }
        for conn in unblocked { drainQueue(conn, at: now, into: &step) }
        return step
    }

    /// The store writes again (a full disk has room): every record handed out so far is
    /// durable, changes are accepted again, and the messages of the refused commits are
    /// published in seq order (their senders retry with the same nonce and get the seq they
    /// were stored under: nothing lost, nothing twice).
    ///
    /// - Parameters:
    ///   - now: the time.
    package mutating func storageRecovered(at now: HubTime) -> HubStep {
        var step = HubStep()
        guard storageFailed else { return step }
        storageFailed = false
        var release = ReleaseBuffer()
        for (message, room) in unconfirmed { run(.message(message, room: room), release: &release, into: &step) }
        unconfirmed = []
        release.flush(into: &step)
        return step
    }

    private mutating func unhold(_ commit: PendingCommit, unblocked: inout [ConnID]) {
        commit.forEachHolder { conn in
            guard let outstanding = sessions[conn]?.outstanding else { return }
            sessions[conn]?.outstanding = outstanding - 1
            if outstanding == 1, sessions[conn]?.queued.isEmpty == false, !unblocked.contains(conn) {
                unblocked.append(conn)
            }
        }
    }

    mutating func drainQueue(_ conn: ConnID, at now: HubTime, into step: inout HubStep) {
        guard let queued = sessions[conn]?.queued, !queued.isEmpty else { return }
        sessions[conn]?.queued = []
        for (id, request) in queued { receive(conn, id: id, request, at: now, into: &step) }
    }

    /// Messages and plain replies released together: each room's messages are published as
    /// one run, then the replies in order. Anything else flushes them first, so room events
    /// and subscriptions keep their place in the order.
    struct ReleaseBuffer {
        var runs: [(room: String, messages: [ChatMessage])] = []
        var replies: [HubAction] = []

        /// A durable message into its room's run (if it is next in seq order).
        mutating func stored(_ message: ChatMessage, room: String, sequencer: inout PublishSequencer) {
            if let index = runs.firstIndex(where: { $0.room == room }) {
                sequencer.stored(message, room: room, into: &runs[index].messages)
            } else {
                var ready: [ChatMessage] = []
                sequencer.stored(message, room: room, into: &ready)
                if !ready.isEmpty { runs.append((room, ready)) }
            }
        }

        mutating func flush(into step: inout HubStep) {
            for run in runs { step.append(.publishMessages(room: run.room, run.messages)) }
            step.actions.append(contentsOf: replies)
            runs = []
            replies = []
        }
    }

    mutating func run(_ work: AfterCommit, release: inout ReleaseBuffer, into step: inout HubStep) {
        switch work {
        case .reply(let conn, let id, let reply):
            release.replies.append(.reply(conn, id: id, reply))
            return
        case .reject(let conn, let id, let error):
            release.replies.append(.reject(conn, id: id, error))
            return
        case .message(let message, let room):
            release.stored(message, room: room, sequencer: &sequencer)
            return
        case .sent(let conn, let id, let message, let room):
            release.stored(message, room: room, sequencer: &sequencer)
            release.replies.append(.reply(conn, id: id, .sent(seq: message.seq, ts: message.ts)))
            return
        default:
            release.flush(into: &step)
        }
        switch work {
        case .reply, .reject, .message, .sent:
            break
        case .publish(let room, let event, let excludingUser):
            step.append(.publish(room: room, event, excludingUser: excludingUser))
        case .deliverToUser(let user, let event, let except):
            let targets = sessions.connections(of: user).filter { $0 != except }.sorted()
            if !targets.isEmpty { step.append(.deliver(event, to: targets)) }
        case .authenticate(let conn, let id, let user, let token, let tokenHash):
            guard sessions[conn] != nil, let account = state.users[user] else { return }
            authenticate(conn, userKey: user, tokenHash: tokenHash, into: &step)
            step.append(
                .reply(conn, id: id, .authenticated(user: account.name, token: token, rooms: roomList(of: user)))
            )
        case .join(let conn, let id, let user, let room, let since, let epoch, let announce):
            if announce, let name = state.rooms[room]?.name, let userName = state.users[user]?.name {
                step.append(.publish(room: room, .joined(room: name, user: userName), excludingUser: nil))
            }
            completeJoin(conn, id: id, user: user, room: room, since: since, epoch: epoch, into: &step)
        case .leave(let user, let room):
            for conn in sessions.connections(of: user).sorted() {
                step.append(.unsubscribe(conn, room: room))
                sessions[conn]?.rooms.remove(room)
            }
            if let name = state.rooms[room]?.name, let userName = state.users[user]?.name {
                step.append(.publish(room: room, .left(room: name, user: userName), excludingUser: nil))
            }
        case .create(let conn, let id, let user, let room):
            completeCreate(conn, id: id, user: user, room: room, into: &step)
        case .logout(let conn, let tokenHash):
            for (other, session) in sessions.sessions where other != conn && session.tokenHash == tokenHash {
                step.append(.close(other, .sessionRevoked, reason: "session revoked"))
            }
            unauthenticate(conn, into: &step)
        case .endSessions(let user, let tokenHashes):
            for (conn, session) in sessions.sessions.sorted(by: { $0.key < $1.key }) {
                let byUser = user != nil && session.userKey == user
                let byToken = session.tokenHash.map(tokenHashes.contains) ?? false
                if byUser || byToken { step.append(.close(conn, .sessionRevoked, reason: "session revoked")) }
            }
        }
    }
}
