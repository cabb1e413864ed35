/// An excerpt of a message with the parts that matched a query.
///
/// `ranges` are half-open `[start, end)` offsets into `text` counted in **Unicode
/// scalars** (code points), sorted and not overlapping. The text never holds control
/// characters: newlines and tabs are replaced by spaces.
package struct SearchSnippet: Sendable, Equatable {
    package var text: String
    package var ranges: [Range<Int>]

    /// Creates a snippet.
    ///
    /// - Parameters:
    ///   - text: the excerpt.
    ///   - ranges: matched ranges, in Unicode scalar offsets into `text`.
    package init(text: String, ranges: [Range<Int>]) {
        self.text = text
        self.ranges = ranges
    }

    /// The snippet as a protocol object: `{"text": …, "ranges": [[start, end], …]}`.
    package var json: JSONValue {
        .object([
            "text": .string(text),
            "ranges": .array(ranges.map { .array([.int(Int64($0.lowerBound)), .int(Int64($0.upperBound))]) }),
        ])
    }

    /// Reads a snippet object; ranges outside the text are dropped.
    ///
    /// - Parameters:
    ///   - json: the `snippet` value.
    package init?(json: JSONValue?) {
        guard case .object(let o)? = json, case .string(let text)? = o["text"] else { return nil }
        let count = text.unicodeScalars.count
        var ranges: [Range<Int>] = []
        if case .array(let items)? = o["ranges"] {
            for item in items {
                guard case .array(let pair) = item, pair.count == 2, case .int(let a) = pair[0],
                    case .int(let b) = pair[1], a >= 0, a < b, b <= count
                else { continue }
                ranges.append(Int(a)..<Int(b))
            }
        }
        self.init(text: text, ranges: ranges)
    }

    /// Builds the snippet of a message for a query: the whole text when it is short,
    /// otherwise a window of `maxLength` scalars around the first match, with `…`
    /// where text was cut.
    ///
    /// - Parameters:
    ///   - text: the message text.
    ///   - query: the parsed query.
    ///   - maxLength: the longest excerpt, in scalars.
    package static func make(text: String, query: SearchQuery, maxLength: Int = 160) -> SearchSnippet {
        let matches = matchRanges(text: text, query: query)
        let scalars = Array(text.unicodeScalars)
        var start = 0
        var end = scalars.count
        if scalars.count > maxLength {
            let first = matches.first?.lowerBound ?? 0
            start = max(0, min(first - maxLength / 5, scalars.count - maxLength))
            end = start + maxLength
        }
        let lead = start > 0 ? 1 : 0
        var out = String.UnicodeScalarView()
        if lead == 1 { out.append("…") }
        for scalar in scalars[start..<end] {
            out.append(scalar == "\n" || scalar == "\t" || scalar == "\r" ? " " : scalar)
        }
        if end < scalars.count { out.append("…") }
        let ranges = matches.compactMap { r -> Range<Int>? in
            let a = max(r.lowerBound, start)
            let b = min(r.upperBound, end)
            return a < b ? (a - start + lead)..<(b - start + lead) : nil
        }
        return SearchSnippet(text: String(out), ranges: ranges)
    }

    /// Token comparisons one snippet may make: a text of `max_text` scalars matched against
    /// a long phrase (`"a a a … b"` over `a a a a …`) would otherwise cost positions × phrase
    /// tokens for every result, on the pool that answers everyone's searches.
    package static let maxComparisons = 20_000

    /// Where the query's terms occur in a text, as merged scalar ranges; the search for them
    /// stops after `maxComparisons` token comparisons (the ranges found so far are kept).
    ///
    /// - Parameters:
    ///   - text: the message text.
    ///   - query: the parsed query.
    package static func matchRanges(text: String, query: SearchQuery) -> [Range<Int>] {
        var comparisons = 0
        return matchRanges(text: text, query: query, comparisons: &comparisons)
    }

    /// `matchRanges(text:query:)`, counting the token comparisons it made.
    ///
    /// - Parameters:
    ///   - text: the message text.
    ///   - query: the parsed query.
    ///   - comparisons: incremented by the comparisons made (at most `maxComparisons`).
    package static func matchRanges(text: String, query: SearchQuery, comparisons: inout Int) -> [Range<Int>] {
        let tokens = SearchTokenizer.tokens(text, mode: .document)
        guard let lastPosition = tokens.last?.position else { return [] }
        var byPosition = [[SearchToken]](repeating: [], count: lastPosition + 1)
        for token in tokens { byPosition[token.position].append(token) }
        var found: [Range<Int>] = []
        var budget = maxComparisons
        search: for term in query.terms {
            let k = term.tokens.count
            guard k > 0, byPosition.count >= k else { continue }
            for p in 0...(byPosition.count - k) {
                var lower: Int?
                var upper = 0
                var ok = true
                for (i, wanted) in term.tokens.enumerated() {
                    guard budget > 0 else { break search }
                    budget -= 1
                    comparisons += 1
                    let prefix = term.prefixLast && i == k - 1
                    let hit = byPosition[p + i].first { prefix ? $0.text.hasPrefix(wanted) : $0.text == wanted }
                    guard let hit else {
                        ok = false
                        break
                    }
                    if lower == nil { lower = hit.scalarRange.lowerBound }
                    upper =
                        prefix && hit.text != wanted
                        ? hit.scalarRange.lowerBound + wanted.unicodeScalars.count : hit.scalarRange.upperBound
                }
                if ok, let lower, lower < upper { found.append(lower..<upper) }
            }
        }
        found.sort { $0.lowerBound < $1.lowerBound }
        var merged: [Range<Int>] = []
        for r in found {
            if let last = merged.last, r.lowerBound <= last.upperBound {
                merged[merged.count - 1] = last.lowerBound..<max(last.upperBound, r.upperBound)
            } else {
                merged.append(r)
            }
        }
        return merged
    }
}
