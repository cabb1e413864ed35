import ChatCore
import ChatLog
import Foundation

/// What one node's change tells the other nodes of a `--cluster` (besides its records, which
/// they apply to their state): the events its commit released to connections, in a form that
/// names users and rooms rather than this node's connections.
package enum ClusterEvent: Sendable, Equatable {
    /// An event to every subscriber of a room (except the given user's connections).
    case publish(room: String, HubEvent, excludingUser: String?)
    /// An event to every connection of a user.
    case deliverToUser(String, HubEvent)
    /// Every connection of the user stops following the room; the room hears that the user left.
    case leave(user: String, room: String)
    /// Close every connection of a user, or using one of these tokens.
    case endSessions(user: String?, tokenHashes: [String])
}

/// One commit of another node: its records in order, then its events.
package struct ClusterEntry: Sendable, Equatable {
    package var records: [LogRecord]
    package var events: [ClusterEvent]

    /// Creates an entry.
    ///
    /// - Parameters:
    ///   - records: the commit's records, in the order they were applied.
    ///   - events: what the commit released to connections.
    package init(records: [LogRecord], events: [ClusterEvent]) {
        self.records = records
        self.events = events
    }
}

/// `--cluster`: the core's side of sharing a database with other nodes.
///
/// Every change of every node is made in a **write turn**, while the node's transaction holds
/// the database's write lock: the turn first applies what the other nodes committed since this
/// node last looked (`applyRemote`), then runs this node's waiting requests, whose records and
/// events are written in the same transaction. So every node makes its changes on the state
/// all the others' changes produced, in one order: seqs are never handed out twice, and a
/// room's messages reach every node in seq order.
extension HubCore {
    /// What a commit releases that the other nodes' connections must hear too.
    ///
    /// - Parameters:
    ///   - work: the commit's work (its records are applied).
    func clusterEvents(of work: [AfterCommit]) -> [ClusterEvent] {
        var events: [ClusterEvent] = []
        for item in work {
            switch item {
            case .publish(let room, let event, let excludingUser):
                events.append(.publish(room: room, event, excludingUser: excludingUser))
            case .deliverToUser(let user, let event, _):
                events.append(.deliverToUser(user, event))
            case .join(_, _, let user, let room, _, _, let announce):
                if announce, let name = state.rooms[room]?.name, let userName = state.users[user]?.name {
                    events.append(.publish(room: room, .joined(room: name, user: userName), excludingUser: nil))
                }
            case .leave(let user, let room):
                events.append(.leave(user: user, room: room))
            case .logout(_, let tokenHash):
                events.append(.endSessions(user: nil, tokenHashes: [tokenHash]))
            case .endSessions(let user, let tokenHashes):
                events.append(.endSessions(user: user, tokenHashes: tokenHashes.sorted()))
            case .reply, .reject, .message, .sent, .authenticate, .create:
                break
            }
        }
        return events
    }

    /// The events of a commit, once, for the store (empty: none, or not a cluster node).
    ///
    /// - Parameters:
    ///   - commit: a commit number from an `.append`.
    package mutating func takeClusterEvents(_ commit: CommitID) -> [ClusterEvent] {
        clusterEvents.removeValue(forKey: commit) ?? []
    }

    /// Whether requests held back by a commit wait for the next write turn.
    package var hasDeferredDrains: Bool { !deferredDrains.isEmpty }

    /// Runs the requests that waited for their session's earlier replies (at the start of a
    /// write turn).
    ///
    /// - Parameters:
    ///   - now: the time.
    package mutating func drainDeferred(at now: HubTime) -> HubStep {
        var step = HubStep()
        let conns = deferredDrains
        deferredDrains = []
        for conn in conns { drainQueue(conn, at: now, into: &step) }
        return step
    }

    /// Applies other nodes' commits, in the order the database holds them, and releases their
    /// messages and events to this node's connections. Throws when a message does not follow
    /// this node's copy of its room (the copy is no longer the database's: the node must reload).
    ///
    /// - Parameters:
    ///   - entries: the commits, oldest first.
    package mutating func applyRemote(_ entries: [ClusterEntry]) throws(ClusterDivergence) -> HubStep {
        var step = HubStep()
        var release = ReleaseBuffer()
        for entry in entries {
            for record in entry.records {
                if case .messageAppended(let message) = record {
                    let room = TextRules.foldKey(message.room)
                    guard let head = state.rooms[room]?.head, head == message.seq - 1 else {
                        throw ClusterDivergence(room: message.room, seq: message.seq, head: state.rooms[room]?.head)
                    }
                }
                state.apply(record)
                switch record {
                case .messageAppended(let message):
                    release.stored(message, room: TextRules.foldKey(message.room), sequencer: &sequencer)
                case .userCreated(let name, _, _):
                    lookalikes[Self.lookalikeKey(name)] = TextRules.foldKey(name)
                default:
                    break
                }
            }
            for event in entry.events {
                let work: AfterCommit
                switch event {
                case .publish(let room, let event, let excludingUser):
                    work = .publish(room: room, event, excludingUser: excludingUser)
                case .deliverToUser(let user, let event):
                    work = .deliverToUser(user, event, except: nil)
                case .leave(let user, let room):
                    work = .leave(user: user, room: room)
                case .endSessions(let user, let tokenHashes):
                    work = .endSessions(user: user, tokenHashes: Set(tokenHashes))
                }
                run(work, release: &release, into: &step)
            }
        }
        release.flush(into: &step)
        return step
    }
}

/// Another node's message does not follow this node's copy of its room.
package struct ClusterDivergence: Error, CustomStringConvertible {
    package var room: String
    package var seq: Int64
    package var head: Int64?

    package var description: String {
        "another node's message \(room)#\(seq) does not follow this node's copy of the room (head \(head.map(String.init) ?? "none"))"
    }
}

// MARK: Coding

extension ClusterEntry {
    /// The binary form of a write turn's commits (one row of `cluster_log`).
    ///
    /// - Parameters:
    ///   - entries: the commits.
    package static func encode(_ entries: [ClusterEntry]) -> [UInt8] {
        var w = ByteWriter(capacity: 256)
        w.varint(UInt64(entries.count))
        for entry in entries {
            w.varint(UInt64(entry.records.count))
            for record in entry.records {
                var payload = ByteWriter()
                record.encode(into: &payload)
                w.varint(UInt64(payload.bytes.count))
                w.bytes.append(contentsOf: payload.bytes)
            }
            w.varint(UInt64(entry.events.count))
            for event in entry.events { event.encode(into: &w) }
        }
        return w.bytes
    }

    /// Reads what `encode` wrote.
    ///
    /// - Parameters:
    ///   - bytes: one row's body.
    package static func decode(_ bytes: [UInt8]) throws(RecordDecodingError) -> [ClusterEntry] {
        do {
            return try bytes.withUnsafeBytes { buffer in
                var r = ByteReader(buffer)
                var entries: [ClusterEntry] = []
                let count = try r.varint()
                for _ in 0..<count {
                    var entry = ClusterEntry(records: [], events: [])
                    for _ in 0..<(try r.varint()) {
                        let length = Int(try r.varint())
                        guard length <= r.remaining else { throw RecordDecodingError.truncated }
                        let payload = UnsafeRawBufferPointer(rebasing: buffer[r.offset..<(r.offset + length)])
                        entry.records.append(try LogRecord.decode(payload))
                        r.offset += length
                    }
                    for _ in 0..<(try r.varint()) { entry.events.append(try ClusterEvent.decode(&r)) }
                    entries.append(entry)
                }
                guard r.remaining == 0 else { throw RecordDecodingError.malformed("bytes after the last entry") }
                return entries
            }
        } catch let error as RecordDecodingError {
            throw error
        } catch {
            throw RecordDecodingError.malformed("\(error)")
        }
    }
}

extension ClusterEvent {
    func encode(into w: inout ByteWriter) {
        switch self {
        case .publish(let room, let event, let excludingUser):
            w.u8(1)
            w.string(room)
            event.encode(into: &w)
            w.optional(excludingUser)
        case .deliverToUser(let user, let event):
            w.u8(2)
            w.string(user)
            event.encode(into: &w)
        case .leave(let user, let room):
            w.u8(3)
            w.string(user)
            w.string(room)
        case .endSessions(let user, let tokenHashes):
            w.u8(4)
            w.optional(user)
            w.varint(UInt64(tokenHashes.count))
            for hash in tokenHashes { w.string(hash) }
        }
    }

    static func decode(_ r: inout ByteReader) throws(RecordDecodingError) -> ClusterEvent {
        switch try r.u8() {
        case 1:
            return .publish(room: try r.string(), try HubEvent.decode(&r), excludingUser: try r.optional())
        case 2:
            return .deliverToUser(try r.string(), try HubEvent.decode(&r))
        case 3:
            return .leave(user: try r.string(), room: try r.string())
        case 4:
            let user = try r.optional()
            var hashes: [String] = []
            for _ in 0..<(try r.varint()) { hashes.append(try r.string()) }
            return .endSessions(user: user, tokenHashes: hashes)
        default:
            throw RecordDecodingError.malformed("unknown cluster event")
        }
    }
}

extension HubEvent {
    func encode(into w: inout ByteWriter) {
        switch self {
        case .message(let message):
            w.u8(1)
            var payload = ByteWriter()
            LogRecord.messageAppended(message).encode(into: &payload)
            w.varint(UInt64(payload.bytes.count))
            w.bytes.append(contentsOf: payload.bytes)
        case .joined(let room, let user):
            w.u8(2)
            w.string(room)
            w.string(user)
        case .left(let room, let user):
            w.u8(3)
            w.string(room)
            w.string(user)
        case .topic(let room, let topic, let by):
            w.u8(4)
            w.string(room)
            w.string(topic)
            w.string(by)
        case .typing(let room, let user):
            w.u8(5)
            w.string(room)
            w.string(user)
        case .presence(let user, let online):
            w.u8(6)
            w.string(user)
            w.u8(online ? 1 : 0)
        case .read(let room, let seq):
            w.u8(7)
            w.string(room)
            w.int(seq)
        case .added(let room, let by, let visibility):
            w.u8(8)
            w.string(room)
            w.string(by)
            w.string(visibility.rawValue)
        case .removed(let room, let by):
            w.u8(9)
            w.string(room)
            w.string(by)
        }
    }

    static func decode(_ r: inout ByteReader) throws(RecordDecodingError) -> HubEvent {
        switch try r.u8() {
        case 1:
            let length = Int(try r.varint())
            guard length <= r.remaining else { throw RecordDecodingError.truncated }
            let payload = UnsafeRawBufferPointer(rebasing: r.bytes[r.offset..<(r.offset + length)])
            r.offset += length
            guard case .messageAppended(let message) = try LogRecord.decode(payload) else {
                throw RecordDecodingError.malformed("a message event without a message")
            }
            return .message(message)
        case 2: return .joined(room: try r.string(), user: try r.string())
        case 3: return .left(room: try r.string(), user: try r.string())
        case 4: return .topic(room: try r.string(), topic: try r.string(), by: try r.string())
        case 5: return .typing(room: try r.string(), user: try r.string())
        case 6: return .presence(user: try r.string(), online: try r.u8() != 0)
        case 7: return .read(room: try r.string(), seq: try r.int())
        case 8:
            let room = try r.string()
            let by = try r.string()
            guard let visibility = RoomVisibility(rawValue: try r.string()) else {
                throw RecordDecodingError.malformed("unknown visibility")
            }
            return .added(room: room, by: by, visibility: visibility)
        case 9: return .removed(room: try r.string(), by: try r.string())
        default: throw RecordDecodingError.malformed("unknown event")
        }
    }
}

extension ByteWriter {
    mutating func optional(_ s: String?) {
        if let s {
            u8(1)
            string(s)
        } else {
            u8(0)
        }
    }
}

extension ByteReader {
    mutating func optional() throws(RecordDecodingError) -> String? {
        try u8() == 0 ? nil : try string()
    }
}

// MARK: Presence and typing across nodes

/// What a `--cluster` node tells the others without storing it: who is online on it, typing,
/// and that it is alive (see `HubCore.applyEphemeral`). Sent with `NOTIFY` outside any
/// transaction; a lost one is repaired by the next `hello` answer or heartbeat expiry.
package enum EphemeralEvent: Sendable, Equatable {
    /// These users now have a connection on the sending node (or have, in answer to `hello`).
    case online([String])
    /// The user's last connection on the sending node closed.
    case offline(String)
    /// An event for the room's subscribers on every node (`typing`).
    case publish(room: String, HubEvent, excludingUser: String?)
    /// The sending node started: every node answers with its online users.
    case hello
    /// The sending node is alive (every few seconds).
    case beat
    /// The sending node stops: its users are offline there.
    case bye
}

extension HubCore {
    /// How long a node may stay silent before its users count as offline on it.
    static let nodeSilenceLimit = 10.0

    /// Whether the user has a connection on this node or, as far as this node knows, another.
    ///
    /// - Parameters:
    ///   - user: user fold key.
    func isOnlineAnywhere(_ user: String) -> Bool {
        sessions.isOnline(user) || remoteOnline[user] != nil
    }

    /// Whether this node has something to tell the others.
    package var hasEphemeral: Bool { !ephemeralOut.isEmpty }

    /// What this node must tell the others (taken by the shell after each step).
    package mutating func takeEphemeral() -> [EphemeralEvent] {
        defer { ephemeralOut = [] }
        return ephemeralOut
    }

    /// Applies another node's ephemeral event.
    ///
    /// - Parameters:
    ///   - node: the sending node's id.
    ///   - event: the event.
    ///   - now: the time.
    package mutating func applyEphemeral(from node: String, _ event: EphemeralEvent, at now: HubTime) -> HubStep {
        var step = HubStep()
        if event != .bye { nodesSeen[node] = now.monotonic }
        switch event {
        case .online(let users):
            for user in users {
                let was = isOnlineAnywhere(user)
                remoteOnline[user, default: []].insert(node)
                if !was { broadcastPresence(user, online: true, into: &step) }
            }
        case .offline(let user):
            goOffline(user, on: node, into: &step)
        case .publish(let room, let event, let excludingUser):
            step.append(.publish(room: room, event, excludingUser: excludingUser))
        case .hello:
            let users = sessions.onlineUsers.sorted()
            if !users.isEmpty { ephemeralOut.append(.online(users)) }
        case .beat:
            break
        case .bye:
            dropNode(node, into: &step)
        }
        return step
    }

    /// Nodes silent for longer than `nodeSilenceLimit`: their users are offline there.
    ///
    /// - Parameters:
    ///   - now: the time.
    package mutating func expireNodes(at now: HubTime) -> HubStep {
        var step = HubStep()
        for (node, seen) in nodesSeen.sorted(by: { $0.key < $1.key }) where now.monotonic - seen > Self.nodeSilenceLimit
        {
            dropNode(node, into: &step)
        }
        return step
    }

    private mutating func dropNode(_ node: String, into step: inout HubStep) {
        nodesSeen[node] = nil
        for user in remoteOnline.filter({ $0.value.contains(node) }).keys.sorted() {
            goOffline(user, on: node, into: &step)
        }
    }

    private mutating func goOffline(_ user: String, on node: String, into step: inout HubStep) {
        guard var nodes = remoteOnline[user], nodes.remove(node) != nil else { return }
        remoteOnline[user] = nodes.isEmpty ? nil : nodes
        if !isOnlineAnywhere(user) { broadcastPresence(user, online: false, into: &step) }
    }

    /// A user's first connection on this node opened (`online`) or its last closed: tells the
    /// other nodes, and this node's peers of the user unless another node has it online.
    mutating func localPresence(_ user: String, online: Bool, into step: inout HubStep) {
        if configuration.cluster { ephemeralOut.append(online ? .online([user]) : .offline(user)) }
        if remoteOnline[user] == nil { broadcastPresence(user, online: online, into: &step) }
    }
}

extension EphemeralEvent {
    /// The text payload of a notification: the sending node's id, the newest `cluster_log` id it
    /// had applied (a receiver applies the event only once it has too: a `presence` after a
    /// `join` must find the membership), and the event, base64.
    ///
    /// - Parameters:
    ///   - node: the sending node's id.
    ///   - after: the newest `cluster_log` id the sending node had applied.
    package func payload(node: String, after: Int64 = 0) -> String {
        var w = ByteWriter(capacity: 64)
        w.string(node)
        w.int(after)
        switch self {
        case .online(let users):
            w.u8(1)
            w.varint(UInt64(users.count))
            for user in users { w.string(user) }
        case .offline(let user):
            w.u8(2)
            w.string(user)
        case .publish(let room, let event, let excludingUser):
            w.u8(3)
            w.string(room)
            event.encode(into: &w)
            w.optional(excludingUser)
        case .hello: w.u8(4)
        case .beat: w.u8(5)
        case .bye: w.u8(6)
        }
        return Data(w.bytes).base64EncodedString()
    }

    /// Reads a payload (nil: not one).
    ///
    /// - Parameters:
    ///   - payload: the notification's payload.
    package static func decode(_ payload: String) -> (node: String, after: Int64, event: EphemeralEvent)? {
        guard let bytes = Data(base64Encoded: payload).map(Array.init) else { return nil }
        return bytes.withUnsafeBytes { buffer -> (String, Int64, EphemeralEvent)? in
            var r = ByteReader(buffer)
            do {
                return try decode(&r)
            } catch {
                return nil
            }
        }
    }

    private static func decode(_ r: inout ByteReader) throws(RecordDecodingError) -> (String, Int64, EphemeralEvent) {
        let node = try r.string()
        let after = try r.int()
        let event: EphemeralEvent
        switch try r.u8() {
        case 1:
            var users: [String] = []
            for _ in 0..<(try r.varint()) { users.append(try r.string()) }
            event = .online(users)
        case 2: event = .offline(try r.string())
        case 3: event = .publish(room: try r.string(), try HubEvent.decode(&r), excludingUser: try r.optional())
        case 4: event = .hello
        case 5: event = .beat
        case 6: event = .bye
        default: throw RecordDecodingError.malformed("unknown ephemeral event")
        }
        return (node, after, event)
    }
}
