import ChatCore
import ChatLog

/// A connection as the hub core knows it (the connection's `subscriberID`).
package typealias ConnID = UInt64

/// Numbers the core's appends to the store, in order: commit `n` holds the records of the
/// `n`-th `.append` action.
package typealias CommitID = UInt64

/// The time of an input: the core reads no clock of its own.
package struct HubTime: Sendable, Equatable {
    /// Seconds on a monotonic clock (rate limits, the login throttle).
    package var monotonic: Double
    /// Milliseconds since the Unix epoch (`ts` of messages and records).
    package var wallMs: Int64

    /// Creates a time.
    ///
    /// - Parameters:
    ///   - monotonic: seconds on a monotonic clock.
    ///   - wallMs: milliseconds since the Unix epoch.
    package init(monotonic: Double, wallMs: Int64) {
        self.monotonic = monotonic
        self.wallMs = wallMs
    }
}

/// What the core asks its shell to do, in order. Protocol-neutral: replies and events are
/// typed values that an adapter (the WebSocket/JSON one, or another) encodes.
package enum HubAction: Sendable, Equatable {
    /// Answer a request.
    case reply(ConnID, id: String, HubReply)
    /// Refuse a request (nil id: a frame whose id could not be read).
    case reject(ConnID, id: String?, ProtocolError)
    /// An event to every subscriber of a room (except the given user's connections).
    case publish(room: String, HubEvent, excludingUser: String?)
    /// Stored messages of one room, in seq order, to every subscriber.
    case publishMessages(room: String, [ChatMessage])
    /// An event to these connections only (presence, read markers).
    case deliver(HubEvent, to: [ConnID])
    /// The connection receives the room's publications from now on.
    case subscribe(ConnID, room: String)
    /// The connection stops receiving the room's publications.
    case unsubscribe(ConnID, room: String)
    /// The user a connection is authenticated as (nil: none), for `excludingUser`.
    case identify(ConnID, user: String?)
    /// Hand these records, already applied to the core's state, to the store.
    case append([LogRecord], commit: CommitID)
    /// Close the connection after what is queued for it.
    case close(ConnID, CloseCode, reason: String)
}

/// The result of one input: actions to perform now, in order, and the commit whose
/// durability the core waits for before it can go on (feed `durable(through:)` or
/// `storageFailed()` once the store says).
package struct HubStep: Sendable, Equatable {
    package var actions: [HubAction] = []
    package var wait: CommitID?

    /// Creates an empty step.
    package init() {}

    mutating func append(_ action: HubAction) { actions.append(action) }

    mutating func merge(_ other: HubStep) {
        actions.append(contentsOf: other.actions)
        if let w = other.wait { wait = max(wait ?? 0, w) }
    }
}

/// A successful answer to a request, before any wire encoding.
package enum HubReply: Sendable, Equatable {
    /// Done, nothing to report.
    case ok
    /// `register`/`login` (with a new token) and `resume` (without).
    case authenticated(user: String, token: String?, rooms: [RoomStatus])
    /// `join`: the room and its backlog, taken in the same turn as the subscription.
    case joined(JoinedRoom)
    /// `history`.
    case history(messages: ArraySlice<ChatMessage>, more: Bool)
    /// `rooms`.
    case rooms([RoomListing])
    /// `members`.
    case members([MemberStatus])
    /// `send`: where the message was stored.
    case sent(seq: Int64, ts: Int64)
    /// `create`: the new room (head 0) and its epoch.
    case created(room: String, head: Int64, epoch: String)
    /// `dm`: the direct-message room's name.
    case directRoom(String)
}

/// A room as its member's session list shows it.
package struct RoomStatus: Sendable, Equatable {
    package var name: String
    package var head: Int64
    package var read: Int64
    package var visibility: RoomVisibility = .public
    /// The owner's display name.
    package var owner: String?
}

/// A room as `rooms` lists it.
package struct RoomListing: Sendable, Equatable {
    package var name: String
    package var topic: String
    package var members: Int
    package var head: Int64
    package var visibility: RoomVisibility = .public
    /// The owner's display name.
    package var owner: String?
}

/// A member as `members` lists it.
package struct MemberStatus: Sendable, Equatable {
    package var user: String
    package var online: Bool
}

/// What `join` answers.
package struct JoinedRoom: Sendable, Equatable {
    package var name: String
    package var topic: String
    package var head: Int64
    package var epoch: String
    package var messages: ArraySlice<ChatMessage>
    /// More messages were missed than the reply holds.
    package var limited: Bool
    /// The client's `since` belonged to another epoch (a restore): start over.
    package var reset: Bool
}

/// Something that happened in a room or to a user, before any wire encoding.
package enum HubEvent: Sendable, Equatable {
    case message(ChatMessage)
    case joined(room: String, user: String)
    case left(room: String, user: String)
    case topic(room: String, topic: String, by: String)
    case typing(room: String, user: String)
    case presence(user: String, online: Bool)
    case read(room: String, seq: Int64)
    /// To the user made a member (`invite`, a new direct-message room).
    case added(room: String, by: String, visibility: RoomVisibility)
    /// To the user removed (`kick`).
    case removed(room: String, by: String)
}
