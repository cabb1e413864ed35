import ChatCore
import ChatLog
import ChatServer
import Synchronization
import Testing

/// Drives a `HubCore` with a fake clock and no sockets, and keeps what each connection
/// would have received: a model of the shell (subscriptions, publications, replies).
struct HubHarness {
    var core: HubCore
    var now = HubTime(monotonic: 1000, wallMs: 1_700_000_000_000)
    /// Connection → room fold keys it is subscribed to.
    var subscriptions: [ConnID: Set<String>] = [:]
    /// Connection → what it received, in order.
    var received: [ConnID: [Received]] = [:]
    /// Commits appended and not yet reported durable.
    var appended: [CommitID] = []
    /// Every record the core handed out, in order (what the store would hold).
    var records: [LogRecord] = []
    var connUsers: [ConnID: String] = [:]
    /// `--cluster`: each commit as the other nodes get it (records and events), in order.
    var clusterEntries: [ClusterEntry] = []

    enum Received: Equatable {
        case reply(id: String, HubReply)
        case error(id: String?, ErrorCode)
        case event(HubEvent)
        case closed(CloseCode)
    }

    /// - Parameters:
    ///   - configuration: the core's configuration.
    ///   - prefix: starts every token and epoch (two cores as two nodes must not share them).
    init(_ configuration: ServerConfiguration = HubHarness.configuration, prefix: String = "") {
        let tokens = Counter()
        core = HubCore(
            configuration: configuration,
            state: ChatState(),
            entropy: HubCore.Entropy(
                newToken: { tokens.next(prefix + "token") },
                newEpoch: { tokens.next(prefix + "epoch") }
            )
        )
    }

    static var configuration: ServerConfiguration {
        ServerConfiguration(
            limits: Limits(maxFrame: 65536, maxText: 4000, historyLimit: 100, ratePerSec: 2, rateBurst: 3)
        )
    }

    mutating func advance(_ seconds: Double) {
        now.monotonic += seconds
        now.wallMs += Int64(seconds * 1000)
    }

    /// Performs a step as the shell would, against the model.
    mutating func perform(_ step: HubStep) {
        for action in step.actions {
            switch action {
            case .reply(let conn, let id, let reply): received[conn, default: []].append(.reply(id: id, reply))
            case .reject(let conn, let id, let error): received[conn, default: []].append(.error(id: id, error.code))
            case .publish(let room, let event, let excluding):
                for (conn, rooms) in subscriptions.sorted(by: { $0.key < $1.key }) where rooms.contains(room) {
                    if let excluding, connUsers[conn] == excluding { continue }
                    received[conn, default: []].append(.event(event))
                }
            case .publishMessages(let room, let messages):
                for (conn, rooms) in subscriptions.sorted(by: { $0.key < $1.key }) where rooms.contains(room) {
                    received[conn, default: []].append(contentsOf: messages.map { .event(.message($0)) })
                }
            case .deliver(let event, let targets):
                for conn in targets { received[conn, default: []].append(.event(event)) }
            case .subscribe(let conn, let room): subscriptions[conn, default: []].insert(room)
            case .unsubscribe(let conn, let room): subscriptions[conn]?.remove(room)
            case .identify(let conn, let user): connUsers[conn] = user
            case .append(let new, let commit):
                appended.append(commit)
                records.append(contentsOf: new)
                if core.configuration.cluster {
                    clusterEntries.append(ClusterEntry(records: new, events: core.takeClusterEvents(commit)))
                }
            case .close(let conn, let code, _): received[conn, default: []].append(.closed(code))
            }
        }
    }

    /// Reports every appended commit durable.
    mutating func flush() {
        guard let last = appended.last else { return }
        appended = []
        perform(core.durable(through: last, at: now))
        flush()
    }

    mutating func request(_ conn: ConnID, _ id: String, _ request: Request) {
        perform(core.receive(conn, id: id, request, at: now))
    }

    /// A connection with a fresh account, durable.
    mutating func user(_ conn: ConnID, _ name: String) {
        #expect(core.connect(conn, address: "10.0.0.\(conn % 200)") == nil)
        let user = try! TextRules.userName(name).get()
        perform(core.register(conn, id: "reg", user: user, passwordHash: "hash", invite: nil, at: now))
        flush()
        received[conn] = []
    }

    /// Joins a room and makes it durable.
    mutating func join(_ conn: ConnID, _ room: String) {
        request(conn, "join-\(room)", .join(room: Self.name(room), since: nil, epoch: nil))
        flush()
    }

    static func name(_ room: String) -> ValidName { try! TextRules.roomName(room).get() }

    /// Messages a connection received, by seq, from publications and join/history replies.
    func messages(_ conn: ConnID) -> [Int64] {
        (received[conn] ?? []).flatMap { item -> [Int64] in
            switch item {
            case .event(.message(let m)): [m.seq]
            case .reply(_, .joined(let joined)): joined.messages.map(\.seq)
            default: []
            }
        }
    }
}

/// Numbers for fake tokens and epochs.
final class Counter: Sendable {
    private let value = Mutex(0)
    func next(_ prefix: String) -> String {
        value.withLock {
            $0 += 1
            return "\(prefix)-\($0)"
        }
    }
}
