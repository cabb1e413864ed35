import ChatCore

/// The `websocket` group: RFC 6455 at the frame level, in the manner of the Autobahn
/// testsuite's sections 1–7 (framing, pings, reserved bits, opcodes, fragmentation, UTF-8,
/// closing) plus masking and message size. Every case names what the server must do.
extension ConformanceSuite {
    static var websocket: [ConformanceCase] { WebSocketCase.all.map(\.conformanceCase) }
}

extension WebSocketCase {
    /// Every frame-level case, in run order.
    package static var all: [WebSocketCase] {
        framing + pings + reservedBits + opcodes + fragmentation + utf8 + closing + masking
    }

    /// `{"type":"ping","id":ID}`, padded with a `pad` field to `size` bytes when given.
    static func ping(_ id: String, size: Int? = nil) -> String {
        let bare = #"{"type":"ping","id":"\#(id)"}"#
        guard let size else { return bare }
        let open = #"{"type":"ping","id":"\#(id)","pad":""#
        return open + String(repeating: "a", count: max(0, size - open.utf8.count - 2)) + #""}"#
    }

    /// A text frame holding a ping request.
    static func pingText(_ id: String, size: Int? = nil) -> RawFrame { .text(ping(id, size: size)) }

    static let protocolError = Step.expect(.close(1002))

    // MARK: 1 Framing

    static var framing: [WebSocketCase] {
        var cases: [WebSocketCase] = [
            WebSocketCase("1.1.1-text-empty", rfc: "5.6", [.send(RawFrame(0x1)), .expect(.nullIDError)])
        ]
        for size in [125, 126, 127, 65_535] {
            let requirement = size > 1024 ? Requirement("max_frame >= \(size)") { $0.maxFrame >= size } : nil
            cases.append(
                WebSocketCase("1.1.2-text-\(size)-bytes", rfc: "5.2", requires: requirement) { _ in
                    let text = ping("s\(size)", size: size)
                    return [.send(.text(text)), .expect(.reply("s\(size)"))]
                }
            )
        }
        cases.append(
            WebSocketCase(
                "1.1.3-text-written-byte-by-byte",
                rfc: "5.2",
                [.chopped(pingText("c", size: 300), 1), .expect(.reply("c"))]
            )
        )
        for size in [0, 125, 126, 65_535] {
            let requirement = size > 1024 ? Requirement("max_frame >= \(size)") { $0.maxFrame >= size } : nil
            cases.append(
                WebSocketCase("1.2.1-binary-\(size)-bytes", rfc: "5.6", requires: requirement) { _ in
                    [.send(RawFrame(0x2, Array(repeating: 0xFE, count: size))), .expect(.nullIDError)]
                }
            )
        }
        return cases
    }

    // MARK: 2 Pings and pongs

    static var pings: [WebSocketCase] {
        let bytes125 = (0..<125).map { UInt8($0) }
        return [
            WebSocketCase("2.1-ping-empty", rfc: "5.5.2", [.send(RawFrame(0x9)), .expect(.pong([]))]),
            WebSocketCase(
                "2.2-ping-text-payload",
                rfc: "5.5.2",
                [.send(RawFrame(0x9, Array("hello".utf8))), .expect(.pong(Array("hello".utf8)))]
            ),
            WebSocketCase(
                "2.3-ping-125-binary-bytes",
                rfc: "5.5.2",
                [.send(RawFrame(0x9, bytes125)), .expect(.pong(bytes125))]
            ),
            WebSocketCase(
                "2.4-ping-126-bytes",
                rfc: "5.5",
                [.send(RawFrame(0x9, Array(repeating: 1, count: 126))), protocolError]
            ),
            WebSocketCase(
                "2.5-unsolicited-pong",
                rfc: "5.5.3",
                [.send(RawFrame(0xA)), .send(pingText("p")), .expect(.reply("p"))]
            ),
            WebSocketCase(
                "2.6-unsolicited-pong-with-payload",
                rfc: "5.5.3",
                [.send(RawFrame(0xA, Array("x".utf8))), .send(pingText("p")), .expect(.reply("p"))]
            ),
            WebSocketCase(
                "2.7-ten-pings",
                rfc: "5.5.2",
                (0..<10).map { Step.send(RawFrame(0x9, [UInt8($0)])) } + (0..<10).map { .expect(.pong([UInt8($0)])) }
            ),
            WebSocketCase(
                "2.8-ping-written-byte-by-byte",
                rfc: "5.5.2",
                [.chopped(RawFrame(0x9, bytes125), 1), .expect(.pong(bytes125))]
            ),
            WebSocketCase(
                "2.9-ping-then-close",
                rfc: "5.5.2",
                [.send(RawFrame(0x9, [7])), .send(.close(1000)), .expect(.pong([7])), .expect(.close(1000))]
            ),
        ]
    }

    // MARK: 3 Reserved bits

    static var reservedBits: [WebSocketCase] {
        [
            WebSocketCase(
                "3.1-rsv1-text",
                rfc: "5.2",
                [.send(RawFrame(0x1, Array(ping("r").utf8), rsv: 4)), protocolError]
            ),
            WebSocketCase(
                "3.2-rsv2-text-after-a-request",
                rfc: "5.2",
                [
                    .send(pingText("a")), .expect(.reply("a")), .send(RawFrame(0x1, Array(ping("r").utf8), rsv: 2)),
                    protocolError,
                ]
            ),
            WebSocketCase(
                "3.3-rsv3-text-then-ping",
                rfc: "5.2",
                [.send(RawFrame(0x1, Array(ping("r").utf8), rsv: 1)), .send(RawFrame(0x9, [1])), protocolError]
            ),
            WebSocketCase("3.4-rsv-all-binary", rfc: "5.2", [.send(RawFrame(0x2, [1, 2, 3], rsv: 7)), protocolError]),
            WebSocketCase("3.5-rsv1-ping", rfc: "5.2", [.send(RawFrame(0x9, [1], rsv: 4)), protocolError]),
            WebSocketCase("3.6-rsv2-close", rfc: "5.2", [.send(RawFrame(0x8, [0x03, 0xE8], rsv: 2)), protocolError]),
            WebSocketCase(
                "3.7-rsv1-continuation",
                rfc: "5.2",
                [
                    .send(.text(#"{"type":"ping","#, fin: false)),
                    .send(RawFrame(0x0, Array(#""id":"x"}"#.utf8), rsv: 4)), protocolError,
                ]
            ),
        ]
    }

    // MARK: 4 Opcodes

    static var opcodes: [WebSocketCase] {
        var cases: [WebSocketCase] = []
        for opcode: UInt8 in [3, 4, 5, 6, 7, 11, 12, 13, 14, 15] {
            let kind = opcode < 8 ? "data" : "control"
            cases.append(
                WebSocketCase(
                    "4.1-reserved-\(kind)-opcode-\(opcode)",
                    rfc: "5.2",
                    [.send(RawFrame(opcode)), protocolError]
                )
            )
        }
        cases += [
            WebSocketCase(
                "4.2-reserved-opcode-5-with-payload-after-a-request",
                rfc: "5.2",
                [
                    .send(pingText("a")), .expect(.reply("a")), .send(RawFrame(5, Array(ping("b").utf8))),
                    .send(pingText("c")), protocolError,
                ]
            ),
            WebSocketCase(
                "4.3-reserved-opcode-11-then-ping",
                rfc: "5.2",
                [.send(RawFrame(11, [1, 2])), .send(RawFrame(0x9, [1])), protocolError]
            ),
        ]
        return cases
    }
}
