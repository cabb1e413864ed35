import ChatCore

// MARK: Client events

func handleClient(_ state: inout AppState, _ event: ClientEvent) -> [AppEffect] {
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
                state.rooms[i].isPrivate = summary.visibility.isRestricted || state.rooms[i].isDirect
            } else {
                var room = AppState.Room(name: summary.name)
                room.head = summary.head
                room.read = summary.read
                room.isPrivate = summary.visibility.isRestricted || room.isDirect
                state.insert(room)
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
            var new = AppState.Room(name: room)
            new.isPrivate = new.isDirect
            i = state.insert(new)
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
        if message.isContent { state.rooms[i].typing[message.from] = nil }
        state.see(message.from, online: nil)
        // Edits, deletes and reactions change what is shown; they neither ring nor count as new below.
        guard isNew, message.isContent, message.from != state.user else {
            if i == state.active { return markActiveRead(&state) }
            // A change in a room read to the end is no unread message: its marker moves past it.
            if isNew, !message.isContent, state.rooms[i].read == message.seq - 1, case .connected = state.connection {
                state.rooms[i].read = message.seq
                return [.markRead(room: state.rooms[i].name, seq: message.seq)]
            }
            return []
        }
        let visible = i == state.active && state.scroll == 0
        if i == state.active, state.scroll > 0 { state.newBelow += 1 }
        var effects: [AppEffect] = []
        // A direct message is meant for the user as much as a mention is.
        if state.rooms[i].isDirect || mentions(message.text, user: state.user) {
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
        case .joined(let room, let user):
            if let i = state.index(of: room) { state.rooms[i].members += 1 }
            state.see(user, online: nil)
        case .left(let room, _):
            if let i = state.index(of: room) { state.rooms[i].members = max(0, state.rooms[i].members - 1) }
        case .presence(let user, let online):
            state.see(user, online: online)
        case .added(let room, let by, let visibility):
            added(&state, room: room, by: by, visibility: visibility)
        case .removed(let room, let by):
            if let i = state.index(of: room) { removeRoom(&state, at: i) }
            state.notice = "\(by) removed you from \(room)"
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

/// A member added the user to a room (`invite`), or a user opened direct messages with them (`dm`):
/// the room is listed (the client subscribes by itself), where it was not, without leaving the open room.
private func added(_ state: inout AppState, room: String, by: String, visibility: RoomVisibility) {
    let i: Int
    if let known = state.index(of: room) {
        i = known
    } else {
        i = state.insert(AppState.Room(name: room))
    }
    state.rooms[i].isPrivate = visibility.isRestricted || state.rooms[i].isDirect
    // Whoever acted has a connection.
    state.see(by, online: true)
    guard TextRules.foldKey(by) != TextRules.foldKey(state.user) else { return }
    state.notice =
        state.rooms[i].isDirect ? "\(by) opened direct messages with you" : "\(by) added you to \(room)"
}
