import ChatCore
import Testing

// MARK: - Helpers

private func message(_ seq: Int64, room: String = "lobby") -> ChatMessage {
    ChatMessage(room: room, seq: seq, from: "bob", text: "m\(seq)", kind: .text, ts: 1000 + seq)
}

private func joinReply(
    name: String = "lobby",
    head: Int64,
    epoch: String = "e1",
    messages: [ChatMessage] = [],
    limited: Bool = false,
    reset: Bool = false
) -> JoinReply {
    JoinReply(
        room: JoinReply.Room(name: name, topic: "", head: head, epoch: epoch),
        messages: messages,
        limited: limited,
        reset: reset
    )
}

/// A request as the client writes it, without its id.
private func wire(_ request: Request?) -> String? {
    guard var object = request?.json(id: "x") else { return nil }
    object["id"] = nil
    return JSONValue.object(object).jsonString
}

/// A session subscribed to `room` whose head is `head`.
private func joinedSession(_ room: String = "lobby", head: Int64, epoch: String = "e1") -> ClientSession {
    var session = ClientSession()
    _ = session.applyJoin(room, reply: joinReply(name: room, head: head, epoch: epoch))
    return session
}

private func seqs(_ messages: [ChatMessage]) -> [Int64] { messages.map(\.seq) }

// MARK: - Tables

/// Seqs received after joining at head 4, and what each must give.
private let receiveSequences: [([Int64], [ClientSession.Delivery])] = [
    ([5], [.deliver]),
    ([5, 6, 7], [.deliver, .deliver, .deliver]),
    ([4], [.duplicate]),
    ([1], [.duplicate]),
    ([5, 5], [.deliver, .duplicate]),
    ([5, 4, 6], [.deliver, .duplicate, .deliver]),
    ([7], [.gap(after: 4)]),
    ([5, 9, 10], [.deliver, .gap(after: 5), .held]),
    ([7, 6, 8], [.gap(after: 4), .held, .held]),
    ([7, 7, 3], [.gap(after: 4), .held, .duplicate]),
]

// MARK: - Tests

@Suite("ClientSession")
struct ClientSessionTests {
    @Test("follow creates an unsubscribed cursor at head 0, once per folded name")
    func follow() throws {
        var session = ClientSession()
        session.follow("Lobby")
        let cursor = try #require(session.cursor("lobby"))
        #expect(cursor.name == "Lobby")
        #expect(cursor.head == 0)
        #expect(cursor.epoch == nil)
        #expect(!cursor.subscribed)
        session.follow("LOBBY")
        session.follow("dev")
        #expect(session.roomOrder == ["lobby", "dev"])
        #expect(session.rooms.count == 2)
        #expect(session.cursor("LoBbY")?.name == "Lobby")
        #expect(session.cursor("ops") == nil)
    }

    @Test("follow(since:) sets the head")
    func followSince() {
        var session = ClientSession()
        session.follow("lobby", since: 7)
        #expect(session.cursor("lobby")?.head == 7)
        #expect(session.cursor("lobby")?.subscribed == false)
    }

    @Test("joinRequest without since for a room never seen")
    func joinRequestFresh() {
        var session = ClientSession()
        #expect(wire(session.joinRequest("lobby")) == #"{"type":"join","room":"lobby"}"#)
        session.follow("lobby")
        #expect(wire(session.joinRequest("lobby")) == #"{"type":"join","room":"lobby"}"#)
    }

    @Test("joinRequest with since once a position is known")
    func joinRequestSince() {
        var session = ClientSession()
        session.follow("lobby", since: 7)
        #expect(
            wire(session.joinRequest("lobby")) == #"{"type":"join","room":"lobby","since":7}"#
        )
        session.follow("dev", since: 0)
        #expect(wire(session.joinRequest("dev")) == #"{"type":"join","room":"dev","since":0}"#)
    }

    @Test("joinRequest with since and epoch after a join")
    func joinRequestEpoch() {
        let session = joinedSession(head: 5, epoch: "ep-9")
        #expect(
            wire(session.joinRequest("lobby"))
                == #"{"type":"join","room":"lobby","since":5,"epoch":"ep-9"}"#
        )
        let empty = joinedSession(head: 0, epoch: "ep-0")
        #expect(
            wire(empty.joinRequest("lobby"))
                == #"{"type":"join","room":"lobby","since":0,"epoch":"ep-0"}"#
        )
    }

    @Test("applyJoin delivers only messages after the head and records head and epoch")
    func applyJoinSince() throws {
        var session = ClientSession()
        session.follow("lobby", since: 2)
        let reply = joinReply(head: 4, epoch: "e1", messages: [message(1), message(2), message(3), message(4)])
        let outcome = session.applyJoin("lobby", reply: reply)
        #expect(seqs(outcome.messages) == [3, 4])
        #expect(outcome.messages.first == message(3))
        #expect(!outcome.reset)
        #expect(!outcome.limited)
        let cursor = try #require(session.cursor("lobby"))
        #expect(cursor.head == 4)
        #expect(cursor.epoch == "e1")
        #expect(cursor.subscribed)
    }

    @Test("applyJoin on a first join delivers everything and passes limited through")
    func applyJoinFirst() {
        var session = ClientSession()
        let reply = joinReply(head: 60, messages: [message(59), message(60)], limited: true)
        let outcome = session.applyJoin("lobby", reply: reply)
        #expect(seqs(outcome.messages) == [59, 60])
        #expect(outcome.limited)
        #expect(session.roomOrder == ["lobby"])
        #expect(session.cursor("lobby")?.head == 60)
    }

    @Test("applyJoin takes the server's display name and fills in the room of messages")
    func applyJoinName() throws {
        var session = ClientSession()
        session.follow("lobby")
        var bare = message(1).json
        bare["room"] = nil
        var body = joinReply(name: "Lobby", head: 1).json
        body["messages"] = [.object(bare)]
        let outcome = session.applyJoin("lobby", reply: try JoinReply(json: body))
        let expected = ChatMessage(room: "Lobby", seq: 1, from: "bob", text: "m1", kind: .text, ts: 1001)
        #expect(outcome.messages == [expected])
        #expect(session.cursor("lobby")?.name == "Lobby")
        #expect(session.roomOrder == ["lobby"])
    }

    @Test("joinRequest and sendRequest refuse a name the server would refuse")
    func invalidRoomName() {
        var session = ClientSession()
        session.follow("bad room")
        session.queueSend(room: "bad room", text: "hi", kind: .text, nonce: "n1")
        #expect(session.joinRequest("bad room") == nil)
        #expect(session.resumePlan().isEmpty)
    }

    @Test("applyJoin with reset drops the old head")
    func applyJoinReset() throws {
        var session = joinedSession(head: 10, epoch: "old")
        session.disconnected()
        let reply = joinReply(head: 3, epoch: "new", messages: [message(1), message(2), message(3)], reset: true)
        let outcome = session.applyJoin("lobby", reply: reply)
        #expect(seqs(outcome.messages) == [1, 2, 3])
        #expect(outcome.reset)
        let cursor = try #require(session.cursor("lobby"))
        #expect(cursor.head == 3)
        #expect(cursor.epoch == "new")
        #expect(session.receive(message(4)) == .deliver)
    }

    @Test("applyJoin without reset never delivers what was seen")
    func applyJoinNoReset() {
        var session = joinedSession(head: 10, epoch: "e1")
        session.disconnected()
        let outcome = session.applyJoin("lobby", reply: joinReply(head: 10, messages: [message(9), message(10)]))
        #expect(outcome.messages.isEmpty)
        #expect(!outcome.reset)
        #expect(session.cursor("lobby")?.head == 10)
    }

    @Test("receive after joining at head 4", arguments: receiveSequences)
    func receive(received: [Int64], expected: [ClientSession.Delivery]) {
        var session = joinedSession(head: 4)
        let deliveries = received.map { session.receive(message($0)) }
        #expect(deliveries == expected)
        // The head moves only through messages delivered in order; a gap holds the rest.
        var head: Int64 = 4
        for (seq, delivery) in zip(received, deliveries) where delivery == .deliver { head = max(head, seq) }
        #expect(session.cursor("lobby")?.head == head)
    }

    @Test("receive matches rooms by folded name")
    func receiveFolded() {
        var session = joinedSession("Lobby", head: 0)
        #expect(session.receive(message(1, room: "LOBBY")) == .deliver)
        #expect(session.receive(message(1, room: "lobby")) == .duplicate)
    }

    @Test("receive for a room not subscribed is unknownRoom")
    func receiveUnknown() {
        var session = joinedSession(head: 4)
        #expect(session.receive(message(1, room: "elsewhere")) == .unknownRoom)
        session.follow("dev")
        #expect(session.receive(message(1, room: "dev")) == .unknownRoom)
        #expect(session.cursor("dev")?.head == 0)
        #expect(session.cursor("lobby")?.head == 4)
    }

    @Test("after disconnected(), receive is unknownRoom until the next join")
    func disconnected() throws {
        var session = joinedSession(head: 4)
        #expect(session.receive(message(5)) == .deliver)
        session.disconnected()
        #expect(session.receive(message(6)) == .unknownRoom)
        let cursor = try #require(session.cursor("lobby"))
        #expect(cursor.head == 5)
        #expect(!cursor.subscribed)
        #expect(
            wire(session.joinRequest("lobby"))
                == #"{"type":"join","room":"lobby","since":5,"epoch":"e1"}"#
        )
        let outcome = session.applyJoin("lobby", reply: joinReply(head: 7, messages: [message(6), message(7)]))
        #expect(seqs(outcome.messages) == [6, 7])
        #expect(session.receive(message(8)) == .deliver)
    }

    @Test("unfollow forgets the room")
    func unfollow() {
        var session = joinedSession(head: 4)
        session.follow("dev")
        session.unfollow("LOBBY")
        #expect(session.cursor("lobby") == nil)
        #expect(session.roomOrder == ["dev"])
        #expect(session.receive(message(5)) == .unknownRoom)
    }

    @Test("queueSend keeps sends until acknowledged")
    func queueAndAcknowledge() throws {
        var session = ClientSession()
        session.queueSend(room: "lobby", text: "one", kind: .text, nonce: "n1")
        session.queueSend(room: "dev", text: "waves", kind: .action, nonce: "n2")
        session.queueSend(room: "lobby", text: "three", kind: .text, nonce: "n3")
        #expect(session.pending.map(\.nonce) == ["n1", "n2", "n3"])
        let acknowledged = session.acknowledge(nonce: "n2")
        let acked = try #require(acknowledged)
        #expect(acked.nonce == "n2")
        #expect(acked.room == "dev")
        #expect(acked.text == "waves")
        #expect(acked.kind == .action)
        #expect(session.pending.map(\.nonce) == ["n1", "n3"])
        #expect(session.acknowledge(nonce: "n2") == nil)
        #expect(session.acknowledge(nonce: "unknown") == nil)
        #expect(session.pending.map(\.nonce) == ["n1", "n3"])
    }

    @Test("sendRequest carries the nonce, and kind only for actions")
    func sendRequest() throws {
        var session = ClientSession()
        session.queueSend(room: "lobby", text: "hi \"you\"", kind: .text, nonce: "n1")
        session.queueSend(room: "lobby", text: "waves", kind: .action, nonce: "n2")
        let requests = session.pending.map { wire(ClientSession.sendRequest($0)) }
        #expect(
            requests == [
                #"{"type":"send","room":"lobby","text":"hi \"you\"","nonce":"n1"}"#,
                #"{"type":"send","room":"lobby","text":"waves","kind":"action","nonce":"n2"}"#,
            ]
        )
    }

    @Test("resumePlan: joins with since in follow order, then pending sends in order")
    func resumePlan() {
        var session = ClientSession()
        _ = session.applyJoin("lobby", reply: joinReply(head: 5, epoch: "e1"))
        session.follow("dev")
        session.follow("ops", since: 3)
        session.queueSend(room: "lobby", text: "hello", kind: .text, nonce: "n1")
        session.queueSend(room: "dev", text: "waves", kind: .action, nonce: "n2")
        session.queueSend(room: "ops", text: "done", kind: .text, nonce: "n3")
        session.acknowledge(nonce: "n3")
        session.disconnected()
        #expect(
            session.resumePlan().map(wire) == [
                #"{"type":"join","room":"lobby","since":5,"epoch":"e1"}"#,
                #"{"type":"join","room":"dev"}"#,
                #"{"type":"join","room":"ops","since":3}"#,
                #"{"type":"send","room":"lobby","text":"hello","nonce":"n1"}"#,
                #"{"type":"send","room":"dev","text":"waves","kind":"action","nonce":"n2"}"#,
            ]
        )
    }

    @Test("an empty session has an empty plan")
    func emptyPlan() {
        #expect(ClientSession().resumePlan().isEmpty)
        #expect(ClientSession() == ClientSession())
    }

    @Test("a head of Int64.max from a hostile server does not trap in receiveHistory")
    func headAtInt64Max() {
        // Found while writing fuzz-frames (and reproduced with it): `head + 1` trapped after a
        // join reply with head Int64.max.
        var session = joinedSession(head: .max)
        let last = ChatMessage(room: "lobby", seq: .max, from: "bob", text: "m", kind: .text, ts: 1)
        let fill = session.receiveHistory(room: "lobby", [message(5), last], more: false)
        #expect(fill.delivered.isEmpty)
        #expect(session.cursor("lobby")?.head == .max)
        #expect(session.receive(last) == .duplicate)
    }

    @Test("receiveHistory returns what is new and advances the head")
    func receiveHistory() {
        var session = joinedSession(head: 4)
        let fill = session.receiveHistory(room: "lobby", [message(3), message(4), message(5), message(6)], more: false)
        #expect(seqs(fill.delivered) == [5, 6])
        #expect(fill.fetchAfter == nil)
        #expect(session.cursor("lobby")?.head == 6)
        #expect(session.receive(message(7)) == .deliver)
    }

    @Test("history fetched after a gap fills the gap, then releases held messages in order")
    func gapFill() {
        var session = joinedSession(head: 4)
        #expect(session.receive(message(7)) == .gap(after: 4))
        #expect(session.receive(message(8)) == .held)
        #expect(session.cursor("lobby")?.head == 4)
        // The client fetches `history {after: 4}` and gets 5, 6, 7.
        let fill = session.receiveHistory(room: "lobby", [message(5), message(6), message(7)], more: false)
        #expect(seqs(fill.delivered) == [5, 6, 7, 8])
        #expect(fill.fetchAfter == nil)
        #expect(session.cursor("lobby")?.head == 8)
        #expect(session.cursor("lobby")?.filling == false)
        #expect(session.receive(message(9)) == .deliver)
    }

    @Test("a history page that does not reach the held messages asks for the next page")
    func gapFillPaged() {
        var session = joinedSession(head: 4)
        #expect(session.receive(message(9)) == .gap(after: 4))
        var fill = session.receiveHistory(room: "lobby", [message(5), message(6)], more: true)
        #expect(seqs(fill.delivered) == [5, 6])
        #expect(fill.fetchAfter == 6)
        #expect(session.receive(message(10)) == .held)
        fill = session.receiveHistory(room: "lobby", [message(7), message(8), message(9)], more: false)
        #expect(seqs(fill.delivered) == [7, 8, 9, 10])
        #expect(fill.fetchAfter == nil)
    }

    @Test("a disconnect drops held messages; the next join refetches them")
    func gapThenDisconnect() {
        var session = joinedSession(head: 4)
        #expect(session.receive(message(7)) == .gap(after: 4))
        session.disconnected()
        #expect(session.held.isEmpty)
        #expect(session.cursor("lobby")?.filling == false)
        #expect(session.cursor("lobby")?.head == 4)
    }
}
