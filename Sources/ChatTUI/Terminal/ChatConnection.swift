import ChatCore

/// What the TUI needs from a connection to the server: `ChatClient` in the `chat` program (through
/// `ChatTUIClient`), a scripted fake in tests. Keeps ChatTUI free of NIO.
package protocol ChatConnection: Sendable {
    /// Events from the server, in order; finishes when the connection stops for good.
    var events: AsyncStream<ClientEvent> { get }
    /// The limits the server advertised in `hello` (defaults before that).
    var limits: Limits { get async }
    /// Connects and keeps reconnecting until `stop()` or an authentication failure.
    func run() async
    /// Stops reconnecting and closes the connection.
    func stop() async
    /// Waits until the connection is authenticated and has re-joined its rooms.
    func waitUntilReady() async throws
    /// Follows a room (now and after every reconnect).
    ///
    /// - Parameters:
    ///   - room: the room's name.
    func join(_ room: String) async throws
    /// Sends a message, retried with its nonce across reconnects until acknowledged; a refusal
    /// also arrives as `ClientEvent.sendFailed`.
    ///
    /// - Parameters:
    ///   - room: the room's name.
    ///   - text: the text.
    ///   - kind: text or action.
    ///   - nonce: the nonce the TUI shows the pending message under.
    func send(room: String, text: String, kind: MessageKind, nonce: String) async throws
    /// Sends a typed request and returns its typed reply; a refusal by the server is thrown as
    /// the `ProtocolError` it carries.
    func request<Reply: WireReply>(_ request: some WireRequest, as reply: Reply.Type) async throws -> Reply
    /// Creates a room the user owns and follows it (the server subscribes the connection as by `join`).
    ///
    /// - Parameters:
    ///   - room: the room's name.
    ///   - visibility: `.public` or `.private`.
    func create(_ room: String, visibility: RoomVisibility) async throws
}

extension ChatConnection {
    /// `create`, then `join` so the connection follows the room (for connections that cannot do both in one).
    ///
    /// - Parameters:
    ///   - room: the room's name.
    ///   - visibility: `.public` or `.private`.
    package func create(_ room: String, visibility: RoomVisibility) async throws {
        let request = Request.create(room: try Request.room(room), visibility: visibility, topic: nil)
        _ = try await self.request(request, as: CreateReply.self)
        try await join(room)
    }
}

/// How a connection authenticates.
package enum ChatLogin: Sendable, Equatable {
    /// With the credentials given at start (stored token or `CHAT_PASSWORD`).
    case configured(user: String)
    /// With what was typed into the login form.
    case password(user: String, password: String, register: Bool)
}

/// Opens connections and keeps the session token: what the runtime needs from outside ChatTUI.
package protocol ChatConnector: Sendable {
    /// A new, not yet running, connection.
    ///
    /// - Parameters:
    ///   - login: how it authenticates.
    func connect(_ login: ChatLogin) -> any ChatConnection
    /// Keeps (or, with nil, forgets) the session token for a user.
    ///
    /// - Parameters:
    ///   - token: the token the server issued, or nil after a logout.
    ///   - user: whose token it is.
    func storeToken(_ token: String?, user: String) throws
}
