/// The `ok` reply to `rooms`: every public room on the server and the private and
/// direct-message rooms the caller is a member of, sorted by name.
package struct RoomsReply: WireReply {
    /// One room: `{name, topic, members, head, visibility, owner?}`.
    package struct Room: Sendable, Equatable {
        /// Display name.
        package var name: String
        /// Current topic (`""`: none).
        package var topic: String
        /// Member count.
        package var members: Int64
        /// Seq of the newest message.
        package var head: Int64
        /// Who can see it (`public` when a server does not say).
        package var visibility: RoomVisibility
        /// The user who created it with `create` (nil: made by `join`, or a direct-message room).
        package var owner: String?

        /// Creates a room entry.
        ///
        /// - Parameters:
        ///   - name: display name.
        ///   - topic: current topic.
        ///   - members: member count.
        ///   - head: newest seq.
        ///   - visibility: who can see it.
        ///   - owner: its owner, if any.
        package init(
            name: String,
            topic: String,
            members: Int64,
            head: Int64,
            visibility: RoomVisibility = .public,
            owner: String? = nil
        ) {
            self.name = name
            self.topic = topic
            self.members = members
            self.head = head
            self.visibility = visibility
            self.owner = owner
        }

        /// `{"name":…,"topic":…,"members":…,"head":…,"visibility":…,"owner":…}`, without
        /// `owner` when there is none.
        package var json: JSONValue {
            var o: JSONObject = [
                "name": .string(name), "topic": .string(topic), "members": .int(members), "head": .int(head),
                "visibility": .string(visibility.rawValue),
            ]
            if let owner { o["owner"] = .string(owner) }
            return .object(o)
        }
    }

    /// The rooms, in the server's order.
    package var rooms: [Room]

    /// Creates a rooms reply.
    ///
    /// - Parameters:
    ///   - rooms: the rooms, already sorted.
    package init(rooms: [Room]) { self.rooms = rooms }

    /// Decodes a rooms reply.
    ///
    /// - Parameters:
    ///   - json: the `ok` object.
    package init(json: JSONObject) throws(WireDecodingError) {
        let rooms = try WireFields(json).objects("rooms") { r throws(WireDecodingError) in
            Room(
                name: try r.string("name"),
                topic: try r.string("topic"),
                members: try r.int("members"),
                head: try r.int("head"),
                visibility: RoomVisibility(wire: try r.optionalString("visibility")),
                owner: try r.optionalString("owner")
            )
        }
        self.init(rooms: rooms)
    }

    /// `{"rooms":[…]}`.
    package var json: JSONObject { ["rooms": .array(rooms.map(\.json))] }
}
