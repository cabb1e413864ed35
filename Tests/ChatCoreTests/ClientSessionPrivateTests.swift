import ChatCore
import Testing

/// How a client session follows `added` and `removed` (issue 13).
@Suite("Client session: added and removed")
struct ClientSessionPrivateTests {
    private static func reply(_ room: String, head: Int64, epoch: String = "e1") -> JoinReply {
        JoinReply(
            room: JoinReply.Room(name: room, topic: "", head: head, epoch: epoch),
            messages: [],
            limited: false,
            reset: false
        )
    }

    @Test("added: a new room is followed and joined; one followed before is joined with since and epoch")
    func added() throws {
        var session = ClientSession()
        #expect(session.added("ops") == .join(room: try Request.room("ops"), since: nil, epoch: nil))
        #expect(session.cursor("ops") != nil)
        _ = session.applyJoin("ops", reply: Self.reply("ops", head: 4))
        #expect(session.added("OPS") == nil, "already subscribed")
        session.disconnected()
        #expect(session.added("ops") == .join(room: try Request.room("ops"), since: 4, epoch: "e1"))
        #expect(session.resumePlan().count == 1)
    }

    @Test("removed: the room is no longer followed, re-joined after a reconnect, or delivered")
    func removed() throws {
        var session = ClientSession()
        _ = session.applyJoin("@a+b", reply: Self.reply("@a+b", head: 1))
        _ = session.applyJoin("lobby", reply: Self.reply("lobby", head: 0))
        // A message past a gap is held; removed drops it too.
        #expect(
            session.receive(ChatMessage(room: "@a+b", seq: 3, from: "b", text: "x", kind: .text, ts: 1))
                == .gap(after: 1)
        )
        session.removed("@A+b")
        #expect(session.cursor("@a+b") == nil)
        #expect(session.held.isEmpty)
        #expect(
            session.receive(ChatMessage(room: "@a+b", seq: 2, from: "b", text: "x", kind: .text, ts: 1)) == .unknownRoom
        )
        #expect(session.resumePlan() == [.join(room: try Request.room("lobby"), since: 0, epoch: "e1")])
    }
}
