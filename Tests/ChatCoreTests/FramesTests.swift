import ChatCore
import Testing

// MARK: - Tables

private let textMessage = ChatMessage(
    room: "lobby",
    seq: 3,
    from: "alice",
    text: "hi \"there\"",
    kind: .text,
    ts: 1_700_000
)
private let actionMessage = ChatMessage(
    room: "開発",
    seq: 4,
    from: "bob",
    text: "waves",
    kind: .action,
    ts: 5,
    nonce: "n-1"
)

private let builtFrames: [(JSONValue, String)] = [
    (Frames.ok(id: "r1"), #"{"type":"ok","id":"r1"}"#),
    (Frames.ok(id: "r2", ["seq": 4, "ts": 1_700_000_000_000]), #"{"type":"ok","id":"r2","seq":4,"ts":1700000000000}"#),
    (Frames.ok(id: "q\"", ["rooms": []]), #"{"type":"ok","id":"q\"","rooms":[]}"#),
    (
        Frames.error(id: "r3", .badRequest("bad")),
        #"{"type":"error","id":"r3","code":"bad_request","message":"bad"}"#
    ),
    (
        Frames.error(id: nil, .badRequest("frame must be a JSON object")),
        #"{"type":"error","id":null,"code":"bad_request","message":"frame must be a JSON object"}"#
    ),
    (
        Frames.error(id: "r4", ProtocolError(.rateLimited, "slow down", retryAfterMs: 250)),
        #"{"type":"error","id":"r4","code":"rate_limited","message":"slow down","retry_after_ms":250}"#
    ),
    (
        Frames.error(id: "r5", ProtocolError(.notFound, "no room 日本")),
        #"{"type":"error","id":"r5","code":"not_found","message":"no room 日本"}"#
    ),
    (Frames.event("joined", ["room": "lobby", "user": "bob"]), #"{"type":"joined","room":"lobby","user":"bob"}"#),
    (Frames.event("presence", ["user": "bob", "online": false]), #"{"type":"presence","user":"bob","online":false}"#),
    (
        Frames.message(textMessage),
        #"{"type":"message","room":"lobby","seq":3,"from":"alice","text":"hi \"there\"","kind":"text","ts":1700000}"#
    ),
    (
        Frames.message(actionMessage),
        #"{"type":"message","room":"開発","seq":4,"from":"bob","text":"waves","kind":"action","ts":5,"nonce":"n-1"}"#
    ),
]

private let events: [(String, ChatEvent)] = [
    (
        #"{"type":"message","room":"lobby","seq":3,"from":"alice","text":"hi \"there\"","kind":"text","ts":1700000}"#,
        .message(textMessage)
    ),
    (
        #"{"type":"message","room":"開発","seq":4,"from":"bob","text":"waves","kind":"action","ts":5,"nonce":"n-1"}"#,
        .message(actionMessage)
    ),
    (#"{"type":"joined","room":"lobby","user":"bob"}"#, .joined(room: "lobby", user: "bob")),
    (#"{"type":"left","room":"lobby","user":"bob"}"#, .left(room: "lobby", user: "bob")),
    (#"{"type":"presence","user":"bob","online":true}"#, .presence(user: "bob", online: true)),
    (#"{"type":"presence","user":"bob","online":false}"#, .presence(user: "bob", online: false)),
    (
        #"{"type":"topic","room":"lobby","topic":"news","by":"alice"}"#,
        .topic(room: "lobby", topic: "news", by: "alice")
    ),
    (#"{"type":"topic","room":"lobby","topic":"","by":"a"}"#, .topic(room: "lobby", topic: "", by: "a")),
    (#"{"type":"typing","room":"lobby","user":"carol"}"#, .typing(room: "lobby", user: "carol")),
    (#"{"type":"read","room":"lobby","seq":9}"#, .read(room: "lobby", seq: 9)),
    (#"{"type":"joined","room":"lobby","user":"bob","extra":1}"#, .joined(room: "lobby", user: "bob")),
    (#"{"type":"future","x":1}"#, .other(type: "future", body: ["type": "future", "x": 1])),
]

/// Events of a known type with a required field missing or mistyped, and the field at fault.
private let malformedEvents: [(String, String)] = [
    (#"{"type":"joined","room":"lobby"}"#, "user"),
    (#"{"type":"presence","user":"bob","online":"yes"}"#, "online"),
    (#"{"type":"read","room":"lobby","seq":"9"}"#, "seq"),
    (#"{"type":"message","room":"lobby","seq":1}"#, "from"),
    (#"{"type":"topic","room":"lobby","topic":""}"#, "by"),
    (#"{"type":"typing","user":"carol"}"#, "room"),
    (#"{"type":"left","room":null,"user":"bob"}"#, "room"),
]

private let notFrames: [String] = [
    "",
    "not json",
    "[]",
    #""ok""#,
    "{}",
    #"{"type":5}"#,
    #"{"type":"ok"}"#,
    #"{"type":"ok","id":5}"#,
    #"{"type":"ok","id":null}"#,
]

/// ChatMessage fields that must be present for a message to decode.
private let requiredMessageFields = ["seq", "from", "text", "ts", "room"]

// MARK: - Tests

@Suite("Frames and server frames")
struct FramesTests {
    @Test("builders produce the expected JSON text", arguments: builtFrames)
    func built(frame: JSONValue, expected: String) {
        #expect(frame.jsonString == expected)
    }

    @Test("ServerFrame.parse: ok")
    func parseOk() {
        let frame = ServerFrame.parse(#"{"type":"ok","id":"r2","seq":4,"ts":17}"#)
        #expect(frame == .ok(id: "r2", body: ["type": "ok", "id": "r2", "seq": 4, "ts": 17]))
    }

    @Test("ServerFrame.parse: error")
    func parseError() {
        let frame = ServerFrame.parse(#"{"type":"error","id":"r3","code":"forbidden","message":"members only"}"#)
        #expect(frame == .error(id: "r3", ProtocolError(.forbidden, "members only")))
    }

    @Test("ServerFrame.parse: error with a null id and retry_after_ms")
    func parseErrorRetry() {
        let text = #"{"type":"error","id":null,"code":"rate_limited","message":"slow","retry_after_ms":1500}"#
        #expect(ServerFrame.parse(text) == .error(id: nil, ProtocolError(.rateLimited, "slow", retryAfterMs: 1500)))
    }

    @Test("ServerFrame: an error without code or message is a decode error that keeps the id")
    func parseErrorMissingFields() {
        #expect(ServerFrame.parse(#"{"type":"error","id":"x"}"#) == nil)
        #expect(throws: WireDecodingError.missing("code").withID("x")) {
            try ServerFrame(text: #"{"type":"error","id":"x","message":"m"}"#)
        }
        #expect(throws: WireDecodingError.missing("message").withID("x")) {
            try ServerFrame(text: #"{"type":"error","id":"x","code":"forbidden"}"#)
        }
    }

    @Test("ServerFrame: a known event with a missing or mistyped field is a decode error", arguments: malformedEvents)
    func malformedEvent(text: String, field: String) throws {
        #expect(ServerFrame.parse(text) == nil)
        let error = try #require(throws: WireDecodingError.self) { try ServerFrame(text: text) }
        #expect(error.field == field)
    }

    @Test("ServerFrame.parse decodes each event type", arguments: events)
    func parseEvent(text: String, expected: ChatEvent) {
        #expect(ServerFrame.parse(text) == .event(expected))
    }

    @Test("text that is not a protocol frame gives nil", arguments: notFrames)
    func notAFrame(text: String) {
        #expect(ServerFrame.parse(text) == nil)
    }

    @Test("builders and ServerFrame.parse agree", arguments: [textMessage, actionMessage])
    func roundTrip(message: ChatMessage) {
        #expect(ServerFrame.parse(Frames.message(message).jsonString) == .event(.message(message)))
        let error = ProtocolError(.rateLimited, "wait", retryAfterMs: 10)
        #expect(ServerFrame.parse(Frames.error(id: "e", error).jsonString) == .error(id: "e", error))
        let ok = Frames.ok(id: "o", ["seq": .int(message.seq)])
        let body: JSONObject = ["type": "ok", "id": "o", "seq": .int(message.seq)]
        #expect(ServerFrame.parse(ok.jsonString) == .ok(id: "o", body: body))
    }

    @Test("ChatMessage.json round trip", arguments: [textMessage, actionMessage])
    func messageJSON(message: ChatMessage) {
        #expect(ChatMessage(json: message.json) == message)
        #expect(message.json["type"] == nil)
    }

    @Test("ChatMessage needs seq, from, text, ts and room", arguments: requiredMessageFields)
    func messageMissingField(field: String) {
        var json = actionMessage.json
        json[field] = nil
        #expect(ChatMessage(json: json) == nil)
    }

    @Test("ChatMessage takes the room from the caller when the object has none")
    func messageRoomFallback() {
        var json = textMessage.json
        json["room"] = nil
        #expect(ChatMessage(json: json, room: "lobby") == textMessage)
        json["room"] = "own"
        #expect(ChatMessage(json: json, room: "lobby")?.room == "own")
    }

    @Test("ChatMessage kind defaults to text; an unknown kind reads as unknown, not as text")
    func messageKindDefault() {
        var json = actionMessage.json
        json["kind"] = nil
        #expect(ChatMessage(json: json)?.kind == .text)
        json["kind"] = "shout"
        #expect(ChatMessage(json: json)?.kind == .unknown)
        json["text"] = nil
        #expect(ChatMessage(json: json)?.kind == .unknown, "an unknown kind need not carry text")
        #expect(ChatMessage(json: json)?.json["kind"] == "shout", "and it is passed on by its name")
        json["text"] = "loud"
        #expect(ChatMessage(json: json)?.json["text"] == "loud", "with its text (found by fuzz-frames)")
        json["text"] = "waves"
        json["kind"] = "action"
        #expect(ChatMessage(json: json)?.kind == .action)
    }

    @Test("error codes are the contract's")
    func errorCodes() {
        #expect(
            ErrorCode.all.map(\.rawValue) == [
                "bad_request", "hello_required", "unsupported_version", "unauthorized", "forbidden", "not_found",
                "conflict", "too_large", "rate_limited", "internal",
            ]
        )
        #expect(ProtocolError.badRequest("x") == ProtocolError(.badRequest, "x"))
        #expect(ProtocolError(.conflict, "taken").description == "conflict: taken")
    }

    @Test("close codes are the contract's")
    func closeCodes() {
        let codes: [CloseCode] = [
            .normal, .goingAway, .invalidPayload, .policy, .tooLarge, .internalError, .slowConsumer, .sessionRevoked,
        ]
        #expect(codes.map(\.rawValue) == [1000, 1001, 1007, 1008, 1009, 1011, 4001, 4002])
    }

    @Test("limits wire form")
    func limitsJSON() {
        #expect(
            Limits().json.jsonString
                == #"{"max_frame":65536,"max_text":4000,"history_limit":500,"rate_per_sec":10,"rate_burst":20,"#
                + #""read_per_sec":20,"read_burst":250}"#
        )
        #expect(Limits(ratePerSec: 2.5).json.objectValue?["rate_per_sec"] == .double(2.5))
        #expect(Limits(readPerSec: 0.5).json.objectValue?["read_per_sec"] == .double(0.5))
    }

    @Test("limits read back from a hello reply")
    func limitsParse() throws {
        let custom = Limits(
            maxFrame: 1024,
            maxText: 100,
            historyLimit: 20,
            ratePerSec: 0.5,
            rateBurst: 3,
            readPerSec: 1.5,
            readBurst: 7
        )
        #expect(Limits(json: try #require(custom.json.objectValue)) == custom)
        #expect(Limits(json: ["max_text": 7]) == Limits(maxText: 7))
        #expect(Limits(json: [:]) == Limits())
    }
}
