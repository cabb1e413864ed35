import ChatCore

/// Draws the `/search` results view over the message pane: one line per result
/// (room, time, nick, snippet with the matched parts highlighted).
func drawSearchResults(_ screen: inout ScreenBuffer, _ view: SearchView, _ state: AppState, _ theme: Theme) {
    let width = screen.size.width - 2
    let top = 1
    let height = screen.size.height - 3
    let left = 1
    let border = CellStyle(bold: true)
    let count: String
    if view.loading {
        count = "searching…"
    } else if view.error != nil {
        count = "refused"
    } else if view.more {
        count = "\(Wording.grouped(view.results.count))+ results"
    } else {
        count = Wording.count(view.results.count, "result")
    }
    let title = "─ Search: \(view.query) · \(count) · ↑/↓ Enter opens Esc closes "
    for row in (top + 1)..<(top + height - 1) {
        screen.fill(row: row, from: left, to: left + width, style: .plain)
        screen.put("│", row: row, column: left - 1, style: border)
        screen.put("│", row: row, column: left + width, style: border)
    }
    screen.put("┌" + String(repeating: "─", count: width) + "┐", row: top, column: left - 1, style: border)
    screen.put(DisplayWidth.truncate(title, columns: width - 2), row: top, column: left + 1, style: border)
    screen.put(
        "└" + String(repeating: "─", count: width) + "┘",
        row: top + height - 1,
        column: left - 1,
        style: border
    )
    let rows = height - 2
    let first = top + 1
    if let error = view.error {
        for (i, line) in TextWrap.wrap(error, width: width - 2).prefix(rows).enumerated() {
            screen.put(line, row: first + i, column: left + 1, style: theme.marker)
        }
        return
    }
    if !view.loading, view.results.isEmpty {
        screen.put("no messages found in your rooms", row: first, column: left + 1, style: theme.dim)
        return
    }
    let start = max(0, min(view.selected - rows / 2, view.results.count - rows))
    for (offset, result) in view.results.dropFirst(start).prefix(rows).enumerated() {
        let index = start + offset
        let row = first + offset
        let selected = index == view.selected
        if selected { screen.fill(row: row, from: left, to: left + width, style: theme.selected) }
        var style = selected ? theme.selected : CellStyle.plain
        var col = left + 1
        let end = left + width - 1
        let room = DisplayWidth.truncate(result.room, columns: 14)
        col = screen.put(DisplayWidth.pad(room, to: 14), row: row, column: col, style: style)
        col = screen.put(
            " " + clock(result.ts, offset: state.utcOffset, twelveHour: state.twelveHour) + " ",
            row: row,
            column: col,
            style: selected ? style : theme.time
        )
        let nick = DisplayWidth.truncate(result.from, columns: 10)
        col = screen.put(
            DisplayWidth.pad(nick, to: 10),
            row: row,
            column: col,
            style: selected ? style : theme.nick(result.from)
        )
        col = screen.put(" ", row: row, column: col, style: style)
        for (text, highlighted) in segments(result.snippet) {
            guard col < end else { break }
            style.bold = highlighted
            style.underline = highlighted
            let fitted = DisplayWidth.truncate(text, columns: end - col)
            col = screen.put(fitted, row: row, column: col, style: highlighted && !selected ? theme.mention : style)
        }
    }
}

/// A snippet cut into plain and highlighted runs (ranges are Unicode scalar offsets).
func segments(_ snippet: SearchSnippet) -> [(String, Bool)] {
    let scalars = Array(snippet.text.unicodeScalars)
    var result: [(String, Bool)] = []
    var position = 0
    func piece(_ a: Int, _ b: Int) -> String {
        var view = String.UnicodeScalarView()
        view.append(contentsOf: scalars[a..<b])
        return String(view)
    }
    for range in snippet.ranges {
        let a = max(position, min(range.lowerBound, scalars.count))
        let b = max(a, min(range.upperBound, scalars.count))
        if a > position { result.append((piece(position, a), false)) }
        if b > a { result.append((piece(a, b), true)) }
        position = b
    }
    if position < scalars.count { result.append((piece(position, scalars.count), false)) }
    return result
}
