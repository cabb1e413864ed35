/// A validated `search` request: `{query, room?, limit?, before?, order?}`.
package struct SearchRequest: Sendable, Equatable {
    /// How results are ordered.
    package enum Order: String, Sendable {
        /// Best bm25 score first; among equal scores, newest first.
        case relevance
        /// Newest first.
        case newest
    }

    /// The parsed query.
    package var query: SearchQuery
    /// The one room to search (the `room` field or `in:`); nil: every room of the user.
    package var room: ValidName?
    /// Most results in the reply.
    package var limit: Int
    /// Only messages with `ts` below this (milliseconds since the epoch).
    package var before: Int64?
    /// Result order.
    package var order: Order
    /// The query as written (what `query` was parsed from), sent again by the encoder.
    package var queryText: String = ""

    /// The request type's name on the wire.
    package static let type = "search"
    /// Results per reply when `limit` is not given.
    package static let defaultLimit = 20
    /// The largest `limit`; a larger one is lowered to this.
    package static let maxLimit = 100
    /// The longest query, in Unicode scalars.
    package static let maxQueryLength = 512

    /// Parses and validates a `search` request body.
    ///
    /// - Parameters:
    ///   - body: the request object.
    package static func parse(_ body: JSONObject) -> Result<SearchRequest, ProtocolError> {
        guard case .string(let text)? = body["query"] else {
            if case .invalidString? = body["query"] {
                return .failure(.badRequest("'query' holds an unpaired surrogate"))
            }
            return .failure(.badRequest("'query' must be a string"))
        }
        guard text.unicodeScalars.count <= maxQueryLength else {
            return .failure(.badRequest("'query' is longer than \(maxQueryLength) scalars"))
        }
        let query: SearchQuery
        switch SearchQuery.parse(text) {
        case .success(let q): query = q
        case .failure(let error): return .failure(error)
        }
        var room = query.room
        switch body["room"] {
        case nil, .null?: break
        case .string(let raw)?:
            switch TextRules.roomName(raw) {
            case .success(let name):
                if let inRoom = query.room, inRoom.key != name.key {
                    return .failure(.badRequest("'room' and in:\(inRoom.display) name different rooms"))
                }
                room = name
            case .failure(let error): return .failure(error)
            }
        default: return .failure(.badRequest("'room' must be a string"))
        }
        var limit = defaultLimit
        switch body["limit"] {
        case nil, .null?: break
        case .int(let n)?:
            guard n >= 1 else { return .failure(.badRequest("'limit' must be at least 1")) }
            limit = Int(min(n, Int64(maxLimit)))
        default: return .failure(.badRequest("'limit' must be an integer"))
        }
        var before: Int64?
        switch body["before"] {
        case nil, .null?: break
        case .int(let n)?:
            guard n >= 1 else { return .failure(.badRequest("'before' must be at least 1")) }
            before = n
        default: return .failure(.badRequest("'before' must be an integer (milliseconds since the epoch)"))
        }
        var order = Order.relevance
        switch body["order"] {
        case nil, .null?: break
        case .string(let raw)?:
            guard let o = Order(rawValue: raw) else {
                return .failure(.badRequest("'order' must be \"relevance\" or \"newest\""))
            }
            order = o
        default: return .failure(.badRequest("'order' must be \"relevance\" or \"newest\""))
        }
        return .success(
            SearchRequest(query: query, room: room, limit: limit, before: before, order: order, queryText: text)
        )
    }
}

/// One search result as it goes on the wire.
package struct SearchResult: Sendable, Equatable {
    package var room: String
    package var seq: Int64
    package var from: String
    package var text: String
    package var ts: Int64
    package var snippet: SearchSnippet

    /// Creates a result.
    ///
    /// - Parameters:
    ///   - room: room display name.
    ///   - seq: message seq.
    ///   - from: sender display name.
    ///   - text: the whole message text.
    ///   - ts: message time.
    ///   - snippet: the highlighted excerpt.
    package init(room: String, seq: Int64, from: String, text: String, ts: Int64, snippet: SearchSnippet) {
        self.room = room
        self.seq = seq
        self.from = from
        self.text = text
        self.ts = ts
        self.snippet = snippet
    }

    /// The result object: `{room, seq, from, text, ts, snippet}`.
    package var json: JSONValue {
        .object([
            "room": .string(room), "seq": .int(seq), "from": .string(from), "text": .string(text), "ts": .int(ts),
            "snippet": snippet.json,
        ])
    }

    /// Reads a result object.
    ///
    /// - Parameters:
    ///   - json: one element of `results`.
    package init?(json: JSONValue) {
        guard case .object(let o) = json, case .string(let room)? = o["room"], case .int(let seq)? = o["seq"],
            case .string(let from)? = o["from"], case .string(let text)? = o["text"], case .int(let ts)? = o["ts"]
        else { return nil }
        let snippet = SearchSnippet(json: o["snippet"]) ?? SearchSnippet(text: text, ranges: [])
        self.init(room: room, seq: seq, from: from, text: text, ts: ts, snippet: snippet)
    }
}
