import ChatCore

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
    /// The user's own reactions under a message.
    var ownReaction: CellStyle { CellStyle(fg: color ? .basic(6) : .default, bold: true, underline: !color) }
    var unread: CellStyle { CellStyle(bold: true) }
    /// Before a private room's name: a padlock, or `*` without colours (the emoji is drawn in colour).
    var privateMarker: String { color ? "🔒" : "*" }

    /// A direct-message peer's "online" dot on a sidebar line drawn in `line`.
    func online(_ line: CellStyle) -> CellStyle {
        var style = line
        if color { style.fg = .basic(2) }
        return style
    }

    /// A direct-message peer's "away" circle on a sidebar line drawn in `line`.
    func away(_ line: CellStyle) -> CellStyle {
        var style = line
        style.dim = !line.reverse
        return style
    }

    /// A stable colour per nick.
    func nick(_ name: String) -> CellStyle {
        guard color else { return CellStyle(bold: true) }
        let palette: [UInt8] = [1, 2, 3, 4, 5, 6, 9, 10, 11, 12, 13, 14]
        var hash: UInt32 = 2_166_136_261
        for byte in name.utf8 { hash = (hash ^ UInt32(byte)) &* 16_777_619 }
        return CellStyle(fg: .indexed(palette[Int(hash % UInt32(palette.count))]), bold: true)
    }
}
