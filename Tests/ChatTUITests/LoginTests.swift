import ChatCore
import ChatTUI
import Testing

// MARK: - Login form

@Suite("update: login form")
struct LoginTests {
    func form(user: String = "") -> AppState {
        var state = makeState([])
        state.connection = .connecting
        state.login = AppState.LoginForm(user: user)
        return state
    }

    @Test("the form starts on the user field, or on the password when the user is known")
    func focus() {
        #expect(form().login?.focus == .user)
        #expect(form(user: "alice").login?.focus == .password)
    }

    @Test("keys and pastes edit the focused field, never the chat input")
    func editing() {
        var state = form()
        press(&state, .character("b"), .character("o"), .character("b"), .backspace, .character("B"))
        #expect(state.login?.user.text == "boB")
        press(&state, .tab)
        #expect(state.login?.focus == .password)
        _ = update(&state, .paste("pass word\n 日本"))
        #expect(state.login?.password.text == "pass word 日本")
        press(&state, .ctrl("u"))
        #expect(state.login?.password.text == "")
        press(&state, .up)
        #expect(state.login?.focus == .user)
        #expect(state.input.isEmpty)
    }

    @Test("Enter on the user field moves to the password")
    func enterOnUser() {
        var state = form()
        press(&state, .character("x"))
        #expect(press(&state, .enter) == [])
        #expect(state.login?.focus == .password)
    }

    @Test("Enter validates the user name and the password length")
    func validation() {
        var state = form(user: "bad name")
        state.login?.password = InputLine("long enough")
        #expect(press(&state, .enter) == [])
        #expect(state.login?.error?.contains("user name") == true)
        #expect(state.login?.focus == .user)
        state.login?.user = InputLine("alice")
        state.login?.focus = .password
        state.login?.password = InputLine("short")
        #expect(press(&state, .enter) == [])
        #expect(state.login?.error == "the password must be 8 to 1024 bytes")
        press(&state, .character("!"))
        #expect(state.login?.error == nil)
    }

    @Test("a valid form authenticates, registers with Ctrl-R, and is busy until answered")
    func submitForm() {
        var state = form(user: " alice ")
        state.login?.password = InputLine("correct horse")
        press(&state, .ctrl("r"))
        #expect(press(&state, .enter) == [.authenticate(user: "alice", password: "correct horse", register: true)])
        #expect(state.login?.busy == true)
        #expect(state.user == "alice")
        #expect(press(&state, .character("x"), .enter) == [])
        #expect(state.login?.password.text == "correct horse")
    }

    @Test("a refused login clears the password and shows why; Esc quits")
    func refused() {
        var state = form(user: "alice")
        state.login?.password = InputLine("wrong password")
        press(&state, .enter)
        receive(&state, .authenticationFailed(ProtocolError(.unauthorized, "wrong user name or password")))
        #expect(state.login?.busy == false)
        #expect(state.login?.error == "wrong user name or password")
        #expect(state.login?.password.isEmpty == true)
        #expect(state.connection == .connecting)
        #expect(press(&state, .escape) == [.quit])
        #expect(state.quitting)
    }

    @Test("a connection that gives up while logging in shows an error; .connected closes the form")
    func connection() {
        var state = form(user: "alice")
        state.login?.password = InputLine("correct horse")
        press(&state, .enter)
        receive(&state, .disconnected(reason: "connection refused", retryIn: nil))
        #expect(state.login?.error == "cannot connect: connection refused")
        #expect(state.login?.busy == false)
        press(&state, .enter)
        receive(&state, .connected(user: "alice", token: "t"))
        #expect(state.login == nil)
        #expect(state.connection == .connected)
    }
}
