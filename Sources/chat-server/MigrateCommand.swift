import ArgumentParser
import ChatServer
import Foundation
import Logging

struct MigrateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate",
        abstract: "Create or upgrade a cluster's PostgreSQL tables, or copy a data directory into PostgreSQL.",
        discussion: """
            'chat-server migrate --postgres URL' brings the database's tables to this build's schema \
            version, in one transaction (a database migrated by a newer build is refused). \
            'chat-server migrate --from DATA_DIR --to URL' does the same, then copies the data directory \
            (the server must be stopped) into the database, which must hold no chat state: accounts, \
            tokens, invites, rooms, memberships, read markers, every message in its latest version, and \
            files with their bytes, in one transaction. Every room gets a new epoch, so clients reload \
            their copies by themselves. URL: postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE\
            [?sslmode=disable|prefer|require]; CHAT_POSTGRES_URL is read when --postgres is not given.
            """
    )

    @Option(help: "The database whose tables to create or upgrade (or CHAT_POSTGRES_URL).")
    var postgres: String?

    @Option(help: "A data directory to copy into the database given by --to.")
    var from: String?

    @Option(help: "The database to copy --from into (migrated first; it must hold no chat state).")
    var to: String?

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: String = "warning"

    func validate() throws {
        if from != nil, to == nil { throw ValidationError("--from needs --to URL") }
        if to != nil, from == nil { throw ValidationError("--to needs --from DATA_DIR") }
        if from != nil, postgres != nil { throw ValidationError("give either --postgres or --from/--to") }
        guard Logger.Level(rawValue: logLevel) != nil else {
            throw ValidationError("unknown --log-level '\(logLevel)'")
        }
    }

    func run() async throws {
        var logger = Logger(label: "chat-server")
        logger.logLevel = Logger.Level(rawValue: logLevel) ?? .warning
        if let from, let to {
            let settings = try parse(to)
            let lastPrinted = LockedCounter()
            do {
                let summary = try await PostgresImport.run(dataDirectory: from, settings: settings, logger: logger) {
                    done in
                    if lastPrinted.advance(to: done, every: 100_000) { print("… \(done) messages copied") }
                }
                print("copied \(from) into \(settings.redacted): \(summary)")
            } catch let error as ValidationError {
                throw error
            } catch {
                throw CLIError("migrate failed: \(PostgresStoreError.describe(error))")
            }
            return
        }
        guard let url = postgres ?? ProcessInfo.processInfo.environment["CHAT_POSTGRES_URL"], !url.isEmpty else {
            throw ValidationError("give --postgres URL (or set CHAT_POSTGRES_URL), or --from DATA_DIR --to URL")
        }
        let settings = try parse(url)
        do {
            let outcome = try await PostgresSchema.migrate(settings, logger: logger)
            if outcome.from == outcome.to {
                print("\(settings.redacted): schema already at version \(outcome.to)")
            } else {
                print("\(settings.redacted): schema migrated from version \(outcome.from) to \(outcome.to)")
            }
        } catch {
            throw CLIError("migrate failed: \(PostgresStoreError.describe(error))")
        }
    }

    private func parse(_ url: String) throws -> PostgresSettings {
        do {
            return try PostgresSettings(url: url)
        } catch {
            throw ValidationError(error.description)
        }
    }
}

/// A counter that says when it passed another multiple of a step (progress lines).
final class LockedCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var last = 0

    func advance(to value: Int, every step: Int) -> Bool {
        lock.lock()
        defer { lock.unlock() }
        guard value - last >= step else { return false }
        last = value
        return true
    }
}
