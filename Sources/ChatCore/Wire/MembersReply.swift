/// The `ok` reply to `members`: the room's members, sorted by display name.
package struct MembersReply: WireReply {
    /// One member: `{user, online}`.
    package struct Member: Sendable, Equatable {
        /// Display name.
        package var user: String
        /// Whether the user has an authenticated connection.
        package var online: Bool

        /// Creates a member entry.
        ///
        /// - Parameters:
        ///   - user: display name.
        ///   - online: whether connected.
        package init(user: String, online: Bool) {
            self.user = user
            self.online = online
        }

        /// `{"user":…,"online":…}`.
        package var json: JSONValue { .object(["user": .string(user), "online": .bool(online)]) }
    }

    /// The members, in the server's order.
    package var members: [Member]

    /// Creates a members reply.
    ///
    /// - Parameters:
    ///   - members: the members, already sorted.
    package init(members: [Member]) { self.members = members }

    /// Decodes a members reply.
    ///
    /// - Parameters:
    ///   - json: the `ok` object.
    package init(json: JSONObject) throws(WireDecodingError) {
        let members = try WireFields(json).objects("members") { m throws(WireDecodingError) in
            Member(user: try m.string("user"), online: try m.bool("online"))
        }
        self.init(members: members)
    }

    /// `{"members":[…]}`.
    package var json: JSONObject { ["members": .array(members.map(\.json))] }
}
