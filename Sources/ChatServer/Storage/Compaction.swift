import ChatCore

/// How many of each room's newest messages stay in memory (issue 16); older ones are read from
/// the cold store.
package enum HotWindow: Sendable, Equatable {
    /// A memory budget for the hot messages of every room together (`--cache-mib`), shared so
    /// that rooms with fewer messages than the share keep them all and the others keep the same
    /// number of newest messages, never fewer than `minimum`.
    case budget(bytes: Int, minimum: Int)
    /// The same number of newest messages in every room (`--hot-messages`).
    case messages(Int)

    /// Memory a message takes in `ChatState` beyond its text's bytes, an estimate (measured:
    /// about 260 bytes per message with 100-byte texts, docs/BENCHMARKS.md).
    static let overheadBytes = 160

    /// The newest messages every room keeps under `budget` at least: a `join` backlog and the
    /// first pages of history come from memory.
    package static let defaultMinimum = 200

    /// The number of newest messages each room keeps in memory.
    ///
    /// - Parameters:
    ///   - heads: every room's head (its message count).
    ///   - averageTextBytes: the average text size in bytes, for the budget.
    package func window(heads: [Int64], averageTextBytes: Int) -> Int64 {
        switch self {
        case .messages(let count):
            return Int64(max(count, 0))
        case .budget(let bytes, let minimum):
            var remaining = Int64(max(bytes, 0) / (Self.overheadBytes + max(averageTextBytes, 0)))
            var left = Int64(heads.count)
            for head in heads.sorted() {
                // Everything left fits if each remaining room may keep `head` messages.
                if head * left > remaining { return max(remaining / left, Int64(minimum)) }
                remaining -= head
                left -= 1
            }
            return Int64.max
        }
    }

    /// Each room's new cold head, for rooms whose messages beyond the window are not all cold
    /// yet.
    ///
    /// - Parameters:
    ///   - state: the state.
    package func plan(_ state: ChatState) -> [String: Int64] {
        var sampled = 0
        var textBytes = 0
        for room in state.rooms.values {
            for message in room.messages.suffix(16) {
                textBytes += message.text.utf8.count
                sampled += 1
            }
        }
        let window = window(
            heads: state.rooms.values.map(\.head),
            averageTextBytes: sampled > 0 ? textBytes / sampled : 0
        )
        guard window < Int64.max else { return [:] }
        var plan: [String: Int64] = [:]
        for (key, room) in state.rooms where room.head - window > room.base { plan[key] = room.head - window }
        return plan
    }
}

/// What a compaction committed to the cold store, for the hub to drop from memory
/// (`ChatState.trimHot`).
package struct Compaction: Sendable {
    /// One room's part.
    package struct Trim: Sendable {
        /// The room's new cold head.
        package var through: Int64
        /// The room's head in the copy the compaction worked on.
        package var copyHead: Int64
        /// The pending versions of cold messages it wrote.
        package var written: [Int64: ChatMessage]
        /// What expired in the room (`--retain-days`), if anything.
        package var expiry: ChatState.Expiry? = nil
    }

    /// The snapshot generation the cold store was committed as.
    package var generation: Int
    /// Room fold key → its part.
    package var rooms: [String: Trim]

    /// Moves every room's messages beyond its window, and the pending versions of its cold
    /// messages, from `state` (a copy of the hub's) to the cold store, expires the messages sent
    /// before `expireBefore` (retention), and commits the store as `generation`; `state` is then
    /// what snapshot `generation` holds. Returns nil when no room has cold messages and nothing
    /// expired (the snapshot holds everything, and no manifest is needed).
    ///
    /// - Parameters:
    ///   - state: a copy of the state, with its cold store.
    ///   - policy: the windows (nil: nothing new leaves memory; pending versions are written).
    ///   - expireBefore: expire each room's oldest messages sent before this time (ms since the
    ///     epoch; see `ChatState.expiry`); nil: no retention this time.
    ///   - generation: the snapshot's generation.
    ///   - beforeCommit: called after the appends, before the commit (the crash tests pause here).
    package static func run(
        _ state: inout ChatState,
        policy: HotWindow?,
        expireBefore: Int64? = nil,
        generation: Int,
        beforeCommit: () -> Void = {}
    ) throws -> Compaction? {
        guard let cold = state.cold else { return nil }
        let plan = policy?.plan(state) ?? [:]
        var trims: [String: Trim] = [:]
        for key in state.rooms.keys.sorted() {
            guard let old = state.rooms[key] else { continue }
            // Expired first: pending versions of what expires are dropped, not written.
            let expiry = try expireBefore.flatMap { try state.expiry(room: key, before: $0) }
            if let expiry { state.expire(room: key, expiry) }
            guard let room = state.rooms[key] else { continue }
            let through = plan[key] ?? room.base
            guard through > room.base || !room.coldVersions.isEmpty || expiry != nil else { continue }
            trims[key] = Trim(through: through, copyHead: room.head, written: room.coldVersions, expiry: expiry)
            try state.moveToCold(room: key, through: through)
            // The hot messages that expired went to the cold store (if they did) as tombstones;
            // the ones already cold are rewritten.
            if let expiry, min(expiry.through, old.base) > old.expired {
                try cold.expire(room: key, through: min(expiry.through, old.base))
            }
        }
        guard !trims.isEmpty || state.hasColdMessages else { return nil }
        beforeCommit()
        try cold.commit(generation: generation)
        return Compaction(generation: generation, rooms: trims)
    }
}

extension ChatState {
    /// Expires what the compaction expired (see `expire`), then drops from memory what it
    /// committed (see `trimHot`).
    ///
    /// - Parameters:
    ///   - compaction: what the compaction committed.
    package mutating func apply(_ compaction: Compaction) {
        for (key, trim) in compaction.rooms {
            if let expiry = trim.expiry { expire(room: key, expiry) }
            trimHot(room: key, through: trim.through, copyHead: trim.copyHead, written: trim.written)
        }
    }

    /// Whether some room has messages in the cold store.
    package var hasColdMessages: Bool { rooms.values.contains { $0.base > 0 } }
}
