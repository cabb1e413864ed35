import ChatCore

/// One rendered line of the message pane.
private struct PaneLine {
    var segments: [(String, CellStyle)]
}

func drawMessages(
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
            lines.append(separator("start of \(state.title(of: room))", width: width, style: theme.dim))
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
