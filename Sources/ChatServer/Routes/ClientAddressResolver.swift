/// Who a request comes from: the TCP peer, or — when the peer is a trusted proxy
/// (`--trusted-proxy`) — the client named in its `X-Forwarded-For` header.
///
/// Each proxy appends the address it received the request from, so the header reads
/// `client, proxy1, proxy2` and only its right end can be believed: walking from the right,
/// trusted proxies are skipped and the first address that is not a trusted proxy is the
/// client. What a client wrote further left is never read. A header from a peer that is not
/// trusted is ignored.
package struct ClientAddressResolver: Sendable {
    /// What the resolution found.
    package enum Resolution: Equatable, Sendable {
        /// The client's address (text form, as logs and limits use it).
        case client(String)
        /// A trusted proxy sent an `X-Forwarded-For` whose deciding entry is not an address.
        case malformed
    }

    /// The ranges whose peers may say who the client is.
    package let trustedProxies: [CIDR]

    /// Creates a resolver.
    ///
    /// - Parameters:
    ///   - trustedProxies: ranges of trusted proxies (empty: every peer is the client).
    package init(trustedProxies: [CIDR]) {
        self.trustedProxies = trustedProxies
    }

    /// Whether an address is a trusted proxy.
    ///
    /// - Parameters:
    ///   - address: the address in text form.
    package func isTrusted(_ address: String) -> Bool {
        guard !trustedProxies.isEmpty, let ip = IPAddress(address) else { return false }
        return trustedProxies.contains { $0.contains(ip) }
    }

    /// The client's address for a request.
    ///
    /// - Parameters:
    ///   - peer: the TCP peer's address ("unknown" when the socket has none).
    ///   - forwardedFor: every `X-Forwarded-For` field value of the request, in order.
    package func resolve(peer: String, forwardedFor: [String]) -> Resolution {
        guard isTrusted(peer) else { return .client(peer) }
        let entries = forwardedFor.flatMap { $0.split(separator: ",", omittingEmptySubsequences: false) }
            .map { $0.trimmingSpaces }
        if entries.allSatisfy(\.isEmpty) { return .client(peer) }
        var leftmost: IPAddress?
        for entry in entries.reversed() {
            guard let address = Self.parseEntry(entry) else { return .malformed }
            if !trustedProxies.contains(where: { $0.contains(address) }) { return .client(address.description) }
            leftmost = address
        }
        // Every hop is a trusted proxy: the left-most one is as close to the client as we know.
        return leftmost.map { .client($0.description) } ?? .client(peer)
    }

    /// An `X-Forwarded-For` entry: an address, optionally `[v6]:port` or `v4:port`.
    static func parseEntry(_ entry: Substring) -> IPAddress? {
        if entry.hasPrefix("["), let close = entry.firstIndex(of: "]") {
            let rest = entry[entry.index(after: close)...]
            let port = rest.dropFirst()
            guard
                rest.isEmpty || (rest.hasPrefix(":") && !port.isEmpty && port.allSatisfy({ $0.isASCII && $0.isNumber }))
            else { return nil }
            return IPAddress(entry[entry.index(after: entry.startIndex)..<close])
        }
        if let address = IPAddress(entry) { return address }
        // `192.0.2.1:8080`: one colon, so it cannot be IPv6.
        let parts = entry.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[1].isEmpty, parts[1].allSatisfy({ $0.isASCII && $0.isNumber }),
            let address = IPAddress(parts[0]), address.bytes.count == 4
        else { return nil }
        return address
    }
}

extension Substring {
    fileprivate var trimmingSpaces: Substring {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" }
        guard let first = firstIndex(where: { !isSpace($0) }), let last = lastIndex(where: { !isSpace($0) }) else {
            return self[endIndex...]
        }
        return self[first...last]
    }
}
