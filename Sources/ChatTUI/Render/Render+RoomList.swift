import ChatCore

/// The sidebar's heading above the direct messages.
let directMessagesHeading = "Direct messages"

func drawSidebar(
    _ screen: inout ScreenBuffer,
    _ state: AppState,
    _ theme: Theme,
    width: Int,
    top: Int,
    height: Int
) {
    // Rooms first, then (under a heading) the direct messages: `AppState.insert` keeps them in that order.
    var lines: [Int?] = []
    for (i, room) in state.rooms.enumerated() {
        if room.isDirect, i == 0 || !state.rooms[i - 1].isDirect { lines.append(nil) }
        lines.append(i)
    }
    let activeLine = lines.firstIndex { $0 == state.active } ?? 0
    let first = max(0, activeLine - height + 1)
    for (offset, entry) in lines.enumerated() where offset >= first && offset < first + height {
        let row = top + offset - first
        guard let i = entry else {
            screen.put(
                DisplayWidth.truncate(directMessagesHeading, columns: width),
                row: row,
                column: 0,
                style: theme.dim
            )
            continue
        }
        drawSidebarRoom(&screen, state, theme, index: i, row: row, width: width)
    }
}

/// One room's line: its number (Alt-1…9), a marker (private room, or the peer's presence for direct
/// messages), its name (the peer's for direct messages) and its mention or unread count.
private func drawSidebarRoom(
    _ screen: inout ScreenBuffer,
    _ state: AppState,
    _ theme: Theme,
    index i: Int,
    row: Int,
    width: Int
) {
    let room = state.rooms[i]
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
    var marker = ""
    var markerStyle = style
    var name = room.name
    if let peer = room.peer(of: state.user) {
        // One's own notes (`@alice`): online while connected (the server sends no presence about oneself).
        let isSelf = TextRules.foldKey(peer) == TextRules.foldKey(state.user)
        let online = isSelf ? state.connection == .connected : state.isOnline(peer) == true
        marker = online ? "● " : "○ "
        markerStyle = online ? theme.online(style) : theme.away(style)
        name = peer
    } else if room.isPrivate {
        marker = theme.privateMarker
    }
    // Names come from the server: control characters become U+FFFD before they are measured.
    name = TextWrap.sanitize(name)
    let nameWidth = width - 3 - DisplayWidth.of(marker) - DisplayWidth.of(count) - 1
    screen.fill(row: row, from: 0, to: width, style: style)
    var col = screen.put("\(number) ", row: row, column: 0, style: style, limit: width)
    col = screen.put(marker, row: row, column: col, style: markerStyle, limit: width)
    screen.put(
        DisplayWidth.pad(name, to: max(1, nameWidth)) + " " + count,
        row: row,
        column: col,
        style: style,
        limit: width
    )
}
