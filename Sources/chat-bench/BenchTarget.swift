import ArgumentParser

/// The wire protocol a benchmark speaks.
enum BenchProtocol: String, ExpressibleByArgument, CaseIterable, Sendable {
    /// Our protocol v1 over WebSocket.
    case chat
    /// Redis pub/sub over RESP.
    case redis
    /// IRC (RFC 1459/2812 client commands).
    case irc
}

/// Where a benchmark connects: a loopback host and a port (plus a path for WebSocket).
struct BenchTarget: Sendable {
    let host: String
    let port: Int
    let path: String

    /// Parses `ws://host:port[/path]`, `redis://host:port`, `irc://host:port` or `host:port`;
    /// refuses anything that is not loopback.
    init(url: String) throws {
        var rest = Substring(url)
        if let scheme = rest.firstRange(of: "://") { rest = rest[scheme.upperBound...] }
        let hostPort = rest.prefix { $0 != "/" }
        let path = String(rest.dropFirst(hostPort.count))
        let host: Substring
        let port: Int?
        if hostPort.hasPrefix("["), let end = hostPort.firstIndex(of: "]") {
            host = hostPort[hostPort.index(after: hostPort.startIndex)..<end]
            port = Int(hostPort[hostPort.index(after: end)...].dropFirst())
        } else if let colon = hostPort.lastIndex(of: ":") {
            host = hostPort[..<colon]
            port = Int(hostPort[hostPort.index(after: colon)...])
        } else {
            host = hostPort
            port = nil
        }
        guard let port else { throw ValidationError("the URL needs a port: \(url)") }
        guard host.hasPrefix("127.") || host == "localhost" || host == "::1" else {
            throw ValidationError("loopback addresses only (127.x.x.x, localhost, ::1): \(url)")
        }
        self.host = String(host)
        self.port = port
        self.path = path.isEmpty || path == "/" ? "/v1/ws" : path
    }
}

/// A failure of the load generator (connection refused, unexpected reply, timeout).
struct BenchError: Error, CustomStringConvertible {
    let description: String

    init(_ description: String) { self.description = description }
}
