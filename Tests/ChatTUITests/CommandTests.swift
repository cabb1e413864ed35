import ChatCore
import ChatTUI
import Testing

// MARK: - Sending and commands

@Suite("update: sending and commands")
struct CommandTests {
    @Test("Enter sends to the active room with a nonce and adds a pending entry")
    func send() {
        var state = makeState(["general", "random"])
        state.active = 1
        state.scroll = 5
        state.newBelow = 2
        #expect(
            submit(&state, "hi 日本 \(family)") == [
                .send(room: "random", text: "hi 日本 \(family)", kind: .text, nonce: "t-1")
            ]
        )
        #expect(state.input.isEmpty)
        #expect(state.rooms[1].pending.map(\.nonce) == ["t-1"])
        #expect(state.rooms[1].pending.first?.text == "hi 日本 \(family)")
        #expect(state.rooms[1].pending.first?.ts == now)
        #expect(state.rooms[0].pending.isEmpty)
        #expect(state.scroll == 0)
        #expect(state.newBelow == 0)
        #expect(submit(&state, "again") == [.send(room: "random", text: "again", kind: .text, nonce: "t-2")])
    }

    @Test("an empty or blank line sends nothing", arguments: ["", "   ", "\n"])
    func sendEmpty(_ line: String) {
        var state = makeState()
        #expect(submit(&state, line) == [])
        #expect(state.rooms[0].pending.isEmpty)
        #expect(state.nonceCounter == 0)
    }

    @Test("//x sends /x")
    func doubleSlash() {
        var state = makeState()
        #expect(
            submit(&state, "//x marks the spot") == [
                .send(room: "general", text: "/x marks the spot", kind: .text, nonce: "t-1")
            ]
        )
    }

    @Test("sending without a room asks to join one")
    func sendNoRoom() {
        var state = makeState([])
        #expect(submit(&state, "hello") == [])
        #expect(state.notice == "join a room first: /join ROOM")
    }

    @Test("/me sends an action; /me alone shows usage")
    func me() {
        var state = makeState()
        #expect(submit(&state, "/me waves 👋") == [.send(room: "general", text: "waves 👋", kind: .action, nonce: "t-1")])
        #expect(state.rooms[0].pending.first?.kind == .action)
        #expect(submit(&state, "/me") == [])
        #expect(state.notice == "usage: /me TEXT")
    }

    @Test(
        "/join ROOM appends the room, makes it active and joins it",
        arguments: ["/join swift-dev", "/join #swift-dev", "/j swift-dev"]
    )
    func joinNew(_ line: String) {
        var state = makeState()
        #expect(submit(&state, line) == [.join("swift-dev")])
        #expect(state.rooms.map(\.name) == ["general", "swift-dev"])
        #expect(state.active == 1)
    }

    @Test(
        "/join with an invalid name shows a notice and does nothing",
        arguments: ["/join bad name", "/join a/b", "/join ..!"]
    )
    func joinInvalid(_ line: String) {
        var state = makeState()
        #expect(submit(&state, line) == [])
        #expect(state.rooms.count == 1)
        #expect(state.notice?.contains("room name") == true)
    }

    @Test("/join alone shows usage")
    func joinUsage() {
        var state = makeState()
        #expect(submit(&state, "/join") == [])
        #expect(state.notice == "usage: /join ROOM")
    }

    @Test("/join of a room already joined switches to it (names compare case-insensitively)")
    func joinExisting() {
        var state = makeState(["general", "random"])
        state.rooms[1].messages = [message("random", 1, "bob"), message("random", 2, "bob")]
        state.rooms[1].head = 2
        state.rooms[1].read = 1
        #expect(submit(&state, "/join RANDOM") == [.markRead(room: "random", seq: 2)])
        #expect(state.rooms.count == 2)
        #expect(state.active == 1)
        #expect(state.rooms[1].marker == 1)
    }

    @Test("/part leaves the active room")
    func part() {
        var state = makeState(["general", "random"])
        state.active = 1
        #expect(submit(&state, "/part") == [.leave("random")])
        #expect(state.rooms.map(\.name) == ["general"])
        #expect(state.active == 0)
        #expect(submit(&state, "/leave") == [.leave("general")])
        #expect(state.rooms.isEmpty)
        #expect(submit(&state, "/part") == [])
        #expect(state.notice == "not in a room")
    }

    @Test("/part ROOM leaves that room")
    func partRoom() {
        var state = makeState(["general", "random"])
        #expect(submit(&state, "/part Random") == [.leave("random")])
        #expect(state.rooms.map(\.name) == ["general"])
        #expect(submit(&state, "/part nowhere") == [])
        #expect(state.notice == "not in nowhere")
    }

    @Test("/part of a room listed before the active one keeps the active room")
    func partKeepsActive() {
        var state = makeState(["a", "b", "c", "d"])
        state.active = 2
        #expect(submit(&state, "/part a") == [.leave("a")])
        #expect(state.activeRoom?.name == "c")
    }

    @Test(
        "commands with a single effect",
        arguments: [
            ("/rooms", AppEffect.listRooms),
            ("/members", .listMembers("general")),
            ("/names", .listMembers("general")),
            ("/topic Release on Friday 🚀", .setTopic(room: "general", topic: "Release on Friday 🚀")),
            ("/logout", .logout),
        ]
    )
    func simpleCommands(_ line: String, _ effect: AppEffect) {
        var state = makeState()
        #expect(submit(&state, line) == [effect])
        #expect(state.notice == nil)
    }

    @Test("/members and /topic need a room", arguments: ["/members", "/topic x", "/topic"])
    func commandsNeedRoom(_ line: String) {
        var state = makeState([])
        #expect(submit(&state, line) == [])
        #expect(state.notice == "join a room first")
    }

    @Test("/topic alone shows the topic")
    func topicShow() {
        var state = makeState()
        #expect(submit(&state, "/topic") == [])
        #expect(state.notice == "topic: (none)")
        state.rooms[0].topic = "Swift 6.3"
        #expect(submit(&state, "/topic  ") == [])
        #expect(state.notice == "topic: Swift 6.3")
    }

    @Test("/quit quits", arguments: ["/quit", "/exit", "/q", "/QUIT"])
    func quit(_ line: String) {
        var state = makeState()
        #expect(submit(&state, line) == [.quit])
        #expect(state.quitting)
    }

    @Test("/help shows the help box; Esc or Enter closes it")
    func help() {
        var state = makeState()
        #expect(submit(&state, "/help") == [])
        #expect(state.showHelp)
        press(&state, .escape)
        #expect(!state.showHelp)
        submit(&state, "/?")
        #expect(state.showHelp)
        #expect(press(&state, .enter) == [])
        #expect(!state.showHelp)
    }

    @Test("an unknown command shows a notice and sends nothing")
    func unknownCommand() {
        var state = makeState()
        #expect(submit(&state, "/frobnicate now") == [])
        #expect(state.notice == "unknown command /frobnicate (try /help)")
        #expect(state.rooms[0].pending.isEmpty)
    }

    @Test("commands are stored in the input history")
    func commandHistory() {
        var state = makeState()
        submit(&state, "/topic")
        press(&state, .up)
        #expect(state.input.text == "/topic")
    }
}
