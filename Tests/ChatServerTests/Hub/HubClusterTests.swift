import ChatCore
import ChatLog
import ChatServer
import Testing

/// The hub core's side of `--cluster` (issue 17): two cores as two nodes, each commit of one
/// handed to the other as the database would (`applyRemote`), presence and typing as
/// notifications (`applyEphemeral`), and the binary forms they travel in.
@Suite("Hub core on a cluster")
struct HubClusterTests {
    static var configuration: ServerConfiguration {
        var configuration = HubHarness.configuration
        configuration.cluster = true
        return configuration
    }

    /// Node a's commits since `from`, applied on node b; returns the new position.
    @discardableResult
    static func ship(_ a: HubHarness, to b: inout HubHarness, from: Int = 0) throws -> Int {
        let entries = Array(a.clusterEntries[from...])
        // Through their binary form, as the database holds them.
        let decoded = try ClusterEntry.decode(ClusterEntry.encode(entries))
        #expect(decoded == entries)
        b.perform(try b.core.applyRemote(decoded))
        return a.clusterEntries.count
    }

    /// Two nodes sharing alice (1 on a) and bob (2 on b), both in "lobby".
    static func twoNodes() throws -> (HubHarness, HubHarness) {
        var a = HubHarness(configuration)
        var b = HubHarness(configuration, prefix: "b-")
        a.user(1, "alice")
        a.join(1, "lobby")
        try ship(a, to: &b)
        b.user(2, "bob")
        b.join(2, "lobby")
        try ship(b, to: &a)
        a.received = [:]
        b.received = [:]
        return (a, b)
    }

    @Test("a message stored on one node reaches the other's subscribers in seq order, with the join announced")
    func messagesAndEvents() throws {
        var a = HubHarness(Self.configuration)
        var b = HubHarness(Self.configuration, prefix: "b-")
        a.user(1, "alice")
        a.join(1, "lobby")
        try Self.ship(a, to: &b)
        b.user(2, "bob")
        b.join(2, "lobby")
        let position = a.clusterEntries.count
        a.received = [:]
        try Self.ship(b, to: &a)
        #expect(a.received[1] == [.event(.joined(room: "lobby", user: "bob"))], "the join announced on a")
        for text in ["one", "two"] {
            a.request(1, text, .send(room: HubHarness.name("lobby"), text: text, kind: .text, nonce: text))
        }
        a.flush()
        try Self.ship(a, to: &b, from: position)
        #expect(b.messages(2) == [1, 2])
        // The nonce is known on b: alice's retry there gets the stored seq, and nothing is stored.
        #expect(b.core.connect(4, address: "10.0.0.4") == nil)
        b.request(4, "r", .resume(token: "token-1"))
        b.flush()
        b.request(4, "again", .send(room: HubHarness.name("lobby"), text: "two", kind: .text, nonce: "two"))
        b.flush()
        #expect(
            b.received[4]?.contains { if case .reply(id: "again", .sent(seq: 2, _)) = $0 { true } else { false } }
                == true
        )
        #expect(b.core.state.rooms["lobby"]?.head == 2)
    }

    @Test("a message that does not follow the node's copy of its room is refused as a divergence")
    func divergence() throws {
        var (a, b) = try Self.twoNodes()
        let position = a.clusterEntries.count
        a.request(1, "s", .send(room: HubHarness.name("lobby"), text: "from a", kind: .text, nonce: nil))
        a.flush()
        b.request(2, "s", .send(room: HubHarness.name("lobby"), text: "from b", kind: .text, nonce: nil))
        b.flush()
        #expect(throws: ClusterDivergence.self) { try Self.ship(a, to: &b, from: position) }
    }

    @Test("a kick on one node unsubscribes the kicked user's connections on the other and tells them")
    func kickAcrossNodes() throws {
        var a = HubHarness(Self.configuration)
        var b = HubHarness(Self.configuration, prefix: "b-")
        a.user(1, "alice")
        a.request(1, "c", .create(room: HubHarness.name("den"), visibility: .private, topic: nil))
        a.flush()
        b.user(2, "bob")
        try Self.ship(b, to: &a)
        a.request(1, "i", .invite(room: HubHarness.name("den"), user: try TextRules.userName("bob").get()))
        a.flush()
        try Self.ship(a, to: &b)
        #expect(b.received[2]?.contains(.event(.added(room: "den", by: "alice", visibility: .private))) == true)
        b.join(2, "den")
        let position = a.clusterEntries.count
        try Self.ship(b, to: &a, from: 0)
        b.received = [:]
        a.request(1, "k", .kick(room: HubHarness.name("den"), user: try TextRules.userName("bob").get()))
        a.flush()
        try Self.ship(a, to: &b, from: position)
        #expect(b.subscriptions[2]?.contains("den") == false)
        #expect(b.received[2]?.contains(.event(.removed(room: "den", by: "alice"))) == true)
        #expect(b.core.state.rooms["den"]?.members["bob"] == nil)
    }

    @Test(
        "presence across nodes: online once for a user on two nodes, offline when the last node lets go or goes silent"
    )
    func presence() throws {
        var (a, b) = try Self.twoNodes()
        // bob's first connection on b: a hears of it and tells alice once.
        let fromB = b.core.takeEphemeral()
        #expect(fromB.contains(.online(["bob"])))
        for event in fromB { a.perform(a.core.applyEphemeral(from: "b", event, at: a.now)) }
        #expect(a.received[1] == [.event(.presence(user: "bob", online: true))])
        // bob also on a: no second notice; his connection on a closes: still online (on b).
        #expect(a.core.connect(3, address: "10.0.0.3") == nil)
        _ = a.core.takeEphemeral()
        a.request(3, "r", .resume(token: "b-token-1"))
        a.flush()
        a.perform(a.core.disconnect(3))
        #expect(a.received[1] == [.event(.presence(user: "bob", online: true))])
        #expect(a.core.takeEphemeral().contains(.offline("bob")))
        // b goes silent: after the limit, bob is offline for alice.
        a.advance(5)
        a.perform(a.core.expireNodes(at: a.now))
        #expect(a.received[1]?.count == 1)
        a.advance(6)
        a.perform(a.core.expireNodes(at: a.now))
        #expect(a.received[1]?.last == .event(.presence(user: "bob", online: false)))
        // A node that starts asks who is online: a answers with alice.
        let answer = a.core.applyEphemeral(from: "c", .hello, at: a.now)
        #expect(answer.actions.isEmpty)
        #expect(a.core.takeEphemeral() == [.online(["alice"])])
    }

    @Test("typing on one node reaches the room's subscribers on the other, not the typist")
    func typing() throws {
        var (a, b) = try Self.twoNodes()
        _ = (a.core.takeEphemeral(), b.core.takeEphemeral())
        a.request(1, "t", .typing(room: HubHarness.name("lobby")))
        let events = a.core.takeEphemeral()
        #expect(events == [.publish(room: "lobby", .typing(room: "lobby", user: "alice"), excludingUser: "alice")])
        for event in events { b.perform(b.core.applyEphemeral(from: "a", event, at: b.now)) }
        #expect(b.received[2] == [.event(.typing(room: "lobby", user: "alice"))])
    }

    @Test("every event and ephemeral kind survives its binary form")
    func coding() throws {
        let events: [HubEvent] = [
            .message(ChatMessage(room: "r", seq: 3, from: "u", text: "héllo", kind: .text, ts: 9)),
            .joined(room: "r", user: "u"), .left(room: "r", user: "u"), .topic(room: "r", topic: "t", by: "u"),
            .typing(room: "r", user: "u"), .presence(user: "u", online: true), .read(room: "r", seq: -1),
            .added(room: "r", by: "u", visibility: .dm), .removed(room: "r", by: "u"),
        ]
        let entries = [
            ClusterEntry(
                records: [.userCreated(name: "u", passwordHash: "h", ts: 1), .memberRemoved(room: "r", user: "u")],
                events: events.map { .publish(room: "r", $0, excludingUser: nil) }
                    + [.deliverToUser("u", .read(room: "r", seq: 2)), .leave(user: "u", room: "r")]
                    + [.endSessions(user: nil, tokenHashes: ["a", "b"]), .endSessions(user: "u", tokenHashes: [])]
            ),
            ClusterEntry(records: [], events: []),
        ]
        #expect(try ClusterEntry.decode(ClusterEntry.encode(entries)) == entries)
        #expect(throws: RecordDecodingError.self) {
            try ClusterEntry.decode(Array(ClusterEntry.encode(entries).dropLast()))
        }
        let ephemeral: [EphemeralEvent] = [
            .online(["a", "b"]), .offline("a"), .publish(room: "r", .typing(room: "r", user: "u"), excludingUser: "u"),
            .hello, .beat, .bye,
        ]
        for event in ephemeral {
            let decoded = EphemeralEvent.decode(event.payload(node: "node-1", after: 42))
            #expect(decoded?.node == "node-1" && decoded?.after == 42 && decoded?.event == event)
        }
        #expect(EphemeralEvent.decode("not base64!") == nil)
    }

    @Test("requests held behind a commit wait for the next write turn on a cluster node")
    func deferredDrains() throws {
        var a = HubHarness(Self.configuration)
        a.user(1, "alice")
        a.join(1, "lobby")
        a.request(1, "s", .send(room: HubHarness.name("lobby"), text: "x", kind: .text, nonce: nil))
        a.request(1, "m", .members(room: HubHarness.name("lobby")))  // waits for the send's ack
        a.flush()
        #expect(a.core.hasDeferredDrains)
        #expect(a.received[1]?.contains { if case .reply(id: "m", _) = $0 { true } else { false } } == false)
        a.perform(a.core.drainDeferred(at: a.now))
        #expect(a.received[1]?.contains { if case .reply(id: "m", _) = $0 { true } else { false } } == true)
    }
}
