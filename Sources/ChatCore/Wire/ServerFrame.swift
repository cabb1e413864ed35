/// A frame as a client receives it: a reply (`ok` or `error`) or an event.
///
/// An `ok` body is typed by the request it answers, which only the client knows:
/// decode it with `reply(as:)` (or `SomeReply(json:)`).
package enum ServerFrame: Sendable, Equatable {
    /// `{"type":"ok","id":…}`; `body` is the whole object.
    case ok(id: String, body: JSONObject)
    /// `{"type":"error","id":…|null,"code":…,"message":…,"retry_after_ms"?:…}`.
    case error(id: String?, ProtocolError)
    /// Any other `type`.
    case event(ChatEvent)

    /// Decodes a server frame's text.
    ///
    /// - Parameters:
    ///   - text: the frame text.
    package init(text: String) throws(WireDecodingError) {
        let value: JSONValue
        do {
            value = try JSONParser(maxDepth: 64).parse(text)
        } catch {
            throw .notJSON(error.description)
        }
        guard case .object(let o) = value else { throw .notJSON("not an object") }
        try self.init(json: o)
    }

    /// Decodes a server frame object. When a reply cannot be decoded but its `id` can
    /// be read, the error carries that id.
    ///
    /// - Parameters:
    ///   - o: the frame object.
    package init(json o: JSONObject) throws(WireDecodingError) {
        let f = WireFields(o)
        switch try f.string("type") {
        case "ok":
            self = .ok(id: try f.string("id"), body: o)
        case "error":
            let id = o["id"]?.stringValue
            do {
                let error = ProtocolError(
                    ErrorCode(rawValue: try f.string("code")),
                    try f.string("message"),
                    retryAfterMs: f.value("retry_after_ms") == nil ? nil : try f.int("retry_after_ms")
                )
                self = .error(id: id, error)
            } catch {
                var error = error
                error.id = id
                throw error
            }
        default:
            self = .event(try ChatEvent(json: o))
        }
    }

    /// Decodes a server frame; nil when it is not one (see `init(text:)` for why).
    ///
    /// - Parameters:
    ///   - text: the frame text.
    package static func parse(_ text: String) -> ServerFrame? { try? ServerFrame(text: text) }

    /// Decodes the body of an `ok` reply as the reply to a known request.
    ///
    /// - Parameters:
    ///   - type: the reply type.
    package func reply<R: WireReply>(as type: R.Type) throws(WireDecodingError) -> R? {
        guard case .ok(let id, let body) = self else { return nil }
        do {
            return try R(json: body)
        } catch {
            var error = error
            error.id = id
            throw error
        }
    }

    /// The frame as the server writes it.
    package var json: JSONValue {
        switch self {
        case .ok(let id, let body):
            return Frames.ok(id: id, JSONObject(body.fields.filter { $0.key != "type" && $0.key != "id" }))
        case .error(let id, let error):
            return Frames.error(id: id, error)
        case .event(let event):
            return event.frame
        }
    }
}
