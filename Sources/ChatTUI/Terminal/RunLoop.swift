import ChatClient
import ChatCore
import Foundation
import Logging
import Synchronization

/// What the interactive client needs to start.
package struct TUIConfiguration: Sendable {
    package var client: ChatClientConfiguration
    package var server: String
    /// Rooms to join at start (in addition to the user's memberships).
    package var rooms: [String]
    package var color: Bool
    package var bell: Bool
    /// Where to keep a newly issued token, if anywhere.
    package var tokens: TokenStore?

    package init(
        client: ChatClientConfiguration,
        server: String,
        rooms: [String],
        color: Bool,
        bell: Bool,
        tokens: TokenStore?
    ) {
        self.client = client
        self.server = server
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

    func finish() { signal.finish() }
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
    let client = ChatClient(configuration: configuration.client, logger: logger)
    let inbox = EventInbox()
    var state = AppState(user: configuration.client.user, server: configuration.server)
    state.color = configuration.color
    state.bell = configuration.bell
    state.utcOffset = TimeZone.current.secondsFromGMT()
    state.now = Int64(Date().timeIntervalSince1970 * 1000)
    state.noncePrefix = "tui\(UInt32.random(in: 0...UInt32.max))"
    var size = Size(width: 80, height: 24)

    await withDiscardingTaskGroup { group in
        group.addTask { await client.run() }
        group.addTask {
            for await event in client.events { inbox.post(.client(event)) }
        }
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
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(1))
                inbox.post(.tick(Int64(Date().timeIntervalSince1970 * 1000)))
            }
        }
        var initial: [AppEffect] = []
        for room in configuration.rooms {
            if state.index(of: room) == nil {
                state.rooms.append(AppState.Room(name: room))
                initial.append(.join(room))
            }
        }
        perform(initial, client: client, inbox: inbox, backend: backend, group: &group, configuration: configuration)
        backend.present(render(state, size: size))
        for await _ in inbox.signals {
            var effects: [AppEffect] = []
            for event in inbox.drain() {
                if case .resize(let newSize) = event { size = newSize }
                if case .client(.connected(_, let token?)) = event, let tokens = configuration.tokens {
                    try? tokens.store(token, server: configuration.server, user: configuration.client.user)
                }
                effects += update(&state, event)
            }
            perform(
                effects,
                client: client,
                inbox: inbox,
                backend: backend,
                group: &group,
                configuration: configuration
            )
            if state.quitting { break }
            var frame = render(state, size: size)
            state.pageHeight = max(1, size.height - 3)
            if state.showHelp || state.picker != nil { frame.cursor = nil }
            backend.present(frame)
        }
        await client.stop()
        group.cancelAll()
    }
    backend.stop()
}

private func perform(
    _ effects: [AppEffect],
    client: ChatClient,
    inbox: EventInbox,
    backend: any TerminalBackend,
    group: inout DiscardingTaskGroup,
    configuration: TUIConfiguration
) {
    for effect in effects {
        switch effect {
        case .bell:
            backend.bell()
        case .quit:
            break
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
            _ = try await client.request(["type": "mark_read", "room": .string(room), "seq": .int(seq)])
        case .loadOlder(let room, let before):
            let reply = try await client.request([
                "type": "history", "room": .string(room), "before": .int(before), "limit": 100,
            ])
            let messages = (reply["messages"]?.arrayValue ?? []).compactMap {
                $0.objectValue.flatMap { ChatMessage(json: $0, room: room) }
            }
            inbox.post(.history(room: room, messages: messages, more: reply["more"]?.boolValue ?? false))
        case .setTopic(let room, let topic):
            _ = try await client.request(["type": "topic", "room": .string(room), "topic": .string(topic)])
        case .listRooms:
            let reply = try await client.request(["type": "rooms"])
            let names = (reply["rooms"]?.arrayValue ?? []).compactMap { $0.objectValue?["name"]?.stringValue }
            inbox.post(.roomList(names))
        case .listMembers(let room):
            let reply = try await client.request(["type": "members", "room": .string(room)])
            let members = (reply["members"]?.arrayValue ?? []).compactMap { value -> (user: String, online: Bool)? in
                guard let o = value.objectValue, let user = o["user"]?.stringValue else { return nil }
                return (user, o["online"]?.boolValue ?? false)
            }
            inbox.post(.memberList(room: room, members: members))
        case .typing(let room):
            _ = try? await client.request(["type": "typing", "room": .string(room)])
        case .logout:
            _ = try await client.request(["type": "logout"])
            try? configuration.tokens?.store(nil, server: configuration.server, user: configuration.client.user)
            inbox.post(.notice("logged out; the stored token was removed"))
            inbox.post(.key(.ctrl("c")))
        default:
            break
        }
    } catch {
        inbox.post(.notice("\(error)"))
    }
}
