import ChatCore
import GRDB

/// The `chat` FTS5 tokenizer: `SearchTokenizer` behind SQLite's tokenizer API.
///
/// SQLite asks for documents (indexing, `FTS5_TOKENIZE_DOCUMENT`) and queries
/// (`MATCH`, `FTS5_TOKENIZE_QUERY`); only documents get the extra unigram at the end
/// of a CJK run. Offsets given to SQLite are UTF-8 byte offsets into its text.
final class ChatFTS5Tokenizer: FTS5CustomTokenizer {
    static let name = "chat"

    /// `SQLITE_OK` and `FTS5_TOKEN_COLOCATED` from sqlite3.h / fts5.h.
    private static let ok: CInt = 0
    private static let colocated: CInt = 1

    init(db: Database, arguments: [String]) throws {}

    func tokenize(
        context: UnsafeMutableRawPointer?,
        tokenization: FTS5Tokenization,
        pText: UnsafePointer<CChar>?,
        nText: CInt,
        tokenCallback: @escaping FTS5TokenCallback
    ) -> CInt {
        guard let pText, nText > 0 else { return Self.ok }
        let count = Int(nText)
        let text = pText.withMemoryRebound(to: UInt8.self, capacity: count) {
            String(decoding: UnsafeBufferPointer(start: $0, count: count), as: UTF8.self)
        }
        let mode: SearchTokenizer.Mode = tokenization.contains(.query) ? .query : .document
        var rc = Self.ok
        SearchTokenizer.tokenize(text, mode: mode) { token in
            guard rc == Self.ok else { return }
            var tokenText = token.text
            let start = CInt(min(token.utf8Range.lowerBound, count))
            let end = CInt(min(token.utf8Range.upperBound, count))
            let flags = token.colocated ? Self.colocated : 0
            rc = tokenText.withUTF8 { bytes in
                bytes.withMemoryRebound(to: CChar.self) { chars in
                    tokenCallback(context, flags, chars.baseAddress, CInt(chars.count), start, end)
                }
            }
        }
        return rc
    }
}
