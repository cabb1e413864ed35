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
