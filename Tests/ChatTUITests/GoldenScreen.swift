import ChatTUI
import Foundation
import Testing

/// Golden screens: a rendered `ScreenBuffer` compared with text files in `Snapshots/`.
///
/// Each screen has two files:
/// - `<name>.txt`: `buffer.text`, one row per line;
/// - `<name>.style.txt`: one character per cell (see `GoldenScreen.styleCode(_:)`).
///
/// Run with `RECORD_SNAPSHOTS=1` to (re)write the files; the test then fails on purpose.
enum GoldenScreen {
    /// `Tests/ChatTUITests/Snapshots`, found next to this file.
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("Snapshots", isDirectory: true)

    static var isRecording: Bool { ProcessInfo.processInfo.environment["RECORD_SNAPSHOTS"] == "1" }

    /// One character per cell:
    /// `_` right half of a wide character, `r` reverse, `C` coloured and bold, `c` coloured foreground,
    /// `b` bold, `d` dim, `.` plain (checked in that order).
    static func styleCode(_ cell: Cell) -> Character {
        if cell.isContinuation { return "_" }
        let style = cell.style
        if style.reverse { return "r" }
        if style.fg != .default { return style.bold ? "C" : "c" }
        if style.bold { return "b" }
        if style.dim { return "d" }
        return "."
    }

    /// The style map of a buffer, one row per line.
    static func styleText(_ buffer: ScreenBuffer) -> String {
        (0..<buffer.size.height).map { row in
            String((0..<buffer.size.width).map { styleCode(buffer[row, $0]) })
        }.joined(separator: "\n")
    }

    /// A line diff: the rows that differ, numbered from 1, expected above actual.
    static func diff(expected: String, actual: String) -> String {
        let old = expected.split(separator: "\n", omittingEmptySubsequences: false)
        let new = actual.split(separator: "\n", omittingEmptySubsequences: false)
        var out: [String] = []
        if old.count != new.count { out.append("row count: expected \(old.count), actual \(new.count)") }
        for row in 0..<max(old.count, new.count) {
            let a = row < old.count ? "|\(old[row])|" : "(no row)"
            let b = row < new.count ? "|\(new[row])|" : "(no row)"
            if a != b { out.append("row \(row + 1):\n  expected \(a)\n  actual   \(b)") }
        }
        return out.joined(separator: "\n")
    }

    /// Compares one file with `actual`, or writes it when recording.
    static func check(
        _ actual: String,
        file name: String,
        sourceLocation: SourceLocation
    ) {
        let url = directory.appendingPathComponent(name)
        if isRecording {
            do {
                try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
                try (actual + "\n").write(to: url, atomically: true, encoding: .utf8)
                Issue.record("recorded \(name); rerun without RECORD_SNAPSHOTS", sourceLocation: sourceLocation)
            } catch {
                Issue.record("could not write \(url.path): \(error)", sourceLocation: sourceLocation)
            }
            return
        }
        guard let data = FileManager.default.contents(atPath: url.path),
            var expected = String(data: data, encoding: .utf8)
        else {
            Issue.record(
                """
                missing golden file \(url.path); record it with \
                RECORD_SNAPSHOTS=1 swift test --filter ChatTUITests, then check it by eye
                """,
                sourceLocation: sourceLocation
            )
            return
        }
        if expected.hasSuffix("\n") { expected.removeLast() }
        if expected != actual {
            Issue.record(
                "\(name) differs from the golden file:\n\(diff(expected: expected, actual: actual))",
                sourceLocation: sourceLocation
            )
        }
    }
}

/// Compares a rendered screen (text and styles) with its golden files `Snapshots/<name>.txt`
/// and `Snapshots/<name>.style.txt`.
///
/// - Parameters:
///   - buffer: the rendered screen.
///   - name: the golden file's base name.
///   - sourceLocation: where a failure is reported.
func assertScreen(
    _ buffer: ScreenBuffer,
    named name: String,
    sourceLocation: SourceLocation = #_sourceLocation
) {
    GoldenScreen.check(buffer.text, file: "\(name).txt", sourceLocation: sourceLocation)
    GoldenScreen.check(GoldenScreen.styleText(buffer), file: "\(name).style.txt", sourceLocation: sourceLocation)
}

/// Problems in the cell grid: every row must be exactly as wide as the screen, a continuation cell
/// must follow a wide character and a wide character must be followed by its continuation cell.
func gridProblems(_ buffer: ScreenBuffer) -> [String] {
    var problems: [String] = []
    for row in 0..<buffer.size.height {
        for column in 0..<buffer.size.width {
            let cell = buffer[row, column]
            let width = cell.isContinuation ? 0 : DisplayWidth.of(cell.text)
            if cell.isContinuation {
                let before = column > 0 ? buffer[row, column - 1] : Cell.blank
                if column == 0 || before.isContinuation || DisplayWidth.of(before.text) != 2 {
                    problems.append("row \(row + 1) column \(column + 1): continuation without a wide character")
                }
            } else if width == 2 {
                if column + 1 >= buffer.size.width || !buffer[row, column + 1].isContinuation {
                    problems.append("row \(row + 1) column \(column + 1): \(cell.text) lost its right half")
                }
            } else if width != 1 {
                problems.append(
                    "row \(row + 1) column \(column + 1): cell \(cell.text.debugDescription) is \(width) wide"
                )
            }
        }
    }
    return problems
}
