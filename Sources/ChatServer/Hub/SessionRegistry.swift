import ChatCore

/// Why a connection was not accepted. (Connection limits are applied when a connection is
/// accepted, before its upgrade: see `ConnectionGate`.)
package enum ConnectRefusal: Error, Equatable, Sendable {
    case shuttingDown
}

/// The live connections as the hub core sees them: who each one is, which rooms it
/// follows, and which connections each user has.
package struct SessionRegistry: Sendable {
    /// One connection's session.
    package struct Session: Sendable {
        package let address: String
        package var userKey: String?
        package var tokenHash: String?
        /// Rooms whose publications the connection receives (fold keys).
        package var rooms: Set<String> = []
        /// Pending commits whose replies this session still waits for.
        var outstanding = 0
        /// Requests that must wait for those replies (answered in order).
        var queued: [(id: String, request: Request)] = []
    }

    package private(set) var sessions: [ConnID: Session] = [:]
    /// User fold key → that user's authenticated connections.
    package private(set) var userConnections: [String: Set<ConnID>] = [:]

    /// Number of live connections.
    package var count: Int { sessions.count }

    package subscript(_ id: ConnID) -> Session? {
        get { sessions[id] }
        _modify { yield &sessions[id] }
    }

    /// Registers a connection.
    ///
    /// - Parameters:
    ///   - id: the connection.
    ///   - address: its client address (for the login throttle).
    mutating func add(_ id: ConnID, address: String) {
        sessions[id] = Session(address: address)
    }

    /// Forgets a connection; returns its session.
    ///
    /// - Parameters:
    ///   - id: the connection.
    mutating func remove(_ id: ConnID) -> Session? {
        guard let session = sessions.removeValue(forKey: id) else { return nil }
        if let user = session.userKey { _ = removeUserConnection(user, id) }
        return session
    }

    /// Adds an authenticated connection of a user; true when it is the user's first.
    mutating func addUserConnection(_ user: String, _ id: ConnID) -> Bool {
        let first = userConnections[user, default: []].isEmpty
        userConnections[user, default: []].insert(id)
        return first
    }

    /// Removes an authenticated connection of a user; true when it was the user's last.
    mutating func removeUserConnection(_ user: String, _ id: ConnID) -> Bool {
        guard userConnections[user]?.remove(id) != nil else { return false }
        guard userConnections[user]?.isEmpty == true else { return false }
        userConnections[user] = nil
        return true
    }

    /// Every user with a connection open.
    package var onlineUsers: [String] { Array(userConnections.keys) }

    /// Whether the user has a connection open.
    ///
    /// - Parameters:
    ///   - user: user fold key.
    package func isOnline(_ user: String) -> Bool {
        !(userConnections[user]?.isEmpty ?? true)
    }

    /// The connections of a user.
    ///
    /// - Parameters:
    ///   - user: user fold key.
    package func connections(of user: String) -> Set<ConnID> {
        userConnections[user] ?? []
    }
}
