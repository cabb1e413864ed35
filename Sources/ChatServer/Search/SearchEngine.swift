import ChatCore
import Logging

/// Answers `search` requests: the hub says which rooms the user may see, the index
/// finds the messages off the hub, and the snippets are made here.
package struct SearchEngine: Sendable {
    let hub: RoomHub
    let index: SearchIndex
    let logger: Logger
    let indexer: SearchIndexer?
    let metrics = SearchMetrics()

    /// Creates an engine.
    ///
    /// - Parameters:
    ///   - hub: the hub, for memberships.
    ///   - index: the index.
    ///   - logger: logger.
    ///   - indexer: the indexer, woken by the first search if it waits for one.
    package init(hub: RoomHub, index: SearchIndex, logger: Logger, indexer: SearchIndexer? = nil) {
        self.hub = hub
        self.index = index
        self.logger = logger
        self.indexer = indexer
    }

    /// Runs a search for a connection's user and returns the reply fields or the error.
    ///
    /// - Parameters:
    ///   - conn: the connection (its user decides the rooms).
    ///   - request: the validated request.
    package func search(_ conn: Connection, _ request: SearchRequest) async -> Result<JSONObject, ProtocolError> {
        indexer?.activate()
        let scope: SearchScope
        switch await hub.searchScope(conn, room: request.room) {
        case .success(let s): scope = s
        case .failure(let error): return .failure(error)
        }
        let start = ContinuousClock.now
        do {
            let page = try await index.search(request, rooms: Array(scope.rooms.keys), others: scope.others)
            metrics.query.recordInterval(since: start)
            // The index may lag behind an edit or a delete: results show the current text, and
            // a deleted message is never shown.
            let current = await hub.currentTexts(page.hits.map { ($0.room, $0.seq) })
            let results = zip(page.hits, current).compactMap { hit, text -> SearchResult? in
                guard let text else { return nil }
                return SearchResult(
                    room: scope.rooms[hit.room] ?? hit.room,
                    seq: hit.seq,
                    from: hit.from,
                    text: text,
                    ts: hit.ts,
                    snippet: SearchSnippet.make(text: text, query: request.query)
                )
            }
            return .success(SearchReply(results: results, more: page.more).json)
        } catch {
            // SQLite's text never reaches the client.
            logger.debug("search failed", metadata: ["chat.conn.id": "\(conn.subscriberID)", "error": "\(error)"])
            return .failure(ProtocolError(.internal, "search failed; try again"))
        }
    }
}
