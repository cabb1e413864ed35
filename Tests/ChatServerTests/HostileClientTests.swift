import ChatConformance
import ChatCore
import ChatServer
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Hostile clients against a live server: each gets the contract's answer (or is
/// cut off), and the server keeps serving everyone else.
@Suite("Hostile clients", .serialized)
struct HostileClientTests {
    /// A raw TCP socket to the server, for clients that never finish a handshake.
    struct RawSocket {
        let fd: Int32

        init(port: Int) throws {
            fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            address.sin_port = in_port_t(UInt16(port).bigEndian)
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
                }
            }
            guard connected else {
                Glibc.close(fd)
                throw WireError("cannot connect to port \(port)")
            }
        }

        /// Sends bytes; false once the server has closed the connection.
        func send(_ text: String) -> Bool {
            let bytes = Array(text.utf8)
            return bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                == bytes.count
        }

        /// Whether the server closed the connection within `milliseconds` (reads and drops any bytes).
        func closedByServer(within milliseconds: Int32) -> Bool {
            var waited: Int32 = 0
            while waited < milliseconds {
                var descriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                if poll(&descriptor, 1, 50) > 0 {
                    var buffer = [UInt8](repeating: 0, count: 4096)
                    if recv(fd, &buffer, buffer.count, 0) <= 0 { return true }
                }
                waited += 50
            }
            return false
        }

        func close() { _ = Glibc.close(fd) }
    }

    /// Runs blocking socket work on a thread of its own: on the cooperative pool (two threads on
    /// this machine) seconds of `poll` starve every in-process server of the run beside it.
    static func offPool<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            Thread.detachNewThread { continuation.resume(returning: work()) }
        }
    }

    @Test("a connection that never completes its handshake is closed at the deadline (slowloris)")
    func handshakeDeadline() async throws {
        // 1 s: long enough for a good client's upgrade on a loaded machine, far below the slow one's 26 s.
        try await TestServer.with(.conformance { $0.handshakeTimeout = .seconds(1) }) { server in
            // An upgraded client connected before the slow ones stays usable well past the deadline.
            let good = try await server.context.helloClient()

            let silent = try RawSocket(port: server.port)
            defer { silent.close() }
            #expect(await Self.offPool { silent.closedByServer(within: 5_000) }, "a silent connection is closed")

            // A byte of the request every 100 ms: it never completes, so it is closed.
            let slow = try RawSocket(port: server.port)
            defer { slow.close() }
            let request =
                "GET /v1/ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nX-Padding: "
                + String(repeating: "a", count: 200)
            let closed = await Self.offPool {
                for character in request {
                    if !slow.send(String(character)) || slow.closedByServer(within: 100) { return true }
                }
                return false
            }
            #expect(closed, "a slowloris connection is closed before it sends its 260-byte request head")

            try expectOK(try await good.request("ping"), "an established connection is not affected")
            // A complete HTTP request is answered (and not cut by the guard).
            #expect(try await httpStatus(url: server.url, path: "/healthz") == 200)
        }
    }

    @Test("a client that does not answer WebSocket pings is closed; one that answers stays")
    func pingTimeout() async throws {
        try await TestServer.with(.conformance { $0.pingInterval = .seconds(1) }) { server in
            let silent = try await server.context.helloClient()
            let lively = try await server.context.helloClient()
            // `lively` answers on its event loop as pings arrive, as a real client does, so a
            // loaded machine that leaves this task unscheduled for a second does not fail it.
            // `silent` answers only while it is read, and it is not read for 3.6 s.
            lively.answersPingsAtOnce = true
            for _ in 0..<18 {
                try await Task.sleep(for: .milliseconds(200))
                try expectOK(try await lively.request("ping"), "the answering client is served")
            }
            let answered = try? await silent.request("ping")
            let closed = answered?["type"]?.stringValue != "ok"
            #expect(closed, "the silent client was closed")
        }
    }

    @Test("10,000 pipelined requests are all answered in order; a pipeliner that never reads is cut off (4001)")
    func pipelining() async throws {
        // Room for all 10,000 replies while the client is still writing (the bound is the queue limit).
        try await TestServer.with(.conformance { $0.outboundQueueLimit = 16_384 }) { server in
            let ctx = server.context
            let alice = try await ctx.newUser("pipe")
            for i in 0..<10_000 {
                do {
                    try await alice.client.send(["type": "ping", "id": .string("p\(i)")])
                } catch {
                    Issue.record(
                        "write \(i) failed: \(error); close code \(String(describing: try? await alice.client.waitForClose()))"
                    )
                    return
                }
            }
            for i in 0..<10_000 {
                let reply = try await alice.client.nextObject()
                guard reply["id"]?.stringValue == "p\(i)", reply["type"]?.stringValue == "ok" else {
                    Issue.record("reply \(i) was \(reply)")
                    return
                }
            }
        }
        try await TestServer.with { server in
            let ctx = server.context
            let alice = try await ctx.newUser("pipe")
            let user = try await ctx.newUser("greedy")
            // A small fixed receive buffer: left to itself the kernel grows it to tens of megabytes
            // here (tcp_rmem), enough to swallow every reply, and the client would never be slow.
            let greedy = try await WireClient.connect(url: ctx.url, receiveBuffer: 16 << 10)
            _ = try await greedy.call(ConformanceContext.hello, as: HelloReply.self, "hello")
            _ = try await greedy.call(Request.resume(token: user.token), as: AuthReply.self, "resume")
            try await greedy.setReading(false)
            var cutOff = false
            for i in 0..<60_000 where !cutOff {
                // 64-character ids (the most allowed) make each reply about 100 bytes.
                let id = String("\(i)-".padding(toLength: 64, withPad: "p", startingAt: 0))
                do {
                    try await greedy.send(["type": "ping", "id": .string(id)])
                } catch {
                    cutOff = true
                }
            }
            try? await greedy.setReading(true)  // the channel may be closed already
            let code = try await greedy.waitForClose()
            #expect(code == 4001, "closed as a slow consumer, not served without bound")
            try expectOK(try await alice.client.request("ping"), "others are still served")
        }
    }

    @Test("join and typing floods get forbidden / rate_limited; peers see a bounded number of typing events")
    func floods() async throws {
        try await TestServer.with(
            .conformance {
                $0.maxRoomsPerUser = 20
                $0.roomCreationPerMinute = 10
                $0.limits.rateBurst = 5
                $0.limits.ratePerSec = 1
            }
        ) { server in
            let ctx = server.context
            let flooder = try await ctx.newUser("flood")
            var codes: [String: Int] = [:]
            for i in 0..<500 {
                let reply = try await flooder.client.request("join", ["room": .string(ctx.unique("f\(i)"))])
                codes[reply["type"]?.stringValue == "ok" ? "ok" : reply["code"]?.stringValue ?? "?", default: 0] += 1
            }
            #expect(codes["ok"] == 10, "\(codes)")
            #expect(codes["rate_limited"] == 490, "\(codes)")

            let (peer, room) = try await ctx.newUserInNewRoom("peer", room: "typing")
            let typist = try await ctx.newUser("typist")
            try await ctx.join(typist.client, room)
            var limited = 0
            for _ in 0..<300 {
                let reply = try await typist.client.request("typing", ["room": .string(room)])
                if reply["code"]?.stringValue == "rate_limited" { limited += 1 }
            }
            #expect(limited >= 290, "\(limited) of 300 typing notices were limited")
            let events = try await peer.client.drainEvents().filter { $0["type"]?.stringValue == "typing" }
            #expect(events.count <= 10, "the peer saw \(events.count) typing events")
            try expectOK(try await peer.client.request("ping"), "the peer is served")
        }
    }
}
