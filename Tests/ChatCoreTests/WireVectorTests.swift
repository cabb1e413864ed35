import ChatCore
import Foundation
import Testing

// MARK: - Helpers

private let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

/// Re-encodes a server frame with the typed values it decodes to; `requestType` is the
/// type of the request an `ok` answers.
private func reencode(_ frame: ServerFrame, requestType: String?) throws -> JSONValue {
    switch frame {
    case .ok(let id, let body):
        let type = try #require(requestType, "no request for reply \(id)")
        return try WireReplies.type(answering: type).init(json: body).frame(id: id)
    case .error, .event:
        return frame.json
    }
}

/// The request type of a client frame's text, and its id.
private func requestHead(_ text: String) -> (id: String, type: String)? {
    guard case .success(let envelope) = RequestEnvelope.parse(text) else { return nil }
    return (envelope.id, envelope.type)
}

/// A client frame re-encoded by the typed encoder, or nil when the frame is not a valid request.
private func reencodeRequest(_ text: String) -> String? {
    guard case .success(let envelope) = RequestEnvelope.parse(text) else { return nil }
    if envelope.type == SearchRequest.type {
        guard case .success(let search) = SearchRequest.parse(envelope.body) else { return nil }
        return search.text(id: envelope.id)
    }
    guard let type = RequestType(rawValue: envelope.type),
        case .success(let request) = Request.parse(type, body: envelope.body, limits: Limits())
    else { return nil }
    return request.text(id: envelope.id)
}

/// Placeholders of the vectors replaced by concrete values of their type.
private func concrete(_ value: JSONValue) -> JSONValue {
    switch value {
    case .string("<string>"): return "s"
    case .string("<int>"): return 7
    case .string("<bool>"): return true
    case .string("<any>"): return 10
    case .string(let s):
        return .string(
            s.replacingOccurrences(of: "$user2", with: "vuser2").replacingOccurrences(of: "$room2", with: "vroom2")
                .replacingOccurrences(of: "$user", with: "vuser").replacingOccurrences(of: "$room", with: "vroom")
        )
    case .array(let items): return .array(items.map(concrete))
    case .object(let o): return .object(JSONObject(o.fields.map { (key: $0.key, value: concrete($0.value)) }))
    default: return value
    }
}

/// Whether every field of `expected` is in `actual` with an equal value (objects as subsets).
private func contains(_ actual: JSONValue, _ expected: JSONValue) -> Bool {
    switch (expected, actual) {
    case (.object(let e), .object(let a)):
        return e.fields.allSatisfy { field in a[field.key].map { contains($0, field.value) } ?? false }
    case (.array(let e), .array(let a)):
        return e.count == a.count && zip(a, e).allSatisfy { contains($0, $1) }
    default:
        return expected == actual
    }
}

private let vectorFiles: [String] = {
    let directory = root.appendingPathComponent("conformance/vectors").path
    let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
    return names.filter { $0.hasSuffix(".json") }.sorted().map { directory + "/" + $0 }
}()

// MARK: - Tests

@Suite("Wire types against the documented frames and the test vectors")
struct WireVectorTests {
    /// Every `S:` line of docs/PROTOCOL.md is a frame exactly as the server writes it:
    /// decoding it with the typed values and encoding again must give the same bytes.
    /// Every valid `C:` line must be what the request encoder writes.
    @Test("docs/PROTOCOL.md: server frames and requests re-encode byte for byte")
    func protocolExamples() throws {
        let text = try String(contentsOf: root.appendingPathComponent("docs/PROTOCOL.md"), encoding: .utf8)
        var requestTypes: [String: String] = [:]
        var serverFrames = 0
        var requests = 0
        for line in text.split(separator: "\n").map(String.init) {
            if line.hasPrefix("C: {") {
                let frame = String(line.dropFirst(3))
                if let head = requestHead(frame) { requestTypes[head.id] = head.type }
                if let encoded = reencodeRequest(frame) {
                    #expect(encoded == frame)
                    requests += 1
                }
            } else if line.hasPrefix("S: {") {
                let frame = String(line.dropFirst(3))
                let decoded = try ServerFrame(text: frame)
                var id: String?
                if case .ok(let okID, _) = decoded { id = okID }
                let encoded = try reencode(decoded, requestType: id.flatMap { requestTypes[$0] })
                #expect(encoded.jsonString == frame)
                serverFrames += 1
            }
        }
        #expect(serverFrames >= 35)
        #expect(requests >= 25)
    }

    /// Each server frame a vector expects, with placeholders filled in: when it is
    /// complete it decodes, and the typed re-encoding holds every expected field and is
    /// stable; when the vector only names some fields, decoding fails for a missing
    /// field, never for a wrong type.
    @Test("conformance/vectors: expected frames decode to typed values", arguments: vectorFiles)
    func vector(path: String) throws {
        let data = try #require(FileManager.default.contents(atPath: path))
        let vector = try #require(try JSONParser(maxDepth: 64).parse(String(decoding: data, as: UTF8.self)).objectValue)
        let steps = try #require(vector["steps"]?.arrayValue)
        var requestTypes: [String: String] = [:]
        var complete = 0
        for step in steps {
            guard let step = step.objectValue, let (kind, argument) = step.fields.first.map({ ($0.key, $0.value) })
            else { continue }
            switch kind {
            case "send":
                if let id = argument.objectValue?["id"]?.stringValue,
                    let type = argument.objectValue?["type"]?.stringValue
                {
                    requestTypes[id] = type
                }
            case "reply", "event":
                let expected = try #require(concrete(argument).objectValue)
                do {
                    let frame = try ServerFrame(json: expected)
                    var id: String?
                    if case .ok(let okID, _) = frame { id = okID }
                    let encoded = try reencode(frame, requestType: id.flatMap { requestTypes[$0] })
                    #expect(contains(encoded, .object(expected)), "\(encoded.jsonString)")
                    let again = try reencode(
                        try ServerFrame(text: encoded.jsonString),
                        requestType: id.flatMap { requestTypes[$0] }
                    )
                    #expect(again.jsonString == encoded.jsonString)
                    complete += 1
                } catch let error as WireDecodingError {
                    #expect(error.isMissingField, "\(JSONValue.object(expected).jsonString): \(error)")
                }
            default:
                continue
            }
        }
        if path.hasSuffix("register-join-send.json") || path.hasSuffix("handshake.json") { #expect(complete >= 3) }
    }
}
