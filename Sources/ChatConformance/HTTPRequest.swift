import ChatCore
import NIOCore
import NIOPosix

/// An HTTP/1.1 answer: status, headers (names lowercased) and body bytes.
package struct HTTPAnswer: Sendable {
    package var status: Int
    package var headers: [String: String]
    package var body: [UInt8]

    /// The body as a JSON object, if it is one.
    package var json: JSONObject? {
        guard case .object(let o)? = try? JSONParser().parse(String(decoding: body, as: UTF8.self)) else { return nil }
        return o
    }
}

/// One HTTP/1.1 request with `Connection: close` over plain TCP (the file routes of a `ws://`
/// server); reads until the server closes. A body is sent whole (conformance files are small);
/// `sendBody: false` sends only the headers, to see a server answer on `Content-Length` alone.
///
/// - Parameters:
///   - url: the server's ws:// URL (host and port are taken from it).
///   - method: GET, HEAD, POST, OPTIONS.
///   - path: the HTTP path.
///   - headers: request headers.
///   - body: the body.
///   - sendBody: whether to send the body after the headers.
package func httpRequest(
    url: String,
    method: String,
    path: String,
    headers: [(String, String)] = [],
    body: [UInt8] = [],
    sendBody: Bool = true
) async throws -> HTTPAnswer {
    let (host, port, _) = try WireClient.parse(url: url)
    let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
        .connect(host: host, port: port) { channel in
            channel.eventLoop.makeCompletedFuture {
                try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
            }
        }
    return try await channel.executeThenClose { inbound, outbound in
        var head = "\(method) \(path) HTTP/1.1\r\nHost: \(host)\r\nConnection: close\r\n"
        for (name, value) in headers { head += "\(name): \(value)\r\n" }
        if method == "POST" || method == "PUT", !headers.contains(where: { $0.0.lowercased() == "content-length" }) {
            head += "Content-Length: \(body.count)\r\n"
        }
        head += "\r\n"
        var request = ByteBuffer(string: head)
        if sendBody { request.writeBytes(body) }
        try await outbound.write(request)
        var bytes: [UInt8] = []
        do {
            for try await chunk in inbound { bytes += chunk.readableBytesView }
        } catch {
            // A server that answers early and closes may reset the connection: keep what came.
            if bytes.isEmpty { throw error }
        }
        guard let end = bytes.firstRange(of: Array("\r\n\r\n".utf8)) else {
            throw ConformanceFailure("\(method) \(path): no HTTP answer")
        }
        let lines = String(decoding: bytes[..<end.lowerBound], as: UTF8.self).components("\r\n")
        let status = Int(lines.first?.split(separator: " ").dropFirst().first ?? "") ?? 0
        var fields: [String: String] = [:]
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            fields[line[..<colon].lowercased()] = String(line[line.index(after: colon)...]).trimmedSpaces
        }
        var payload = Array(bytes[end.upperBound...])
        if fields["transfer-encoding"]?.lowercased() == "chunked" { payload = dechunk(payload) }
        return HTTPAnswer(status: status, headers: fields, body: payload)
    }
}

/// The data of a chunked body.
func dechunk(_ bytes: [UInt8]) -> [UInt8] {
    var out: [UInt8] = []
    var i = 0
    while i < bytes.count {
        guard let lineEnd = bytes[i...].firstRange(of: [13, 10]) else { break }
        let sizeText = String(decoding: bytes[i..<lineEnd.lowerBound], as: UTF8.self).split(separator: ";").first ?? ""
        guard let size = Int(sizeText, radix: 16), size > 0 else { break }
        let start = lineEnd.upperBound
        out += bytes[start..<min(bytes.count, start + size)]
        i = start + size + 2
    }
    return out
}

extension String {
    fileprivate func components(_ separator: String) -> [String] {
        split(separator: separator, omittingEmptySubsequences: false).map(String.init)
    }

    fileprivate var trimmedSpaces: String {
        var s = Substring(self)
        while s.first == " " || s.first == "\t" { s.removeFirst() }
        while s.last == " " || s.last == "\t" { s.removeLast() }
        return String(s)
    }
}
