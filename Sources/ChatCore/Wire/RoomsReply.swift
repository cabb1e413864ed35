/// The `ok` reply to `rooms`: every room on the server, sorted by name.
package struct RoomsReply: WireReply {
    /// One room: `{name, topic, members, head}`.
    package struct Room: Sendable, Equatable {
        /// Display name.
        package var name: String
        /// Current topic (`""`: none).
        package var topic: String
        /// Member count.
        package var members: Int64
        /// Seq of the newest message.
        package var head: Int64

        /// Creates a room entry.
        ///
        /// - Parameters:
        ///   - name: display name.
        ///   - topic: current topic.
        ///   - members: member count.
        ///   - head: newest seq.
        package init(name: String, topic: String, members: Int64, head: Int64) {
            self.name = name
            self.topic = topic
            self.members = members
            self.head = head
        }

        /// `{"name":…,"topic":…,"members":…,"head":…}`.
        package var json: JSONValue {
            .object(["name": .string(name), "topic": .string(topic), "members": .int(members), "head": .int(head)])
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
                head: try r.int("head")
            )
        }
        self.init(rooms: rooms)
    }

    /// `{"rooms":[…]}`.
    package var json: JSONObject { ["rooms": .array(rooms.map(\.json))] }
}
