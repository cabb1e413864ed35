/// Who can see a room: everyone (`public`), its members (`private`), or the two users of a
/// direct-message room (`dm`).
package enum RoomVisibility: String, Sendable, Hashable, CaseIterable {
    case `public`
    case `private`
    case dm

    /// Whether the room is hidden from non-members.
    package var isRestricted: Bool { self != .public }

    /// Reads a visibility from the wire: a value this client does not know reads as
    /// `private` (anything new is at least as restricted), an absent one as `public`
    /// (a server without private rooms).
    ///
    /// - Parameters:
    ///   - raw: the field's value, or nil when absent.
    package init(wire raw: String?) {
        guard let raw else {
            self = .public
            return
        }
        self = RoomVisibility(rawValue: raw) ?? .private
    }
}

/// The optional protocol features a server names in its `hello` reply's `features`.
package enum ServerFeature {
    /// `create` with `visibility`, `invite`, `kick`, the `added`/`removed` events.
    package static let privateRooms = "private_rooms"
    /// `dm` and direct-message rooms (`@alice+bob`).
    package static let directMessages = "dm"
    /// `send {reply_to}` and `reply_to` on messages.
    package static let replies = "replies"
    /// `edit` and `kind: "edit"` events.
    package static let edits = "edits"
    /// `delete` and `kind: "delete"` events; deleted messages as tombstones.
    package static let deletes = "deletes"
    /// `react`/`unreact` and their events; `reactions` on messages.
    package static let reactions = "reactions"
    /// `POST /v1/files`, `GET /v1/files/ID` and `send {kind: "file"}`.
    package static let files = "files"
}
