/// What a client tells its application.
package enum ClientEvent: Sendable, Equatable {
    /// Authenticated (again); `token` is set when a new one was issued.
    case connected(user: String, token: String?)
    /// The connection dropped; the next attempt is in `retryIn` (nil: giving up).
    case disconnected(reason: String, retryIn: Duration?)
    /// A `join` was answered; its new messages follow as `.message` events.
    case joined(room: String, topic: String, head: Int64, reset: Bool, limited: Bool)
    /// A message, new to this client, in seq order per room.
    case message(ChatMessage)
    /// Any other server event.
    case event(ChatEvent)
    /// The user's rooms, from the authentication reply (name, head, read marker).
    case memberships([RoomSummary])
    /// A pending send was refused for good.
    case sendFailed(nonce: String, ProtocolError)
    /// Authentication failed; the client stops.
    case authenticationFailed(ProtocolError)
}

/// A room the user is a member of, as `login`/`resume` list it (the wire's own entry).
package typealias RoomSummary = AuthReply.Room
