import ChatCore

/// The commands `/help` lists, for completion.
package let chatCommands = [
    "/help", "/join", "/logout", "/me", "/members", "/part", "/quit", "/rooms", "/search", "/topic",
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
    }
}

// MARK: Keys

private func handleKey(_ state: inout AppState, _ key: Key) -> [AppEffect] {
    if state.login != nil { return handleLoginKey(&state, key) }
    if key != .tab { state.completion = nil }
    if state.picker != nil { return handlePickerKey(&state, key) }
    if state.search != nil { return handleSearchKey(&state, key) }
    if key == .pageUp || key == .pageDown || key == .escape, state.rooms.indices.contains(state.active) {
        state.rooms[state.active].focus = nil
    }
    if state.showHelp, key == .escape || key == .enter {
        state.showHelp = false
        return []
    }
    switch key {
    case .character(let c):
        state.input.insert(String(c))
        state.historyIndex = nil
        return typingNotice(&state)
    case .enter: return submit(&state)
    case .altEnter: state.input.insert("\n")
    case .backspace: state.input.backspace()
    case .delete: state.input.deleteForward()
    case .left, .ctrl("b"): state.input.left()
    case .right, .ctrl("f"): state.input.right()
    case .home, .ctrl("a"): state.input.home()
    case .end, .ctrl("e"): state.input.end()
    case .alt("b"): state.input.wordLeft()
    case .alt("f"): state.input.wordRight()
    case .ctrl("w"): state.input.deleteWordBackward()
    case .ctrl("u"): state.input.deleteToStart()
    case .ctrl("k"): state.input.deleteToEnd()
    case .up: recall(&state, older: true)
    case .down: recall(&state, older: false)
    case .pageUp: return scroll(&state, by: max(1, state.pageHeight - 2))
    case .pageDown: return scroll(&state, by: -max(1, state.pageHeight - 2))
    case .tab: complete(&state)
    case .ctrl("n"): return switchRoom(&state, to: state.active + 1)
    case .ctrl("p"): return switchRoom(&state, to: state.active - 1)
    case .alt("a"): return jumpToActivity(&state)
    case .alt(let c) where c.isNumber:
        if let n = c.wholeNumberValue, n >= 1 { return switchRoom(&state, to: n - 1, wrap: false) }
    case .ctrl("c"):
        state.quitting = true
        return [.quit]
    case .ctrl("d") where state.input.isEmpty:
        state.quitting = true
        return [.quit]
    case .escape:
        state.notice = nil
    default: break
    }
    return []
}

private func handleLoginKey(_ state: inout AppState, _ key: Key) -> [AppEffect] {
    guard var form = state.login else { return [] }
    defer { state.login = form }
    if key == .ctrl("c") || key == .escape {
        state.quitting = true
        return [.quit]
    }
    guard !form.busy else { return [] }
    func edit(_ body: (inout InputLine) -> Void) {
        if form.focus == .user { body(&form.user) } else { body(&form.password) }
        form.error = nil
    }
    switch key {
    case .character(let c): edit { $0.insert(String(c)) }
    case .backspace: edit { $0.backspace() }
    case .delete: edit { $0.deleteForward() }
    case .left: edit { $0.left() }
    case .right: edit { $0.right() }
    case .home, .ctrl("a"): edit { $0.home() }
    case .end, .ctrl("e"): edit { $0.end() }
    case .ctrl("u"): edit { $0.deleteToStart() }
    case .tab, .up, .down: form.focus = form.focus == .user ? .password : .user
    case .ctrl("r"):
        form.register.toggle()
        form.error = nil
    case .enter:
        if form.focus == .user {
            form.focus = .password
            return []
        }
        let user = form.user.text.trimmingSpaces
        let password = form.password.text
        if case .failure(let error) = TextRules.userName(user) {
            form.error = error.message
            form.focus = .user
            return []
        }
        guard (8...1024).contains(password.utf8.count) else {
            form.error = "the password must be 8 to 1024 bytes"
            return []
        }
        form.busy = true
        form.error = nil
        state.user = user
        return [.authenticate(user: user, password: password, register: form.register)]
    default: break
    }
    return []
}

private func handlePickerKey(_ state: inout AppState, _ key: Key) -> [AppEffect] {
    guard var picker = state.picker else { return [] }
    switch key {
    case .ctrl("c"):
        state.picker = nil
        state.quitting = true
        return [.quit]
    case .up: picker.selected = max(0, picker.selected - 1)
    case .down: picker.selected = min(max(0, picker.items.count - 1), picker.selected + 1)
    case .escape:
        state.picker = nil
        return []
    case .enter:
        state.picker = nil
        guard picker.items.indices.contains(picker.selected) else { return [] }
        return joinRoom(&state, picker.items[picker.selected])
    default: break
    }
    state.picker = picker
    return []
}

private func typingNotice(_ state: inout AppState) -> [AppEffect] {
    guard let room = state.activeRoom, !state.input.text.hasPrefix("/") else { return [] }
    let key = TextRules.foldKey(room.name)
    if let last = state.typingSent[key], state.now - last < 3000 { return [] }
    state.typingSent[key] = state.now
    return [.typing(room.name)]
}

private func recall(_ state: inout AppState, older: Bool) {
    guard !state.inputHistory.isEmpty else { return }
    if state.historyIndex == nil {
        guard older else { return }
        state.draft = state.input.text
    }
    var index = state.historyIndex ?? state.inputHistory.count
    index += older ? -1 : 1
    if index >= state.inputHistory.count {
        state.historyIndex = nil
        state.input = InputLine(state.draft ?? "")
        state.draft = nil
        return
    }
    index = max(0, index)
    state.historyIndex = index
    state.input = InputLine(state.inputHistory[index])
}

private func submit(_ state: inout AppState) -> [AppEffect] {
    let text = state.input.text
    guard !text.trimmingSpaces.isEmpty else { return [] }
    // Over the server's limit: say so and keep the text in the input line, to shorten or split.
    if let body = messageText(of: text), body.unicodeScalars.count > state.limits.maxText {
        state.notice = Wording.tooLong(body.unicodeScalars.count, limit: state.limits.maxText) + " — not sent"
        state.historyIndex = nil
        state.completion = nil
        return []
    }
    state.input = InputLine()
    state.historyIndex = nil
    if state.inputHistory.last != text { state.inputHistory.append(text) }
    if state.inputHistory.count > 500 { state.inputHistory.removeFirst() }
    if text.hasPrefix("/"), !text.hasPrefix("//") { return runCommand(&state, text) }
    return sendMessage(&state, text.hasPrefix("//") ? String(text.dropFirst()) : text, kind: .text)
}

/// The message text a submitted line sends (nil: a command that sends none).
private func messageText(of line: String) -> String? {
    if line.hasPrefix("//") { return String(line.dropFirst()) }
    guard line.hasPrefix("/") else { return line }
    let parts = line.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
    guard parts.first?.lowercased() == "/me", parts.count > 1 else { return nil }
    return String(parts[1]).trimmingSpaces
}

/// A composed message that was not sent comes back: into the input line if it is empty, else under ↑.
private func giveBack(_ state: inout AppState, nonce: String, reason: String) {
    var lost: AppState.Pending?
    for i in state.rooms.indices {
        if let j = state.rooms[i].pending.firstIndex(where: { $0.nonce == nonce }) {
            lost = state.rooms[i].pending.remove(at: j)
        }
    }
    guard let lost else {
        state.notice = "not sent: \(reason)"
        return
    }
    let line =
        lost.kind == .action ? "/me \(lost.text)" : lost.text.hasPrefix("/") ? "/\(lost.text)" : lost.text
    if state.input.text.trimmingSpaces.isEmpty {
        state.input = InputLine(line)
        state.historyIndex = nil
        state.draft = nil
        state.notice = "not sent: \(reason)"
    } else {
        state.inputHistory.removeAll { $0 == line }
        state.inputHistory.append(line)
        state.notice = "not sent: \(reason) — ↑ recalls it"
    }
}

/// A server's refusal of a send, in plain words.
private func refusal(_ error: ProtocolError, text: String?, limits: Limits) -> String {
    if error.code == .tooLarge, let text {
        return Wording.tooLong(text.unicodeScalars.count, limit: limits.maxText)
    }
    return error.message
}

private func sendMessage(_ state: inout AppState, _ text: String, kind: MessageKind) -> [AppEffect] {
    guard state.rooms.indices.contains(state.active) else {
        state.notice = "join a room first: /join ROOM"
        return []
    }
    state.nonceCounter += 1
    let nonce = "\(state.noncePrefix)-\(state.nonceCounter)"
    state.rooms[state.active].pending.append(AppState.Pending(nonce: nonce, text: text, kind: kind, ts: state.now))
    state.scroll = 0
    state.newBelow = 0
    return [.send(room: state.rooms[state.active].name, text: text, kind: kind, nonce: nonce)]
}

// MARK: Commands

private func runCommand(_ state: inout AppState, _ line: String) -> [AppEffect] {
    let parts = line.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
    let command = parts.first.map(String.init)?.lowercased() ?? ""
    let argument = parts.count > 1 ? String(parts[1]).trimmingSpaces : ""
    let room = state.activeRoom?.name
    switch command {
    case "/join", "/j":
        guard !argument.isEmpty else {
            state.notice = "usage: /join ROOM"
            return []
        }
        return joinRoom(&state, argument.hasPrefix("#") ? String(argument.dropFirst()) : argument)
    case "/part", "/leave":
        guard let target = argument.isEmpty ? room : argument, let i = state.index(of: target) else {
            state.notice = "not in \(argument.isEmpty ? "a room" : argument)"
            return []
        }
        let name = state.rooms[i].name
        let activeName = state.activeRoom?.name
        state.rooms.remove(at: i)
        if i == state.active {
            state.active = min(i, max(0, state.rooms.count - 1))
            state.scroll = 0
        } else if let activeName, let kept = state.index(of: activeName) {
            state.active = kept
        }
        return [.leave(name)]
    case "/rooms": return [.listRooms]
    case "/members", "/names":
        guard let room else {
            state.notice = "join a room first"
            return []
        }
        return [.listMembers(room)]
    case "/topic":
        guard let room else {
            state.notice = "join a room first"
            return []
        }
        guard !argument.isEmpty else {
            state.notice = "topic: \(state.activeRoom?.topic.isEmpty == false ? state.activeRoom!.topic : "(none)")"
            return []
        }
        return [.setTopic(room: room, topic: argument)]
    case "/me":
        guard !argument.isEmpty else {
            state.notice = "usage: /me TEXT"
            return []
        }
        return sendMessage(&state, argument, kind: .action)
    case "/search", "/s": return startSearch(&state, argument)
    case "/help", "/h", "/?":
        state.showHelp = true
        return []
    case "/logout": return [.logout]
    case "/quit", "/exit", "/q":
        state.quitting = true
        return [.quit]
    default:
        state.notice = "unknown command \(command) (try /help)"
        return []
    }
}

func joinRoom(_ state: inout AppState, _ name: String) -> [AppEffect] {
    if let i = state.index(of: name) { return switchRoom(&state, to: i, wrap: false) }
    if case .failure(let error) = TextRules.roomName(name) {
        state.notice = error.message
        return []
    }
    state.rooms.append(AppState.Room(name: name))
    state.active = state.rooms.count - 1
    state.scroll = 0
    state.newBelow = 0
    return [.join(name)]
}

// MARK: Rooms and scrolling

func switchRoom(_ state: inout AppState, to index: Int, wrap: Bool = true) -> [AppEffect] {
    guard !state.rooms.isEmpty else { return [] }
    var target = index
    if wrap {
        target = (index % state.rooms.count + state.rooms.count) % state.rooms.count
    } else if !state.rooms.indices.contains(index) {
        return []
    }
    if target != state.active {
        state.rooms[state.active].marker = nil
        state.rooms[state.active].focus = nil
    }
    state.active = target
    state.scroll = 0
    state.newBelow = 0
    if state.rooms[target].marker == nil, state.rooms[target].unread > 0 {
        state.rooms[target].marker = state.rooms[target].read
    }
    return markActiveRead(&state)
}

private func jumpToActivity(_ state: inout AppState) -> [AppEffect] {
    let order = (1...max(1, state.rooms.count)).map { (state.active + $0) % max(1, state.rooms.count) }
    if let i = order.first(where: { state.rooms.indices.contains($0) && state.rooms[$0].mentions > 0 }) {
        return switchRoom(&state, to: i, wrap: false)
    }
    if let i = order.first(where: { state.rooms.indices.contains($0) && state.rooms[$0].unread > 0 }) {
        return switchRoom(&state, to: i, wrap: false)
    }
    return []
}

private func scroll(_ state: inout AppState, by lines: Int) -> [AppEffect] {
    guard let room = state.activeRoom else { return [] }
    state.scroll = max(0, state.scroll + lines)
    var effects: [AppEffect] = []
    // Scrolling above what is loaded fetches the previous page.
    let loadedLines = room.messages.count
    if lines > 0, state.scroll + state.pageHeight >= loadedLines, room.hasOlder, !room.loadingOlder,
        let first = room.messages.first
    {
        state.rooms[state.active].loadingOlder = true
        effects.append(.loadOlder(room: room.name, before: first.seq))
    }
    if state.scroll == 0 {
        state.newBelow = 0
        effects += markActiveRead(&state)
    }
    return effects
}

/// Reaching the bottom of a visible room marks it read.
private func markActiveRead(_ state: inout AppState) -> [AppEffect] {
    guard state.scroll == 0, state.rooms.indices.contains(state.active), case .connected = state.connection else {
        return []
    }
    let room = state.rooms[state.active]
    guard let last = room.messages.last?.seq, last > room.read else { return [] }
    state.rooms[state.active].read = last
    state.rooms[state.active].mentions = 0
    return [.markRead(room: room.name, seq: last)]
}

// MARK: Completion

private func complete(_ state: inout AppState) {
    if var completion = state.completion, !completion.candidates.isEmpty {
        completion.index = (completion.index + 1) % completion.candidates.count
        state.input.replace(from: completion.start, with: completion.candidates[completion.index])
        state.completion = completion
        return
    }
    let (word, start) = state.input.wordBeforeCursor
    guard !word.isEmpty else { return }
    let lower = word.lowercased()
    var candidates: [String]
    let line = state.input.text
    if start == 0, word.hasPrefix("/") {
        candidates = chatCommands.filter { $0.hasPrefix(lower) }.map { $0 + " " }
    } else if line.hasPrefix("/join ") || line.hasPrefix("/part ") {
        candidates = state.rooms.map(\.name).filter { $0.lowercased().hasPrefix(lower) }.map { $0 + " " }
    } else {
        var nicks: [String] = []
        for message in (state.activeRoom?.messages ?? []).reversed() where !nicks.contains(message.from) {
            nicks.append(message.from)
        }
        candidates = nicks.filter { $0.lowercased().hasPrefix(lower) && $0 != state.user }
            .map { start == 0 ? $0 + ": " : $0 + " " }
    }
    guard !candidates.isEmpty else { return }
    state.input.replace(from: start, with: candidates[0])
    state.completion = AppState.Completion(candidates: candidates, index: 0, start: start)
}

// MARK: Client events

private func handleClient(_ state: inout AppState, _ event: ClientEvent) -> [AppEffect] {
    switch event {
    case .connected(let user, let token):
        state.connection = .connected
        state.user = user
        state.login = nil
        return (token.map { [.storeToken(user: user, token: $0)] } ?? []) + markActiveRead(&state)
    case .memberships(let rooms):
        var effects: [AppEffect] = []
        for summary in rooms {
            if let i = state.index(of: summary.name) {
                state.rooms[i].head = max(state.rooms[i].head, summary.head)
                state.rooms[i].read = max(state.rooms[i].read, summary.read)
            } else {
                var room = AppState.Room(name: summary.name)
                room.head = summary.head
                room.read = summary.read
                state.rooms.append(room)
                effects.append(.join(summary.name))
            }
        }
        return effects
    case .disconnected(let reason, let retry):
        if state.login?.busy == true, retry == nil {
            state.login?.busy = false
            state.login?.error = "cannot connect: \(reason)"
            return []
        }
        if let retry {
            let ms = retry.components.seconds * 1000 + retry.components.attoseconds / 1_000_000_000_000_000
            state.connection = .reconnecting(at: state.now + ms, reason: reason)
        } else if case .offline = state.connection {
        } else {
            state.connection = .offline(reason)
        }
        return []
    case .joined(let room, let topic, let head, let reset, let limited):
        let i: Int
        if let existing = state.index(of: room) {
            i = existing
        } else {
            state.rooms.append(AppState.Room(name: room))
            i = state.rooms.count - 1
        }
        state.rooms[i].name = room
        state.rooms[i].topic = topic
        if reset {
            state.rooms[i].messages = []
            state.rooms[i].head = head
            state.notice = "\(room): the server's history was reset; reloaded"
        } else {
            state.rooms[i].head = max(state.rooms[i].head, head)
        }
        state.rooms[i].hasOlder = limited || state.rooms[i].hasOlder
        return [.countMembers(room)]
    case .message(let message):
        guard let i = state.index(of: message.room) else { return [] }
        let isNew = !(state.rooms[i].messages.contains { $0.seq == message.seq })
        merge([message], into: &state.rooms[i])
        if message.from == state.user, let nonce = message.nonce {
            state.rooms[i].pending.removeAll { $0.nonce == nonce }
        }
        state.rooms[i].typing[message.from] = nil
        guard isNew, message.from != state.user else { return i == state.active ? markActiveRead(&state) : [] }
        let visible = i == state.active && state.scroll == 0
        if i == state.active, state.scroll > 0 { state.newBelow += 1 }
        var effects: [AppEffect] = []
        if mentions(message.text, user: state.user) {
            if !visible { state.rooms[i].mentions += 1 }
            if state.bell { effects.append(.bell) }
        }
        if visible { effects += markActiveRead(&state) }
        return effects
    case .event(let event):
        switch event {
        case .topic(let room, let topic, let by):
            if let i = state.index(of: room) { state.rooms[i].topic = topic }
            state.notice = "\(by) set the topic of \(room)"
        case .read(let room, let seq):
            if let i = state.index(of: room), seq > state.rooms[i].read {
                state.rooms[i].read = seq
                if state.rooms[i].read >= state.rooms[i].head { state.rooms[i].mentions = 0 }
            }
        case .typing(let room, let user):
            if let i = state.index(of: room) { state.rooms[i].typing[user] = state.now + 6000 }
        case .joined(let room, _):
            if let i = state.index(of: room) { state.rooms[i].members += 1 }
        case .left(let room, _):
            if let i = state.index(of: room) { state.rooms[i].members = max(0, state.rooms[i].members - 1) }
        default: break
        }
        return []
    case .sendFailed(let nonce, let error):
        let text = state.rooms.lazy.flatMap(\.pending).first { $0.nonce == nonce }?.text
        giveBack(&state, nonce: nonce, reason: refusal(error, text: text, limits: state.limits))
        return []
    case .authenticationFailed(let error):
        if state.login != nil {
            state.login?.busy = false
            state.login?.error = error.message
            state.login?.password = InputLine()
            state.connection = .connecting
        } else if error.code == .unauthorized {
            // The saved session ended (revoked, expired, or logged out elsewhere): ask for the password.
            var form = AppState.LoginForm(user: state.user)
            form.error = "signed out — log in again (\(error.message))"
            state.login = form
            state.connection = .connecting
        } else {
            state.connection = .offline("login failed: \(error.message)")
        }
        return []
    }
}

/// Inserts messages into a room, keeping seq order and dropping duplicates.
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

extension String {
    var trimmingSpaces: String {
        var s = Substring(self)
        while s.first?.isWhitespace == true { s.removeFirst() }
        while s.last?.isWhitespace == true { s.removeLast() }
        return String(s)
    }

    func trimmingCharacters(_ c: Character) -> String {
        var s = Substring(self)
        while s.last == c { s.removeLast() }
        return String(s)
    }
}
