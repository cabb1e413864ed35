import ChatClient
import ChatServer
import Foundation
import Synchronization
import Testing

extension TLSFixture {
    /// A certificate issued by the fixture's CA with the given subjectAltName, e.g.
    /// `DNS:chat.example` (no IP address) or `IP:127.0.0.1`.
    func issue(_ name: String, subjectAltName san: String) throws -> ServerConfiguration.TLSFiles {
        let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        try Self.openssl(
            ["req"] + ec + ["-keyout", path("\(name).key"), "-out", path("\(name).csr"), "-subj", "/CN=\(name)"]
        )
        try Data("subjectAltName=\(san)\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n".utf8)
            .write(to: URL(fileURLWithPath: path("\(name).ext")))
        try Self.openssl([
            "x509", "-req", "-in", path("\(name).csr"), "-CA", caCertificate, "-CAkey", path("ca.key"),
            "-CAcreateserial", "-out", path("\(name).crt"), "-days", "2", "-extfile", path("\(name).ext"),
        ])
        return .init(certificateChain: path("\(name).crt"), privateKey: path("\(name).key"))
    }
}

/// Issue 21 item 4: what a certificate the "system" trusts proves for an IP address, and that a
/// remembered fingerprint wins over it. The fixture's CA plays the system trust store.
@Suite("TLS trust for IP addresses and pinned certificates", .serialized)
struct TLSTrustTests {
    /// Asks nothing and records the question; answers `answer`.
    final class Questions: Sendable {
        let asked = Mutex<[UnverifiedCertificate]>([])
        let answer: Bool
        init(answer: Bool) { self.answer = answer }
        func confirm(_ certificate: UnverifiedCertificate) -> Bool {
            asked.withLock { $0.append(certificate) }
            return answer
        }
        var all: [UnverifiedCertificate] { asked.withLock { $0 } }
    }

    @Test("wss:// to an IP: a CA-trusted certificate for another name is not accepted silently")
    func ipHostCertificateForAnotherName() async throws {
        let fixture = try TLSFixture.make()
        defer { fixture.remove() }
        let other = try fixture.issue("other-name", subjectAltName: "DNS:chat.example")
        let expected = try fixture.opensslFingerprint(other.certificateChain)
        let system = fixture.caCertificate
        try await TestServer.with(TLSTests.configuration(other)) { server in
            let url = "wss://127.0.0.1:\(server.port)/v1/ws"
            // Declined: nothing is trusted, nothing remembered.
            let declined = Questions(answer: false)
            let known = KnownServers(path: fixture.path("declined/known_servers"))
            await #expect(throws: TLSTrustError.self) {
                _ = try await TLSTrust.configuration(
                    for: url,
                    caFile: nil,
                    knownServers: known,
                    systemTrustStore: system,
                    confirm: declined.confirm
                )
            }
            #expect(declined.all.map(\.fingerprint) == [expected], "the user is asked, with the fingerprint")
            #expect(declined.all.first?.reason.contains("does not name the address 127.0.0.1") == true)
            #expect(!FileManager.default.fileExists(atPath: known.path))

            // Accepted: remembered, and the pinned configuration connects.
            let accepted = Questions(answer: true)
            let remembered = KnownServers(path: fixture.path("accepted/known_servers"))
            let tls = try await TLSTrust.configuration(
                for: url,
                caFile: nil,
                knownServers: remembered,
                systemTrustStore: system,
                confirm: accepted.confirm
            )
            #expect(accepted.all.count == 1)
            #expect(tls?.serverName == "chat.example", "the connection checks the certificate for its own name")
            #expect(remembered.fingerprint(for: "127.0.0.1:\(server.port)") == expected)
            #expect(try await TLSTests.registerAndSend(url: url, tls: tls) == 1)
        }
    }

    @Test("wss:// to an IP: a CA-trusted certificate naming the IP is accepted; the connection checks the IP too")
    func ipHostCertificateNamingTheIP() async throws {
        let fixture = try TLSFixture.make()
        defer { fixture.remove() }
        let system = fixture.caCertificate
        let known = KnownServers(path: fixture.path("known_servers"))
        let questions = Questions(answer: false)
        let tls = try await TestServer.with(TLSTests.configuration(fixture.issuedByCA)) { server in
            let url = "wss://127.0.0.1:\(server.port)/v1/ws"
            let tls = try await TLSTrust.configuration(
                for: url,
                caFile: nil,
                knownServers: known,
                systemTrustStore: system,
                confirm: questions.confirm
            )
            #expect(try await TLSTests.registerAndSend(url: url, tls: tls) == 1)
            return tls
        }
        #expect(questions.all.isEmpty, "a certificate naming the IP needs no question")
        #expect(!FileManager.default.fileExists(atPath: known.path))
        // The configuration itself refuses a CA-trusted certificate for another name at that
        // address (a server swapped between the check and the connection).
        let other = try fixture.issue("swapped", subjectAltName: "DNS:chat.example")
        try await TestServer.with(TLSTests.configuration(other)) { server in
            let url = "wss://127.0.0.1:\(server.port)/v1/ws"
            await #expect(throws: (any Error).self) { try await TLSTests.registerAndSend(url: url, tls: tls) }
        }
    }

    @Test(
        "a remembered fingerprint wins: another certificate, even a CA-trusted one for the right name or IP, is refused",
        arguments: ["127.0.0.1", "localhost"]
    )
    func pinnedFingerprintChanged(host: String) async throws {
        let fixture = try TLSFixture.make()
        defer { fixture.remove() }
        let system = fixture.caCertificate
        let known = KnownServers(path: fixture.path("known_servers"))
        let pinned = try fixture.opensslFingerprint(fixture.selfSigned.certificateChain)
        let now = try fixture.opensslFingerprint(fixture.issuedByCA.certificateChain)
        try await TestServer.with(TLSTests.configuration(fixture.issuedByCA)) { server in
            let url = "wss://\(host):\(server.port)/v1/ws"
            try known.remember(pinned, for: "\(host):\(server.port)")
            let questions = Questions(answer: true)
            do {
                _ = try await TLSTrust.configuration(
                    for: url,
                    caFile: nil,
                    knownServers: known,
                    systemTrustStore: system,
                    confirm: questions.confirm
                )
                Issue.record("a certificate other than the remembered one was accepted")
            } catch let error as TLSTrustError {
                #expect(error.description.contains("has CHANGED"), "\(error)")
                #expect(error.description.contains(pinned) && error.description.contains(now))
                #expect(error.description.contains(known.path), "says which line to remove")
            }
            #expect(questions.all.isEmpty, "a changed certificate is refused, not asked about")
            #expect(known.fingerprint(for: "\(host):\(server.port)") == pinned, "the pin is kept")
        }
    }
}
