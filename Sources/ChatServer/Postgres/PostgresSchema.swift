import Logging
import PostgresNIO

/// The cluster's tables, as numbered migrations (docs/OPERATIONS.md, "Cluster"). `migrate`
/// brings a database to the newest version in one transaction, under a transaction-level
/// advisory lock, so two nodes starting at once neither race nor apply a migration twice; a
/// database newer than this build is refused.
///
/// Keys are fold keys (`TextRules.foldKey`) as in the data directory; times are milliseconds since
/// the Unix epoch (`bigint`), as on the wire.
package enum PostgresSchema {
    /// A numbered change of the tables.
    package struct Migration: Sendable {
        package var version: Int
        package var name: String
        package var statements: [String]
    }

    /// Every migration, in order; `version` is the index + 1.
    package static let migrations: [Migration] = [
        Migration(
            version: 1,
            name: "accounts, rooms, messages and their search tokens, invites, files",
            statements: [
                """
                CREATE TABLE users (
                    key text PRIMARY KEY,
                    name text NOT NULL,
                    password_hash text NOT NULL,
                    created_at bigint NOT NULL,
                    disabled boolean NOT NULL DEFAULT false
                )
                """,
                """
                CREATE TABLE tokens (
                    hash text PRIMARY KEY,
                    user_key text NOT NULL REFERENCES users (key),
                    issued_at bigint NOT NULL,
                    used_at bigint NOT NULL
                )
                """,
                "CREATE INDEX tokens_user ON tokens (user_key)",
                """
                CREATE TABLE rooms (
                    key text PRIMARY KEY,
                    name text NOT NULL,
                    topic text NOT NULL DEFAULT '',
                    epoch text NOT NULL,
                    created_at bigint NOT NULL,
                    head bigint NOT NULL DEFAULT 0 CHECK (head >= 0),
                    visibility text NOT NULL DEFAULT 'public' CHECK (visibility IN ('public', 'private', 'dm')),
                    owner_key text,
                    expired bigint NOT NULL DEFAULT 0,
                    expired_before bigint NOT NULL DEFAULT 0
                )
                """,
                """
                CREATE TABLE members (
                    room_key text NOT NULL REFERENCES rooms (key),
                    user_key text NOT NULL REFERENCES users (key),
                    read_seq bigint NOT NULL DEFAULT 0,
                    PRIMARY KEY (room_key, user_key)
                )
                """,
                "CREATE INDEX members_user ON members (user_key)",
                """
                CREATE TABLE messages (
                    room_key text NOT NULL REFERENCES rooms (key),
                    seq bigint NOT NULL CHECK (seq >= 1),
                    sender text NOT NULL,
                    sender_key text NOT NULL,
                    kind text NOT NULL,
                    body text NOT NULL,
                    ts bigint NOT NULL,
                    nonce text,
                    details jsonb,
                    search tsvector,
                    PRIMARY KEY (room_key, seq)
                )
                """,
                "CREATE INDEX messages_search ON messages USING gin (search)",
                // Newest-first search: a common word is found by walking messages from the newest
                // and checking `search` (the planner picks this or the GIN index by the word's
                // frequency); without it every match is fetched and sorted (docs/BENCHMARKS.md).
                "CREATE INDEX messages_ts ON messages (ts)",
                "CREATE INDEX messages_sender_ts ON messages (sender_key, ts)",
                """
                CREATE TABLE invites (
                    code_hash text PRIMARY KEY,
                    uses_left bigint NOT NULL,
                    expires_at bigint NOT NULL,
                    created_at bigint NOT NULL
                )
                """,
                """
                CREATE TABLE uploads (
                    id text PRIMARY KEY,
                    name text NOT NULL,
                    mime text NOT NULL,
                    size bigint NOT NULL,
                    sha256 text NOT NULL,
                    uploader_key text NOT NULL,
                    ts bigint NOT NULL
                )
                """,
                """
                CREATE TABLE blobs (
                    sha256 text NOT NULL,
                    part integer NOT NULL CHECK (part >= 0),
                    data bytea NOT NULL,
                    PRIMARY KEY (sha256, part)
                )
                """,
            ]
        ),
        Migration(
            version: 2,
            name: "nodes: each serving node, its last committed batch and when it was last seen",
            statements: [
                """
                CREATE TABLE nodes (
                    id text PRIMARY KEY,
                    lsn bigint NOT NULL DEFAULT 0,
                    started_at bigint NOT NULL,
                    seen_at bigint NOT NULL
                )
                """
            ]
        ),
        Migration(
            version: 3,
            name: "chat_refuse: fails the statement it is called in, with a message",
            statements: [
                """
                CREATE FUNCTION chat_refuse(message text) RETURNS integer LANGUAGE plpgsql VOLATILE AS $$
                BEGIN
                    RAISE EXCEPTION '%', message;
                END
                $$
                """
            ]
        ),
        Migration(
            version: 4,
            name: "cluster_log, cluster_head: every write turn of --cluster nodes, in commit order",
            statements: [
                """
                CREATE TABLE cluster_head (
                    id integer PRIMARY KEY CHECK (id = 1),
                    head bigint NOT NULL
                )
                """,
                "INSERT INTO cluster_head (id, head) VALUES (1, 0)",
                """
                CREATE TABLE cluster_log (
                    id bigint PRIMARY KEY,
                    node text NOT NULL,
                    body bytea NOT NULL,
                    at bigint NOT NULL
                )
                """,
            ]
        ),
    ]

    /// The newest version this build knows.
    package static var latest: Int { migrations.count }

    /// The advisory lock `migrate` holds (an arbitrary constant: "chat" in ASCII).
    static let lockKey: Int64 = 0x6368_6174

    /// What `migrate` did.
    package struct Outcome: Sendable, Equatable {
        /// The version found.
        package var from: Int
        /// The version now.
        package var to: Int

        /// Creates an outcome.
        package init(from: Int, to: Int) {
            self.from = from
            self.to = to
        }
    }

    /// Brings the database to `latest`, in one transaction.
    ///
    /// - Parameters:
    ///   - client: the pool.
    ///   - logger: logger.
    /// - Throws: `PostgresStoreError.newerSchema` when the database is newer than this build.
    @discardableResult
    package static func migrate(_ client: PostgresClient, logger: Logger) async throws -> Outcome {
        try await client.withConnection { connection in
            try await migrate(connection, logger: logger)
        }
    }

    /// Brings the database at `settings` to `latest` (`chat-server migrate --postgres`).
    ///
    /// - Parameters:
    ///   - settings: the database.
    ///   - logger: logger.
    @discardableResult
    package static func migrate(_ settings: PostgresSettings, logger: Logger) async throws -> Outcome {
        try await PostgresClient.with(settings, logger: logger) { client in
            try await migrate(client, logger: logger)
        }
    }

    /// `migrate(_:logger:)` on one connection (which must not be in a transaction).
    ///
    /// - Parameters:
    ///   - connection: the connection.
    ///   - logger: logger.
    @discardableResult
    package static func migrate(_ connection: PostgresConnection, logger: Logger) async throws -> Outcome {
        try await connection.transaction(logger: logger) { connection in
            try await connection.query("SELECT pg_advisory_xact_lock(\(lockKey))", logger: logger)
            try await connection.query(
                """
                CREATE TABLE IF NOT EXISTS chat_schema (
                    version integer PRIMARY KEY,
                    name text NOT NULL,
                    applied_at timestamptz NOT NULL DEFAULT now()
                )
                """,
                logger: logger
            )
            let found = try await currentVersion(connection, logger: logger)
            guard found <= latest else { throw PostgresStoreError.newerSchema(found: found, known: latest) }
            for migration in migrations where migration.version > found {
                for statement in migration.statements {
                    try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                }
                try await connection.query(
                    "INSERT INTO chat_schema (version, name) VALUES (\(migration.version), \(migration.name))",
                    logger: logger
                )
                logger.info(
                    "PostgreSQL schema migrated",
                    metadata: ["version": "\(migration.version)", "migration": "\(migration.name)"]
                )
            }
            return Outcome(from: found, to: latest)
        }
    }

    /// The version of the database's tables (0: none yet).
    ///
    /// - Parameters:
    ///   - connection: a connection.
    ///   - logger: logger.
    package static func currentVersion(_ connection: PostgresConnection, logger: Logger) async throws -> Int {
        let exists =
            try await connection.query("SELECT to_regclass('chat_schema') IS NOT NULL", logger: logger)
            .collect().first?.decode(Bool.self) ?? false
        guard exists else { return 0 }
        let rows = try await connection.query("SELECT coalesce(max(version), 0) FROM chat_schema", logger: logger)
            .collect()
        return try rows.first.map { Int(try $0.decode(Int32.self)) } ?? 0
    }
}

/// What goes wrong between the server and PostgreSQL, beyond the driver's own errors.
package enum PostgresStoreError: Error, CustomStringConvertible, Equatable {
    /// The database was migrated by a newer build.
    case newerSchema(found: Int, known: Int)
    /// `migrate --to` found a database that already holds chat state.
    case notEmpty(String)
    /// The data being copied is inconsistent (a missing file, say).
    case source(String)

    /// A one-line account of an error met while talking to PostgreSQL: the server's own message
    /// and SQLSTATE for a `PSQLError` (whose `description` hides them), else the error's description.
    ///
    /// - Parameters:
    ///   - error: the error.
    package static func describe(_ error: any Error) -> String {
        guard let error = error as? PSQLError else { return "\(error)" }
        if let info = error.serverInfo, let message = info[.message] {
            let code = info[.sqlState].map { " (SQLSTATE \($0))" } ?? ""
            let detail = info[.detail].map { ": \($0)" } ?? ""
            return "PostgreSQL: \(message)\(detail)\(code)"
        }
        if let underlying = error.underlying { return "PostgreSQL: \(error.code): \(underlying)" }
        return "PostgreSQL: \(error.code)"
    }

    package var description: String {
        switch self {
        case .newerSchema(let found, let known):
            return "the database's schema is version \(found), newer than this build's \(known): "
                + "run a chat-server at least as new"
        case .notEmpty(let what): return "the database already holds chat state (\(what)); use an empty database"
        case .source(let what): return what
        }
    }
}

extension PostgresConnection {
    /// `withTransaction`, throwing what failed rather than a `PostgresTransactionError` around it:
    /// the closure's error when the rollback went through (the database is as before), else the
    /// error of `BEGIN`, `COMMIT` or `ROLLBACK`.
    ///
    /// - Parameters:
    ///   - logger: logger.
    ///   - body: the work, on this connection inside the transaction.
    package func transaction<Result>(
        logger: Logger,
        isolation: isolated (any Actor)? = #isolation,
        _ body: (PostgresConnection) async throws -> sending Result
    ) async throws -> sending Result {
        do {
            return try await withTransaction(logger: logger, isolation: isolation, body)
        } catch let error as PostgresTransactionError {
            throw error.beginError ?? error.commitError ?? error.rollbackError ?? error.closureError ?? error
        }
    }
}
