import ChatCore

/// The `fuzz-frames` target: one input is the payload of one WebSocket message.
///
/// It takes the path the server takes for an inbound text message — size limit,
/// UTF-8 validation, the strict JSON parser, the request envelope, field
/// validation of every request type, the error reply — and the path a client takes
/// for a server frame — `ServerFrame` parsing, limits, `join`/`history` replies and
/// `message` events fed to a `ClientSession`.
///
/// Besides "no crash, no hang, no leak" it checks two properties whose failure is a
/// bug: every error reply the server would write parses back to the same error, and
/// every accepted `send` comes back unchanged from its `message` event.
package enum FrameFuzzer {
    /// The limits the server runs with by default.
    static let limits = Limits()

    /// Runs one input.
    ///
    /// - Parameters:
    ///   - bytes: the message payload.
    package static func testOneInput(_ bytes: UnsafeRawBufferPointer) {
        serverPath(bytes)
        clientPath(bytes)
    }

    /// What the server does with a text message.
    static func serverPath(_ bytes: UnsafeRawBufferPointer) {
        // The WebSocket layer closes with 1009 above max_frame and with 1007 on invalid
        // UTF-8; only valid text reaches the protocol.
        guard bytes.count <= limits.maxFrame, let text = String(validating: bytes, as: UTF8.self) else { return }
        let envelope: RequestEnvelope
        switch RequestEnvelope.parse(text) {
        case .success(let e): envelope = e
        case .failure(let failure):
            checkErrorReply(id: failure.id, failure.error)
            return
        }
        guard let type = RequestType(rawValue: envelope.type) else {
            checkErrorReply(id: envelope.id, .badRequest("unknown request type '\(envelope.type)'"))
            return
        }
        switch Request.parse(type, body: envelope.body, limits: limits) {
        case .failure(let error):
            checkErrorReply(id: envelope.id, error)
        case .success(let request):
            checkAccepted(request)
        }
    }

    /// The error reply must survive the writer and the client's parser unchanged.
    static func checkErrorReply(id: String?, _ error: ProtocolError) {
        let text = Frames.error(id: id, error).jsonString
        guard case .error(let parsedID, let parsed)? = ServerFrame.parse(text), parsedID == id, parsed == error else {
            fatalError("error reply does not round-trip: \(text)")
        }
    }

    /// Follows an accepted request as far as pure code goes.
    static func checkAccepted(_ request: Request) {
        let encoded = request.json(id: "f")
        guard case .success(let reparsed) = Request.parse(request.requestType, body: encoded, limits: limits),
            reparsed == request
        else {
            fatalError("request does not round-trip through its encoder: \(JSONValue.object(encoded).jsonString)")
        }
        switch request {
        case .send(let room, let text, let kind, let nonce, let replyTo, _) where kind != .file:
            let message = ChatMessage(
                room: room.display,
                seq: 1,
                from: "fuzz",
                text: text,
                kind: kind,
                ts: 0,
                nonce: nonce,
                details: MessageDetails(replyTo: replyTo)
            )
            let event = Frames.message(message).jsonString
            guard case .event(.message(let parsed))? = ServerFrame.parse(event), parsed == message else {
                fatalError("message event does not round-trip: \(event)")
            }
        default:
            break
        }
    }

    /// What a client does with frames from a server: each line is one frame, fed in
    /// order to one session that follows the room `r`.
    static func clientPath(_ bytes: UnsafeRawBufferPointer) {
        var session = ClientSession()
        session.follow("r")
        var room = "r"
        for line in bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: true) {
            guard let text = String(validating: line, as: UTF8.self), let frame = ServerFrame.parse(text) else {
                continue
            }
            switch frame {
            case .ok(let id, let body):
                _ = roundTrip(HelloReply.self, body)
                if let join = roundTrip(JoinReply.self, body) {
                    room = join.room.name
                    _ = session.applyJoin(room, reply: join)
                } else if let history = try? HistoryReply(json: body, room: room) {
                    _ = roundTrip(HistoryReply.self, history.json)
                    _ = session.receiveHistory(room: room, history.messages, more: history.more)
                }
                _ = roundTrip(AuthReply.self, body)
                _ = roundTrip(RoomsReply.self, body)
                _ = roundTrip(MembersReply.self, body)
                _ = roundTrip(SearchReply.self, body)
                if roundTrip(SendReply.self, body) != nil { session.acknowledge(nonce: id) }
            case .error(let id, _):
                if let id { session.acknowledge(nonce: id) }
            case .event(.message(let message)):
                _ = session.receive(message)
            case .event(let event):
                guard (try? ChatEvent(json: event.json)) == event else {
                    fatalError("event does not round-trip: \(event.frame.jsonString)")
                }
            }
        }
        for request in session.resumePlan() { _ = request.text(id: "f") }
    }

    /// Decodes a reply body as `R` when it is one, and checks that its encoding decodes
    /// back to the same value.
    static func roundTrip<R: WireReply>(_ type: R.Type, _ body: JSONObject) -> R? {
        guard let reply = try? R(json: body) else { return nil }
        guard (try? R(json: reply.json)) == reply else {
            fatalError("\(R.self) does not round-trip: \(JSONValue.object(reply.json).jsonString)")
        }
        return reply
    }
}
