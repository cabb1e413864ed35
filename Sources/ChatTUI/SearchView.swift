import ChatCore

/// The `/search` results view.
package struct SearchView: Sendable, Equatable {
    /// The query as typed.
    package var query: String
    package var results: [SearchResult] = []
    package var selected = 0
    /// Waiting for the server's answer.
    package var loading = true
    /// More results exist than were returned.
    package var more = false
    /// The server refused the query (e.g. invalid syntax); shown in the view.
    package var error: String?

    /// Creates a view waiting for results.
    ///
    /// - Parameters:
    ///   - query: the query as typed.
    package init(query: String) { self.query = query }
}

/// Results per `/search` request.
package let searchResultLimit = 50

/// Starts a search: `/search QUERY`.
func startSearch(_ state: inout AppState, _ query: String) -> [AppEffect] {
    guard !query.isEmpty else {
        state.notice = "usage: /search WORDS \"a phrase\" from:NAME in:ROOM"
        return []
    }
    state.search = SearchView(query: query)
    return [.search(query)]
}

/// Keys while the results view is open.
func handleSearchKey(_ state: inout AppState, _ key: Key) -> [AppEffect] {
    guard var view = state.search else { return [] }
    switch key {
    case .ctrl("c"):
        state.search = nil
        state.quitting = true
        return [.quit]
    case .escape, .ctrl("g"):
        state.search = nil
        return []
    case .up, .ctrl("p"): view.selected = max(0, view.selected - 1)
    case .down, .ctrl("n"): view.selected = min(max(0, view.results.count - 1), view.selected + 1)
    case .pageUp: view.selected = max(0, view.selected - 10)
    case .pageDown: view.selected = min(max(0, view.results.count - 1), view.selected + 10)
    case .home: view.selected = 0
    case .end: view.selected = max(0, view.results.count - 1)
    case .enter:
        guard view.results.indices.contains(view.selected) else { return [] }
        state.search = nil
        return jumpTo(&state, view.results[view.selected])
    default: break
    }
    state.search = view
    return []
}

/// Opens a result's room with the message in view (loading the history around it when
/// it is not loaded yet).
func jumpTo(_ state: inout AppState, _ result: SearchResult) -> [AppEffect] {
    var effects: [AppEffect] = []
    if let i = state.index(of: result.room) {
        effects += switchRoom(&state, to: i, wrap: false)
    } else {
        effects += joinRoom(&state, result.room)
    }
    guard let i = state.index(of: result.room) else { return effects }
    state.rooms[i].focus = result.seq
    if !state.rooms[i].messages.contains(where: { $0.seq == result.seq }) {
        effects.append(.loadAround(room: state.rooms[i].name, seq: result.seq))
    }
    return effects
}

/// The search reply arrived.
func searchAnswered(_ state: inout AppState, query: String, results: [SearchResult], more: Bool) {
    guard state.search?.query == query else { return }
    state.search?.results = results
    state.search?.more = more
    state.search?.loading = false
    state.search?.selected = 0
}

/// The server refused the search.
func searchFailed(_ state: inout AppState, query: String, message: String) {
    guard state.search?.query == query else { return }
    state.search?.loading = false
    state.search?.error = message
}

/// History around a search result arrived.
func historyAround(_ state: inout AppState, room: String, messages: [ChatMessage]) {
    guard let i = state.index(of: room) else { return }
    merge(messages, into: &state.rooms[i])
    if let first = state.rooms[i].messages.first?.seq, first > 1 { state.rooms[i].hasOlder = true }
}
