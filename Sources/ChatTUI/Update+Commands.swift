import ChatCore

// MARK: Commands

func runCommand(_ state: inout AppState, _ line: String) -> [AppEffect] {
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
        if state.rooms[i].isDirect {
            // The server refuses `leave` there: dropping it here would hide a room that stays.
            state.notice = "direct messages cannot be left"
            return []
        }
        removeRoom(&state, at: i)
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
    case "/upload": return uploadCommand(&state, argument)
    case "/download", "/open": return downloadCommand(&state, command, argument)
    case "/edit", "/delete", "/react": return runChangeCommand(&state, command, argument)
    case "/msg", "/query", "/m": return openDirect(&state, command: command, argument)
    case "/create": return createRoom(&state, argument)
    case "/invite", "/kick":
        let verb = String(command.dropFirst())
        guard let room else {
            state.notice = "join a room first"
            return []
        }
        guard let user = userArgument(&state, argument, usage: "usage: /\(verb) NAME") else { return [] }
        return [verb == "invite" ? .invite(room: room, user: user) : .kick(room: room, user: user)]
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
    if name.hasPrefix("@") {
        // Direct-message rooms are opened by the peer's name (`dm`), never joined by their own.
        state.notice = "to message a user: /msg NAME"
        return []
    }
    if case .failure(let error) = TextRules.roomName(name) {
        state.notice = error.message
        return []
    }
    state.active = state.insert(AppState.Room(name: name))
    state.scroll = 0
    state.newBelow = 0
    return [.join(name)]
}

/// Drops a room from the list (after `/part`, or when a member removed the user), keeping the active room
/// where it was or, if it was this one, on its neighbour.
func removeRoom(_ state: inout AppState, at i: Int) {
    let activeName = state.activeRoom?.name
    state.rooms.remove(at: i)
    if i == state.active {
        state.active = min(i, max(0, state.rooms.count - 1))
        state.scroll = 0
    } else if let activeName, let kept = state.index(of: activeName) {
        state.active = kept
    }
}

/// A user name argument (an IRC-style leading `@` is dropped), or nil after saying what is wrong.
private func userArgument(_ state: inout AppState, _ argument: String, usage: String) -> String? {
    let name = argument.hasPrefix("@") ? String(argument.dropFirst()) : argument
    guard !name.isEmpty, !name.contains(" ") else {
        state.notice = usage
        return nil
    }
    if case .failure(let error) = TextRules.userName(name) {
        state.notice = error.message
        return nil
    }
    return name
}

/// `/msg NAME [TEXT]`, `/query NAME`: the direct messages with NAME, opened at once when the client has
/// them, else asked of the server (`dm`); the text is sent once the room is open.
private func openDirect(_ state: inout AppState, command: String, _ argument: String) -> [AppEffect] {
    let parts = argument.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
    let usage = command == "/query" ? "usage: /query NAME" : "usage: /msg NAME [TEXT]"
    guard let first = parts.first, let user = userArgument(&state, String(first), usage: usage) else {
        if parts.isEmpty { state.notice = usage }
        return []
    }
    let text = parts.count > 1 && command != "/query" ? String(parts[1]).trimmingSpaces : ""
    if let i = state.directRoom(with: user) {
        return directOpened(&state, room: state.rooms[i].name, text: text.isEmpty ? nil : text)
    }
    return [.openDirect(user: user, text: text.isEmpty ? nil : text)]
}

/// The server answered `dm`: show the room (adding it if new) and send the text given with `/msg`.
func directOpened(_ state: inout AppState, room: String, text: String?) -> [AppEffect] {
    var effects: [AppEffect] = []
    let i: Int
    if let known = state.index(of: room) {
        i = known
    } else {
        var new = AppState.Room(name: room)
        new.isPrivate = true
        i = state.insert(new)
        effects.append(.join(room))
    }
    effects += switchRoom(&state, to: i, wrap: false)
    if let text { effects += sendMessage(&state, text, kind: .text) }
    return effects
}

/// `/create ROOM [private]`.
private func createRoom(_ state: inout AppState, _ argument: String) -> [AppEffect] {
    let words = argument.split(separator: " ").map(String.init)
    let usage = "usage: /create ROOM [private]"
    guard let first = words.first, words.count <= 2 else {
        state.notice = usage
        return []
    }
    let visibility = words.count == 2 ? words[1].lowercased() : "public"
    guard visibility == "private" || visibility == "public" else {
        state.notice = usage
        return []
    }
    let name = first.hasPrefix("#") ? String(first.dropFirst()) : first
    if case .failure(let error) = TextRules.roomName(name) {
        state.notice = error.message
        return []
    }
    if state.index(of: name) != nil {
        state.notice = "\(name) exists already"
        return []
    }
    return [.create(room: name, isPrivate: visibility == "private")]
}

/// The server created a room for `/create`: it is joined (the connection is subscribed) and shown.
func created(_ state: inout AppState, room: String, isPrivate: Bool) -> [AppEffect] {
    let i: Int
    if let known = state.index(of: room) {
        i = known
    } else {
        i = state.insert(AppState.Room(name: room))
    }
    state.rooms[i].isPrivate = isPrivate
    state.notice = isPrivate ? "created private room \(room): /invite NAME adds members" : "created \(room)"
    return switchRoom(&state, to: i, wrap: false)
}
