import ChatCore
import NIOSSL

/// TLS settings for `wss://` (see `TLSTrust`): how to verify the server, and the TLS server
/// name to send and check.
package struct ClientTLSConfiguration: Sendable {
    /// The verification settings (trust roots, whether names are checked).
    package var tls: TLSConfiguration
    /// The name sent (SNI) and checked; nil: the URL's host, or a placeholder for an IP address.
    package var serverName: String?

    /// Creates TLS settings.
    ///
    /// - Parameters:
    ///   - tls: the verification settings.
    ///   - serverName: the TLS server name; nil derives it from the URL.
    package init(_ tls: TLSConfiguration, serverName: String? = nil) {
        self.tls = tls
        self.serverName = serverName
    }
}

/// How a client proves who it is.
package enum ChatCredentials: Sendable, Equatable {
    /// Resume a stored session; fall back to `password` if the token is refused.
    case token(String, password: String?)
    /// Log in with a password.
    case password(String)
    /// Create the account, then keep the token for reconnects.
    case register(String)
}

/// Configuration of a `ChatClient`.
package struct ChatClientConfiguration: Sendable {
    package var url: String
    package var user: String
    package var credentials: ChatCredentials
    package var clientName: String
    package var reconnect: Bool
    package var initialBackoff: Duration
    package var maxBackoff: Duration
    /// For `wss://`: how to verify the server (nil: the system trust store).
    package var tls: ClientTLSConfiguration?
    /// The invite code sent with `register` (servers with `--registration invite`).
    package var invite: String?

    /// Creates a configuration.
    ///
    /// - Parameters:
    ///   - url: normalised WebSocket URL (see `ServerURL`).
    ///   - user: user name.
    ///   - credentials: how to authenticate.
    ///   - clientName: sent in `hello`.
    ///   - reconnect: reconnect after a drop.
    ///   - initialBackoff: first reconnect delay.
    ///   - maxBackoff: longest reconnect delay.
    package init(
        url: String,
        user: String,
        credentials: ChatCredentials,
        clientName: String = "chat/0.1.0",
        reconnect: Bool = true,
        initialBackoff: Duration = .milliseconds(200),
        maxBackoff: Duration = .seconds(30)
    ) {
        self.url = url
        self.user = user
        self.credentials = credentials
        self.clientName = clientName
        self.reconnect = reconnect
        self.initialBackoff = initialBackoff
        self.maxBackoff = maxBackoff
        self.tls = nil
        self.invite = nil
    }
}

/// Errors of the client API.
package struct ChatClientError: Error, Equatable, CustomStringConvertible {
    package enum Code: Equatable, Sendable {
        case notConnected
        case disconnected
        /// The server refused the request, or it was refused here with the server's own
        /// rules and message (an invalid room name, query, …) before being sent.
        case server(ProtocolError)
        /// The server's reply could not be decoded.
        case malformedReply(WireDecodingError)
    }
    package var code: Code
    package var description: String {
        switch code {
        case .notConnected: return "not connected"
        case .disconnected: return "connection lost before the reply"
        case .server(let e): return e.description
        case .malformedReply(let e): return "malformed reply from the server: \(e)"
        }
    }
    package static let notConnected = ChatClientError(code: .notConnected)
    package static let disconnected = ChatClientError(code: .disconnected)
}
