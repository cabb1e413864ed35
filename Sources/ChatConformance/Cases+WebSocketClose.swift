import ChatCore

/// The `websocket` group, Autobahn section 7 (closing) plus masking and message size.
extension WebSocketCase {
    // MARK: 7 Closing

    /// Codes a peer may send (RFC 6455 §7.4.1, IANA registry, 3000–4999): echoed.
    static let validCloseCodes: [UInt16] = [
        1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999,
    ]
    /// Codes no peer may send: unassigned, reserved (1004), or never on the wire (1005, 1006, 1015).
    static let invalidCloseCodes: [UInt16] = [0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535]

    static var closing: [WebSocketCase] {
        var cases: [WebSocketCase] = [
            WebSocketCase("7.1.1-close-empty", rfc: "5.5.1", [.send(RawFrame(0x8)), .expect(.close(nil))]),
            WebSocketCase(
                "7.1.2-close-then-request",
                rfc: "5.5.1",
                [.send(.close(1000)), .send(pingText("late")), .expect(.close(1000))]
            ),
            WebSocketCase(
                "7.1.3-close-then-ping",
                rfc: "5.5.1",
                [.send(.close(1000)), .send(RawFrame(0x9, [1])), .expect(.close(1000))]
            ),
            WebSocketCase(
                "7.1.4-close-inside-a-fragmented-text",
                rfc: "5.5.1",
                [
                    .send(.text(#"{"type":"ping","#, fin: false)), .send(.close(1000)),
                    .send(.continuation(#""id":"x"}"#)), .expect(.close(1000)),
                ]
            ),
            WebSocketCase(
                "7.3.1-close-with-reason",
                rfc: "5.5.1",
                [.send(.close(1000, reason: Array("bye".utf8))), .expect(.close(1000))]
            ),
            WebSocketCase(
                "7.3.2-close-125-bytes",
                rfc: "5.5",
                [.send(.close(1000, reason: Array(repeating: 0x2A, count: 123))), .expect(.close(1000))]
            ),
            WebSocketCase(
                "7.3.3-close-126-bytes",
                rfc: "5.5",
                [.send(.close(1000, reason: Array(repeating: 0x2A, count: 124))), protocolError]
            ),
            WebSocketCase("7.3.4-close-1-byte", rfc: "5.5.1", [.send(RawFrame(0x8, [0x03])), protocolError]),
            WebSocketCase(
                "7.5.1-close-reason-not-utf8",
                rfc: "8.1",
                [.send(.close(1000, reason: [0x61, 0xC0, 0xAF, 0x62])), .expect(.close(1007))]
            ),
        ]
        for code in validCloseCodes {
            cases.append(
                WebSocketCase(
                    "7.7-close-code-\(code)-echoed",
                    rfc: "7.4",
                    [.send(.close(code)), .expect(.close(code))]
                )
            )
        }
        for code in invalidCloseCodes {
            cases.append(
                WebSocketCase("7.9-close-code-\(code)-refused", rfc: "7.4", [.send(.close(code)), protocolError])
            )
        }
        return cases
    }

    // MARK: Masking and size

    static var masking: [WebSocketCase] {
        let bigEnough = Requirement("max_frame <= 4 MiB") { $0.maxFrame <= 4 << 20 }
        return [
            WebSocketCase(
                "9.1-unmasked-text",
                rfc: "5.1",
                [.send(RawFrame(0x1, Array(ping("u").utf8), masked: false)), protocolError]
            ),
            WebSocketCase("9.2-unmasked-ping", rfc: "5.1", [.send(RawFrame(0x9, [1], masked: false)), protocolError]),
            WebSocketCase(
                "9.3-unmasked-close",
                rfc: "5.1",
                [.send(RawFrame(0x8, [0x03, 0xE8], masked: false)), protocolError]
            ),
            WebSocketCase(
                "9.4-unmasked-continuation",
                rfc: "5.1",
                [
                    .send(.text(#"{"type":"ping","#, fin: false)),
                    .send(RawFrame(0x0, Array(#""id":"x"}"#.utf8), masked: false)), protocolError,
                ]
            ),
            WebSocketCase("9.5-frame-over-max-frame", rfc: "7.4.1", requires: bigEnough) { limits in
                [.send(RawFrame(0x2, Array(repeating: 0x20, count: limits.maxFrame + 1))), .expect(.close(1009))]
            },
            WebSocketCase("9.6-fragments-over-max-frame", rfc: "7.4.1", requires: bigEnough) { limits in
                let half = Array(repeating: UInt8(0x20), count: limits.maxFrame / 2 + 1)
                return [.send(RawFrame(0x1, half, fin: false)), .send(RawFrame(0x0, half)), .expect(.close(1009))]
            },
            WebSocketCase("9.7-text-of-max-frame-bytes", rfc: "7.4.1", requires: bigEnough) { limits in
                [.send(pingText("max", size: limits.maxFrame)), .expect(.reply("max"))]
            },
        ]
    }
}
