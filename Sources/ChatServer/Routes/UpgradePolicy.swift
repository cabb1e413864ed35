/// Whether a WebSocket upgrade request may open a session, decided from its headers before
/// any session exists: the `Origin` check (`--allowed-origin`) and who the client is
/// (`--trusted-proxy`, `X-Forwarded-For`).
package struct UpgradePolicy: Sendable {
    /// What to do with an upgrade request.
    package enum Decision: Equatable, Sendable {
        /// Upgrade; the session's client address.
        case accept(client: String)
        /// A browser page from an origin not in `--allowed-origin` (answered 403).
        case forbiddenOrigin
        /// A trusted proxy's `X-Forwarded-For` names no address (answered 400).
        case malformedForwardedFor
    }

    package let resolver: ClientAddressResolver
    /// Allowed `Origin` values, lower-cased, without a trailing `/`.
    package let allowedOrigins: Set<String>

    /// Creates a policy.
    ///
    /// - Parameters:
    ///   - resolver: finds the client behind trusted proxies.
    ///   - allowedOrigins: origins (`https://chat.example.org`) whose pages may connect; empty: none.
    package init(resolver: ClientAddressResolver, allowedOrigins: [String]) {
        self.resolver = resolver
        self.allowedOrigins = Set(allowedOrigins.map(Self.normalize))
    }

    /// Decides an upgrade request.
    ///
    /// - Parameters:
    ///   - peer: the TCP peer's address.
    ///   - origins: the request's `Origin` field values (none from native clients).
    ///   - forwardedFor: the request's `X-Forwarded-For` field values.
    package func decide(peer: String, origins: [String], forwardedFor: [String]) -> Decision {
        // Browsers always send Origin on a WebSocket upgrade: the page's origin, which a script
        // cannot set. Native clients send none, or (as swift-websocket, which `chat` uses) the
        // ws:// or wss:// URL they connect to: no browser page has such an origin.
        for origin in origins {
            let normalized = Self.normalize(origin)
            if Self.isNativeClientOrigin(normalized) || allowedOrigins.contains(normalized) { continue }
            return .forbiddenOrigin
        }
        switch resolver.resolve(peer: peer, forwardedFor: forwardedFor) {
        case .client(let client): return .accept(client: client)
        case .malformed: return .malformedForwardedFor
        }
    }

    /// Whether an (normalized) `Origin` names a WebSocket URL, which only a native client sends.
    static func isNativeClientOrigin(_ origin: String) -> Bool {
        origin.hasPrefix("ws://") || origin.hasPrefix("wss://")
    }

    /// An origin as compared: ASCII lower case (scheme and host are case-insensitive), no
    /// surrounding spaces, no trailing `/`.
    static func normalize(_ origin: String) -> String {
        var text = Substring(origin.lowercased())
        while text.first == " " || text.first == "\t" { text = text.dropFirst() }
        while text.last == " " || text.last == "\t" || text.last == "/" { text = text.dropLast() }
        return String(text)
    }
}
