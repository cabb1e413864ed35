import ChatConformance
import ChatCore
import ChatServer
import Foundation
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization
import Testing

/// `--log-format json`: the line format, and what a live server writes.
@Suite("JSON log lines")
struct JSONLogLineTests {
    static func parse(_ line: String) throws -> [String: Any] {
        let object = try JSONSerialization.jsonObject(with: Data(line.utf8))
        return try #require(object as? [String: Any], "a JSON object: \(line)")
    }

    @Test("a line is one JSON object: RFC 3339 time, level, label, message, every metadata key")
    func lineFormat() throws {
        let line = JSONLogHandler.line(
            time: (seconds: 1_796_582_401, nanoseconds: 7_000_000),
            level: .notice,
            label: "chat-server",
            message: "a \"quoted\" message\nwith a newline and \u{1B}[31m, \u{9B}2J and \u{202E}",
            metadata: [
                "chat.conn.id": "42", "chat.list": .array(["a", "b"]), "chat.map": .dictionary(["k": "v"]),
                "message": "must not replace the message",
            ]
        )
        #expect(line.hasSuffix("}\n"))
        #expect(line.dropLast().contains("\n") == false, "one line")
        for raw in ["\u{1B}", "\u{9B}", "\u{202E}"] {
            #expect(!line.unicodeScalars.contains(raw.unicodeScalars.first!), "no raw \(raw.debugDescription)")
        }
        let object = try Self.parse(line)
        #expect(object["time"] as? String == "2026-12-06T18:40:01.007Z")
        #expect(object["level"] as? String == "notice")
        #expect(object["label"] as? String == "chat-server")
        #expect(
            object["message"] as? String == "a \"quoted\" message\nwith a newline and \u{1B}[31m, \u{9B}2J and \u{202E}"
        )
        #expect(object["chat.conn.id"] as? String == "42")
        #expect(object["chat.list"] as? [String] == ["a", "b"])
        #expect((object["chat.map"] as? [String: String]) == ["k": "v"])
    }

    @Test("secret keys are redacted whatever a caller passes")
    func redaction() throws {
        let line = JSONLogHandler.line(
            time: (0, 0),
            level: .info,
            label: "x",
            message: "m",
            metadata: ["password": "hunter2", "chat.token": "tok", "chat.text": "hello", "chat.secret": "s"]
        )
        for secret in ["hunter2", "tok\"", "hello", "\"s\""] { #expect(!line.contains(secret), "\(line)") }
        let object = try Self.parse(line)
        #expect(object["password"] as? String == "<redacted>")
        #expect(object["chat.token"] as? String == "<redacted>")
    }

    @Test("a handler writes through its sink, with the handler's and the call's metadata")
    func handler() throws {
        let sink = LogSink.capturing()
        var logger = Logger(label: "t") { JSONLogHandler(label: $0, sink: sink) }
        logger.logLevel = .debug
        logger[metadataKey: "chat.conn.id"] = "7"
        logger.debug("request", metadata: ["chat.request.type": "send"])
        logger.trace("not written")
        #expect(sink.lines.count == 1)
        let object = try Self.parse(try #require(sink.lines.first))
        #expect(object["chat.conn.id"] as? String == "7")
        #expect(object["chat.request.type"] as? String == "send")
        #expect(object["level"] as? String == "debug")
    }

    @Test("the JSON lines shown in docs/OPERATIONS.md parse and carry the documented fields")
    func documentedExample() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let doc = try String(contentsOf: root.appendingPathComponent("docs/OPERATIONS.md"), encoding: .utf8)
        let marker = try #require(doc.range(of: "<!-- json-log-example -->"), "the example is marked")
        let rest = doc[marker.upperBound...]
        let open = try #require(rest.range(of: "```json\n"))
        let close = try #require(rest[open.upperBound...].range(of: "```"))
        let lines = rest[open.upperBound..<close.lowerBound].split(separator: "\n")
        #expect(lines.count >= 3)
        for line in lines {
            let object = try Self.parse(String(line))
            for field in ["time", "level", "label", "message"] { #expect(object[field] != nil, "\(field) in \(line)") }
        }
    }
}

/// A running `chat-server` process with `--log-format json`, driven through every request type.
@Suite("Observability (processes)", .serialized)
struct ObservabilityProcessTests {
    /// Requests of every type, some failing, on two connections; returns the secrets used (a
    /// password, the session token, message texts) that must never be logged or exported.
    ///
    /// - Parameters:
    ///   - url: the server.
    ///   - user: the user to register.
    ///   - moreSends: sends after the first one, so that some `ok` waits for an fsync: a send
    ///     whose record the writer fsynced before the hub asked has no durable wait (and no span).
    static func drive(_ url: String, user: String, moreSends: Int = 0) async throws -> [String] {
        let password = "pw-\(UUID().uuidString)"
        let text = "text-\(UUID().uuidString)"
        let edited = "edited-\(UUID().uuidString)"
        let topic = "topic-\(UUID().uuidString)"
        let room = "obs-\(Int.random(in: 0..<1_000_000_000))"
        let a = try await WireClient.connect(url: url)
        _ = try expectOK(try await a.request("hello", ["version": 1, "client": "obs-test"]), "hello")
        try expectError(try await a.request("hello", ["version": 1]), "bad_request", "hello twice")
        _ = try expectOK(try await a.request("ping"), "ping")
        try expectError(try await a.request("rooms"), "unauthorized", "rooms before login")
        let registered = try expectOK(
            try await a.request("register", ["user": .string(user), "password": .string(password)]),
            "register"
        )
        let token = try #require(registered["token"]?.stringValue)
        try expectError(
            try await a.request("login", ["user": .string(user), "password": "wrong-password"]),
            "unauthorized",
            "bad password"
        )
        try expectError(
            try await a.request("login", ["user": "nobody_here", "password": "whatever"]),
            "unauthorized",
            "unknown user"
        )
        _ = try expectOK(try await a.request("login", ["user": .string(user), "password": .string(password)]), "login")
        _ = try expectOK(try await a.request("create", ["room": .string(room), "visibility": "public"]), "create")
        _ = try expectOK(try await a.request("join", ["room": .string(room)]), "join")
        let sent = try expectOK(try await a.request("send", ["room": .string(room), "text": .string(text)]), "send")
        let seq = try #require(sent["seq"]?.intValue)
        for i in 0..<moreSends {
            _ = try expectOK(
                try await a.request("send", ["room": .string(room), "text": .string("more \(i)")]),
                "send"
            )
        }
        _ = try expectOK(
            try await a.request("edit", ["room": .string(room), "seq": .int(seq), "text": .string(edited)]),
            "edit"
        )
        _ = try expectOK(
            try await a.request("react", ["room": .string(room), "seq": .int(seq), "emoji": "👍"]),
            "react"
        )
        _ = try expectOK(
            try await a.request("unreact", ["room": .string(room), "seq": .int(seq), "emoji": "👍"]),
            "unreact"
        )
        _ = try expectOK(try await a.request("topic", ["room": .string(room), "topic": .string(topic)]), "topic")
        _ = try expectOK(try await a.request("typing", ["room": .string(room)]), "typing")
        _ = try expectOK(try await a.request("history", ["room": .string(room)]), "history")
        _ = try expectOK(try await a.request("members", ["room": .string(room)]), "members")
        _ = try expectOK(try await a.request("mark_read", ["room": .string(room), "seq": .int(seq)]), "mark_read")
        _ = try expectOK(try await a.request("rooms"), "rooms")
        _ = try await a.request("search", ["query": "text"])
        _ = try expectOK(try await a.request("delete", ["room": .string(room), "seq": .int(seq)]), "delete")
        try expectError(
            try await a.request("send", ["room": "no_such_room", "text": "x"]),
            "not_found",
            "send nowhere"
        )
        try expectError(try await a.request("frobnicate"), "bad_request", "unknown type")
        _ = try await a.request("invite", ["room": .string(room), "user": "nobody_here"])
        _ = try await a.request("kick", ["room": .string(room), "user": "nobody_here"])
        _ = try await a.request("dm", ["user": "nobody_here"])
        _ = try expectOK(try await a.request("leave", ["room": .string(room)]), "leave")
        let b = try await WireClient.connect(url: url)
        _ = try expectOK(try await b.request("hello", ["version": 1, "client": "obs-test"]), "hello b")
        _ = try expectOK(try await b.request("resume", ["token": .string(token)]), "resume")
        _ = try expectOK(try await b.request("logout"), "logout")
        await a.disconnect()
        await b.disconnect()
        return [password, token, text, edited, topic]
    }

    @Test("--log-format json: every line parses; each request has its id, type, room, user and outcome; no secret")
    func jsonLogs() async throws {
        let server = try await ProcessTests.startServer(extra: ["--log-format", "json", "--log-level", "trace"])
        defer { server.process.terminate() }
        let user = "obs_\(Int.random(in: 0..<1_000_000))"
        let secrets = try await Self.drive(server.url, user: user)
        // The last request's line is written after its reply: wait for it.
        var log = ""
        for _ in 0..<100 {
            log = server.log
            if log.contains("\"chat.request.type\":\"logout\"") { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        server.process.interrupt()
        _ = try await ProcessTests.waitForExit(server.process)
        log = server.log
        let lines = log.split(separator: "\n")
        #expect(lines.count > 30)
        var requestTypes: Set<String> = []
        var errorCodes: Set<String> = []
        for line in lines {
            let object = try JSONLogLineTests.parse(String(line))
            let time = try #require(object["time"] as? String, "\(line)")
            #expect(time.wholeMatch(of: /\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z/) != nil, "RFC 3339: \(time)")
            #expect(Logger.Level(rawValue: object["level"] as? String ?? "") != nil, "\(line)")
            #expect(object["label"] is String && object["message"] is String, "\(line)")
            guard object["message"] as? String == "request" else { continue }
            for key in ["chat.conn.id", "chat.request.id", "chat.request.type", "chat.outcome"] {
                #expect(object[key] is String, "\(key) in \(line)")
            }
            let type = object["chat.request.type"] as? String ?? ""
            requestTypes.insert(type)
            if object["chat.outcome"] as? String == "error" {
                let code = try #require(object["chat.error.code"] as? String, "an error line names its code: \(line)")
                errorCodes.insert(code)
            }
            if ["send", "edit", "react", "history", "join"].contains(type), object["chat.outcome"] as? String == "ok" {
                #expect((object["chat.room"] as? String)?.hasPrefix("obs-") == true, "room in \(line)")
                #expect(object["chat.user"] as? String == user, "user in \(line)")
            }
        }
        let every = RequestType.allCases.map(\.rawValue) + ["search", "invalid"]
        #expect(Set(every).subtracting(requestTypes).isEmpty, "missing: \(Set(every).subtracting(requestTypes))")
        #expect(errorCodes.isSuperset(of: ["bad_request", "unauthorized", "not_found"]), "\(errorCodes)")
        for secret in secrets { #expect(!log.contains(secret), "the log holds a secret or a message text") }
    }

    @Test("--otlp-endpoint: a span per request with type, room and outcome; durable wait and fan-out below send")
    func otlpSpans() async throws {
        let receiver = try await OTLPReceiver.start()
        defer { receiver.stop() }
        let server = try await ProcessTests.startServer(
            extra: ["--otlp-endpoint", "http://127.0.0.1:\(receiver.port)", "--fsync", "always"],
            environment: [
                "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json", "OTEL_BSP_SCHEDULE_DELAY": "100",
                "OTEL_METRIC_EXPORT_INTERVAL": "200",
            ]
        )
        defer { server.process.terminate() }
        let user = "otel_\(Int.random(in: 0..<1_000_000))"
        let secrets = try await Self.drive(server.url, user: user, moreSends: 8)
        var spans: [OTLPReceiver.Span] = []
        for _ in 0..<200 {
            spans = receiver.spans
            let names = Set(spans.map(\.name))
            if names.isSuperset(of: ["chat.logout", "chat.send", "chat.durable_wait", "chat.fanout"]) { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(spans.count >= RequestType.allCases.count, "\(spans.count) spans exported")
        let byName = Dictionary(grouping: spans, by: \.name)
        for type in RequestType.allCases.map(\.rawValue) + ["search"] {
            #expect(byName["chat.\(type)"] != nil, "a span for \(type)")
        }
        let send = try #require(byName["chat.send"]?.first { $0.attributes["chat.outcome"] == "ok" })
        #expect(send.attributes["chat.request.type"] == "send")
        #expect(send.attributes["chat.room"]?.hasPrefix("obs-") == true)
        #expect(send.attributes["chat.user"] == user)
        #expect(send.attributes["chat.request.id"] != nil)
        let failed = try #require(byName["chat.send"]?.first { $0.attributes["chat.outcome"] == "error" })
        #expect(failed.attributes["chat.error.code"] == "not_found")
        // Sends read together share one durable wait and one fan-out: some send holds each.
        let okSends = byName["chat.send"]?.filter { $0.attributes["chat.outcome"] == "ok" } ?? []
        func childOfASend(_ name: String) -> Bool {
            okSends.contains { send in spans.contains { $0.parent == send.id && $0.name == name } }
        }
        #expect(childOfASend("chat.durable_wait"), "the durable wait is a child of send")
        #expect(childOfASend("chat.fanout"), "the fan-out is a child of send")
        #expect(byName["chat.search.index_batch"] != nil, "the indexer's batches have spans")
        for secret in secrets { #expect(!receiver.body.contains(secret), "an exported span holds a secret") }
        for _ in 0..<100 where !receiver.metrics.contains("chat_messages_in_total") {
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(receiver.metrics.contains("\"chat_messages_in_total\""), "metrics are exported over OTLP too")
    }
}

/// A minimal OTLP/HTTP receiver (JSON encoding) on loopback: keeps every span it is sent.
final class OTLPReceiver: Sendable {
    struct Span: Sendable {
        let name: String
        let id: String
        let parent: String
        let attributes: [String: String]
    }

    private let received = Mutex<(spans: [Span], body: String, metrics: String)>(([], "", ""))
    private let group: Mutex<ServiceGroup?> = Mutex(nil)
    let port: Int

    private init(port: Int) { self.port = port }

    var spans: [Span] { received.withLock { $0.spans } }
    var body: String { received.withLock { $0.body } }
    /// The metric export requests received, concatenated.
    var metrics: String { received.withLock { $0.metrics } }

    static func start() async throws -> OTLPReceiver {
        let portStream = AsyncStream<Int>.makeStream()
        let router = Router()
        let box = Mutex<OTLPReceiver?>(nil)
        router.post("/v1/traces") { request, _ -> Response in
            let buffer = try await request.body.collect(upTo: 16 << 20)
            let text = String(buffer: buffer)
            box.withLock { $0?.take(text) }
            return Self.ok
        }
        router.post("/v1/metrics") { request, _ -> Response in
            let text = String(buffer: try await request.body.collect(upTo: 16 << 20))
            box.withLock { receiver in receiver?.received.withLock { $0.metrics += text } }
            return Self.ok
        }
        let app = Application(
            router: router,
            configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in
                portStream.continuation.yield(channel.localAddress?.port ?? 0)
                portStream.continuation.finish()
            },
            logger: Logger(label: "otlp-receiver")
        )
        let group = ServiceGroup(
            configuration: .init(services: [app], gracefulShutdownSignals: [], logger: Logger(label: "otlp-receiver"))
        )
        Task { try await group.run() }
        var port = 0
        for await p in portStream.stream { port = p }
        let receiver = OTLPReceiver(port: port)
        receiver.group.withLock { $0 = group }
        box.withLock { $0 = receiver }
        return receiver
    }

    private static var ok: Response {
        Response(
            status: .ok,
            headers: [.contentType: "application/json"],
            body: ResponseBody(byteBuffer: ByteBuffer(string: "{}"))
        )
    }

    func stop() {
        guard let group = group.withLock({ $0 }) else { return }
        Task { await group.triggerGracefulShutdown() }
    }

    /// Keeps the spans of one export request (`ExportTraceServiceRequest` in JSON).
    private func take(_ text: String) {
        var spans: [Span] = []
        if let root = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] {
            for resource in root["resourceSpans"] as? [[String: Any]] ?? [] {
                for scope in resource["scopeSpans"] as? [[String: Any]] ?? [] {
                    for span in scope["spans"] as? [[String: Any]] ?? [] {
                        var attributes: [String: String] = [:]
                        for attribute in span["attributes"] as? [[String: Any]] ?? [] {
                            guard let key = attribute["key"] as? String,
                                let value = attribute["value"] as? [String: Any]
                            else { continue }
                            if let s = value["stringValue"] as? String {
                                attributes[key] = s
                            } else if let i = value["intValue"] {
                                attributes[key] = "\(i)"
                            }
                        }
                        spans.append(
                            Span(
                                name: span["name"] as? String ?? "",
                                id: span["spanId"] as? String ?? "",
                                parent: span["parentSpanId"] as? String ?? "",
                                attributes: attributes
                            )
                        )
                    }
                }
            }
        }
        received.withLock {
            $0.spans += spans
            $0.body += text
        }
    }
}
