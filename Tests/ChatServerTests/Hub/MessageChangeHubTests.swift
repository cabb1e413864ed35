import ChatCore
import ChatLog
import ChatServer
import Testing

/// Replies, edits, deletes and reactions in the hub core: who may do what, the events, the
/// current state, and that replaying the records (log or snapshot) gives the same state.
@Suite("Hub core: replies, edits, deletes and reactions")
struct MessageChangeHubTests {
    static let lobby = HubHarness.name("lobby")

    /// alice (1) and bob (2) in `lobby`; alice wrote seq 1, bob seq 2.
    static func twoUsers(_ configuration: ServerConfiguration = HubHarness.configuration) -> HubHarness {
        var configuration = configuration
        configuration.limits.ratePerSec = 1000
        configuration.limits.rateBurst = 1000
        var hub = HubHarness(configuration)
        hub.user(1, "alice")
        hub.user(2, "bob")
        hub.join(1, "lobby")
        hub.join(2, "lobby")
        hub.request(1, "a1", .send(room: lobby, text: "hello from alice", kind: .text, nonce: nil))
        hub.request(2, "b1", .send(room: lobby, text: "hi from bob", kind: .text, nonce: nil))
        hub.flush()
        hub.received = [:]
        return hub
    }

    static func stored(_ hub: HubHarness, _ seq: Int64) -> ChatMessage {
        hub.core.state.rooms["lobby"]!.messages[Int(seq - 1)]
    }

    static func events(_ hub: HubHarness, _ conn: ConnID) -> [ChatMessage] {
        (hub.received[conn] ?? []).compactMap { item in
            if case .event(.message(let m)) = item { return m }
            return nil
        }
    }

    static func sent(_ hub: HubHarness, _ conn: ConnID, _ id: String) -> Int64? {
        for item in hub.received[conn] ?? [] {
            if case .reply(id, .sent(let seq, _)) = item { return seq }
        }
        return nil
    }

    static func error(_ hub: HubHarness, _ conn: ConnID, _ id: String) -> ErrorCode? {
        for item in hub.received[conn] ?? [] {
            if case .error(id, let code) = item { return code }
        }
        return nil
    }

    @Test("an edit is a new event with its own seq; the message keeps its seq and shows the new text")
    func edit() {
        var hub = Self.twoUsers()
        hub.advance(5)
        hub.request(1, "e", .edit(room: Self.lobby, seq: 1, text: "hello, edited"))
        hub.flush()
        #expect(Self.sent(hub, 1, "e") == 3)
        let event = Self.events(hub, 2).last
        #expect(event?.kind == .edit)
        #expect(event?.seq == 3)
        #expect(event?.target == 1)
        #expect(event?.text == "hello, edited")
        #expect(event?.from == "alice")
        let message = Self.stored(hub, 1)
        #expect(message.text == "hello, edited")
        #expect(message.editedTs == hub.now.wallMs)
        #expect(hub.core.state.rooms["lobby"]!.head == 3)
    }

    @Test("edit, delete and unreact by the wrong user are refused; missing targets are not_found")
    func refusals() {
        var hub = Self.twoUsers()
        hub.request(2, "e", .edit(room: Self.lobby, seq: 1, text: "not mine"))
        hub.request(2, "d", .delete(room: Self.lobby, seq: 1))
        hub.request(2, "u", .unreact(room: Self.lobby, seq: 1, emoji: "👍"))
        hub.request(1, "missing", .edit(room: Self.lobby, seq: 99, text: "x"))
        hub.request(1, "zero", .delete(room: Self.lobby, seq: 2_000))
        hub.request(1, "reply", .send(room: Self.lobby, text: "re", kind: .text, nonce: nil, replyTo: 7))
        hub.flush()
        #expect(Self.error(hub, 2, "e") == .forbidden)
        #expect(Self.error(hub, 2, "d") == .forbidden)
        #expect(Self.error(hub, 2, "u") == .notFound)
        #expect(Self.error(hub, 1, "missing") == .notFound)
        #expect(Self.error(hub, 1, "zero") == .notFound)
        #expect(Self.error(hub, 1, "reply") == .notFound)
        #expect(hub.core.state.rooms["lobby"]!.head == 2, "nothing was stored")
        // A change event is not something to edit, react to or reply to.
        hub.request(1, "e2", .edit(room: Self.lobby, seq: 1, text: "v2"))
        hub.flush()
        hub.request(1, "e3", .edit(room: Self.lobby, seq: 3, text: "edit the edit"))
        hub.request(1, "r3", .react(room: Self.lobby, seq: 3, emoji: "👍"))
        hub.request(1, "p3", .send(room: Self.lobby, text: "re", kind: .text, nonce: nil, replyTo: 3))
        hub.flush()
        #expect(Self.error(hub, 1, "e3") == .notFound)
        #expect(Self.error(hub, 1, "r3") == .notFound)
        #expect(Self.error(hub, 1, "p3") == .notFound)
    }

    @Test("refused replies, edits and reactions take no rate token")
    func refusalsAreFree() {
        var hub = HubHarness()  // 2 per second, burst 3
        hub.user(1, "alice")
        hub.join(1, "lobby")
        for i in 0..<10 {
            hub.request(1, "p\(i)", .send(room: Self.lobby, text: "re", kind: .text, nonce: nil, replyTo: 9))
            hub.request(1, "e\(i)", .edit(room: Self.lobby, seq: 9, text: "x"))
            hub.request(1, "r\(i)", .react(room: Self.lobby, seq: 9, emoji: "👍"))
        }
        hub.flush()
        #expect((0..<10).allSatisfy { Self.error(hub, 1, "p\($0)") == .notFound })
        #expect((0..<10).allSatisfy { Self.error(hub, 1, "r\($0)") == .notFound })
        hub.request(1, "s", .send(room: Self.lobby, text: "still allowed", kind: .text, nonce: nil))
        hub.flush()
        #expect(Self.sent(hub, 1, "s") == 1)
    }

    @Test("a reply carries reply_to to an earlier message of the room")
    func reply() {
        var hub = Self.twoUsers()
        hub.request(2, "r", .send(room: Self.lobby, text: "yes", kind: .text, nonce: "n", replyTo: 1))
        hub.flush()
        #expect(Self.sent(hub, 2, "r") == 3)
        #expect(Self.events(hub, 1).last?.replyTo == 1)
        #expect(Self.stored(hub, 3).replyTo == 1)
    }

    @Test("a delete leaves a tombstone: no text, no reactions, and its edits lose their text too")
    func delete() {
        var hub = Self.twoUsers()
        hub.request(1, "e", .edit(room: Self.lobby, seq: 1, text: "secret v2"))
        hub.request(2, "r", .react(room: Self.lobby, seq: 1, emoji: "🎉"))
        hub.flush()
        hub.request(1, "d", .delete(room: Self.lobby, seq: 1))
        hub.flush()
        #expect(Self.sent(hub, 1, "d") == 5)
        let event = Self.events(hub, 2).last
        #expect(event?.kind == .delete)
        #expect(event?.target == 1)
        #expect(event?.text == "")
        #expect(event?.json["text"] == nil, "a delete event has no text")
        let tombstone = Self.stored(hub, 1)
        #expect(tombstone.deleted)
        #expect(tombstone.text == "")
        #expect(tombstone.reactions.isEmpty)
        #expect(tombstone.editedTs == nil)
        #expect(tombstone.json["text"] == nil)
        #expect(tombstone.json["deleted"] == .bool(true))
        #expect(Self.stored(hub, 3).kind == .edit)
        #expect(Self.stored(hub, 3).text == "", "the edit's text was the message's text too")
        let everything = hub.core.state.rooms["lobby"]!.messages.map { JSONValue.object($0.json).jsonString }
        #expect(!everything.contains { $0.contains("secret") })
        // Nothing more can happen to it.
        hub.request(1, "again", .delete(room: Self.lobby, seq: 1))
        hub.request(1, "edit", .edit(room: Self.lobby, seq: 1, text: "back"))
        hub.request(2, "react", .react(room: Self.lobby, seq: 1, emoji: "👍"))
        hub.flush()
        #expect(Self.error(hub, 1, "again") == .notFound)
        #expect(Self.error(hub, 1, "edit") == .notFound)
        #expect(Self.error(hub, 2, "react") == .notFound)
    }

    @Test("the owner of a room may delete anyone's message; an admin too, as 'server'")
    func ownerAndAdminDelete() throws {
        var hub = Self.twoUsers()
        hub.request(1, "c", .create(room: HubHarness.name("ops"), visibility: .private, topic: nil))
        hub.flush()
        hub.request(1, "i", .invite(room: HubHarness.name("ops"), user: try TextRules.userName("bob").get()))
        hub.flush()
        hub.request(2, "s", .send(room: HubHarness.name("ops"), text: "bob in ops", kind: .text, nonce: nil))
        hub.flush()
        hub.request(1, "d", .delete(room: HubHarness.name("ops"), seq: 1))
        hub.flush()
        #expect(Self.sent(hub, 1, "d") == 2)
        #expect(hub.core.state.rooms["ops"]!.messages[0].deleted)

        let plan = try hub.core.admin(.deleteMessage(room: "LOBBY", seq: 2), at: hub.now)
        hub.perform(plan.step)
        hub.flush()
        #expect(plan.result["event_seq"] == .int(3))
        #expect(Self.stored(hub, 2).deleted)
        let event = Self.events(hub, 1).last
        #expect(event?.kind == .delete)
        #expect(event?.from == "server")
        #expect(throws: AdminError.self) { try hub.core.admin(.deleteMessage(room: "lobby", seq: 2), at: hub.now) }
        #expect(throws: AdminError.self) { try hub.core.admin(.deleteMessage(room: "nowhere", seq: 1), at: hub.now) }
    }

    @Test("reacting twice with the same emoji is answered with the first seq and makes one event")
    func reactIdempotent() {
        var hub = Self.twoUsers()
        hub.request(2, "r1", .react(room: Self.lobby, seq: 1, emoji: "👍🏽"))
        hub.flush()
        hub.request(2, "r2", .react(room: Self.lobby, seq: 1, emoji: "👍🏽"))
        hub.flush()
        #expect(Self.sent(hub, 2, "r1") == 3)
        #expect(Self.sent(hub, 2, "r2") == 3)
        #expect(Self.events(hub, 1).filter { $0.kind == .react }.count == 1)
        #expect(hub.core.state.rooms["lobby"]!.head == 3)
        hub.request(1, "r3", .react(room: Self.lobby, seq: 1, emoji: "👍🏽"))
        hub.request(1, "r4", .react(room: Self.lobby, seq: 1, emoji: "🎉"))
        hub.flush()
        #expect(
            Self.stored(hub, 1).reactions == [
                Reaction(emoji: "👍🏽", users: ["bob", "alice"]), Reaction(emoji: "🎉", users: ["alice"]),
            ]
        )
        hub.request(2, "u", .unreact(room: Self.lobby, seq: 1, emoji: "👍🏽"))
        hub.flush()
        #expect(Self.sent(hub, 2, "u") == 6)
        #expect(Self.events(hub, 1).last?.kind == .unreact)
        #expect(
            Self.stored(hub, 1).reactions == [
                Reaction(emoji: "👍🏽", users: ["alice"]), Reaction(emoji: "🎉", users: ["alice"]),
            ]
        )
        // After taking it back, reacting again is a new event.
        hub.request(2, "again", .react(room: Self.lobby, seq: 1, emoji: "👍🏽"))
        hub.flush()
        #expect(Self.sent(hub, 2, "again") == 7)
        // alice's repeated 👍🏽 still answers her own first seq (4), not bob's.
        hub.request(1, "r5", .react(room: Self.lobby, seq: 1, emoji: "👍🏽"))
        hub.flush()
        #expect(Self.sent(hub, 1, "r5") == 4)
    }

    @Test("at most 20 different emoji on one message; a new one beyond is too_large")
    func reactionLimit() {
        var hub = Self.twoUsers()
        let emoji = Array("😀😃😄😁😆😅😂🤣😊😇🙂🙃😉😌😍🥰😘😗😙😚😋").map(String.init)
        for (i, e) in emoji.enumerated() { hub.request(1, "r\(i)", .react(room: Self.lobby, seq: 2, emoji: e)) }
        hub.flush()
        #expect(Self.stored(hub, 2).reactions.count == 20)
        #expect(Self.error(hub, 1, "r20") == .tooLarge)
        // Joining an existing emoji is still fine.
        hub.request(2, "same", .react(room: Self.lobby, seq: 2, emoji: "😀"))
        hub.flush()
        #expect(Self.sent(hub, 2, "same") != nil)
    }

    @Test("--edit-window refuses edits of older messages")
    func editWindow() {
        var configuration = HubHarness.configuration
        configuration.editWindow = 60
        var hub = Self.twoUsers(configuration)
        hub.advance(59)
        hub.request(1, "in", .edit(room: Self.lobby, seq: 1, text: "in time"))
        hub.flush()
        hub.advance(2)
        hub.request(1, "late", .edit(room: Self.lobby, seq: 1, text: "too late"))
        hub.flush()
        #expect(Self.sent(hub, 1, "in") == 3)
        #expect(Self.error(hub, 1, "late") == .forbidden)
        #expect(Self.stored(hub, 1).text == "in time")
    }

    @Test("two connections of one user edit one message: the later seq's text stands")
    func concurrentEdits() {
        var hub = Self.twoUsers()
        _ = hub.core.connect(3, address: "10.0.0.3")
        hub.perform(hub.core.receive(3, id: "resume", .resume(token: "token-1"), at: hub.now))
        hub.flush()
        hub.request(1, "e1", .edit(room: Self.lobby, seq: 1, text: "from one"))
        hub.request(3, "e3", .edit(room: Self.lobby, seq: 1, text: "from three"))
        hub.flush()
        let first = Self.sent(hub, 1, "e1")
        let second = Self.sent(hub, 3, "e3")
        #expect(first == 3)
        #expect(second == 4)
        #expect(Self.stored(hub, 1).text == "from three")
    }

    @Test("replaying the log, or a snapshot of the messages, rebuilds the same state")
    func replay() throws {
        var hub = Self.twoUsers()
        hub.request(1, "e", .edit(room: Self.lobby, seq: 1, text: "edited"))
        hub.request(2, "r", .react(room: Self.lobby, seq: 1, emoji: "👍"))
        hub.request(1, "r2", .react(room: Self.lobby, seq: 1, emoji: "👍"))
        hub.request(1, "r3", .react(room: Self.lobby, seq: 2, emoji: "🎉"))
        hub.request(2, "u", .unreact(room: Self.lobby, seq: 1, emoji: "👍"))
        hub.request(2, "p", .send(room: Self.lobby, text: "reply", kind: .action, nonce: "n", replyTo: 1))
        hub.request(2, "d", .delete(room: Self.lobby, seq: 2))
        hub.flush()
        let live = hub.core.state.rooms["lobby"]!.messages

        // The log, through the binary coding.
        var fromLog = ChatState()
        for record in hub.records {
            var w = ByteWriter()
            record.encode(into: &w)
            let decoded = try w.bytes.withUnsafeBytes { raw in try LogRecord.decode(raw) }
            fromLog.apply(decoded)
        }
        #expect(fromLog.rooms["lobby"]!.messages == live)

        // A snapshot writes each room's messages as they are now.
        var snapshot: [LogRecord] = hub.records.filter {
            if case .messageAppended = $0 { return false }
            return true
        }
        snapshot += live.map { .messageAppended($0) }
        var fromSnapshot = ChatState()
        for record in snapshot {
            var w = ByteWriter()
            record.encode(into: &w)
            let decoded = try w.bytes.withUnsafeBytes { raw in try LogRecord.decode(raw) }
            fromSnapshot.apply(decoded)
        }
        #expect(fromSnapshot.rooms["lobby"]!.messages == live)
        #expect(fromSnapshot.rooms["lobby"]!.messages[0].reactions == [Reaction(emoji: "👍", users: ["alice"])])
        // So a repeated reaction after a restart still answers the first seq.
        #expect(fromSnapshot.rooms["lobby"]!.messages[0].details.reactionSeqs == [[5]])
    }

    @Test("the index batch replaces an edited message's row and drops a deleted one")
    func indexBatch() {
        var hub = Self.twoUsers()
        let first = hub.core.indexBatch(after: [:], limit: 100)
        #expect(first.messages.map(\.seq) == [1, 2])
        #expect(first.removals.isEmpty)
        hub.request(1, "e", .edit(room: Self.lobby, seq: 1, text: "new words"))
        hub.request(2, "d", .delete(room: Self.lobby, seq: 2))
        hub.request(2, "r", .react(room: Self.lobby, seq: 1, emoji: "👍"))
        hub.flush()
        let next = hub.core.indexBatch(after: first.cursors, limit: 100)
        #expect(next.removals.map(\.seq) == [1, 2])
        #expect(next.messages.map(\.seq) == [1])
        #expect(next.messages.first?.text == "new words")
        #expect(next.cursors["lobby"]?.seq == 5)
        // From scratch: current text only, the deleted message not at all.
        let fresh = hub.core.indexBatch(after: [:], limit: 100)
        #expect(fresh.messages.map(\.seq) == [1])
        #expect(fresh.messages.first?.text == "new words")
        #expect(hub.core.currentText(room: "lobby", seq: 1) == "new words")
        #expect(hub.core.currentText(room: "lobby", seq: 2) == nil)
    }
}
