/// The `ok` reply to `create`: `{room, head, epoch}` (`head` is 0: the room is new).
package struct CreateReply: WireReply {
    /// The room's display name.
    package var room: String
    /// Seq of the newest message (0).
    package var head: Int64
    /// The room's history epoch.
    package var epoch: String

    /// Creates a create reply.
    ///
    /// - Parameters:
    ///   - room: display name.
    ///   - head: newest seq.
    ///   - epoch: history epoch.
    package init(room: String, head: Int64, epoch: String) {
        self.room = room
        self.head = head
        self.epoch = epoch
    }

    /// Decodes a create reply.
    ///
    /// - Parameters:
    ///   - json: the `ok` object.
    package init(json: JSONObject) throws(WireDecodingError) {
        let f = WireFields(json)
        self.init(room: try f.string("room"), head: try f.int("head"), epoch: try f.string("epoch"))
    }

    /// `{"room":…,"head":…,"epoch":…}`.
    package var json: JSONObject { ["room": .string(room), "head": .int(head), "epoch": .string(epoch)] }
}

/// The `ok` reply to `dm`: `{room}`, the direct-message room's name.
package struct DMReply: WireReply {
    /// The room's display name (`@alice+bob`).
    package var room: String

    /// Creates a dm reply.
    ///
    /// - Parameters:
    ///   - room: display name.
    package init(room: String) { self.room = room }

    /// Decodes a dm reply.
    ///
    /// - Parameters:
    ///   - json: the `ok` object.
    package init(json: JSONObject) throws(WireDecodingError) {
        self.init(room: try WireFields(json).string("room"))
    }

    /// `{"room":…}`.
    package var json: JSONObject { ["room": .string(room)] }
}
