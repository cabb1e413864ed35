import ChatCore
import Testing

/// One character of 12 KB: `a` and 6,000 combining acute accents (a single grapheme cluster).
private let zalgo = "a" + String(repeating: "\u{301}", count: 6000)

private let limits = Limits(maxFrame: 65536, maxText: 4000, historyLimit: 100, ratePerSec: 20, rateBurst: 100)

private func parse(_ type: RequestType, _ fields: JSONObject) -> Result<Request, ProtocolError> {
    Request.parse(type, body: fields, limits: limits)
}

/// Every field whose length is limited, with the one-character, 6,000-mark value: each is
/// refused with the field and the limit in the message (limits count bytes or scalars, never
/// characters).
private let zalgoCases: [(String, RequestType, JSONObject, ProtocolError)] = [
    (
        "hello.client", .hello, ["version": 1, "client": .string(zalgo)],
        .badRequest("'client' is longer than 128 scalars")
    ),
    (
        "register.user", .register, ["user": .string(zalgo), "password": "secret-pw"],
        .badRequest("user name is longer than 32 scalars")
    ),
    (
        "register.password", .register, ["user": "alice", "password": .string(zalgo)],
        .badRequest("password must be 8 to 1024 bytes")
    ),
    (
        "register.invite", .register, ["user": "alice", "password": "secret-pw", "invite": .string(zalgo)],
        .badRequest("'invite' is longer than 128 scalars")
    ),
    (
        "login.user", .login, ["user": .string(zalgo), "password": "secret-pw"],
        .badRequest("user name is longer than 32 scalars")
    ),
    ("resume.token", .resume, ["token": .string(zalgo)], .badRequest("'token' is longer than 256 scalars")),
    ("join.room", .join, ["room": .string(zalgo)], .badRequest("room name is longer than 64 scalars")),
    (
        "join.epoch", .join, ["room": "lobby", "epoch": .string(zalgo)],
        .badRequest("'epoch' is longer than 128 scalars")
    ),
    (
        "topic.topic", .topic, ["room": "lobby", "topic": .string(zalgo)],
        ProtocolError(.tooLarge, "topic is longer than 512 scalars")
    ),
    (
        "send.text", .send, ["room": "lobby", "text": .string(zalgo)],
        ProtocolError(.tooLarge, "text is longer than 4000 scalars")
    ),
    (
        "send.nonce", .send, ["room": "lobby", "text": "hi", "nonce": .string(zalgo)],
        .badRequest("'nonce' is longer than 64 scalars")
    ),
    (
        "send.kind", .send, ["room": "lobby", "text": "hi", "kind": .string(zalgo)],
        .badRequest("'kind' is longer than 16 scalars")
    ),
    ("members.room", .members, ["room": .string(zalgo)], .badRequest("room name is longer than 64 scalars")),
]

@Suite("Field limits count bytes or scalars, never characters")
struct FieldLimitsTests {
    @Test("a one-character, 6,000-mark value is refused in every limited field", arguments: zalgoCases)
    func zalgoField(label: String, type: RequestType, fields: JSONObject, expected: ProtocolError) {
        #expect(zalgo.count == 1)
        guard case .failure(let error) = parse(type, fields) else {
            Issue.record("\(label): accepted")
            return
        }
        #expect(error == expected, "\(label)")
    }

    @Test("a one-character, 6,000-mark id is refused")
    func zalgoID() {
        let text = JSONValue.object(["type": "ping", "id": .string(zalgo)]).jsonString
        guard case .failure(let error) = RequestEnvelope.parse(text) else {
            Issue.record("accepted")
            return
        }
        #expect(error.id == nil)
        #expect(error.error == .badRequest("'id' must be a string of 1 to 64 scalars"))
    }

    @Test("a one-character, 6,000-mark search query is refused; 512 scalars pass")
    func zalgoQuery() throws {
        #expect(
            SearchRequest.parse(["query": .string(zalgo)]).failure
                == .badRequest("'query' is longer than 512 scalars")
        )
        let long = String(repeating: "e\u{301}", count: 257)
        #expect(long.count == 257)
        #expect(
            SearchRequest.parse(["query": .string(long)]).failure == .badRequest("'query' is longer than 512 scalars")
        )
        _ = try SearchRequest.parse(["query": .string(String(repeating: "x", count: 512))]).get()
    }

    @Test("a search in a room whose name is too long names the room-name limit")
    func zalgoSearchRoom() {
        #expect(
            SearchRequest.parse(["query": "x", "room": .string(zalgo)]).failure
                == .badRequest("room name is longer than 64 scalars")
        )
    }

    @Test("string fields count scalars: 128 two-scalar characters are 256 scalars")
    func scalarsNotCharacters() {
        let client = String(repeating: "e\u{301}", count: 65)
        #expect(client.count == 65)
        #expect(
            parse(.hello, ["version": 1, "client": .string(client)]).failure
                == .badRequest("'client' is longer than 128 scalars")
        )
        let nonce = String(repeating: "e\u{301}", count: 33)
        #expect(
            parse(.send, ["room": "lobby", "text": "hi", "nonce": .string(nonce)]).failure
                == .badRequest("'nonce' is longer than 64 scalars")
        )
    }
}

extension Result {
    fileprivate var failure: Failure? {
        if case .failure(let error) = self { return error }
        return nil
    }
}
