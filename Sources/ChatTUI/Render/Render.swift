import ChatCore

/// Minimum usable terminal size.
package let minimumSize = Size(width: 40, height: 8)

/// Draws the whole screen for a state. Pure: same state and size, same buffer.
///
/// - Parameters:
///   - state: what to show.
///   - size: terminal size.
package func render(_ state: AppState, size: Size) -> ScreenBuffer {
    var screen = ScreenBuffer(size: size)
    guard size.width >= minimumSize.width, size.height >= minimumSize.height else {
        let message =
            "terminal too small: \(size.width)×\(size.height), need \(minimumSize.width)×\(minimumSize.height)"
        for (i, line) in TextWrap.wrap(message, width: max(1, size.width)).enumerated() where i < size.height {
            screen.put(line, row: i, column: 0)
        }
        return screen
    }
    let theme = Theme(color: state.color)
    let sidebar = min(24, max(14, size.width / 5))
    let paneTop = 1
    let paneHeight = size.height - 3
    drawTitle(&screen, state, theme)
    drawSidebar(&screen, state, theme, width: sidebar, top: paneTop, height: paneHeight)
    for row in paneTop..<(paneTop + paneHeight) { screen.put("│", row: row, column: sidebar, style: theme.frame) }
    drawMessages(
        &screen,
        state,
        theme,
        left: sidebar + 1,
        width: size.width - sidebar - 1,
        top: paneTop,
        height: paneHeight
    )
    drawStatus(&screen, state, theme, row: size.height - 2)
    drawInput(&screen, state, theme, row: size.height - 1)
    if state.showHelp { drawBox(&screen, title: "Help (Esc closes)", lines: helpLines, theme: theme) }
    if let form = state.login { drawLogin(&screen, form, server: state.server, theme: theme) }
    if let search = state.search { drawSearchResults(&screen, search, state, theme) }
    if let picker = state.picker {
        drawBox(&screen, title: picker.title, lines: picker.items, theme: theme, selected: picker.selected)
    }
    // A box over the input line hides the cursor.
    if state.showHelp || state.picker != nil { screen.cursor = nil }
    return screen
}

/// The keys and commands `/help` shows.
package let helpLines = [
    "Enter send · Alt-Enter newline · Tab complete nick/command/room",
    "Ctrl-A/E start/end · Ctrl-B/F or ←/→ move · Alt-B/F word",
    "Ctrl-W delete word · Ctrl-U/K delete to start/end · ↑/↓ history",
    "Alt-1…9 room · Ctrl-N/P next/previous room · Alt-A next activity",
    "PgUp/PgDn scroll (older history loads from the server)",
    "/join ROOM · /part [ROOM] · /rooms · /members · /topic TEXT",
    "/search WORDS \"phrase\" from:NAME in:ROOM (Enter opens)",
    "/me TEXT · /logout · /quit · /help · //text sends '/text'",
]

struct Theme {
    let color: Bool
    var title: CellStyle {
        CellStyle(fg: color ? .basic(7) : .default, bg: color ? .basic(4) : .default, bold: true, reverse: !color)
    }
    var status: CellStyle {
        CellStyle(fg: color ? .basic(7) : .default, bg: color ? .basic(0) : .default, reverse: !color)
    }
    var frame: CellStyle { CellStyle(dim: true) }
    var time: CellStyle { CellStyle(dim: true) }
    var dim: CellStyle { CellStyle(dim: true) }
    var marker: CellStyle { CellStyle(fg: color ? .basic(1) : .default, bold: true) }
    var mention: CellStyle { CellStyle(fg: color ? .basic(3) : .default, bold: true) }
    var selected: CellStyle { CellStyle(reverse: true) }
    var unread: CellStyle { CellStyle(bold: true) }

    /// A stable colour per nick.
    func nick(_ name: String) -> CellStyle {
        guard color else { return CellStyle(bold: true) }
        let palette: [UInt8] = [1, 2, 3, 4, 5, 6, 9, 10, 11, 12, 13, 14]
        var hash: UInt32 = 2_166_136_261
        for byte in name.utf8 { hash = (hash ^ UInt32(byte)) &* 16_777_619 }
        return CellStyle(fg: .indexed(palette[Int(hash % UInt32(palette.count))]), bold: true)
    }
}

private func drawTitle(_ screen: inout ScreenBuffer, _ state: AppState, _ theme: Theme) {
    screen.fill(row: 0, from: 0, to: screen.size.width, style: theme.title)
    guard let room = state.activeRoom else {
        screen.put(" chat — no room yet: /join ROOM, /rooms, /help", row: 0, column: 0, style: theme.title)
        return
    }
    let right = " \(room.members > 0 ? "\(room.members) member\(room.members == 1 ? "" : "s") " : "")"
    let rightStart = screen.size.width - DisplayWidth.of(right)
    var col = screen.put(" \(room.name)", row: 0, column: 0, style: theme.title, limit: rightStart)
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

private func drawSidebar(
    _ screen: inout ScreenBuffer,
    _ state: AppState,
    _ theme: Theme,
    width: Int,
    top: Int,
    height: Int
) {
    let first = max(0, state.active - height + 1)
    for (i, room) in state.rooms.enumerated() where i >= first && i < first + height {
        let row = top + i - first
        let number = i < 9 ? "\(i + 1)" : " "
        var count = ""
        if room.mentions > 0 {
            count = "!\(room.mentions)"
        } else if room.unread > 0 {
            count = room.unread > 999 ? "999+" : "\(room.unread)"
        }
        var style = CellStyle.plain
        if room.mentions > 0 { style = theme.mention } else if room.unread > 0 { style = theme.unread }
        if i == state.active { style.reverse = true }
        let nameWidth = width - 3 - DisplayWidth.of(count) - 1
        let line = "\(number) " + DisplayWidth.pad(room.name, to: max(1, nameWidth)) + " " + count
        screen.fill(row: row, from: 0, to: width, style: style)
        screen.put(line, row: row, column: 0, style: style, limit: width)
    }
}

/// One rendered line of the message pane.
private struct PaneLine {
    var segments: [(String, CellStyle)]
}

private func drawMessages(
    _ screen: inout ScreenBuffer,
    _ state: AppState,
    _ theme: Theme,
    left: Int,
    width: Int,
    top: Int,
    height: Int
) {
    guard let room = state.activeRoom, width > 10 else { return }
    let nickWidth = min(12, max(6, width / 6))
    let timeWidth = state.twelveHour ? 6 : 5
    let textColumn = timeWidth + 1 + nickWidth + 3
    let textWidth = max(4, width - textColumn)
    let needed = state.scroll + height
    var lines: [PaneLine] = []  // bottom-up

    // Pending own messages go at the very bottom, dimmed.
    for pending in room.pending.reversed() {
        lines += messageLines(
            time: String(repeating: " ", count: timeWidth - 5) + "--:--",
            nick: state.user,
            text: pending.text,
            kind: pending.kind,
            nickWidth: nickWidth,
            textWidth: textWidth,
            theme: theme,
            pending: true
        ).reversed()
    }
    var index = room.messages.count - 1
    // An opened search result: lay out until it is in view, then centre it.
    var focusTop: Int?
    while index >= 0,
        lines.count < needed || (room.focus != nil && (focusTop.map { lines.count < $0 + height } ?? true))
    {
        let message = room.messages[index]
        let focused = message.seq == room.focus
        lines += messageLines(
            time: clock(message.ts, offset: state.utcOffset, twelveHour: state.twelveHour),
            nick: message.from,
            text: message.text,
            kind: message.kind,
            nickWidth: nickWidth,
            textWidth: textWidth,
            theme: theme,
            pending: false,
            mention: message.from != state.user && mentions(message.text, user: state.user),
            focused: focused
        ).reversed()
        if focused { focusTop = lines.count }
        if let marker = room.marker, message.seq == marker + 1 {
            lines.append(separator("new messages", width: width, style: theme.marker))
        }
        let day = dayNumber(message.ts, offset: state.utcOffset)
        if index > 0, room.messages[index - 1].seq < message.seq - 1 {
            let missing = message.seq - 1 - room.messages[index - 1].seq
            lines.append(separator("\(Wording.count(missing, "message")) not loaded", width: width, style: theme.dim))
        }
        let previousDay = index > 0 ? dayNumber(room.messages[index - 1].ts, offset: state.utcOffset) : nil
        if previousDay != day {
            lines.append(separator(dateLabel(day), width: width, style: theme.dim))
        }
        index -= 1
    }
    if index < 0 {
        if room.loadingOlder {
            lines.append(separator("loading older messages…", width: width, style: theme.dim))
        } else if room.hasOlder, !room.messages.isEmpty {
            lines.append(separator("PgUp loads older messages", width: width, style: theme.dim))
        } else {
            lines.append(separator("start of \(room.name)", width: width, style: theme.dim))
        }
    }
    let scroll = min(focusTop.map { max(0, $0 - height / 2) } ?? state.scroll, max(0, lines.count - height))
    if index < 0 { screen.maxScroll = max(0, lines.count - height) }
    var visible = Array(lines.dropFirst(scroll).prefix(height).reversed())
    if scroll > 0 {
        let note = state.newBelow > 0 ? "\(state.newBelow) new below · PgDn" : "more below · PgDn"
        if !visible.isEmpty { visible[visible.count - 1] = separator(note, width: width, style: theme.marker) }
    }
    let offset = height - visible.count
    for (i, line) in visible.enumerated() {
        var col = left
        for (text, style) in line.segments { col = screen.put(text, row: top + offset + i, column: col, style: style) }
    }
}

private func separator(_ label: String, width: Int, style: CellStyle) -> PaneLine {
    let text = "── \(label) "
    return PaneLine(segments: [(text + String(repeating: "─", count: max(0, width - DisplayWidth.of(text))), style)])
}

private func messageLines(
    time: String,
    nick: String,
    text: String,
    kind: MessageKind,
    nickWidth: Int,
    textWidth: Int,
    theme: Theme,
    pending: Bool,
    mention: Bool = false,
    focused: Bool = false
) -> [PaneLine] {
    let body = kind == .action ? "\(nick) \(text)" : text
    let wrapped = TextWrap.wrap(body, width: textWidth)
    let nickText = kind == .action ? "*" : DisplayWidth.truncate(nick, columns: nickWidth)
    let nickPadded = String(repeating: " ", count: max(0, nickWidth - DisplayWidth.of(nickText))) + nickText
    var textStyle = CellStyle.plain
    if pending { textStyle = theme.dim }
    if kind == .action { textStyle.bold = !pending }
    if mention { textStyle = theme.mention }
    if focused { textStyle.reverse = true }
    var result: [PaneLine] = []
    for (i, line) in wrapped.enumerated() {
        if i == 0 {
            result.append(
                PaneLine(segments: [
                    (time + " ", theme.time), (nickPadded, pending ? theme.dim : theme.nick(nick)),
                    (" │ ", theme.frame), (line, textStyle),
                ])
            )
        } else {
            result.append(
                PaneLine(segments: [
                    (String(repeating: " ", count: DisplayWidth.of(time) + 1 + nickWidth), .plain),
                    (" │ ", theme.frame), (line, textStyle),
                ])
            )
        }
    }
    return result
}

private func drawStatus(_ screen: inout ScreenBuffer, _ state: AppState, _ theme: Theme, row: Int) {
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
    if let notice = state.notice { parts.append(notice.replacingNewlines) }
    // Too long for the line: the notice (an error, say) matters more than the server's address and the lag.
    if case .connected = state.connection,
        DisplayWidth.of(" " + parts.joined(separator: " │ ")) > screen.size.width
    {
        parts[0] = "● \(state.user)"
    }
    screen.put(" " + parts.joined(separator: " │ "), row: row, column: 0, style: theme.status)
}

private func drawInput(_ screen: inout ScreenBuffer, _ state: AppState, _ theme: Theme, row: Int) {
    let prompt = "[\(state.activeRoom?.name ?? "no room")] "
    let promptWidth = min(DisplayWidth.of(prompt), screen.size.width / 3)
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

private func drawBox(
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

private func drawLogin(_ screen: inout ScreenBuffer, _ form: AppState.LoginForm, server: String, theme: Theme) {
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

// MARK: Time

/// "HH:MM" in local time (or "h:MMa"/"h:MMp", five columns, for a 12-hour clock).
package func clock(_ ts: Int64, offset: Int, twelveHour: Bool = false) -> String {
    let seconds = ts / 1000 + Int64(offset)
    let minuteOfDay = ((seconds % 86_400) + 86_400) % 86_400 / 60
    let h = minuteOfDay / 60
    let m = minuteOfDay % 60
    let minutes = (m < 10 ? "0" : "") + "\(m)"
    guard twelveHour else { return (h < 10 ? "0" : "") + "\(h):" + minutes }
    let hour12 = h % 12 == 0 ? 12 : h % 12
    let text = "\(hour12):\(minutes)" + (h < 12 ? "a" : "p")
    return String(repeating: " ", count: max(0, 6 - text.count)) + text
}

func dayNumber(_ ts: Int64, offset: Int) -> Int64 {
    let seconds = ts / 1000 + Int64(offset)
    return seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
}

/// "Sun 29 Nov 2026" for a day number (days since 1970-01-01).
package func dateLabel(_ day: Int64) -> String {
    // Civil-from-days (proleptic Gregorian); hand-written so rendering stays free of
    // Foundation calendars and time-zone databases, and golden screens are reproducible.
    let z = day + 719_468
    let era = (z >= 0 ? z : z - 146_096) / 146_097
    let doe = z - era * 146_097
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
    let mp = (5 * doy + 2) / 153
    let d = doy - (153 * mp + 2) / 5 + 1
    let m = mp < 10 ? mp + 3 : mp - 9
    let y = yoe + era * 400 + (m <= 2 ? 1 : 0)
    let weekdays = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"]
    let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
    let weekday = weekdays[Int(((day % 7) + 7) % 7)]
    return "\(weekday) \(d) \(months[Int(m - 1)]) \(y)"
}

extension String {
    var replacingNewlines: String { String(map { $0 == "\n" ? " " : $0 }) }
    /// "─ Title      " → "─ Title ─────": the padding after the title (but one space) becomes rule.
    var replacingSpacesAfterTitle: String {
        guard let lastNonSpace = lastIndex(where: { $0 != " " }) else { return self }
        let tail = self[index(after: lastNonSpace)...]
        guard !tail.isEmpty else { return self }
        return String(self[...lastNonSpace]) + " " + String(repeating: "─", count: tail.count - 1)
    }
}
