import ChatCore

/// A key press, decoded by the backend.
package enum Key: Sendable, Equatable {
    case character(Character)
    case enter
    case altEnter
    case backspace
    case delete
    case left, right, up, down
    case home, end
    case pageUp, pageDown
    case tab
    case escape
    case ctrl(Character)
    case alt(Character)
}

/// Everything that can happen to the TUI.
package enum AppEvent: Sendable, Equatable {
    case key(Key)
    /// Text typed at once (e.g. pasted or committed by an input method).
    case paste(String)
    case resize(Size)
    /// The clock advanced (ms since the epoch).
    case tick(Int64)
    case client(ClientEvent)
    /// An older page of history arrived.
    case history(room: String, messages: [ChatMessage], more: Bool)
    case roomList([String])
    case memberList(room: String, members: [(user: String, online: Bool)])
    /// A request failed or finished with something to say.
    case notice(String)
    /// The last `ping` round trip, in ms.
    case lag(Int)
    /// A room's member count.
    case memberCount(room: String, count: Int)
    /// The answer to a `/search`.
    case searchResults(query: String, results: [SearchResult], more: Bool)
    /// The server refused a `/search`.
    case searchFailed(query: String, message: String)
    /// History around an opened search result.
    case historyAround(room: String, messages: [ChatMessage])
    /// The limits the server advertised in `hello` (sent before `.client(.connected)`).
    case limits(Limits)
    /// The server answered `/logout`: the session is over.
    case loggedOut
    /// The last frame could scroll up at most this many lines (the scroll offset is clamped to it).
    case scrollLimit(Int)
    /// A send failed without a refusal from the server (e.g. the connection stopped for good).
    case notSent(nonce: String, reason: String)
    /// Users and whether they are online (from a member list read quietly).
    case seen([String: Bool])
    /// The server answered `dm`: the direct-message room, and the text `/msg` gave to send there.
    case directOpened(room: String, text: String?)
    /// The server created a room for `/create` (the connection is subscribed to it).
    case created(room: String, isPrivate: Bool)
    /// A file transfer moved on (nil: it ended; a notice says how).
    case transfer(AppState.Transfer?)

    package static func == (a: AppEvent, b: AppEvent) -> Bool {
        switch (a, b) {
        case (.key(let x), .key(let y)): return x == y
        case (.paste(let x), .paste(let y)): return x == y
        case (.resize(let x), .resize(let y)): return x == y
        case (.tick(let x), .tick(let y)): return x == y
        case (.client(let x), .client(let y)): return x == y
        case (.history(let r1, let m1, let o1), .history(let r2, let m2, let o2)):
            return r1 == r2 && m1 == m2 && o1 == o2
        case (.roomList(let x), .roomList(let y)): return x == y
        case (.memberList(let r1, let m1), .memberList(let r2, let m2)):
            return r1 == r2 && m1.map(\.user) == m2.map(\.user) && m1.map(\.online) == m2.map(\.online)
        case (.notice(let x), .notice(let y)): return x == y
        case (.lag(let x), .lag(let y)): return x == y
        case (.memberCount(let r1, let c1), .memberCount(let r2, let c2)): return r1 == r2 && c1 == c2
        case (.searchResults(let q1, let r1, let m1), .searchResults(let q2, let r2, let m2)):
            return q1 == q2 && r1 == r2 && m1 == m2
        case (.searchFailed(let q1, let m1), .searchFailed(let q2, let m2)): return q1 == q2 && m1 == m2
        case (.historyAround(let r1, let m1), .historyAround(let r2, let m2)): return r1 == r2 && m1 == m2
        case (.limits(let x), .limits(let y)): return x == y
        case (.loggedOut, .loggedOut): return true
        case (.scrollLimit(let x), .scrollLimit(let y)): return x == y
        case (.notSent(let n1, let r1), .notSent(let n2, let r2)): return n1 == n2 && r1 == r2
        case (.seen(let x), .seen(let y)): return x == y
        case (.directOpened(let r1, let t1), .directOpened(let r2, let t2)): return r1 == r2 && t1 == t2
        case (.created(let r1, let p1), .created(let r2, let p2)): return r1 == r2 && p1 == p2
        case (.transfer(let x), .transfer(let y)): return x == y
        default: return false
        }
    }
}

/// What `update` asks the run loop to do.
package enum AppEffect: Sendable, Equatable {
    case send(room: String, text: String, kind: MessageKind, nonce: String, replyTo: Int64? = nil)
    /// Replace the text of the user's message `seq` (`edit`).
    case edit(room: String, seq: Int64, text: String)
    /// Delete message `seq` (`delete`).
    case delete(room: String, seq: Int64)
    /// React to message `seq` (`react`).
    case react(room: String, seq: Int64, emoji: String)
    /// Take back a reaction (`unreact`).
    case unreact(room: String, seq: Int64, emoji: String)
    case join(String)
    case leave(String)
    case markRead(room: String, seq: Int64)
    case loadOlder(room: String, before: Int64)
    case setTopic(room: String, topic: String)
    case listRooms
    case listMembers(String)
    /// Fetch a room's member count for the title bar (quietly).
    case countMembers(String)
    case typing(String)
    case logout
    /// Start a client with these credentials (from the login form).
    case authenticate(user: String, password: String, register: Bool)
    case quit
    case bell
    /// Run a search.
    case search(String)
    /// Load the history around a message (an opened search result).
    case loadAround(room: String, seq: Int64)
    /// Keep the session token the server issued (nil: forget it, after a logout).
    case storeToken(user: String, token: String?)
    /// Open (creating on first use) the direct messages with a user (`dm`); then `.directOpened`.
    case openDirect(user: String, text: String?)
    /// Create a room (`create`); then `.created`.
    case create(room: String, isPrivate: Bool)
    /// Add a user to a private room (`invite`).
    case invite(room: String, user: String)
    /// Remove a user from a room the user owns (`kick`).
    case kick(room: String, user: String)
    /// Upload a file and share it in a room (`/upload`).
    case upload(room: String, path: String, caption: String, nonce: String)
    /// Download a file (`/download`): into `path` (a directory or a new file), or the download directory.
    case download(FileRef, path: String?)
    /// Download a file to the cache and open it (`/open`).
    case open(FileRef)
}
