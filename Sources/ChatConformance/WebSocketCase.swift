import ChatCore

/// One frame-level check of RFC 6455, in the manner of the Autobahn testsuite: frames to
/// send and what the server must do about each, on a connection that said `hello`.
///
/// After the last step a case that did not end with a close sends a close 1000 and expects
/// the close handshake (the echo, then the end of the connection), so every case also checks
/// that the connection was still in a sane state.
package struct WebSocketCase: Sendable {
    /// One step of a case.
    package enum Step: Sendable {
        /// Write a frame in one TCP write.
        case send(RawFrame)
        /// Write a frame in pieces of this many bytes, each flushed on its own.
        case chopped(RawFrame, Int)
        /// Read what the server does.
        case expect(Expectation)
    }

    /// What the server must do, per RFC 6455 (and, for whole messages, the chat protocol).
    package enum Expectation: Sendable, CustomStringConvertible {
        /// A reply (`ok` or `error`) to the request with this id: the message reached the
        /// protocol whole.
        case reply(String)
        /// An `error` with `"id": null`: a binary message, or text that is no request.
        case nullIDError
        /// A pong with this payload.
        case pong([UInt8])
        /// A close frame with this code (nil: with no payload), then the end of the connection.
        case close(UInt16?)

        package var description: String {
            switch self {
            case .reply(let id): return "the reply to \(id)"
            case .nullIDError: return "an error with id null"
            case .pong(let payload): return "a pong of \(payload.count) bytes"
            case .close(let code?): return "close \(code)"
            case .close(nil): return "an empty close frame"
            }
        }
    }

    /// Dotted name after `websocket.`: the Autobahn-style section and what is sent.
    package let name: String
    /// The RFC 6455 section that says what must happen.
    package let rfc: String
    /// What the server must advertise for the case to run.
    package let requirement: Requirement?
    let steps: @Sendable (Limits) -> [Step]

    /// Creates a case.
    ///
    /// - Parameters:
    ///   - name: name after `websocket.`.
    ///   - rfc: RFC 6455 section.
    ///   - requirement: limits the case needs.
    ///   - steps: the steps, from the server's limits.
    package init(
        _ name: String,
        rfc: String,
        requires requirement: Requirement? = nil,
        steps: @escaping @Sendable (Limits) -> [Step]
    ) {
        self.name = name
        self.rfc = rfc
        self.requirement = requirement
        self.steps = steps
    }

    /// Creates a case with fixed steps.
    ///
    /// - Parameters:
    ///   - name: name after `websocket.`.
    ///   - rfc: RFC 6455 section.
    ///   - steps: the steps.
    package init(_ name: String, rfc: String, _ steps: [Step]) {
        self.init(name, rfc: rfc) { _ in steps }
    }

    /// The case as a conformance case (section Transport).
    package var conformanceCase: ConformanceCase {
        ConformanceCase("websocket.\(name)", section: "Transport", requires: requirement) { ctx in
            do {
                try await run(url: ctx.url, limits: ctx.limits)
            } catch let failure as ConformanceFailure {
                throw ConformanceFailure("RFC 6455 §\(rfc): \(failure.message)")
            }
        }
    }

    /// Longest wait for the server's next frame.
    static let readTimeout = Duration.seconds(5)

    /// Runs the case on a fresh connection.
    ///
    /// - Parameters:
    ///   - url: the server's URL.
    ///   - limits: its limits.
    package func run(url: String, limits: Limits) async throws {
        let socket = try await RawWebSocket.connect(url: url)
        try await socket.write(.text(#"{"type":"hello","id":"hello","version":1,"client":"chat-conformance/1"}"#))
        try await expect(.reply("hello"), on: socket, step: 0, closeSent: false)
        var closeSent = false
        var closed = false
        for (index, step) in steps(limits).enumerated() {
            switch step {
            case .send(let frame), .chopped(let frame, _):
                // A write may fail because the server already failed the connection, as it
                // should for some frames before this one: the next expectation judges that.
                if case .chopped(_, let size) = step {
                    try? await socket.write(frame, chop: size)
                } else {
                    try? await socket.write(frame)
                }
                if frame.opcode == 0x8 { closeSent = true }
            case .expect(let expectation):
                try await expect(expectation, on: socket, step: index + 1, closeSent: closeSent)
                if case .close = expectation { closed = true }
            }
        }
        if !closed {
            try await socket.write(.close(1000))
            try await expect(.close(1000), on: socket, step: -1, closeSent: true)
        }
    }

    private func expect(_ expectation: Expectation, on socket: RawWebSocket, step: Int, closeSent: Bool) async throws {
        let label = step < 0 ? "closing handshake at the end" : "step \(step)"
        let frame: RawFrame?
        do {
            frame = try await socket.next(timeout: Self.readTimeout)
        } catch {
            throw ConformanceFailure("\(label): expected \(expectation), got nothing within \(Self.readTimeout)")
        }
        guard let frame else {
            throw ConformanceFailure("\(label): expected \(expectation), the connection ended")
        }
        guard !frame.masked, frame.rsv == 0 else {
            throw ConformanceFailure("\(label): the server sent a frame with a mask or reserved bits: \(frame)")
        }
        let got = "\(label): expected \(expectation), got \(frame)"
        switch expectation {
        case .reply(let id):
            guard frame.opcode == 0x1, frame.fin, let object = Self.object(frame.payload),
                object["id"]?.stringValue == id,
                ["ok", "error"].contains(object["type"]?.stringValue)
            else { throw ConformanceFailure(got) }
        case .nullIDError:
            guard frame.opcode == 0x1, frame.fin, let object = Self.object(frame.payload),
                object["type"]?.stringValue == "error", object["id"] == .null
            else { throw ConformanceFailure(got) }
        case .pong(let payload):
            guard frame.opcode == 0xA, frame.payload == payload else { throw ConformanceFailure(got) }
        case .close(let code):
            guard frame.opcode == 0x8, frame.closeCode == code else { throw ConformanceFailure(got) }
            guard frame.payload.count <= 2 || String(validating: frame.payload[2...], as: UTF8.self) != nil else {
                throw ConformanceFailure("\(label): the close reason is not UTF-8")
            }
            // Answer the server's close (RFC 6455 §5.5.1), then the server ends the connection.
            if !closeSent { try? await socket.write(code.map { .close($0) } ?? RawFrame(0x8)) }
            while true {
                do {
                    guard let more = try await socket.next(timeout: Self.readTimeout) else { return }
                    throw ConformanceFailure("\(label): the server sent \(more) after its close")
                } catch let error as ConformanceFailure {
                    throw error
                } catch {
                    throw ConformanceFailure(
                        "\(label): the connection was still open \(Self.readTimeout) after the close"
                    )
                }
            }
        }
    }

    private static func object(_ payload: [UInt8]) -> JSONObject? {
        guard let text = String(validating: payload, as: UTF8.self),
            case .object(let object)? = try? JSONParser(maxDepth: 64).parse(text)
        else { return nil }
        return object
    }
}
