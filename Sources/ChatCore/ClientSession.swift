/// The pure state of a client connection: which rooms it follows, how far it has
/// seen each one, and which sends are not yet acknowledged.
///
/// The I/O layer feeds it replies and events and asks it what to send after a
/// reconnect; it decides what is new, what is a duplicate and what must be
/// re-sent, so no message is missed or shown twice.
package struct ClientSession: Sendable, Equatable {
    /// What the client knows of one room.
    package struct RoomCursor: Sendable, Equatable {
        /// Display name.
        package var name: String
        /// Highest seq delivered to the application (0: none).
        package var head: Int64
        /// The room's history epoch, once known.
        package var epoch: String?
        /// Whether the server has answered a `join` on the current connection.
        package var subscribed: Bool
        /// Whether `head` is a real position (joined before, or `since` given), so
        /// a join asks for everything after it.
        package var positioned: Bool = false
        /// Whether a gap is being filled from history; new messages are held meanwhile.
        package var filling: Bool = false
    }

    /// A send that has not been acknowledged.
    package struct PendingSend: Sendable, Equatable {
        package var nonce: String
        package var room: String
        package var text: String
        package var kind: MessageKind
        /// The seq of the message this one answers.
        package var replyTo: Int64? = nil
        /// The upload a `file` message shares.
        package var file: String? = nil
    }

    /// What to do with an incoming `message` event.
    package enum Delivery: Sendable, Equatable {
        /// New and in order: show it.
        case deliver
        /// Already seen (seq at or below the head): drop it.
        case duplicate
        /// Not subscribed to that room: drop it.
        case unknownRoom
        /// Seqs after `after` are missing: the message is held; fetch `history` after `after`
        /// and pass the reply to `receiveHistory`.
        case gap(after: Int64)
        /// A gap is being filled: the message is held and shown once the gap closes.
        case held
    }

    /// What a history reply filled.
    package struct HistoryFill: Sendable, Equatable {
        /// Messages now in order and new to the client (history first, then held ones).
        package var delivered: [ChatMessage]
        /// When still incomplete: fetch `history` after this seq again.
        package var fetchAfter: Int64?
    }

    /// The result of a `join` reply.
    package struct JoinOutcome: Sendable, Equatable {
        /// Messages new to the client, oldest first.
        package var messages: [ChatMessage]
        /// The server reset the room's history (epoch changed): drop the local copy.
        package var reset: Bool
        /// Older messages exist that the reply did not carry.
        package var limited: Bool
    }

    /// Followed rooms by fold key, in the order they were joined.
    package private(set) var rooms: [String: RoomCursor] = [:]
    package private(set) var roomOrder: [String] = []
    /// Unacknowledged sends, oldest first.
    package private(set) var pending: [PendingSend] = []
    /// Messages received past a gap, per room fold key, until the gap is filled.
    package private(set) var held: [String: [ChatMessage]] = [:]

    /// Creates an empty session.
    package init() {}

    static func key(_ room: String) -> String { TextRules.foldKey(room) }

    /// The cursor of a room, if followed.
    ///
    /// - Parameters:
    ///   - room: room name.
    package func cursor(_ room: String) -> RoomCursor? { rooms[Self.key(room)] }

    /// Starts following a room (idempotent).
    ///
    /// - Parameters:
    ///   - room: room name.
    package mutating func follow(_ room: String) {
        let key = Self.key(room)
        if rooms[key] == nil {
            rooms[key] = RoomCursor(name: room, head: 0, epoch: nil, subscribed: false)
            roomOrder.append(key)
        }
    }

    /// Starts following a room from a known position (e.g. `tail --since N`).
    ///
    /// - Parameters:
    ///   - room: room name.
    ///   - since: last seq already seen.
    package mutating func follow(_ room: String, since: Int64) {
        follow(room)
        rooms[Self.key(room)]?.head = since
        rooms[Self.key(room)]?.positioned = true
    }

    /// Stops following a room.
    ///
    /// - Parameters:
    ///   - room: room name.
    package mutating func unfollow(_ room: String) {
        let key = Self.key(room)
        rooms[key] = nil
        roomOrder.removeAll { $0 == key }
    }

    /// The user was made a member of a room (`added`): follow it and return the `join` to send
    /// (with `since`/`epoch` when the room was followed before); nil when already subscribed.
    ///
    /// - Parameters:
    ///   - room: room name.
    package mutating func added(_ room: String) -> Request? {
        if rooms[Self.key(room)]?.subscribed == true { return nil }
        follow(room)
        return joinRequest(room)
    }

    /// The user was removed from a room (`removed`): stop following it and drop what was held.
    ///
    /// - Parameters:
    ///   - room: room name.
    package mutating func removed(_ room: String) {
        unfollow(room)
        held[Self.key(room)] = nil
    }

    /// The `join` request for a room: with `since`/`epoch` when the client has seen it;
    /// nil when `room` is not a valid room name (the server would refuse it).
    ///
    /// - Parameters:
    ///   - room: room name.
    package func joinRequest(_ room: String) -> Request? {
        guard let name = try? Request.room(room) else { return nil }
        guard let cursor = rooms[Self.key(room)], cursor.positioned else {
            return .join(room: name, since: nil, epoch: nil)
        }
        return .join(room: name, since: cursor.head, epoch: cursor.epoch)
    }

    /// Applies a `join` reply and returns what is new.
    ///
    /// - Parameters:
    ///   - room: room name as requested.
    ///   - reply: the decoded reply.
    package mutating func applyJoin(_ room: String, reply: JoinReply) -> JoinOutcome {
        follow(room)
        let key = Self.key(room)
        guard var cursor = rooms[key] else { return JoinOutcome(messages: [], reset: false, limited: false) }
        let head = reply.room.head
        if reply.reset { cursor.head = 0 }
        cursor.name = reply.room.name
        let fresh = reply.messages.filter { $0.seq > cursor.head }
        cursor.head = max(cursor.head, head)
        if reply.reset { cursor.head = head }
        cursor.epoch = reply.room.epoch
        cursor.subscribed = true
        cursor.positioned = true
        rooms[key] = cursor
        return JoinOutcome(messages: fresh, reset: reply.reset, limited: reply.limited)
    }

    /// Decides what to do with a `message` event and advances the head.
    ///
    /// - Parameters:
    ///   - message: the event's message.
    package mutating func receive(_ message: ChatMessage) -> Delivery {
        let key = Self.key(message.room)
        guard var cursor = rooms[key], cursor.subscribed else { return .unknownRoom }
        if message.seq <= cursor.head { return .duplicate }
        if cursor.filling {
            hold(message, key: key)
            return .held
        }
        if message.seq == cursor.head + 1 {
            cursor.head = message.seq
            rooms[key] = cursor
            return .deliver
        }
        cursor.filling = true
        rooms[key] = cursor
        hold(message, key: key)
        return .gap(after: cursor.head)
    }

    private mutating func hold(_ message: ChatMessage, key: String) {
        var list = held[key, default: []]
        guard !list.contains(where: { $0.seq == message.seq }) else { return }
        list.append(message)
        list.sort { $0.seq < $1.seq }
        held[key] = list
    }

    /// Applies a `history` reply fetched to fill a gap: returns the messages that are
    /// now in order (history, then held ones) and whether to fetch again.
    ///
    /// - Parameters:
    ///   - room: the room.
    ///   - messages: the reply's messages, oldest first.
    ///   - more: the reply's `more`.
    package mutating func receiveHistory(room: String, _ messages: [ChatMessage], more: Bool) -> HistoryFill {
        let key = Self.key(room)
        guard var cursor = rooms[key] else { return HistoryFill(delivered: [], fetchAfter: nil) }
        var delivered: [ChatMessage] = []
        for message in messages.sorted(by: { $0.seq < $1.seq }) where Self.follows(message.seq, cursor.head) {
            delivered.append(message)
            cursor.head = message.seq
        }
        var waiting = (held[key] ?? []).filter { $0.seq > cursor.head }
        while let next = waiting.first, Self.follows(next.seq, cursor.head) {
            delivered.append(next)
            cursor.head = next.seq
            waiting.removeFirst()
        }
        held[key] = waiting.isEmpty ? nil : waiting
        let incomplete = more || !waiting.isEmpty
        cursor.filling = cursor.filling && incomplete
        rooms[key] = cursor
        return HistoryFill(delivered: delivered, fetchAfter: cursor.filling ? cursor.head : nil)
    }

    /// Whether `seq` comes right after `head`. A hostile server can send any head, so
    /// `head + 1` must not trap at `Int64.max`.
    static func follows(_ seq: Int64, _ head: Int64) -> Bool { head < .max && seq == head + 1 }

    /// Queues a send; it stays pending until `acknowledge` with its nonce.
    ///
    /// - Parameters:
    ///   - room: room name.
    ///   - text: message text.
    ///   - kind: text or action.
    ///   - nonce: a fresh idempotency nonce.
    package mutating func queueSend(
        room: String,
        text: String,
        kind: MessageKind,
        nonce: String,
        replyTo: Int64? = nil,
        file: String? = nil
    ) {
        pending.append(PendingSend(nonce: nonce, room: room, text: text, kind: kind, replyTo: replyTo, file: file))
    }

    /// The `send` request for a pending send; nil when its room is not a valid room name.
    ///
    /// - Parameters:
    ///   - send: the pending send.
    package static func sendRequest(_ send: PendingSend) -> Request? {
        guard let room = try? Request.room(send.room) else { return nil }
        return .send(
            room: room,
            text: send.text,
            kind: send.kind,
            nonce: send.nonce,
            replyTo: send.replyTo,
            file: send.file
        )
    }

    /// Removes a pending send once the server acknowledged (or definitively refused) it.
    ///
    /// - Parameters:
    ///   - nonce: the send's nonce.
    @discardableResult
    package mutating func acknowledge(nonce: String) -> PendingSend? {
        guard let index = pending.firstIndex(where: { $0.nonce == nonce }) else { return nil }
        return pending.remove(at: index)
    }

    /// Marks every room unsubscribed (the connection dropped).
    package mutating func disconnected() {
        for key in roomOrder {
            rooms[key]?.subscribed = false
            rooms[key]?.filling = false
        }
        held = [:]
    }

    /// What to send after authenticating on a new connection: a `join` with
    /// `since` for every followed room, then every pending send with its nonce.
    package func resumePlan() -> [Request] {
        roomOrder.compactMap { rooms[$0] }.compactMap { joinRequest($0.name) } + pending.compactMap(Self.sendRequest)
    }
}
