import ChatCore

/// The keys and commands `/help` shows.
package let helpLines = [
    "Enter send · Alt-Enter newline · Tab complete nick/command/room",
    "Ctrl-A/E start/end · Ctrl-B/F or ←/→ move · Alt-B/F word",
    "Ctrl-W delete word · Ctrl-U/K delete to start/end · ↑/↓ history",
    "Alt-1…9 room · Ctrl-N/P next/previous room · Alt-A next activity",
    "PgUp/PgDn scroll (older history loads from the server)",
    "Alt-S select a message: ↑/↓ move · e edit · d delete · r reply",
    "  + react (Tab: other emoji) · s save / o open a file · Esc",
    "↑ in an empty input edits your last message (↑ again: history)",
    "/edit TEXT · /delete · /react EMOJI (your last message)",
    "/join ROOM · /part [ROOM] · /rooms · /members · /topic TEXT",
    "/msg NAME [TEXT] · /query NAME (direct messages)",
    "/create ROOM [private] · /invite NAME · /kick NAME",
    "/search WORDS \"phrase\" from:NAME in:ROOM (Enter opens)",
    "/upload PATH [caption] · /download [PATH] · /open (newest file)",
    "/me TEXT · /logout · /quit · /help · //text sends '/text'",
]

func drawBox(
    _ screen: inout ScreenBuffer,
    title: String,
    lines: [String],
    theme: Theme,
    selected: Int? = nil
) {
    let width = min(
        screen.size.width - 4,
        max(DisplayWidth.of(title) + 6, (lines.map { DisplayWidth.of($0) }.max() ?? 0) + 4)
    )
    // Leave the title bar, the status bar and the input line visible.
    let maxRows = screen.size.height - 5
    let start = selected.map { max(0, min($0 - maxRows / 2, lines.count - maxRows)) } ?? 0
    let shown = Array(lines.dropFirst(start).prefix(maxRows))
    let height = shown.count + 2
    let top = max(1, (screen.size.height - height) / 2)
    let left = max(0, (screen.size.width - width) / 2)
    let border = CellStyle(bold: true)
    screen.put(
        "┌" + DisplayWidth.pad("─ \(title) ", to: width - 2).replacingSpacesAfterTitle + "┐",
        row: top,
        column: left,
        style: border
    )
    for (i, line) in shown.enumerated() {
        let isSelected = selected == start + i
        screen.put("│", row: top + 1 + i, column: left, style: border)
        screen.put(
            " " + DisplayWidth.pad(line, to: width - 4) + " ",
            row: top + 1 + i,
            column: left + 1,
            style: isSelected ? theme.selected : .plain
        )
        screen.put("│", row: top + 1 + i, column: left + width - 1, style: border)
    }
    screen.put("└" + String(repeating: "─", count: width - 2) + "┘", row: top + height - 1, column: left, style: border)
}

func drawLogin(_ screen: inout ScreenBuffer, _ form: AppState.LoginForm, server: String, theme: Theme) {
    let width = min(screen.size.width - 4, 64)
    let left = (screen.size.width - width) / 2
    let top = max(1, (screen.size.height - 9) / 2)
    let border = CellStyle(bold: true)
    let title = form.register ? " Create an account on \(server) " : " Log in to \(server) "
    for row in top..<(top + 9) { screen.fill(row: row, from: left, to: left + width, style: .plain) }
    screen.put("┌" + String(repeating: "─", count: width - 2) + "┐", row: top, column: left, style: border)
    screen.put(DisplayWidth.truncate(title, columns: width - 4), row: top, column: left + 2, style: border)
    for row in (top + 1)..<(top + 8) {
        screen.put("│", row: row, column: left, style: border)
        screen.put("│", row: row, column: left + width - 1, style: border)
    }
    screen.put("└" + String(repeating: "─", count: width - 2) + "┘", row: top + 8, column: left, style: border)
    let fieldWidth = width - 16
    func field(_ label: String, _ value: [Character], cursor: Int, row: Int, focused: Bool) -> Int {
        screen.put(label, row: row, column: left + 3, style: focused ? CellStyle(bold: true) : .plain)
        let shown = DisplayWidth.fit(String(value), columns: fieldWidth).text
        screen.fill(row: row, from: left + 14, to: left + 14 + fieldWidth, style: CellStyle(underline: true))
        screen.put(shown, row: row, column: left + 14, style: CellStyle(underline: true))
        return min(left + 14 + fieldWidth, left + 14 + DisplayWidth.of(String(value.prefix(cursor))))
    }
    let userEnd = field(
        "User",
        form.user.characters,
        cursor: form.user.cursor,
        row: top + 2,
        focused: form.focus == .user
    )
    let masked = Array(repeating: Character("•"), count: form.password.characters.count)
    let passwordEnd = field(
        "Password",
        masked,
        cursor: form.password.cursor,
        row: top + 3,
        focused: form.focus == .password
    )
    if let error = form.error {
        screen.put(
            DisplayWidth.truncate(error, columns: width - 6),
            row: top + 5,
            column: left + 3,
            style: theme.marker
        )
    } else if form.busy {
        screen.put("connecting…", row: top + 5, column: left + 3, style: theme.dim)
    }
    let action = form.register ? "create account" : "log in"
    let other = form.register ? "log in instead" : "new account"
    let hint = "Enter \(action) · Tab field · Ctrl-R \(other) · Esc quit"
    screen.put(DisplayWidth.truncate(hint, columns: width - 6), row: top + 7, column: left + 3, style: theme.dim)
    screen.cursor = form.focus == .user ? (top + 2, userEnd) : (top + 3, passwordEnd)
}
