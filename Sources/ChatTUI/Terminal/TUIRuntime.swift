import ChatCore
import Foundation
import Logging

/// How a `TUIRuntime` starts and keeps time.
package struct TUIRuntimeConfiguration: Sendable {
    /// Connect at start with the credentials the connector was given (false: show the login form first).
    package var connectAtStart: Bool
    /// Open the login form in "create an account" mode.
    package var registering = false
    /// Rooms to join at start (in addition to the user's memberships).
    package var rooms: [String] = []
    /// How often the clock ticks (nil: never; tests send `.tick` themselves).
    package var tick: Duration? = .seconds(1)
    /// Ping the server every this many ticks, to show the lag.
    package var pingEveryTicks = 15
    /// The wall clock, in ms since the epoch.
    package var now: @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970 * 1000) }
    /// The terminal size until the backend reports one.
    package var initialSize = Size(width: 80, height: 24)

    /// Creates a configuration.
    ///
    /// - Parameters:
    ///   - connectAtStart: connect at once (credentials known) or show the login form.
    package init(connectAtStart: Bool) {
        self.connectAtStart = connectAtStart
    }
}

/// The interactive client's one loop: it owns the `AppState`; keys, server events and clock ticks arrive
/// as `AppEvent`s, are applied with `update`, their `AppEffect`s performed, and the screen rendered and
/// drawn once per burst of events. Everything it changes in the state goes through `update`.
package struct TUIRuntime<Backend: TerminalBackend>: Sendable {
    private let initialState: AppState
    private let backend: Backend
    private let connector: any ChatConnector
    private let configuration: TUIRuntimeConfiguration
    let logger: Logger

    /// Creates a runtime; `run()` starts it.
    ///
    /// - Parameters:
    ///   - state: the state to start from (user, server, settings).
    ///   - backend: the terminal (`NcursesBackend`, or `TestBackend` in tests).
    ///   - connector: opens connections and keeps the session token.
    ///   - configuration: how to start and keep time.
    ///   - logger: diagnostics (to a file, never the terminal).
    package init(
        state: AppState,
        backend: Backend,
        connector: any ChatConnector,
        configuration: TUIRuntimeConfiguration,
        logger: Logger
    ) {
        self.initialState = state
        self.backend = backend
        self.connector = connector
        self.configuration = configuration
        self.logger = logger
    }

    /// Runs until the user quits (or logs out); then stops the connection and the backend.
    ///
    /// - Returns: the last state.
    @discardableResult
    package func run() async -> AppState {
        let connections = ConnectionBox()
        let inbox = EventInbox()
        var state = initialState
        var size = configuration.initialSize
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
            if let tick = configuration.tick {
                group.addTask { await ticks(every: tick, connections: connections, inbox: inbox) }
            }
            var effects = update(&state, .resize(size))
            if configuration.connectAtStart {
                start(.configured(user: state.user), connections: connections, inbox: inbox, group: &group)
            } else {
                state.login = AppState.LoginForm(user: state.user)
                state.login?.register = configuration.registering
            }
            for room in configuration.rooms where state.index(of: room) == nil {
                state.insert(AppState.Room(name: room))
                effects.append(.join(room))
            }
            perform(effects, connections: connections, inbox: inbox, group: &group)
            backend.present(render(state, size: size))
            for await _ in inbox.signals {
                effects = []
                for event in inbox.drain() {
                    if case .resize(let newSize) = event { size = newSize }
                    effects += update(&state, event)
                }
                perform(effects, connections: connections, inbox: inbox, group: &group)
                if state.quitting { break }
                let frame = render(state, size: size)
                backend.present(frame)
                // The view may be shorter than the scroll offset (a resize, a narrower room): clamp it, so
                // the next PgDn moves at once.
                if let limit = frame.maxScroll, state.scroll > limit {
                    perform(update(&state, .scrollLimit(limit)), connections: connections, inbox: inbox, group: &group)
                }
            }
            await connections.current?.stop()
            group.cancelAll()
        }
        backend.stop()
        return state
    }

    /// Posts a `.tick` every `interval`, and the lag of a `ping` every `pingEveryTicks` ticks.
    private func ticks(every interval: Duration, connections: ConnectionBox, inbox: EventInbox) async {
        var count = 0
        while !Task.isCancelled {
            try? await Task.sleep(for: interval)
            inbox.post(.tick(configuration.now()))
            count += 1
            guard count % max(1, configuration.pingEveryTicks) == 2 % max(1, configuration.pingEveryTicks),
                let connection = connections.current
            else { continue }
            let start = ContinuousClock.now
            if (try? await connection.request(Request.ping, as: PingReply.self)) != nil {
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

    private func start(
        _ login: ChatLogin,
        connections: ConnectionBox,
        inbox: EventInbox,
        group: inout DiscardingTaskGroup
    ) {
        let connection = connector.connect(login)
        connections.set(connection)
        let rooms = connections.takeDeferredJoins()
        group.addTask { await connection.run() }
        group.addTask {
            guard (try? await connection.waitUntilReady()) != nil else { return }
            for room in rooms {
                do {
                    try await connection.join(room)
                } catch {
                    inbox.post(.notice("cannot join \(room): \(plainWords(error))"))
                }
            }
        }
        group.addTask {
            for await event in connection.events {
                // The limits come with `hello`, before `connected`: known before any send.
                if case .connected = event { inbox.post(.limits(await connection.limits)) }
                inbox.post(.client(event))
            }
        }
    }

    private func perform(
        _ effects: [AppEffect],
        connections: ConnectionBox,
        inbox: EventInbox,
        group: inout DiscardingTaskGroup
    ) {
        for effect in effects {
            switch effect {
            case .authenticate(let user, let password, let register):
                start(
                    .password(user: user, password: password, register: register),
                    connections: connections,
                    inbox: inbox,
                    group: &group
                )
                continue
            case .bell:
                backend.bell()
                continue
            case .quit:
                continue
            case .storeToken(let user, let token):
                do {
                    try connector.storeToken(token, user: user)
                } catch {
                    logger.info("cannot store the session token", metadata: ["chat.error": "\(error)"])
                    inbox.post(.notice("cannot store the session token: \(plainWords(error))"))
                }
                continue
            default:
                break
            }
            guard let connection = connections.current else {
                if case .join(let room) = effect {
                    connections.deferJoin(room)
                } else {
                    inbox.post(.notice("not connected"))
                }
                continue
            }
            switch effect {
            case .send(let room, let text, let kind, let nonce, let replyTo):
                group.addTask {
                    do {
                        try await connection.send(room: room, text: text, kind: kind, nonce: nonce, replyTo: replyTo)
                    } catch is ProtocolError {
                        // Refused by the server: `ClientEvent.sendFailed` says so (and gives the text back).
                    } catch {
                        inbox.post(.notSent(nonce: nonce, reason: plainWords(error)))
                    }
                }
            case .join(let room):
                group.addTask {
                    do {
                        try await connection.waitUntilReady()
                        try await connection.join(room)
                    } catch {
                        inbox.post(.notice("cannot join \(room): \(plainWords(error))"))
                    }
                }
            case .upload, .download, .open:
                group.addTask { await transfer(effect, connection: connection, inbox: inbox) }
            default:
                group.addTask { await request(effect, connection: connection, inbox: inbox) }
            }
        }
    }

    private func request(_ effect: AppEffect, connection: any ChatConnection, inbox: EventInbox) async {
        do {
            switch effect {
            case .leave(let room):
                _ = try await connection.request(Request.leave(room: try Request.room(room)), as: EmptyReply.self)
            case .markRead(let room, let seq):
                let request = Request.markRead(room: try Request.room(room), seq: seq)
                _ = try await connection.request(request, as: EmptyReply.self)
            case .loadOlder(let room, let before):
                let request = Request.history(room: try Request.room(room), before: before, after: nil, limit: 100)
                let reply = try await connection.request(request, as: HistoryReply.self)
                inbox.post(.history(room: room, messages: reply.messages, more: reply.more))
            case .setTopic(let room, let topic):
                let request = Request.topic(room: try Request.room(room), topic: topic)
                _ = try await connection.request(request, as: EmptyReply.self)
            case .search(let query):
                do {
                    let request = try SearchRequest.make(query: query, limit: searchResultLimit).get()
                    let reply = try await connection.request(request, as: SearchReply.self)
                    inbox.post(.searchResults(query: query, results: reply.results, more: reply.more))
                } catch let refusal as ProtocolError {
                    inbox.post(.searchFailed(query: query, message: refusal.message))
                }
            case .loadAround(let room, let seq):
                let request = Request.history(
                    room: try Request.room(room),
                    before: nil,
                    after: max(0, seq - 21),
                    limit: 40
                )
                let reply = try await connection.request(request, as: HistoryReply.self)
                inbox.post(.historyAround(room: room, messages: reply.messages))
            case .listRooms:
                inbox.post(
                    .roomList(try await connection.request(Request.rooms, as: RoomsReply.self).rooms.map(\.name))
                )
            case .listMembers(let room):
                let reply = try await connection.request(
                    Request.members(room: try Request.room(room)),
                    as: MembersReply.self
                )
                inbox.post(.memberList(room: room, members: reply.members.map { (user: $0.user, online: $0.online) }))
            case .countMembers(let room):
                let reply = try await connection.request(
                    Request.members(room: try Request.room(room)),
                    as: MembersReply.self
                )
                inbox.post(.memberCount(room: room, count: reply.members.count))
                // The members' presence, for the direct messages' dots and for completing names.
                inbox.post(.seen(Dictionary(reply.members.map { ($0.user, $0.online) }) { _, last in last }))
            case .typing(let room):
                _ = try? await connection.request(Request.typing(room: try Request.room(room)), as: EmptyReply.self)
            case .logout:
                _ = try await connection.request(Request.logout, as: EmptyReply.self)
                inbox.post(.loggedOut)
            case .openDirect(let user, let text):
                let reply = try await connection.request(Request.dm(user: try Request.user(user)), as: DMReply.self)
                inbox.post(.directOpened(room: reply.room, text: text))
            case .create(let room, let isPrivate):
                try await connection.create(room, visibility: isPrivate ? .private : .public)
                inbox.post(.created(room: room, isPrivate: isPrivate))
            case .invite(let room, let user):
                let request = Request.invite(room: try Request.room(room), user: try Request.user(user))
                _ = try await connection.request(request, as: EmptyReply.self)
                inbox.post(.notice("\(user) is now a member of \(room)"))
            case .kick(let room, let user):
                let request = Request.kick(room: try Request.room(room), user: try Request.user(user))
                _ = try await connection.request(request, as: EmptyReply.self)
                inbox.post(.notice("\(user) was removed from \(room)"))
            case .edit(let room, let seq, let text):
                try await connection.edit(room: room, seq: seq, text: text)
            case .delete(let room, let seq):
                try await connection.delete(room: room, seq: seq)
            case .react(let room, let seq, let emoji):
                try await connection.react(room: room, seq: seq, emoji: emoji, add: true)
            case .unreact(let room, let seq, let emoji):
                try await connection.react(room: room, seq: seq, emoji: emoji, add: false)
            default:
                break
            }
        } catch {
            logger.debug("request failed", metadata: ["chat.error": "\(error)"])
            inbox.post(.notice(Self.failed(effect) + plainWords(error)))
        }
    }
}

extension TUIRuntime {
    /// What did not happen, before the reason a request failed ("not edited: …").
    static func failed(_ effect: AppEffect) -> String {
        switch effect {
        case .edit: "not edited: "
        case .delete: "not deleted: "
        case .react: "no reaction: "
        case .unreact: "reaction not taken back: "
        default: ""
        }
    }
}

/// An error in words for the status line: a server's refusal by its message (not its wire code).
///
/// - Parameters:
///   - error: what was thrown.
package func plainWords(_ error: any Error) -> String {
    if let refusal = error as? ProtocolError { return refusal.message }
    return "\(error)"
}
