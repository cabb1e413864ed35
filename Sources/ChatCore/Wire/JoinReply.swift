/// The `ok` reply to `join`: `{room, messages, limited, reset}`.
package struct JoinReply: WireReply {
    /// The joined room: `{name, topic, head, epoch}`.
    package struct Room: Sendable, Equatable {
        /// Display name.
        package var name: String
        /// Current topic (`""`: none).
        package var topic: String
        /// Seq of the newest message when the connection subscribed (0: empty room).
        package var head: Int64
        /// The room's history epoch.
        package var epoch: String

        /// Creates the room part of a join reply.
        ///
        /// - Parameters:
        ///   - name: display name.
        ///   - topic: current topic.
        ///   - head: newest seq at subscription.
        ///   - epoch: history epoch.
        package init(name: String, topic: String, head: Int64, epoch: String) {
            self.name = name
            self.topic = topic
            self.head = head
            self.epoch = epoch
        }

        /// `{"name":…,"topic":…,"head":…,"epoch":…}`.
        package var json: JSONValue {
            .object(["name": .string(name), "topic": .string(topic), "head": .int(head), "epoch": .string(epoch)])
        }
    }

    /// The room.
    package var room: Room
    /// Catch-up messages, oldest first.
    package var messages: [ChatMessage]
    /// Older messages exist that `messages` does not carry.
    package var limited: Bool
    /// The client's epoch did not match and `since` was ignored.
    package var reset: Bool

    /// Creates a join reply.
    ///
    /// - Parameters:
    ///   - room: the room.
    ///   - messages: catch-up messages, oldest first.
    ///   - limited: whether older messages were left out.
    ///   - reset: whether `since` was ignored for a foreign epoch.
    package init(room: Room, messages: [ChatMessage], limited: Bool, reset: Bool) {
        self.room = room
        self.messages = messages
        self.limited = limited
        self.reset = reset
    }

    /// Decodes a join reply. `reset` may be absent (the contract does not require it)
    /// and then reads as false; messages without a `room` belong to the joined room.
    ///
    /// - Parameters:
    ///   - json: the `ok` object.
    package init(json: JSONObject) throws(WireDecodingError) {
        let f = WireFields(json)
        let r = try f.object("room")
        let room = Room(
            name: try r.string("name"),
            topic: try r.string("topic"),
            head: try r.int("head"),
            epoch: try r.string("epoch")
        )
        let reset: Bool = f.value("reset") == nil ? false : try f.bool("reset")
        self.init(
            room: room,
            messages: try ChatMessage.list(in: f, key: "messages", room: room.name),
            limited: try f.bool("limited"),
            reset: reset
        )
    }

    /// `{"room":{…},"messages":[…],"limited":…,"reset":…}`.
    package var json: JSONObject {
        [
            "room": room.json, "messages": ChatMessage.listJSON(messages), "limited": .bool(limited),
            "reset": .bool(reset),
        ]
    }
}
