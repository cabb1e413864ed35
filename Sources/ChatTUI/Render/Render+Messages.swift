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
    // Change events (edits, reactions…) are applied to their targets, never shown as lines.
    let shown = room.messages.indices.filter { room.messages[$0].isContent }
    let highlighted = state.selection ?? state.confirmDelete ?? composeTarget(state) ?? room.focus
    // The "new messages" line goes above the first message after the read marker, if everything after it is loaded.
    let markerSeq = room.marker.flatMap { marker -> Int64? in
        guard let first = room.messages.firstIndex(where: { $0.seq > marker }), room.messages[first].seq == marker + 1
        else { return nil }
        return room.messages[first...].first(where: \.isContent)?.seq
    }
    var position = shown.count - 1
    var index = shown.last ?? -1
    // An opened search result: lay out until it is in view, then centre it.
    var focusTop: Int?
    while position >= 0,
        lines.count < needed || (highlighted != nil && (focusTop.map { lines.count < $0 + height } ?? true))
    {
        index = shown[position]
        let message = room.messages[index]
        let focused = message.seq == highlighted
        lines += messageLines(
            time: clock(message.ts, offset: state.utcOffset, twelveHour: state.twelveHour),
            nick: message.from,
            text: message.file.map { fileLine($0, caption: message.text) } ?? message.text,
            kind: message.kind,
            nickWidth: nickWidth,
            textWidth: textWidth,
            theme: theme,
            pending: false,
            mention: message.from != state.user && mentions(message.text, user: state.user),
            focused: focused,
            parts: MessageParts(message, in: room, user: state.user, textWidth: textWidth)
        ).reversed()
        if focused { focusTop = lines.count }
        if message.seq == markerSeq {
            lines.append(separator("new messages", width: width, style: theme.marker))
        }
        let day = dayNumber(message.ts, offset: state.utcOffset)
        let previous = position > 0 ? room.messages[shown[position - 1]] : nil
        // Seqs between the previous shown message and this one that are not loaded (loaded change events are not
        // missing, only not shown).
        let before = position > 0 ? shown[position - 1] : -1
        let firstSeq = room.messages.first?.seq ?? message.seq
        let missing =
            previous.map { message.seq - 1 - $0.seq - Int64(index - before - 1) }
            ?? (index > 0 ? message.seq - firstSeq - Int64(index) : 0)
        if index > 0, missing > 0 {
            lines.append(separator("\(Wording.count(missing, "message")) not loaded", width: width, style: theme.dim))
        }
        let previousDay = previous.map { dayNumber($0.ts, offset: state.utcOffset) }
        if previousDay != day {
            lines.append(separator(dateLabel(day), width: width, style: theme.dim))
        }
        position -= 1
    }
    if position < 0 { index = -1 }
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

/// A file message: `📎 name · 1.2 MB · image/png`, then its caption.
func fileLine(_ file: FileRef, caption: String) -> String {
    let line = "📎 \(file.name) · \(FileRef.humanSize(file.size)) · \(file.mime)"
    return caption.isEmpty ? line : line + "  " + caption
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
    focused: Bool = false,
    parts: MessageParts = MessageParts()
) -> [PaneLine] {
    let edited = " (edited)"
    var body = parts.deleted ? "message deleted" : kind == .action ? "\(nick) \(text)" : text
    if parts.edited { body += edited }
    var wrapped = TextWrap.wrap(body, width: textWidth)
    let nickText = kind == .action && !parts.deleted ? "*" : DisplayWidth.truncate(nick, columns: nickWidth)
    let nickPadded = String(repeating: " ", count: max(0, nickWidth - DisplayWidth.of(nickText))) + nickText
    var textStyle = CellStyle.plain
    if pending || parts.deleted { textStyle = theme.dim }
    if kind == .action { textStyle.bold = !pending && !parts.deleted }
    if mention, !parts.deleted { textStyle = theme.mention }
    if focused { textStyle.reverse = true }
    // "(edited)" is dimmed: split it off the last line (it may have wrapped onto a line of its own).
    var editedTail: String?
    if parts.edited, let last = wrapped.last, last.hasSuffix(edited.trimmingSpaces) {
        let kept = String(last.dropLast(edited.trimmingSpaces.count))
        wrapped[wrapped.count - 1] = kept
        editedTail = edited.trimmingSpaces
    }
    let gutter = String(repeating: " ", count: DisplayWidth.of(time) + 1 + nickWidth)
    var result: [PaneLine] = []
    if let quote = parts.quote {
        result.append(PaneLine(segments: [(gutter, .plain), (" │ ", theme.frame), (quote, theme.dim)]))
    }
    for (i, line) in wrapped.enumerated() {
        var segments: [(String, CellStyle)]
        if i == 0 {
            segments = [
                (time + " ", theme.time), (nickPadded, pending ? theme.dim : theme.nick(nick)), (" │ ", theme.frame),
                (line, textStyle),
            ]
        } else {
            segments = [(gutter, .plain), (" │ ", theme.frame), (line, textStyle)]
        }
        if i == wrapped.count - 1, let editedTail { segments.append((editedTail, theme.dim)) }
        result.append(PaneLine(segments: segments))
    }
    for line in parts.reactionLines(width: textWidth) {
        var segments: [(String, CellStyle)] = [(gutter, .plain), (" │ ", theme.frame)]
        for piece in line { segments.append((piece.text, piece.own ? theme.ownReaction : .plain)) }
        result.append(PaneLine(segments: segments))
    }
    return result
}
