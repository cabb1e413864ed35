import ChatConformance
import ChatCore
import ChatServer
import Testing

/// RFC 6455 violations of issue #21, each reproduced with raw frames against a live server.
/// (The whole frame table runs as the conformance group `websocket`.)
@Suite("WebSocket framing (RFC 6455)")
struct WebSocketFramingTests {
    typealias Step = WebSocketCase.Step

    static let violations: [(String, [Step])] = [
        (
            "a text frame with RSV1 set",
            [.send(RawFrame(0x1, Array(#"{"type":"ping","id":"x"}"#.utf8), rsv: 4)), .expect(.close(1002))]
        ),
        (
            "an unmasked text frame",
            [.send(RawFrame(0x1, Array(#"{"type":"ping","id":"x"}"#.utf8), masked: false)), .expect(.close(1002))]
        ),
        ("close code 999 (was echoed)", [.send(.close(999)), .expect(.close(1002))]),
        ("close code 1005 (never sent on the wire)", [.send(.close(1005)), .expect(.close(1002))]),
        ("a close payload of 1 byte (was answered 1005)", [.send(RawFrame(0x8, [0x03])), .expect(.close(1002))]),
        (
            "a close reason that is not UTF-8 (was answered 1000)",
            [.send(.close(1000, reason: [0xFF])), .expect(.close(1007))]
        ),
        (
            "invalid UTF-8 in the first fragment, before the message ends (fail fast)",
            [.send(RawFrame(0x1, [0x7B, 0xC0, 0xAF], fin: false)), .expect(.close(1007))]
        ),
        (
            "a code point cut at the end of the last fragment",
            [.send(RawFrame(0x1, [0x7B], fin: false)), .send(RawFrame(0x0, [0xE2, 0x82])), .expect(.close(1007))]
        ),
    ]

    @Test("each violation fails the connection with the RFC's code")
    func violations() async throws {
        try await TestServer.with { server in
            for (label, steps) in Self.violations {
                await #expect(throws: Never.self, "\(label)") {
                    try await WebSocketCase(label, rfc: "", steps).run(
                        url: server.url,
                        limits: server.configuration.limits
                    )
                }
            }
        }
    }

    @Test("valid close codes are echoed, and a code point split between fragments is accepted")
    func accepted() async throws {
        try await TestServer.with { server in
            for code: UInt16 in [1000, 1003, 1012, 3000, 4999] {
                try await WebSocketCase("echo", rfc: "", [.send(.close(code)), .expect(.close(code))])
                    .run(url: server.url, limits: server.configuration.limits)
            }
            let bytes = Array(#"{"type":"ping","id":"€"}"#.utf8)
            let cut = bytes.firstIndex(of: 0xE2)! + 1
            try await WebSocketCase(
                "split",
                rfc: "",
                [
                    .send(RawFrame(0x1, Array(bytes[..<cut]), fin: false)), .send(RawFrame(0x0, Array(bytes[cut...]))),
                    .expect(.reply("€")),
                ]
            ).run(url: server.url, limits: server.configuration.limits)
        }
    }

    @Test("the frame table has a case for every Autobahn section 1-7 topic and unique names")
    func table() {
        let names = WebSocketCase.all.map(\.name)
        #expect(Set(names).count == names.count)
        for prefix in ["1.", "2.", "3.", "4.", "5.", "6.", "7.", "9."] {
            #expect(names.contains { $0.hasPrefix(prefix) }, "section \(prefix)")
        }
        #expect(names.count >= 90)
    }
}
