import ChatCore
import ChatTUI
import Testing

// MARK: - Picker

@Suite("update: /rooms picker")
struct PickerTests {
    func picking(_ names: [String] = ["general", "random", "swift-dev"]) -> AppState {
        var state = makeState()
        _ = update(&state, .roomList(names))
        return state
    }

    @Test("Up and Down move within the list")
    func navigate() {
        var state = picking()
        #expect(state.picker?.items == ["general", "random", "swift-dev"])
        #expect(state.picker?.selected == 0)
        press(&state, .up)
        #expect(state.picker?.selected == 0)
        press(&state, .down, .down, .down)
        #expect(state.picker?.selected == 2)
        press(&state, .up)
        #expect(state.picker?.selected == 1)
    }

    @Test("Enter joins the selected room and closes the picker")
    func enterJoins() {
        var state = picking()
        press(&state, .down, .down)
        #expect(press(&state, .enter) == [.join("swift-dev")])
        #expect(state.picker == nil)
        #expect(state.activeRoom?.name == "swift-dev")
    }

    @Test("Enter on a room already joined switches to it")
    func enterSwitches() {
        var state = picking()
        press(&state, .ctrl("n"))  // ignored while the picker is open
        #expect(state.active == 0)
        #expect(press(&state, .enter) == [])
        #expect(state.rooms.count == 1)
        #expect(state.picker == nil)
    }

    @Test("Esc closes without joining; other keys do not edit the input")
    func escapeCloses() {
        var state = picking()
        press(&state, .character("x"))
        #expect(state.input.isEmpty)
        #expect(press(&state, .escape) == [])
        #expect(state.picker == nil)
        #expect(state.rooms.count == 1)
    }

    @Test("Enter on an empty list just closes it")
    func emptyList() {
        var state = picking([])
        press(&state, .down)
        #expect(state.picker?.selected == 0)
        #expect(press(&state, .enter) == [])
        #expect(state.picker == nil)
    }
}
