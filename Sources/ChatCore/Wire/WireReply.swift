/// The fields of one kind of `ok` reply, typed both ways.
///
/// A server writes a reply with `Frames.ok(id: id, reply.json)`; a client reads the
/// `ok` object it received (with or without `type` and `id`, which are ignored) with
/// `init(json:)`. Encoding writes the fields in the order the server has always
/// written them, so the bytes on the wire do not change.
package protocol WireReply: Sendable, Equatable {
    /// Decodes the reply's fields; unknown fields are ignored.
    ///
    /// - Parameters:
    ///   - json: the `ok` object (its `type` and `id` are ignored).
    init(json: JSONObject) throws(WireDecodingError)

    /// The reply's fields without `type` and `id`, in wire order.
    var json: JSONObject { get }
}

extension WireReply {
    /// The whole `ok` frame: `{"type":"ok","id":ID, ...fields}`.
    ///
    /// - Parameters:
    ///   - id: the request id.
    package func frame(id: String) -> JSONValue { Frames.ok(id: id, json) }
}

/// The reply types by the request they answer.
package enum WireReplies {
    /// The type of the `ok` reply to a request type (`search` included); `EmptyReply`
    /// for requests whose `ok` has no fields and for types this client does not know.
    ///
    /// - Parameters:
    ///   - requestType: the request's `type`.
    package static func type(answering requestType: String) -> any WireReply.Type {
        switch requestType {
        case RequestType.hello.rawValue: return HelloReply.self
        case RequestType.register.rawValue, RequestType.login.rawValue, RequestType.resume.rawValue:
            return AuthReply.self
        case RequestType.join.rawValue: return JoinReply.self
        case RequestType.history.rawValue: return HistoryReply.self
        case RequestType.rooms.rawValue: return RoomsReply.self
        case RequestType.members.rawValue: return MembersReply.self
        case RequestType.send.rawValue, RequestType.edit.rawValue, RequestType.delete.rawValue,
            RequestType.react.rawValue, RequestType.unreact.rawValue:
            return SendReply.self
        case RequestType.ping.rawValue: return PingReply.self
        case RequestType.create.rawValue: return CreateReply.self
        case RequestType.dm.rawValue: return DMReply.self
        case SearchRequest.type: return SearchReply.self
        default: return EmptyReply.self
        }
    }
}

/// A plain `{"type":"ok","id":…}` with no fields: the reply to `logout`, `leave`,
/// `topic`, `mark_read`, `typing`, `invite` and `kick`.
package struct EmptyReply: WireReply {
    /// Creates the empty reply.
    package init() {}

    /// Accepts any `ok` object: an empty reply has no required field.
    ///
    /// - Parameters:
    ///   - json: the `ok` object.
    package init(json: JSONObject) throws(WireDecodingError) {}

    /// No fields.
    package var json: JSONObject { [:] }
}

/// The `ok` reply to `send`: `{seq, ts}`.
package struct SendReply: WireReply {
    /// The message's number in its room.
    package var seq: Int64
    /// Its server time, ms since the epoch.
    package var ts: Int64

    /// Creates a send acknowledgement.
    ///
    /// - Parameters:
    ///   - seq: the message's seq.
    ///   - ts: its server time.
    package init(seq: Int64, ts: Int64) {
        self.seq = seq
        self.ts = ts
    }

    /// Decodes a send acknowledgement.
    ///
    /// - Parameters:
    ///   - json: the `ok` object.
    package init(json: JSONObject) throws(WireDecodingError) {
        let f = WireFields(json)
        self.init(seq: try f.int("seq"), ts: try f.int("ts"))
    }

    /// `{"seq":…,"ts":…}`.
    package var json: JSONObject { ["seq": .int(seq), "ts": .int(ts)] }
}

/// The `ok` reply to `ping`: `{ts}`.
package struct PingReply: WireReply {
    /// The server's time when it answered, ms since the epoch.
    package var ts: Int64

    /// Creates a ping reply.
    ///
    /// - Parameters:
    ///   - ts: the server time.
    package init(ts: Int64) { self.ts = ts }

    /// Decodes a ping reply.
    ///
    /// - Parameters:
    ///   - json: the `ok` object.
    package init(json: JSONObject) throws(WireDecodingError) {
        self.init(ts: try WireFields(json).int("ts"))
    }

    /// `{"ts":…}`.
    package var json: JSONObject { ["ts": .int(ts)] }
}
