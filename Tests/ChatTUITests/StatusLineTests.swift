import ChatCore
import ChatTUI
import Testing

/// The status lines of issue #22 (plain words, a kept message) as golden screens, and counts in the views.
@Suite("status lines and counts")
struct StatusLineTests {
    private static let size = Size(width: 80, height: 24)

    /// Connected as alice in `general` with two messages.
    private static func state() -> AppState {
        var state = Screens.base()
        var general = AppState.Room(name: "general")
        general.messages = [
            ChatMessage(
                room: "general",
                seq: 1,
                from: "bob",
                text: "paste the log here?",
                kind: .text,
                ts: state.now - 120_000
            ),
            ChatMessage(
                room: "general",
                seq: 2,
                from: "carol",
                text: "yes please",
                kind: .text,
                ts: state.now - 60_000
            ),
        ]
        general.head = 2
        general.read = 2
        state.rooms = [general]
        return state
    }

    @Test("golden: a paste over max_text stays in the input line and the status says why")
    func tooLong() {
        var state = Self.state()
        _ = update(&state, .paste(String(repeating: "log line ", count: 455) + "tail"))
        _ = update(&state, .key(.enter))
        #expect(state.notice == "message is 4,099 characters; the limit is 4,000 — not sent")
        assertScreen(render(state, size: Self.size), named: "too-long-80x24")
    }

    @Test("golden: a refused send comes back, the status names the reason")
    func refused() {
        var state = Self.state()
        _ = update(&state, .paste("this one is refused"))
        _ = update(&state, .key(.enter))
        _ = update(&state, .paste("typing on"))
        _ = update(&state, .client(.sendFailed(nonce: "t-1", ProtocolError(.forbidden, "not a member of general"))))
        assertScreen(render(state, size: Self.size), named: "not-sent-80x24")
    }

    @Test("golden: reconnecting names the cause in plain words and counts down")
    func reconnecting() {
        var state = Self.state()
        _ = update(
            &state,
            .client(.disconnected(reason: "server unreachable (connection refused)", retryIn: .seconds(2)))
        )
        assertScreen(render(state, size: Self.size), named: "reconnecting-refused-80x24")
    }

    @Test("golden: signed out (the saved session ended) opens the login form and says why")
    func signedOut() {
        var state = Self.state()
        _ = update(&state, .client(.authenticationFailed(ProtocolError(.unauthorized, "token is not valid"))))
        assertScreen(render(state, size: Self.size), named: "signed-out-80x24")
    }
}
