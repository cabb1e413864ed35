import ChatCore

/// The commands `/help` lists, for completion.
package let chatCommands = [
    "/create", "/delete", "/download", "/edit", "/help", "/invite", "/join", "/kick", "/logout", "/me", "/members",
    "/msg", "/open", "/part", "/query", "/quit", "/react", "/rooms", "/search", "/topic", "/upload",
]

/// Applies one event to the state and returns what the run loop must do. Synchronous and pure.
///
/// - Parameters:
///   - state: the state.
///   - event: what happened.
package func update(_ state: inout AppState, _ event: AppEvent) -> [AppEffect] {
    switch event {
    case .key(let key): return handleKey(&state, key)
    case .paste(let text):
        if state.login != nil {
            // Text typed or pasted in one go belongs to the focused form field, never the chat input.
            var effects: [AppEffect] = []
            for c in text where c != "\n" && c != "\r" { effects += handleLoginKey(&state, .character(c)) }
            return effects
        }
        state.completion = nil
        state.input.insert(text)
        return []
    case .resize(let size):
        state.pageHeight = max(1, size.height - 3)
        return []
    case .tick(let now):
        state.now = now
        for i in state.rooms.indices { state.rooms[i].typing = state.rooms[i].typing.filter { $0.value > now } }
        return markActiveRead(&state)
    case .client(let clientEvent): return handleClient(&state, clientEvent)
    case .history(let room, let messages, let more):
        guard let i = state.index(of: room) else { return [] }
        state.rooms[i].loadingOlder = false
        state.rooms[i].hasOlder = more
        merge(messages, into: &state.rooms[i])
        return []
    case .roomList(let names):
        state.picker = AppState.Picker(title: "Rooms on the server (Enter joins, Esc closes)", items: names)
        return []
    case .memberList(let room, let members):
        for member in members { state.see(member.user, online: member.online) }
        let list = members.map { $0.online ? "\($0.user)" : "\($0.user) (away)" }.joined(separator: ", ")
        state.notice = "\(room): \(Wording.count(members.count, "member")): \(list)"
        return []
    case .notice(let text):
        state.notice = text
        return []
    case .lag(let ms):
        state.lagMs = ms
        return []
    case .memberCount(let room, let count):
        if let i = state.index(of: room) { state.rooms[i].members = count }
        return []
    case .searchResults(let query, let results, let more):
        searchAnswered(&state, query: query, results: results, more: more)
        return []
    case .searchFailed(let query, let message):
        searchFailed(&state, query: query, message: message)
        return []
    case .historyAround(let room, let messages):
        historyAround(&state, room: room, messages: messages)
        return []
    case .limits(let limits):
        state.limits = limits
        return []
    case .loggedOut:
        state.notice = "logged out; the stored token was removed"
        state.quitting = true
        return [.storeToken(user: state.user, token: nil), .quit]
    case .scrollLimit(let limit):
        state.scroll = max(0, min(state.scroll, limit))
        return []
    case .notSent(let nonce, let reason):
        giveBack(&state, nonce: nonce, reason: reason)
        return []
    case .seen(let users):
        for (name, online) in users { state.see(name, online: online) }
        return []
    case .directOpened(let room, let text): return directOpened(&state, room: room, text: text)
    case .created(let room, let isPrivate): return created(&state, room: room, isPrivate: isPrivate)
    case .transfer(let transfer):
        state.transfer = transfer
        return []
    }
}

/// Inserts messages into a room, keeping seq order and dropping duplicates, and applies the change events
/// among them to their targets.
func merge(_ messages: [ChatMessage], into room: inout AppState.Room) {
    guard !messages.isEmpty else { return }
    var bySeq: [Int64: ChatMessage] = [:]
    for m in room.messages { bySeq[m.seq] = m }
    let appendOnly = messages.allSatisfy { $0.seq > (room.messages.last?.seq ?? 0) }
    if appendOnly {
        for m in messages.sorted(by: { $0.seq < $1.seq }) where bySeq[m.seq] == nil {
            room.messages.append(m)
            bySeq[m.seq] = m
        }
    } else {
        for m in messages { bySeq[m.seq] = m }
        room.messages = bySeq.values.sorted { $0.seq < $1.seq }
    }
    room.head = max(room.head, room.messages.last?.seq ?? 0)
    applyChanges(of: messages, to: &room)
}

/// Whether text mentions a user name (case-insensitive, as a whole word).
package func mentions(_ text: String, user: String) -> Bool {
    let key = TextRules.foldKey(user)
    // Names in scripts written without spaces (花子さん) are found as a substring.
    if user.unicodeScalars.contains(where: { DisplayWidth.of(Character($0)) == 2 }) {
        return TextRules.foldKey(text).contains(key)
    }
    var word = ""
    for c in text + " " {
        if c.isLetter || c.isNumber || c == "_" || c == "-" || c == "." {
            word.append(c)
        } else {
            if !word.isEmpty, TextRules.foldKey(word.trimmingCharacters(".")) == key { return true }
            word = ""
        }
    }
    return false
}
