import ChatCore
import Foundation

/// Session tokens kept under `$XDG_CONFIG_HOME/chat/tokens.json` (default
/// `~/.config/chat/`), one per server and user; the file is mode 0600 and its
/// directory 0700.
package struct TokenStore: Sendable {
    /// The directory holding the file.
    package var directory: String

    /// Creates a store.
    ///
    /// - Parameters:
    ///   - directory: where `tokens.json` lives.
    package init(directory: String) {
        self.directory = directory
    }

    /// The default directory from the environment.
    ///
    /// - Parameters:
    ///   - environment: process environment.
    package static func defaultDirectory(environment: [String: String]) -> String {
        if let xdg = environment["XDG_CONFIG_HOME"], !xdg.isEmpty { return xdg + "/chat" }
        let home = environment["HOME"] ?? NSHomeDirectory()
        return home + "/.config/chat"
    }

    var path: String { directory + "/tokens.json" }

    /// Keyed by the case-folded name, as the server compares names.
    static func key(server: String, user: String) -> String { "\(TextRules.foldKey(user))@\(server)" }

    /// The stored token for a user on a server.
    ///
    /// - Parameters:
    ///   - server: normalised server URL.
    ///   - user: user name as typed.
    package func token(server: String, user: String) -> String? {
        load()[Self.key(server: server, user: user)]
    }

    /// Stores (or with nil, forgets) a token.
    ///
    /// - Parameters:
    ///   - token: the token.
    ///   - server: normalised server URL.
    ///   - user: user name as typed.
    package func store(_ token: String?, server: String, user: String) throws {
        var all = load()
        all[Self.key(server: server, user: user)] = token
        try FileManager.default.createDirectory(
            atPath: directory,
            withIntermediateDirectories: true,
            attributes: [.posixPermissions: 0o700]
        )
        let data = try JSONSerialization.data(withJSONObject: all, options: [.sortedKeys, .prettyPrinted])
        let temporary = path + ".tmp"
        guard FileManager.default.createFile(atPath: temporary, contents: data, attributes: [.posixPermissions: 0o600])
        else { throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: temporary]) }
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: temporary)
        if rename(temporary, path) != 0 {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: path])
        }
    }

    private func load() -> [String: String] {
        guard let data = FileManager.default.contents(atPath: path),
            let object = try? JSONSerialization.jsonObject(with: data) as? [String: String]
        else { return [:] }
        return object
    }
}
