import ChatCore
import ChatLog

/// Messages: the rate limit, sends (with nonce retries) and their ordered publication.
extension HubCore {
    /// Stores a message; once durable it is published in seq order, then acknowledged. A
    /// nonce the user already sent to the room is acknowledged with the original's seq once
    /// everything stored so far is durable (the original may still be on its way to disk).
    mutating func send(
        _ conn: ConnID,
        id: String,
        user: ChatState.User,
        userKey: String,
        room: String,
        text: String,
        kind: MessageKind,
        nonce: String?,
        replyTo: Int64? = nil,
        file: String? = nil,
        at now: HubTime,
        into step: inout HubStep
    ) throws(ProtocolError) {
        if let nonce, let seq = state.seq(forNonce: nonce, room: room, user: userKey),
            let original = state.message(room: room, seq: seq)
        {
            replyAfterPending(conn, id: id, .sent(seq: original.seq, ts: original.ts), into: &step)
            return
        }
        guard let roomState = state.rooms[room] else { throw ProtocolError(.notFound, "no such room") }
        // A refused reply costs no token, as a refused edit or reaction does not.
        if let replyTo { _ = try state.content(room: room, seq: replyTo) }
        // Only the uploader may post an upload; anyone else's id is as unknown as a made-up one.
        var shared: FileRef?
        if let file {
            guard let upload = state.uploads[file], upload.uploader == userKey else {
                throw ProtocolError(.notFound, "no such file (upload it with POST /v1/files first)")
            }
            shared = upload.file
        }
        try takeMessageToken(userKey, at: now)
        var message = ChatMessage(
            room: roomState.name,
            seq: roomState.head + 1,
            from: user.name,
            text: text,
            kind: kind,
            ts: now.wallMs,
            nonce: nonce
        )
        if let replyTo { message.replyTo = replyTo }
        if let shared { message.file = shared }
        commitSend(message, room: room, conn: conn, id: id, into: &step)
    }
}
