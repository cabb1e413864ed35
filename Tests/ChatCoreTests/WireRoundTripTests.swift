import ChatCore
import Testing

// MARK: - Helpers

private func room(_ name: String) throws -> ValidName { try TextRules.roomName(name).get() }
private func user(_ name: String) throws -> ValidName { try TextRules.userName(name).get() }

private let message1 = ChatMessage(room: "general", seq: 1, from: "Hana", text: "こんにちは", kind: .text, ts: 17)
private let message2 = ChatMessage(
    room: "general",
    seq: 2,
    from: "健",
    text: "お茶 \"を\"\n入れる",
    kind: .action,
    ts: 18,
    nonce: "k-1"
)
private let result = SearchResult(
    room: "general",
    seq: 2,
    from: "Hana",
    text: "明日の会議は10時から",
    ts: 1_767_225_600_456,
    snippet: SearchSnippet(text: "明日の会議は10時から", ranges: [3..<5])
)

/// Every reply type with a value and the exact JSON text the server writes for it.
private let replies: [(any WireReply, String)] = [
    (EmptyReply(), #"{}"#),
    (SendReply(seq: 4, ts: 1_767_225_600_123), #"{"seq":4,"ts":1767225600123}"#),
    (PingReply(ts: 99), #"{"ts":99}"#),
    (
        HelloReply(server: "chat-server/0.1.0", limits: Limits()),
        #"{"server":"chat-server/0.1.0","version":1,"limits":{"max_frame":65536,"max_text":4000,"#
            + #""history_limit":500,"rate_per_sec":10,"rate_burst":20,"read_per_sec":20,"read_burst":250},"features":[]}"#
    ),
    (
        HelloReply(server: "s/1", limits: Limits(ratePerSec: 0.5)),
        #"{"server":"s/1","version":1,"limits":{"max_frame":65536,"max_text":4000,"#
            + #""history_limit":500,"rate_per_sec":0.5,"rate_burst":20,"read_per_sec":20,"read_burst":250},"features":[]}"#
    ),
    (
        HelloReply(
            server: "s/1",
            limits: Limits(),
            features: [ServerFeature.privateRooms, ServerFeature.directMessages]
        ),
        #"{"server":"s/1","version":1,"limits":{"max_frame":65536,"max_text":4000,"#
            + #""history_limit":500,"rate_per_sec":10,"rate_burst":20,"read_per_sec":20,"read_burst":250},"features":["private_rooms","dm"]}"#
    ),
    (AuthReply(user: "Hana", token: "tok", rooms: []), #"{"user":"Hana","token":"tok","rooms":[]}"#),
    (
        AuthReply(user: "Hana", token: nil, rooms: [AuthReply.Room(name: "general", head: 3, read: 1)]),
        #"{"user":"Hana","rooms":[{"name":"general","head":3,"read":1,"visibility":"public"}]}"#
    ),
    (
        AuthReply(
            user: "Hana",
            token: nil,
            rooms: [
                AuthReply.Room(name: "@Hana+健", head: 2, read: 2, visibility: .dm),
                AuthReply.Room(name: "ops", head: 0, read: 0, visibility: .private, owner: "健"),
            ]
        ),
        #"{"user":"Hana","rooms":[{"name":"@Hana+健","head":2,"read":2,"visibility":"dm"},"#
            + #"{"name":"ops","head":0,"read":0,"visibility":"private","owner":"健"}]}"#
    ),
    (
        JoinReply(
            room: JoinReply.Room(name: "general", topic: "", head: 0, epoch: "8da805d0f63bd590"),
            messages: [],
            limited: false,
            reset: false
        ),
        #"{"room":{"name":"general","topic":"","head":0,"epoch":"8da805d0f63bd590"},"messages":[],"#
            + #""limited":false,"reset":false}"#
    ),
    (
        JoinReply(
            room: JoinReply.Room(name: "general", topic: "雑談", head: 2, epoch: "e"),
            messages: [message1, message2],
            limited: true,
            reset: true
        ),
        #"{"room":{"name":"general","topic":"雑談","head":2,"epoch":"e"},"messages":["#
            + #"{"room":"general","seq":1,"from":"Hana","text":"こんにちは","kind":"text","ts":17},"#
            + #"{"room":"general","seq":2,"from":"健","text":"お茶 \"を\"\n入れる","kind":"action","ts":18,"#
            + #""nonce":"k-1"}],"limited":true,"reset":true}"#
    ),
    (
        HistoryReply(messages: [message1], more: true),
        #"{"messages":[{"room":"general","seq":1,"from":"Hana","text":"こんにちは","kind":"text","ts":17}],"#
            + #""more":true}"#
    ),
    (HistoryReply(messages: [], more: false), #"{"messages":[],"more":false}"#),
    (
        RoomsReply(rooms: [RoomsReply.Room(name: "general", topic: "雑談", members: 2, head: 23)]),
        #"{"rooms":[{"name":"general","topic":"雑談","members":2,"head":23,"visibility":"public"}]}"#
    ),
    (
        RoomsReply(rooms: [
            RoomsReply.Room(name: "ops", topic: "", members: 1, head: 0, visibility: .private, owner: "Hana")
        ]),
        #"{"rooms":[{"name":"ops","topic":"","members":1,"head":0,"visibility":"private","owner":"Hana"}]}"#
    ),
    (CreateReply(room: "ops", head: 0, epoch: "e1"), #"{"room":"ops","head":0,"epoch":"e1"}"#),
    (DMReply(room: "@Hana+健"), #"{"room":"@Hana+健"}"#),
    (
        MembersReply(members: [.init(user: "Hana", online: true), .init(user: "健", online: false)]),
        #"{"members":[{"user":"Hana","online":true},{"user":"健","online":false}]}"#
    ),
    (
        SearchReply(results: [result], more: false),
        #"{"results":[{"room":"general","seq":2,"from":"Hana","text":"明日の会議は10時から","ts":1767225600456,"#
            + #""snippet":{"text":"明日の会議は10時から","ranges":[[3,5]]}}],"more":false}"#
    ),
]

/// Every event with the exact text of its frame.
private let events: [(ChatEvent, String)] = [
    (
        .message(message2),
        #"{"type":"message","room":"general","seq":2,"from":"健","text":"お茶 \"を\"\n入れる","kind":"action","#
            + #""ts":18,"nonce":"k-1"}"#
    ),
    (.joined(room: "general", user: "健"), #"{"type":"joined","room":"general","user":"健"}"#),
    (.left(room: "general", user: "Hana"), #"{"type":"left","room":"general","user":"Hana"}"#),
    (.presence(user: "健", online: true), #"{"type":"presence","user":"健","online":true}"#),
    (.topic(room: "general", topic: "雑談", by: "Hana"), #"{"type":"topic","room":"general","topic":"雑談","by":"Hana"}"#),
    (.typing(room: "general", user: "Hana"), #"{"type":"typing","room":"general","user":"Hana"}"#),
    (.read(room: "general", seq: 3), #"{"type":"read","room":"general","seq":3}"#),
    (
        .added(room: "ops", by: "Hana", visibility: .private),
        #"{"type":"added","room":"ops","by":"Hana","visibility":"private"}"#
    ),
    (
        .added(room: "@Hana+健", by: "健", visibility: .dm),
        #"{"type":"added","room":"@Hana+健","by":"健","visibility":"dm"}"#
    ),
    (.removed(room: "ops", by: "Hana"), #"{"type":"removed","room":"ops","by":"Hana"}"#),
    (.other(type: "future", body: ["type": "future", "x": 1]), #"{"type":"future","x":1}"#),
]

/// One request of every type and the frame text the encoder writes for it.
private func requests() throws -> [(Request, String)] {
    [
        (.hello(version: 1, client: "chat-tui/0.1"), #"{"type":"hello","id":"7","version":1,"client":"chat-tui/0.1"}"#),
        (
            .register(user: try user("Hana"), password: "correct horse", invite: nil),
            #"{"type":"register","id":"7","user":"Hana","password":"correct horse"}"#
        ),
        (
            .register(user: try user("Hana"), password: "correct horse", invite: "7KQ2"),
            #"{"type":"register","id":"7","user":"Hana","password":"correct horse","invite":"7KQ2"}"#
        ),
        (
            .login(user: try user("hana"), password: "correct horse"),
            #"{"type":"login","id":"7","user":"hana","password":"correct horse"}"#
        ),
        (.resume(token: "abc"), #"{"type":"resume","id":"7","token":"abc"}"#),
        (.logout, #"{"type":"logout","id":"7"}"#),
        (.join(room: try room("general"), since: nil, epoch: nil), #"{"type":"join","id":"7","room":"general"}"#),
        (
            .join(room: try room("general"), since: 1, epoch: "8da8"),
            #"{"type":"join","id":"7","room":"general","since":1,"epoch":"8da8"}"#
        ),
        (.leave(room: try room("general")), #"{"type":"leave","id":"7","room":"general"}"#),
        (.rooms, #"{"type":"rooms","id":"7"}"#),
        (.members(room: try room("general")), #"{"type":"members","id":"7","room":"general"}"#),
        (.topic(room: try room("general"), topic: ""), #"{"type":"topic","id":"7","room":"general","topic":""}"#),
        (
            .history(room: try room("general"), before: 3, after: nil, limit: 1),
            #"{"type":"history","id":"7","room":"general","before":3,"limit":1}"#
        ),
        (
            .history(room: try room("general"), before: nil, after: 0, limit: nil),
            #"{"type":"history","id":"7","room":"general","after":0}"#
        ),
        (.markRead(room: try room("general"), seq: 3), #"{"type":"mark_read","id":"7","room":"general","seq":3}"#),
        (
            .send(room: try room("general"), text: "お茶", kind: .action, nonce: "hana-0002"),
            #"{"type":"send","id":"7","room":"general","text":"お茶","kind":"action","nonce":"hana-0002"}"#
        ),
        (
            .send(room: try room("general"), text: "a\tb", kind: .text, nonce: nil),
            #"{"type":"send","id":"7","room":"general","text":"a\tb"}"#
        ),
        (.typing(room: try room("general")), #"{"type":"typing","id":"7","room":"general"}"#),
        (.ping, #"{"type":"ping","id":"7"}"#),
        (
            .create(room: try room("ops"), visibility: .private, topic: nil),
            #"{"type":"create","id":"7","room":"ops","visibility":"private"}"#
        ),
        (
            .create(room: try room("lobby"), visibility: .public, topic: "雑談"),
            #"{"type":"create","id":"7","room":"lobby","visibility":"public","topic":"雑談"}"#
        ),
        (
            .invite(room: try room("ops"), user: try user("健")),
            #"{"type":"invite","id":"7","room":"ops","user":"健"}"#
        ),
        (.kick(room: try room("ops"), user: try user("健")), #"{"type":"kick","id":"7","room":"ops","user":"健"}"#),
        (.dm(user: try user("健")), #"{"type":"dm","id":"7","user":"健"}"#),
        (
            .send(room: try room("@Hana+健"), text: "hi", kind: .text, nonce: nil),
            #"{"type":"send","id":"7","room":"@Hana+健","text":"hi"}"#
        ),
        (
            .send(room: try room("general"), text: "yes", kind: .text, nonce: "n", replyTo: 3),
            #"{"type":"send","id":"7","room":"general","text":"yes","nonce":"n","reply_to":3}"#
        ),
        (
            .edit(room: try room("general"), seq: 3, text: "fixed"),
            #"{"type":"edit","id":"7","room":"general","seq":3,"text":"fixed"}"#
        ),
        (.delete(room: try room("general"), seq: 3), #"{"type":"delete","id":"7","room":"general","seq":3}"#),
        (
            .react(room: try room("general"), seq: 3, emoji: "👍🏽"),
            #"{"type":"react","id":"7","room":"general","seq":3,"emoji":"👍🏽"}"#
        ),
        (
            .unreact(room: try room("general"), seq: 3, emoji: "🎉"),
            #"{"type":"unreact","id":"7","room":"general","seq":3,"emoji":"🎉"}"#
        ),
    ]
}

/// Decodes `json` as the same type as `value` and compares.
private func decodesBack<R: WireReply>(_ value: R, _ json: JSONObject) throws -> Bool {
    try R(json: json) == value
}

/// Decodes a whole frame through `ServerFrame` as the same type as `value` and compares.
private func decodesFrame<R: WireReply>(_ value: R, _ frame: JSONValue) throws -> Bool {
    try ServerFrame(text: frame.jsonString).reply(as: R.self) == value
}

/// Reply fields to delete, one at a time, each of which must make decoding fail.
private let requiredReplyFields: [(any WireReply.Type, String, [String])] = [
    (SendReply.self, #"{"seq":4,"ts":5}"#, ["seq", "ts"]),
    (PingReply.self, #"{"ts":5}"#, ["ts"]),
    (
        HelloReply.self,
        #"{"server":"s","version":1,"limits":{"max_frame":1,"max_text":2,"history_limit":3,"rate_per_sec":4,"#
            + #""rate_burst":5}}"#,
        [
            "server", "version", "limits", "limits.max_frame", "limits.max_text", "limits.history_limit",
            "limits.rate_per_sec", "limits.rate_burst",
        ]
    ),
    (
        AuthReply.self, #"{"user":"u","token":"t","rooms":[{"name":"r","head":1,"read":0}]}"#,
        ["user", "rooms", "rooms[0].name", "rooms[0].head", "rooms[0].read"]
    ),
    (
        JoinReply.self,
        #"{"room":{"name":"r","topic":"","head":1,"epoch":"e"},"messages":[{"room":"r","seq":1,"from":"u","#
            + #""text":"t","kind":"text","ts":2}],"limited":false,"reset":false}"#,
        [
            "room", "room.name", "room.topic", "room.head", "room.epoch", "messages", "limited", "messages[0].seq",
            "messages[0].from", "messages[0].text", "messages[0].ts",
        ]
    ),
    (
        HistoryReply.self,
        #"{"messages":[{"room":"r","seq":1,"from":"u","text":"t","kind":"text","ts":2}],"more":false}"#,
        [
            "messages", "more", "messages[0].room", "messages[0].seq", "messages[0].from", "messages[0].text",
            "messages[0].ts",
        ]
    ),
    (
        RoomsReply.self, #"{"rooms":[{"name":"r","topic":"","members":1,"head":0,"visibility":"public"}]}"#,
        ["rooms", "rooms[0].name", "rooms[0].topic", "rooms[0].members", "rooms[0].head"]
    ),
    (CreateReply.self, #"{"room":"r","head":0,"epoch":"e"}"#, ["room", "head", "epoch"]),
    (DMReply.self, #"{"room":"@a+b"}"#, ["room"]),
    (
        MembersReply.self, #"{"members":[{"user":"u","online":true}]}"#,
        ["members", "members[0].user", "members[0].online"]
    ),
    (
        SearchReply.self,
        #"{"results":[{"room":"r","seq":1,"from":"u","text":"t","ts":2,"snippet":{"text":"t","ranges":[]}}],"#
            + #""more":false}"#,
        [
            "results", "more", "results[0].room", "results[0].seq", "results[0].from", "results[0].text",
            "results[0].ts",
            "results[0].snippet", "results[0].snippet.text",
        ]
    ),
]

/// Removes the field at a dotted path (`a.b`, `a[0].b`).
private func removing(_ path: String, from object: JSONObject) -> JSONObject {
    var parts = path.split(separator: ".", maxSplits: 1).map(String.init)
    var head = parts.removeFirst()
    var index: Int?
    if let open = head.firstIndex(of: "[") {
        index = Int(head[head.index(after: open)..<head.index(before: head.endIndex)])
        head = String(head[..<open])
    }
    var object = object
    guard let rest = parts.first else {
        object[head] = nil
        return object
    }
    if let index, case .array(var items)? = object[head], case .object(let inner) = items[index] {
        items[index] = .object(removing(rest, from: inner))
        object[head] = .array(items)
    } else if case .object(let inner)? = object[head] {
        object[head] = .object(removing(rest, from: inner))
    }
    return object
}

// MARK: - Tests

@Suite("Wire types: encode and decode")
struct WireRoundTripTests {
    @Test("each reply encodes to the server's exact text and decodes back", arguments: replies.indices)
    func reply(index: Int) throws {
        let (value, text) = replies[index]
        #expect(JSONValue.object(value.json).jsonString == text)
        #expect(try decodesBack(value, value.json))
        let parsed = try #require(try JSONParser().parse(text).objectValue)
        #expect(try decodesBack(value, parsed))
    }

    @Test("a reply decodes from the whole ok frame, ignoring type, id and unknown fields", arguments: replies.indices)
    func replyFrame(index: Int) throws {
        let value = replies[index].0
        let frame = value.frame(id: "r9")
        var object = try #require(frame.objectValue)
        #expect(object.fields.prefix(2).map(\.key) == ["type", "id"])
        object["future_field"] = .array([1, 2])
        #expect(try decodesBack(value, object))
        #expect(try decodesFrame(value, frame))
    }

    @Test("each event encodes to the server's text and decodes back", arguments: events)
    func event(event: ChatEvent, text: String) throws {
        #expect(event.frame.jsonString == text)
        #expect(try ChatEvent(json: event.json) == event)
        #expect(try ServerFrame(text: text) == .event(event))
        #expect(try ServerFrame(text: text).json.jsonString == text)
    }

    @Test("events encode exactly as the server's Frames builders did")
    func eventsMatchFrames() {
        #expect(ChatEvent.message(message2).frame == Frames.message(message2))
        #expect(ChatEvent.joined(room: "r", user: "u").frame == Frames.event("joined", ["room": "r", "user": "u"]))
        #expect(ChatEvent.read(room: "r", seq: 2).frame == Frames.event("read", ["room": "r", "seq": 2]))
    }

    @Test("each request encodes to the protocol's frame and parses back to itself")
    func requestRoundTrip() throws {
        for (request, text) in try requests() {
            #expect(request.text(id: "7") == text)
            let envelope = try RequestEnvelope.parse(text).get()
            let type = try #require(RequestType(rawValue: envelope.type))
            #expect(type == request.requestType)
            #expect(envelope.id == "7")
            #expect(Request.parse(type, body: envelope.body, limits: Limits()) == .success(request))
        }
        #expect(try requests().count == RequestType.allCases.count + 7)
    }

    @Test("names are sent in NFC, as the server would store them")
    func requestNFC() throws {
        let request = Request.join(room: try room("か\u{3099}"), since: nil, epoch: nil)
        #expect(request.text(id: "1") == #"{"type":"join","id":"1","room":"が"}"#)
    }

    @Test("search requests are built with the server's rules and round-trip")
    func searchRequest() throws {
        let plain = try SearchRequest.make(query: "会議 from:hana", limit: 2).get()
        #expect(plain.text(id: "9") == #"{"type":"search","id":"9","query":"会議 from:hana","limit":2}"#)
        let full = try SearchRequest.make(query: "x", room: "dev", limit: 500, before: 10, order: .newest).get()
        #expect(
            full.text(id: "9")
                == #"{"type":"search","id":"9","query":"x","room":"dev","limit":100,"before":10,"order":"newest"}"#
        )
        let inRoom = try SearchRequest.make(query: "x in:dev").get()
        #expect(inRoom.text(id: "9") == #"{"type":"search","id":"9","query":"x in:dev","limit":20}"#)
        for request in [plain, full, inRoom] {
            #expect(SearchRequest.parse(request.json(id: "9")) == .success(request))
        }
        #expect(SearchRequest.make(query: "\"open").failure == SearchQuery.parse("\"open").failure)
        #expect(SearchRequest.make(query: "x", room: "bad room").isFailure)
    }

    @Test("a reply missing a required field does not decode", arguments: requiredReplyFields.indices)
    func missingField(index: Int) throws {
        let (type, text, fields) = requiredReplyFields[index]
        let complete = try #require(try JSONParser().parse(text).objectValue)
        _ = try type.init(json: complete)
        for field in fields {
            let error = try #require(throws: WireDecodingError.self, "\(field)") {
                try type.init(json: removing(field, from: complete))
            }
            #expect(error.field == field)
            #expect(error.isMissingField)
        }
    }

    @Test("a field of the wrong type is an error, not a default")
    func wrongType() throws {
        let error = try #require(throws: WireDecodingError.self) {
            try SendReply(json: ["seq": "4", "ts": 5])
        }
        #expect(error == .wrongType("seq", expected: "an integer"))
        #expect(error.description == "'seq' must be an integer")
        #expect(throws: WireDecodingError.self) { try HistoryReply(json: ["messages": ["x"], "more": false]) }
        #expect(throws: WireDecodingError.self) { try MembersReply(json: ["members": .object(["user": "u"])]) }
    }

    @Test("join: a missing reset reads as false; messages without room belong to the joined room")
    func joinTolerance() throws {
        let reply = try JoinReply(json: [
            "room": .object(["name": "Lobby", "topic": "", "head": 1, "epoch": "e"]),
            "messages": [.object(["seq": 1, "from": "u", "text": "t", "ts": 2])], "limited": false,
        ])
        #expect(!reply.reset)
        #expect(reply.messages == [ChatMessage(room: "Lobby", seq: 1, from: "u", text: "t", kind: .text, ts: 2)])
    }

    @Test("a malformed ok reply reports the request id")
    func malformedReplyID() throws {
        let frame = try ServerFrame(text: #"{"type":"ok","id":"r5","seq":1}"#)
        let error = try #require(throws: WireDecodingError.self) { try frame.reply(as: SendReply.self) }
        #expect(error.id == "r5")
        #expect(error.field == "ts")
    }

    @Test("every request type has its reply type")
    func replyTypes() {
        func id(_ type: any WireReply.Type) -> ObjectIdentifier { ObjectIdentifier(type) }
        #expect(id(WireReplies.type(answering: "join")) == id(JoinReply.self))
        #expect(id(WireReplies.type(answering: "resume")) == id(AuthReply.self))
        #expect(id(WireReplies.type(answering: "search")) == id(SearchReply.self))
        #expect(id(WireReplies.type(answering: "mark_read")) == id(EmptyReply.self))
        #expect(id(WireReplies.type(answering: "create")) == id(CreateReply.self))
        #expect(id(WireReplies.type(answering: "dm")) == id(DMReply.self))
        #expect(id(WireReplies.type(answering: "invite")) == id(EmptyReply.self))
        #expect(id(WireReplies.type(answering: "kick")) == id(EmptyReply.self))
    }

    @Test("a server without private rooms: visibility reads as public, features as none; unknown visibility as private")
    func privateRoomTolerance() throws {
        let rooms = try RoomsReply(json: ["rooms": [.object(["name": "r", "topic": "", "members": 1, "head": 0])]])
        #expect(rooms.rooms[0].visibility == .public)
        #expect(rooms.rooms[0].owner == nil)
        let auth = try AuthReply(json: ["user": "u", "rooms": [.object(["name": "r", "head": 0, "read": 0])]])
        #expect(auth.rooms[0].visibility == .public)
        let limits = JSONValue.object([
            "max_frame": 1, "max_text": 1, "history_limit": 1, "rate_per_sec": 1, "rate_burst": 1,
        ])
        #expect(try HelloReply(json: ["server": "s", "version": 1, "limits": limits]).features == [])
        let event = try ChatEvent(json: ["type": "added", "room": "r", "by": "u", "visibility": "secret"])
        #expect(event == .added(room: "r", by: "u", visibility: .private))
    }

    @Test("create: visibility must be public or private; dm takes a user name")
    func privateRequestValidation() throws {
        func parse(_ type: RequestType, _ body: JSONObject) -> Result<Request, ProtocolError> {
            Request.parse(type, body: body, limits: Limits())
        }
        #expect(parse(.create, ["room": "r", "visibility": "dm"]).isFailure)
        #expect(parse(.create, ["room": "r"]).isFailure)
        #expect(parse(.create, ["room": "r", "visibility": "private", "topic": 3]).isFailure)
        #expect(parse(.dm, ["user": "a+b"]).isFailure)
        #expect(parse(.invite, ["room": "r", "user": "@a"]).isFailure)
    }
}

extension Result {
    fileprivate var isFailure: Bool {
        if case .failure = self { return true }
        return false
    }

    fileprivate var failure: Failure? {
        if case .failure(let e) = self { return e }
        return nil
    }
}
