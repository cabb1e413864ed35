import ChatCore
import NIOCore

/// Speaks one protocol for the benchmarks: account set-up, subscribing, idling, publishing.
struct BenchDriver: Sendable {
    let kind: BenchProtocol
    let target: BenchTarget
    /// Random per run, so names never collide with an earlier run on the same server.
    let runID: String
    /// The room (chat), channel (redis) or `#channel` (irc) of this run.
    let channelName: String
    /// chat: the token of the user every subscriber connection resumes as.
    private var subscriberToken = ""
    /// chat: the publisher's token.
    private var publisherToken = ""
    /// irc: `OPER` name and password for the publisher (lifts ngircd's flood limit with +F).
    var ircOper: (name: String, password: String)?

    private init(kind: BenchProtocol, target: BenchTarget) {
        self.kind = kind
        self.target = target
        runID = String(UInt32.random(in: 0x1000...0xFFFF), radix: 16)
        switch kind {
        case .chat: channelName = "bench-\(runID)"
        case .redis: channelName = "bench:\(runID)"
        case .irc: channelName = "#bench\(runID)"
        }
    }

    /// Prepares a run: for chat, registers the subscriber user and (if needed) the publisher user.
    static func prepare(
        _ kind: BenchProtocol,
        _ target: BenchTarget,
        on loop: any EventLoop,
        publisher: Bool
    ) async throws -> Self {
        var driver = Self(kind: kind, target: target)
        guard kind == .chat else { return driver }
        driver.subscriberToken = try await driver.chatRegister("b\(driver.runID)s", on: loop)
        if publisher { driver.publisherToken = try await driver.chatRegister("b\(driver.runID)p", on: loop) }
        return driver
    }

    // MARK: Roles

    /// Makes a fresh connection a subscriber of the run's room or channel.
    func setupSubscriber(_ conn: BenchConnection, index: Int) async throws {
        switch kind {
        case .chat:
            try await chatHandshake(conn, token: subscriberToken)
            try await chatRequest(conn, id: "j", .join(room: try Request.room(channelName), since: nil, epoch: nil))
        case .redis:
            _ = try await conn.exchange(Self.resp(["SUBSCRIBE", channelName])) { unit in
                if unit.hasPrefix("-") { return .fail(unit.text) }
                return unit.contains("subscribe") ? .done : .skip
            }
        case .irc:
            try await ircRegister(conn, nick: "b\(runID)s\(index)")
            try await ircJoin(conn)
        }
    }

    /// Makes a fresh connection idle but authenticated (chat: hello + resume; irc: registered; redis: PING).
    func setupIdle(_ conn: BenchConnection, index: Int) async throws {
        switch kind {
        case .chat:
            try await chatHandshake(conn, token: subscriberToken)
        case .redis:
            _ = try await conn.exchange(Self.resp(["PING"])) { $0.contains("PONG") ? .done : .skip }
        case .irc:
            try await ircRegister(conn, nick: "b\(runID)i\(index)")
        }
    }

    /// chat: makes a fresh connection a durable-send sender in its own room (`<room>-s<index>`).
    func setupSender(_ conn: BenchConnection, index: Int) async throws {
        precondition(kind == .chat, "durable sends are chat only")
        try await chatHandshake(conn, token: subscriberToken)
        let room = try Request.room("\(channelName)-s\(index)")
        try await chatRequest(conn, id: "j", .join(room: room, since: nil, epoch: nil))
    }

    /// chat: the `send` request of a durable-send sender; its id carries the marker, the text does not.
    /// Written as a byte template rather than with ChatCore's encoder: it runs for every
    /// message of the load, and the run's names and texts are plain ASCII chosen here.
    func senderEncoder(size: Int) -> DurableRun.Encoder {
        let room = channelName
        let text = String(repeating: "x", count: size)
        var counter = 0
        return { sender, nanoseconds, buffer in
            counter += 1
            let json =
                #"{"type":"send","id":"^^\#(counter),\#(nanoseconds),","room":"\#(room)-s\#(sender)","text":"\#(text)"}"#
            WebSocketClientFrame.writeHeader(opcode: 0x1, length: json.utf8.count, into: &buffer)
            buffer.writeString(json)
        }
    }

    /// Opens the publisher's connection, a member of the run's room or channel.
    func openPublisher(on loop: any EventLoop) async throws -> BenchConnection {
        let conn = try await BenchConnection.open(kind, target, on: loop)
        switch kind {
        case .chat:
            try await chatHandshake(conn, token: publisherToken)
            try await chatRequest(conn, id: "j", .join(room: try Request.room(channelName), since: nil, epoch: nil))
        case .redis:
            _ = try await conn.exchange(Self.resp(["PING"])) { $0.contains("PONG") ? .done : .skip }
        case .irc:
            let nick = "b\(runID)p"
            try await ircRegister(conn, nick: nick)
            if let ircOper {
                _ = try await conn.exchange(ByteBuffer(string: "OPER \(ircOper.name) \(ircOper.password)\r\n")) {
                    Self.ircNumeric($0, done: ["381"], fail: ["464", "491"])
                }
                // ngircd's +F: relaxed flood protection for this client (other servers may refuse it).
                _ = try await conn.exchange(ByteBuffer(string: "MODE \(nick) +F\r\n")) { unit in
                    unit.contains(" MODE ") ? .done : Self.ircNumeric(unit, done: ["501", "472", "481"], fail: [])
                }
            }
            try await ircJoin(conn)
        }
        return conn
    }

    /// The publish command for one message (called on the event loop for every message; the
    /// chat `send` is a byte template, like `senderEncoder`).
    func encoder(size: Int) -> FanoutRun.Encoder {
        let channel = channelName
        switch kind {
        case .chat:
            return { index, nanoseconds, buffer in
                let text = Self.payload(index, nanoseconds, size)
                let json = #"{"type":"send","id":"p\#(index)","room":"\#(channel)","text":"\#(text)"}"#
                WebSocketClientFrame.writeHeader(opcode: 0x1, length: json.utf8.count, into: &buffer)
                buffer.writeString(json)
            }
        case .redis:
            let head = "*3\r\n$7\r\nPUBLISH\r\n$\(channel.utf8.count)\r\n\(channel)\r\n"
            return { index, nanoseconds, buffer in
                let text = Self.payload(index, nanoseconds, size)
                buffer.writeString(head)
                buffer.writeString("$\(text.utf8.count)\r\n\(text)\r\n")
            }
        case .irc:
            return { index, nanoseconds, buffer in
                buffer.writeString("PRIVMSG \(channel) :\(Self.payload(index, nanoseconds, size))\r\n")
            }
        }
    }

    /// `^^<index>,<nanoseconds>,` padded with `x` to `size` bytes.
    static func payload(_ index: Int, _ nanoseconds: UInt64, _ size: Int) -> String {
        let head = "^^\(index),\(nanoseconds),"
        return head + String(repeating: "x", count: max(0, size - head.utf8.count))
    }

    // MARK: chat

    private func chatRegister(_ user: String, on loop: any EventLoop) async throws -> String {
        let conn = try await BenchConnection.open(.chat, target, on: loop)
        defer { conn.close() }
        try await chatUpgrade(conn)
        let register = Request.register(user: try Request.user(user), password: "chat-bench-password", invite: nil)
        let reply = try await chatRequest(conn, id: "reg", register)
        guard let token = try? ServerFrame(text: reply).reply(as: AuthReply.self)?.token else {
            throw BenchError("register reply without a token: \(reply.prefix(200))")
        }
        return token
    }

    private func chatUpgrade(_ conn: BenchConnection) async throws {
        var request = "GET \(target.path) HTTP/1.1\r\nHost: \(target.host):\(target.port)\r\n"
        request += "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        request += "Sec-WebSocket-Version: 13\r\n\r\n"
        _ = try await conn.exchange(ByteBuffer(string: request)) { unit in
            guard unit.opcode == WireUnit.httpHead else { return .skip }
            return unit.contains(" 101 ") ? .done : .fail("upgrade refused: \(unit.text.prefix(80))")
        }
        try await chatRequest(conn, id: "h", .hello(version: 1, client: "chat-bench/1"))
    }

    private func chatHandshake(_ conn: BenchConnection, token: String) async throws {
        try await chatUpgrade(conn)
        try await chatRequest(conn, id: "r", .resume(token: token))
    }

    /// Sends one request and waits for its `ok`; an error reply or a close fails.
    @discardableResult
    private func chatRequest(_ conn: BenchConnection, id: String, _ request: Request) async throws -> String {
        var frame = ByteBuffer()
        WebSocketClientFrame.write(opcode: 0x1, payload: ByteBuffer(string: request.text(id: id)), into: &frame)
        let idField = #""id":"\#(id)""#
        return try await conn.exchange(frame) { unit in
            if unit.opcode == 0x8 {
                var payload = unit.bytes
                let code = payload.readInteger(as: UInt16.self).map(String.init) ?? "-"
                return .fail("closed by the server with \(code) \(String(buffer: payload))")
            }
            guard unit.opcode == 0x1 else { return .skip }
            let text = unit.text
            // A cheap filter first: most frames are events of other requests' rooms.
            guard text.contains(idField) else { return .skip }
            switch ServerFrame.parse(text) {
            case .ok(id, _)?: return .done
            case .event?: return .skip
            default: return .fail(String(text.prefix(300)))
            }
        }
    }

    // MARK: redis

    /// A RESP array of bulk strings.
    static func resp(_ arguments: [String]) -> ByteBuffer {
        var text = "*\(arguments.count)\r\n"
        for argument in arguments { text += "$\(argument.utf8.count)\r\n\(argument)\r\n" }
        return ByteBuffer(string: text)
    }

    // MARK: irc

    private func ircRegister(_ conn: BenchConnection, nick: String) async throws {
        _ = try await conn.exchange(ByteBuffer(string: "NICK \(nick)\r\nUSER \(nick) 0 * :chat-bench\r\n")) { unit in
            if unit.hasPrefix("ERROR") { return .fail(unit.text) }
            return Self.ircNumeric(unit, done: ["001"], fail: ["431", "432", "433", "436", "465"])
        }
    }

    private func ircJoin(_ conn: BenchConnection) async throws {
        _ = try await conn.exchange(ByteBuffer(string: "JOIN \(channelName)\r\n")) { unit in
            Self.ircNumeric(unit, done: ["366"], fail: ["403", "405", "471", "473", "474", "475", "477", "479"])
        }
    }

    /// Matches a numeric reply `:server NNN …`.
    static func ircNumeric(_ unit: WireUnit, done: Set<String>, fail: Set<String>) -> UnitMatch {
        let text = unit.text
        let words = text.split(separator: " ", maxSplits: 2)
        guard words.count >= 2, text.hasPrefix(":") else { return .skip }
        let code = String(words[1])
        if done.contains(code) { return .done }
        if fail.contains(code) { return .fail(text) }
        return .skip
    }
}
