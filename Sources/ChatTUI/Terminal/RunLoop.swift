import ChatClient
import ChatCore
import Foundation
import Logging
import Synchronization

/// What the interactive client needs to start.
package struct TUIConfiguration: Sendable {
    /// The normalised WebSocket URL.
    package var server: String
    package var user: String
    /// How to authenticate; nil shows the login form first.
    package var credentials: ChatCredentials?
    /// Rooms to join at start (in addition to the user's memberships).
    package var rooms: [String]
    package var color: Bool
    package var bell: Bool
    /// Where to keep a newly issued token, if anywhere.
    package var tokens: TokenStore?
    /// Open the login form in "create an account" mode.
    package var registering = false
    package var twelveHour = false
    /// For `wss://`: how to verify the server (resolved before the screen opens).
    package var tls: ClientTLSConfiguration?

    package init(
        server: String,
        user: String,
        credentials: ChatCredentials?,
        rooms: [String],
        color: Bool,
        bell: Bool,
        tokens: TokenStore?
    ) {
        self.server = server
        self.user = user
        self.credentials = credentials
        self.rooms = rooms
        self.color = color
        self.bell = bell
        self.tokens = tokens
    }
}

/// Events waiting for the loop; drained all at once so a burst is drawn once.
final class EventInbox: Sendable {
    private let queue = Mutex<[AppEvent]>([])
    let signals: AsyncStream<Void>
    private let signal: AsyncStream<Void>.Continuation

    init() {
        (signals, signal) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    func post(_ event: AppEvent) {
        queue.withLock { $0.append(event) }
        signal.yield()
    }

    func drain() -> [AppEvent] {
        queue.withLock { events in
            defer { events = [] }
            return events
        }
    }
}

/// The interactive client: one loop owns the state; keys, network events and clock ticks
/// arrive as events, are applied with `update`, their effects performed, and the screen
/// rendered once per burst.
///
/// - Parameters:
///   - configuration: what to connect to.
///   - backend: the terminal.
///   - logger: diagnostics (to a file, never the terminal).
package func runTUI(_ configuration: TUIConfiguration, backend: any TerminalBackend, logger: Logger) async {
    let clients = ClientBox()
    let inbox = EventInbox()
    var state = AppState(user: configuration.user, server: configuration.server)
    state.color = configuration.color
    state.bell = configuration.bell
    state.twelveHour = configuration.twelveHour
    state.utcOffset = TimeZone.current.secondsFromGMT()
    state.now = Int64(Date().timeIntervalSince1970 * 1000)
    state.noncePrefix = "tui\(UInt32.random(in: 0...UInt32.max))"
    var size = Size(width: 80, height: 24)

    await withDiscardingTaskGroup { group in
        group.addTask {
            for await input in backend.input {
                switch input {
                case .key(let key): inbox.post(.key(key))
                case .text(let text): inbox.post(.paste(text))
                case .resize(let newSize): inbox.post(.resize(newSize))
                }
            }
        }
        group.addTask {
            var seconds = 0
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(1))
                inbox.post(.tick(Int64(Date().timeIntervalSince1970 * 1000)))
                seconds += 1
                if seconds % 15 == 2, let client = clients.current {
                    let start = ContinuousClock.now
                    if (try? await client.ping()) != nil {
                        let elapsed = start.duration(to: .now)
                        inbox.post(
                            .lag(
                                Int(elapsed.components.attoseconds / 1_000_000_000_000_000)
                                    + Int(elapsed.components.seconds) * 1000
                            )
                        )
                    }
                }
            }
        }
        var initial: [AppEffect] = []
        if let credentials = configuration.credentials {
            start(
                credentials,
                user: configuration.user,
                configuration,
                clients: clients,
                inbox: inbox,
                group: &group,
                logger: logger
            )
        } else {
            state.login = AppState.LoginForm(user: configuration.user)
            state.login?.register = configuration.registering
        }
        for room in configuration.rooms where state.index(of: room) == nil {
            state.rooms.append(AppState.Room(name: room))
            initial.append(.join(room))
        }
        perform(
            initial,
            clients: clients,
            inbox: inbox,
            backend: backend,
            group: &group,
            configuration: configuration,
            logger: logger
        )
        backend.present(render(state, size: size))
        for await _ in inbox.signals {
            var effects: [AppEffect] = []
            for event in inbox.drain() {
                if case .resize(let newSize) = event { size = newSize }
                if case .client(.connected(let user, let token?)) = event, let tokens = configuration.tokens {
                    try? tokens.store(token, server: configuration.server, user: user)
                }
                effects += update(&state, event)
            }
            perform(
                effects,
                clients: clients,
                inbox: inbox,
                backend: backend,
                group: &group,
                configuration: configuration,
                logger: logger
            )
            if state.quitting { break }
            var frame = render(state, size: size)
            state.pageHeight = max(1, size.height - 3)
            if let limit = frame.maxScroll, state.scroll > limit { state.scroll = limit }
            if state.showHelp || state.picker != nil { frame.cursor = nil }
            backend.present(frame)
        }
        await clients.current?.stop()
        group.cancelAll()
    }
    backend.stop()
}

/// The current client (replaced when the login form authenticates again).
final class ClientBox: Sendable {
    private let client = Mutex<ChatClient?>(nil)
    /// Rooms asked for before any client existed (login form): joined once one starts.
    private let deferred = Mutex<[String]>([])
    var current: ChatClient? { client.withLock { $0 } }
    func set(_ new: ChatClient) { client.withLock { $0 = new } }
    func deferJoin(_ room: String) { deferred.withLock { $0.append(room) } }
    func takeDeferredJoins() -> [String] {
        deferred.withLock { rooms in
            defer { rooms = [] }
            return rooms
        }
    }
}

private func start(
    _ credentials: ChatCredentials,
    user: String,
    _ configuration: TUIConfiguration,
    clients: ClientBox,
    inbox: EventInbox,
    group: inout DiscardingTaskGroup,
    logger: Logger
) {
    var clientConfiguration = ChatClientConfiguration(url: configuration.server, user: user, credentials: credentials)
    clientConfiguration.tls = configuration.tls
    let client = ChatClient(configuration: clientConfiguration, logger: logger)
    clients.set(client)
    let rooms = clients.takeDeferredJoins()
    group.addTask { await client.run() }
    group.addTask {
        guard (try? await client.waitUntilReady()) != nil else { return }
        for room in rooms {
            do {
                _ = try await client.join(room)
            } catch {
                inbox.post(.notice("cannot join \(room): \(error)"))
            }
        }
    }
    group.addTask {
        for await event in client.events { inbox.post(.client(event)) }
    }
}

private func perform(
    _ effects: [AppEffect],
    clients: ClientBox,
    inbox: EventInbox,
    backend: any TerminalBackend,
    group: inout DiscardingTaskGroup,
    configuration: TUIConfiguration,
    logger: Logger
) {
    for effect in effects {
        if case .authenticate(let user, let password, let register) = effect {
            start(
                register ? .register(password) : .password(password),
                user: user,
                configuration,
                clients: clients,
                inbox: inbox,
                group: &group,
                logger: logger
            )
            continue
        }
        if case .bell = effect {
            backend.bell()
            continue
        }
        if case .quit = effect { continue }
        guard let client = clients.current else {
            if case .join(let room) = effect {
                clients.deferJoin(room)
                continue
            }
            inbox.post(.notice("not connected"))
            continue
        }
        switch effect {
        case .send(let room, let text, let kind, let nonce):
            group.addTask {
                do {
                    _ = try await client.send(room, text: text, kind: kind, nonce: nonce)
                } catch {
                    inbox.post(.notice("not sent: \(error)"))
                }
            }
        case .join(let room):
            group.addTask {
                do {
                    try await client.waitUntilReady()
                    _ = try await client.join(room)
                } catch {
                    inbox.post(.notice("cannot join \(room): \(error)"))
                }
            }
        default:
            group.addTask { await request(effect, client: client, inbox: inbox, configuration: configuration) }
        }
    }
}

private func request(
    _ effect: AppEffect,
    client: ChatClient,
    inbox: EventInbox,
    configuration: TUIConfiguration
) async {
    do {
        switch effect {
        case .leave(let room):
            try await client.leave(room)
        case .markRead(let room, let seq):
            try await client.markRead(room, seq: seq)
        case .loadOlder(let room, let before):
            let reply = try await client.history(room, before: before, limit: 100)
            inbox.post(.history(room: room, messages: reply.messages, more: reply.more))
        case .setTopic(let room, let topic):
            try await client.setTopic(room, topic)
        case .search(let query):
            do {
                let reply = try await client.search(query, limit: searchResultLimit)
                inbox.post(.searchResults(query: query, results: reply.results, more: reply.more))
            } catch let error as ChatClientError {
                guard case .server(let refusal) = error.code else { throw error }
                inbox.post(.searchFailed(query: query, message: refusal.message))
            }
        case .loadAround(let room, let seq):
            let reply = try await client.history(room, after: max(0, seq - 21), limit: 40)
            inbox.post(.historyAround(room: room, messages: reply.messages))
        case .listRooms:
            inbox.post(.roomList(try await client.rooms().rooms.map(\.name)))
        case .listMembers(let room):
            let members = try await client.members(room).members.map { (user: $0.user, online: $0.online) }
            inbox.post(.memberList(room: room, members: members))
        case .countMembers(let room):
            inbox.post(.memberCount(room: room, count: try await client.members(room).members.count))
        case .typing(let room):
            try? await client.typing(room)
        case .logout:
            try await client.logout()
            try? configuration.tokens?.store(nil, server: configuration.server, user: configuration.user)
            inbox.post(.notice("logged out; the stored token was removed"))
            inbox.post(.key(.ctrl("c")))
        default:
            break
        }
    } catch {
        inbox.post(.notice("\(error)"))
    }
}
