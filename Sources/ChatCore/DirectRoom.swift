/// Direct-message room names: `@` + the two user names, ordered by the code points of their
/// keys, joined by `+` (`@alice+bob`); a user's room with themself is `@alice`. User names
/// cannot hold `@` or `+`, so no room a user names collides with one.
package enum DirectRoom {
    /// The prefix of every direct-message room name.
    package static let prefix: Character = "@"
    /// The separator of the two user names.
    package static let separator: Character = "+"

    /// The direct-message room of two users (the same whichever is first).
    ///
    /// - Parameters:
    ///   - a: one user's name.
    ///   - b: the other user's name (equal to `a` for a room with oneself).
    package static func name(_ a: ValidName, _ b: ValidName) -> ValidName {
        name((a.display, a.key), (b.display, b.key))
    }

    /// The direct-message room of two users given as stored (display name and fold key).
    ///
    /// - Parameters:
    ///   - a: one user's display name and key.
    ///   - b: the other user's.
    package static func name(_ a: (display: String, key: String), _ b: (display: String, key: String)) -> ValidName {
        if a.key == b.key { return ValidName(display: "@" + a.display, key: "@" + a.key) }
        let (first, second) = precedes(a.key, b.key) ? (a, b) : (b, a)
        return ValidName(
            display: "@" + first.display + "+" + second.display,
            key: "@" + first.key + "+" + second.key
        )
    }

    /// Whether a room name is a direct-message room's (starts with `@`).
    ///
    /// - Parameters:
    ///   - room: a room name.
    package static func isDirect(_ room: String) -> Bool { room.first == prefix }

    /// The user names in a direct-message room name (one or two), or nil when `room` is not one.
    ///
    /// - Parameters:
    ///   - room: a room name.
    package static func users(in room: String) -> [String]? {
        guard isDirect(room) else { return nil }
        let parts = room.dropFirst().split(separator: separator, omittingEmptySubsequences: false).map(String.init)
        guard (1...2).contains(parts.count), parts.allSatisfy({ !$0.isEmpty }) else { return nil }
        return parts
    }

    /// The other user of a direct-message room, as the room name spells it (`me` itself for a
    /// room with oneself); nil when `room` is not a direct-message room of `me`.
    ///
    /// - Parameters:
    ///   - room: a room name.
    ///   - me: the user's name.
    package static func peer(in room: String, of me: String) -> String? {
        guard let users = users(in: room) else { return nil }
        let mine = TextRules.foldKey(me)
        guard let index = users.firstIndex(where: { TextRules.foldKey($0) == mine }) else { return nil }
        return users.count == 1 ? users[0] : users[1 - index]
    }

    /// Validates a direct-message room name as a request names it: `@` and one or two valid
    /// user names, the two in key order.
    ///
    /// - Parameters:
    ///   - raw: the name, starting with `@`.
    static func validate(_ raw: String) -> Result<ValidName, ProtocolError> {
        guard let parts = users(in: raw) else {
            return .failure(.badRequest("direct-message room name must be '@' and one or two user names joined by '+'"))
        }
        var names: [ValidName] = []
        for part in parts {
            switch TextRules.userName(part) {
            case .success(let name): names.append(name)
            case .failure(let error):
                return .failure(.badRequest("direct-message room name: \(error.message)"))
            }
        }
        if names.count == 2 {
            guard precedes(names[0].key, names[1].key) else {
                return .failure(.badRequest("direct-message room name must list its two users in key order"))
            }
            return .success(name(names[0], names[1]))
        }
        return .success(name(names[0], names[0]))
    }

    /// Code-point order of two keys.
    static func precedes(_ a: String, _ b: String) -> Bool {
        a.unicodeScalars.lexicographicallyPrecedes(b.unicodeScalars) { $0.value < $1.value }
    }
}
