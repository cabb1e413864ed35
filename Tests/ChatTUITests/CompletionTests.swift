import ChatCore
import ChatTUI
import Testing

// MARK: - Completion

@Suite("update: Tab completion")
struct CompletionTests {
    /// general with messages from bob, carol, bella and alice (newest last).
    func chatty() -> AppState {
        var state = makeState(["general", "swift-dev", "swiss"])
        state.rooms[0].messages = [
            message("general", 1, "bob"), message("general", 2, "carol"), message("general", 3, "bella"),
            message("general", 4, "alice"),
        ]
        return state
    }

    @Test("a nick at the start of the line gets \": \"; repeated Tab cycles, most recent speaker first")
    func nickAtStart() {
        var state = chatty()
        state.input = InputLine("b")
        press(&state, .tab)
        #expect(state.input.text == "bella: ")
        press(&state, .tab)
        #expect(state.input.text == "bob: ")
        press(&state, .tab)
        #expect(state.input.text == "bella: ")
        #expect(state.input.cursor == 7)
    }

    @Test("a nick mid-line gets a space")
    func nickMidLine() {
        var state = chatty()
        state.input = InputLine("thanks C")
        press(&state, .tab)
        #expect(state.input.text == "thanks carol ")
    }

    @Test("the own nick and unknown prefixes do not complete", arguments: ["al", "zed", ""])
    func noCompletion(_ text: String) {
        var state = chatty()
        state.input = InputLine(text)
        press(&state, .tab)
        #expect(state.input.text == text)
        #expect(state.completion == nil)
    }

    @Test("a command completes and cycles")
    func command() {
        var state = chatty()
        state.input = InputLine("/m")
        press(&state, .tab)
        #expect(state.input.text == "/me ")
        press(&state, .tab)
        #expect(state.input.text == "/members ")
        state.input = InputLine("/jo")
        press(&state, .end)  // any other key ends the cycle
        press(&state, .tab)
        #expect(state.input.text == "/join ")
    }

    @Test("a room completes after /join and /part")
    func room() {
        var state = chatty()
        state.input = InputLine("/join sw")
        press(&state, .tab)
        #expect(state.input.text == "/join swift-dev ")
        press(&state, .tab)
        #expect(state.input.text == "/join swiss ")
        state.input = InputLine("/part GE")
        press(&state, .home, .end, .tab)
        #expect(state.input.text == "/part general ")
    }

    @Test("typing after a completion starts a new one")
    func typingResets() {
        var state = chatty()
        state.input = InputLine("b")
        press(&state, .tab)
        press(&state, .character("h"), .character("i"), .character(" "), .character("c"), .tab)
        #expect(state.input.text == "bella: hi carol ")
    }
}
