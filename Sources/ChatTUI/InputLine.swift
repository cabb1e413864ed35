/// The input line: text as grapheme clusters and a cursor between them.
package struct InputLine: Sendable, Equatable {
    package var characters: [Character] = []
    /// Index into `characters` (0…count).
    package var cursor: Int = 0

    package init(_ text: String = "") {
        characters = Array(text)
        cursor = characters.count
    }

    package var text: String { String(characters) }
    package var isEmpty: Bool { characters.isEmpty }

    package mutating func insert(_ text: String) {
        let new = Array(text)
        characters.insert(contentsOf: new, at: cursor)
        cursor += new.count
    }

    package mutating func backspace() {
        guard cursor > 0 else { return }
        characters.remove(at: cursor - 1)
        cursor -= 1
    }

    package mutating func deleteForward() {
        guard cursor < characters.count else { return }
        characters.remove(at: cursor)
    }

    package mutating func left() { cursor = max(0, cursor - 1) }
    package mutating func right() { cursor = min(characters.count, cursor + 1) }
    package mutating func home() { cursor = 0 }
    package mutating func end() { cursor = characters.count }

    static func isWordCharacter(_ c: Character) -> Bool { !(c.isWhitespace || c.isPunctuation) }

    /// Alt-B: to the start of the previous word.
    package mutating func wordLeft() {
        while cursor > 0, !Self.isWordCharacter(characters[cursor - 1]) { cursor -= 1 }
        while cursor > 0, Self.isWordCharacter(characters[cursor - 1]) { cursor -= 1 }
    }

    /// Alt-F: to the end of the next word.
    package mutating func wordRight() {
        while cursor < characters.count, !Self.isWordCharacter(characters[cursor]) { cursor += 1 }
        while cursor < characters.count, Self.isWordCharacter(characters[cursor]) { cursor += 1 }
    }

    /// Ctrl-W: delete the word before the cursor.
    package mutating func deleteWordBackward() {
        let end = cursor
        wordLeft()
        characters.removeSubrange(cursor..<end)
    }

    /// Ctrl-U: delete to the start of the line.
    package mutating func deleteToStart() {
        characters.removeSubrange(0..<cursor)
        cursor = 0
    }

    /// Ctrl-K: delete to the end of the line.
    package mutating func deleteToEnd() {
        characters.removeSubrange(cursor..<characters.count)
    }

    /// The word ending at the cursor and where it starts.
    package var wordBeforeCursor: (word: String, start: Int) {
        var start = cursor
        while start > 0, !characters[start - 1].isWhitespace { start -= 1 }
        return (String(characters[start..<cursor]), start)
    }

    /// Replaces characters `start..<cursor` with `text`.
    package mutating func replace(from start: Int, with text: String) {
        let new = Array(text)
        characters.replaceSubrange(start..<cursor, with: new)
        cursor = start + new.count
    }
}
