import ChatCore
import Synchronization

/// Where a room's older messages live once they leave its hot window in memory (issue 16):
/// by room and seq, each message in its latest version.
///
/// The contract is small (five calls) so that another engine fits behind it (the multi-node design puts
/// PostgreSQL here: `append` is an insert or an upsert in a transaction, `commit` its
/// commit, `read` a `WHERE room = $1 AND seq BETWEEN $2 AND $3`, `expire` an `UPDATE`):
/// - `append` adds the messages that leave a room's hot window, in seq order from the room's
///   cold head + 1, and newer versions (an edit, a delete, a reaction) of messages already cold;
/// - nothing appended is seen by a restart until `commit(generation:)` returns; a crash before it leaves
///   the store as the last commit left it, so a compaction killed half-way neither loses nor
///   duplicates a message;
/// - `read` sees everything appended, committed or not, so the process that appends can drop
///   the messages from memory as soon as `commit` returns.
///
/// The calls are synchronous and `read` runs in the hub's turn (a page of the file store is one
/// `pread`); an engine behind a network round trip needs the hub's cold reads to become actions
/// first (see docs/ARCHITECTURE.md, "History beyond memory").
package protocol ColdStore: Sendable {
    /// Each room's cold head: the highest seq stored (rooms with nothing stored are absent).
    func heads() -> [String: Int64]

    /// A room's messages with `lower ≤ seq ≤ upper`, oldest first, each in its latest version.
    /// Seqs above the room's cold head are not returned.
    ///
    /// - Parameters:
    ///   - room: the room's fold key.
    ///   - lower: the first seq (at least 1).
    ///   - upper: the last seq.
    func read(room: String, from lower: Int64, through upper: Int64) throws -> [ChatMessage]

    /// Adds a room's messages leaving its hot window and newer versions of its cold messages.
    ///
    /// - Parameters:
    ///   - room: the room's fold key.
    ///   - messages: seqs head + 1, head + 2, … in order (may be empty).
    ///   - versions: newer versions of messages with seq ≤ the cold head (after `messages`).
    func append(room: String, messages: [ChatMessage], versions: [ChatMessage]) throws

    /// Turns a room's stored messages with seq ≤ `through` into what retention leaves of them
    /// (`MessageChanges.expire`), so their text leaves the store; committed like an append.
    ///
    /// - Parameters:
    ///   - room: the room's fold key.
    ///   - through: the newest expired seq.
    func expire(room: String, through: Int64) throws

    /// Makes everything appended so far what a restart from `generation` finds, atomically.
    ///
    /// - Parameters:
    ///   - generation: the generation of the snapshot written next (which no longer holds the
    ///     bodies of the messages appended here); a restart from an older snapshot sees the
    ///     store as that snapshot's commit left it.
    func commit(generation: Int) throws
}

/// A cold store in memory (tests, and a server without a data directory).
package final class MemoryColdStore: ColdStore {
    private let rooms = Mutex<[String: [ChatMessage]]>([:])

    /// Creates an empty store.
    package init() {}

    package func heads() -> [String: Int64] {
        rooms.withLock { $0.mapValues { Int64($0.count) } }
    }

    package func read(room: String, from lower: Int64, through upper: Int64) throws -> [ChatMessage] {
        rooms.withLock { rooms in
            guard let messages = rooms[room], lower <= upper else { return [] }
            let from = max(lower, 1)
            let to = min(upper, Int64(messages.count))
            return from <= to ? Array(messages[Int(from - 1)..<Int(to)]) : []
        }
    }

    package func append(room: String, messages: [ChatMessage], versions: [ChatMessage]) throws {
        try rooms.withLock { rooms in
            var stored = rooms[room] ?? []
            for message in messages {
                guard message.seq == Int64(stored.count) + 1 else {
                    throw StorageError.corrupt(
                        "cold store",
                        offset: 0,
                        "room \(room): seq \(message.seq) appended after \(stored.count)"
                    )
                }
                stored.append(message)
            }
            for version in versions where version.seq >= 1 && version.seq <= Int64(stored.count) {
                stored[Int(version.seq - 1)] = version
            }
            rooms[room] = stored
        }
    }

    package func expire(room: String, through: Int64) throws {
        rooms.withLock { rooms in
            guard var stored = rooms[room] else { return }
            for i in stored.indices where stored[i].seq <= through { MessageChanges.expire(&stored[i]) }
            rooms[room] = stored
        }
    }

    package func commit(generation: Int) throws {}
}
