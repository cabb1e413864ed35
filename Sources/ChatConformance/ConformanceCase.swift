import ChatCore
import NIOCore
import NIOPosix
import Synchronization

/// One black-box check of the contract.
package struct ConformanceCase: Sendable, CustomStringConvertible {
    /// Dotted name, e.g. `rooms.join.since`.
    package let name: String
    /// The contract section it checks (a heading of PROTOCOL-v1.md).
    package let section: String
    /// What the server must advertise for the case to run; nil when any server fits.
    package let requirement: Requirement?
    let body: @Sendable (ConformanceContext) async throws -> Void

    /// Creates a case.
    ///
    /// - Parameters:
    ///   - name: dotted name.
    ///   - section: contract section.
    ///   - requirement: limits the case needs.
    ///   - body: the check; throws `ConformanceFailure` on a violation.
    package init(
        _ name: String,
        section: String,
        requires requirement: Requirement? = nil,
        body: @escaping @Sendable (ConformanceContext) async throws -> Void
    ) {
        self.name = name
        self.section = section
        self.requirement = requirement
        self.body = body
    }

    package var description: String { name }

    /// Runs the case.
    ///
    /// - Parameters:
    ///   - context: the server under test.
    package func run(_ context: ConformanceContext) async throws {
        try await body(context)
    }
}

/// Limits a case needs from the server, with the reason to print when skipped.
package struct Requirement: Sendable {
    /// Why the case needs it, e.g. "rate_burst >= 300".
    package let description: String
    /// A feature the server must name in its `hello` reply (nil: none).
    package let feature: String?
    let check: @Sendable (Limits) -> Bool

    /// Creates a requirement.
    ///
    /// - Parameters:
    ///   - description: shown when the case is skipped.
    ///   - feature: a feature the server must advertise.
    ///   - check: true when the advertised limits fit.
    package init(_ description: String, feature: String? = nil, _ check: @escaping @Sendable (Limits) -> Bool) {
        self.description = description
        self.feature = feature
        self.check = check
    }

    /// Whether the limits fit.
    ///
    /// - Parameters:
    ///   - limits: advertised limits.
    package func isMet(by limits: Limits) -> Bool { check(limits) }

    /// Whether the server's limits fit and it advertises the feature.
    ///
    /// - Parameters:
    ///   - context: the server under test.
    package func isMet(by context: ConformanceContext) -> Bool {
        check(context.limits) && (feature.map(context.features.contains) ?? true)
    }

    /// The server lets one user send `count` messages within about ten seconds.
    ///
    /// - Parameters:
    ///   - count: messages to send.
    package static func canSend(_ count: Int) -> Requirement {
        Requirement("one user can send \(count) messages within 10 s (rate_burst + 10 × rate_per_sec)") {
            Double($0.rateBurst) + 10 * $0.ratePerSec >= Double(count)
        }
    }
}

/// A violation of the contract.
package struct ConformanceFailure: Error, CustomStringConvertible {
    package let message: String
    package init(_ message: String) { self.message = message }
    package var description: String { message }
}

/// The server under test and helpers for making users and rooms that belong to this run.
package struct ConformanceContext: Sendable {
    /// WebSocket URL (the first node's, when there are several).
    package let url: String
    /// Every node's WebSocket URL: new connections go to each in turn, so the parties of a
    /// multi-client case sit on different nodes of a cluster.
    package let urls: [String]
    /// Limits from the server's `hello` reply.
    package let limits: Limits
    /// Features from the server's `hello` reply.
    package let features: [String]
    /// Whether every frame read must re-encode byte for byte with ChatCore's typed values
    /// (`WireClient.checksEncoding`): true against a server that writes with them.
    package var checksWireEncoding = false
    let runID: String
    private let counter = Counter()
    private let connections = Counter()
    /// Tokens of users this context registered, for `cleanUp()`.
    private let tokens = TokenList()

    /// Creates a context by asking the server for its limits.
    ///
    /// - Parameters:
    ///   - url: WebSocket URL.
    ///   - others: the other nodes' URLs, if the server is a cluster.
    package static func make(url: String, others: [String] = []) async throws -> ConformanceContext {
        let client = try await WireClient.connect(url: url)
        let hello = try await client.call(Self.hello, as: HelloReply.self, "hello")
        await client.disconnect()
        return ConformanceContext(url: url, limits: hello.limits, features: hello.features, others: others)
    }

    /// Creates a context with known limits.
    ///
    /// - Parameters:
    ///   - url: WebSocket URL.
    ///   - limits: the server's limits.
    ///   - features: the features it advertises.
    ///   - others: the other nodes' URLs, if the server is a cluster.
    package init(url: String, limits: Limits, features: [String] = [], others: [String] = []) {
        self.url = url
        self.urls = [url] + others
        self.limits = limits
        self.features = features
        let alphabet = Array("abcdefghijkmnpqrstuvwxyz23456789")
        self.runID = String((0..<6).map { _ in alphabet.randomElement()! })
    }

    /// A name unique to this run (≤ 32 characters for a base of ≤ 16).
    ///
    /// - Parameters:
    ///   - base: readable part.
    package func unique(_ base: String) -> String {
        let n = counter.value.add(1, ordering: .relaxed).newValue
        return "t\(runID)\(n)_\(base)"
    }

    /// Undoes what the protocol lets a client undo: every user registered through `newUser`
    /// since the last call leaves all its rooms and logs out (accounts cannot be deleted).
    /// Best effort: a user whose token was already revoked is skipped.
    package func cleanUp() async {
        for token in tokens.takeAll() {
            guard let client = try? await helloClient(),
                let reply = try? await client.call(Request.resume(token: token), as: AuthReply.self, "resume")
            else { continue }
            for room in reply.rooms {
                guard let name = try? Request.room(room.name) else { continue }
                _ = try? await client.request(Request.leave(room: name))
            }
            _ = try? await client.request(Request.logout)
            await client.disconnect()
        }
    }

    /// A fresh connection.
    package func connect() async throws -> WireClient {
        let n = connections.value.add(1, ordering: .relaxed).oldValue
        let client = try await WireClient.connect(url: urls[n % urls.count])
        client.checksEncoding = checksWireEncoding
        if urls.count > 1 { client.crossNodeSettle = Self.crossNodeSettle }
        return client
    }

    /// How long a drain of events waits first when the server is a cluster: what another node
    /// stored reaches this one asynchronously (docs/PROTOCOL.md, "Clusters").
    package static let crossNodeSettle = Duration.milliseconds(300)

    /// The runner's `hello`.
    package static let hello = Request.hello(version: 1, client: "chat-conformance/1")

    /// A connection that has said hello.
    package func helloClient() async throws -> WireClient {
        let client = try await connect()
        _ = try await client.call(Self.hello, as: HelloReply.self, "hello")
        return client
    }

    /// A registered user on a connection that said hello.
    ///
    /// - Parameters:
    ///   - base: readable part of the name.
    package func newUser(_ base: String = "user") async throws -> TestUser {
        let client = try await helloClient()
        let name = unique(base)
        let password = "pw-\(runID)-secret"
        let reply = try await client.call(
            Request.register(user: try Request.user(name), password: password, invite: nil),
            as: AuthReply.self,
            "register \(name)"
        )
        guard let token = reply.token else { throw ConformanceFailure("register reply has no token") }
        tokens.add(token)
        return TestUser(client: client, name: name, password: password, token: token)
    }

    /// Another authenticated connection for an existing user (via `resume`).
    ///
    /// - Parameters:
    ///   - user: the user.
    package func secondConnection(_ user: TestUser) async throws -> WireClient {
        let client = try await helloClient()
        _ = try await client.call(Request.resume(token: user.token), as: AuthReply.self, "resume")
        return client
    }

    /// Makes `user` join `room` and returns the reply.
    ///
    /// - Parameters:
    ///   - client: connection.
    ///   - room: room name.
    ///   - fields: extra join fields.
    @discardableResult
    package func join(_ client: WireClient, _ room: String, _ fields: JSONObject = [:]) async throws -> JSONObject {
        var all: JSONObject = ["room": .string(room)]
        all.fields.append(contentsOf: fields.fields)
        let reply = try await client.request("join", all)
        _ = try expectReply(reply, as: JoinReply.self, "join \(room)")
        return reply
    }

    /// Makes the connection's user join `room` and returns the decoded reply.
    ///
    /// - Parameters:
    ///   - client: connection.
    ///   - room: room name.
    ///   - since: the last seq seen.
    ///   - epoch: the epoch it was seen under.
    @discardableResult
    package func joined(
        _ client: WireClient,
        _ room: String,
        since: Int64? = nil,
        epoch: String? = nil
    ) async throws -> JoinReply {
        try await client.call(
            Request.join(room: try Request.room(room), since: since, epoch: epoch),
            as: JoinReply.self,
            "join \(room)"
        )
    }

    /// Sends `count` messages, retrying rate-limited ones after `retry_after_ms`.
    ///
    /// - Parameters:
    ///   - client: sender.
    ///   - room: room.
    ///   - count: how many.
    ///   - prefix: text prefix.
    @discardableResult
    package func sendMany(
        _ client: WireClient,
        _ room: String,
        count: Int,
        prefix: String = "m"
    ) async throws
        -> [Int64]
    {
        var seqs: [Int64] = []
        var i = 0
        var retries = 0
        let name = try Request.room(room)
        while i < count {
            let reply = try await client.request(
                Request.send(room: name, text: "\(prefix)\(i)", kind: .text, nonce: nil)
            )
            if case .error(_, let error)? = try? ServerFrame(json: reply), error.code == .rateLimited {
                retries += 1
                guard retries < 10_000 else { throw ConformanceFailure("rate limited too often") }
                let wait = error.retryAfterMs ?? 50
                try await Task.sleep(for: .milliseconds(max(1, min(wait, 2000))))
                continue
            }
            seqs.append(try expectReply(reply, as: SendReply.self, "send \(i)").seq)
            i += 1
        }
        return seqs
    }
}

/// A registered user and its first connection.
package struct TestUser {
    package let client: WireClient
    package let name: String
    package let password: String
    package let token: String
}
