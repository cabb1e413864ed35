/// A terminal colour: one of the 8 basic colours, or a 256-colour index.
package enum TermColor: Sendable, Hashable {
    case `default`
    case basic(UInt8)
    case indexed(UInt8)
}

/// How a cell is drawn.
package struct CellStyle: Sendable, Hashable {
    package var fg: TermColor = .default
    package var bg: TermColor = .default
    package var bold = false
    package var dim = false
    package var reverse = false
    package var underline = false

    package init(
        fg: TermColor = .default,
        bg: TermColor = .default,
        bold: Bool = false,
        dim: Bool = false,
        reverse: Bool = false,
        underline: Bool = false
    ) {
        self.fg = fg
        self.bg = bg
        self.bold = bold
        self.dim = dim
        self.reverse = reverse
        self.underline = underline
    }

    package static let plain = CellStyle()
}

/// One screen cell: a grapheme cluster (or empty for the right half of a wide one).
package struct Cell: Sendable, Hashable {
    package var text: String
    package var style: CellStyle
    /// The right half of a wide character drawn in the cell before.
    package var isContinuation: Bool

    package static let blank = Cell(text: " ", style: .plain, isContinuation: false)
}

/// Terminal size in cells.
package struct Size: Sendable, Hashable {
    package var width: Int
    package var height: Int
    package init(width: Int, height: Int) {
        self.width = width
        self.height = height
    }
}

/// What `render` produces: a grid of cells. A backend diffs two buffers and paints the changes.
package struct ScreenBuffer: Sendable, Equatable {
    package let size: Size
    package private(set) var cells: [Cell]
    /// Where the terminal cursor should be (row, column), if visible.
    package var cursor: (row: Int, column: Int)?
    /// How far the message pane can scroll up, when its whole history is laid out.
    package var maxScroll: Int?

    package init(size: Size) {
        self.size = size
        self.cells = Array(repeating: .blank, count: max(0, size.width * size.height))
    }

    package static func == (a: ScreenBuffer, b: ScreenBuffer) -> Bool {
        a.size == b.size && a.cells == b.cells && a.cursor?.row == b.cursor?.row
            && a.cursor?.column == b.cursor?.column && a.maxScroll == b.maxScroll
    }

    package subscript(row: Int, column: Int) -> Cell {
        cells[row * size.width + column]
    }

    /// Writes text at a position, clipped at `limit` columns (default: the row's end);
    /// returns the column after the text. Wide characters take two cells and are never cut.
    @discardableResult
    package mutating func put(
        _ text: String,
        row: Int,
        column: Int,
        style: CellStyle = .plain,
        limit: Int? = nil
    ) -> Int {
        guard row >= 0, row < size.height else { return column }
        let end = min(size.width, limit ?? size.width)
        var col = column
        for character in TextWrap.sanitize(text) {
            let w = DisplayWidth.of(character)
            if w == 0 {
                // Zero-width clusters attach to the previous cell so nothing is lost or misaligned.
                if col > 0, col - 1 < end {
                    cells[row * size.width + col - 1].text.append(character)
                }
                continue
            }
            guard col + w <= end else { break }
            // Never leave half of a wide character behind: clear the other half of any wide
            // character this one partly covers.
            let base = row * size.width
            if cells[base + col].isContinuation, col > 0 { cells[base + col - 1] = .blank }
            if col + w < size.width, cells[base + col + w].isContinuation { cells[base + col + w] = .blank }
            cells[base + col] = Cell(text: String(character), style: style, isContinuation: false)
            if w == 2 {
                cells[base + col + 1] = Cell(text: "", style: style, isContinuation: true)
            }
            col += w
        }
        return col
    }

    /// Fills a span with a style (spaces).
    package mutating func fill(row: Int, from column: Int, to end: Int, style: CellStyle) {
        guard row >= 0, row < size.height else { return }
        let start = max(0, column)
        let stop = min(size.width, end)
        guard start < stop else { return }
        let base = row * size.width
        if cells[base + start].isContinuation, start > 0 { cells[base + start - 1] = .blank }
        if stop < size.width, cells[base + stop].isContinuation { cells[base + stop] = .blank }
        for col in start..<stop {
            cells[row * size.width + col] = Cell(text: " ", style: style, isContinuation: false)
        }
    }

    /// The screen as text, one row per line (right halves of wide characters omitted,
    /// trailing spaces kept so columns stay visible in golden files).
    package var text: String {
        var lines: [String] = []
        for row in 0..<size.height {
            var line = ""
            for col in 0..<size.width {
                let cell = self[row, col]
                if !cell.isContinuation { line += cell.text }
            }
            lines.append(line)
        }
        return lines.joined(separator: "\n")
    }
}
