extension String {
    var replacingNewlines: String { String(map { $0 == "\n" ? " " : $0 }) }
    /// "─ Title      " → "─ Title ─────": the padding after the title (but one space) becomes rule.
    var replacingSpacesAfterTitle: String {
        guard let lastNonSpace = lastIndex(where: { $0 != " " }) else { return self }
        let tail = self[index(after: lastNonSpace)...]
        guard !tail.isEmpty else { return self }
        return String(self[...lastNonSpace]) + " " + String(repeating: "─", count: tail.count - 1)
    }
}
