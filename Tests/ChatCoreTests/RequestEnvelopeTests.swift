import ChatCore
import Testing

private let idError = "'id' must be a string of 1 to 64 scalars"

private let envelopeErrors: [(String, String?, String)] = [
    ("not json", nil, "frame is not valid JSON: invalid literal at byte 0"),
    ("@", nil, "frame is not valid JSON: unexpected character at byte 0"),
    ("", nil, "frame is not valid JSON: unexpected end at byte 0"),
    (#"{"type":"ping","id":"1"} x"#, nil, "frame is not valid JSON: trailing characters at byte 25"),
    (#"{"id":"1","id":"2","type":"ping"}"#, nil, #"frame is not valid JSON: duplicate key "id" at byte 10"#),
    ("[1]", nil, "frame must be a JSON object"),
    (#""ping""#, nil, "frame must be a JSON object"),
    ("42", nil, "frame must be a JSON object"),
    ("null", nil, "frame must be a JSON object"),
    ("true", nil, "frame must be a JSON object"),
    (#"[{"type":"ping","id":"1"}]"#, nil, "frame must be a JSON object"),
    (#"{"type":"ping"}"#, nil, idError),
    (#"{"type":"ping","id":""}"#, nil, idError),
    (#"{"type":"ping","id":""# + repeated("a", 65) + #""}"#, nil, idError),
    (#"{"type":"ping","id":""# + repeated("日", 65) + #""}"#, nil, idError),
    // 33 characters but 66 scalars: the limit counts scalars.
    (#"{"type":"ping","id":""# + repeated("e\u{301}", 33) + #""}"#, nil, idError),
    (#"{"type":"ping","id":7}"#, nil, idError),
    (#"{"type":"ping","id":null}"#, nil, idError),
    (#"{"type":"ping","id":true}"#, nil, idError),
    (#"{"type":"ping","id":["1"]}"#, nil, idError),
    (#"{"type":"ping","id":{"v":"1"}}"#, nil, idError),
    (#"{"type":"ping","id":"\ud800"}"#, nil, idError),
    (#"{"id":"abc"}"#, "abc", "'type' must be a string"),
    (#"{"id":"abc","type":5}"#, "abc", "'type' must be a string"),
    (#"{"id":"abc","type":null}"#, "abc", "'type' must be a string"),
    (#"{"id":"abc","type":"\udc00"}"#, "abc", "'type' must be a string"),
]

private let acceptedIds: [String] = [
    "1",
    "a",
    repeated("a", 64),
    repeated("日", 64),
    repeated("e\u{301}", 32),
    repeated("😀", 64),
    "id with spaces",
]

@Suite("RequestEnvelope")
struct RequestEnvelopeTests {
    @Test("a valid envelope keeps id, type and the whole body")
    func valid() throws {
        let envelope = try RequestEnvelope.parse(#"{"type":"join","id":"r1","room":"lobby"}"#).get()
        #expect(envelope.id == "r1")
        #expect(envelope.type == "join")
        #expect(envelope.body == ["type": "join", "id": "r1", "room": "lobby"])
    }

    @Test("an unknown type still parses as an envelope")
    func unknownType() throws {
        let envelope = try RequestEnvelope.parse(#"{"id":"9","type":"dance"}"#).get()
        #expect(envelope.type == "dance")
        #expect(RequestType(rawValue: envelope.type) == nil)
    }

    @Test("envelope errors carry the id only when it could be read", arguments: envelopeErrors)
    func envelopeError(text: String, id: String?, message: String) {
        guard case .failure(let error) = RequestEnvelope.parse(text) else {
            Issue.record("envelope accepted")
            return
        }
        #expect(error.id == id)
        #expect(error.error == .badRequest(message))
    }

    @Test("ids of 1 to 64 scalars are accepted", arguments: acceptedIds)
    func acceptedId(id: String) throws {
        let text = JSONValue.object(["type": "ping", "id": .string(id)]).jsonString
        let envelope = try RequestEnvelope.parse(text).get()
        #expect(Array(envelope.id.unicodeScalars) == Array(id.unicodeScalars))
    }

    @Test("too deep a frame is an error with a nil id")
    func tooDeep() {
        let nested = String(repeating: "[", count: 32) + String(repeating: "]", count: 32)
        let text = #"{"id":"1","type":"ping","x":"# + nested + "}"
        guard case .failure(let error) = RequestEnvelope.parse(text) else {
            Issue.record("33 levels of nesting were accepted")
            return
        }
        #expect(error.id == nil)
        #expect(error.error.code == .badRequest)
        #expect(error.error.message.hasPrefix("frame is not valid JSON: nesting deeper than 32"))
        #expect(throws: Never.self) { try RequestEnvelope.parse(text, maxDepth: 33).get() }
    }

    @Test("a lone surrogate in another field still gives an envelope")
    func surrogateElsewhere() throws {
        let envelope = try RequestEnvelope.parse(#"{"type":"send","id":"s1","text":"\ud800"}"#).get()
        #expect(envelope.id == "s1")
        #expect(envelope.body["text"] == .invalidString)
    }
}
