import ChatCore

/// Everything the TUI shows, as plain values. Changed only by `update`.
package struct AppState: Sendable {
    /// A room as the client sees it.
    package struct Room: Sendable, Equatable {
        package var name: String
        package var topic: String = ""
        package var head: Int64 = 0
        package var read: Int64 = 0
        package var members: Int = 0
        /// Loaded messages, ascending by seq, without duplicates.
        package var messages: [ChatMessage] = []
        /// Own messages sent but not yet seen back from the server (shown dimmed).
        package var pending: [Pending] = []
        package var mentions: Int = 0
        /// Older history exists on the server that is not loaded.
        package var hasOlder: Bool = false
        package var loadingOlder: Bool = false
        /// User → time (ms) their typing notice expires.
        package var typing: [String: Int64] = [:]
        /// Where the "new messages" line goes: the read marker when the room was opened.
        package var marker: Int64?
        /// A message to keep in view and highlight (a `/search` result that was opened).
        package var focus: Int64?
        /// Only members see the room (from `create`, `added` or the room list). Direct messages are private too.
        package var isPrivate = false

        package var unread: Int64 { max(0, head - read) }

        /// A direct-message room: its name is `@` and the two user names joined by `+` (`@alice+bob`), or
        /// `@alice` for a user's notes to themself. User-made room names cannot start with `@`.
        package var isDirect: Bool { DirectRoom.isDirect(name) }

        /// The other user of a direct-message room (the user themself for `@alice`); nil for other rooms.
        ///
        /// - Parameters:
        ///   - user: who is looking.
        package func peer(of user: String) -> String? {
            DirectRoom.peer(in: name, of: user) ?? DirectRoom.users(in: name)?.first
        }

        package init(name: String) { self.name = name }
    }

    /// An own message waiting for its acknowledgement.
    package struct Pending: Sendable, Equatable {
        package var nonce: String
        package var text: String
        package var kind: MessageKind
        package var ts: Int64
        /// The reply it is (`Compose.reply`), so a refused one comes back as a reply.
        package var reply: Compose?

        package init(nonce: String, text: String, kind: MessageKind, ts: Int64, reply: Compose? = nil) {
            self.nonce = nonce
            self.text = text
            self.kind = kind
            self.ts = ts
            self.reply = reply
        }
    }

    /// The connection as shown in the status bar.
    package enum Connection: Sendable, Equatable {
        case connecting
        case connected
        /// Next attempt at `at` (ms since the epoch).
        case reconnecting(at: Int64, reason: String)
        case offline(String)
    }

    /// A list the user picks from (e.g. `/rooms`).
    package struct Picker: Sendable, Equatable {
        package var title: String
        package var items: [String]
        package var selected: Int = 0
    }

    /// The login/register form, shown until the client is authenticated (nil: not needed).
    package struct LoginForm: Sendable, Equatable {
        package enum Field: Sendable, Equatable {
            case user
            case password
        }

        package var user: InputLine
        package var password = InputLine()
        package var focus: Field
        package var register = false
        package var error: String?
        package var busy = false

        package init(user: String) {
            self.user = InputLine(user)
            self.focus = user.isEmpty ? .user : .password
        }
    }

    package var user: String
    package var server: String
    package var login: LoginForm?
    /// Round-trip time of the last `ping`, in ms.
    package var lagMs: Int?
    /// The rooms, public and private first, then the direct messages (the sidebar's order).
    package var rooms: [Room] = []
    /// Users seen in member lists, presence events and messages, by fold key (for the direct-message
    /// sidebar's presence and for Tab completion of user names).
    package var people: [String: Person] = [:]
    package var active: Int = 0
    package var input = InputLine()
    package var inputHistory: [String] = []
    package var historyIndex: Int?
    /// What was being typed when history browsing started (restored past the newest entry).
    package var draft: String?
    /// Room fold key → when a typing notice was last sent (ms), to send at most one per 3 s.
    package var typingSent: [String: Int64] = [:]
    /// A one-line notice (errors, command results), shown in the status bar.
    package var notice: String?
    package var connection: Connection = .connecting
    /// Lines scrolled up from the bottom of the active room (0: at the bottom).
    package var scroll: Int = 0
    /// Messages that arrived in the active room while scrolled up.
    package var newBelow: Int = 0
    package var showHelp = false
    package var picker: Picker?
    /// The `/search` results view, when open.
    package var search: SearchView?
    /// Wall clock in ms, advanced by `.tick` events.
    package var now: Int64 = 0
    /// Local time offset from UTC in seconds (for times and day separators).
    package var utcOffset: Int = 0
    package var bell = true
    package var color = true
    /// Show times as 12-hour clock ("3:04p") instead of 24-hour ("15:04").
    package var twelveHour = false
    package var completion: Completion?
    /// The file transfer in progress (one at a time).
    package var transfer: Transfer?
    package var quitting = false
    /// Height of the message pane for the terminal's size (for page-wise scrolling).
    package var pageHeight: Int = 20
    /// The server's limits (from `hello`; the defaults until then).
    package var limits = Limits()
    /// Counter for nonces of sends made in the TUI.
    package var nonceCounter: UInt64 = 0
    package var noncePrefix: String = "t"
    /// Selection mode: the seq of the selected message in the active room (nil: not selecting).
    package var selection: Int64?
    /// What the input line writes: a message, a reply, an edit or a reaction.
    package var compose: Compose = .message
    /// A message waiting for "y" to be deleted.
    package var confirmDelete: Int64?
    /// Emoji reacted with, the last used first.
    package var recentEmoji: [String] = []

    /// What Enter does with the input line.
    package enum Compose: Sendable, Equatable {
        /// Sends a message (or runs a command).
        case message
        /// Sends a message answering `seq`; `quote` is "NAME: first words…".
        case reply(seq: Int64, quote: String)
        /// Sends the input as the new text of the user's message `seq`.
        case edit(seq: Int64)
        /// Reacts to `seq` with the emoji in the input line.
        case react(seq: Int64)
    }

    /// A user the client has seen.
    package struct Person: Sendable, Equatable {
        package var name: String
        /// Online, away, or not known (seen only as a message's sender).
        package var online: Bool?

        package init(name: String, online: Bool?) {
            self.name = name
            self.online = online
        }
    }

    /// A file going up or down, for the status line.
    package struct Transfer: Sendable, Equatable {
        package var upload: Bool
        package var name: String
        package var done: Int64
        package var total: Int64

        package init(upload: Bool, name: String, done: Int64, total: Int64) {
            self.upload = upload
            self.name = name
            self.done = done
            self.total = total
        }
    }

    /// Tab completion in progress.
    package struct Completion: Sendable, Equatable {
        package var candidates: [String]
        package var index: Int
        /// Where the completed word starts (in characters).
        package var start: Int
    }

    package init(user: String, server: String) {
        self.user = user
        self.server = server
    }

    package var activeRoom: Room? { rooms.indices.contains(active) ? rooms[active] : nil }

    package func index(of room: String) -> Int? {
        let key = TextRules.foldKey(room)
        return rooms.firstIndex { TextRules.foldKey($0.name) == key }
    }

    /// The direct-message room with a user, if the client has it.
    ///
    /// - Parameters:
    ///   - peer: the other user's name.
    package func directRoom(with peer: String) -> Int? {
        let key = TextRules.foldKey(peer)
        return rooms.firstIndex { room in room.peer(of: user).map(TextRules.foldKey) == key }
    }

    /// Whether a user is online (nil: not known).
    ///
    /// - Parameters:
    ///   - name: the user's name.
    package func isOnline(_ name: String) -> Bool? { people[TextRules.foldKey(name)]?.online }

    /// How a room is named on screen: `@bob` for the direct messages with bob, else its name.
    ///
    /// - Parameters:
    ///   - room: the room.
    package func title(of room: Room) -> String { room.peer(of: user).map { "@" + $0 } ?? room.name }

    /// Adds a room where the sidebar lists it (direct messages last, other rooms before them) and returns
    /// its index; keeps the active room the same.
    ///
    /// - Parameters:
    ///   - room: the new room (not yet in `rooms`).
    @discardableResult
    package mutating func insert(_ room: Room) -> Int {
        let at = room.isDirect ? rooms.endIndex : (rooms.firstIndex(where: \.isDirect) ?? rooms.endIndex)
        rooms.insert(room, at: at)
        if at <= active, rooms.count > 1 { active += 1 }
        return at
    }

    /// Notes a user's name and, when known, presence.
    ///
    /// - Parameters:
    ///   - name: the user's name.
    ///   - online: online or away; nil keeps what is known.
    package mutating func see(_ name: String, online: Bool?) {
        let key = TextRules.foldKey(name)
        people[key] = Person(name: name, online: online ?? people[key]?.online)
    }
}
