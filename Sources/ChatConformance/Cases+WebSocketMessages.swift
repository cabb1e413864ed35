/// The `websocket` group, Autobahn sections 5 and 6: fragmented messages and UTF-8.
extension WebSocketCase {
    // MARK: 5 Fragmentation

    static var fragmentation: [WebSocketCase] {
        let head = #"{"type":"ping","#
        let tail = #""id":"f"}"#
        return [
            WebSocketCase(
                "5.1-ping-fragmented",
                rfc: "5.4",
                [.send(RawFrame(0x9, [1], fin: false)), .send(RawFrame(0x0, [2])), protocolError]
            ),
            WebSocketCase(
                "5.2-pong-fragmented",
                rfc: "5.4",
                [.send(RawFrame(0xA, [1], fin: false)), .send(RawFrame(0x0, [2])), protocolError]
            ),
            WebSocketCase(
                "5.3-text-in-two-fragments",
                rfc: "5.4",
                [.send(.text(head, fin: false)), .send(.continuation(tail)), .expect(.reply("f"))]
            ),
            WebSocketCase(
                "5.4-text-with-empty-fragments",
                rfc: "5.4",
                [
                    .send(.text("", fin: false)), .send(.continuation(head, fin: false)),
                    .send(.continuation("", fin: false)),
                    .send(.continuation(tail, fin: false)), .send(.continuation("")), .expect(.reply("f")),
                ]
            ),
            WebSocketCase(
                "5.5-text-one-byte-per-fragment",
                rfc: "5.4",
                {
                    let bytes = Array(ping("one").utf8)
                    var steps: [Step] = [.send(RawFrame(0x1, [bytes[0]], fin: false))]
                    for (i, byte) in bytes.enumerated().dropFirst() {
                        steps.append(.send(RawFrame(0x0, [byte], fin: i == bytes.count - 1)))
                    }
                    return steps + [.expect(.reply("one"))]
                }()
            ),
            WebSocketCase(
                "5.6-ping-between-fragments",
                rfc: "5.4",
                [
                    .send(.text(head, fin: false)), .send(RawFrame(0x9, [9])), .send(.continuation(tail)),
                    .expect(.pong([9])), .expect(.reply("f")),
                ]
            ),
            WebSocketCase(
                "5.7-ping-between-fragments-written-byte-by-byte",
                rfc: "5.4",
                [
                    .chopped(.text(head, fin: false), 1), .chopped(RawFrame(0x9, [9]), 1),
                    .chopped(.continuation(tail), 1),
                    .expect(.pong([9])), .expect(.reply("f")),
                ]
            ),
            WebSocketCase(
                "5.8-continuation-without-a-message",
                rfc: "5.4",
                [.send(.continuation(ping("x"))), protocolError]
            ),
            WebSocketCase(
                "5.9-unfinished-continuation-without-a-message",
                rfc: "5.4",
                [.send(.continuation(head, fin: false)), .send(.continuation(tail)), protocolError]
            ),
            WebSocketCase(
                "5.10-text-inside-a-fragmented-text",
                rfc: "5.4",
                [.send(.text(head, fin: false)), .send(.text(ping("x"))), protocolError]
            ),
            WebSocketCase(
                "5.11-binary-inside-a-fragmented-text",
                rfc: "5.4",
                [.send(.text(head, fin: false)), .send(RawFrame(0x2, [1], fin: false)), protocolError]
            ),
            WebSocketCase(
                "5.12-continuation-after-a-whole-message",
                rfc: "5.4",
                [.send(pingText("a")), .expect(.reply("a")), .send(.continuation(ping("b"))), protocolError]
            ),
            WebSocketCase(
                "5.13-binary-in-fragments",
                rfc: "5.4",
                [.send(RawFrame(0x2, [1], fin: false)), .send(RawFrame(0x0, [2])), .expect(.nullIDError)]
            ),
            WebSocketCase(
                "5.14-fragmented-ping-inside-a-fragmented-text",
                rfc: "5.4",
                [.send(.text(head, fin: false)), .send(RawFrame(0x9, [1], fin: false)), protocolError]
            ),
            WebSocketCase(
                "5.15-close-between-fragments",
                rfc: "5.4",
                [.send(.text(head, fin: false)), .send(.close(1000)), .expect(.close(1000))]
            ),
        ]
    }

    // MARK: 6 UTF-8

    /// Byte sequences that are not UTF-8 (Autobahn 6.3–6.21 style).
    static let invalidUTF8: [(String, [UInt8])] = [
        ("overlong-slash", [0xC0, 0xAF]),
        ("overlong-3-byte", [0xE0, 0x80, 0xAF]),
        ("overlong-4-byte", [0xF0, 0x80, 0x80, 0xAF]),
        ("surrogate-d800", [0xED, 0xA0, 0x80]),
        ("surrogate-dfff", [0xED, 0xBF, 0xBF]),
        ("above-10ffff", [0xF4, 0x90, 0x80, 0x80]),
        ("lone-continuation", [0x80]),
        ("truncated-2-byte", [0xCE]),
        ("truncated-4-byte", [0xF0, 0x9F, 0x98]),
        ("byte-fe", [0xFE]),
        ("byte-ff", [0xFF]),
        ("5-byte-form", [0xF8, 0x88, 0x80, 0x80, 0x80]),
    ]

    static var utf8: [WebSocketCase] {
        let greek = "κόσμε"
        let greekBytes = Array(ping(greek).utf8)
        let emoji = "😀"
        let emojiBytes = Array(ping(emoji).utf8)
        let emojiStart = emojiBytes.firstIndex(of: 0xF0)!
        var cases: [WebSocketCase] = [
            WebSocketCase("6.1-valid-2-byte-text", rfc: "8.1", [.send(pingText(greek)), .expect(.reply(greek))]),
            WebSocketCase("6.2-valid-4-byte-text", rfc: "8.1", [.send(pingText(emoji)), .expect(.reply(emoji))]),
            WebSocketCase(
                "6.3-code-point-split-between-fragments",
                rfc: "5.6",
                {
                    // Cut inside the 2-byte κ.
                    let cut = greekBytes.firstIndex(of: 0xCE)! + 1
                    return [
                        .send(RawFrame(0x1, Array(greekBytes[..<cut]), fin: false)),
                        .send(RawFrame(0x0, Array(greekBytes[cut...]))), .expect(.reply(greek)),
                    ]
                }()
            ),
            WebSocketCase(
                "6.4-4-byte-code-point-in-four-fragments",
                rfc: "5.6",
                [
                    .send(RawFrame(0x1, Array(emojiBytes[...emojiStart]), fin: false)),
                    .send(RawFrame(0x0, [emojiBytes[emojiStart + 1]], fin: false)),
                    .send(RawFrame(0x0, [emojiBytes[emojiStart + 2]], fin: false)),
                    .send(RawFrame(0x0, Array(emojiBytes[(emojiStart + 3)...]))), .expect(.reply(emoji)),
                ]
            ),
            WebSocketCase(
                "6.5-valid-text-after-empty-fragments",
                rfc: "5.6",
                [
                    .send(.text("", fin: false)), .send(.continuation("", fin: false)), .send(.continuation(ping("e"))),
                    .expect(.reply("e")),
                ]
            ),
        ]
        for (label, bad) in invalidUTF8 {
            let open = Array(#"{"type":"ping","id":""#.utf8)
            let close = Array(#""}"#.utf8)
            cases.append(
                WebSocketCase(
                    "6.6-invalid-\(label)",
                    rfc: "8.1",
                    [.send(RawFrame(0x1, open + bad + close)), .expect(.close(1007))]
                )
            )
        }
        let open = Array(#"{"type":"ping","id":""#.utf8)
        cases += [
            WebSocketCase(
                "6.7-invalid-in-the-first-fragment",
                rfc: "8.1",
                [
                    .send(RawFrame(0x1, open + [0xC0, 0xAF], fin: false)), .send(.continuation(#""}"#)),
                    .expect(.close(1007)),
                ]
            ),
            WebSocketCase(
                "6.8-invalid-in-the-last-fragment",
                rfc: "8.1",
                [
                    .send(RawFrame(0x1, open, fin: false)), .send(RawFrame(0x0, [0xED, 0xA0, 0x80, 0x22, 0x7D])),
                    .expect(.close(1007)),
                ]
            ),
            WebSocketCase(
                "6.9-code-point-cut-off-at-the-end",
                rfc: "8.1",
                [
                    .send(RawFrame(0x1, Array(#"{"type":"ping","id":"x"} "#.utf8), fin: false)),
                    .send(RawFrame(0x0, [0xCE])), .expect(.close(1007)),
                ]
            ),
        ]
        return cases
    }
}
