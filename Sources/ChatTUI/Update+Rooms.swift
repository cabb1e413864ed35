import ChatCore

// MARK: Rooms and scrolling

func switchRoom(_ state: inout AppState, to index: Int, wrap: Bool = true) -> [AppEffect] {
    guard !state.rooms.isEmpty else { return [] }
    var target = index
    if wrap {
        target = (index % state.rooms.count + state.rooms.count) % state.rooms.count
    } else if !state.rooms.indices.contains(index) {
        return []
    }
    if target != state.active {
        state.rooms[state.active].marker = nil
        state.rooms[state.active].focus = nil
        state.selection = nil
        state.confirmDelete = nil
        state.compose = .message
    }
    state.active = target
    state.scroll = 0
    state.newBelow = 0
    if state.rooms[target].marker == nil, state.rooms[target].unread > 0 {
        state.rooms[target].marker = state.rooms[target].read
    }
    return markActiveRead(&state)
}

func jumpToActivity(_ state: inout AppState) -> [AppEffect] {
    let order = (1...max(1, state.rooms.count)).map { (state.active + $0) % max(1, state.rooms.count) }
    if let i = order.first(where: { state.rooms.indices.contains($0) && state.rooms[$0].mentions > 0 }) {
        return switchRoom(&state, to: i, wrap: false)
    }
    if let i = order.first(where: { state.rooms.indices.contains($0) && state.rooms[$0].unread > 0 }) {
        return switchRoom(&state, to: i, wrap: false)
    }
    return []
}

func scroll(_ state: inout AppState, by lines: Int) -> [AppEffect] {
    guard let room = state.activeRoom else { return [] }
    state.scroll = max(0, state.scroll + lines)
    var effects: [AppEffect] = []
    // Scrolling above what is loaded fetches the previous page.
    let loadedLines = room.messages.count
    if lines > 0, state.scroll + state.pageHeight >= loadedLines, room.hasOlder, !room.loadingOlder,
        let first = room.messages.first
    {
        state.rooms[state.active].loadingOlder = true
        effects.append(.loadOlder(room: room.name, before: first.seq))
    }
    if state.scroll == 0 {
        state.newBelow = 0
        effects += markActiveRead(&state)
    }
    return effects
}

/// Reaching the bottom of a visible room marks it read.
func markActiveRead(_ state: inout AppState) -> [AppEffect] {
    guard state.scroll == 0, state.rooms.indices.contains(state.active), case .connected = state.connection else {
        return []
    }
    let room = state.rooms[state.active]
    guard let last = room.messages.last?.seq, last > room.read else { return [] }
    state.rooms[state.active].read = last
    state.rooms[state.active].mentions = 0
    return [.markRead(room: room.name, seq: last)]
}

// MARK: Completion

func complete(_ state: inout AppState) {
    if var completion = state.completion, !completion.candidates.isEmpty {
        completion.index = (completion.index + 1) % completion.candidates.count
        state.input.replace(from: completion.start, with: completion.candidates[completion.index])
        state.completion = completion
        return
    }
    var (word, start) = state.input.wordBeforeCursor
    let uploadPrefix = "/upload "
    if state.input.text.hasPrefix(uploadPrefix), state.input.cursor >= uploadPrefix.count {
        // The path is everything after `/upload ` up to the cursor, escaped spaces included.
        let typed = String(state.input.text.prefix(state.input.cursor).dropFirst(uploadPrefix.count))
        if !hasUnescapedSpace(typed) {
            (word, start) = (typed, uploadPrefix.count)
        }
    }
    guard !word.isEmpty else { return }
    let lower = word.lowercased()
    var candidates: [String]
    let line = state.input.text
    if start == 0, word.hasPrefix("/") {
        candidates = chatCommands.filter { $0.hasPrefix(lower) }.map { $0 + " " }
    } else if isUserArgument(line, start: start) {
        // `/msg NAME`, `/invite NAME`…: the users the client knows (members, presence, senders), not itself.
        let me = TextRules.foldKey(state.user)
        let key = TextRules.foldKey(word.hasPrefix("@") ? String(word.dropFirst()) : word)
        candidates = state.people.filter { $0.key != me && $0.key.hasPrefix(key) }.values.map(\.name)
            .sorted { TextRules.foldKey($0) < TextRules.foldKey($1) }.map { $0 + " " }
    } else if line.hasPrefix(uploadPrefix), start == uploadPrefix.count {
        // A path (read from the file system): directories end in `/`, files in a space.
        candidates = PathCompletion.candidates(word)
    } else if line.hasPrefix("/join ") || line.hasPrefix("/part ") {
        candidates = state.rooms.map(\.name).filter { $0.lowercased().hasPrefix(lower) }.map { $0 + " " }
    } else {
        var nicks: [String] = []
        for message in (state.activeRoom?.messages ?? []).reversed() where !nicks.contains(message.from) {
            nicks.append(message.from)
        }
        candidates = nicks.filter { $0.lowercased().hasPrefix(lower) && $0 != state.user }
            .map { start == 0 ? $0 + ": " : $0 + " " }
    }
    guard !candidates.isEmpty else { return }
    state.input.replace(from: start, with: candidates[0])
    state.completion = AppState.Completion(candidates: candidates, index: 0, start: start)
}

/// Commands whose first argument is a user name.
let userCommands: Set<String> = ["/msg", "/m", "/query", "/invite", "/kick"]

/// Whether the word starting at `start` is the first argument of a command that takes a user name.
private func isUserArgument(_ line: String, start: Int) -> Bool {
    let before = String(line.prefix(start))
    guard before.hasSuffix(" ") else { return false }
    let words = before.split(separator: " ")
    return words.count == 1 && userCommands.contains(words[0].lowercased())
}
