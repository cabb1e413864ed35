import Foundation

/// Normalises a server address: `ws://host:port` implies the `/v1/ws` path; a bare
/// `host:port` implies `ws://`.
package enum ServerURL {
    /// The default server.
    package static let defaultURL = "ws://localhost:7878"

    /// The WebSocket URL to connect to.
    ///
    /// - Parameters:
    ///   - raw: what the user gave.
    package static func normalize(_ raw: String) throws(ServerURLError) -> String {
        var url = raw.trimmingCharacters(in: .whitespacesAndNewlines)
        if url.isEmpty { throw ServerURLError(raw: raw) }
        if !url.contains("://") { url = "ws://" + url }
        guard url.hasPrefix("ws://") || url.hasPrefix("wss://") else { throw ServerURLError(raw: raw) }
        let schemeEnd = url.range(of: "://")!.upperBound
        let rest = url[schemeEnd...]
        guard let first = rest.first, first != "/" else { throw ServerURLError(raw: raw) }
        // No spaces or control characters anywhere (a URL has them percent-encoded, if at all).
        guard !url.unicodeScalars.contains(where: { $0.properties.isWhitespace || $0.value < 0x20 || $0.value == 0x7F })
        else { throw ServerURLError(raw: raw) }
        if let slash = rest.firstIndex(of: "/") {
            let path = rest[slash...]
            if path == "/" { return String(url.dropLast()) + "/v1/ws" }
            return url
        }
        return url + "/v1/ws"
    }
}

/// A server address that is not a ws:// or wss:// URL.
package struct ServerURLError: Error, CustomStringConvertible {
    package var raw: String
    package var description: String { "not a server URL: '\(raw)' (expected ws://host:port or wss://host:port)" }
}
