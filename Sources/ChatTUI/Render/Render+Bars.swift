import ChatCore

func drawTitle(_ screen: inout ScreenBuffer, _ state: AppState, _ theme: Theme) {
    screen.fill(row: 0, from: 0, to: screen.size.width, style: theme.title)
    guard let room = state.activeRoom else {
        screen.put(" chat — no room yet: /join ROOM, /rooms, /help", row: 0, column: 0, style: theme.title)
        return
    }
    let right = " \(room.members > 0 ? "\(room.members) member\(room.members == 1 ? "" : "s") " : "")"
    let rightStart = screen.size.width - DisplayWidth.of(right)
    var col = screen.put(" \(state.title(of: room))", row: 0, column: 0, style: theme.title, limit: rightStart)
    if !room.topic.isEmpty {
        col = screen.put(" │ ", row: 0, column: col, style: theme.title, limit: rightStart)
        screen.put(
            DisplayWidth.truncate(room.topic.replacingNewlines, columns: max(0, rightStart - col - 1)),
            row: 0,
            column: col,
            style: theme.title,
            limit: rightStart
        )
    }
    screen.put(right, row: 0, column: rightStart, style: theme.title)
}

func drawStatus(_ screen: inout ScreenBuffer, _ state: AppState, _ theme: Theme, row: Int) {
    screen.fill(row: row, from: 0, to: screen.size.width, style: theme.status)
    var parts: [String] = []
    switch state.connection {
    case .connecting: parts.append("○ connecting to \(state.server)")
    case .connected:
        parts.append("● \(state.user) @ \(state.server)" + (state.lagMs.map { " · lag \($0) ms" } ?? ""))
    case .reconnecting(let at, let reason):
        let seconds = max(0, (at - state.now + 999) / 1000)
        parts.append("◌ \(reason) — retrying in \(seconds) s")
    case .offline(let reason): parts.append("✕ offline: \(reason)")
    }
    if let room = state.activeRoom {
        let typists = room.typing.filter { $0.value > state.now }.keys.sorted()
        if !typists.isEmpty {
            parts.append(
                typists.count == 1 ? "\(typists[0]) is typing…" : "\(typists.joined(separator: ", ")) are typing…"
            )
        }
    }
    if state.selection != nil, state.confirmDelete == nil {
        parts.append("↑/↓ select · e edit · d delete · r reply · + react · s save · o open · Esc")
    }
    switch state.compose {
    case .message: break
    case .reply: parts.append("Enter sends the reply · Esc cancels")
    case .edit: parts.append("Enter saves the edit · Esc cancels")
    case .react: parts.append("Enter reacts · Tab other emoji · Esc cancels")
    }
    if let transfer = state.transfer { parts.append(transferLine(transfer)) }
    if let notice = state.notice { parts.append(notice.replacingNewlines) }
    // Too long for the line: the notice (an error, say) matters more than the server's address and the lag.
    if case .connected = state.connection,
        DisplayWidth.of(" " + parts.joined(separator: " │ ")) > screen.size.width
    {
        parts[0] = "● \(state.user)"
    }
    screen.put(" " + parts.joined(separator: " │ "), row: row, column: 0, style: theme.status)
}

func drawInput(_ screen: inout ScreenBuffer, _ state: AppState, _ theme: Theme, row: Int) {
    var prompt = "[\(state.activeRoom.map(state.title(of:)) ?? "no room")] "
    switch state.compose {
    case .message: break
    case .reply(_, let quote): prompt = "replying to \(quote.replacingNewlines) › "
    case .edit: prompt = "editing › "
    case .react: prompt = "react with › "
    }
    let promptWidth = min(DisplayWidth.of(prompt), screen.size.width / (state.compose == .message ? 3 : 2))
    screen.put(DisplayWidth.truncate(prompt, columns: promptWidth), row: row, column: 0, style: theme.dim)
    let available = screen.size.width - promptWidth - 1
    let shown = state.input.characters.map { $0 == "\n" ? "↵" : $0 }
    // Scroll horizontally so the cursor stays visible.
    var start = 0
    while DisplayWidth.of(String(shown[start..<state.input.cursor])) > available { start += 1 }
    var col = promptWidth
    var cursorColumn = col
    for (i, c) in shown.enumerated().dropFirst(start) {
        if i == state.input.cursor { cursorColumn = col }
        let w = DisplayWidth.of(c)
        if col + w > screen.size.width { break }
        col = screen.put(String(c), row: row, column: col)
    }
    if state.input.cursor >= shown.count { cursorColumn = col }
    screen.cursor = (row, min(cursorColumn, screen.size.width - 1))
}

/// `↑ name ▕█████░░░░░▏ 52 % of 3.1 MB` for the status line.
func transferLine(_ transfer: AppState.Transfer) -> String {
    let arrow = transfer.upload ? "↑" : "↓"
    let name = DisplayWidth.truncate(transfer.name.replacingNewlines, columns: 24)
    guard transfer.total > 0 else { return "\(arrow) \(name) …" }
    let fraction = min(1, Double(transfer.done) / Double(transfer.total))
    let filled = Int((fraction * 10).rounded(.down))
    let bar = String(repeating: "█", count: filled) + String(repeating: "░", count: 10 - filled)
    return "\(arrow) \(name) ▕\(bar)▏ \(Int(fraction * 100)) % of \(FileRef.humanSize(transfer.total))"
}
