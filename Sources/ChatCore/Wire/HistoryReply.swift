/// The `ok` reply to `history`: `{messages, more}`.
package struct HistoryReply: WireReply {
    /// The page, oldest first.
    package var messages: [ChatMessage]
    /// More messages exist in the direction being paged.
    package var more: Bool

    /// Creates a history reply.
    ///
    /// - Parameters:
    ///   - messages: the page, oldest first.
    ///   - more: whether more exist in the paging direction.
    package init(messages: [ChatMessage], more: Bool) {
        self.messages = messages
        self.more = more
    }

    /// Decodes a history reply.
    ///
    /// - Parameters:
    ///   - json: the `ok` object.
    package init(json: JSONObject) throws(WireDecodingError) {
        try self.init(json: json, room: nil)
    }

    /// Decodes a history reply; messages without a `room` get `room`.
    ///
    /// - Parameters:
    ///   - json: the `ok` object.
    ///   - room: the room the history was asked for.
    package init(json: JSONObject, room: String?) throws(WireDecodingError) {
        let f = WireFields(json)
        self.init(messages: try ChatMessage.list(in: f, key: "messages", room: room), more: try f.bool("more"))
    }

    /// `{"messages":[…],"more":…}`.
    package var json: JSONObject { ["messages": ChatMessage.listJSON(messages), "more": .bool(more)] }
}
