import ChatCore
import Logging
import PostgresNIO

/// Search on a cluster: the project's own tokenizer (`SearchTokenizer`: words, CJK bigrams with
/// a trailing unigram, emoji) runs in Swift, and PostgreSQL keeps its tokens in `messages.search`,
/// a `tsvector` with positions under a GIN index. A query becomes a `tsquery` of the same tokens:
/// each term a phrase (`<->` between neighbours), a lone CJK character a prefix (`:*`), terms
/// joined with `&`. PostgreSQL's own parsers and dictionaries are never used, so a 2-character
/// Japanese word matches exactly as in the embedded SQLite index.
package enum PostgresSearch {
    /// The highest position a `tsvector` holds (PostgreSQL clamps larger ones to it).
    static let maxPosition = 16_383

    /// The `tsvector` literal of a message's text (nil: nothing to index).
    ///
    /// - Parameters:
    ///   - text: the text as stored.
    package static func vector(_ text: String) -> String? {
        var positions: [String: [Int]] = [:]
        var order: [String] = []
        SearchTokenizer.tokenize(text, mode: .document) { token in
            let position = min(token.position + 1, maxPosition)
            if positions[token.text] == nil { order.append(token.text) }
            positions[token.text, default: []].append(position)
        }
        guard !order.isEmpty else { return nil }
        var out = ""
        for lexeme in order {
            if !out.isEmpty { out += " " }
            out += quoted(lexeme) + ":"
            var last = -1
            var first = true
            for position in positions[lexeme]! where position != last {
                if !first { out += "," }
                out += String(position)
                last = position
                first = false
            }
        }
        return out
    }

    /// The `search` column of a message's row: its text's vector when it is content a search
    /// finds (text, action, a file's caption; not deleted), else nil.
    ///
    /// - Parameters:
    ///   - message: the message in its latest version.
    package static func vector(of message: ChatMessage) -> String? {
        guard message.isContent, !message.deleted else { return nil }
        return vector(message.text)
    }

    /// The `tsquery` literal of a query's words and phrases (nil: none).
    ///
    /// - Parameters:
    ///   - query: the parsed query.
    package static func tsquery(_ query: SearchQuery) -> String? {
        let terms = query.terms.compactMap { term -> String? in
            guard !term.tokens.isEmpty else { return nil }
            let phrase = term.tokens.enumerated().map { i, token in
                quoted(token) + (term.prefixLast && i == term.tokens.count - 1 ? ":*" : "")
            }
            return "(" + phrase.joined(separator: " <-> ") + ")"
        }
        return terms.isEmpty ? nil : terms.joined(separator: " & ")
    }

    /// A lexeme in quotes, as `tsvector` and `tsquery` input read it.
    static func quoted(_ lexeme: String) -> String {
        var out = "'"
        for scalar in lexeme.unicodeScalars {
            switch scalar {
            case "'": out += "''"
            case "\\": out += "\\\\"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "'"
    }

    /// A hit: where the message is.
    package struct Hit: Sendable, Hashable {
        package var room: String
        package var seq: Int64

        /// Creates a hit.
        package init(room: String, seq: Int64) {
            self.room = room
            self.seq = seq
        }
    }

    /// The newest messages of `rooms` that match a query (`from:` included), newest first.
    ///
    /// - Parameters:
    ///   - connection: a connection.
    ///   - query: the parsed query.
    ///   - rooms: the room fold keys to search.
    ///   - limit: the most hits.
    ///   - logger: logger.
    package static func search(
        _ connection: PostgresConnection,
        query: SearchQuery,
        rooms: [String],
        limit: Int,
        logger: Logger
    ) async throws -> [Hit] {
        guard let tsquery = tsquery(query), !rooms.isEmpty else { return [] }
        let sender = query.from?.key ?? ""
        let anySender = query.from == nil
        var hits: [Hit] = []
        for try await (room, seq) in try await connection.query(
            """
            SELECT room_key, seq FROM messages
            WHERE search @@ \(tsquery)::tsquery AND room_key = ANY(\(rooms)::text[])
              AND (\(anySender) OR sender_key = \(sender))
            ORDER BY ts DESC, seq DESC LIMIT \(limit)
            """,
            logger: logger
        ).decode((String, Int64).self) {
            hits.append(Hit(room: room, seq: seq))
        }
        return hits
    }
}
