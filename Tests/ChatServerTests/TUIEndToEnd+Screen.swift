import ChatConformance
import ChatCore
import Foundation
import Testing

// MARK: - The screen

/// A captured tmux pane, one string per row, with the TUI's layout decoded.
struct Screen: CustomStringConvertible {
    /// One line of the message pane: "HH:MM <nick> │ text" or a continuation "        │ text".
    struct MessageRow {
        /// Row index, from 0 (the title row).
        let row: Int
        /// Display column of the │ before the text (the text starts two columns to its right).
        let bar: Int
        /// "HH:MM", "--:--" for a pending message, "" on a continuation line.
        let time: String
        let nick: String
        /// Everything after "│ " (tmux drops trailing blanks, so anything left over would show here).
        let text: String
        var isContinuation: Bool { time.isEmpty }
    }

    let lines: [String]
    /// The terminal size (tmux's idea of it).
    let columns: Int
    let rows: Int

    var text: String { lines.joined(separator: "\n") }
    var status: String { lines.count >= 2 ? lines[lines.count - 2] : "" }
    var input: String { lines.last ?? "" }

    /// The seconds of "◌ … — retrying in N s", if shown.
    var reconnectSeconds: Int? {
        guard let range = status.range(of: "retrying in ") else { return nil }
        return Int(status[range.upperBound...].prefix { $0.isNumber })
    }

    /// Message lines of the pane, top to bottom.
    var messageRows: [MessageRow] {
        guard lines.count > 3 else { return [] }
        var rows: [MessageRow] = []
        for index in 1..<(lines.count - 2) {
            let line = lines[index]
            // The pane starts after the sidebar's │; a message line has " │ " in the pane.
            guard let sidebar = line.firstIndex(of: "│") else { continue }
            let pane = line[line.index(after: sidebar)...]
            guard let bar = pane.range(of: " │ ") else { continue }
            let prefix = pane[..<bar.lowerBound]
            let time = String(prefix.prefix(5)).trimmingCharacters(in: .whitespaces)
            let nick = String(prefix.dropFirst(5)).trimmingCharacters(in: .whitespaces)
            let barColumn = Self.width(line[..<bar.lowerBound]) + 1
            rows.append(
                MessageRow(row: index, bar: barColumn, time: time, nick: nick, text: String(pane[bar.upperBound...]))
            )
        }
        return rows
    }

    /// The messages of the pane, each as its lines (first line, then continuations).
    var messages: [[String]] {
        var result: [[String]] = []
        for row in messageRows {
            if row.isContinuation, !result.isEmpty {
                result[result.count - 1].append(row.text)
            } else {
                result.append([row.text])
            }
        }
        return result
    }

    /// The rows numbered, between bars, so columns and trailing characters are visible in a failure.
    var description: String {
        let rule = "    +" + String(repeating: "-", count: columns) + "+"
        let body = lines.enumerated().map { i, line in
            let number = String(i + 1)
            let pad = String(repeating: " ", count: max(0, columns - Self.width(line)))
            return String(repeating: " ", count: 3 - number.count) + number + " |" + line + pad + "|"
        }
        return ([rule] + body + [rule]).joined(separator: "\n")
    }

    /// The display column of the first occurrence of a character, if any.
    static func columnOf(_ character: Character, in line: String) -> Int? {
        line.firstIndex(of: character).map { width(line[..<$0]) }
    }

    /// Columns text takes in a terminal (tmux and glibc's wcwidth): 2 for East Asian wide and emoji
    /// characters, 1 otherwise (enough for the text these tests put on the screen).
    static func width(_ text: some StringProtocol) -> Int {
        text.reduce(0) { $0 + width(of: $1) }
    }

    static func width(of character: Character) -> Int {
        guard let scalar = character.unicodeScalars.first else { return 0 }
        let wide: [ClosedRange<UInt32>] = [
            0x1100...0x115F, 0x2E80...0x303E, 0x3041...0x33FF, 0x3400...0x4DBF, 0x4E00...0x9FFF, 0xA000...0xA4CF,
            0xAC00...0xD7A3, 0xF900...0xFAFF, 0xFE30...0xFE4F, 0xFF00...0xFF60, 0xFFE0...0xFFE6, 0x1F300...0x1F64F,
            0x1F900...0x1F9FF, 0x20000...0x3FFFD,
        ]
        return wide.contains { $0.contains(scalar.value) } ? 2 : 1
    }
}
