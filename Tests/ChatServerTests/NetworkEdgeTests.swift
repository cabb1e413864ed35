import ChatConformance
import ChatCore
import ChatServer
import Foundation
import Logging
import NIOCore
import ServiceLifecycle
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The network edge: every TCP connection counts against the connection limits, idle HTTP
/// keep-alive connections are closed, a trusted proxy's `X-Forwarded-For` names the client,
/// the `Origin` check on the upgrade, and who may read `/metrics`.
@Suite("Network edge", .serialized)
struct NetworkEdgeTests {
    typealias RawSocket = HostileClientTests.RawSocket

    static let healthz = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"

    /// A raw HTTP/1.1 WebSocket upgrade request with extra header lines.
    static func upgradeRequest(_ headers: [String] = []) -> String {
        var request = "GET /v1/ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        request += "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
        for header in headers { request += header + "\r\n" }
        return request + "\r\n"
    }

    /// Sends `request` on a new connection and reads the response head (and a Content-Length
    /// body); the connection stays open (an upgraded one holds its place) until `close()`.
    static func exchange(port: Int, _ request: String) throws -> (socket: RawSocket, status: Int, body: String) {
        let socket = try RawSocket(port: port)
        guard socket.send(request), let (status, body) = socket.response(within: 10_000) else {
            return (socket, 0, "")
        }
        return (socket, status, body)
    }

    // MARK: Item 2: every connection counts; idle keep-alive is closed

    @Test("idle HTTP keep-alive connections count against the per-address limit; extra ones are closed unread")
    func idleKeepAliveCounts() async throws {
        try await TestServer.with(.conformance { $0.maxConnectionsPerAddress = 3 }) { server in
            // Three keep-alive connections that asked for /healthz once and then sit idle.
            var idle: [RawSocket] = []
            defer { for socket in idle { socket.close() } }
            for _ in 0..<3 {
                let (socket, status, _) = try Self.exchange(port: server.port, Self.healthz)
                idle.append(socket)
                #expect(status == 200)
            }
            // A fourth connection from the same address is over the limit: closed before it is read.
            let extra = try RawSocket(port: server.port)
            defer { extra.close() }
            _ = extra.send(Self.healthz)
            #expect(extra.response(within: 5_000) == nil, "a connection over the limit gets no answer")
            // So is a WebSocket client while the idle ones hold the address's places.
            await #expect(throws: (any Error).self) { try await server.context.connect() }
            // Once they go, their places are free again.
            for socket in idle { socket.close() }
            idle = []
            var accepted = false
            for _ in 0..<100 where !accepted {
                accepted = (try? await server.context.helloClient()) != nil
                if !accepted { try await Task.sleep(for: .milliseconds(20)) }
            }
            #expect(accepted, "a WebSocket client gets in once the idle connections are gone")
        }
    }

    @Test("an idle HTTP keep-alive connection is closed after --http-idle-timeout")
    func idleKeepAliveClosed() async throws {
        try await TestServer.with(.conformance { $0.httpIdleTimeout = .seconds(1) }) { server in
            let (socket, status, _) = try Self.exchange(port: server.port, Self.healthz)
            defer { socket.close() }
            #expect(status == 200)
            #expect(
                await HostileClientTests.offPool { socket.closedByServer(within: 10_000) },
                "the idle keep-alive connection is closed"
            )
        }
    }

    @Test("idle HTTP connections count against the total limit")
    func idleKeepAliveTotal() async throws {
        try await TestServer.with(.conformance { $0.maxConnections = 2 }) { server in
            var idle: [RawSocket] = []
            defer { for socket in idle { socket.close() } }
            for _ in 0..<2 {
                let (socket, status, _) = try Self.exchange(port: server.port, Self.healthz)
                idle.append(socket)
                #expect(status == 200)
            }
            let extra = try RawSocket(port: server.port)
            defer { extra.close() }
            #expect(
                await HostileClientTests.offPool { extra.closedByServer(within: 5_000) },
                "the third connection is closed"
            )
            await #expect(throws: (any Error).self) { try await server.context.connect() }
            #expect(await server.hub.connectionCount == 0)
        }
    }

    // MARK: Item 6: trusted proxies

    static func behindProxy(_ configure: (inout ServerConfiguration) -> Void = { _ in }) -> ServerConfiguration {
        .conformance {
            $0.trustedProxies = [CIDR("127.0.0.0/8")!]
            $0.maxConnectionsPerAddress = 2
            configure(&$0)
        }
    }

    @Test("behind a trusted proxy the per-address limit applies per forwarded client")
    func perForwardedAddress() async throws {
        try await TestServer.with(Self.behindProxy()) { server in
            var open: [RawSocket] = []
            defer { for socket in open { socket.close() } }
            func upgrade(_ client: String) throws -> Int {
                let (socket, status, _) = try Self.exchange(
                    port: server.port,
                    Self.upgradeRequest(["X-Forwarded-For: \(client)"])
                )
                open.append(socket)
                return status
            }
            #expect(try upgrade("198.51.100.7") == 101)
            #expect(try upgrade("203.0.113.1, 198.51.100.7") == 101, "only the right-most untrusted entry counts")
            #expect(try upgrade("198.51.100.7") == 503, "the third from one client is refused")
            #expect(try upgrade("198.51.100.8") == 101, "another client behind the same proxy gets in")
            #expect(try upgrade("198.51.100.9, 127.0.0.1") == 101, "trusted hops on the right are skipped")
            #expect(try upgrade("198.51.100.9") == 101)
            #expect(try upgrade("198.51.100.9:4711") == 503, "a port on the entry does not make it another client")
            // The session runs under the forwarded address: it is what the login throttle sees.
            let client = try await WireClient.connect(
                host: "127.0.0.1",
                port: server.port,
                headers: [("X-Forwarded-For", "2001:db8::5")]
            )
            try expectOK(try await client.request("hello", ["version": 1, "client": "t"]), "hello through the proxy")
        }
    }

    @Test("the login throttle counts per forwarded client behind a trusted proxy")
    func throttlePerForwardedAddress() async throws {
        let configuration = Self.behindProxy {
            $0.loginFreeAttempts = 1
            $0.maxConnectionsPerAddress = 64
        }
        try await TestServer.with(configuration) { server in
            func login(as client: String, user: String) async throws -> String? {
                let wire = try await WireClient.connect(
                    host: "127.0.0.1",
                    port: server.port,
                    headers: [("X-Forwarded-For", client)]
                )
                _ = try await wire.request("hello", ["version": 1, "client": "t"])
                let reply = try await wire.request("login", ["user": .string(user), "password": "wrong-password"])
                return reply["code"]?.stringValue
            }
            // One client guessing names reaches its address's allowance (4 × 1)...
            var codes: [String?] = []
            for attempt in 0..<6 { codes.append(try await login(as: "198.51.100.7", user: "guess\(attempt)")) }
            #expect(codes.contains("rate_limited"), "the guessing client is throttled: \(codes)")
            // ...and another client behind the same proxy is not locked out with it.
            #expect(try await login(as: "198.51.100.8", user: "someone") == "unauthorized")
        }
    }

    @Test("an X-Forwarded-For from a peer that is not a trusted proxy is ignored")
    func untrustedForwardedFor() async throws {
        try await TestServer.with(.conformance { $0.maxConnectionsPerAddress = 2 }) { server in
            var open: [RawSocket] = []
            defer { for socket in open { socket.close() } }
            for client in ["198.51.100.1", "198.51.100.2"] {
                let (socket, status, _) = try Self.exchange(
                    port: server.port,
                    Self.upgradeRequest(["X-Forwarded-For: \(client)"])
                )
                open.append(socket)
                #expect(status == 101)
            }
            // All three come from 127.0.0.1, whatever they claim: the third is over the limit.
            let (third, status, _) = try Self.exchange(
                port: server.port,
                Self.upgradeRequest(["X-Forwarded-For: 198.51.100.3"])
            )
            open.append(third)
            #expect(status == 0, "closed without an answer")
        }
    }

    @Test(
        "a malformed X-Forwarded-For from a trusted proxy is refused with 400; garbage left of the client is never read"
    )
    func malformedForwardedFor() async throws {
        try await TestServer.with(Self.behindProxy()) { server in
            for value in ["not-an-address", "198.51.100.7, bogus", "198.51.100.7,,", "[2001:db8::1]:x", "1.2.3.4.5"] {
                let (socket, status, _) = try Self.exchange(
                    port: server.port,
                    Self.upgradeRequest(["X-Forwarded-For: \(value)"])
                )
                socket.close()
                #expect(status == 400, "X-Forwarded-For: \(value)")
            }
            let (socket, status, _) = try Self.exchange(
                port: server.port,
                Self.upgradeRequest(["X-Forwarded-For: <script>, 198.51.100.7"])
            )
            socket.close()
            #expect(status == 101)
            #expect(try await httpStatus(url: server.url, path: "/healthz") == 200, "the server goes on")
        }
    }

    // MARK: Item 7: Origin

    @Test("an upgrade with an Origin is refused with 403 by default; without one it is accepted")
    func originRefusedByDefault() async throws {
        try await TestServer.with { server in
            let (socket, status, _) = try Self.exchange(
                port: server.port,
                Self.upgradeRequest(["Origin: https://evil.example"])
            )
            defer { socket.close() }
            #expect(status == 403)
            #expect(await server.hub.connectionCount == 0, "no session exists")
            let native = try await server.context.helloClient()
            try expectOK(try await native.request("ping"), "a client without Origin is unaffected")
            // swift-websocket (the `chat` client's library) sends its ws:// URL as Origin: no page has that origin.
            for origin in ["ws://127.0.0.1", "wss://chat.example.org"] {
                let (client, status, _) = try Self.exchange(
                    port: server.port,
                    Self.upgradeRequest(["Origin: \(origin)"])
                )
                client.close()
                #expect(status == 101, "Origin: \(origin)")
            }
        }
    }

    @Test("an allowed origin is accepted; others are still refused")
    func allowedOrigin() async throws {
        try await TestServer.with(.conformance { $0.allowedOrigins = ["https://chat.example.org"] }) { server in
            for (origin, expected) in [
                ("https://chat.example.org", 101), ("HTTPS://Chat.Example.ORG", 101), ("https://evil.example", 403),
                ("null", 403), ("https://chat.example.org:8443", 403),
            ] {
                let (socket, status, _) = try Self.exchange(
                    port: server.port,
                    Self.upgradeRequest(["Origin: \(origin)"])
                )
                socket.close()
                #expect(status == expected, "Origin: \(origin)")
            }
        }
    }

    // MARK: /metrics

    @Test("/metrics on the chat port answers loopback clients only, after X-Forwarded-For from a trusted proxy")
    func metricsLoopbackOnly() async throws {
        let metrics = "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        try await TestServer.with(Self.behindProxy(), metrics: MetricsTests.registry) { server in
            let direct = try Self.exchange(port: server.port, metrics + "\r\n")
            direct.socket.close()
            #expect(direct.status == 200, "a scraper on this machine")
            let proxied = try Self.exchange(port: server.port, metrics + "X-Forwarded-For: 203.0.113.5\r\n\r\n")
            proxied.socket.close()
            #expect(proxied.status == 404, "a remote client through a proxy on loopback")
            let malformed = try Self.exchange(port: server.port, metrics + "X-Forwarded-For: nonsense\r\n\r\n")
            malformed.socket.close()
            #expect(malformed.status == 404)
        }
        try await TestServer.with(metrics: MetricsTests.registry) { server in
            let spoofed = try Self.exchange(port: server.port, metrics + "X-Forwarded-For: 203.0.113.5\r\n\r\n")
            spoofed.socket.close()
            #expect(spoofed.status == 200, "without trusted proxies the header means nothing")
        }
    }

    @Test("with --metrics-listen, /metrics is served there (and nothing else), and no longer on the chat port")
    func metricsListener() async throws {
        var configuration = TestServer.conformanceConfiguration
        configuration.host = "127.0.0.1"
        configuration.port = 0
        configuration.metricsListen = .init(host: "127.0.0.1", port: 0)
        var logger = Logger(label: "test-server")
        logger.logLevel = .critical
        let (ports, continuation) = AsyncStream.makeStream(of: (String, Int).self)
        let app = try await buildApplication(
            configuration,
            logger: logger,
            metrics: MetricsTests.registry,
            onServerRunning: { continuation.yield(("chat", $0.localAddress?.port ?? 0)) },
            onMetricsRunning: { continuation.yield(("metrics", $0.localAddress?.port ?? 0)) }
        )
        let group = ServiceGroup(
            configuration: .init(services: [app.application], gracefulShutdownSignals: [], logger: logger)
        )
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask {
                // A listener that cannot start ends the group: stop waiting for its port then.
                defer { continuation.finish() }
                try await group.run()
            }
            var found: [String: Int] = [:]
            for await (name, port) in ports {
                found[name] = port
                if found.count == 2 { break }
            }
            try #require(found.count == 2, "both listeners started")
            let chat = "ws://127.0.0.1:\(found["chat"] ?? 0)"
            let metrics = "ws://127.0.0.1:\(found["metrics"] ?? 0)"
            let scraped = try await httpGet(url: metrics, path: "/metrics")
            #expect(scraped.status == 200)
            #expect(scraped.body.contains("chat_connections"))
            #expect(
                try await httpStatus(url: metrics, path: "/healthz") == 404,
                "the metrics listener serves only /metrics"
            )
            #expect(try await httpStatus(url: chat, path: "/metrics") == 404, "the chat port serves no /metrics")
            #expect(try await httpStatus(url: chat, path: "/healthz") == 200)
            await app.hub.shutdownConnections(timeout: .milliseconds(500))
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
    }

    @Test("a flood of refused connections is logged once per interval, with the count of the unlogged ones")
    func refusalLogThrottle() {
        let lines = LineCollector()
        var logger = Logger(label: "edge") { _ in lines }
        logger.logLevel = .notice
        let gate = ConnectionGate(maxTotal: 1, maxPerAddress: 1, resolver: ClientAddressResolver(trustedProxies: []))
        for _ in 0..<1000 {
            gate.logRefusal(
                "connection refused: connection limit",
                metadata: ["chat.peer": "192.0.2.1"],
                logger: logger
            )
        }
        #expect(lines.messages.count == 1, "one line for 1,000 refusals")
        #expect(lines.messages.first == "connection refused: connection limit")
    }

    @Test("IP addresses and CIDR ranges parse; loopback is 127/8 and ::1 only")
    func addressParsing() {
        #expect(IPAddress("127.0.0.1")?.isLoopback == true)
        #expect(IPAddress("127.255.0.9")?.isLoopback == true)
        #expect(IPAddress("::1")?.isLoopback == true)
        #expect(IPAddress("::ffff:127.0.0.1")?.isLoopback == true)
        #expect(IPAddress("128.0.0.1")?.isLoopback == false)
        #expect(IPAddress("127.example.com") == nil)
        #expect(IPAddress("2001:DB8:0:0:0:0:0:1")?.description == "2001:db8::1")
        #expect(CIDR("10.0.0.0/8")?.contains(IPAddress("10.200.3.4")!) == true)
        #expect(CIDR("10.0.0.0/8")?.contains(IPAddress("11.0.0.1")!) == false)
        #expect(CIDR("192.0.2.128/25")?.contains(IPAddress("192.0.2.127")!) == false)
        #expect(CIDR("192.0.2.128/25")?.contains(IPAddress("192.0.2.200")!) == true)
        #expect(CIDR("fd00::/8")?.contains(IPAddress("fd12::1")!) == true)
        #expect(CIDR("fd00::/8")?.contains(IPAddress("10.0.0.1")!) == false)
        #expect(CIDR("::ffff:10.0.0.0/104")?.contains(IPAddress("10.1.2.3")!) == true)
        #expect(CIDR("203.0.113.7")?.contains(IPAddress("203.0.113.7")!) == true)
        for bad in ["10.0.0.0/33", "10.0.0.0/", "nonsense/8", "::/129", "10.0.0.0/-1", ""] {
            #expect(CIDR(bad) == nil, "\(bad)")
        }
        #expect(ServerConfiguration.ListenAddress("127.0.0.1:9100") == .init(host: "127.0.0.1", port: 9100))
        #expect(ServerConfiguration.ListenAddress("[::1]:9100") == .init(host: "::1", port: 9100))
        #expect(ServerConfiguration.ListenAddress("::1:9100") == nil)
        #expect(ServerConfiguration.ListenAddress("host:70000") == nil)
    }
}

extension HostileClientTests.RawSocket {
    /// Reads one HTTP response head (and a Content-Length body); nil when the server closed the
    /// connection or said nothing within `milliseconds`.
    func response(within milliseconds: Int32) -> (status: Int, body: String)? {
        var received: [UInt8] = []
        var waited: Int32 = 0
        while waited < milliseconds {
            var descriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            if poll(&descriptor, 1, 50) > 0 {
                var buffer = [UInt8](repeating: 0, count: 4096)
                let count = recv(fd, &buffer, buffer.count, 0)
                if count <= 0 { return nil }
                received += buffer[0..<count]
                let text = String(decoding: received, as: UTF8.self)
                if let end = text.range(of: "\r\n\r\n") {
                    let head = text[..<end.lowerBound]
                    let status = Int(head.split(separator: " ").dropFirst().first ?? "") ?? 0
                    let length =
                        head.split(separator: "\r\n").first { $0.lowercased().hasPrefix("content-length:") }
                        .flatMap { Int($0.dropFirst(15).trimmingCharacters(in: .whitespaces)) } ?? 0
                    let body = text[end.upperBound...]
                    if body.utf8.count >= length { return (status, String(body)) }
                }
            } else {
                waited += 50
            }
        }
        return nil
    }
}

/// A log handler that keeps the messages (for assertions on what is logged).
final class LineCollector: LogHandler, @unchecked Sendable {
    // @unchecked: `lines` is guarded by `lock`; the handler's own settings are set before use.
    private let lock = NSLock()
    private var lines: [String] = []
    var logLevel: Logger.Level = .trace
    var metadata: Logger.Metadata = [:]

    var messages: [String] { lock.withLock { lines } }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        lock.withLock { lines.append(event.message.description) }
    }
}
