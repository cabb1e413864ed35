import ChatClient
import ChatCore
import ChatTUI
import Foundation
import Logging

/// What the interactive client needs to start.
package struct TUIConfiguration: Sendable {
    /// The normalised WebSocket URL.
    package var server: String
    package var user: String
    /// How to authenticate; nil shows the login form first.
    package var credentials: ChatCredentials?
    /// Rooms to join at start (in addition to the user's memberships).
    package var rooms: [String]
    package var color: Bool
    package var bell: Bool
    /// Where to keep a newly issued token, if anywhere.
    package var tokens: TokenStore?
    /// Open the login form in "create an account" mode.
    package var registering = false
    package var twelveHour = false
    /// For `wss://`: how to verify the server (resolved before the screen opens).
    package var tls: ClientTLSConfiguration?

    /// Creates a configuration.
    ///
    /// - Parameters:
    ///   - server: the normalised WebSocket URL.
    ///   - user: the user name (may be empty: the login form asks).
    ///   - credentials: how to authenticate; nil shows the login form first.
    ///   - rooms: rooms to join at start.
    ///   - color: colours on.
    ///   - bell: ring the bell on mentions.
    ///   - tokens: where to keep a newly issued token.
    package init(
        server: String,
        user: String,
        credentials: ChatCredentials?,
        rooms: [String],
        color: Bool,
        bell: Bool,
        tokens: TokenStore?
    ) {
        self.server = server
        self.user = user
        self.credentials = credentials
        self.rooms = rooms
        self.color = color
        self.bell = bell
        self.tokens = tokens
    }
}

/// The interactive client on a real server: a `TUIRuntime` whose connections are `ChatClient`s.
///
/// - Parameters:
///   - configuration: what to connect to.
///   - backend: the terminal.
///   - logger: diagnostics (to a file, never the terminal).
package func runTUI(_ configuration: TUIConfiguration, backend: some TerminalBackend, logger: Logger) async {
    var state = AppState(user: configuration.user, server: configuration.server)
    state.color = configuration.color
    state.bell = configuration.bell
    state.twelveHour = configuration.twelveHour
    state.utcOffset = TimeZone.current.secondsFromGMT()
    state.now = Int64(Date().timeIntervalSince1970 * 1000)
    state.noncePrefix = "tui\(UInt32.random(in: 0...UInt32.max))"
    var runtime = TUIRuntimeConfiguration(connectAtStart: configuration.credentials != nil)
    runtime.registering = configuration.registering
    runtime.rooms = configuration.rooms
    let connector = ClientConnector(configuration: configuration, logger: logger)
    await TUIRuntime(state: state, backend: backend, connector: connector, configuration: runtime, logger: logger).run()
}
