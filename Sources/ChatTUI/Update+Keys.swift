import ChatCore

// MARK: Keys

func handleKey(_ state: inout AppState, _ key: Key) -> [AppEffect] {
    if state.login != nil { return handleLoginKey(&state, key) }
    if key != .tab { state.completion = nil }
    if state.picker != nil { return handlePickerKey(&state, key) }
    if state.search != nil { return handleSearchKey(&state, key) }
    if state.confirmDelete != nil { return handleConfirmDeleteKey(&state, key) }
    if state.selection != nil, !state.showHelp { return handleSelectionKey(&state, key) }
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
    case .up:
        // As in Slack: ↑ in an empty input edits the user's last message; ↑ again, before changing it, goes on
        // to the input history. An edit or a reaction being written is never replaced by history.
        if case .edit(let seq) = state.compose {
            guard state.input.text == state.activeRoom?.message(seq: seq)?.text else { break }
            cancelCompose(&state)
            recall(&state, older: true)
        } else if case .react = state.compose {
            break
        } else if state.input.isEmpty, state.compose == .message, state.historyIndex == nil,
            let last = lastOwnMessage(state)
        {
            startEdit(&state, last)
        } else {
            recall(&state, older: true)
        }
    case .down:
        switch state.compose {
        case .edit, .react: break
        case .message, .reply: recall(&state, older: false)
        }
    case .pageUp: return scroll(&state, by: max(1, state.pageHeight - 2))
    case .pageDown: return scroll(&state, by: -max(1, state.pageHeight - 2))
    case .tab:
        if case .react = state.compose { nextReactionChoice(&state) } else { complete(&state) }
    case .alt("s"): startSelection(&state)
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
        if state.compose != .message { cancelCompose(&state) } else { state.notice = nil }
    default: break
    }
    return []
}

func handleLoginKey(_ state: inout AppState, _ key: Key) -> [AppEffect] {
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
    if let effects = submitChange(&state) { return effects }
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
    let command = parts.first?.lowercased()
    if command == "/msg" || command == "/m", parts.count > 1 {
        // `/msg NAME TEXT`: the text after the name.
        let rest = parts[1].split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        return rest.count > 1 ? String(rest[1]).trimmingSpaces : nil
    }
    guard command == "/me", parts.count > 1 else { return nil }
    return String(parts[1]).trimmingSpaces
}

/// A composed message that was not sent comes back: into the input line if it is empty, else under ↑.
func giveBack(_ state: inout AppState, nonce: String, reason: String) {
    var lost: AppState.Pending?
    var lostRoom: Int?
    for i in state.rooms.indices {
        if let j = state.rooms[i].pending.firstIndex(where: { $0.nonce == nonce }) {
            lost = state.rooms[i].pending.remove(at: j)
            lostRoom = i
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
        // A refused reply comes back as a reply, in its own room.
        if let reply = lost.reply, lostRoom == state.active, state.compose == .message { state.compose = reply }
        state.notice = "not sent: \(reason)"
    } else {
        state.inputHistory.removeAll { $0 == line }
        state.inputHistory.append(line)
        state.notice = "not sent: \(reason) — ↑ recalls it"
    }
}

/// A server's refusal of a send, in plain words.
func refusal(_ error: ProtocolError, text: String?, limits: Limits) -> String {
    if error.code == .tooLarge, let text {
        return Wording.tooLong(text.unicodeScalars.count, limit: limits.maxText)
    }
    return error.message
}

func sendMessage(_ state: inout AppState, _ text: String, kind: MessageKind) -> [AppEffect] {
    guard state.rooms.indices.contains(state.active) else {
        state.notice = "join a room first: /join ROOM"
        return []
    }
    state.nonceCounter += 1
    let nonce = "\(state.noncePrefix)-\(state.nonceCounter)"
    var replyTo: Int64?
    var reply: AppState.Compose?
    if case .reply(let seq, _) = state.compose {
        replyTo = seq
        reply = state.compose
        state.compose = .message
    }
    state.rooms[state.active].pending.append(
        AppState.Pending(nonce: nonce, text: text, kind: kind, ts: state.now, reply: reply)
    )
    state.scroll = 0
    state.newBelow = 0
    return [.send(room: state.rooms[state.active].name, text: text, kind: kind, nonce: nonce, replyTo: replyTo)]
}
