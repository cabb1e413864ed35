import ArgumentParser
import ChatCore
import ChatServer
import Logging

@main
struct ChatServerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chat-server",
        abstract: "A self-hosted chat server speaking protocol v1 over WebSocket (/v1/ws)."
    )

    @Option(help: "Address to listen on.")
    var host = "0.0.0.0"

    @Option(help: "TCP port to listen on (0 picks a free port).")
    var port = 7878

    @Option(help: "Directory for the server's state (created if missing).")
    var dataDir = "./chat-data"

    @Option(help: "Messages (and typing notices) per second each user may send, sustained.")
    var ratePerSec: Double = 10

    @Option(help: "Messages each user may send in a burst before the per-second rate applies.")
    var rateBurst = 20

    @Option(help: "Longest message text, in Unicode scalars.")
    var maxText = 4000

    @Option(help: "Most messages one history or join reply carries.")
    var historyLimit = 500

    @Option(help: "Largest WebSocket message a client may send, in bytes (larger closes with 1009).")
    var maxFrame = 65536

    @Option(help: "Who may create accounts: open or closed.")
    var registration: String = "open"

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: String = "info"

    func validate() throws {
        guard (0...65535).contains(port) else { throw ValidationError("--port must be 0…65535") }
        guard ratePerSec > 0 else { throw ValidationError("--rate-per-sec must be positive") }
        guard rateBurst >= 1 else { throw ValidationError("--rate-burst must be at least 1") }
        guard maxText >= 1 else { throw ValidationError("--max-text must be at least 1") }
        guard historyLimit >= 1 else { throw ValidationError("--history-limit must be at least 1") }
        guard maxFrame >= 1024 else { throw ValidationError("--max-frame must be at least 1024") }
        guard ServerConfiguration.Registration(rawValue: registration) != nil else {
            throw ValidationError("--registration must be open or closed")
        }
        guard Logger.Level(rawValue: logLevel) != nil else {
            throw ValidationError("--log-level must be one of trace, debug, info, notice, warning, error, critical")
        }
    }

    func run() async throws {
        let level = Logger.Level(rawValue: logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        var configuration = ServerConfiguration(
            host: host,
            port: port,
            dataDirectory: dataDir,
            limits: Limits(
                maxFrame: maxFrame,
                maxText: maxText,
                historyLimit: historyLimit,
                ratePerSec: ratePerSec,
                rateBurst: rateBurst
            )
        )
        configuration.registration = ServerConfiguration.Registration(rawValue: registration) ?? .open
        var logger = Logger(label: "chat-server")
        logger.logLevel = level
        try await ChatServerRunner.run(configuration, logger: logger)
    }
}
