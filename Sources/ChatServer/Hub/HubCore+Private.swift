import ChatCore
import ChatLog

/// Private rooms and direct messages: `create`, `invite`, `kick` and `dm` (issue 13).
///
/// A private room is seen only by its members: `rooms` leaves it out for everyone else, and
/// every request that names a room checks membership (`memberRoom`) as for public rooms.
/// Only `join` answers differently: `forbidden` instead of making the caller a member.
extension HubCore {
    mutating func create(
        _ conn: ConnID,
        id: String,
        user: String,
        room: ValidName,
        visibility: RoomVisibility,
        topic: String?,
        at now: HubTime,
        into step: inout HubStep
    ) throws(ProtocolError) {
        if DirectRoom.isDirect(room.display) {
            throw ProtocolError(.badRequest, "names starting with '@' are direct-message rooms; use dm")
        }
        guard visibility != .dm else { throw ProtocolError.badRequest("'visibility' must be public or private") }
        guard state.rooms[room.key] == nil else { throw ProtocolError(.conflict, "the room exists") }
        try checkRoomCount(user)
        try take([(.membership, 1), (.roomCreation, 1)], user: user, at: now)
        var records: [LogRecord] = [
            .roomCreated(name: room.display, epoch: entropy.newEpoch(), ts: now.wallMs),
            .roomAccess(room: room.key, visibility: visibility, owner: user),
            .memberAdded(room: room.key, user: user),
        ]
        if let topic, !topic.isEmpty { records.append(.topicSet(room: room.key, topic: topic, by: user)) }
        commitOrRefuse(
            records,
            conn: conn,
            id: id,
            work: [.create(conn, id: id, user: user, room: room.key)],
            into: &step
        )
    }

    /// Subscribes the creator's connection and answers `create`, in one turn.
    mutating func completeCreate(_ conn: ConnID, id: String, user: String, room: String, into step: inout HubStep) {
        guard sessions[conn]?.userKey == user, let roomState = state.rooms[room], roomState.members[user] != nil else {
            if sessions[conn] != nil {
                step.append(.reject(conn, id: id, ProtocolError(.conflict, "membership changed during create; retry")))
            }
            return
        }
        step.append(.subscribe(conn, room: room))
        sessions[conn]?.rooms.insert(room)
        step.append(
            .reply(conn, id: id, .created(room: roomState.name, head: sequencer.head(room), epoch: roomState.epoch))
        )
    }

    mutating func invite(
        _ conn: ConnID,
        id: String,
        user: ChatState.User,
        userKey: String,
        room: ValidName,
        invitee: ValidName,
        at now: HubTime,
        into step: inout HubStep
    ) throws(ProtocolError) {
        let key = try memberRoom(room, user: userKey)
        guard let roomState = state.rooms[key] else { return }
        guard roomState.visibility != .dm else {
            throw ProtocolError(.forbidden, "a direct-message room has exactly its two users")
        }
        guard let invited = state.users[invitee.key] else { throw ProtocolError(.notFound, "no such user") }
        guard roomState.members[invitee.key] == nil else {
            step.append(.reply(conn, id: id, .ok))
            return
        }
        try checkRoomCount(invitee.key, subject: "\(invited.name) is")
        // An invitation changes a membership: it takes from the inviter's bucket.
        try take([(.membership, 1)], user: userKey, at: now)
        commitOrRefuse(
            [.memberAdded(room: key, user: invitee.key)],
            conn: conn,
            id: id,
            work: [
                .publish(room: key, .joined(room: roomState.name, user: invited.name), excludingUser: nil),
                .deliverToUser(
                    invitee.key,
                    .added(room: roomState.name, by: user.name, visibility: roomState.visibility),
                    except: nil
                ),
                .reply(conn, id: id, .ok),
            ],
            into: &step
        )
    }

    mutating func kick(
        _ conn: ConnID,
        id: String,
        user: ChatState.User,
        userKey: String,
        room: ValidName,
        target: ValidName,
        at now: HubTime,
        into step: inout HubStep
    ) throws(ProtocolError) {
        let key = try memberRoom(room, user: userKey)
        guard let roomState = state.rooms[key] else { return }
        guard roomState.visibility != .dm else {
            throw ProtocolError(.forbidden, "a direct-message room has exactly its two users")
        }
        guard roomState.owner == userKey else { throw ProtocolError(.forbidden, "only the room's owner can kick") }
        guard target.key != userKey else {
            throw ProtocolError.badRequest("the owner cannot kick themself; leave instead")
        }
        guard roomState.members[target.key] != nil else {
            throw ProtocolError(.notFound, "no such member of this room")
        }
        try take([(.membership, 1)], user: userKey, at: now)
        commitOrRefuse(
            [.memberRemoved(room: key, user: target.key)],
            conn: conn,
            id: id,
            work: [
                // Unsubscribe first: the kicked user's connections get `removed`, not `left`.
                .leave(user: target.key, room: key),
                .deliverToUser(target.key, .removed(room: roomState.name, by: user.name), except: nil),
                .reply(conn, id: id, .ok),
            ],
            into: &step
        )
    }

    /// `dm`: the direct-message room of the caller and `peer`, made on first use. The hub is
    /// serial and the name depends only on the two users, so two `dm`s never make two rooms.
    mutating func directRoom(
        _ conn: ConnID,
        id: String,
        user: ChatState.User,
        userKey: String,
        peer: ValidName,
        at now: HubTime,
        into step: inout HubStep
    ) throws(ProtocolError) {
        guard let peerUser = state.users[peer.key] else { throw ProtocolError(.notFound, "no such user") }
        let room = DirectRoom.name((user.name, userKey), (peerUser.name, peer.key))
        let existing = state.rooms[room.key]
        var records: [LogRecord] = []
        var added: [String] = []
        if existing == nil {
            records.append(.roomCreated(name: room.display, epoch: entropy.newEpoch(), ts: now.wallMs))
            records.append(.roomAccess(room: room.key, visibility: .dm, owner: nil))
        }
        for member in Set([userKey, peer.key]).sorted() where existing?.members[member] == nil {
            try checkRoomCount(member, subject: member == userKey ? "you are" : "\(peerUser.name) is")
            records.append(.memberAdded(room: room.key, user: member))
            added.append(member)
        }
        if existing == nil { try takeRoomCreation(userKey, at: now) }
        guard !records.isEmpty else {
            // Made already (perhaps by a commit not yet durable): answer after it.
            replyAfterPending(conn, id: id, .directRoom(existing?.name ?? room.display), into: &step)
            return
        }
        let name = existing?.name ?? room.display
        var work: [AfterCommit] = []
        for member in added where member != userKey {
            work.append(.deliverToUser(member, .added(room: name, by: user.name, visibility: .dm), except: nil))
        }
        work.append(.reply(conn, id: id, .directRoom(name)))
        commitOrRefuse(records, conn: conn, id: id, work: work, into: &step)
    }
}
