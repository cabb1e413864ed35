import ChatCore
import ChatTUI
import Testing

// MARK: - Client events

@Suite("update: client events")
struct ClientEventTests {
    @Test(".connected sets the connection and the user, and stores a newly issued token")
    func connected() {
        var state = makeState()
        state.connection = .connecting
        #expect(receive(&state, .connected(user: "Alice", token: "tok")) == [.storeToken(user: "Alice", token: "tok")])
        #expect(state.connection == .connected)
        #expect(state.user == "Alice")
    }

    @Test(".memberships adds new rooms and joins them, and raises head and read of known ones")
    func memberships() {
        var state = makeState(["general"])
        state.rooms[0].head = 2
        state.rooms[0].read = 7
        let effects = receive(
            &state,
            .memberships([
                RoomSummary(name: "General", head: 9, read: 3), RoomSummary(name: "swift-dev", head: 5, read: 1),
            ])
        )
        #expect(effects == [.join("swift-dev")])
        #expect(state.rooms.map(\.name) == ["general", "swift-dev"])
        #expect(state.rooms[0].head == 9)
        #expect(state.rooms[0].read == 7)
        #expect(state.rooms[1].head == 5)
        #expect(state.rooms[1].read == 1)
        #expect(state.rooms[1].unread == 4)
    }

    @Test(".message appends in seq order and drops duplicates")
    func messageOrder() {
        var state = makeState(["general", "random"])
        state.active = 1
        receive(&state, .message(message("general", 2, "bob")))
        receive(&state, .message(message("general", 1, "carol")))
        receive(&state, .message(message("general", 2, "bob", "again")))
        receive(&state, .message(message("general", 3, "dave")))
        #expect(state.rooms[0].messages.map(\.seq) == [1, 2, 3])
        #expect(state.rooms[0].messages.map(\.from) == ["carol", "bob", "dave"])
        #expect(state.rooms[0].head == 3)
        #expect(state.rooms[0].unread == 3)
        #expect(receive(&state, .message(message("elsewhere", 1, "bob"))) == [])
    }

    @Test("an own message removes the pending entry with the same nonce")
    func ownMessage() {
        var state = makeState()
        submit(&state, "one")
        submit(&state, "two")
        #expect(state.rooms[0].pending.map(\.nonce) == ["t-1", "t-2"])
        // Someone else using the same nonce string does not remove it.
        receive(&state, .message(message("general", 1, "mallory", "one", nonce: "t-1")))
        #expect(state.rooms[0].pending.map(\.nonce) == ["t-1", "t-2"])
        let effects = receive(&state, .message(message("general", 2, "alice", "one", nonce: "t-1")))
        #expect(state.rooms[0].pending.map(\.nonce) == ["t-2"])
        #expect(effects == [.markRead(room: "general", seq: 2)])
    }

    @Test("a message in the visible room marks it read; its sender stops typing")
    func visibleMessage() {
        var state = makeState()
        state.rooms[0].typing["bob"] = now + 5_000
        #expect(receive(&state, .message(message("general", 1, "bob"))) == [.markRead(room: "general", seq: 1)])
        #expect(state.rooms[0].read == 1)
        #expect(state.rooms[0].typing["bob"] == nil)
    }

    @Test("a message while scrolled up counts as new below and is not marked read")
    func scrolledMessage() {
        var state = makeState()
        state.scroll = 10
        #expect(receive(&state, .message(message("general", 1, "bob"))) == [])
        #expect(state.newBelow == 1)
        #expect(state.rooms[0].read == 0)
    }

    @Test("a mention in a room that is not visible counts and rings the bell")
    func mentionElsewhere() {
        var state = makeState(["general", "random"])
        #expect(receive(&state, .message(message("random", 1, "bob", "@Alice look"))) == [.bell])
        #expect(state.rooms[1].mentions == 1)
        #expect(receive(&state, .message(message("random", 2, "bob", "no mention here"))) == [])
        #expect(state.rooms[1].mentions == 1)
        #expect(receive(&state, .message(message("random", 2, "bob", "alice: duplicate"))) == [])
        #expect(state.rooms[1].mentions == 1)
        state.bell = false
        #expect(receive(&state, .message(message("random", 3, "bob", "alice: quiet"))) == [])
        #expect(state.rooms[1].mentions == 2)
    }

    @Test("a mention while scrolled up in the active room counts too")
    func mentionScrolled() {
        var state = makeState()
        state.scroll = 3
        #expect(receive(&state, .message(message("general", 1, "bob", "alice, see below"))) == [.bell])
        #expect(state.rooms[0].mentions == 1)
    }

    @Test("a mention in the visible room does not count as unseen")
    func mentionVisible() {
        var state = makeState()
        let effects = receive(&state, .message(message("general", 1, "bob", "alice: hi")))
        #expect(effects.contains(.markRead(room: "general", seq: 1)))
        #expect(state.rooms[0].mentions == 0)
    }

    @Test(
        ".disconnected with a retry shows reconnecting, without one offline",
        arguments: [
            (Duration.seconds(4), Int64(4_000)), (.milliseconds(1_500), 1_500), (.zero, 0),
        ]
    )
    func disconnected(_ retry: Duration, _ ms: Int64) {
        var state = makeState()
        #expect(receive(&state, .disconnected(reason: "connection refused", retryIn: retry)) == [])
        #expect(state.connection == .reconnecting(at: now + ms, reason: "connection refused"))
    }

    @Test(".disconnected without a retry goes offline, keeping the first reason")
    func offline() {
        var state = makeState()
        receive(&state, .disconnected(reason: "server closed", retryIn: nil))
        #expect(state.connection == .offline("server closed"))
        receive(&state, .disconnected(reason: "later", retryIn: nil))
        #expect(state.connection == .offline("server closed"))
    }

    @Test(".authenticationFailed: signed out opens the login form; another refusal goes offline")
    func authenticationFailed() {
        var state = makeState()
        receive(&state, .authenticationFailed(ProtocolError(.unauthorized, "token is not valid")))
        #expect(state.login?.error == "signed out — log in again (token is not valid)")
        #expect(state.login?.user.text == "alice")
        #expect(state.login?.focus == .password)
        #expect(state.connection == .connecting)
        state = makeState()
        receive(&state, .authenticationFailed(ProtocolError(.forbidden, "account disabled")))
        #expect(state.login == nil)
        #expect(state.connection == .offline("login failed: account disabled"))
    }

    @Test(".joined sets the topic and head; a reset drops the messages")
    func joined() {
        var state = makeState()
        state.rooms[0].messages = [message("general", 1, "bob")]
        #expect(
            receive(&state, .joined(room: "General", topic: "hi", head: 4, reset: false, limited: true))
                == [.countMembers("General")]
        )
        #expect(state.rooms[0].name == "General")
        #expect(state.rooms[0].topic == "hi")
        #expect(state.rooms[0].head == 4)
        #expect(state.rooms[0].hasOlder)
        #expect(state.rooms[0].messages.count == 1)
        receive(&state, .joined(room: "general", topic: "hi", head: 2, reset: true, limited: false))
        #expect(state.rooms[0].messages.isEmpty)
        #expect(state.rooms[0].head == 2)
        #expect(state.notice == "general: the server's history was reset; reloaded")
        receive(&state, .joined(room: "new", topic: "", head: 0, reset: false, limited: false))
        #expect(state.rooms.map(\.name) == ["general", "new"])
    }

    @Test(".event(.read) moves the read marker forward only and clears mentions when caught up")
    func read() {
        var state = makeState(["general", "random"])
        state.rooms[1].head = 10
        state.rooms[1].read = 4
        state.rooms[1].mentions = 2
        receive(&state, .event(.read(room: "random", seq: 8)))
        #expect(state.rooms[1].read == 8)
        #expect(state.rooms[1].mentions == 2)
        receive(&state, .event(.read(room: "random", seq: 6)))
        #expect(state.rooms[1].read == 8)
        receive(&state, .event(.read(room: "random", seq: 10)))
        #expect(state.rooms[1].read == 10)
        #expect(state.rooms[1].mentions == 0)
    }

    @Test(".event(.typing) shows the user typing for 6 s; .tick expires it")
    func typing() {
        var state = makeState()
        receive(&state, .event(.typing(room: "general", user: "bob")))
        #expect(state.rooms[0].typing["bob"] == now + 6_000)
        _ = update(&state, .tick(now + 5_999))
        #expect(state.now == now + 5_999)
        #expect(state.rooms[0].typing["bob"] == now + 6_000)
        _ = update(&state, .tick(now + 6_000))
        #expect(state.rooms[0].typing["bob"] == nil)
    }

    @Test(".event(.topic) sets the topic with a notice")
    func topic() {
        var state = makeState()
        receive(&state, .event(.topic(room: "general", topic: "New 🎉", by: "bob")))
        #expect(state.rooms[0].topic == "New 🎉")
        #expect(state.notice == "bob set the topic of general")
    }

    @Test(".event(.joined/.left) counts members")
    func members() {
        var state = makeState()
        state.rooms[0].members = 1
        receive(&state, .event(.joined(room: "general", user: "bob")))
        #expect(state.rooms[0].members == 2)
        receive(&state, .event(.left(room: "general", user: "bob")))
        receive(&state, .event(.left(room: "general", user: "carol")))
        receive(&state, .event(.left(room: "general", user: "dave")))
        #expect(state.rooms[0].members == 0)
    }

    @Test(".sendFailed removes the pending entry, says why and gives the text back in the input line")
    func sendFailed() {
        var state = makeState()
        submit(&state, "one")
        submit(&state, "two")
        receive(&state, .sendFailed(nonce: "t-1", ProtocolError(.forbidden, "not a member of general")))
        #expect(state.rooms[0].pending.map(\.nonce) == ["t-2"])
        #expect(state.notice == "not sent: not a member of general")
        #expect(state.input.text == "one")
    }

    @Test("the visible room is marked read once connected, and on a tick")
    func markReadWhenConnected() {
        var state = makeState()
        state.connection = .connecting
        #expect(receive(&state, .message(message("general", 1, "bob"))) == [])
        #expect(state.rooms[0].read == 0)
        #expect(receive(&state, .connected(user: "alice", token: nil)) == [.markRead(room: "general", seq: 1)])
        #expect(state.rooms[0].read == 1)
        state.connection = .reconnecting(at: now, reason: "x")
        receive(&state, .message(message("general", 2, "bob")))
        #expect(state.rooms[0].read == 1)
        state.connection = .connected
        #expect(update(&state, .tick(now + 1_000)) == [.markRead(room: "general", seq: 2)])
        #expect(update(&state, .tick(now + 2_000)) == [])
    }

    @Test(".lag and .memberCount are stored")
    func lagAndCount() {
        var state = makeState()
        #expect(update(&state, .lag(42)) == [])
        #expect(state.lagMs == 42)
        #expect(update(&state, .memberCount(room: "GENERAL", count: 7)) == [])
        #expect(state.rooms[0].members == 7)
        #expect(update(&state, .memberCount(room: "nowhere", count: 3)) == [])
    }

    @Test(".memberList shows the members as a notice")
    func memberList() {
        var state = makeState()
        _ = update(&state, .memberList(room: "general", members: [("bob", true), ("carol", false)]))
        #expect(state.notice == "general: 2 members: bob, carol (away)")
    }
}
