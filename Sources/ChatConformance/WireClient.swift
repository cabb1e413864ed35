import ChatCore
import NIOCore
import NIOPosix
import Synchronization

/// A frame as the wire client sees it.
package enum WireFrame: Sendable, Equatable {
    case text(String)
    case binary([UInt8])
    case close(code: UInt16?, reason: String)
    case ping([UInt8])
    case pong([UInt8])
    /// The TCP connection ended.
    case eof
}

/// Why a wire operation failed.
package struct WireError: Error, CustomStringConvertible {
    package var description: String
    package init(_ description: String) { self.description = description }
}

/// A deliberately low-level WebSocket client for black-box tests: it writes any
/// frame (binary, invalid UTF-8, oversized, fragmented), can stop reading from
/// the socket (to play a slow consumer), and reports close codes exactly.
package final class WireClient {
    private let channel: any Channel
    private var frames: AsyncStream<WireFrame>.AsyncIterator
    /// Events read while waiting for a reply, oldest first.
    package private(set) var events: [JSONObject] = []
    private var nextID = 0
    /// The close frame received, once one was.
    package private(set) var closeFrame: (code: UInt16?, reason: String)?
    /// When set, every frame the server sends must decode to ChatCore's typed values and
    /// encode back to the very same bytes (see `WireCheck`); a difference fails the read.
    package var checksEncoding = false
    /// How long `drainEvents` first waits for events from other nodes of a cluster (zero: one
    /// server, where the `ping` round trip alone orders them).
    package var crossNodeSettle: Duration = .zero
    /// Request types sent, per id, oldest first: what each `ok` answers.
    private var pendingTypes: [String: [String]] = [:]

    private let pings: PingPolicy

    /// When set, pings are answered on the event loop as they arrive, whether or not anyone is
    /// reading frames (a live client); when not (the default), only while frames are read.
    package var answersPingsAtOnce: Bool {
        get { pings.answersAtOnce.load(ordering: .relaxed) }
        set { pings.answersAtOnce.store(newValue, ordering: .relaxed) }
    }

    private init(channel: any Channel, frames: AsyncStream<WireFrame>, pings: PingPolicy) {
        self.channel = channel
        self.frames = frames.makeAsyncIterator()
        self.pings = pings
    }

    deinit {
        channel.close(promise: nil)
    }

    /// Opens a WebSocket connection.
    ///
    /// - Parameters:
    ///   - host: server host.
    ///   - port: server port.
    ///   - path: request path.
    ///   - headers: further request header lines (`Origin`, `X-Forwarded-For`).
    ///   - receiveBuffer: the socket's receive buffer in bytes (nil: the kernel's, which grows on
    ///     its own — up to tens of megabytes — so a client that stops reading is not slow until
    ///     the server has sent that much).
    package static func connect(
        host: String,
        port: Int,
        path: String = "/v1/ws",
        headers: [(name: String, value: String)] = [],
        receiveBuffer: Int? = nil
    ) async throws -> WireClient {
        let (stream, continuation) = AsyncStream.makeStream(of: WireFrame.self)
        let handshake = Handshake()
        let pings = PingPolicy()
        var bootstrap = ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
        if let receiveBuffer {
            bootstrap = bootstrap.channelOption(.socketOption(.so_rcvbuf), value: SocketOptionValue(receiveBuffer))
        }
        let channel =
            try await bootstrap
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        FrameReader(continuation: continuation, handshake: handshake, pings: pings)
                    )
                }
            }
            .connect(host: host, port: port)
            .get()
        var request = "GET \(path) HTTP/1.1\r\nHost: \(host):\(port)\r\nUpgrade: websocket\r\n"
        request += "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        request += "Sec-WebSocket-Version: 13\r\n"
        for header in headers { request += "\(header.name): \(header.value)\r\n" }
        request += "\r\n"
        try await channel.writeAndFlush(ByteBuffer(string: request)).get()
        let status = try await handshake.status.futureResult(on: channel.eventLoop).get()
        guard status == 101 else {
            channel.close(promise: nil)
            throw WireError("WebSocket upgrade refused with HTTP \(status)")
        }
        return WireClient(channel: channel, frames: stream, pings: pings)
    }

    /// Opens a connection to a `ws://host:port/path` URL.
    ///
    /// - Parameters:
    ///   - url: the server URL.
    ///   - receiveBuffer: the socket's receive buffer in bytes (nil: the kernel's).
    package static func connect(url: String, receiveBuffer: Int? = nil) async throws -> WireClient {
        let (host, port, path) = try parse(url: url)
        return try await connect(host: host, port: port, path: path, receiveBuffer: receiveBuffer)
    }

    static func parse(url: String) throws -> (String, Int, String) {
        guard url.hasPrefix("ws://") else { throw WireError("only ws:// URLs are supported: \(url)") }
        let rest = url.dropFirst(5)
        let hostPort = rest.prefix { $0 != "/" }
        var path = String(rest.dropFirst(hostPort.count))
        if path.isEmpty || path == "/" { path = "/v1/ws" }
        let host: Substring
        let port: Int
        if hostPort.hasPrefix("["), let end = hostPort.firstIndex(of: "]") {
            host = hostPort[hostPort.index(after: hostPort.startIndex)..<end]
            port = Int(hostPort[hostPort.index(after: end)...].dropFirst()) ?? 80
        } else if let colon = hostPort.lastIndex(of: ":") {
            host = hostPort[..<colon]
            port = Int(hostPort[hostPort.index(after: colon)...]) ?? 80
        } else {
            host = hostPort
            port = 80
        }
        return (String(host), port, path)
    }

    // MARK: Writing

    /// Writes one frame.
    ///
    /// - Parameters:
    ///   - opcode: 0x0 continuation, 0x1 text, 0x2 binary, 0x8 close, 0x9 ping, 0xA pong.
    ///   - payload: payload bytes.
    ///   - fin: final fragment.
    package func writeFrame(opcode: UInt8, payload: [UInt8], fin: Bool = true) async throws {
        var buffer = channel.allocator.buffer(capacity: payload.count + 14)
        Self.appendFrame(to: &buffer, opcode: opcode, payload: payload, fin: fin)
        try await channel.writeAndFlush(buffer).get()
    }

    /// Writes JSON objects as text frames in one write: the server gets them in as few reads as
    /// the socket allows, so a loaded client machine cannot pace them (rate-limit cases).
    ///
    /// - Parameters:
    ///   - objects: the objects, in order.
    package func sendAll(_ objects: [JSONObject]) async throws {
        var buffer = channel.allocator.buffer(capacity: objects.count * 128)
        for object in objects {
            if case .string(let id)? = object["id"], case .string(let type)? = object["type"] {
                pendingTypes[id, default: []].append(type)
            }
            Self.appendFrame(to: &buffer, opcode: 0x1, payload: Array(JSONValue.object(object).jsonString.utf8))
        }
        try await channel.writeAndFlush(buffer).get()
    }

    /// A masked client frame (RFC 6455 §5.2), appended to `buffer`.
    static func appendFrame(to buffer: inout ByteBuffer, opcode: UInt8, payload: [UInt8], fin: Bool = true) {
        buffer.writeInteger((fin ? 0x80 : 0) | opcode)
        if payload.count < 126 {
            buffer.writeInteger(UInt8(0x80 | payload.count))
        } else if payload.count <= 0xFFFF {
            buffer.writeInteger(UInt8(0x80 | 126))
            buffer.writeInteger(UInt16(payload.count))
        } else {
            buffer.writeInteger(UInt8(0x80 | 127))
            buffer.writeInteger(UInt64(payload.count))
        }
        let mask: [UInt8] = (0..<4).map { _ in UInt8.random(in: 0...255) }
        buffer.writeBytes(mask)
        var masked = payload
        for i in masked.indices { masked[i] ^= mask[i & 3] }
        buffer.writeBytes(masked)
    }

    /// Writes a text frame.
    ///
    /// - Parameters:
    ///   - text: the text.
    package func sendText(_ text: String) async throws {
        try await writeFrame(opcode: 0x1, payload: Array(text.utf8))
    }

    /// Writes a JSON object as a text frame.
    ///
    /// - Parameters:
    ///   - object: the object.
    package func send(_ object: JSONObject) async throws {
        if case .string(let id)? = object["id"], case .string(let type)? = object["type"] {
            pendingTypes[id, default: []].append(type)
        }
        try await sendText(JSONValue.object(object).jsonString)
    }

    /// Sends a close frame.
    ///
    /// - Parameters:
    ///   - code: close code.
    package func sendClose(code: UInt16 = 1000) async throws {
        try await writeFrame(opcode: 0x8, payload: [UInt8(code >> 8), UInt8(code & 0xFF)])
    }

    /// Stops (or resumes) reading from the socket, so the server's writes back up.
    ///
    /// - Parameters:
    ///   - reading: false to stop reading.
    package func setReading(_ reading: Bool) async throws {
        try await channel.setOption(ChannelOptions.autoRead, value: reading).get()
        if reading { channel.read() }
    }

    /// Closes the TCP connection without a close handshake.
    package func disconnect() async {
        try? await channel.close().get()
    }

    // MARK: Reading

    /// The next data or close frame (pings are answered, pongs skipped).
    package func nextFrame() async throws -> WireFrame {
        while true {
            guard let frame = await frames.next() else { return .eof }
            switch frame {
            case .ping(let payload):
                try? await writeFrame(opcode: 0xA, payload: payload)
            case .pong:
                continue
            case .close(let code, let reason):
                closeFrame = (code, reason)
                return frame
            default:
                return frame
            }
        }
    }

    /// The next JSON object from the server; throws on close or non-JSON.
    package func nextObject() async throws -> JSONObject {
        let frame = try await nextFrame()
        guard case .text(let text) = frame else { throw WireError("expected a text frame, got \(frame)") }
        guard case .object(let object) = try JSONParser(maxDepth: 64).parse(text) else {
            throw WireError("server sent a text frame that is not a JSON object: \(text.prefix(200))")
        }
        var answers: String?
        if object["type"] == "ok" || object["type"] == "error", case .string(let id)? = object["id"] {
            answers = pendingTypes[id]?.first
            pendingTypes[id]?.removeFirst()
            if pendingTypes[id]?.isEmpty == true { pendingTypes[id] = nil }
        }
        if checksEncoding, let difference = WireCheck.difference(text, answering: answers) {
            throw WireError("typed re-encoding differs from the server's frame: \(difference)")
        }
        return object
    }

    /// Sends a request and returns its reply (`ok` or `error`), buffering events that arrive first.
    ///
    /// - Parameters:
    ///   - type: request type.
    ///   - fields: request fields.
    package func request(_ type: String, _ fields: JSONObject = [:]) async throws -> JSONObject {
        nextID += 1
        let id = "r\(nextID)"
        var object: JSONObject = ["type": .string(type), "id": .string(id)]
        object.fields.append(contentsOf: fields.fields)
        try await send(object)
        return try await reply(to: id)
    }

    /// Sends a request written by ChatCore's encoder and returns its reply (`ok` or `error`).
    ///
    /// - Parameters:
    ///   - request: the request.
    package func request(_ request: some WireRequest) async throws -> JSONObject {
        nextID += 1
        let id = "r\(nextID)"
        try await send(request.json(id: id))
        return try await reply(to: id)
    }

    /// Sends a request and decodes its `ok` reply; an error, or a reply that does not
    /// decode as `R`, is a `ConformanceFailure`.
    ///
    /// - Parameters:
    ///   - request: the request.
    ///   - type: the reply type.
    ///   - what: the request, for the failure message.
    package func call<R: WireReply>(_ request: some WireRequest, as type: R.Type, _ what: String) async throws -> R {
        try expectReply(try await self.request(request), as: R.self, what)
    }

    /// The next event of a type, decoded (from the buffer first).
    ///
    /// - Parameters:
    ///   - type: event type.
    package func nextChatEvent(_ type: String) async throws -> ChatEvent {
        let object = try await nextEvent(type)
        do {
            return try ChatEvent(json: object)
        } catch {
            throw ConformanceFailure("'\(type)' event: \(error) in \(JSONValue.object(object).jsonString)")
        }
    }

    /// The next `message` event, decoded (from the buffer first).
    package func nextMessage() async throws -> ChatMessage {
        guard case .message(let message) = try await nextChatEvent("message") else {
            throw ConformanceFailure("a 'message' event did not decode as a message")
        }
        return message
    }

    /// Drains events up to a `ping` round trip and decodes them.
    package func drainChatEvents() async throws -> [ChatEvent] {
        try await drainEvents().map { object in
            do {
                return try ChatEvent(json: object)
            } catch {
                throw ConformanceFailure("event: \(error) in \(JSONValue.object(object).jsonString)")
            }
        }
    }

    /// Reads until the reply with this id, buffering events.
    ///
    /// - Parameters:
    ///   - id: the request id.
    package func reply(to id: String) async throws -> JSONObject {
        while true {
            let object = try await nextObject()
            let type = object["type"]?.stringValue
            if type == "ok" || type == "error" {
                guard object["id"]?.stringValue == id else {
                    throw WireError("expected the reply to \(id), got \(JSONValue.object(object).jsonString)")
                }
                return object
            }
            events.append(object)
        }
    }

    /// Reads until a reply whose `id` is null (an answer to an unusable frame), buffering events.
    package func nextReplyWithoutID() async throws -> JSONObject {
        while true {
            let object = try await nextObject()
            let type = object["type"]?.stringValue
            if type == "ok" || type == "error" {
                guard object["id"] == nil || object["id"] == .null else {
                    throw WireError("expected a reply with id null, got \(JSONValue.object(object).jsonString)")
                }
                return object
            }
            events.append(object)
        }
    }

    /// The next event of a type (from the buffer first); other events stay buffered.
    ///
    /// - Parameters:
    ///   - type: event type.
    package func nextEvent(_ type: String) async throws -> JSONObject {
        if let index = events.firstIndex(where: { $0["type"]?.stringValue == type }) {
            return events.remove(at: index)
        }
        while true {
            let object = try await nextObject()
            if object["type"]?.stringValue == type { return object }
            if object["type"]?.stringValue == "ok" || object["type"]?.stringValue == "error" {
                throw WireError("expected a '\(type)' event, got a reply: \(JSONValue.object(object).jsonString)")
            }
            events.append(object)
        }
    }

    /// Drains events up to a `ping` round trip; returns every event seen (buffered ones included).
    package func drainEvents() async throws -> [JSONObject] {
        // A change made on another node reaches this one a little after that node answered it.
        if crossNodeSettle > .zero { try await Task.sleep(for: crossNodeSettle) }
        _ = try await call(Request.ping, as: PingReply.self, "ping")
        let drained = events
        events = []
        return drained
    }

    /// Forgets buffered events.
    package func clearEvents() { events = [] }

    /// Reads until the connection closes; returns the close code (nil if the socket just ended).
    package func waitForClose() async throws -> UInt16? {
        while true {
            switch try await nextFrame() {
            case .close(let code, _): return code
            case .eof: return closeFrame?.code ?? nil
            default: continue
            }
        }
    }
}
