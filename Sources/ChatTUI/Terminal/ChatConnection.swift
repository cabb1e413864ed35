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
    ///   - replyTo: the seq of the message it answers, if any.
    func send(room: String, text: String, kind: MessageKind, nonce: String, replyTo: Int64?) async throws
    /// Replaces the text of one of the user's messages (`edit`); a refusal is thrown as its `ProtocolError`.
    ///
    /// - Parameters:
    ///   - room: the room's name.
    ///   - seq: the message's seq.
    ///   - text: the new text.
    func edit(room: String, seq: Int64, text: String) async throws
    /// Deletes a message (`delete`); a refusal is thrown as its `ProtocolError`.
    ///
    /// - Parameters:
    ///   - room: the room's name.
    ///   - seq: the message's seq.
    func delete(room: String, seq: Int64) async throws
    /// Reacts to a message with an emoji (`react`), or takes the reaction back (`unreact`).
    ///
    /// - Parameters:
    ///   - room: the room's name.
    ///   - seq: the message's seq.
    ///   - emoji: the emoji.
    ///   - add: react (true) or unreact (false).
    func react(room: String, seq: Int64, emoji: String, add: Bool) async throws
    /// Sends a typed request and returns its typed reply; a refusal by the server is thrown as
    /// the `ProtocolError` it carries.
    func request<Reply: WireReply>(_ request: some WireRequest, as reply: Reply.Type) async throws -> Reply
    /// Creates a room the user owns and follows it (the server subscribes the connection as by `join`).
    ///
    /// - Parameters:
    ///   - room: the room's name.
    ///   - visibility: `.public` or `.private`.
    func create(_ room: String, visibility: RoomVisibility) async throws
    /// Shares an uploaded file in a room (`send {kind: "file"}`), retried with its nonce like a send.
    ///
    /// - Parameters:
    ///   - room: the room's name.
    ///   - file: the upload.
    ///   - caption: the caption (may be empty).
    ///   - nonce: the nonce.
    func sendFile(room: String, file: FileRef, caption: String, nonce: String) async throws
    /// Uploads a file from disk (`POST /v1/files`), reporting bytes sent and the total.
    ///
    /// - Parameters:
    ///   - path: the local file.
    ///   - progress: called as bytes go out.
    func upload(path: String, progress: @escaping @Sendable (Int64, Int64) -> Void) async throws -> FileRef
    /// Downloads a file to `path` (through `path.part`, resumable, checked against its SHA-256).
    ///
    /// - Parameters:
    ///   - file: the file.
    ///   - path: where to put it (must not exist).
    ///   - progress: called as bytes come in.
    func download(_ file: FileRef, to path: String, progress: @escaping @Sendable (Int64, Int64) -> Void) async throws
}

/// A connection that cannot move files (a test fake without them).
package struct FileTransferUnavailable: Error, CustomStringConvertible {
    package var description: String { "this connection cannot transfer files" }
}

extension ChatConnection {
    /// `send {kind: "file"}` as a plain request.
    package func sendFile(room: String, file: FileRef, caption: String, nonce: String) async throws {
        let request = Request.send(
            room: try Request.room(room),
            text: caption,
            kind: .file,
            nonce: nonce,
            file: file.id
        )
        _ = try await self.request(request, as: SendReply.self)
    }

    package func upload(path: String, progress: @escaping @Sendable (Int64, Int64) -> Void) async throws -> FileRef {
        throw FileTransferUnavailable()
    }

    package func download(
        _ file: FileRef,
        to path: String,
        progress: @escaping @Sendable (Int64, Int64) -> Void
    ) async throws {
        throw FileTransferUnavailable()
    }

    /// `edit` as a plain request (for connections without a client of their own).
    ///
    /// - Parameters:
    ///   - room: the room's name.
    ///   - seq: the message's seq.
    ///   - text: the new text.
    package func edit(room: String, seq: Int64, text: String) async throws {
        _ = try await request(Request.edit(room: try Request.room(room), seq: seq, text: text), as: SendReply.self)
    }

    /// `delete` as a plain request.
    ///
    /// - Parameters:
    ///   - room: the room's name.
    ///   - seq: the message's seq.
    package func delete(room: String, seq: Int64) async throws {
        _ = try await request(Request.delete(room: try Request.room(room), seq: seq), as: SendReply.self)
    }

    /// `react` or `unreact` as a plain request.
    ///
    /// - Parameters:
    ///   - room: the room's name.
    ///   - seq: the message's seq.
    ///   - emoji: the emoji.
    ///   - add: react (true) or unreact (false).
    package func react(room: String, seq: Int64, emoji: String, add: Bool) async throws {
        let name = try Request.room(room)
        let request =
            add
            ? Request.react(room: name, seq: seq, emoji: emoji) : Request.unreact(room: name, seq: seq, emoji: emoji)
        _ = try await self.request(request, as: SendReply.self)
    }

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
