import ChatClient
import ChatCore
import ChatTUI
import Logging

/// A `ChatClient` as the TUI's `ChatConnection`: the server's refusals are thrown as `ProtocolError`.
struct ClientConnection: ChatConnection {
    let client: ChatClient

    var events: AsyncStream<ClientEvent> { client.events }
    var limits: Limits { get async { await client.limits } }

    func run() async { await client.run() }

    func stop() async { await client.stop() }

    func waitUntilReady() async throws {
        try await refusals { try await client.waitUntilReady() }
    }

    func join(_ room: String) async throws {
        _ = try await refusals { try await client.join(room) }
    }

    func send(room: String, text: String, kind: MessageKind, nonce: String, replyTo: Int64?) async throws {
        _ = try await refusals { try await client.send(room, text: text, kind: kind, nonce: nonce, replyTo: replyTo) }
    }

    func edit(room: String, seq: Int64, text: String) async throws {
        _ = try await refusals { try await client.edit(room, seq: seq, text: text) }
    }

    func delete(room: String, seq: Int64) async throws {
        _ = try await refusals { try await client.delete(room, seq: seq) }
    }

    func react(room: String, seq: Int64, emoji: String, add: Bool) async throws {
        _ = try await refusals {
            add
                ? try await client.react(room, seq: seq, emoji: emoji)
                : try await client.unreact(room, seq: seq, emoji: emoji)
        }
    }

    func sendFile(room: String, file: FileRef, caption: String, nonce: String) async throws {
        _ = try await refusals { try await client.send(room, text: caption, kind: .file, nonce: nonce, file: file.id) }
    }

    func upload(path: String, progress: @escaping @Sendable (Int64, Int64) -> Void) async throws -> FileRef {
        let transfer = try await client.fileTransfer()
        defer { Task { await transfer.shutdown() } }
        return try await transfer.upload(path: path, progress: progress)
    }

    func download(_ file: FileRef, to path: String, progress: @escaping @Sendable (Int64, Int64) -> Void) async throws {
        let transfer = try await client.fileTransfer()
        defer { Task { await transfer.shutdown() } }
        try await transfer.download(file, to: path, progress: progress)
    }

    func create(_ room: String, visibility: RoomVisibility) async throws {
        _ = try await refusals { try await client.create(room, visibility: visibility) }
    }

    func request<Reply: WireReply>(_ request: some WireRequest, as reply: Reply.Type) async throws -> Reply {
        try await refusals { try await client.request(request, as: reply) }
    }

    /// Runs a call, rethrowing a refusal by the server as the `ProtocolError` it carries.
    private func refusals<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as ChatClientError {
            if case .server(let refusal) = error.code { throw refusal }
            throw error
        }
    }
}

/// Opens `ChatClient`s for the TUI and keeps their tokens in a `TokenStore`.
struct ClientConnector: ChatConnector {
    let configuration: TUIConfiguration
    let logger: Logger

    func connect(_ login: ChatLogin) -> any ChatConnection {
        let user: String
        let credentials: ChatCredentials
        switch login {
        case .configured(let name):
            user = name
            credentials = configuration.credentials ?? .password("")
        case .password(let name, let password, let register):
            user = name
            credentials = register ? .register(password) : .password(password)
        }
        var clientConfiguration = ChatClientConfiguration(
            url: configuration.server,
            user: user,
            credentials: credentials
        )
        clientConfiguration.tls = configuration.tls
        return ClientConnection(client: ChatClient(configuration: clientConfiguration, logger: logger))
    }

    func storeToken(_ token: String?, user: String) throws {
        try configuration.tokens?.store(token, server: configuration.server, user: user)
    }
}
