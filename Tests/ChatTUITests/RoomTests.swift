import ChatCore
import ChatTUI
import Testing

// MARK: - Rooms and scrolling

@Suite("update: rooms and scrolling")
struct RoomTests {
    @Test("Alt-1…9 picks a room by number; out of range does nothing")
    func altNumber() {
        var state = makeState(["a", "b", "c"])
        press(&state, .alt("2"))
        #expect(state.active == 1)
        press(&state, .alt("3"))
        #expect(state.active == 2)
        press(&state, .alt("9"))
        #expect(state.active == 2)
        press(&state, .alt("0"))
        #expect(state.active == 2)
        press(&state, .alt("1"))
        #expect(state.active == 0)
    }

    @Test("Ctrl-N and Ctrl-P wrap around")
    func nextPrevious() {
        var state = makeState(["a", "b", "c"])
        press(&state, .ctrl("p"))
        #expect(state.active == 2)
        press(&state, .ctrl("n"))
        #expect(state.active == 0)
        press(&state, .ctrl("n"), .ctrl("n"))
        #expect(state.active == 2)
        var none = makeState([])
        #expect(press(&none, .ctrl("n")) == [])
        #expect(none.active == 0)
    }

    @Test("switching rooms resets scrolling, sets the marker and marks the new room read")
    func switchMarksRead() {
        var state = makeState(["a", "b"])
        state.rooms[1].messages = (1...5).map { message("b", $0, "bob") }
        state.rooms[1].head = 5
        state.rooms[1].read = 3
        state.rooms[1].mentions = 1
        state.rooms[0].marker = 7
        state.scroll = 4
        state.newBelow = 1
        #expect(press(&state, .ctrl("n")) == [.markRead(room: "b", seq: 5)])
        #expect(state.rooms[1].marker == 3)
        #expect(state.rooms[1].read == 5)
        #expect(state.rooms[1].mentions == 0)
        #expect(state.rooms[0].marker == nil)
        #expect(state.scroll == 0)
        #expect(state.newBelow == 0)
    }

    @Test("Alt-A goes to rooms with mentions first, then to rooms with unread messages")
    func altA() {
        var state = makeState(["general", "random", "swift", "quiet"])
        state.rooms[1].messages = (1...3).map { message("random", $0, "bob") }
        state.rooms[1].head = 3
        state.rooms[1].read = 1
        state.rooms[2].messages = (1...2).map { message("swift", $0, "bob") }
        state.rooms[2].head = 2
        state.rooms[2].read = 1
        state.rooms[2].mentions = 1
        #expect(press(&state, .alt("a")) == [.markRead(room: "swift", seq: 2)])
        #expect(state.active == 2)
        #expect(press(&state, .alt("a")) == [.markRead(room: "random", seq: 3)])
        #expect(state.active == 1)
        #expect(press(&state, .alt("a")) == [])
        #expect(state.active == 1)
    }

    /// general with `count` messages (seq 101…), connected, page height 20.
    func long(_ count: Int64, hasOlder: Bool) -> AppState {
        var state = makeState()
        state.rooms[0].messages = (101..<(101 + count)).map { message("general", $0, "bob") }
        state.rooms[0].head = 100 + count
        state.rooms[0].read = 100 + count
        state.rooms[0].hasOlder = hasOlder
        state.pageHeight = 20
        return state
    }

    @Test("PageUp scrolls by a page less two lines; past the loaded messages it loads older ones once")
    func pageUpLoadsOlder() {
        var state = long(10, hasOlder: true)
        #expect(press(&state, .pageUp) == [.loadOlder(room: "general", before: 101)])
        #expect(state.scroll == 18)
        #expect(state.rooms[0].loadingOlder)
        #expect(press(&state, .pageUp) == [])
        #expect(state.scroll == 36)
    }

    @Test("PageUp within the loaded messages, or without older history, loads nothing")
    func pageUpNoLoad() {
        var many = long(100, hasOlder: true)
        #expect(press(&many, .pageUp) == [])
        #expect(many.scroll == 18)
        var all = long(10, hasOlder: false)
        #expect(press(&all, .pageUp) == [])
        #expect(all.scroll == 18)
    }

    @Test("PageDown back to the bottom clears \"new below\" and marks the room read")
    func pageDownToBottom() {
        var state = long(30, hasOlder: false)
        press(&state, .pageUp, .pageUp)
        receive(&state, .message(message("general", 131, "bob")))
        #expect(state.newBelow == 1)
        #expect(state.rooms[0].read == 130)
        #expect(press(&state, .pageDown) == [])
        #expect(state.scroll == 18)
        #expect(press(&state, .pageDown) == [.markRead(room: "general", seq: 131)])
        #expect(state.scroll == 0)
        #expect(state.newBelow == 0)
        #expect(press(&state, .pageDown) == [])
        #expect(state.scroll == 0)
    }

    @Test("history merges older messages in order, without duplicates")
    func history() {
        var state = long(3, hasOlder: true)
        press(&state, .pageUp)
        let older = [message("general", 99, "carol"), message("general", 101, "bob"), message("general", 100, "dave")]
        #expect(update(&state, .history(room: "general", messages: older, more: false)) == [])
        #expect(state.rooms[0].messages.map(\.seq) == [99, 100, 101, 102, 103])
        #expect(!state.rooms[0].loadingOlder)
        #expect(!state.rooms[0].hasOlder)
        #expect(state.rooms[0].head == 103)
        #expect(update(&state, .history(room: "nowhere", messages: older, more: true)) == [])
    }
}
