/// Word wrapping by display width, and the last line of defence against control characters.
package enum TextWrap {
    /// Columns a tab expands to.
    static let tabWidth = 4

    /// Splits `text` into lines of at most `width` display columns.
    ///
    /// The text is split at "\n" (and "\r\n") first; a tab becomes four spaces. Each line then breaks
    /// after the last space that fits (the space is dropped, as are spaces just before it and at the
    /// start of the continuation line), or else between grapheme clusters, so CJK text without spaces
    /// breaks anywhere and no cluster is ever split. A single character wider than `width` goes alone
    /// on its line, the only way a line can be wider than `width`. Indentation is kept unless it leaves
    /// no room for the first character. An empty text gives one empty line; a width below 1 counts as 1.
    ///
    /// Sanitize untrusted text first: wrapping measures but does not filter control characters.
    package static func wrap(_ text: String, width: Int) -> [String] {
        let width = max(1, width)
        var lines: [String] = []
        var line: [Character] = []
        for character in text {
            switch character {
            case "\n", "\r\n":
                wrapLine(line, width: width, into: &lines)
                line.removeAll(keepingCapacity: true)
            case "\t":
                line.append(contentsOf: repeatElement(" ", count: tabWidth))
            default:
                line.append(character)
            }
        }
        wrapLine(line, width: width, into: &lines)
        return lines
    }

    /// Replaces C0 and C1 controls (except "\n" and "\t") and the bidi overrides and isolates
    /// (U+202A–U+202E, U+2066–U+2069) with U+FFFD, so no escape sequence ever reaches the terminal.
    ///
    /// This is the same set the protocol forbids in message text (`TextRules.isForbidden` in ChatCore).
    package static func sanitize(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: isUnsafe) else { return text }
        var scalars = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            scalars.append(isUnsafe(scalar) ? "\u{FFFD}" : scalar)
        }
        return String(scalars)
    }

    private static func isUnsafe(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x09, 0x0A: false
        case 0x00...0x1F, 0x7F...0x9F, 0x202A...0x202E, 0x2066...0x2069: true
        default: false
        }
    }

    // MARK: - Wrapping one line

    private struct Cell {
        let character: Character
        let width: Int
        var isSpace: Bool { character == " " }
    }

    /// Wraps one line without newlines, appending at least one line to `lines`.
    private static func wrapLine(_ characters: [Character], width: Int, into lines: inout [String]) {
        var current: [Cell] = []
        var currentWidth = 0
        /// Whether `current` has anything but spaces (leading indentation alone is never a line).
        var hasContent = false
        /// Index in `current` of the last space that has something other than spaces before it.
        var breakAt: Int?
        var skippingSpaces = false
        var emitted = false

        func flush(upTo end: Int) {
            if hasContent {
                var text = String(current[..<end].map(\.character))
                while text.last == " " { text.removeLast() }
                lines.append(text)
                emitted = true
            }
            current.removeSubrange(..<min(end + 1, current.count))
            currentWidth = current.reduce(0) { $0 + $1.width }
            hasContent = !current.isEmpty
            breakAt = nil
        }

        for character in characters {
            let cell = Cell(character: character, width: DisplayWidth.of(character))
            if skippingSpaces {
                if cell.isSpace { continue }
                skippingSpaces = false
            }
            if current.isEmpty || currentWidth + cell.width <= width {
                if cell.isSpace {
                    if hasContent { breakAt = current.count }
                } else {
                    hasContent = true
                }
                current.append(cell)
                currentWidth += cell.width
                continue
            }
            if cell.isSpace {
                // The space that overflows is the break; it and the spaces after it are dropped.
                flush(upTo: current.count)
                skippingSpaces = true
                continue
            }
            // Break after the last space that fits, dropping the space, if there is one.
            if let space = breakAt { flush(upTo: space) }
            // Else (or if the rest of the word still does not fit) break between characters.
            if !current.isEmpty, currentWidth + cell.width > width { flush(upTo: current.count) }
            current.append(cell)
            currentWidth += cell.width
            hasContent = true
        }
        if !current.isEmpty || !emitted {
            lines.append(String(current.map(\.character)))
        }
    }
}
