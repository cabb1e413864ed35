import ChatCore
import ChatLog

/// Rooms: join with its backlog, leave, listings, topic, history and read markers.
extension HubCore {
    mutating func join(
        _ conn: ConnID,
        id: String,
        user: String,
        room: ValidName,
        since: Int64?,
        epoch: String?,
        at now: HubTime,
        into step: inout HubStep
    ) throws(ProtocolError) {
        var records: [LogRecord] = []
        let existing = state.rooms[room.key]
        let newMember = existing?.members[user] == nil
        // A private or direct-message room, or a name only `dm` makes: members only, never created here.
        if newMember, existing?.visibility.isRestricted ?? DirectRoom.isDirect(room.display) {
            throw Self.privateRoom
        }
        if newMember { try checkRoomCount(user) }
        // Every join answers with a backlog (a read); a new member is stored and announced, a
        // new room too. All buckets are checked before any token is taken.
        var costs: [(Bucket, Int)] = [(.read, 1)]
        if newMember { costs.append((.membership, 1)) }
        if existing == nil { costs.append((.roomCreation, 1)) }
        try take(costs, user: user, at: now)
        if existing == nil {
            records.append(.roomCreated(name: room.display, epoch: entropy.newEpoch(), ts: now.wallMs))
        }
        if newMember { records.append(.memberAdded(room: room.key, user: user)) }
        guard records.isEmpty else {
            let work: [AfterCommit] = [
                .join(conn, id: id, user: user, room: room.key, since: since, epoch: epoch, announce: newMember)
            ]
            commitOrRefuse(records, conn: conn, id: id, work: work, into: &step)
            return
        }
        completeJoin(conn, id: id, user: user, room: room.key, since: since, epoch: epoch, into: &step)
    }

    /// Subscribes the connection and answers with the backlog in the same step, so no message
    /// can fall between the two.
    mutating func completeJoin(
        _ conn: ConnID,
        id: String,
        user: String,
        room: String,
        since: Int64?,
        epoch: String?,
        into step: inout HubStep
    ) {
        // The membership may have changed while the records were stored.
        guard sessions[conn]?.userKey == user, let roomState = state.rooms[room], roomState.members[user] != nil else {
            if sessions[conn] != nil {
                step.append(.reject(conn, id: id, ProtocolError(.conflict, "membership changed during join; retry")))
            }
            return
        }
        step.append(.subscribe(conn, room: room))
        sessions[conn]?.rooms.insert(room)
        let head = sequencer.head(room)
        var reset = false
        var effectiveSince = since
        if since != nil, let epoch, epoch != roomState.epoch {
            reset = true
            effectiveSince = nil
        }
        let take: Int64
        let limited: Bool
        if let since = effectiveSince {
            let count = head - min(since, head)
            take = min(count, Int64(configuration.limits.historyLimit))
            limited = count > take
        } else {
            take = min(head, Int64(configuration.joinBacklog))
            limited = head > take
        }
        guard let backlog = try? state.messages(room: room, from: head - take + 1, through: head) else {
            step.append(.reject(conn, id: id, Self.cannotRead))
            return
        }
        let joined = JoinedRoom(
            name: roomState.name,
            topic: roomState.topic,
            head: head,
            epoch: roomState.epoch,
            messages: backlog,
            limited: limited,
            reset: reset
        )
        step.append(.reply(conn, id: id, .joined(joined)))
    }

    /// What a non-member's `join` of a private room gets.
    static let privateRoom = ProtocolError(.forbidden, "private room; ask a member to invite you")

    /// Refuses a new membership beyond `maxRoomsPerUser`.
    func checkRoomCount(_ user: String, subject: String = "you are") throws(ProtocolError) {
        guard (state.users[user]?.rooms.count ?? 0) >= configuration.maxRoomsPerUser else { return }
        throw ProtocolError(
            .forbidden,
            "\(subject) in \(configuration.maxRoomsPerUser) rooms, the most this server allows; leave one first"
        )
    }

    /// Takes a token from the user's room-creation bucket, or refuses with `rate_limited`.
    mutating func takeRoomCreation(_ user: String, at now: HubTime) throws(ProtocolError) {
        try take([(.roomCreation, 1)], user: user, at: now)
    }

    mutating func leave(
        _ conn: ConnID,
        id: String,
        user: String,
        room: String,
        at now: HubTime,
        into step: inout HubStep
    ) throws(ProtocolError) {
        if state.rooms[room]?.visibility == .dm {
            throw ProtocolError(.forbidden, "a direct-message room cannot be left")
        }
        try take([(.membership, 1)], user: user, at: now)
        commitOrRefuse(
            [.memberRemoved(room: room, user: user)],
            conn: conn,
            id: id,
            work: [.leave(user: user, room: room), .reply(conn, id: id, .ok)],
            into: &step
        )
    }

    mutating func setTopic(
        _ conn: ConnID,
        id: String,
        user: ChatState.User,
        userKey: String,
        room: ValidName,
        topic: String,
        at now: HubTime,
        into step: inout HubStep
    ) throws(ProtocolError) {
        let key = try memberRoom(room, user: userKey)
        guard let name = state.rooms[key]?.name else { return }
        // Every change of topic is stored and broadcast: it takes from the message bucket.
        try takeMessageToken(userKey, at: now)
        commitOrRefuse(
            [.topicSet(room: key, topic: topic, by: userKey)],
            conn: conn,
            id: id,
            work: [
                .publish(room: key, .topic(room: name, topic: topic, by: user.name), excludingUser: nil),
                .reply(conn, id: id, .ok),
            ],
            into: &step
        )
    }

    mutating func markRead(
        _ conn: ConnID,
        id: String,
        user: String,
        room: String,
        seq: Int64,
        into step: inout HubStep
    ) throws(ProtocolError) {
        let head = sequencer.head(room)
        guard seq <= head else { throw ProtocolError.badRequest("'seq' is beyond the room's head (\(head))") }
        let current = state.rooms[room]?.members[user] ?? 0
        guard seq > current, let name = state.rooms[room]?.name else {
            step.append(.reply(conn, id: id, .ok))
            return
        }
        commitOrRefuse(
            [.readMarked(room: room, user: user, seq: seq)],
            conn: conn,
            id: id,
            work: [.deliverToUser(user, .read(room: name, seq: seq), except: conn), .reply(conn, id: id, .ok)],
            into: &step
        )
    }

    /// Every public room and the user's private and direct-message rooms, in code-point order of names.
    ///
    /// - Parameters:
    ///   - user: the caller's fold key.
    func visibleRooms(to user: String) -> [RoomListing] {
        state.rooms.filter { $0.value.isVisible(to: user) }.sorted { codePointLess($0.value.name, $1.value.name) }
            .map { key, room in
                RoomListing(
                    name: room.name,
                    topic: room.topic,
                    members: room.members.count,
                    head: sequencer.head(key),
                    visibility: room.visibility,
                    owner: room.owner.flatMap { state.users[$0]?.name }
                )
            }
    }

    /// A room's members with whether they are online, in code-point order.
    func members(of room: String) -> [MemberStatus] {
        let keys = state.rooms[room]?.members.keys.map { $0 } ?? []
        return keys.compactMap { key -> MemberStatus? in
            guard let user = state.users[key] else { return nil }
            return MemberStatus(user: user.name, online: isOnlineAnywhere(key))
        }
        .sorted { codePointLess($0.user, $1.user) }
    }

    /// Published messages before `before` (newest first cut) or after `after`.
    func history(_ room: String, before: Int64?, after: Int64?, limit: Int) throws(ProtocolError) -> HubReply {
        let head = sequencer.head(room)
        let lower: Int64
        let upper: Int64
        let more: Bool
        if let after {
            lower = min(after, head)
            upper = min(head, lower + Int64(limit))
            more = upper < head
        } else {
            upper = min(head, (before ?? (head + 1)) - 1)
            lower = max(0, upper - Int64(limit))
            more = lower > 0
        }
        guard upper > lower else { return .history(messages: [], more: more) }
        guard let messages = try? state.messages(room: room, from: lower + 1, through: upper) else {
            throw Self.cannotRead
        }
        return .history(messages: messages, more: more)
    }

    /// Older messages could not be read from the cold store.
    static let cannotRead = ProtocolError(.internal, "the server could not read this room's history; try again")
}

/// Unicode code-point order (Swift's `<` on String compares by grapheme/canonical order).
func codePointLess(_ a: String, _ b: String) -> Bool {
    a.unicodeScalars.lexicographicallyPrecedes(b.unicodeScalars) { $0.value < $1.value }
}
