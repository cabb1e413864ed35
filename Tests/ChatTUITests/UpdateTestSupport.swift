import ChatCore
import ChatTUI
import Testing

/// Helpers shared by the `update` suites. They are members, so inside a suite they win over the file-private
/// helpers of the same names in other test files.
protocol UpdateTestSupport {}

extension EditingTests: UpdateTestSupport {}
extension CommandTests: UpdateTestSupport {}
extension CompletionTests: UpdateTestSupport {}
extension RoomTests: UpdateTestSupport {}
extension ClientEventTests: UpdateTestSupport {}
extension PickerTests: UpdateTestSupport {}
extension LoginTests: UpdateTestSupport {}
extension DirectMessageTests: UpdateTestSupport {}

extension UpdateTestSupport {
    /// 2026-11-29 09:30 UTC, in ms.
    var now: Int64 { 1_795_944_600_000 }

    func message(
        _ room: String,
        _ seq: Int64,
        _ from: String,
        _ text: String = "hello",
        kind: MessageKind = .text,
        nonce: String? = nil
    ) -> ChatMessage {
        ChatMessage(room: room, seq: seq, from: from, text: text, kind: kind, ts: now - 60_000 + seq, nonce: nonce)
    }

    /// Connected as alice, with the given rooms (the first active).
    func makeState(_ rooms: [String] = ["general"]) -> AppState {
        var state = AppState(user: "alice", server: "chat.example.org")
        state.connection = .connected
        state.now = now
        state.rooms = rooms.map { AppState.Room(name: $0) }
        return state
    }

    /// Applies events in order and returns all their effects.
    @discardableResult
    func apply(_ state: inout AppState, _ events: [AppEvent]) -> [AppEffect] {
        events.flatMap { update(&state, $0) }
    }

    @discardableResult
    func press(_ state: inout AppState, _ keys: Key...) -> [AppEffect] {
        apply(&state, keys.map { .key($0) })
    }

    /// Types text as key presses (one per character) and presses Enter.
    @discardableResult
    func submit(_ state: inout AppState, _ line: String) -> [AppEffect] {
        state.input = InputLine(line)
        return press(&state, .enter)
    }

    @discardableResult
    func receive(_ state: inout AppState, _ event: ClientEvent) -> [AppEffect] {
        update(&state, .client(event))
    }
}
