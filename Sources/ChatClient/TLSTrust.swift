import Crypto
import Foundation
import NIOCore
import NIOPosix
import NIOSSL
import NIOTLS

/// How the client decides to trust a `wss://` server:
///
/// 1. `--ca FILE`: only certificates issued by that CA, for the URL's host name or, when the
///    URL names an IP address, with that address in the certificate (IP subjectAltName);
/// 2. a fingerprint remembered in `known_servers` for `host:port`: exactly that certificate
///    (pinned); any other, even one the system trusts, is refused as changed;
/// 3. a certificate the system trust store accepts for the host name, or for an IP address
///    only when it names that address;
/// 4. trust on first use: any other certificate is shown with its SHA-256 fingerprint and
///    accepted only when the user (or `--accept-fingerprint`) confirms it; it is then
///    remembered in `known_servers`.
package enum TLSTrust {
    /// The TLS server name sent for an IP address (SNI cannot carry one; chat-server ignores SNI).
    /// No public CA issues certificates under `.invalid`, so a certificate matches it only
    /// through an IP subjectAltName equal to the address connected to.
    static let ipPlaceholderName = "chat-server.invalid"

    /// The TLS configuration to connect with (nil: plain `ws://`).
    ///
    /// - Parameters:
    ///   - url: the normalised server URL.
    ///   - caFile: a PEM CA bundle to trust instead of the system store.
    ///   - knownServers: the remembered fingerprints.
    ///   - systemTrustStore: a PEM file that stands in for the system trust store (tests); nil: the system's.
    ///   - confirm: asked once for a certificate nothing else vouches for; true remembers it.
    package static func configuration(
        for url: String,
        caFile: String?,
        knownServers: KnownServers,
        systemTrustStore: String? = nil,
        confirm: (UnverifiedCertificate) async -> Bool
    ) async throws -> ClientTLSConfiguration? {
        guard url.hasPrefix("wss://") else { return nil }
        let (host, port) = try endpoint(url)
        // Full verification checks the name, and for an IP address (sent as the placeholder
        // name) the certificate's IP subjectAltName against the address connected to.
        var verified = TLSConfiguration.makeClientConfiguration()
        if let caFile {
            guard FileManager.default.isReadableFile(atPath: caFile) else {
                throw TLSTrustError("cannot read the CA file \(caFile)")
            }
            verified.trustRoots = .file(caFile)
            return ClientTLSConfiguration(verified)
        }
        verified.trustRoots = systemTrustStore.map { .file($0) } ?? .default
        let key = "\(host):\(port)"
        let remembered = knownServers.fingerprint(for: key)
        var reason = "is not signed by an authority this system trusts"
        var trustedChain = false
        if remembered == nil {
            do {
                if try await probe(host: host, port: port, verified) != nil { return ClientTLSConfiguration(verified) }
            } catch let error as NIOSSLExtraError where error == .failedToValidateHostname {
                trustedChain = true
                reason =
                    isIPLiteral(host)
                    ? "is signed by an authority this system trusts, but does not name the address \(host)"
                    : "is signed by an authority this system trusts, but for another name than \(host)"
            } catch {}
        }
        var anyCertificate = TLSConfiguration.makeClientConfiguration()
        anyCertificate.certificateVerification = .none
        let leaf: NIOSSLCertificate
        do {
            guard let certificate = try await probe(host: host, port: port, anyCertificate) else {
                throw TLSTrustError("the server at \(host):\(port) sent no certificate")
            }
            leaf = certificate
        } catch let error as TLSTrustError {
            throw error
        } catch {
            throw TLSTrustError("cannot reach \(host):\(port) over TLS: \(ConnectionFailure(error))")
        }
        let fingerprint = try Self.fingerprint(leaf)
        let selfSigned = leaf.subjectName == leaf.issuerName
        if remembered == nil, !selfSigned, !trustedChain {
            // Only a self-signed certificate can be the one trust root of a pinned connection.
            throw TLSTrustError(
                """
                the certificate of \(key) (\(fingerprint)) is issued by an authority this system does not \
                trust; pass that authority's certificate with --ca FILE
                """
            )
        }
        switch remembered {
        case fingerprint?:
            break
        case let remembered?:
            throw TLSTrustError(
                """
                WARNING: the certificate of \(key) has CHANGED.
                  remembered: \(remembered)
                  now:        \(fingerprint)
                Someone may be intercepting the connection, or the server got a new certificate. \
                Refusing to connect. If the operator confirms the new fingerprint, remove the line for \(key) \
                from \(knownServers.path) and connect again.
                """
            )
        case nil:
            guard await confirm(UnverifiedCertificate(host: key, fingerprint: fingerprint, reason: reason)) else {
                throw TLSTrustError(
                    "the certificate of \(key) (\(fingerprint)) \(reason); use --ca FILE or accept it when asked"
                )
            }
            try knownServers.remember(fingerprint, for: key)
        }
        if selfSigned { return pinned(leaf) }
        // A certificate from a trusted authority for another name: the connection checks it as
        // if that name had been given (the chain and the name), as the fingerprint was above.
        guard let name = dnsName(in: leaf) else {
            throw TLSTrustError("the certificate of \(key) (\(fingerprint)) names no host; use --ca FILE")
        }
        return ClientTLSConfiguration(verified, serverName: name)
    }

    /// A configuration that accepts exactly the self-signed `leaf`: it is the only trust root,
    /// and no name is checked (the fingerprint stands for the server).
    static func pinned(_ leaf: NIOSSLCertificate) -> ClientTLSConfiguration {
        var pinned = TLSConfiguration.makeClientConfiguration()
        pinned.trustRoots = .certificates([leaf])
        pinned.certificateVerification = .noHostnameVerification
        return ClientTLSConfiguration(pinned)
    }

    /// The first DNS name in the certificate's subjectAltName (a wildcard's `*` filled in).
    static func dnsName(in certificate: NIOSSLCertificate) -> String? {
        for name in certificate._subjectAlternativeNames() where name.nameType == .dnsName {
            let text = String(decoding: Array(name.contents), as: UTF8.self)
            guard !text.isEmpty, text.allSatisfy({ $0.isASCII }) else { continue }
            return text.hasPrefix("*.") ? "pinned" + text.dropFirst() : text
        }
        return nil
    }

    /// `SHA256:` and the hex SHA-256 of the certificate's DER encoding.
    ///
    /// - Parameters:
    ///   - certificate: the certificate.
    package static func fingerprint(_ certificate: NIOSSLCertificate) throws -> String {
        let der = try certificate.toDERBytes()
        return "SHA256:" + SHA256.hash(data: der).map { String(format: "%02x", $0) }.joined()
    }

    /// The TLS server name to send: the URL's host, or a placeholder for an IP
    /// address (SNI cannot carry one; chat-server ignores SNI).
    ///
    /// - Parameters:
    ///   - url: the server URL.
    package static func sniHostname(for url: String) -> String? {
        guard let host = try? endpoint(url).host, isIPLiteral(host) else { return nil }
        return ipPlaceholderName
    }

    static func isIPLiteral(_ host: String) -> Bool {
        host.contains(":") || host.allSatisfy { $0 == "." || ($0.isASCII && $0.isNumber) }
    }

    static func endpoint(_ url: String) throws -> (host: String, port: Int) {
        guard let parsed = URL(string: url), let host = parsed.host, !host.isEmpty else {
            throw TLSTrustError("not a server URL: \(url)")
        }
        return (host, parsed.port ?? 443)
    }

    /// Completes a TLS handshake and returns the server's leaf certificate.
    private static func probe(host: String, port: Int, _ tls: TLSConfiguration) async throws -> NIOSSLCertificate? {
        let context = try NIOSSLContext(configuration: tls)
        let handshake = MultiThreadedEventLoopGroup.singleton.any().makePromise(of: Void.self)
        let channel: any Channel
        do {
            channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connectTimeout(.seconds(10))
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(
                            NIOSSLClientHandler(
                                context: context,
                                serverHostname: isIPLiteral(host) ? ipPlaceholderName : host
                            )
                        )
                        try channel.pipeline.syncOperations.addHandler(HandshakeWatcher(promise: handshake))
                    }
                }
                .connect(host: host, port: port).get()
        } catch {
            handshake.fail(error)
            throw error
        }
        defer { channel.close(promise: nil) }
        try await handshake.futureResult.get()
        return try await channel.nioSSL_peerCertificate().get()
    }
}

/// Resolves when the TLS handshake completes, fails when the channel errors or closes first.
private final class HandshakeWatcher: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    let promise: EventLoopPromise<Void>

    init(promise: EventLoopPromise<Void>) { self.promise = promise }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case TLSUserEvent.handshakeCompleted = event { promise.succeed() }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        promise.fail(error)
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        promise.fail(TLSTrustError("the connection closed during the TLS handshake"))
        context.fireChannelInactive()
    }
}

/// A certificate nothing vouches for, shown to the user before it is trusted on first use.
package struct UnverifiedCertificate: Sendable, Equatable {
    /// `host:port` as written in `known_servers`.
    package var host: String
    /// `SHA256:` and the hex SHA-256 of the certificate.
    package var fingerprint: String
    /// Why it needs the user's word, e.g. "is not signed by an authority this system trusts".
    package var reason: String

    /// Creates a question.
    ///
    /// - Parameters:
    ///   - host: `host:port`.
    ///   - fingerprint: `SHA256:…`.
    ///   - reason: a phrase that follows "The server's certificate".
    package init(host: String, fingerprint: String, reason: String) {
        self.host = host
        self.fingerprint = fingerprint
        self.reason = reason
    }
}

/// Why a `wss://` server is not trusted.
package struct TLSTrustError: Error, CustomStringConvertible {
    package let description: String
    package init(_ description: String) { self.description = description }
}

/// Remembered certificate fingerprints, one `host:port SHA256:…` per line, in
/// `$XDG_CONFIG_HOME/chat/known_servers` (mode 0600).
package struct KnownServers: Sendable {
    package let path: String

    /// The file next to the token store.
    package static var standard: KnownServers {
        let environment = ProcessInfo.processInfo.environment
        let base =
            environment["XDG_CONFIG_HOME"].flatMap { $0.isEmpty ? nil : $0 }
            ?? (environment["HOME"] ?? NSHomeDirectory()) + "/.config"
        return KnownServers(path: base + "/chat/known_servers")
    }

    package init(path: String) { self.path = path }

    /// The remembered fingerprint for `host:port`.
    ///
    /// - Parameters:
    ///   - key: `host:port`.
    package func fingerprint(for key: String) -> String? {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: " ", omittingEmptySubsequences: true)
            if parts.count >= 2, parts[0] == key { return String(parts[1]) }
        }
        return nil
    }

    /// Remembers a fingerprint (appends a line; the file is created 0600).
    ///
    /// - Parameters:
    ///   - fingerprint: `SHA256:…`.
    ///   - key: `host:port`.
    package func remember(_ fingerprint: String, for key: String) throws {
        let directory = (path as NSString).deletingLastPathComponent
        try FileManager.default.createDirectory(
            atPath: directory,
            withIntermediateDirectories: true,
            attributes: [.posixPermissions: 0o700]
        )
        let existing = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
        let kept = existing.split(separator: "\n").filter { !$0.hasPrefix(key + " ") }.map(String.init)
        let text = (kept + ["\(key) \(fingerprint)"]).joined(separator: "\n") + "\n"
        guard
            FileManager.default.createFile(
                atPath: path,
                contents: Data(text.utf8),
                attributes: [.posixPermissions: 0o600]
            )
        else { throw TLSTrustError("cannot write \(path)") }
    }
}
