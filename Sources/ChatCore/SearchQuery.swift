/// A parsed search query: words (all must match), "quoted phrases", `from:NAME`
/// and `in:ROOM`.
package struct SearchQuery: Sendable, Equatable {
    /// A word or a phrase to find.
    package struct Term: Sendable, Equatable {
        /// The term as written (without quotes).
        package var raw: String
        /// Its query tokens, which must appear next to each other in this order.
        package var tokens: [String]
        /// Whether it was written in quotes.
        package var quoted: Bool
        /// Whether the last token is a single CJK character, matched as a prefix of
        /// the bigram or unigram that starts with it.
        package var prefixLast: Bool
    }

    /// The words and phrases; every one must match.
    package var terms: [Term]
    /// `from:NAME`: only messages by this user.
    package var from: ValidName?
    /// `in:ROOM`: only this room.
    package var room: ValidName?

    /// Most words and phrases in one query.
    package static let maxTerms = 16

    /// Parses a query.
    ///
    /// Errors are `bad_request` with a message that says what to change.
    ///
    /// - Parameters:
    ///   - text: the query as typed.
    package static func parse(_ text: String) -> Result<SearchQuery, ProtocolError> {
        var query = SearchQuery(terms: [], from: nil, room: nil)
        var sawSomething = false
        let chars = Array(text)
        var i = 0
        func isSpace(_ c: Character) -> Bool { c.isWhitespace }
        while i < chars.count {
            if isSpace(chars[i]) {
                i += 1
                continue
            }
            if chars[i] == "\"" {
                let start = i
                i += 1
                var phrase = ""
                while i < chars.count, chars[i] != "\"" {
                    phrase.append(chars[i])
                    i += 1
                }
                guard i < chars.count else {
                    return .failure(
                        .badRequest(
                            "unterminated quote: the phrase starting at character \(start + 1) needs a closing \""
                        )
                    )
                }
                i += 1
                if i < chars.count, !isSpace(chars[i]) {
                    return .failure(.badRequest("put a space after the closing quote at character \(i)"))
                }
                guard !phrase.allSatisfy(isSpace) else {
                    return .failure(
                        .badRequest("empty phrase \"\" at character \(start + 1): put words between the quotes")
                    )
                }
                sawSomething = true
                if let term = term(phrase, quoted: true) { query.terms.append(term) }
                continue
            }
            var word = ""
            while i < chars.count, !isSpace(chars[i]) {
                if chars[i] == "\"" {
                    return .failure(
                        .badRequest(
                            "a quote inside a word at character \(i + 1): put a space before a \"quoted phrase\""
                        )
                    )
                }
                word.append(chars[i])
                i += 1
            }
            sawSomething = true
            switch filter(word) {
            case .failure(let error): return .failure(error)
            case .success(.from(let name)?):
                guard query.from == nil else { return .failure(.badRequest("only one from: filter may be given")) }
                query.from = name
            case .success(.room(let name)?):
                guard query.room == nil else { return .failure(.badRequest("only one in: filter may be given")) }
                query.room = name
            case .success(nil):
                if let term = term(word, quoted: false) { query.terms.append(term) }
            }
        }
        guard !query.terms.isEmpty else {
            if !sawSomething { return .failure(.badRequest("the search query is empty")) }
            if query.from != nil || query.room != nil, query.terms.isEmpty {
                return .failure(
                    .badRequest("add a word or a \"phrase\" to search for: from: and in: only narrow a search")
                )
            }
            return .failure(
                .badRequest("the query has no words to search for (punctuation and symbols are ignored)")
            )
        }
        guard query.terms.count <= maxTerms else {
            return .failure(.badRequest("a query may have at most \(maxTerms) words and phrases"))
        }
        return .success(query)
    }

    private enum Filter {
        case from(ValidName)
        case room(ValidName)
    }

    private static func filter(_ word: String) -> Result<Filter?, ProtocolError> {
        let lower = word.lowercased()
        let prefix: String
        if lower.hasPrefix("from:") {
            prefix = "from:"
        } else if lower.hasPrefix("in:") {
            prefix = "in:"
        } else {
            return .success(nil)
        }
        let isFrom = prefix == "from:"
        let value = String(word.dropFirst(prefix.count))
        guard !value.isEmpty else {
            return .failure(
                .badRequest(
                    isFrom ? "from: needs a user name, as in from:alice" : "in: needs a room name, as in in:general"
                )
            )
        }
        let result = isFrom ? TextRules.userName(value) : TextRules.roomName(value)
        switch result {
        case .success(let name): return .success(isFrom ? .from(name) : .room(name))
        case .failure(let error):
            return .failure(.badRequest("\(prefix)\(value): \(error.message)"))
        }
    }

    private static func term(_ text: String, quoted: Bool) -> Term? {
        let tokens = SearchTokenizer.tokens(text, mode: .query).map(\.text)
        guard let last = tokens.last else { return nil }
        let scalars = last.unicodeScalars
        let prefixLast = scalars.count == 1 && scalars.first.map { SearchTokenizer.isCJK($0.value) } == true
        return Term(raw: text, tokens: tokens, quoted: quoted, prefixLast: prefixLast)
    }

    /// The FTS5 MATCH expression: every term as a quoted phrase of its tokens, joined
    /// with AND. Tokens never carry FTS5 syntax into the expression.
    package var matchExpression: String { matchExpression(column: nil) }

    /// The FTS5 MATCH expression with every phrase limited to one column.
    ///
    /// - Parameters:
    ///   - column: the column name, or nil for all columns.
    package func matchExpression(column: String?) -> String {
        let prefix = column.map { $0 + " : " } ?? ""
        return terms.map { term in
            let phrase = term.tokens.joined(separator: " ").replacingAll("\"", with: "\"\"")
            return prefix + "\"" + phrase + "\"" + (term.prefixLast ? "*" : "")
        }
        .joined(separator: " AND ")
    }
}

extension String {
    fileprivate func replacingAll(_ target: Character, with replacement: String) -> String {
        guard contains(target) else { return self }
        var result = ""
        for c in self {
            if c == target { result += replacement } else { result.append(c) }
        }
        return result
    }
}
