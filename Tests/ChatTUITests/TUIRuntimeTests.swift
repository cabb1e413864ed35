import ChatCore
import ChatTUI
import Logging
import Synchronization
import Testing

/// A scripted server connection: records what the runtime asks, answers from a closure.
private final class FakeConnection: ChatConnection {
    let events: AsyncStream<ClientEvent>
    private let continuation: AsyncStream<ClientEvent>.Continuation
    private let serverLimits: Limits
    private let answer: @Sendable (JSONObject) throws -> JSONObject
    private let sendError: (any Error)?
    private let recorded = Mutex<(requests: [String], sends: [String], joins: [String])>(([], [], []))

    init(
        limits: Limits = Limits(),
        sendError: (any Error)? = nil,
        answer: @escaping @Sendable (JSONObject) throws -> JSONObject = { _ in [:] }
    ) {
        (events, continuation) = AsyncStream.makeStream(of: ClientEvent.self)
        self.serverLimits = limits
        self.sendError = sendError
        self.answer = answer
    }

    /// Request types, in order.
    var requests: [String] { recorded.withLock { $0.requests } }
    /// Sent texts, in order.
    var sends: [String] { recorded.withLock { $0.sends } }
    /// Rooms joined, in order.
    var joins: [String] { recorded.withLock { $0.joins } }

    /// An event from the server.
    func emit(_ event: ClientEvent) { continuation.yield(event) }

    var limits: Limits { get async { serverLimits } }
    func run() async {}
    func stop() async { continuation.finish() }
    func waitUntilReady() async throws {}
    func join(_ room: String) async throws { recorded.withLock { $0.joins.append(room) } }

    func send(room: String, text: String, kind: MessageKind, nonce: String, replyTo: Int64?) async throws {
        recorded.withLock { $0.sends.append(text) }
        if let sendError { throw sendError }
    }

    func request<Reply: WireReply>(_ request: some WireRequest, as reply: Reply.Type) async throws -> Reply {
        recorded.withLock { $0.requests.append(request.wireType) }
        return try Reply(json: try answer(request.json(id: "1")))
    }
}

/// Hands out one fake connection and records the token store.
private final class FakeConnector: ChatConnector {
    let connection: FakeConnection
    private let recorded = Mutex<(logins: [ChatLogin], tokens: [String?])>(([], []))

    init(_ connection: FakeConnection) { self.connection = connection }

    var logins: [ChatLogin] { recorded.withLock { $0.logins } }
    /// Tokens stored (nil: forgotten), in order.
    var tokens: [String?] { recorded.withLock { $0.tokens } }

    func connect(_ login: ChatLogin) -> any ChatConnection {
        recorded.withLock { $0.logins.append(login) }
        return connection
    }

    func storeToken(_ token: String?, user: String) throws {
        recorded.withLock { $0.tokens.append(token) }
    }
}

private struct Dropped: Error, CustomStringConvertible {
    var description: String { "connection lost before the reply" }
}

/// A runtime on a `TestBackend` and a fake connection, connected as alice in `general`, no clock.
private func makeRuntime(
    _ connection: FakeConnection = FakeConnection(),
    messages: Int = 0,
    connectAtStart: Bool = true
) -> (TUIRuntime<TestBackend>, TestBackend, FakeConnector) {
    var state = AppState(user: "alice", server: "chat.example.org")
    state.now = 1_795_944_600_000
    var room = AppState.Room(name: "general")
    room.messages = (0..<messages).map {
        ChatMessage(room: "general", seq: Int64($0 + 1), from: "bob", text: "m\($0)", kind: .text, ts: state.now)
    }
    state.rooms = [room]
    var configuration = TUIRuntimeConfiguration(connectAtStart: connectAtStart)
    configuration.tick = nil
    let backend = TestBackend()
    let connector = FakeConnector(connection)
    let runtime = TUIRuntime(
        state: state,
        backend: backend,
        connector: connector,
        configuration: configuration,
        logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
    )
    return (runtime, backend, connector)
}

/// The status line of a frame (second row from the bottom).
private func status(_ frame: ScreenBuffer) -> String {
    let rows = frame.text.split(separator: "\n", omittingEmptySubsequences: false)
    return String(rows[rows.count - 2])
}

@Suite("TUIRuntime on a TestBackend", .timeLimit(.minutes(1)))
struct TUIRuntimeTests {
    @Test("typed keys go through update, Enter sends, frames are drawn, Ctrl-C ends the run and restores the terminal")
    func typeAndSend() async throws {
        let connection = FakeConnection()
        let (runtime, backend, connector) = makeRuntime(connection)
        async let finished = runtime.run()
        connection.emit(.connected(user: "alice", token: nil))
        backend.type("hi there")
        let typed = await backend.waitForFrame { $0.text.contains("[general] hi there") }
        #expect(typed != nil)
        backend.send(.key(.enter))
        let sent = await backend.waitForFrame { $0.text.contains("│ hi there") && !$0.text.contains("[general] hi") }
        #expect(sent != nil, "\(backend.frames.last?.text ?? "")")
        backend.send(.key(.ctrl("c")))
        let state = await finished
        #expect(state.quitting)
        #expect(backend.stopped)
        #expect(connection.sends == ["hi there"])
        #expect(connector.logins == [.configured(user: "alice")])
    }

    @Test("without credentials the login form comes first; Enter opens a connection with what was typed")
    func loginForm() async throws {
        let connection = FakeConnection()
        let (runtime, backend, connector) = makeRuntime(connection, connectAtStart: false)
        async let finished = runtime.run()
        #expect(await backend.waitForFrame { $0.text.contains("Log in to chat.example.org") } != nil)
        #expect(connector.logins.isEmpty)
        backend.type("correct horse")
        backend.send(.key(.enter))
        while connector.logins.isEmpty { try await Task.sleep(for: .milliseconds(2)) }
        #expect(connector.logins == [.password(user: "alice", password: "correct horse", register: false)])
        connection.emit(.connected(user: "alice", token: "tok-2"))
        #expect(
            await backend.waitForFrame { !$0.text.contains("Log in to") && status($0).contains("● alice @") } != nil
        )
        backend.send(.key(.ctrl("c")))
        let state = await finished
        #expect(state.login == nil)
        #expect(connector.tokens == ["tok-2"])
    }

    @Test("a newly issued token is stored, as an effect of update")
    func storesToken() async throws {
        let connection = FakeConnection()
        let (runtime, backend, connector) = makeRuntime(connection)
        async let finished = runtime.run()
        connection.emit(.connected(user: "alice", token: "tok-1"))
        #expect(await backend.waitForFrame { status($0).contains("● alice @") } != nil)
        backend.send(.key(.ctrl("c")))
        _ = await finished
        #expect(connector.tokens == ["tok-1"])
    }

    @Test("/logout: the server's answer forgets the token and ends the run (no fake Ctrl-C)")
    func logout() async throws {
        let connection = FakeConnection()
        let (runtime, backend, connector) = makeRuntime(connection)
        async let finished = runtime.run()
        connection.emit(.connected(user: "alice", token: "tok-1"))
        #expect(await backend.waitForFrame { status($0).contains("● alice @") } != nil)
        backend.send(.text("/logout"), .key(.enter))
        let state = await finished
        #expect(connection.requests.contains("logout"))
        #expect(connector.tokens == ["tok-1", nil])
        #expect(state.quitting)
        #expect(backend.stopped)
    }

    @Test("a resize sets the page height through update; a scroll past the top is clamped after the frame")
    func pageHeightAndScrollClamp() async throws {
        let connection = FakeConnection()
        let (runtime, backend, _) = makeRuntime(connection, messages: 3)
        async let finished = runtime.run()
        backend.send(.resize(Size(width: 100, height: 30)))
        #expect(await backend.waitForFrame { $0.size == Size(width: 100, height: 30) } != nil)
        let count = backend.frames.count
        backend.send(.key(.pageUp), .key(.pageUp))
        // Three messages fit: the view cannot scroll, and the offset is clamped back to 0 after the frame.
        while backend.frames.count <= count { try await Task.sleep(for: .milliseconds(2)) }
        backend.send(.key(.ctrl("c")))
        let state = await finished
        #expect(state.pageHeight == 27)
        #expect(state.scroll == 0)
    }

    @Test("the server's max_text reaches update: an over-long paste is kept and not sent")
    func overLongPaste() async throws {
        let connection = FakeConnection(limits: Limits(maxText: 10))
        let (runtime, backend, _) = makeRuntime(connection)
        async let finished = runtime.run()
        connection.emit(.connected(user: "alice", token: nil))
        #expect(await backend.waitForFrame { status($0).contains("● alice @") } != nil)
        backend.send(.text("eleven char"), .key(.enter))
        let frame = await backend.waitForFrame { status($0).contains("not sent") }
        #expect(frame.map(status)?.contains("message is 11 characters; the limit is 10 — not sent") == true)
        #expect(frame?.text.contains("[general] eleven char") == true)
        backend.send(.key(.ctrl("c")))
        let state = await finished
        #expect(connection.sends.isEmpty)
        #expect(state.input.text == "eleven char")
    }

    @Test("a send that fails without a refusal gives the text back in the input line")
    func sendFails() async throws {
        let connection = FakeConnection(sendError: Dropped())
        let (runtime, backend, _) = makeRuntime(connection)
        async let finished = runtime.run()
        connection.emit(.connected(user: "alice", token: nil))
        #expect(await backend.waitForFrame { status($0).contains("● alice @") } != nil)
        backend.send(.text("keep me"), .key(.enter))
        let frame = await backend.waitForFrame { status($0).contains("not sent") }
        #expect(frame.map(status)?.contains("not sent: connection lost before the reply") == true)
        #expect(frame?.text.contains("[general] keep me") == true)
        backend.send(.key(.ctrl("c")))
        _ = await finished
    }

    @Test("a refused request shows the server's message, not its wire code")
    func refusedRequest() async throws {
        let connection = FakeConnection { body in
            if body["type"]?.stringValue == "topic" { throw ProtocolError(.forbidden, "only members set the topic") }
            return [:]
        }
        let (runtime, backend, _) = makeRuntime(connection)
        async let finished = runtime.run()
        connection.emit(.connected(user: "alice", token: nil))
        backend.send(.text("/topic new"), .key(.enter))
        let frame = await backend.waitForFrame { status($0).contains("only members") }
        #expect(frame.map(status)?.contains("forbidden") == false)
        backend.send(.key(.ctrl("c")))
        _ = await finished
    }

    @Test("/msg asks dm, joins the room the server names, shows it as @peer and sends the text there")
    func msgOpensDirect() async throws {
        let connection = FakeConnection { body in
            body["type"]?.stringValue == "dm" ? ["room": "@alice+bob"] : [:]
        }
        let (runtime, backend, _) = makeRuntime(connection)
        async let finished = runtime.run()
        connection.emit(.connected(user: "alice", token: nil))
        backend.send(.text("/msg bob hi 日本"), .key(.enter))
        let frame = await backend.waitForFrame { $0.text.contains("[@bob]") && $0.text.contains("│ hi 日本") }
        #expect(frame?.text.contains("Direct messages") == true, "\(backend.frames.last?.text ?? "")")
        backend.send(.key(.ctrl("c")))
        _ = await finished
        #expect(connection.requests.contains("dm"))
        #expect(connection.joins == ["@alice+bob"])
        #expect(connection.sends == ["hi 日本"])
    }

    @Test("/create ROOM private creates and follows it; /invite says so; a refused /kick shows the server's words")
    func createInviteKick() async throws {
        let connection = FakeConnection { body in
            switch body["type"]?.stringValue {
            case "create": return ["room": body["room"] ?? "", "head": 0, "epoch": "e1"]
            case "kick": throw ProtocolError(.forbidden, "only the owner removes members")
            default: return [:]
            }
        }
        let (runtime, backend, _) = makeRuntime(connection)
        async let finished = runtime.run()
        connection.emit(.connected(user: "alice", token: nil))
        backend.send(.text("/create ops private"), .key(.enter))
        let created = await backend.waitForFrame { $0.text.contains("🔒ops") && status($0).contains("created private") }
        #expect(created != nil, "\(backend.frames.last?.text ?? "")")
        backend.send(.text("/invite bob"), .key(.enter))
        let invited = await backend.waitForFrame { status($0).contains("bob is now a member of ops") }
        #expect(invited != nil, "\(backend.frames.last?.text ?? "")")
        backend.send(.text("/kick bob"), .key(.enter))
        let refused = await backend.waitForFrame { status($0).contains("only the owner removes members") }
        #expect(refused != nil, "\(backend.frames.last?.text ?? "")")
        backend.send(.key(.ctrl("c")))
        _ = await finished
        #expect(
            connection.requests.filter { ["create", "invite", "kick"].contains($0) } == ["create", "invite", "kick"]
        )
        #expect(connection.joins == ["ops"])
    }

    @Test("/edit and /react go to the server as edit and react; a refusal is shown in plain words")
    func editAndReactRequests() async throws {
        let connection = FakeConnection { body in
            switch body["type"]?.stringValue {
            case "edit": throw ProtocolError(.forbidden, "only the author can edit a message")
            case "react": return ["seq": 3, "ts": 1]
            default: return [:]
            }
        }
        let (runtime, backend, _) = makeRuntime(connection)
        async let finished = runtime.run()
        connection.emit(.connected(user: "alice", token: nil))
        connection.emit(
            .message(
                ChatMessage(room: "general", seq: 1, from: "alice", text: "mine", kind: .text, ts: 1_795_944_600_000)
            )
        )
        _ = await backend.waitForFrame { $0.text.contains("│ mine") }
        backend.send(.text("/react 🎉"), .key(.enter))
        backend.send(.text("/edit other words"), .key(.enter))
        let refused = await backend.waitForFrame { status($0).contains("not edited: only the author can edit") }
        #expect(refused != nil, "\(backend.frames.last?.text ?? "")")
        backend.send(.key(.ctrl("c")))
        _ = await finished
        #expect(connection.requests.filter { ["edit", "react"].contains($0) }.sorted() == ["edit", "react"])
    }
}
