/// The `ok` reply to `register`, `login` and `resume`: `{user, token?, rooms}`.
///
/// `token` is present for `register` and `login` (a new token) and absent for
/// `resume`. `rooms` lists the user's memberships, sorted by name.
package struct AuthReply: WireReply {
    /// One membership: `{name, head, read, visibility, owner?}`.
    package struct Room: Sendable, Equatable {
        /// Display name.
        package var name: String
        /// Seq of the newest message (0: none).
        package var head: Int64
        /// The user's read marker (0: nothing read).
        package var read: Int64
        /// Who can see the room (`public` when a server does not say).
        package var visibility: RoomVisibility
        /// The room's owner (nil: made by `join`, or a direct-message room).
        package var owner: String?

        /// Creates a membership entry.
        ///
        /// - Parameters:
        ///   - name: display name.
        ///   - head: newest seq.
        ///   - read: read marker.
        ///   - visibility: who can see the room.
        ///   - owner: its owner, if any.
        package init(name: String, head: Int64, read: Int64, visibility: RoomVisibility = .public, owner: String? = nil)
        {
            self.name = name
            self.head = head
            self.read = read
            self.visibility = visibility
            self.owner = owner
        }

        /// `{"name":…,"head":…,"read":…,"visibility":…,"owner":…}`, without `owner` when there is none.
        package var json: JSONValue {
            var o: JSONObject = [
                "name": .string(name), "head": .int(head), "read": .int(read),
                "visibility": .string(visibility.rawValue),
            ]
            if let owner { o["owner"] = .string(owner) }
            return .object(o)
        }
    }

    /// The user's display name.
    package var user: String
    /// A new session token (`register`, `login`); nil for `resume`.
    package var token: String?
    /// The user's rooms.
    package var rooms: [Room]

    /// Creates an authentication reply.
    ///
    /// - Parameters:
    ///   - user: display name.
    ///   - token: the new token, or nil for `resume`.
    ///   - rooms: memberships, already sorted.
    package init(user: String, token: String?, rooms: [Room]) {
        self.user = user
        self.token = token
        self.rooms = rooms
    }

    /// Decodes an authentication reply.
    ///
    /// - Parameters:
    ///   - json: the `ok` object.
    package init(json: JSONObject) throws(WireDecodingError) {
        let f = WireFields(json)
        self.init(
            user: try f.string("user"),
            token: try f.optionalString("token"),
            rooms: try f.objects("rooms") { r throws(WireDecodingError) in
                Room(
                    name: try r.string("name"),
                    head: try r.int("head"),
                    read: try r.int("read"),
                    visibility: RoomVisibility(wire: try r.optionalString("visibility")),
                    owner: try r.optionalString("owner")
                )
            }
        )
    }

    /// `{"user":…,"token":…,"rooms":[…]}`, without `token` when it is nil.
    package var json: JSONObject {
        var o: JSONObject = ["user": .string(user)]
        if let token { o["token"] = .string(token) }
        o["rooms"] = .array(rooms.map(\.json))
        return o
    }
}
