import ChatCore
import ChatLog
import ChatServer
import Foundation
import Logging
import Testing

// Shared helpers for the storage tests (temporary directories, a seeded PRNG, a
// field-by-field `ChatState` comparison, a random workload), and tests of those
// helpers, so a comparison that silently passes everything cannot go unnoticed.

/// Random valid operations, as the hub would produce them, against the current state.
struct StorageWorkload {
    var rng: SplitMix64
    private var counter = 0
    private var clock: Int64 = 1_700_000_000_000

    init(seed: UInt64) { rng = SplitMix64(seed: seed) }

    private static let userStems = ["user", "Ünïcödé", "名前", "Straße", "ΣΊΣΥΦΟΣ", "MiXeD"]
    private static let roomStems = ["room", "Café", "чат", "部屋", "ZZ"]
    private static let texts = ["", "hello", "ünïcödé ✓", "👩‍👩‍👧 family", "line1\nline2", "\u{0}nul", "\"quoted\""]

    private mutating func pick<T>(_ values: [T]) -> T { values[Int.random(in: 0..<values.count, using: &rng)] }

    private mutating func chance(_ percent: Int) -> Bool { Int.random(in: 0..<100, using: &rng) < percent }

    private mutating func hex(_ count: Int) -> String {
        String((0..<count).map { _ in "0123456789abcdef".randomElement(using: &rng) ?? "0" })
    }

    private mutating func timestamp() -> Int64 {
        clock += Int64.random(in: 0...5_000, using: &rng)
        if chance(3) { return pick([Int64.min, Int64.max, -1, 0]) }
        return clock
    }

    private mutating func text() -> String {
        if chance(5) { return "" }
        if chance(10) { return String(repeating: pick(["a", "é", "字"]), count: 300) + "\(counter)" }
        return pick(Self.texts) + " #\(counter)"
    }

    /// One record that is valid against `state`.
    mutating func next(_ state: ChatState) -> LogRecord {
        counter += 1
        let users = state.users.keys.sorted()
        let rooms = state.rooms.keys.sorted()
        if users.count < 2 || (users.count < 30 && chance(6)) {
            let name = "\(pick(Self.userStems))\(counter)"
            return .userCreated(name: name, passwordHash: "$argon2id$" + hex(16), ts: timestamp())
        }
        if rooms.isEmpty || (rooms.count < 12 && chance(4)) {
            return .roomCreated(name: "\(pick(Self.roomStems))\(counter)", epoch: hex(12), ts: timestamp())
        }
        let roomKey = pick(rooms)
        guard let room = state.rooms[roomKey] else { fatalError("room vanished") }
        let members = room.members.keys.sorted()
        let outsiders = users.filter { room.members[$0] == nil }
        let roll = Int.random(in: 0..<100, using: &rng)
        switch roll {
        case 0..<4:
            return .passwordChanged(user: pick(users), passwordHash: "$argon2id$" + hex(16))
        case 4..<10:
            return .tokenIssued(user: pick(users), tokenHash: hex(64), ts: timestamp())
        case 10..<13 where !state.tokens.isEmpty:
            return .tokenRevoked(tokenHash: pick(state.tokens.keys.sorted()))
        case 13..<16:
            return .epochChanged(room: roomKey, epoch: hex(12))
        case 32..<34:
            let user = pick(users)
            return .userDisabled(user: user, disabled: state.users[user]?.disabled != true)
        case 34..<36:
            return .inviteCreated(
                codeHash: hex(64),
                uses: Int64.random(in: 1...3, using: &rng),
                expiresAt: chance(2) ? 0 : timestamp(),
                ts: timestamp()
            )
        case 38..<40:
            let visibility = pick(RoomVisibility.allCases.filter { $0 != room.visibility })
            return .roomAccess(room: roomKey, visibility: visibility, owner: chance(50) ? nil : pick(users))
        case 40..<42 where !state.tokens.isEmpty:
            let token = pick(state.tokens.keys.sorted())
            let used = state.tokenUsedAt[token] ?? 0
            guard used < Int64.max else { return .tokenRevoked(tokenHash: token) }
            let later = Int64.random(in: 1...86_400_000, using: &rng)
            return .tokenUsed(tokenHash: token, ts: used > Int64.max - later ? Int64.max : used + later)
        case 36..<38 where !state.invites.isEmpty:
            let code = pick(state.invites.keys.sorted())
            return chance(4) ? .inviteRevoked(codeHash: code) : .inviteUsed(codeHash: code)
        case 16..<20 where members.count > 1:
            return .memberRemoved(room: roomKey, user: pick(members))
        case 20..<24:
            let by = state.users[pick(users)]?.name ?? ""
            let clear = !room.topic.isEmpty && chance(20)
            return .topicSet(room: roomKey, topic: clear ? "" : "topic \(counter) \(text())", by: by)
        case 24..<32 where !members.isEmpty && room.head > 0:
            let member = pick(members)
            let current = room.members[member] ?? 0
            if current < room.head {
                return .readMarked(
                    room: roomKey,
                    user: member,
                    seq: Int64.random(in: (current + 1)...room.head, using: &rng)
                )
            }
            fallthrough
        default:
            if !outsiders.isEmpty && (members.isEmpty || chance(12)) {
                return .memberAdded(room: roomKey, user: pick(outsiders))
            }
            let from = state.users[pick(members)]?.name ?? "?"
            if chance(35), let change = change(in: room, from: from) { return .messageAppended(change) }
            let nonce: String? = chance(40) ? (chance(10) ? "ñ-\(counter)" : "n\(counter)") : nil
            let message = ChatMessage(
                room: room.name,
                seq: room.head + 1,
                from: from,
                text: text(),
                kind: chance(15) ? .action : .text,
                ts: timestamp(),
                nonce: nonce
            )
            return .messageAppended(message)
        }
    }

    /// A reply, edit, delete, reaction or unreaction by `from` to a live message of the room,
    /// as the hub would store it (edits by the author only); nil when there is none to change.
    private mutating func change(in room: ChatState.Room, from: String) -> ChatMessage? {
        let live = room.messages.filter { $0.isContent && !$0.deleted }
        guard !live.isEmpty else { return nil }
        let target = pick(live)
        var event = ChatMessage(
            room: room.name,
            seq: room.head + 1,
            from: from,
            text: "",
            kind: .react,
            ts: timestamp()
        )
        switch Int.random(in: 0..<10, using: &rng) {
        case 0..<2:
            event.kind = chance(20) ? .action : .text
            event.text = text()
            event.replyTo = target.seq
            return event
        case 2..<4:
            event.kind = .edit
            event.from = target.from
            event.text = text()
        case 4:
            event.kind = .delete
        case 5..<8:
            event.emoji = pick(Self.emoji)
        default:
            guard let reaction = target.reactions.first else { return nil }
            event.kind = .unreact
            event.emoji = reaction.emoji
            event.from = pick(reaction.users)
        }
        event.target = target.seq
        return event
    }

    static let emoji = ["👍", "🎉", "👍🏽", "❤️", "😂"]

    /// `count` records, each valid after the previous ones (applied to a copy of `state`).
    mutating func batch(_ count: Int, after state: ChatState) -> [LogRecord] {
        var scratch = state
        var records: [LogRecord] = []
        for _ in 0..<count {
            let record = next(scratch)
            scratch.apply(record)
            records.append(record)
        }
        return records
    }
}
