import ChatCore

/// The indexer's durable position in one room: messages up to `seq` of the room's
/// history named `epoch` are searchable.
package struct IndexCursor: Sendable, Equatable {
    package var epoch: String
    package var seq: Int64

    /// Creates a cursor.
    ///
    /// - Parameters:
    ///   - epoch: the room's epoch the seq belongs to.
    ///   - seq: the last indexed seq.
    package init(epoch: String, seq: Int64) {
        self.epoch = epoch
        self.seq = seq
    }
}

/// A message as the index stores it.
package struct IndexedMessage: Sendable, Equatable {
    /// Room fold key.
    package var room: String
    package var seq: Int64
    /// Sender display name.
    package var from: String
    /// Sender fold key, for `from:`.
    package var fromKey: String
    package var text: String
    package var ts: Int64

    /// Creates a message record.
    ///
    /// - Parameters:
    ///   - room: room fold key.
    ///   - seq: seq in the room.
    ///   - from: sender display name.
    ///   - fromKey: sender fold key.
    ///   - text: message text.
    ///   - ts: milliseconds since the epoch.
    package init(room: String, seq: Int64, from: String, fromKey: String, text: String, ts: Int64) {
        self.room = room
        self.seq = seq
        self.from = from
        self.fromKey = fromKey
        self.text = text
        self.ts = ts
    }

    /// The record of a stored message.
    ///
    /// - Parameters:
    ///   - message: the message.
    ///   - room: its room's fold key.
    ///   - state: the state it belongs to (for the sender's fold key).
    package init(_ message: ChatMessage, room: String, in state: ChatState) {
        self.init(
            room: room,
            seq: message.seq,
            from: message.from,
            fromKey: state.userKey(ofDisplayName: message.from),
            text: message.text,
            ts: message.ts
        )
    }
}

/// A message whose row leaves the index (it was deleted, or edited: then `messages` holds
/// its new text).
package struct IndexRemoval: Sendable, Equatable {
    /// Room fold key.
    package var room: String
    package var seq: Int64
    /// The message's `ts` (its row is found by time).
    package var ts: Int64

    /// Creates a removal.
    ///
    /// - Parameters:
    ///   - room: room fold key.
    ///   - seq: the message's seq.
    ///   - ts: the message's time.
    package init(room: String, seq: Int64, ts: Int64) {
        self.room = room
        self.seq = seq
        self.ts = ts
    }
}

/// A room's expired messages (`--retain-days`): rows with seq ≤ `through` leave the index.
package struct IndexExpiry: Sendable, Equatable {
    /// Room fold key.
    package var room: String
    package var through: Int64
    /// Every expired message was sent before this time (ms): their rows are found by time.
    package var before: Int64

    /// Creates an expiry.
    ///
    /// - Parameters:
    ///   - room: room fold key.
    ///   - through: the newest expired seq.
    ///   - before: the cutoff (ms).
    package init(room: String, through: Int64, before: Int64) {
        self.room = room
        self.through = through
        self.before = before
    }
}

/// One unit of indexing work, committed in one transaction together with the cursors.
package struct IndexBatch: Sendable {
    /// Rooms whose indexed messages must be dropped first (their epoch changed).
    package var resets: [String] = []
    /// Rows to drop before `messages` go in (edited and deleted messages).
    package var removals: [IndexRemoval] = []
    /// Rooms whose oldest rows expired.
    package var expiries: [IndexExpiry] = []
    /// New messages, in any order.
    package var messages: [IndexedMessage] = []
    /// The cursor of every room this batch touches, as it is once the batch is stored.
    package var cursors: [String: IndexCursor] = [:]
    /// Messages not yet searchable before this batch is stored.
    package var lag: Int64 = 0

    /// Creates an empty batch.
    package init() {}

    /// Whether there is nothing to store.
    package var isEmpty: Bool {
        resets.isEmpty && removals.isEmpty && expiries.isEmpty && messages.isEmpty && cursors.isEmpty
    }
}

/// Where the indexer writes: the SQLite index, or a wrapper in tests.
package protocol SearchIndexWriting: Sendable {
    /// The stored cursors, by room fold key.
    func cursors() async throws -> [String: IndexCursor]

    /// Stores a batch and its cursors atomically.
    ///
    /// - Parameters:
    ///   - batch: the batch.
    func write(_ batch: IndexBatch) async throws

    /// Rewrites the index so removed rows leave no trace in its files (deleted text must not
    /// stay on disk).
    func purge() async throws

    /// Whether removed rows still wait for `purge()` (also after a restart).
    func purgePending() async throws -> Bool
}

extension SearchIndexWriting {
    package func purge() async throws {}
    package func purgePending() async throws -> Bool { false }
}

/// A search hit before the snippet is made.
package struct IndexHit: Sendable, Equatable {
    /// Room fold key.
    package var room: String
    package var seq: Int64
    package var from: String
    package var text: String
    package var ts: Int64
}
