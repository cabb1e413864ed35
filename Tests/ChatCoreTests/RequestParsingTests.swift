// Just over 400 lines: one table of request-parsing cases per request type (the envelope's
// cases are in RequestEnvelopeTests.swift).

import ChatCore
import Testing

// MARK: - Helpers

private func object(_ json: String) throws -> JSONObject {
    try #require(try JSONParser().parse(json).objectValue)
}

private func parse(
    _ type: RequestType,
    _ json: String,
    limits: Limits = Limits()
) throws -> Result<Request, ProtocolError> {
    Request.parse(type, body: try object(json), limits: limits)
}

private func room(_ name: String) throws -> ValidName { try TextRules.roomName(name).get() }
private func user(_ name: String) throws -> ValidName { try TextRules.userName(name).get() }

func repeated(_ unit: String, _ count: Int) -> String { String(repeating: unit, count: count) }

let forbiddenEscape = "text must not contain control or bidirectional-override characters (found U+1B)"

// MARK: - Tables

private let requestErrors: [(RequestType, String, ProtocolError)] = [
    // hello
    (.hello, "{}", .badRequest("'version' is required")),
    (.hello, #"{"version":null,"client":"c"}"#, .badRequest("'version' is required")),
    (.hello, #"{"version":"1","client":"c"}"#, .badRequest("'version' must be an integer")),
    (.hello, #"{"version":1.5,"client":"c"}"#, .badRequest("'version' must be an integer")),
    (.hello, #"{"version":1}"#, .badRequest("'client' must be a string")),
    (.hello, #"{"version":1,"client":5}"#, .badRequest("'client' must be a string")),
    (
        .hello, #"{"version":1,"client":""# + repeated("c", 129) + #""}"#,
        .badRequest("'client' is longer than 128 scalars")
    ),
    // register
    (.register, #"{"password":"12345678"}"#, .badRequest("'user' must be a string")),
    (.register, #"{"user":42,"password":"12345678"}"#, .badRequest("'user' must be a string")),
    (.register, #"{"user":"\ud800","password":"12345678"}"#, .badRequest("'user' holds an unpaired surrogate")),
    (.register, #"{"user":"","password":"12345678"}"#, .badRequest("user name must not be empty")),
    (
        .register, #"{"user":"a b","password":"12345678"}"#,
        .badRequest("user name may hold only letters, digits, marks, '_', '-' and '.' (found U+20)")
    ),
    (
        .register, #"{"user":""# + repeated("u", 33) + #"","password":"12345678"}"#,
        .badRequest("user name is longer than 32 scalars")
    ),
    (.register, #"{"user":"alice"}"#, .badRequest("'password' must be a string")),
    (.register, #"{"user":"alice","password":12345678}"#, .badRequest("'password' must be a string")),
    (.register, #"{"user":"alice","password":"1234567"}"#, .badRequest("password must be 8 to 1024 bytes")),
    (.register, #"{"user":"alice","password":"12345678","invite":5}"#, .badRequest("'invite' must be a string")),
    // login
    (.login, #"{"password":"12345678"}"#, .badRequest("'user' must be a string")),
    (.login, #"{"user":"alice"}"#, .badRequest("'password' must be a string")),
    (.login, #"{"user":"alice","password":""}"#, .badRequest("password must be 8 to 1024 bytes")),
    (
        .login, #"{"user":"al!ce","password":"12345678"}"#,
        .badRequest("user name may hold only letters, digits, marks, '_', '-' and '.' (found U+21)")
    ),
    // resume
    (.resume, "{}", .badRequest("'token' must be a string")),
    (.resume, #"{"token":1}"#, .badRequest("'token' must be a string")),
    (.resume, #"{"token":""# + repeated("t", 257) + #""}"#, .badRequest("'token' is longer than 256 scalars")),
    // join
    (.join, "{}", .badRequest("'room' must be a string")),
    (.join, #"{"room":["lobby"]}"#, .badRequest("'room' must be a string")),
    (.join, #"{"room":"\udfff"}"#, .badRequest("'room' holds an unpaired surrogate")),
    (.join, #"{"room":""}"#, .badRequest("room name must not be empty")),
    (
        .join, ##"{"room":"#general"}"##,
        .badRequest("room name may hold only letters, digits, marks, '_', '-' and '.' (found U+23)")
    ),
    (.join, #"{"room":""# + repeated("r", 65) + #""}"#, .badRequest("room name is longer than 64 scalars")),
    (.join, #"{"room":"lobby","since":-1}"#, .badRequest("'since' must not be negative")),
    (.join, #"{"room":"lobby","since":"5"}"#, .badRequest("'since' must be an integer")),
    (.join, #"{"room":"lobby","since":2.5}"#, .badRequest("'since' must be an integer")),
    (.join, #"{"room":"lobby","epoch":5}"#, .badRequest("'epoch' must be a string")),
    // leave, members, typing
    (.leave, "{}", .badRequest("'room' must be a string")),
    (.members, #"{"room":null}"#, .badRequest("'room' must be a string")),
    (.typing, #"{"room":7}"#, .badRequest("'room' must be a string")),
    // topic
    (.topic, #"{"topic":"t"}"#, .badRequest("'room' must be a string")),
    (.topic, #"{"room":"lobby"}"#, .badRequest("'topic' must be a string")),
    (.topic, #"{"room":"lobby","topic":null}"#, .badRequest("'topic' must be a string")),
    (.topic, #"{"room":"lobby","topic":"\ud800"}"#, .badRequest("'topic' holds an unpaired surrogate")),
    (.topic, #"{"room":"lobby","topic":"\u001b[2J"}"#, .badRequest(forbiddenEscape)),
    (
        .topic, #"{"room":"lobby","topic":""# + repeated("t", 513) + #""}"#,
        ProtocolError(.tooLarge, "topic is longer than 512 scalars")
    ),
    // history
    (.history, "{}", .badRequest("'room' must be a string")),
    (.history, #"{"room":"lobby","before":5,"after":1}"#, .badRequest("'before' and 'after' cannot both be given")),
    (.history, #"{"room":"lobby","before":0}"#, .badRequest("'before' must be at least 1")),
    (.history, #"{"room":"lobby","after":-1}"#, .badRequest("'after' must not be negative")),
    (.history, #"{"room":"lobby","limit":0}"#, .badRequest("'limit' must be at least 1")),
    (.history, #"{"room":"lobby","limit":-5}"#, .badRequest("'limit' must be at least 1")),
    (.history, #"{"room":"lobby","limit":"10"}"#, .badRequest("'limit' must be an integer")),
    (.history, #"{"room":"lobby","before":"9"}"#, .badRequest("'before' must be an integer")),
    // mark_read
    (.markRead, #"{"room":"lobby"}"#, .badRequest("'seq' must be an integer")),
    (.markRead, #"{"room":"lobby","seq":"3"}"#, .badRequest("'seq' must be an integer")),
    (.markRead, #"{"room":"lobby","seq":-1}"#, .badRequest("'seq' must not be negative")),
    (.markRead, #"{"seq":1}"#, .badRequest("'room' must be a string")),
    // send
    (.send, #"{"text":"hi"}"#, .badRequest("'room' must be a string")),
    (.send, #"{"room":"lobby"}"#, .badRequest("'text' must be a string")),
    (.send, #"{"room":"lobby","text":5}"#, .badRequest("'text' must be a string")),
    (.send, #"{"room":"lobby","text":null}"#, .badRequest("'text' must be a string")),
    (.send, #"{"room":"lobby","text":""}"#, .badRequest("text must not be empty")),
    (.send, #"{"room":"lobby","text":"hi\ud83d"}"#, .badRequest("'text' holds an unpaired surrogate")),
    (.send, #"{"room":"lobby","text":"\ude00"}"#, .badRequest("'text' holds an unpaired surrogate")),
    (.send, #"{"room":"lobby","text":"\ud83d\u0041"}"#, .badRequest("'text' holds an unpaired surrogate")),
    (.send, #"{"room":"lobby","text":"\u001b[31mred"}"#, .badRequest(forbiddenEscape)),
    (
        .send, #"{"room":"lobby","text":"hi","kind":"other"}"#,
        .badRequest(#"'kind' must be "text", "action" or "file""#)
    ),
    (
        .send, #"{"room":"lobby","text":"hi","kind":"ACTION"}"#,
        .badRequest(#"'kind' must be "text", "action" or "file""#)
    ),
    (.send, #"{"room":"lobby","text":"hi","kind":""}"#, .badRequest(#"'kind' must be "text", "action" or "file""#)),
    (.send, #"{"room":"lobby","text":"hi","kind":3}"#, .badRequest("'kind' must be a string")),
    (
        .send, #"{"room":"lobby","text":"hi","kind":""# + repeated("k", 17) + #""}"#,
        .badRequest("'kind' is longer than 16 scalars")
    ),
    (.send, #"{"room":"lobby","text":"hi","nonce":""}"#, .badRequest("'nonce' must be 1 to 64 scalars")),
    (.send, #"{"room":"lobby","text":"hi","nonce":5}"#, .badRequest("'nonce' must be a string")),
    (
        .send, #"{"room":"lobby","text":"hi","nonce":""# + repeated("n", 65) + #""}"#,
        .badRequest("'nonce' is longer than 64 scalars")
    ),
]

/// Passwords and whether their UTF-8 byte count is within 8…1024.
private let passwords: [(String, Bool)] = [
    ("1234567", false),
    ("12345678", true),
    (repeated("p", 1024), true),
    (repeated("p", 1025), false),
    ("日日", false),
    ("日日日", true),
    ("😀😀", true),
    ("😀a", false),
    (repeated("日", 341) + "a", true),
    (repeated("日", 342), false),
    ("        ", true),
]

/// (requested limit, server history_limit, limit after parsing).
private let historyLimits: [(Int64, Int, Int)] = [
    (1, 500, 1),
    (50, 500, 50),
    (500, 500, 500),
    (501, 500, 500),
    (10_000, 500, 500),
    (.max, 500, 500),
    (50, 20, 20),
]

// MARK: - Tests

@Suite("Request.parse")
struct RequestParsingTests {
    @Test("request type names")
    func typeNames() {
        let names = RequestType.allCases.map(\.rawValue)
        #expect(
            names == [
                "hello", "register", "login", "resume", "logout", "join", "leave", "rooms", "members", "topic",
                "history", "mark_read", "send", "typing", "ping", "create", "invite", "kick", "dm", "edit", "delete",
                "react", "unreact",
            ]
        )
        let beforeAuth = RequestType.allCases.filter(\.allowedBeforeAuth)
        #expect(beforeAuth == [.hello, .register, .login, .resume, .ping])
    }

    @Test("hello")
    func hello() throws {
        let body = #"{"type":"hello","id":"1","version":1,"client":"tui/0.1"}"#
        #expect(try parse(.hello, body) == .success(.hello(version: 1, client: "tui/0.1")))
        let other = #"{"version":2,"client":""# + repeated("c", 128) + #""}"#
        #expect(try parse(.hello, other) == .success(.hello(version: 2, client: repeated("c", 128))))
    }

    @Test("register")
    func register() throws {
        let plain = #"{"user":"Alice","password":"correct horse"}"#
        let alice = try user("Alice")
        #expect(try parse(.register, plain) == .success(.register(user: alice, password: "correct horse", invite: nil)))
        let invited = #"{"user":"Alice","password":"correct horse","invite":"inv-1"}"#
        #expect(
            try parse(.register, invited)
                == .success(.register(user: alice, password: "correct horse", invite: "inv-1"))
        )
        let nullInvite = #"{"user":"Alice","password":"correct horse","invite":null}"#
        #expect(
            try parse(.register, nullInvite) == .success(.register(user: alice, password: "correct horse", invite: nil))
        )
    }

    @Test("the user name is validated and normalised")
    func registerNormalisesUser() throws {
        let result = try parse(.login, #"{"user":"Cafe\u0301","password":"12345678"}"#)
        guard case .success(.login(let name, let password)) = result else {
            Issue.record("unexpected \(result)")
            return
        }
        #expect(Array(name.display.unicodeScalars) == Array("Caf\u{E9}".unicodeScalars))
        #expect(Array(name.key.unicodeScalars) == Array("caf\u{E9}".unicodeScalars))
        #expect(password == "12345678")
    }

    @Test("login")
    func login() throws {
        let body = #"{"user":"日本語","password":"パスワード123"}"#
        #expect(try parse(.login, body) == .success(.login(user: try user("日本語"), password: "パスワード123")))
    }

    @Test("password length is counted in UTF-8 bytes", arguments: passwords)
    func passwordBytes(password: String, accepted: Bool) throws {
        let alice = try user("alice")
        for type in [RequestType.register, .login] {
            let body: JSONObject = ["user": "alice", "password": .string(password)]
            let result = Request.parse(type, body: body, limits: Limits())
            if accepted {
                let expected: Request =
                    type == .login
                    ? .login(user: alice, password: password)
                    : .register(user: alice, password: password, invite: nil)
                #expect(result == .success(expected))
            } else {
                #expect(result == .failure(.badRequest("password must be 8 to 1024 bytes")))
            }
        }
    }

    @Test("resume")
    func resume() throws {
        #expect(try parse(.resume, #"{"token":"tok"}"#) == .success(.resume(token: "tok")))
        let long = repeated("t", 256)
        #expect(try parse(.resume, #"{"token":""# + long + #""}"#) == .success(.resume(token: long)))
    }

    @Test(
        "requests without fields ignore unknown fields",
        arguments: [(RequestType.logout, Request.logout), (.rooms, .rooms), (.ping, .ping)]
    )
    func noFields(type: RequestType, expected: Request) throws {
        #expect(try parse(type, "{}") == .success(expected))
        #expect(try parse(type, #"{"type":"x","id":"1","extra":{"a":[1]}}"#) == .success(expected))
    }

    @Test("join")
    func join() throws {
        let lobby = try room("Lobby")
        #expect(try parse(.join, #"{"room":"Lobby"}"#) == .success(.join(room: lobby, since: nil, epoch: nil)))
        #expect(
            try parse(.join, #"{"room":"Lobby","since":0}"#) == .success(.join(room: lobby, since: 0, epoch: nil))
        )
        #expect(
            try parse(.join, #"{"room":"Lobby","since":42,"epoch":"e-1"}"#)
                == .success(.join(room: lobby, since: 42, epoch: "e-1"))
        )
        #expect(
            try parse(.join, #"{"room":"Lobby","since":null,"epoch":null}"#)
                == .success(.join(room: lobby, since: nil, epoch: nil))
        )
        let long = repeated("r", 64)
        #expect(
            try parse(.join, #"{"room":""# + long + #""}"#)
                == .success(.join(room: try room(long), since: nil, epoch: nil))
        )
    }

    @Test("room requests", arguments: [RequestType.leave, .members, .typing])
    func roomOnly(type: RequestType) throws {
        let dev = try room("開発")
        let expected: Request
        switch type {
        case .leave: expected = .leave(room: dev)
        case .members: expected = .members(room: dev)
        default: expected = .typing(room: dev)
        }
        #expect(try parse(type, #"{"room":"開発"}"#) == .success(expected))
    }

    @Test("topic")
    func topic() throws {
        let lobby = try room("lobby")
        #expect(try parse(.topic, #"{"room":"lobby","topic":""}"#) == .success(.topic(room: lobby, topic: "")))
        #expect(
            try parse(.topic, #"{"room":"lobby","topic":"Welcome 日本語 😀"}"#)
                == .success(.topic(room: lobby, topic: "Welcome 日本語 😀"))
        )
        let long = repeated("t", 512)
        #expect(
            try parse(.topic, #"{"room":"lobby","topic":""# + long + #""}"#)
                == .success(.topic(room: lobby, topic: long))
        )
    }

    @Test("history")
    func history() throws {
        let lobby = try room("lobby")
        #expect(
            try parse(.history, #"{"room":"lobby"}"#)
                == .success(.history(room: lobby, before: nil, after: nil, limit: nil))
        )
        #expect(
            try parse(.history, #"{"room":"lobby","before":1,"limit":10}"#)
                == .success(.history(room: lobby, before: 1, after: nil, limit: 10))
        )
        #expect(
            try parse(.history, #"{"room":"lobby","after":0}"#)
                == .success(.history(room: lobby, before: nil, after: 0, limit: nil))
        )
        #expect(
            try parse(.history, #"{"room":"lobby","before":null,"after":7}"#)
                == .success(.history(room: lobby, before: nil, after: 7, limit: nil))
        )
    }

    @Test("a history limit above history_limit is clamped", arguments: historyLimits)
    func historyClamp(limit: Int64, historyLimit: Int, expected: Int) throws {
        let body: JSONObject = ["room": "lobby", "limit": .int(limit)]
        let result = Request.parse(.history, body: body, limits: Limits(historyLimit: historyLimit))
        #expect(result == .success(.history(room: try room("lobby"), before: nil, after: nil, limit: expected)))
    }

    @Test("mark_read")
    func markRead() throws {
        let lobby = try room("lobby")
        #expect(try parse(.markRead, #"{"room":"lobby","seq":0}"#) == .success(.markRead(room: lobby, seq: 0)))
        #expect(try parse(.markRead, #"{"room":"lobby","seq":12}"#) == .success(.markRead(room: lobby, seq: 12)))
    }

    @Test(
        "send kinds",
        arguments: [
            (#""kind":"text","#, MessageKind.text),
            (#""kind":"action","#, .action),
            (#""kind":null,"#, .text),
            ("", .text),
        ]
    )
    func sendKind(kindField: String, kind: MessageKind) throws {
        let body = #"{"room":"lobby","# + kindField + #""text":"waves"}"#
        let expected = Request.send(room: try room("lobby"), text: "waves", kind: kind, nonce: nil)
        #expect(try parse(.send, body) == .success(expected))
    }

    @Test("send with a nonce")
    func sendNonce() throws {
        let lobby = try room("lobby")
        #expect(
            try parse(.send, #"{"room":"lobby","text":"hi","nonce":"n-1"}"#)
                == .success(.send(room: lobby, text: "hi", kind: .text, nonce: "n-1"))
        )
        let long = repeated("n", 64)
        #expect(
            try parse(.send, #"{"room":"lobby","text":"hi","nonce":""# + long + #""}"#)
                == .success(.send(room: lobby, text: "hi", kind: .text, nonce: long))
        )
    }

    @Test("send text keeps newlines, tabs and non-ASCII, and decodes escapes")
    func sendText() throws {
        let result = try parse(.send, #"{"room":"lobby","text":"a\nb\tc 日本 \ud83d\ude00"}"#)
        let expected = Request.send(room: try room("lobby"), text: "a\nb\tc 日本 😀", kind: .text, nonce: nil)
        #expect(result == .success(expected))
    }

    @Test("send text length follows max_text in scalars")
    func sendLength() throws {
        let limits = Limits(maxText: 5)
        let lobby = try room("lobby")
        #expect(
            try parse(.send, #"{"room":"lobby","text":"👨‍👩‍👧"}"#, limits: limits)
                == .success(.send(room: lobby, text: "👨‍👩‍👧", kind: .text, nonce: nil))
        )
        #expect(
            try parse(.send, #"{"room":"lobby","text":"👨‍👩‍👧!"}"#, limits: limits)
                == .failure(ProtocolError(.tooLarge, "text is longer than 5 scalars"))
        )
        let text4000 = repeated("a", 4000)
        #expect(
            try parse(.send, #"{"room":"lobby","text":""# + text4000 + #""}"#)
                == .success(.send(room: lobby, text: text4000, kind: .text, nonce: nil))
        )
        #expect(
            try parse(.send, #"{"room":"lobby","text":""# + text4000 + #"a"}"#)
                == .failure(ProtocolError(.tooLarge, "text is longer than 4000 scalars"))
        )
    }

    @Test("missing or mistyped fields", arguments: requestErrors)
    func requestError(type: RequestType, json: String, expected: ProtocolError) throws {
        #expect(try parse(type, json) == .failure(expected))
    }
}
