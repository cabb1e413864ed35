import ChatCore
import Foundation
import Logging

/// Rebuilds a data directory's search index from its message log, offline.
package enum SearchReindex {
    /// What a rebuild did.
    package struct Summary: Sendable, CustomStringConvertible {
        package var rooms: Int
        package var messages: Int
        package var seconds: Double
        package var bytes: Int

        package var description: String {
            let rate = seconds > 0 ? Int(Double(messages) / seconds) : messages
            return "\(messages) messages in \(rooms) rooms indexed in \(String(format: "%.1f", seconds)) s "
                + "(\(rate) messages/s), index \(bytes / 1024) KiB"
        }
    }

    /// The directory of the search index inside a data directory.
    ///
    /// - Parameters:
    ///   - dataDirectory: the data directory.
    package static func directory(dataDirectory: String) -> String { dataDirectory + "/search" }

    /// Loads the state the way the server does (taking the directory's lock, so this
    /// refuses while a server runs), deletes the index and indexes every message.
    ///
    /// - Parameters:
    ///   - dataDirectory: the data directory.
    ///   - logger: logger.
    ///   - progress: called with the number of messages indexed so far.
    package static func run(
        dataDirectory: String,
        logger: Logger,
        progress: (Int) -> Void = { _ in }
    ) async throws -> Summary {
        guard (try? DataDirectory(dataDirectory).isEmpty()) == false else {
            throw StorageError.io(dataDirectory, "no chat state in this directory")
        }
        let store = FileChatStore(configuration: StorageConfiguration(directory: dataDirectory), logger: logger)
        let state = try await store.recover()
        await store.close()
        let start = ContinuousClock.now
        let dir = directory(dataDirectory: dataDirectory)
        SearchIndex.removeFiles(path: dir + "/index.sqlite")
        let index = try SearchIndex.open(directory: dir, logger: logger)
        let total = try index.writeAll(state, progress: progress)
        try index.optimize()
        let elapsed = start.duration(to: .now)
        let bytes = ["", "-wal"].reduce(0) { sum, suffix in
            let size = (try? FileManager.default.attributesOfItem(atPath: dir + "/index.sqlite" + suffix)[.size]) ?? 0
            return sum + ((size as? Int) ?? 0)
        }
        return Summary(
            rooms: state.rooms.count,
            messages: total,
            seconds: Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18,
            bytes: bytes
        )
    }
}

extension SearchIndex {
    /// Indexes every message of a state in batches, with cursors (bulk loads and `reindex`).
    ///
    /// - Parameters:
    ///   - state: the state.
    ///   - batchSize: messages per transaction.
    ///   - progress: called with the number of messages indexed so far.
    package func writeAll(_ state: ChatState, batchSize: Int = 20_000, progress: (Int) -> Void = { _ in }) throws -> Int
    {
        var total = 0
        var batch = IndexBatch()
        for (key, room) in state.rooms {
            // Cold messages are read in pages, so a long room never sits in memory whole.
            var lower: Int64 = 1
            while lower <= room.head {
                let upper = room.base > 0 ? min(room.head, lower + 9_999) : room.head
                let messages =
                    room.base > 0 ? try state.messages(room: key, from: lower, through: upper) : room.messages[...]
                lower = upper + 1
                for message in messages {
                    batch.cursors[key] = IndexCursor(epoch: room.epoch, seq: message.seq)
                    guard message.isContent, !message.deleted else { continue }
                    batch.messages.append(
                        IndexedMessage(message, room: key, in: state)
                    )
                    if batch.messages.count >= batchSize {
                        try writeNow(batch)
                        total += batch.messages.count
                        progress(total)
                        batch = IndexBatch()
                    }
                }
            }
        }
        if !batch.isEmpty {
            try writeNow(batch)
            total += batch.messages.count
            progress(total)
        }
        return total
    }
}
