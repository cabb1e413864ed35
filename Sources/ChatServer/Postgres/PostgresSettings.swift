import Foundation
import Logging
import NIOSSL
import PostgresNIO

/// Where a cluster's PostgreSQL is, from a URL (`--postgres`, `CHAT_POSTGRES_URL`):
/// `postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?sslmode=disable|prefer|require][&host=/socket/dir]`.
///
/// `sslmode` is `prefer` by default, as in libpq; `require` verifies the server's certificate
/// against the system's trust roots. A `host` query item naming a directory connects through the
/// Unix socket in it (`.s.PGSQL.PORT`), as libpq does.
package struct PostgresSettings: Sendable, Equatable {
    /// How the connection uses TLS.
    package enum TLSMode: String, Sendable, Equatable, CaseIterable {
        case disable, prefer, require
    }

    package var host: String
    package var port: Int
    package var user: String
    package var password: String?
    package var database: String
    package var tls: TLSMode
    /// The directory of a Unix socket (nil: TCP to `host`).
    package var socketDirectory: String?

    /// Parses a URL.
    ///
    /// - Parameters:
    ///   - url: `postgres://` or `postgresql://` URL.
    package init(url: String) throws(PostgresSettingsError) {
        guard let parts = URLComponents(string: url), let scheme = parts.scheme?.lowercased(),
            scheme == "postgres" || scheme == "postgresql"
        else { throw PostgresSettingsError("not a postgres:// URL") }
        guard let user = parts.user, !user.isEmpty else { throw PostgresSettingsError("no user name in the URL") }
        self.user = user
        self.password = parts.password
        self.port = parts.port ?? 5432
        guard (1...65535).contains(port) else { throw PostgresSettingsError("port \(port) is out of range") }
        let path = parts.path.hasPrefix("/") ? String(parts.path.dropFirst()) : parts.path
        guard !path.isEmpty, !path.contains("/") else { throw PostgresSettingsError("no database name in the URL") }
        self.database = path
        self.host = parts.host ?? ""
        self.tls = .prefer
        for item in parts.queryItems ?? [] {
            switch item.name {
            case "sslmode":
                guard let value = item.value, let mode = TLSMode(rawValue: value) else {
                    throw PostgresSettingsError("sslmode must be disable, prefer or require")
                }
                self.tls = mode
            case "host":
                guard let value = item.value, value.hasPrefix("/") else {
                    throw PostgresSettingsError("the host parameter must be a socket directory")
                }
                self.socketDirectory = value
            default:
                throw PostgresSettingsError("unknown URL parameter '\(item.name)'")
            }
        }
        guard !host.isEmpty || socketDirectory != nil else { throw PostgresSettingsError("no host in the URL") }
    }

    /// The URL without its password (for logs and messages).
    package var redacted: String {
        let password = password == nil ? "" : ":***"
        let query = socketDirectory.map { "?host=\($0)" } ?? ""
        return "postgres://\(user)\(password)@\(host):\(port)/\(database)\(query)"
    }

    /// The configuration of a postgres-nio client pool.
    ///
    /// - Parameters:
    ///   - connections: the most connections the pool opens.
    package func clientConfiguration(connections: Int = 8) -> PostgresClient.Configuration {
        var configuration: PostgresClient.Configuration
        if let socketDirectory {
            configuration = PostgresClient.Configuration(
                unixSocketPath: socketDirectory + "/.s.PGSQL.\(port)",
                username: user,
                password: password,
                database: database
            )
        } else {
            let tls: PostgresClient.Configuration.TLS
            switch self.tls {
            case .disable: tls = .disable
            case .prefer: tls = .prefer(.makeClientConfiguration())
            case .require: tls = .require(.makeClientConfiguration())
            }
            configuration = PostgresClient.Configuration(
                host: host,
                port: port,
                username: user,
                password: password,
                database: database,
                tls: tls
            )
        }
        configuration.options.maximumConnections = connections
        configuration.options.minimumConnections = 0
        configuration.options.connectTimeout = .seconds(10)
        return configuration
    }
}

extension PostgresSettings {
    /// The configuration of one connection (what `probe` opens).
    package func connectionConfiguration() throws -> PostgresConnection.Configuration {
        var configuration: PostgresConnection.Configuration
        if let socketDirectory {
            configuration = PostgresConnection.Configuration(
                unixSocketPath: socketDirectory + "/.s.PGSQL.\(port)",
                username: user,
                password: password,
                database: database
            )
        } else {
            let tls: PostgresConnection.Configuration.TLS
            switch self.tls {
            case .disable: tls = .disable
            case .prefer: tls = .prefer(try NIOSSLContext(configuration: .makeClientConfiguration()))
            case .require: tls = .require(try NIOSSLContext(configuration: .makeClientConfiguration()))
            }
            configuration = PostgresConnection.Configuration(
                host: host,
                port: port,
                username: user,
                password: password,
                database: database,
                tls: tls
            )
        }
        configuration.options.connectTimeout = .seconds(10)
        return configuration
    }

    /// Opens one connection, runs `SELECT 1` and closes it: a refused connection, a failed login
    /// or a missing database is thrown at once, with PostgreSQL's reason (a pool would keep
    /// retrying in the background instead).
    ///
    /// - Parameters:
    ///   - logger: logger.
    package func probe(logger: Logger, timeout: Duration = .seconds(15)) async throws {
        // The connect has its own timeout; a peer that accepts but never answers (not PostgreSQL)
        // is caught by this one.
        try await withThrowingTaskGroup(of: Bool.self) { group in
            group.addTask {
                try await probeOnce(logger: logger)
                return true
            }
            group.addTask {
                try await Task.sleep(for: timeout)
                return false
            }
            defer { group.cancelAll() }
            guard try await group.next() == true else {
                throw PostgresStoreError.source("no answer from PostgreSQL at \(redacted) within \(timeout)")
            }
        }
    }

    private func probeOnce(logger: Logger) async throws {
        let connection = try await PostgresConnection.connect(
            configuration: try connectionConfiguration(),
            id: 0,
            logger: logger
        )
        do {
            try await connection.query("SELECT 1", logger: logger)
        } catch {
            try? await connection.close()
            throw error
        }
        try await connection.close()
    }
}

/// A `--postgres` URL that cannot be used.
package struct PostgresSettingsError: Error, CustomStringConvertible, Equatable {
    package let description: String

    /// Creates an error.
    ///
    /// - Parameters:
    ///   - description: what is wrong.
    package init(_ description: String) { self.description = "bad PostgreSQL URL: " + description }
}

extension PostgresClient {
    /// Runs `body` with a client pool that runs for as long as it does (the commands that use
    /// PostgreSQL once: `migrate`), after a `probe`, so an unreachable database fails at once.
    ///
    /// - Parameters:
    ///   - settings: where PostgreSQL is.
    ///   - logger: logger.
    ///   - body: what to do with the client.
    @discardableResult
    package static func with<Result: Sendable>(
        _ settings: PostgresSettings,
        logger: Logger,
        _ body: @Sendable (PostgresClient) async throws -> Result
    ) async throws -> Result {
        try await settings.probe(logger: logger)
        // The pool's own log: failures reach `body` as thrown errors, and its warning that a lease
        // came before `run()` started (this function starts both at once) says nothing to fix.
        var background = logger
        background.logLevel = max(logger.logLevel, .error)
        let client = PostgresClient(configuration: settings.clientConfiguration(), backgroundLogger: background)
        return try await withThrowingTaskGroup(of: Result?.self) { group in
            group.addTask {
                await client.run()
                return nil
            }
            defer { group.cancelAll() }
            return try await body(client)
        }
    }
}
