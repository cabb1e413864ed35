import ChatCore

/// Typed requests: each builds its request with ChatCore's encoder and decodes the
/// reply with ChatCore's reply types, so callers never touch protocol JSON.
extension ChatClient {
    /// A page of a room's history.
    ///
    /// - Parameters:
    ///   - room: room name.
    ///   - before: only messages with a smaller seq.
    ///   - after: only messages with a larger seq.
    ///   - limit: page size (lowered to `history_limit` by the server).
    package func history(
        _ room: String,
        before: Int64? = nil,
        after: Int64? = nil,
        limit: Int? = nil
    ) async throws -> HistoryReply {
        let request = Request.history(room: try Self.validRoom(room), before: before, after: after, limit: limit)
        return try await self.request(request, as: HistoryReply.self)
    }

    /// Searches the user's rooms. An invalid query is refused here with the server's
    /// own message (`ChatClientError.Code.server`), without a round trip.
    ///
    /// - Parameters:
    ///   - query: the query text.
    ///   - room: only this room.
    ///   - limit: most results.
    ///   - before: only messages older than this (ms since the epoch).
    ///   - order: result order.
    package func search(
        _ query: String,
        room: String? = nil,
        limit: Int? = nil,
        before: Int64? = nil,
        order: SearchRequest.Order = .relevance
    ) async throws -> SearchReply {
        switch SearchRequest.make(query: query, room: room, limit: limit, before: before, order: order) {
        case .success(let request): return try await self.request(request, as: SearchReply.self)
        case .failure(let error): throw ChatClientError(code: .server(error))
        }
    }

    /// Every room on the server.
    package func rooms() async throws -> RoomsReply {
        try await request(Request.rooms, as: RoomsReply.self)
    }

    /// The members of a room.
    ///
    /// - Parameters:
    ///   - room: room name.
    package func members(_ room: String) async throws -> MembersReply {
        try await request(Request.members(room: try Self.validRoom(room)), as: MembersReply.self)
    }

    /// Moves the read marker.
    ///
    /// - Parameters:
    ///   - room: room name.
    ///   - seq: the newest seq read.
    package func markRead(_ room: String, seq: Int64) async throws {
        _ = try await request(Request.markRead(room: try Self.validRoom(room), seq: seq), as: EmptyReply.self)
    }

    /// Sets a room's topic.
    ///
    /// - Parameters:
    ///   - room: room name.
    ///   - topic: the new topic (`""` clears it).
    package func setTopic(_ room: String, _ topic: String) async throws {
        _ = try await request(Request.topic(room: try Self.validRoom(room), topic: topic), as: EmptyReply.self)
    }

    /// Tells the room the user is typing.
    ///
    /// - Parameters:
    ///   - room: room name.
    package func typing(_ room: String) async throws {
        _ = try await request(Request.typing(room: try Self.validRoom(room)), as: EmptyReply.self)
    }

    /// Revokes this session's token.
    package func logout() async throws {
        _ = try await request(Request.logout, as: EmptyReply.self)
    }

    /// A round trip to the server; returns its time.
    package func ping() async throws -> PingReply {
        try await request(Request.ping, as: PingReply.self)
    }

    /// Creates a room the user owns; the connection follows it as after `join`. `conflict`
    /// when it exists.
    ///
    /// - Parameters:
    ///   - room: room name.
    ///   - visibility: `.public` or `.private`.
    ///   - topic: its first topic, if any.
    package func create(_ room: String, visibility: RoomVisibility, topic: String? = nil) async throws -> CreateReply {
        let name = try Self.validRoom(room)
        let reply = try await request(
            Request.create(room: name, visibility: visibility, topic: topic),
            as: CreateReply.self
        )
        followCreated(reply, topic: topic ?? "")
        return reply
    }

    /// Adds a user to a private room the user is a member of.
    ///
    /// - Parameters:
    ///   - room: room name.
    ///   - user: the user to add.
    package func invite(_ room: String, user: String) async throws {
        let request = Request.invite(room: try Self.validRoom(room), user: try Self.validUser(user))
        _ = try await self.request(request, as: EmptyReply.self)
    }

    /// Removes a user from a room the user owns.
    ///
    /// - Parameters:
    ///   - room: room name.
    ///   - user: the user to remove.
    package func kick(_ room: String, user: String) async throws {
        let request = Request.kick(room: try Self.validRoom(room), user: try Self.validUser(user))
        _ = try await self.request(request, as: EmptyReply.self)
    }

    /// The direct-message room with a user, created on first use; `join` it to follow it.
    ///
    /// - Parameters:
    ///   - user: the other user (the user's own name: a room with oneself).
    package func dm(_ user: String) async throws -> DMReply {
        try await request(Request.dm(user: try Self.validUser(user)), as: DMReply.self)
    }

    /// Replaces the text of one of the user's messages; returns the edit event's seq and time.
    ///
    /// - Parameters:
    ///   - room: room name.
    ///   - seq: the message's seq.
    ///   - text: the new text.
    package func edit(_ room: String, seq: Int64, text: String) async throws -> SendReply {
        try await request(Request.edit(room: try Self.validRoom(room), seq: seq, text: text), as: SendReply.self)
    }

    /// Deletes a message (the user's own, or any in a room the user owns).
    ///
    /// - Parameters:
    ///   - room: room name.
    ///   - seq: the message's seq.
    package func delete(_ room: String, seq: Int64) async throws -> SendReply {
        try await request(Request.delete(room: try Self.validRoom(room), seq: seq), as: SendReply.self)
    }

    /// Reacts to a message (again with the same emoji: answered with the first reaction's seq).
    ///
    /// - Parameters:
    ///   - room: room name.
    ///   - seq: the message's seq.
    ///   - emoji: one emoji.
    package func react(_ room: String, seq: Int64, emoji: String) async throws -> SendReply {
        try await request(Request.react(room: try Self.validRoom(room), seq: seq, emoji: emoji), as: SendReply.self)
    }

    /// Takes the user's reaction back.
    ///
    /// - Parameters:
    ///   - room: room name.
    ///   - seq: the message's seq.
    ///   - emoji: the emoji.
    package func unreact(_ room: String, seq: Int64, emoji: String) async throws -> SendReply {
        try await request(Request.unreact(room: try Self.validRoom(room), seq: seq, emoji: emoji), as: SendReply.self)
    }

    /// A user name checked with the server's rules; a bad one is refused before sending.
    static func validUser(_ user: String) throws(ChatClientError) -> ValidName {
        do {
            return try Request.user(user)
        } catch {
            throw ChatClientError(code: .server(error))
        }
    }
}
