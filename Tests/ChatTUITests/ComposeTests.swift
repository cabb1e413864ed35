import ChatCore
import ChatTUI
import Testing

/// 2026-11-29 09:30 UTC, in ms.
private let now: Int64 = 1_795_944_600_000

/// Connected as alice in `general`, with the server's limits.
private func makeState(maxText: Int = 4000) -> AppState {
    var state = AppState(user: "alice", server: "chat.example.org")
    state.connection = .connected
    state.now = now
    state.rooms = [AppState.Room(name: "general")]
    _ = update(&state, .limits(Limits(maxText: maxText)))
    return state
}

/// Puts a line in the input (as a paste) and presses Enter.
@discardableResult
private func submit(_ state: inout AppState, _ line: String) -> [AppEffect] {
    _ = update(&state, .paste(line))
    return update(&state, .key(.enter))
}

@Suite("update: a composed message is never lost")
struct ComposeTests {
    @Test("a paste over max_text is not sent: the status says so in plain words, the text stays in the input")
    func overLongPaste() {
        var state = makeState()
        let text = String(repeating: "a", count: 4100)
        #expect(submit(&state, text) == [])
        #expect(state.notice == "message is 4,100 characters; the limit is 4,000 — not sent")
        #expect(state.input.text == text)
        #expect(state.rooms[0].pending.isEmpty)
        // Shortened to the limit, it goes.
        _ = update(&state, .key(.ctrl("u")))
        let effects = submit(&state, String(repeating: "b", count: 4000))
        #expect(effects.count == 1)
        #expect(state.input.isEmpty)
    }

    @Test("the limit counts Unicode scalars, as PROTOCOL.md says, not characters")
    func scalarsNotCharacters() {
        var state = makeState(maxText: 3)
        // Two flags: two characters, four scalars.
        #expect(submit(&state, "🇯🇵🇫🇷") == [])
        #expect(state.notice == "message is 4 characters; the limit is 3 — not sent")
        _ = update(&state, .key(.ctrl("u")))
        // "é" as e + combining accent: one character, two scalars; three scalars in all fit.
        #expect(submit(&state, "e\u{301}x").count == 1)
    }

    @Test("/me and //text are checked too; other commands are not messages")
    func commandsChecked() {
        var state = makeState(maxText: 5)
        #expect(submit(&state, "/me waves hello") == [])
        #expect(state.input.text == "/me waves hello")
        #expect(state.notice == "message is 11 characters; the limit is 5 — not sent")
        _ = update(&state, .key(.ctrl("u")))
        #expect(submit(&state, "//slash") == [])
        #expect(state.notice == "message is 6 characters; the limit is 5 — not sent")
        _ = update(&state, .key(.ctrl("u")))
        #expect(
            submit(&state, "/topic a topic longer than five") == [
                .setTopic(room: "general", topic: "a topic longer than five")
            ]
        )
    }

    @Test("a send the server refuses as too large comes back into the empty input line, in plain words")
    func refusedTooLarge() {
        var state = makeState(maxText: 10)
        _ = update(&state, .limits(Limits(maxText: 4000)))
        let text = String(repeating: "x", count: 12)
        #expect(submit(&state, text).count == 1)
        // The server's limit was lower than announced (e.g. changed on restart): it refuses.
        _ = update(&state, .limits(Limits(maxText: 10)))
        _ = update(
            &state,
            .client(.sendFailed(nonce: "t-1", ProtocolError(.tooLarge, "text is longer than 10 characters")))
        )
        #expect(state.input.text == text)
        #expect(state.notice == "not sent: message is 12 characters; the limit is 10")
        #expect(state.rooms[0].pending.isEmpty)
    }

    @Test("a refused send while something else is typed goes under ↑, and ↑ recalls it")
    func refusedWhileTyping() {
        var state = makeState()
        #expect(submit(&state, "first").count == 1)
        _ = update(&state, .paste("second, half typed"))
        _ = update(&state, .client(.sendFailed(nonce: "t-1", ProtocolError(.forbidden, "not a member of general"))))
        #expect(state.input.text == "second, half typed")
        #expect(state.notice == "not sent: not a member of general — ↑ recalls it")
        _ = update(&state, .key(.up))
        #expect(state.input.text == "first")
        _ = update(&state, .key(.down))
        #expect(state.input.text == "second, half typed")
    }

    @Test("an action comes back as /me, a text starting with / escaped as //")
    func commandLikeTextsComeBack() {
        var state = makeState()
        #expect(submit(&state, "/me waves").count == 1)
        _ = update(&state, .client(.sendFailed(nonce: "t-1", ProtocolError(.forbidden, "no"))))
        #expect(state.input.text == "/me waves")
        _ = update(&state, .key(.ctrl("u")))
        #expect(submit(&state, "//etc/hosts").count == 1)
        _ = update(&state, .client(.sendFailed(nonce: "t-2", ProtocolError(.forbidden, "no"))))
        #expect(state.input.text == "//etc/hosts")
    }

    @Test("a send that fails without a refusal (.notSent) also gives the text back")
    func notSent() {
        var state = makeState()
        #expect(submit(&state, "hello").count == 1)
        _ = update(&state, .notSent(nonce: "t-1", reason: "connection lost before the reply"))
        #expect(state.input.text == "hello")
        #expect(state.notice == "not sent: connection lost before the reply")
        // A second report for the same nonce changes nothing but the notice.
        _ = update(&state, .key(.ctrl("u")))
        _ = update(&state, .notSent(nonce: "t-1", reason: "again"))
        #expect(state.input.isEmpty)
    }
}

@Suite("update: what the run loop used to do by itself")
struct RuntimeEventTests {
    @Test("a resize sets the page height PgUp scrolls by")
    func resizeSetsPageHeight() {
        var state = makeState()
        _ = update(&state, .resize(Size(width: 100, height: 40)))
        #expect(state.pageHeight == 37)
        _ = update(&state, .resize(Size(width: 10, height: 2)))
        #expect(state.pageHeight == 1)
    }

    @Test(".scrollLimit clamps the scroll offset to what the view can show")
    func scrollLimit() {
        var state = makeState()
        state.scroll = 30
        #expect(update(&state, .scrollLimit(12)) == [])
        #expect(state.scroll == 12)
        #expect(update(&state, .scrollLimit(20)) == [])
        #expect(state.scroll == 12)
    }

    @Test("/logout asks the server; its answer forgets the token and quits")
    func logout() {
        var state = makeState()
        #expect(submit(&state, "/logout") == [.logout])
        #expect(!state.quitting)
        #expect(update(&state, .loggedOut) == [.storeToken(user: "alice", token: nil), .quit])
        #expect(state.quitting)
    }

    @Test(".limits keeps the server's limits")
    func limits() {
        var state = makeState()
        _ = update(&state, .limits(Limits(maxText: 123)))
        #expect(state.limits.maxText == 123)
    }
}
