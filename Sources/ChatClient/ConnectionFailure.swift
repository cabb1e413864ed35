import ChatCore
import HummingbirdWSClient
import NIOCore
import NIOPosix
import NIOSSL

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Why a connection failed or ended, in plain words for people ("server unreachable (connection
/// refused)"). The raw error, with addresses and errno values, belongs in the log, not on the screen.
package struct ConnectionFailure: Equatable, Sendable, CustomStringConvertible {
    /// The cause, as far as the client can tell.
    package enum Cause: Equatable, Sendable {
        /// Nothing listens on the server's port.
        case refused
        /// The server did not answer in time.
        case timedOut
        /// The server's name did not resolve to an address.
        case nameResolution
        /// No route to the server's network or host.
        case unreachable
        /// The connection broke (reset, or closed without a close frame).
        case lost
        /// The server's TLS certificate is not trusted (it changed, expired, or names another host).
        case tlsCertificate
        /// The TLS handshake failed for another reason.
        case tls
        /// The server answered HTTP but refused the WebSocket upgrade (wrong URL or not a chat server).
        case upgradeRejected
        /// The server sent something the protocol does not allow.
        case protocolViolation
        /// The server closed the connection with this WebSocket close code.
        case closed(UInt16)
        /// Anything else (see the log).
        case other
    }

    /// What went wrong.
    package var cause: Cause

    /// A failure with a known cause.
    ///
    /// - Parameters:
    ///   - cause: the cause.
    package init(_ cause: Cause) {
        self.cause = cause
    }

    /// The cause of an error thrown while connecting or while connected.
    ///
    /// - Parameters:
    ///   - error: what NIO, NIOSSL or the WebSocket client threw.
    package init(_ error: any Error) {
        self.cause = Self.classify(error)
    }

    /// The cause of a close frame from the server.
    ///
    /// - Parameters:
    ///   - closeCode: the WebSocket close code.
    package init(closeCode: UInt16) {
        self.cause = .closed(closeCode)
    }

    /// The cause in plain words, for the status line ("server unreachable (connection refused)").
    package var description: String {
        switch cause {
        case .refused: return "server unreachable (connection refused)"
        case .timedOut: return "server unreachable (timed out)"
        case .nameResolution: return "server unreachable (name resolution failed)"
        case .unreachable: return "server unreachable (no route to the host)"
        case .lost: return "connection lost"
        case .tlsCertificate: return "TLS certificate not trusted (did it change?)"
        case .tls: return "TLS handshake failed"
        case .upgradeRejected: return "not a chat server at this URL (WebSocket refused)"
        case .protocolViolation: return "the server broke the protocol"
        case .closed(let code):
            switch CloseCode(rawValue: code) {
            case .goingAway: return "the server is restarting or shutting down"
            case .sessionRevoked: return "signed out (the session was revoked)"
            case .slowConsumer: return "disconnected: this client fell too far behind"
            case .tooLarge: return "disconnected: a frame was too large"
            case .policy, .invalidPayload: return "disconnected by the server (protocol error)"
            case .internalError: return "disconnected by the server (server error)"
            case .normal, nil: return "the server closed the connection"
            }
        case .other: return "connection failed"
        }
    }

    private static func classify(_ error: any Error) -> Cause {
        switch error {
        case let error as NIOConnectionError:
            // Happy eyeballs: one failure per address tried; name the first one we can explain.
            let causes = error.connectionErrors.map { classify($0.error) }
            if let known = causes.first(where: { $0 != .other }) { return known }
            if causes.isEmpty { return .nameResolution }
            return .other
        case is SocketAddressError.UnknownHost:
            return .nameResolution
        case let error as IOError:
            return classify(errno: error.errnoCode)
        case let error as ChannelError:
            switch error {
            case .connectTimeout: return .timedOut
            case .eof, .ioOnClosedChannel, .alreadyClosed, .outputClosed, .inputClosed: return .lost
            case .writeHostUnreachable: return .unreachable
            default: return .other
            }
        case let error as NIOSSLError:
            switch error {
            case .unableToValidateCertificate, .noCertificateToValidate, .cannotMatchULabel:
                return .tlsCertificate
            case .handshakeFailed(let detail):
                return "\(detail)".contains("CERTIFICATE_VERIFY_FAILED") ? .tlsCertificate : .tls
            case .uncleanShutdown:
                return .lost
            default:
                return .tls
            }
        case let error as NIOSSLExtraError:
            return error == .failedToValidateHostname || error == .serverHostnameImpossibleToMatch
                ? .tlsCertificate : .tls
        case let error as WebSocketClientError:
            return error == .webSocketUpgradeFailed ? .upgradeRejected : .protocolViolation
        case is ProtocolError:
            return .protocolViolation
        default:
            return .other
        }
    }

    private static func classify(errno code: CInt) -> Cause {
        switch code {
        case ECONNREFUSED: return .refused
        case ETIMEDOUT: return .timedOut
        case ENETUNREACH, EHOSTUNREACH, ENETDOWN, EHOSTDOWN: return .unreachable
        case ECONNRESET, ECONNABORTED, EPIPE, ENOTCONN: return .lost
        default: return .other
        }
    }
}
