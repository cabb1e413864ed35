/// The client side of `search`: build a request from what the user typed (checked
/// with the server's own rules and messages) and encode it.
extension SearchRequest: WireRequest {
    /// Builds and validates a search request, as the server would.
    ///
    /// - Parameters:
    ///   - query: the query text.
    ///   - room: only this room, or nil for every room of the user.
    ///   - limit: most results, or nil for the server's default.
    ///   - before: only messages older than this (ms since the epoch).
    ///   - order: result order.
    package static func make(
        query: String,
        room: String? = nil,
        limit: Int? = nil,
        before: Int64? = nil,
        order: Order = .relevance
    ) -> Result<SearchRequest, ProtocolError> {
        var body: JSONObject = ["query": .string(query)]
        if let room { body["room"] = .string(room) }
        if let limit { body["limit"] = .int(Int64(limit)) }
        if let before { body["before"] = .int(before) }
        if order != .relevance { body["order"] = .string(order.rawValue) }
        return parse(body)
    }

    package var wireType: String { Self.type }

    /// `{query, room?, limit, before?, order?}`: `room` only when it is not already the
    /// query's `in:`, `order` only when not the default.
    package var fields: JSONObject {
        var o: JSONObject = ["query": .string(queryText)]
        if let room, room != query.room { o["room"] = .string(room.display) }
        o["limit"] = .int(Int64(limit))
        if let before { o["before"] = .int(before) }
        if order != .relevance { o["order"] = .string(order.rawValue) }
        return o
    }
}
