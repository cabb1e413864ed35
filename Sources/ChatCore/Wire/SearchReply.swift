/// The `ok` reply to `search`: `{results, more}`.
package struct SearchReply: WireReply {
    /// The results, in the requested order.
    package var results: [SearchResult]
    /// More messages match than were returned.
    package var more: Bool

    /// Creates a search reply.
    ///
    /// - Parameters:
    ///   - results: the results.
    ///   - more: whether more messages match.
    package init(results: [SearchResult], more: Bool) {
        self.results = results
        self.more = more
    }

    /// Decodes a search reply.
    ///
    /// - Parameters:
    ///   - json: the `ok` object.
    package init(json: JSONObject) throws(WireDecodingError) {
        let f = WireFields(json)
        self.init(results: try f.objects("results", SearchResult.init(fields:)), more: try f.bool("more"))
    }

    /// `{"results":[…],"more":…}`.
    package var json: JSONObject { ["results": .array(results.map(\.json)), "more": .bool(more)] }
}

extension SearchResult {
    /// Decodes a result object: `{room, seq, from, text, ts, snippet}`, all required;
    /// snippet ranges outside the snippet's text are dropped.
    ///
    /// - Parameters:
    ///   - json: one element of `results`.
    package init(wire json: JSONObject) throws(WireDecodingError) {
        try self.init(fields: WireFields(json))
    }

    init(fields f: WireFields) throws(WireDecodingError) {
        let room = try f.string("room")
        let seq = try f.int("seq")
        let from = try f.string("from")
        let text = try f.string("text")
        let ts = try f.int("ts")
        let snippetFields = try f.object("snippet")
        _ = try snippetFields.string("text")
        guard let snippet = SearchSnippet(json: .object(snippetFields.object)) else {
            throw .wrongType(f.at("snippet"), expected: "a snippet object")
        }
        self.init(room: room, seq: seq, from: from, text: text, ts: ts, snippet: snippet)
    }
}
