import ChatCore
import ChatLog
import ChatServer
import Testing

/// Private rooms, invitations, kicks and direct messages in the hub core (issue 13).
@Suite("Hub core: private rooms and direct messages")
struct PrivateRoomHubTests {
    static func user(_ name: String) -> ValidName { try! TextRules.userName(name).get() }
    static func room(_ name: String) -> ValidName { HubHarness.name(name) }

    /// alice (1) owns private room "ops"; bob (2) and carol (3) are registered, not members.
    static func withPrivateRoom() -> HubHarness {
        var hub = HubHarness()
        hub.user(1, "alice")
        hub.user(2, "bob")
        hub.user(3, "carol")
        hub.request(1, "c", .create(room: room("ops"), visibility: .private, topic: "secret plans"))
        hub.flush()
        return hub
    }

    static func errors(_ hub: HubHarness, _ conn: ConnID) -> [String: ErrorCode] {
        var out: [String: ErrorCode] = [:]
        for case .error(let id?, let code) in hub.received[conn] ?? [] { out[id] = code }
        return out
    }

    static func listed(_ hub: inout HubHarness, _ conn: ConnID) -> [String: RoomListing] {
        hub.request(conn, "rooms", .rooms)
        guard case .reply(_, .rooms(let rooms))? = hub.received[conn]?.last else { return [:] }
        return Dictionary(uniqueKeysWithValues: rooms.map { ($0.name, $0) })
    }

    @Test("create: the creator owns the room, is a member and subscribed; a second create is a conflict")
    func create() {
        var hub = Self.withPrivateRoom()
        #expect(hub.received[1]?.first == .reply(id: "c", .created(room: "ops", head: 0, epoch: "epoch-4")))
        #expect(hub.subscriptions[1]?.contains("ops") == true)
        let room = hub.core.state.rooms["ops"]
        #expect(room?.visibility == .private)
        #expect(room?.owner == "alice")
        #expect(room?.topic == "secret plans")
        hub.request(1, "m", HubCoreTests.send("ops", "hello"))
        hub.flush()
        #expect(hub.messages(1) == [1])
        hub.request(2, "c2", .create(room: Self.room("OPS"), visibility: .public, topic: nil))
        hub.request(2, "c3", .create(room: Self.room("@bob"), visibility: .private, topic: nil))
        #expect(Self.errors(hub, 2) == ["c2": .conflict, "c3": .badRequest])
        let listing = Self.listed(&hub, 1)["ops"]
        #expect(listing?.visibility == .private)
        #expect(listing?.owner == "alice")
    }

    @Test("a non-member never sees a private room and every request naming it is refused as for a public one")
    func nonMember() {
        var hub = Self.withPrivateRoom()
        hub.join(3, "lobby")
        hub.received[3] = []
        #expect(Self.listed(&hub, 3).keys.sorted() == ["lobby"])
        hub.request(3, "j", .join(room: Self.room("ops"), since: nil, epoch: nil))
        hub.request(3, "h", .history(room: Self.room("ops"), before: nil, after: nil, limit: nil))
        hub.request(3, "mb", .members(room: Self.room("ops")))
        hub.request(3, "t", .topic(room: Self.room("ops"), topic: "mine"))
        hub.request(3, "s", HubCoreTests.send("ops", "hi"))
        hub.request(3, "r", .markRead(room: Self.room("ops"), seq: 0))
        hub.request(3, "ty", .typing(room: Self.room("ops")))
        hub.request(3, "l", .leave(room: Self.room("ops")))
        hub.request(3, "i", .invite(room: Self.room("ops"), user: Self.user("carol")))
        hub.flush()
        let errors = Self.errors(hub, 3)
        #expect(errors.count == 9)
        #expect(errors.values.allSatisfy { $0 == .forbidden })
        #expect(hub.core.state.rooms["ops"]?.members["carol"] == nil)
        #expect(hub.subscriptions[3]?.contains("ops") != true)
        // A public room: the same refusals (except join, which makes a member).
        hub.request(3, "mb-public", .members(room: Self.room("lobby")))
        hub.request(2, "mb-public", .members(room: Self.room("lobby")))
        #expect(Self.errors(hub, 2)["mb-public"] == .forbidden)
        guard case .success(let scope) = hub.core.searchScope(3, room: nil, at: hub.now) else {
            Issue.record("no search scope")
            return
        }
        #expect(scope.rooms.keys.sorted() == ["lobby"])
        #expect(hub.core.searchScope(3, room: Self.room("ops"), at: hub.now).failure?.code == .forbidden)
    }

    @Test("join of a private room by a non-member answers forbidden with the contract's message")
    func joinMessage() {
        var hub = Self.withPrivateRoom()
        let step = hub.core.receive(2, id: "j", .join(room: Self.room("ops"), since: nil, epoch: nil), at: hub.now)
        #expect(
            step.actions == [.reject(2, id: "j", ProtocolError(.forbidden, "private room; ask a member to invite you"))]
        )
    }

    @Test("invite: any member adds a user; the user's connections get added, the room joined")
    func invite() {
        var hub = Self.withPrivateRoom()
        hub.received[1] = []
        hub.request(1, "i", .invite(room: Self.room("ops"), user: Self.user("Bob")))
        hub.flush()
        #expect(hub.received[2] == [.event(.added(room: "ops", by: "alice", visibility: .private))])
        #expect(hub.received[1] == [.event(.joined(room: "ops", user: "bob")), .reply(id: "i", .ok)])
        #expect(Self.listed(&hub, 2)["ops"]?.visibility == .private)
        hub.join(2, "ops")
        #expect(hub.subscriptions[2]?.contains("ops") == true)
        // bob, a member now, invites carol; an unknown user is not_found.
        hub.request(2, "i2", .invite(room: Self.room("ops"), user: Self.user("carol")))
        hub.request(2, "i3", .invite(room: Self.room("ops"), user: Self.user("nobody")))
        hub.flush()
        #expect(Self.errors(hub, 2) == ["i3": .notFound])
        #expect(hub.core.state.rooms["ops"]?.members.keys.sorted() == ["alice", "bob", "carol"])
        // The login room list carries the room with its visibility and owner.
        let rooms = hub.core.roomList(of: "carol")
        #expect(rooms.map(\.name) == ["ops"])
        #expect(rooms.first?.visibility == .private)
        #expect(rooms.first?.owner == "alice")
    }

    @Test("kick: owner only; the user's subscriptions end, it gets removed and nothing more, the others left")
    func kick() {
        var hub = Self.withPrivateRoom()
        hub.request(1, "i", .invite(room: Self.room("ops"), user: Self.user("bob")))
        hub.request(1, "i2", .invite(room: Self.room("ops"), user: Self.user("carol")))
        hub.flush()
        hub.join(2, "ops")
        hub.join(3, "ops")
        for conn: ConnID in 1...3 { hub.received[conn] = [] }
        hub.request(2, "k", .kick(room: Self.room("ops"), user: Self.user("carol")))
        hub.request(1, "k-self", .kick(room: Self.room("ops"), user: Self.user("alice")))
        hub.flush()
        #expect(Self.errors(hub, 2) == ["k": .forbidden])
        #expect(Self.errors(hub, 1) == ["k-self": .badRequest])
        hub.received[1] = []
        hub.received[2] = []
        hub.request(1, "k", .kick(room: Self.room("ops"), user: Self.user("bob")))
        hub.flush()
        #expect(hub.received[2] == [.event(.removed(room: "ops", by: "alice"))])
        #expect(hub.received[1] == [.event(.left(room: "ops", user: "bob")), .reply(id: "k", .ok)])
        #expect(hub.received[3] == [.event(.left(room: "ops", user: "bob"))])
        #expect(hub.subscriptions[2]?.contains("ops") == false)
        hub.received[2] = []
        hub.request(1, "m", HubCoreTests.send("ops", "after the kick"))
        hub.request(1, "t", .topic(room: Self.room("ops"), topic: "new"))
        hub.request(3, "ty", .typing(room: Self.room("ops")))
        hub.flush()
        #expect(hub.received[2] == [])
        #expect(Self.listed(&hub, 2)["ops"] == nil)
        #expect(hub.core.searchScope(2, room: nil, at: hub.now).success?.rooms["ops"] == nil)
        #expect(hub.core.roomList(of: "bob").isEmpty)
        hub.request(2, "j", .join(room: Self.room("ops"), since: nil, epoch: nil))
        hub.request(1, "k2", .kick(room: Self.room("ops"), user: Self.user("bob")))
        hub.flush()
        #expect(Self.errors(hub, 2)["j"] == .forbidden)
        #expect(Self.errors(hub, 1)["k2"] == .notFound)
    }

    @Test("dm: one room named from the two keys, whoever asks and however often; the peer gets added")
    func directMessage() {
        var hub = HubHarness()
        hub.user(1, "Bob")
        hub.user(2, "alice")
        hub.user(3, "carol")
        // Both ask before the first commit is durable: still one room, one creation.
        hub.request(1, "d1", .dm(user: Self.user("ALICE")))
        hub.request(2, "d2", .dm(user: Self.user("bob")))
        hub.request(1, "d3", .dm(user: Self.user("alice")))
        hub.flush()
        #expect(
            hub.received[1] == [
                .reply(id: "d1", .directRoom("@alice+Bob")), .reply(id: "d3", .directRoom("@alice+Bob")),
            ]
        )
        #expect(
            hub.received[2] == [
                .event(.added(room: "@alice+Bob", by: "Bob", visibility: .dm)),
                .reply(id: "d2", .directRoom("@alice+Bob")),
            ]
        )
        #expect(hub.core.state.rooms.count == 1)
        let room = hub.core.state.rooms["@alice+bob"]
        #expect(room?.visibility == .dm)
        #expect(room?.owner == nil)
        #expect(room?.members.keys.sorted() == ["alice", "bob"])
        hub.join(1, "@alice+Bob")
        hub.join(2, "@alice+bob")
        hub.request(1, "m", HubCoreTests.send("@alice+Bob", "hi"))
        hub.flush()
        #expect(hub.messages(2) == [1])
        // carol: invisible, refused, and joining the name does not make a room or a member.
        hub.request(3, "j", .join(room: Self.room("@alice+bob"), since: nil, epoch: nil))
        hub.request(3, "j2", .join(room: Self.room("@bob+carol"), since: nil, epoch: nil))
        hub.request(3, "h", .history(room: Self.room("@alice+bob"), before: nil, after: nil, limit: nil))
        #expect(Self.errors(hub, 3) == ["j": .forbidden, "j2": .forbidden, "h": .forbidden])
        #expect(hub.core.state.rooms["@bob+carol"] == nil)
        #expect(Self.listed(&hub, 3).isEmpty)
        // invite, kick and leave are forbidden in a DM.
        hub.received[1] = []
        hub.request(1, "i", .invite(room: Self.room("@alice+bob"), user: Self.user("carol")))
        hub.request(1, "k", .kick(room: Self.room("@alice+bob"), user: Self.user("alice")))
        hub.request(1, "l", .leave(room: Self.room("@alice+bob")))
        hub.request(1, "nobody", .dm(user: Self.user("nobody")))
        hub.flush()
        #expect(Self.errors(hub, 1) == ["i": .forbidden, "k": .forbidden, "l": .forbidden, "nobody": .notFound])
        #expect(hub.core.state.rooms["@alice+bob"]?.members.count == 2)
        // A DM with oneself.
        hub.request(3, "self", .dm(user: Self.user("Carol")))
        hub.flush()
        #expect(hub.received[3]?.last == .reply(id: "self", .directRoom("@carol")))
        #expect(hub.core.state.rooms["@carol"]?.members.keys.sorted() == ["carol"])
        #expect(hub.core.roomList(of: "carol").map(\.visibility) == [.dm])
    }

    @Test("the new records rebuild the same rooms from a snapshot; rooms without them are public")
    func snapshotRecords() throws {
        var hub = Self.withPrivateRoom()
        hub.request(2, "d", .dm(user: Self.user("carol")))
        hub.flush()
        var rebuilt = ChatState()
        try SnapshotFile.records(of: hub.core.state) { rebuilt.apply($0) }
        #expect(rebuilt.rooms["ops"]?.visibility == .private)
        #expect(rebuilt.rooms["ops"]?.owner == "alice")
        #expect(rebuilt.rooms["@bob+carol"]?.visibility == .dm)
        #expect(rebuilt.rooms["@bob+carol"]?.members.count == 2)
        var old = ChatState()
        old.apply(.roomCreated(name: "lobby", epoch: "e", ts: 0))
        #expect(old.rooms["lobby"]?.visibility == .public)
        #expect(old.rooms["lobby"]?.owner == nil)
    }
}

extension Result {
    fileprivate var failure: Failure? {
        if case .failure(let e) = self { return e }
        return nil
    }

    fileprivate var success: Success? {
        if case .success(let s) = self { return s }
        return nil
    }
}
