import ChatCore
import ChatTUI
import Testing

// MARK: - Private rooms, invitations and direct messages (issue 13)

@Suite("update: private rooms and direct messages")
struct DirectMessageTests {
    /// general and a DM with bob, bob known as online and carol as away.
    func withDirect() -> AppState {
        var state = makeState(["general"])
        _ = update(&state, .directOpened(room: "@alice+bob", text: nil))
        state.active = 0
        _ = update(&state, .seen(["bob": true, "carol": false]))
        return state
    }

    @Test("the peer of a direct-message room, whichever name comes first; @alice is alice's own")
    func peer() {
        #expect(AppState.Room(name: "@alice+bob").peer(of: "alice") == "bob")
        #expect(AppState.Room(name: "@alice+bob").peer(of: "Bob") == "alice")
        #expect(AppState.Room(name: "@alice").peer(of: "alice") == "alice")
        #expect(AppState.Room(name: "@さくら+花子").peer(of: "花子") == "さくら")
        #expect(AppState.Room(name: "general").peer(of: "alice") == nil)
        #expect(AppState.Room(name: "@alice+bob").isDirect)
        #expect(!AppState.Room(name: "general").isDirect)
    }

    @Test("/msg NAME TEXT asks the server for the room; /query NAME opens it without text")
    func msgAsks() {
        var state = makeState()
        #expect(submit(&state, "/msg bob hi 日本 there") == [.openDirect(user: "bob", text: "hi 日本 there")])
        #expect(submit(&state, "/query @bob") == [.openDirect(user: "bob", text: nil)])
        #expect(submit(&state, "/msg 花子") == [.openDirect(user: "花子", text: nil)])
        #expect(state.rooms.map(\.name) == ["general"], "nothing is added before the server answers")
    }

    @Test("/msg without a name, or with a name the server cannot have, says so and sends nothing")
    func msgUsage() {
        var state = makeState()
        #expect(submit(&state, "/msg") == [])
        #expect(state.notice == "usage: /msg NAME [TEXT]")
        #expect(submit(&state, "/query") == [])
        #expect(state.notice == "usage: /query NAME")
        #expect(submit(&state, "/msg a+b hi") == [])
        #expect(state.notice != nil && state.notice != "usage: /msg NAME [TEXT]")
    }

    @Test("the server's answer adds the DM after the rooms, shows it, joins it and sends the text")
    func directOpened() {
        var state = makeState(["general", "random"])
        let effects = update(&state, .directOpened(room: "@alice+bob", text: "hi"))
        #expect(effects == [.join("@alice+bob"), .send(room: "@alice+bob", text: "hi", kind: .text, nonce: "t-1")])
        #expect(state.rooms.map(\.name) == ["general", "random", "@alice+bob"])
        #expect(state.activeRoom?.name == "@alice+bob")
        #expect(state.activeRoom?.isPrivate == true)
    }

    @Test("/msg to a peer whose DM the client has switches to it and sends at once")
    func msgKnown() {
        var state = withDirect()
        #expect(
            submit(&state, "/msg BOB again") == [.send(room: "@alice+bob", text: "again", kind: .text, nonce: "t-1")]
        )
        #expect(state.activeRoom?.name == "@alice+bob")
        #expect(state.rooms.count == 2)
    }

    @Test("/msg over max_text is not sent and stays in the input line")
    func msgTooLong() {
        var state = makeState()
        let line = "/msg bob " + String(repeating: "x", count: state.limits.maxText + 1)
        #expect(submit(&state, line) == [])
        #expect(state.input.text == line)
        #expect(state.notice?.hasSuffix("— not sent") == true)
    }

    @Test("rooms stay above the direct messages whatever the order they arrive in; the active room stays")
    func ordering() {
        var state = makeState(["general"])
        _ = update(&state, .directOpened(room: "@alice+bob", text: nil))
        #expect(state.active == 1)
        receive(
            &state,
            .memberships([
                RoomSummary(name: "@alice+carol", head: 3, read: 1),
                RoomSummary(name: "ops", head: 0, read: 0),
            ])
        )
        #expect(state.rooms.map(\.name) == ["general", "ops", "@alice+bob", "@alice+carol"])
        #expect(state.activeRoom?.name == "@alice+bob")
        receive(&state, .joined(room: "zeta", topic: "", head: 0, reset: false, limited: false))
        #expect(state.rooms.map(\.name) == ["general", "ops", "zeta", "@alice+bob", "@alice+carol"])
        #expect(state.activeRoom?.name == "@alice+bob")
        #expect(submit(&state, "/join extra") == [.join("extra")])
        #expect(state.rooms.map(\.name) == ["general", "ops", "zeta", "extra", "@alice+bob", "@alice+carol"])
        #expect(state.activeRoom?.name == "extra")
    }

    @Test("added lists the room without leaving the open one; removed drops it and says who removed you")
    func addedRemoved() {
        var state = withDirect()
        receive(&state, .event(.added(room: "ops", by: "bob", visibility: .private)))
        #expect(state.rooms.map(\.name) == ["general", "ops", "@alice+bob"])
        #expect(state.activeRoom?.name == "general")
        #expect(state.rooms[1].isPrivate)
        #expect(state.notice == "bob added you to ops")
        receive(&state, .event(.added(room: "@alice+carol", by: "carol", visibility: .dm)))
        #expect(state.rooms.map(\.name) == ["general", "ops", "@alice+bob", "@alice+carol"])
        #expect(state.notice == "carol opened direct messages with you")
        #expect(state.isOnline("carol") == true)
        state.active = 1
        receive(&state, .event(.removed(room: "ops", by: "bob")))
        #expect(state.rooms.map(\.name) == ["general", "@alice+bob", "@alice+carol"])
        #expect(state.notice == "bob removed you from ops")
        #expect(state.activeRoom?.name == "@alice+bob")
        // A room the client does not have: nothing to drop, but the user is told.
        receive(&state, .event(.removed(room: "gone", by: "bob")))
        #expect(state.rooms.count == 3)
        #expect(state.notice == "bob removed you from gone")
    }

    @Test("the login room list marks private rooms and DMs")
    func membershipsVisibility() {
        var state = makeState([])
        receive(
            &state,
            .memberships([
                RoomSummary(name: "ops", head: 0, read: 0, visibility: .private),
                RoomSummary(name: "lobby", head: 0, read: 0),
                RoomSummary(name: "@alice+bob", head: 0, read: 0, visibility: .dm),
            ])
        )
        #expect(state.rooms.map(\.isPrivate) == [true, false, true])
    }

    @Test("one's own notes (@alice) show online while connected")
    func selfDirect() {
        var state = makeState(["general"])
        _ = update(&state, .directOpened(room: "@alice", text: nil))
        #expect(render(state, size: Size(width: 80, height: 24)).text.contains("2 ● alice"))
        state.connection = .offline("gone")
        #expect(render(state, size: Size(width: 80, height: 24)).text.contains("2 ○ alice"))
    }

    @Test("/part in a DM says it cannot be left and keeps it (the server refuses leave there)")
    func partDirect() {
        var state = withDirect()
        state.active = 1
        #expect(submit(&state, "/part") == [])
        #expect(state.notice == "direct messages cannot be left")
        #expect(state.rooms.count == 2)
        #expect(submit(&state, "/part general") == [.leave("general")])
    }

    @Test("/join @… points to /msg")
    func joinDirect() {
        var state = makeState()
        #expect(submit(&state, "/join @bob") == [])
        #expect(state.notice == "to message a user: /msg NAME")
    }

    @Test("a direct message counts as a mention and rings the bell; not with the bell off")
    func directIsMention() {
        var state = withDirect()
        #expect(receive(&state, .message(message("@alice+bob", 1, "bob", "no name in here"))) == [.bell])
        #expect(state.rooms[1].mentions == 1)
        state.bell = false
        #expect(receive(&state, .message(message("@alice+bob", 2, "bob", "again"))) == [])
        #expect(state.rooms[1].mentions == 2)
        // In a room, only a mention does.
        state.bell = true
        #expect(!receive(&state, .message(message("general", 1, "bob", "no name in here"))).contains(.bell))
        #expect(receive(&state, .message(message("general", 2, "bob", "alice: look"))).contains(.bell))
    }

    @Test("/create ROOM [private] asks the server; the answer adds the room above the DMs and opens it")
    func create() {
        var state = withDirect()
        #expect(submit(&state, "/create ops private") == [.create(room: "ops", isPrivate: true)])
        #expect(submit(&state, "/create #news") == [.create(room: "news", isPrivate: false)])
        #expect(submit(&state, "/create news public") == [.create(room: "news", isPrivate: false)])
        #expect(update(&state, .created(room: "ops", isPrivate: true)).isEmpty)
        #expect(state.rooms.map(\.name) == ["general", "ops", "@alice+bob"])
        #expect(state.activeRoom?.name == "ops")
        #expect(state.activeRoom?.isPrivate == true)
        #expect(state.notice == "created private room ops: /invite NAME adds members")
    }

    @Test("/create without a name, with a third word, or of a room the client has, says so")
    func createUsage() {
        var state = makeState()
        for line in ["/create", "/create ops secret", "/create ops private now"] {
            #expect(submit(&state, line) == [])
            #expect(state.notice == "usage: /create ROOM [private]", "\(line)")
        }
        #expect(submit(&state, "/create general") == [])
        #expect(state.notice == "general exists already")
    }

    @Test("/invite and /kick act on the current room; without one they say so")
    func inviteKick() {
        var state = makeState(["ops"])
        #expect(submit(&state, "/invite bob") == [.invite(room: "ops", user: "bob")])
        #expect(submit(&state, "/kick @花子") == [.kick(room: "ops", user: "花子")])
        #expect(submit(&state, "/invite") == [])
        #expect(state.notice == "usage: /invite NAME")
        #expect(submit(&state, "/kick bob carol") == [])
        #expect(state.notice == "usage: /kick NAME")
        var empty = makeState([])
        #expect(submit(&empty, "/invite bob") == [])
        #expect(empty.notice == "join a room first")
    }

    @Test("presence events, member lists and senders teach the client who exists and who is online")
    func people() {
        var state = makeState()
        receive(&state, .event(.presence(user: "bob", online: true)))
        #expect(state.isOnline("BOB") == true)
        receive(&state, .event(.presence(user: "bob", online: false)))
        #expect(state.isOnline("bob") == false)
        receive(&state, .message(message("general", 1, "dave")))
        #expect(state.people["dave"]?.name == "dave")
        #expect(state.isOnline("dave") == nil)
        _ = update(&state, .memberList(room: "general", members: [(user: "dave", online: true)]))
        #expect(state.isOnline("dave") == true)
        receive(&state, .message(message("general", 2, "dave")))
        #expect(state.isOnline("dave") == true, "a message keeps what is known")
    }

    @Test("Tab after /msg, /query, /invite and /kick completes known user names, not one's own")
    func completeUsers() {
        var state = withDirect()
        _ = update(&state, .seen(["bella": true, "alice": true, "花子": false]))
        state.input = InputLine("/msg b")
        press(&state, .tab)
        #expect(state.input.text == "/msg bella ")
        press(&state, .tab)
        #expect(state.input.text == "/msg bob ")
        state.completion = nil
        state.input = InputLine("/invite c")
        press(&state, .tab)
        #expect(state.input.text == "/invite carol ")
        state.completion = nil
        state.input = InputLine("/kick @花")
        press(&state, .tab)
        #expect(state.input.text == "/kick 花子 ")
        state.completion = nil
        state.input = InputLine("/query a")
        press(&state, .tab)
        #expect(state.input.text == "/query a", "one's own name is not offered")
    }

    @Test("/help lists the new commands, and Tab completes them")
    func help() {
        #expect(helpLines.contains { $0.contains("/msg NAME [TEXT]") && $0.contains("/query NAME") })
        #expect(helpLines.contains { $0.contains("/create ROOM [private]") && $0.contains("/invite NAME") })
        #expect(helpLines.contains { $0.contains("/kick NAME") })
        var state = makeState()
        state.input = InputLine("/inv")
        press(&state, .tab)
        #expect(state.input.text == "/invite ")
    }
}
