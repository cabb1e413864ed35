import ChatClient
import HummingbirdWSClient
import NIOCore
import NIOSSL
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

@Suite("ConnectionFailure: the cause of a dropped connection in plain words")
struct ConnectionFailureTests {
    @Test(
        "errno values name the cause",
        arguments: [
            (ECONNREFUSED, "server unreachable (connection refused)"),
            (ETIMEDOUT, "server unreachable (timed out)"),
            (EHOSTUNREACH, "server unreachable (no route to the host)"),
            (ENETUNREACH, "server unreachable (no route to the host)"),
            (ECONNRESET, "connection lost"),
            (EPIPE, "connection lost"),
            (EACCES, "connection failed"),
        ]
    )
    func errno(_ code: CInt, _ expected: String) {
        #expect(ConnectionFailure(IOError(errnoCode: code, reason: "connect")).description == expected)
    }

    @Test("NIO's channel errors: a connect timeout, a closed channel")
    func channelErrors() {
        #expect(ConnectionFailure(ChannelError.connectTimeout(.seconds(10))).cause == .timedOut)
        #expect(ConnectionFailure(ChannelError.eof).cause == .lost)
        #expect(ConnectionFailure(ChannelError.ioOnClosedChannel).cause == .lost)
    }

    @Test("TLS: an untrusted or changed certificate is told apart from other handshake failures")
    func tls() {
        #expect(ConnectionFailure(NIOSSLError.unableToValidateCertificate).cause == .tlsCertificate)
        #expect(ConnectionFailure(NIOSSLExtraError.failedToValidateHostname).cause == .tlsCertificate)
        #expect(
            ConnectionFailure(NIOSSLError.unableToValidateCertificate).description
                == "TLS certificate not trusted (did it change?)"
        )
        #expect(ConnectionFailure(NIOSSLError.uncleanShutdown).cause == .lost)
        #expect(ConnectionFailure(NIOSSLError.writeDuringTLSShutdown).description == "TLS handshake failed")
    }

    @Test("a refused WebSocket upgrade means the URL does not lead to a chat server")
    func upgrade() {
        #expect(ConnectionFailure(WebSocketClientError.webSocketUpgradeFailed).cause == .upgradeRejected)
        #expect(ConnectionFailure(WebSocketClientError.serverProtocolError).cause == .protocolViolation)
    }

    @Test(
        "close codes from the server",
        arguments: [
            (1000, "the server closed the connection"),
            (1001, "the server is restarting or shutting down"),
            (4001, "disconnected: this client fell too far behind"),
            (4002, "signed out (the session was revoked)"),
            (3999, "the server closed the connection"),
        ]
    )
    func closeCodes(_ code: UInt16, _ expected: String) {
        #expect(ConnectionFailure(closeCode: code).description == expected)
    }

    @Test("anything else is \"connection failed\", never the raw error")
    func other() {
        struct Strange: Error, CustomStringConvertible {
            var description: String { "SingleConnectionFailure(target: [IPv4]127.0.0.1/127.0.0.1:1, …)" }
        }
        #expect(ConnectionFailure(Strange()).description == "connection failed")
    }
}
