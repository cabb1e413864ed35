import ChatCore

/// Publishes each room's stored messages in seq order and remembers the newest published
/// seq: a room's `head` as clients see it. A message whose record is durable is handed in
/// with `stored`; it leaves with the next contiguous run of its room, never before a lower
/// seq of the same room.
package struct PublishSequencer: Sendable {
    /// Room fold key → newest published seq.
    private var published: [String: Int64] = [:]
    /// Room fold key → stored but not yet published messages, by seq.
    private var waiting: [String: [Int64: ChatMessage]] = [:]

    /// Starts with every recovered message published.
    ///
    /// - Parameters:
    ///   - state: the recovered state.
    package init(_ state: ChatState) {
        for (key, room) in state.rooms { published[key] = room.head }
    }

    /// The newest published seq of a room (0 when none).
    ///
    /// - Parameters:
    ///   - room: room fold key.
    package func head(_ room: String) -> Int64 { published[room] ?? 0 }

    /// Every room with its published head.
    package var heads: [String: Int64] { published }

    /// Takes a stored message; returns the messages of its room now ready to publish, in order.
    ///
    /// - Parameters:
    ///   - message: a message whose record is durable.
    ///   - room: its room's fold key.
    package mutating func stored(_ message: ChatMessage, room: String) -> [ChatMessage] {
        var ready: [ChatMessage] = []
        stored(message, room: room, into: &ready)
        return ready
    }

    /// `stored(_:room:)`, appending the ready messages to `ready` (no array of its own).
    ///
    /// - Parameters:
    ///   - message: a message whose record is durable.
    ///   - room: its room's fold key.
    ///   - ready: where the messages now ready to publish are appended, in order.
    package mutating func stored(_ message: ChatMessage, room: String, into ready: inout [ChatMessage]) {
        var head = published[room] ?? 0
        guard message.seq == head + 1 else {
            if message.seq > head { waiting[room, default: [:]][message.seq] = message }
            return
        }
        head += 1
        ready.append(message)
        if !waiting.isEmpty {
            while let next = waiting[room]?.removeValue(forKey: head + 1) {
                head += 1
                ready.append(next)
            }
            if waiting[room]?.isEmpty == true { waiting[room] = nil }
        }
        published[room] = head
    }
}
