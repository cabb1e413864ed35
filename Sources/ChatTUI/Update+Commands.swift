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
