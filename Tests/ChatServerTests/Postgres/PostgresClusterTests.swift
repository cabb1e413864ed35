import ChatConformance
import ChatCore
import ChatLog
import ChatServer
import Foundation
import Logging
import PostgresNIO
import Testing

/// `chat-server --postgres URL --cluster`: several nodes serve one database at once (issue 17).
@Suite("A cluster of nodes on one PostgreSQL")
struct PostgresClusterTests {
    static let logger = TestPostgres.logger

    static func configuration(_ settings: PostgresSettings) -> ServerConfiguration {
        var configuration = TestServer.conformanceConfiguration
        configuration.postgres = settings
        configuration.cluster = true
        return configuration
    }

    /// Runs `body` with two cluster nodes on one new database.
    static func withTwoNodes<T: Sendable>(
        _ settings: PostgresSettings,
        _ body: (TestServer, TestServer) async throws -> T
    ) async throws -> T {
        try await TestServer.with(Self.configuration(settings)) { a in
            try await TestServer.with(Self.configuration(settings)) { b in
                try await body(a, b)
            }
        }
    }

    /// A context whose connections alternate between the nodes.
    static func context(_ a: TestServer, _ b: TestServer) -> ConformanceContext {
        let one = a.context
        var context = ConformanceContext(url: one.url, limits: one.limits, features: one.features, others: [b.url])
        context.checksWireEncoding = true
        return context
    }

    @Test(
        "every conformance case passes with the parties of each case on two nodes, and both nodes end with the database's state",
        .timeLimit(.minutes(10))
    )
    func conformanceAcrossNodes() async throws {
        try await TestPostgres.afterStartBurst()
        let settings = try await TestPostgres.database()
        let (stateA, stateB) = try await Self.withTwoNodes(settings) { a, b in
            let context = Self.context(a, b)
            var failed: [String] = []
            for testCase in ConformanceSuite.all {
                let result = await Runner.run(testCase, context: context, timeout: .seconds(60))
                if result.outcome != .passed { failed.append("\(testCase.name): \(result.outcome)") }
            }
            #expect(failed.isEmpty, "\(failed.count) failed: \(failed)")
            // Both nodes have applied everything (the other node's last turn arrives within its read).
            try await Task.sleep(for: .seconds(2))
            return (await a.hub.stateCopy, await b.hub.stateCopy)
        }
        #expect(stateA.rooms.values.reduce(0) { $0 + $1.head } > 300, "the cases sent messages")
        let loaded = try await TestPostgres.with(settings) { client in
            try await client.withConnection { connection in
                try await PostgresStoreTests.expectRows(connection, stateA)
                return try await PostgresState.load(connection, logger: Self.logger)
            }
        }
        try PostgresStoreTests.expectSameState(loaded, stateA)
        try PostgresStoreTests.expectSameState(loaded, stateB)
    }

    @Test(
        "senders on both nodes into one room: every seq handed out once, and a listener on each node gets every message in seq order",
        .timeLimit(.minutes(3))
    )
    func concurrentSendersAcrossNodes() async throws {
        let settings = try await TestPostgres.database()
        try await Self.withTwoNodes(settings) { a, b in
            let context = Self.context(a, b)
            let owner = try await context.newUser("owner")  // node a
            let room = context.unique("race")
            _ = try await context.joined(owner.client, room)
            var listeners: [WireClient] = []
            for base in ["la", "lb"] {  // la on b, lb on a
                let listener = try await context.newUser(base)
                _ = try await context.joined(listener.client, room)
                listeners.append(listener.client)
            }
            let perSender = 60
            let acked = try await withThrowingTaskGroup(of: [Int64].self) { group in
                for i in 0..<4 {  // alternately on b, a, b, a
                    group.addTask {
                        let sender = try await context.newUser("s\(i)")
                        _ = try await context.joined(sender.client, room)
                        return try await context.sendMany(sender.client, room, count: perSender, prefix: "s\(i)-")
                    }
                }
                var all: [Int64] = []
                for try await seqs in group { all += seqs }
                return all
            }
            let total = 4 * perSender
            #expect(acked.count == total)
            #expect(Set(acked).count == total, "no seq handed out twice")
            #expect(Set(acked) == Set(1...Int64(total)), "no gap")
            for listener in listeners {
                var seqs: [Int64] = []
                while seqs.count < total {
                    seqs.append(try await listener.nextMessage().seq)
                }
                #expect(seqs == Array(1...Int64(total)), "every message once, in seq order")
            }
        }
    }

    @Test(
        "joins on one node while another sends: the backlog and the live messages meet with no gap and nothing twice",
        .timeLimit(.minutes(3))
    )
    func joinRaceAcrossNodes() async throws {
        let settings = try await TestPostgres.database()
        try await Self.withTwoNodes(settings) { a, b in
            // One context per node: the sender on a, the joiners on b.
            let onA = a.context
            let onB = b.context
            let sender = try await onA.newUser("sender")
            let room = onA.unique("joinrace")
            _ = try await onA.joined(sender.client, room)
            let total = 200
            let sending = Task { try await onA.sendMany(sender.client, room, count: total) }
            var joiners: [(WireClient, JoinReply)] = []
            for i in 0..<6 {
                let joiner = try await onB.newUser("j\(i)")
                joiners.append((joiner.client, try await onB.joined(joiner.client, room)))
                try await Task.sleep(for: .milliseconds(20))
            }
            _ = try await sending.value
            for (client, reply) in joiners {
                var seqs = reply.messages.map(\.seq)
                #expect(seqs.isEmpty || seqs.last == reply.room.head)
                var next = reply.room.head
                while next < Int64(total) {
                    let seq = try await client.nextMessage().seq
                    seqs.append(seq)
                    next = seq
                }
                let first = seqs.first ?? 1
                #expect(seqs == Array(first...Int64(total)), "joined at head \(reply.room.head)")
            }
        }
    }

    @Test(
        "room events cross nodes: a join, a topic and a leave on one node reach a member on the other",
        .timeLimit(.minutes(2))
    )
    func eventsAcrossNodes() async throws {
        let settings = try await TestPostgres.database()
        try await Self.withTwoNodes(settings) { a, b in
            let onA = a.context
            let onB = b.context
            let watcher = try await onA.newUser("watcher")
            let room = onA.unique("events")
            _ = try await onA.joined(watcher.client, room)
            let other = try await onB.newUser("other")
            _ = try await onB.joined(other.client, room)
            let joined = try await watcher.client.nextEvent("joined")
            #expect(joined["user"]?.stringValue == other.name)
            _ = try expectOK(
                try await other.client.request("topic", ["room": .string(room), "topic": .string("from b")]),
                "topic"
            )
            let topic = try await watcher.client.nextEvent("topic")
            #expect(topic["topic"]?.stringValue == "from b")
            _ = try expectOK(try await other.client.request("leave", ["room": .string(room)]), "leave")
            let left = try await watcher.client.nextEvent("left")
            #expect(left["user"]?.stringValue == other.name)
            // An account made on b can log in on a.
            let again = try await onA.helloClient()
            let reply = try await again.request(
                "login",
                ["user": .string(other.name), "password": .string(other.password)]
            )
            _ = try expectOK(reply, "login on the other node")
        }
    }

    @Test("a cluster node removes the rows of nodes silent for a minute at its start, and keeps the others")
    func deadNodeRows() async throws {
        let settings = try await TestPostgres.database()
        let first = PostgresChatStore(
            settings: settings,
            files: nil,
            dataDirectory: nil,
            cluster: true,
            logger: Self.logger
        )
        _ = try await first.recover()
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        try await TestPostgres.with(settings) { client in
            try await client.query(
                "INSERT INTO nodes (id, lsn, started_at, seen_at) VALUES ('dead', 0, 0, \(now - 120_000)), ('alive', 0, 0, \(now))",
                logger: Self.logger
            )
        }
        let second = PostgresChatStore(
            settings: settings,
            files: nil,
            dataDirectory: nil,
            cluster: true,
            logger: Self.logger
        )
        _ = try await second.recover()
        let ids = try await TestPostgres.with(settings) { client in
            var ids: [String] = []
            for try await id in try await client.query("SELECT id FROM nodes ORDER BY id", logger: Self.logger)
                .decode(String.self)
            {
                ids.append(id)
            }
            return ids
        }
        #expect(ids.sorted() == ["alive", first.nodeID, second.nodeID].sorted())
        await second.close()
        await first.close()
    }

    @Test("a node without --cluster and a cluster node never serve one database together")
    func modesExclude() async throws {
        let settings = try await TestPostgres.database()
        let clustered = PostgresChatStore(
            settings: settings,
            files: nil,
            dataDirectory: nil,
            cluster: true,
            logger: Self.logger
        )
        _ = try await clustered.recover()
        let single = PostgresChatStore(settings: settings, files: nil, dataDirectory: nil, logger: Self.logger)
        await #expect {
            _ = try await single.recover()
        } throws: {
            "\($0)".contains("another chat-server node serves this database")
        }
        let second = PostgresChatStore(
            settings: settings,
            files: nil,
            dataDirectory: nil,
            cluster: true,
            logger: Self.logger
        )
        _ = try await second.recover()
        await second.close()
        await clustered.close()
        _ = try await single.recover()
        let late = PostgresChatStore(
            settings: settings,
            files: nil,
            dataDirectory: nil,
            cluster: true,
            logger: Self.logger
        )
        await #expect {
            _ = try await late.recover()
        } throws: {
            "\($0)".contains("without --cluster serves this database")
        }
        await single.close()
    }
}
