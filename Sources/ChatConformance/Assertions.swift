import ChatCore
import NIOCore
import NIOPosix
import Synchronization

// Assertions the conformance cases use: each throws a `ConformanceFailure` saying what the
// server did wrong.

/// Fails unless the condition holds.
///
/// - Parameters:
///   - condition: what must hold.
///   - message: what was wrong.
package func check(_ condition: Bool, _ message: @autoclosure () -> String) throws {
    if !condition { throw ConformanceFailure(message()) }
}

/// Fails unless the values are equal.
///
/// - Parameters:
///   - actual: what the server did.
///   - expected: what the contract says.
///   - what: the thing compared.
package func checkEqual<T: Equatable>(_ actual: T, _ expected: T, _ what: String) throws {
    if actual != expected { throw ConformanceFailure("\(what): expected \(show(expected)), got \(show(actual))") }
}

/// A value for a failure message, without `Optional(…)` around it.
func show<T>(_ value: T) -> String {
    let text = "\(value)"
    if text.hasPrefix("Optional("), text.hasSuffix(")") { return String(text.dropFirst(9).dropLast()) }
    return text
}

/// Fails unless the reply is `ok`; returns it.
///
/// - Parameters:
///   - reply: the reply.
///   - what: the request, for the message.
@discardableResult
package func expectOK(_ reply: JSONObject, _ what: String) throws -> JSONObject {
    guard case .ok? = try? ServerFrame(json: reply) else {
        throw ConformanceFailure("\(what): expected ok, got \(JSONValue.object(reply).jsonString)")
    }
    return reply
}

/// Fails unless the reply is `ok` and decodes as `R` (every required field present); returns it.
///
/// - Parameters:
///   - reply: the reply.
///   - type: the reply type.
///   - what: the request, for the message.
package func expectReply<R: WireReply>(_ reply: JSONObject, as type: R.Type, _ what: String) throws -> R {
    try expectOK(reply, what)
    do {
        return try R(json: reply)
    } catch {
        throw ConformanceFailure("\(what): \(error) in \(JSONValue.object(reply).jsonString)")
    }
}

/// Fails unless the reply is an `error` with this code.
///
/// - Parameters:
///   - reply: the reply.
///   - code: expected error code.
///   - what: the request, for the message.
package func expectError(_ reply: JSONObject, _ code: String, _ what: String) throws {
    let frame: ServerFrame
    do {
        frame = try ServerFrame(json: reply)
    } catch {
        throw ConformanceFailure("\(what): expected error \(code): \(error) in \(JSONValue.object(reply).jsonString)")
    }
    guard case .error(_, let error) = frame, error.code.rawValue == code else {
        throw ConformanceFailure("\(what): expected error \(code), got \(JSONValue.object(reply).jsonString)")
    }
}

/// The messages of a join or history reply, decoded.
///
/// - Parameters:
///   - reply: a join or history reply.
package func messages(_ reply: JSONObject) throws -> [ChatMessage] {
    do {
        return try ChatMessage.list(in: reply)
    } catch {
        throw ConformanceFailure("reply messages: \(error) in \(JSONValue.object(reply).jsonString)")
    }
}

/// The messages array of a reply, as raw objects (for checks of the exact fields).
///
/// - Parameters:
///   - reply: a join or history reply.
package func messageList(_ reply: JSONObject) throws -> [JSONObject] {
    guard let array = reply["messages"]?.arrayValue else { throw ConformanceFailure("reply has no messages array") }
    return array.compactMap(\.objectValue)
}

/// The seqs of a list of messages.
///
/// - Parameters:
///   - list: message objects.
package func seqs(_ list: [JSONObject]) -> [Int64] { list.compactMap { $0["seq"]?.intValue } }

/// `GET path` over HTTP/1.1; returns the status code.
///
/// - Parameters:
///   - url: the server's ws:// URL (host and port are taken from it).
///   - path: the HTTP path.
package func httpStatus(url: String, path: String) async throws -> Int {
    try await httpGet(url: url, path: path).status
}

/// `GET path` over HTTP/1.1 with `Connection: close`; returns the status and the body.
///
/// - Parameters:
///   - url: the server's ws:// URL (host and port are taken from it).
///   - path: the HTTP path.
package func httpGet(url: String, path: String) async throws -> (status: Int, body: String) {
    let (host, port, _) = try WireClient.parse(url: url)
    let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
        .connect(host: host, port: port) { channel in
            channel.eventLoop.makeCompletedFuture {
                try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
            }
        }
    return try await channel.executeThenClose { inbound, outbound in
        try await outbound.write(
            ByteBuffer(string: "GET \(path) HTTP/1.1\r\nHost: \(host)\r\nConnection: close\r\n\r\n")
        )
        var text = ""
        for try await var chunk in inbound {
            text += chunk.readString(length: chunk.readableBytes) ?? ""
        }
        let status = Int(text.split(separator: " ").dropFirst().first ?? "") ?? 0
        let parts = text.split(separator: "\r\n\r\n", maxSplits: 1, omittingEmptySubsequences: false)
        let body = parts.count == 2 ? String(parts[1]) : ""
        return (status, body)
    }
}

final class Counter: Sendable {
    let value = Atomic<Int>(0)
}

final class TokenList: Sendable {
    private let tokens = Mutex<[String]>([])
    func add(_ token: String) { tokens.withLock { $0.append(token) } }
    func takeAll() -> [String] {
        tokens.withLock { all in
            defer { all = [] }
            return all
        }
    }
}
