import ChatClient
import ChatConformance
import ChatCore
import ChatServer
import Foundation
import Logging
import Synchronization
import Testing

/// Certificates made with openssl at run time (no key material in the repository).
struct TLSFixture {
    let directory: String

    var selfSigned: ServerConfiguration.TLSFiles {
        .init(certificateChain: path("self.crt"), privateKey: path("self.key"))
    }
    var otherSelfSigned: ServerConfiguration.TLSFiles {
        .init(certificateChain: path("other.crt"), privateKey: path("other.key"))
    }
    var issuedByCA: ServerConfiguration.TLSFiles {
        .init(certificateChain: path("leaf.crt"), privateKey: path("leaf.key"))
    }
    var caCertificate: String { path("ca.crt") }

    func path(_ name: String) -> String { directory + "/" + name }

    static func make() throws -> TLSFixture {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("chat-tls-\(UUID().uuidString)")
            .path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let fixture = TLSFixture(directory: directory)
        let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        let san = "subjectAltName=DNS:localhost,IP:127.0.0.1"
        for name in ["self", "other"] {
            try openssl(
                ["req", "-x509"] + ec + [
                    "-keyout", fixture.path("\(name).key"), "-out", fixture.path("\(name).crt"), "-days", "2",
                    "-subj", "/CN=localhost", "-addext", san,
                ]
            )
        }
        try openssl(
            ["req", "-x509"] + ec + [
                "-keyout", fixture.path("ca.key"), "-out", fixture.path("ca.crt"), "-days", "2", "-subj",
                "/CN=chat test CA", "-addext", "basicConstraints=critical,CA:TRUE", "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
            ]
        )
        try openssl(
            ["req"] + ec + [
                "-keyout", fixture.path("leaf.key"), "-out", fixture.path("leaf.csr"), "-subj", "/CN=localhost",
            ]
        )
        try Data("\(san)\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n".utf8)
            .write(to: URL(fileURLWithPath: fixture.path("leaf.ext")))
        try openssl([
            "x509", "-req", "-in", fixture.path("leaf.csr"), "-CA", fixture.path("ca.crt"), "-CAkey",
            fixture.path("ca.key"), "-CAcreateserial", "-out", fixture.path("leaf.crt"), "-days", "2", "-extfile",
            fixture.path("leaf.ext"),
        ])
        return fixture
    }

    /// The SHA-256 fingerprint as openssl computes it, in our `SHA256:hex` form.
    func opensslFingerprint(_ certificate: String) throws -> String {
        let out = try Self.openssl(["x509", "-noout", "-fingerprint", "-sha256", "-in", certificate])
        guard let hex = out.split(separator: "=").last else { throw WireError("no fingerprint in \(out)") }
        return "SHA256:"
            + hex.replacingOccurrences(of: ":", with: "").trimmingCharacters(in: .whitespacesAndNewlines)
            .lowercased()
    }

    @discardableResult
    static func openssl(_ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["openssl"] + arguments
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        try process.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw WireError("openssl \(arguments.prefix(2).joined(separator: " ")) failed")
        }
        return String(decoding: data, as: UTF8.self)
    }

    func remove() { try? FileManager.default.removeItem(atPath: directory) }
}

@Suite("TLS (wss://)", .serialized)
struct TLSTests {
    static func configuration(_ files: ServerConfiguration.TLSFiles) -> ServerConfiguration {
        var configuration = TestServer.conformanceConfiguration
        configuration.tls = files
        return configuration
    }

    /// Registers a new user over `url` with `tls`; returns the ack of one sent message, or throws.
    static func registerAndSend(url: String, tls: ClientTLSConfiguration?) async throws -> Int64 {
        var configuration = ChatClientConfiguration(
            url: url,
            user: "tls\(UInt32.random(in: 0...UInt32.max))",
            credentials: .register("correct horse battery"),
            reconnect: false
        )
        configuration.tls = tls
        let client = ChatClient(configuration: configuration, logger: Logger(label: "tls-client"))
        return try await withThrowingTaskGroup(of: Int64?.self) { group in
            group.addTask {
                await client.run()
                return nil
            }
            group.addTask {
                defer { Task { await client.stop() } }
                try await client.waitUntilReady()
                _ = try await client.join("secure")
                return try await client.send("secure", text: "over TLS", kind: .text).seq
            }
            while let result = try await group.next() {
                if let result {
                    group.cancelAll()
                    return result
                }
            }
            throw WireError("the client stopped before the message was acknowledged")
        }
    }

    @Test("trust on first use: the fingerprint is asked once, remembered, and a changed certificate is refused")
    func trustOnFirstUse() async throws {
        let fixture = try TLSFixture.make()
        defer { fixture.remove() }
        let known = KnownServers(path: fixture.path("config/chat/known_servers"))
        let expected = try fixture.opensslFingerprint(fixture.selfSigned.certificateChain)
        try await TestServer.with(Self.configuration(fixture.selfSigned)) { server in
            let url = "wss://127.0.0.1:\(server.port)/v1/ws"
            let asked = Mutex<[String]>([])
            let tls = try await TLSTrust.configuration(for: url, caFile: nil, knownServers: known) { certificate in
                asked.withLock { $0.append(certificate.fingerprint) }
                return true
            }
            #expect(asked.withLock { $0 } == [expected], "asked with the certificate's SHA-256 fingerprint")
            #expect(known.fingerprint(for: "127.0.0.1:\(server.port)") == expected)
            let attributes = try FileManager.default.attributesOfItem(atPath: known.path)
            #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600)
            #expect(try await Self.registerAndSend(url: url, tls: tls) == 1)

            // The second time nothing is asked.
            let again = try await TLSTrust.configuration(for: url, caFile: nil, knownServers: known) { _ in
                Issue.record("asked again for a remembered certificate")
                return false
            }
            #expect(try await Self.registerAndSend(url: url, tls: again) == 2)

        }
        try await TestServer.with(Self.configuration(fixture.otherSelfSigned)) { server in
            let url = "wss://127.0.0.1:\(server.port)/v1/ws"
            // Pretend this host:port used to present the first certificate.
            try known.remember(expected, for: "127.0.0.1:\(server.port)")
            do {
                _ = try await TLSTrust.configuration(for: url, caFile: nil, knownServers: known) { _ in true }
                Issue.record("a changed certificate was accepted")
            } catch let error as TLSTrustError {
                #expect(error.description.contains("CHANGED"))
                #expect(error.description.contains(expected))
            }
            // Declining an unknown certificate: nothing is remembered, nothing connects.
            let fresh = KnownServers(path: fixture.path("fresh/known_servers"))
            await #expect(throws: TLSTrustError.self) {
                _ = try await TLSTrust.configuration(for: url, caFile: nil, knownServers: fresh) { _ in false }
            }
            #expect(!FileManager.default.fileExists(atPath: fresh.path))
        }
    }

    @Test("--ca: a certificate issued by the CA is verified with the host name; a self-signed one is refused")
    func certificateAuthority() async throws {
        let fixture = try TLSFixture.make()
        defer { fixture.remove() }
        let known = KnownServers(path: fixture.path("known_servers"))
        try await TestServer.with(Self.configuration(fixture.issuedByCA)) { server in
            let url = "wss://localhost:\(server.port)/v1/ws"
            let tls = try await TLSTrust.configuration(for: url, caFile: fixture.caCertificate, knownServers: known) {
                _ in
                Issue.record("asked although a CA was given")
                return false
            }
            #expect(try await Self.registerAndSend(url: url, tls: tls) == 1)
        }
        try await TestServer.with(Self.configuration(fixture.selfSigned)) { server in
            let url = "wss://localhost:\(server.port)/v1/ws"
            let tls = try await TLSTrust.configuration(for: url, caFile: fixture.caCertificate, knownServers: known) {
                _ in false
            }
            await #expect(throws: (any Error).self) { try await Self.registerAndSend(url: url, tls: tls) }
        }
    }

    @Test("unusable TLS files stop the start with a message naming the file")
    func badFiles() throws {
        let fixture = try TLSFixture.make()
        defer { fixture.remove() }
        func message(_ files: ServerConfiguration.TLSFiles) -> String {
            do {
                _ = try makeServerTLSConfiguration(files)
                return "accepted"
            } catch {
                return "\(error)"
            }
        }
        #expect(message(fixture.selfSigned) == "accepted")
        let missing = fixture.path("missing.crt")
        #expect(message(.init(certificateChain: missing, privateKey: fixture.selfSigned.privateKey)).contains(missing))
        let mismatched = message(
            .init(certificateChain: fixture.selfSigned.certificateChain, privateKey: fixture.otherSelfSigned.privateKey)
        )
        #expect(mismatched.contains("cannot be used together"), "\(mismatched)")
        // A key file that holds a certificate.
        let notAKey = message(
            .init(certificateChain: fixture.selfSigned.certificateChain, privateKey: fixture.caCertificate)
        )
        #expect(notAKey.contains("private key"), "\(notAKey)")
    }
}
