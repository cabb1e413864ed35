import ChatCore

func drawSidebar(
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
