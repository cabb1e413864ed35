import ChatConformance

extension ConformanceContext {
    /// A new user, logged in, who has joined a new room.
    ///
    /// - Parameters:
    ///   - user: the base of the user's name.
    ///   - room: the base of the room's name.
    func newUserInNewRoom(_ user: String, room: String) async throws -> (user: TestUser, room: String) {
        let member = try await newUser(user)
        let name = unique(room)
        try await join(member.client, name)
        return (member, name)
    }
}
