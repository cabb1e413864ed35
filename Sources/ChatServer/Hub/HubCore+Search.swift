import ChatCore

/// The rooms a search may look in: fold key → display name, and the keys of all other
/// rooms (nil when the search names one room).
package struct SearchScope: Sendable, Equatable {
    package var rooms: [String: String]
    package var others: [String]?
}

extension HubCore {
    /// The next indexing batch: published messages after the indexer's cursors, at
    /// most `limit` of them. One short actor turn that copies what it returns, so
    /// indexing never holds the hub.
    ///
    /// A room whose epoch differs from its cursor's (a restore, or an unclean machine
    /// stop) is listed in `resets` and indexed again from seq 1.
    ///
    /// While the store refuses changes (a full disk) the batch is empty but for the lag: the
    /// index, which shares the disk and lags behind the log, must not take the space an
    /// operator frees before the log's next retry does.
    ///
    /// - Parameters:
    ///   - cursors: the indexer's cursors, by room fold key.
    ///   - limit: most messages in the batch.
    package func indexBatch(after cursors: [String: IndexCursor], limit: Int) -> IndexBatch {
        let limit = storageFailed ? 0 : limit
        var batch = IndexBatch()
        for (key, head) in sequencer.heads {
            guard let roomState = state.rooms[key] else { continue }
            var from: Int64 = 0
            if let cursor = cursors[key] {
                if cursor.epoch == roomState.epoch, cursor.seq <= head {
                    from = cursor.seq
                } else {
                    batch.resets.append(key)
                    batch.cursors[key] = IndexCursor(epoch: roomState.epoch, seq: 0)
                }
            }
            batch.lag += head - from
            let take = min(head - from, Int64(limit - batch.messages.count))
            guard take > 0 else { continue }
            // Messages go in with their current text (a deleted one not at all); an edit or a
            // delete of a message indexed in an earlier batch replaces or removes its row.
            var added: Set<Int64> = []
            // A batch that cannot be read now (cold store) is left for the next one.
            guard let messages = try? state.messages(room: key, from: from + 1, through: from + take) else { continue }
            for message in messages {
                if message.isContent {
                    guard !message.deleted else { continue }
                    batch.messages.append(IndexedMessage(message, room: key, in: state))
                    added.insert(message.seq)
                    continue
                }
                guard message.kind == .edit || message.kind == .delete, let target = message.target,
                    target >= 1, target <= head, !added.contains(target)
                else { continue }
                guard let original = state.message(room: key, seq: target) else { continue }
                batch.removals.append(IndexRemoval(room: key, seq: target, ts: original.ts))
                if original.isContent, !original.deleted {
                    batch.messages.append(IndexedMessage(original, room: key, in: state))
                    added.insert(target)
                }
            }
            batch.cursors[key] = IndexCursor(epoch: roomState.epoch, seq: from + take)
        }
        if storageFailed {
            // No messages (the limit was 0); the resets wait too. Only the lag is reported.
            var waiting = IndexBatch()
            waiting.lag = batch.lag
            return waiting
        }
        return batch
    }

    /// The current text of a `text`/`action` message; nil when it was deleted or is unknown.
    ///
    /// - Parameters:
    ///   - room: room fold key.
    ///   - seq: the message's seq.
    package func currentText(room: String, seq: Int64) -> String? {
        guard let message = state.message(room: room, seq: seq) else { return nil }
        return message.isContent && !message.deleted ? message.text : nil
    }

    /// The rooms a connection's user may search: one room (which must exist and
    /// have the user as a member) or all of the user's rooms. A search takes
    /// `Limits.searchReadCost` tokens from the user's read bucket.
    ///
    /// - Parameters:
    ///   - conn: the connection.
    ///   - room: the room the request names, if any.
    ///   - now: the time.
    package mutating func searchScope(
        _ conn: ConnID,
        room: ValidName?,
        at now: HubTime
    ) -> Result<SearchScope, ProtocolError> {
        switch searchRooms(conn, room: room) {
        case .failure(let error): return .failure(error)
        case .success(let scope):
            guard let userKey = sessions[conn]?.userKey else { return .success(scope) }
            do throws(ProtocolError) {
                try take([(.read, Limits.searchReadCost)], user: userKey, at: now)
            } catch {
                return .failure(error)
            }
            return .success(scope)
        }
    }

    private func searchRooms(_ conn: ConnID, room: ValidName?) -> Result<SearchScope, ProtocolError> {
        guard let userKey = sessions[conn]?.userKey, let user = state.users[userKey] else {
            return .failure(ProtocolError(.unauthorized, "authenticate first"))
        }
        if let room {
            guard let roomState = state.rooms[room.key] else {
                return .failure(ProtocolError(.notFound, "no such room"))
            }
            guard roomState.members[userKey] != nil else {
                return .failure(ProtocolError(.forbidden, "not a member of this room"))
            }
            return .success(SearchScope(rooms: [room.key: roomState.name], others: nil))
        }
        var rooms: [String: String] = [:]
        var others: [String] = []
        for (key, roomState) in state.rooms {
            if user.rooms.contains(key) { rooms[key] = roomState.name } else { others.append(key) }
        }
        return .success(SearchScope(rooms: rooms, others: others))
    }
}
