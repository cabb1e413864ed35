import ChatCore

/// A message as a row of the `messages` table: the columns every message has (`sender_key` is the
/// sender's fold key, for `from:`), `search` (its tokens, `PostgresSearch`), and `details`, a
/// JSON object with the rest (absent when there is nothing else):
/// `reply_to`, `target`, `emoji`, `edited_ts`, `deleted`, `file` (as on the wire), `kind` (the
/// name of a kind this server does not know) and `reactions`, each `{"emoji", "users", "seqs"}`
/// where `seqs` are the seqs of the `react` events still standing, in the order of `users`.
package struct MessageRow: Sendable, Equatable {
    package var room: String
    package var seq: Int64
    package var sender: String
    package var senderKey: String
    package var kind: String
    package var body: String
    package var ts: Int64
    package var nonce: String?
    package var details: String?
    /// The `tsvector` literal of what a search finds in it (nil: nothing).
    package var search: String?

    /// The row of a message.
    ///
    /// - Parameters:
    ///   - message: the message, in its latest version.
    ///   - roomKey: its room's fold key.
    ///   - senderKey: its sender's fold key.
    package init(_ message: ChatMessage, roomKey: String, senderKey: String) {
        room = roomKey
        seq = message.seq
        sender = message.from
        self.senderKey = senderKey
        search = PostgresSearch.vector(of: message)
        kind = message.kind.rawValue
        body = message.text
        ts = message.ts
        nonce = message.nonce
        details = message.hasNoDetails ? nil : JSONValue.object(Self.json(message.details)).jsonString
    }

    /// A row as read.
    package init(
        room: String,
        seq: Int64,
        sender: String,
        kind: String,
        body: String,
        ts: Int64,
        nonce: String?,
        details: String?
    ) {
        self.room = room
        self.seq = seq
        self.sender = sender
        self.senderKey = TextRules.foldKey(sender)
        self.kind = kind
        self.body = body
        self.ts = ts
        self.nonce = nonce
        self.details = details
    }

    /// The message a row holds.
    ///
    /// - Parameters:
    ///   - roomName: the room's display name (what `ChatMessage.room` holds).
    /// - Throws: `PostgresStoreError.source` when `kind` or `details` cannot be read.
    package func message(roomName: String) throws -> ChatMessage {
        guard let kind = MessageKind(rawValue: kind) else {
            throw PostgresStoreError.source("message \(room)/\(seq): unknown kind '\(self.kind)'")
        }
        var message = ChatMessage(
            room: roomName,
            seq: seq,
            from: sender,
            text: body,
            kind: kind,
            ts: ts,
            nonce: nonce
        )
        if let details {
            guard case .object(let object)? = try? JSONParser().parse(details) else {
                throw PostgresStoreError.source("message \(room)/\(seq): details are not a JSON object")
            }
            message.details = try Self.details(object, where: "\(room)/\(seq)")
        }
        return message
    }

    static func json(_ d: MessageDetails) -> JSONObject {
        var o = JSONObject()
        if let replyTo = d.replyTo { o["reply_to"] = .int(replyTo) }
        if let target = d.target { o["target"] = .int(target) }
        if let emoji = d.emoji { o["emoji"] = .string(emoji) }
        if let editedTs = d.editedTs { o["edited_ts"] = .int(editedTs) }
        if d.deleted { o["deleted"] = .bool(true) }
        if let file = d.file { o["file"] = .object(file.json) }
        if let name = d.unknownKind { o["kind"] = .string(name) }
        if !d.reactions.isEmpty {
            o["reactions"] = .array(
                d.reactions.enumerated().map { i, r in
                    let seqs = i < d.reactionSeqs.count ? d.reactionSeqs[i] : []
                    return .object([
                        "emoji": .string(r.emoji),
                        "users": .array(r.users.map { .string($0) }),
                        "seqs": .array(seqs.map { .int($0) }),
                    ])
                }
            )
        }
        return o
    }

    static func details(_ o: JSONObject, where place: String) throws -> MessageDetails {
        func bad(_ field: String) -> PostgresStoreError {
            .source("message \(place): details field '\(field)' cannot be read")
        }
        var d = MessageDetails()
        if let v = o["reply_to"] { d.replyTo = try v.intValue ?? { throw bad("reply_to") }() }
        if let v = o["target"] { d.target = try v.intValue ?? { throw bad("target") }() }
        if let v = o["emoji"] { d.emoji = try v.stringValue ?? { throw bad("emoji") }() }
        if let v = o["edited_ts"] { d.editedTs = try v.intValue ?? { throw bad("edited_ts") }() }
        if let v = o["deleted"] { d.deleted = try v.boolValue ?? { throw bad("deleted") }() }
        if let v = o["file"] {
            guard let object = v.objectValue, let file = try? FileRef(wire: object) else { throw bad("file") }
            d.file = file
        }
        if let v = o["kind"] { d.unknownKind = try v.stringValue ?? { throw bad("kind") }() }
        if let v = o["reactions"] {
            guard let items = v.arrayValue else { throw bad("reactions") }
            var seqs: [[Int64]] = []
            for item in items {
                guard let r = item.objectValue, let emoji = r["emoji"]?.stringValue,
                    let users = r["users"]?.arrayValue?.compactMap(\.stringValue)
                else { throw bad("reactions") }
                d.reactions.append(Reaction(emoji: emoji, users: users))
                seqs.append(r["seqs"]?.arrayValue?.compactMap(\.intValue) ?? [])
            }
            d.reactionSeqs = seqs.allSatisfy(\.isEmpty) ? [] : seqs
        }
        return d
    }
}
