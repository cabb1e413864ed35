// Over 400 lines on purpose: the `chat` command and its subcommands (login, send, edit, delete, react,
// unreact, tail, search) as one file of flag definitions and thin calls into ChatClient and ChatTUIClient;
// splitting it would scatter the CLI's help text.

import ArgumentParser
import ChatClient
import ChatCore
import ChatTUI
import ChatTUIClient
import Foundation
import Logging

@main
struct Chat: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chat",
        abstract: "Terminal client for chat-server (protocol v1).",
        discussion: """
            Without a subcommand, opens the interactive client. Its first start without --server, \
            --user and a config.toml asks for the server and the user name once and writes them to \
            $XDG_CONFIG_HOME/chat/config.toml. The password comes from CHAT_PASSWORD, \
            or is asked for without echo; the session token is kept (mode 0600) under \
            $XDG_CONFIG_HOME/chat/ so the next start resumes without a password.

            Keys: Enter send, Alt-Enter newline, Tab complete, Ctrl-A/E/B/F/W/U/K edit, Alt-B/F word, \
            Up/Down history, Alt-1..9 / Ctrl-N / Ctrl-P rooms, Alt-A next activity, PgUp/PgDn scroll \
            (older history loads from the server), Alt-S select a message (then e edit, d delete, \
            r reply, + react, s save or o open a file, Esc leave), Up in an empty input edits your \
            last message, Ctrl-C quit. \
            Commands: /join ROOM, /part [ROOM], /rooms, /members, /topic TEXT, /me TEXT, \
            /msg NAME [TEXT], /query NAME, /create ROOM [private], /invite NAME, /kick NAME, \
            /edit TEXT, /delete, /react EMOJI, /upload PATH [caption], /download [PATH], /open, \
            /logout, /quit, /help.
            """,
        version: BuildInfo.description,
        subcommands: [
            Interactive.self, Login.self, Send.self, Edit.self, Delete.self, React.self, Unreact.self, Tail.self,
            Search.self, Upload.self, Download.self,
        ],
        defaultSubcommand: Interactive.self
    )
}

struct Interactive: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ui",
        abstract: "The interactive terminal client (the default: `chat --user NAME` runs it)."
    )

    @Option(help: "Server URL (ws://host:port; /v1/ws implied). Default: config.toml, else ws://localhost:7878.")
    var server: String?

    @Option(help: "Your user name (default: $USER).")
    var user: String?

    @Option(name: .customLong("room"), help: "A room to join at start (repeatable).")
    var rooms: [String] = []

    @Flag(help: "No colours (also when NO_COLOR is set).")
    var noColor = false

    @Flag(help: "No terminal bell on mentions and direct messages.")
    var noBell = false

    @Flag(help: "Create the account first.")
    var register = false

    @OptionGroup var trust: TrustOptions

    func run() async throws {
        var settings = try Secrets.settings()
        if server == nil, user == nil, !Secrets.hasSettingsFile, isatty(0) == 1, isatty(1) == 1 {
            settings = try Secrets.firstRun()
        }
        let url: String
        do {
            url = try ServerURL.normalize(server ?? settings.server ?? ServerURL.defaultURL)
        } catch {
            throw ValidationError(error.description)
        }
        let user = user ?? settings.user ?? ProcessInfo.processInfo.environment["USER"] ?? ""
        if !user.isEmpty, case .failure(let error) = TextRules.userName(user) {
            throw ValidationError("--user: \(error.message)")
        }
        guard isatty(1) == 1 else { throw CLIError("the interactive client needs a terminal (try chat tail)") }
        // A stored token, else CHAT_PASSWORD; otherwise the TUI asks with its login form.
        let environment = ProcessInfo.processInfo.environment
        var credentials: ChatCredentials?
        if let token = Secrets.tokens.token(server: url, user: user), !register {
            credentials = .token(token, password: environment["CHAT_PASSWORD"])
        } else if let password = environment["CHAT_PASSWORD"] {
            credentials = register ? .register(password) : .password(password)
        }
        var configuration = TUIConfiguration(
            server: url,
            user: user,
            credentials: credentials,
            rooms: rooms.isEmpty ? settings.rooms ?? [] : rooms,
            color: !noColor && (settings.color ?? true) && environment["NO_COLOR"].map(\.isEmpty) ?? true,
            bell: !noBell && (settings.bell ?? true),
            tokens: Secrets.tokens
        )
        configuration.registering = register
        configuration.tls = try await trust.tls(url: url)
        configuration.twelveHour = settings.timeFormat == "12h"
        let logger = try FileLogHandler.logger(path: settings.logFile ?? environment["CHAT_LOG_FILE"])
        let backend = NcursesBackend()
        backend.start()
        await runTUI(configuration, backend: backend, logger: logger)
    }
}

struct ConnectionOptions: ParsableArguments {
    @Option(help: "Server URL (ws://host:port; the /v1/ws path is implied).")
    var server = ServerURL.defaultURL

    @Option(help: "Your user name.")
    var user: String

    @OptionGroup var trust: TrustOptions

    func url() throws -> String {
        do {
            return try ServerURL.normalize(server)
        } catch {
            throw ValidationError(error.description)
        }
    }

    /// A client configuration with the TLS trust decided (asks once for an unknown certificate).
    func client(
        _ credentials: ChatCredentials,
        url: String,
        reconnect: Bool = true
    ) async throws
        -> ChatClientConfiguration
    {
        var configuration = ChatClientConfiguration(
            url: url,
            user: user,
            credentials: credentials,
            reconnect: reconnect
        )
        configuration.tls = try await trust.tls(url: url)
        return configuration
    }
}

/// How to trust a wss:// server.
struct TrustOptions: ParsableArguments {
    @Option(help: "For wss://: trust only certificates issued by this CA (PEM), instead of the system store.")
    var ca: String?

    @Option(
        help: """
            For wss:// with a certificate nothing vouches for (self-signed, or for another name than \
            the URL's): accept it if its fingerprint is this (SHA256:…), without asking; it is \
            remembered in known_servers.
            """
    )
    var acceptFingerprint: String?

    func tls(url: String) async throws -> ClientTLSConfiguration? {
        let accept = acceptFingerprint
        do {
            return try await TLSTrust.configuration(for: url, caFile: ca, knownServers: .standard) { certificate in
                if let accept { return accept.lowercased() == certificate.fingerprint.lowercased() }
                let notice = """
                    The certificate of \(certificate.host) \(certificate.reason).
                      fingerprint: \(certificate.fingerprint)
                    Compare it with the fingerprint chat-server printed at start (ask its operator).

                    """
                FileHandle.standardError.write(Data(notice.utf8))
                guard isatty(0) == 1 else { return false }
                FileHandle.standardError.write(Data("Trust this certificate and remember it? [y/N] ".utf8))
                let answer = readLine()?.trimmingCharacters(in: .whitespaces).lowercased()
                return answer == "y" || answer == "yes"
            }
        } catch let error as TLSTrustError {
            throw CLIError(error.description)
        }
    }
}

enum Secrets {
    static var tokens: TokenStore {
        TokenStore(directory: TokenStore.defaultDirectory(environment: ProcessInfo.processInfo.environment))
    }

    /// Settings from $XDG_CONFIG_HOME/chat/config.toml (none when the file is missing).
    static func settings() throws -> Settings {
        let path = settingsPath
        guard let data = FileManager.default.contents(atPath: path) else { return Settings() }
        do {
            return try Settings.parse(String(decoding: data, as: UTF8.self))
        } catch {
            throw CLIError("\(path): \(error)")
        }
    }

    static var settingsPath: String { tokens.directory + "/config.toml" }

    static var hasSettingsFile: Bool { FileManager.default.fileExists(atPath: settingsPath) }

    /// The first start without a configuration: asks for the server and the user on the terminal
    /// (Enter takes the default), writes them to config.toml (0600) and returns them.
    static func firstRun() throws -> Settings {
        let environment = ProcessInfo.processInfo.environment
        print("chat: no configuration yet. Two questions, asked once (answers go to \(settingsPath)).")
        func ask<T>(_ question: String, default fallback: String, _ check: (String) -> Result<T, CLIError>) throws -> T
        {
            for _ in 0..<3 {
                print("\(question) [\(fallback)]: ", terminator: "")
                guard let line = readLine() else { throw CLIError("no answer (end of input)") }
                let answer = line.trimmingCharacters(in: .whitespaces)
                switch check(answer.isEmpty ? fallback : answer) {
                case .success(let value): return value
                case .failure(let error): print("  \(error.description)")
                }
            }
            throw CLIError("no valid answer to '\(question)'")
        }
        let server = try ask("Server", default: ServerURL.defaultURL) { text in
            Result { try ServerURL.normalize(text) }.mapError { CLIError("\($0)") }
        }
        let user: String = try ask("User name", default: environment["USER"] ?? "") { text in
            switch TextRules.userName(text) {
            case .success: return .success(text)
            case .failure(let error): return .failure(CLIError(error.message))
            }
        }
        try FileManager.default.createDirectory(
            atPath: tokens.directory,
            withIntermediateDirectories: true,
            attributes: [.posixPermissions: 0o700]
        )
        let text = Settings.firstRunFile(server: server, user: user)
        guard
            FileManager.default.createFile(
                atPath: settingsPath,
                contents: Data(text.utf8),
                attributes: [.posixPermissions: 0o600]
            )
        else { throw CLIError("cannot write \(settingsPath)") }
        print("chat: saved; edit \(settingsPath) or pass --server/--user to change them.")
        var settings = Settings()
        settings.server = server
        settings.user = user
        return settings
    }

    /// CHAT_PASSWORD, else a prompt without echo on the terminal.
    static func password(prompt: String) throws -> String {
        if let password = ProcessInfo.processInfo.environment["CHAT_PASSWORD"] { return password }
        guard isatty(0) == 1, let raw = getpass(prompt) else {
            throw CLIError("no password: set CHAT_PASSWORD or run in a terminal")
        }
        return String(cString: raw)
    }

    /// A stored token (with the password as fallback only if CHAT_PASSWORD is set), or a password.
    static func credentials(url: String, user: String) throws -> ChatCredentials {
        if let token = tokens.token(server: url, user: user) {
            return .token(token, password: ProcessInfo.processInfo.environment["CHAT_PASSWORD"])
        }
        return .password(try password(prompt: "Password for \(user): "))
    }
}

func makeLogger() -> Logger {
    var logger = Logger(label: "chat", factory: { _ in SwiftLogNoOpLogHandler() })
    if let level = ProcessInfo.processInfo.environment["CHAT_LOG"].flatMap(Logger.Level.init(rawValue:)) {
        logger = Logger(label: "chat", factory: { StreamLogHandler.standardError(label: $0) })
        logger.logLevel = level
    }
    return logger
}

/// Runs a client until `body` finishes; returns the body's result.
func withClient<T: Sendable>(
    _ configuration: ChatClientConfiguration,
    _ body: @Sendable @escaping (ChatClient) async throws -> T
) async throws -> T {
    let client = ChatClient(configuration: configuration, logger: makeLogger())
    return try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask {
            await client.run()
            return nil
        }
        group.addTask {
            defer { Task { await client.stop() } }
            return try await body(client)
        }
        while let result = try await group.next() {
            if let result {
                group.cancelAll()
                return result
            }
        }
        throw ChatClientError.disconnected
    }
}

/// Waits for the first connection, turning an authentication failure into an error.
func waitReady(_ client: ChatClient) async throws {
    do {
        try await client.waitUntilReady()
    } catch {
        for await event in client.events {
            if case .authenticationFailed(let error) = event { throw CLIError("login failed: \(error.message)") }
            if case .disconnected(let reason, nil) = event { throw CLIError("cannot connect: \(reason)") }
        }
        throw error
    }
}

struct Login: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Log in (or create the account with --register) and keep the session token."
    )

    @OptionGroup var connection: ConnectionOptions

    @Flag(help: "Create the account first.")
    var register = false

    @Option(help: "With --register: the invite code, on a server where sign-up is by invite.")
    var invite: String?

    func validate() throws {
        if invite != nil, !register { throw ValidationError("--invite needs --register") }
    }

    func run() async throws {
        let url = try connection.url()
        let user = connection.user
        let password = try Secrets.password(prompt: "Password for \(user): ")
        var configuration = try await connection.client(
            register ? .register(password) : .password(password),
            url: url,
            reconnect: false
        )
        configuration.invite = invite
        let token: String? = try await withClient(configuration) { client in
            try await waitReady(client)
            for await event in client.events {
                if case .connected(_, let token) = event { return token }
            }
            return nil
        }
        guard let token else { throw CLIError("the server issued no token") }
        try Secrets.tokens.store(token, server: url, user: user)
        print("logged in as \(user); token stored in \(Secrets.tokens.directory)")
    }
}

struct Send: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Send one message to a room (joining it if needed), or a direct message with --to."
    )

    @OptionGroup var connection: ConnectionOptions

    @Option(help: "Room name.")
    var room: String?

    @Option(help: "Send a direct message to this user instead (opens the DM room on first use).")
    var to: String?

    @Flag(help: "Send as an action (/me).")
    var action = false

    @Option(help: "Send as a reply to the message with this seq.")
    var replyTo: Int64?

    @Argument(help: "The message text.")
    var text: String

    func run() async throws {
        let url = try connection.url()
        let credentials = try Secrets.credentials(url: url, user: connection.user)
        let configuration = try await connection.client(credentials, url: url)
        let (target, text, kind) = (try RoomTarget(room: room, dm: to), text, action ? MessageKind.action : .text)
        let replyTo = replyTo
        let (room, ack) = try await withClient(configuration) { client in
            try await waitReady(client)
            let room = try await target.open(client)
            _ = try await client.join(room)
            return (room, try await client.send(room, text: text, kind: kind, replyTo: replyTo))
        }
        print(
            JSONValue.object(["room": .string(room), "seq": .int(ack.seq), "ts": .int(ack.ts)]).terminalSafeJSONString
        )
    }
}

struct Upload: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Upload a file and share it in a room (or with --to, in a direct message); prints the message."
    )

    @OptionGroup var connection: ConnectionOptions

    @Option(help: "Room name.")
    var room: String?

    @Option(help: "Share it in a direct message with this user instead.")
    var to: String?

    @Option(help: "A caption for the file.")
    var caption: String?

    @Flag(help: "No progress on standard error.")
    var quiet = false

    @Argument(help: "The file to upload.")
    var file: String

    func run() async throws {
        guard FileManager.default.isReadableFile(atPath: file) else { throw CLIError("cannot read \(file)") }
        let url = try connection.url()
        let credentials = try Secrets.credentials(url: url, user: connection.user)
        let configuration = try await connection.client(credentials, url: url)
        let (target, path, caption, quiet) = (try RoomTarget(room: room, dm: to), file, caption ?? "", quiet)
        let (room, ref, ack) = try await withClient(configuration) { client in
            try await waitReady(client)
            let room = try await target.open(client)
            _ = try await client.join(room)
            let transfer = try await client.fileTransfer()
            defer { Task { await transfer.shutdown() } }
            let ref: FileRef
            do {
                ref = try await transfer.upload(path: path) { sent, total in
                    if !quiet { Progress.show("upload", sent, total) }
                }
            } catch let failure as FileTransfer.Failure {
                throw CLIError("upload failed: \(failure.message)")
            }
            if !quiet { Progress.done() }
            let ack = try await client.send(room, text: caption, kind: .file, file: ref.id)
            return (room, ref, ack)
        }
        print(
            JSONValue.object([
                "room": .string(room), "seq": .int(ack.seq), "ts": .int(ack.ts), "file": .object(ref.json),
            ]).terminalSafeJSONString
        )
    }
}

struct Download: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Download a shared file by id, into the XDG download directory (~/Downloads) unless -o says where.",
        discussion: """
            The file's name is the server's, made safe: never a path outside the directory, never an \
            existing file (`name (1).ext`). An interrupted download resumes from its .part file; the \
            result is checked against the file's SHA-256. Prints {"id","path","size","sha256"}.
            """
    )

    @OptionGroup var connection: ConnectionOptions

    @Option(name: .shortAndLong, help: "Write to this path instead (must not exist).")
    var output: String?

    @Flag(help: "No progress on standard error.")
    var quiet = false

    @Argument(help: "The file id (a message's file.id, as `chat upload` and `chat tail` print it).")
    var id: String

    func run() async throws {
        guard FileRef.isValidID(id) else { throw CLIError("not a file id (32 hex digits): \(id)") }
        let url = try connection.url()
        let credentials = try Secrets.credentials(url: url, user: connection.user)
        let configuration = try await connection.client(credentials, url: url)
        let (id, output, quiet) = (id, output, quiet)
        let (path, file) = try await withClient(configuration) { client in
            try await waitReady(client)
            let transfer = try await client.fileTransfer()
            defer { Task { await transfer.shutdown() } }
            do {
                let file = try await transfer.info(id)
                let path: String
                if let output {
                    guard !FileManager.default.fileExists(atPath: output) else { throw CLIError("\(output) exists") }
                    path = output
                } else {
                    let directory = LocalFiles.downloadDirectory()
                    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
                    path = LocalFiles.freePath(for: file.name, in: directory)
                }
                try await transfer.download(file, to: path) { got, total in
                    if !quiet { Progress.show("download", got, total) }
                }
                if !quiet { Progress.done() }
                return (path, file)
            } catch let failure as FileTransfer.Failure {
                throw CLIError("download failed: \(failure.message)")
            }
        }
        print(
            JSONValue.object([
                "id": .string(id), "path": .string(path), "size": .int(file.size), "sha256": .string(file.sha256),
            ]).terminalSafeJSONString
        )
    }
}

/// A progress line on standard error (`upload 12.3 MB of 100.0 MB (12 %)`), redrawn in place.
enum Progress {
    static func show(_ what: String, _ done: Int64, _ total: Int64) {
        guard isatty(2) != 0 else { return }
        let percent = total > 0 ? done * 100 / total : 100
        let line = "\r\(what) \(FileRef.humanSize(done)) of \(FileRef.humanSize(total)) (\(percent) %)\u{1B}[K"
        FileHandle.standardError.write(Data(line.utf8))
    }

    static func done() { if isatty(2) != 0 { FileHandle.standardError.write(Data("\n".utf8)) } }
}

/// A room named on the command line: `--room NAME`, or the direct-message room with a user.
enum RoomTarget: Sendable {
    case room(String)
    case dm(String)

    /// Exactly one of the two options.
    init(room: String?, dm: String?) throws {
        switch (room, dm) {
        case (let room?, nil): self = .room(room)
        case (nil, let user?): self = .dm(user)
        default: throw ValidationError("give either --room or a direct-message user, not both or neither")
        }
    }

    /// The room's name; for a direct message, asks the server (which makes the room on first use).
    func open(_ client: ChatClient) async throws -> String {
        switch self {
        case .room(let room): return room
        case .dm(let user): return try await client.dm(user).room
        }
    }
}

struct Tail: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print a room's messages as JSON lines, following new ones until interrupted."
    )

    @OptionGroup var connection: ConnectionOptions

    @Option(help: "Room name.")
    var room: String?

    @Option(help: "Follow the direct-message room with this user instead.")
    var dm: String?

    @Option(help: "Print every message after this seq (default: the newest 50, then new ones).")
    var since: Int64?

    func run() async throws {
        let url = try connection.url()
        let credentials = try Secrets.credentials(url: url, user: connection.user)
        let configuration = try await connection.client(credentials, url: url)
        let (target, since) = (try RoomTarget(room: room, dm: dm), since)
        let client = ChatClient(configuration: configuration, logger: makeLogger())
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            group.addTask {
                try await waitReady(client)
                _ = try await client.join(try await target.open(client), since: since)
            }
            group.addTask {
                for await event in client.events {
                    switch event {
                    case .message(let message):
                        var o = message.json
                        o["type"] = nil
                        FileHandle.standardOutput.write(Data((JSONValue.object(o).terminalSafeJSONString + "\n").utf8))
                    case .disconnected(let reason, let retry):
                        let next =
                            retry.map {
                                " — retrying in " + String(format: "%.1f s", Double($0 / .milliseconds(1)) / 1000)
                            } ?? ""
                        FileHandle.standardError.write(Data("chat: disconnected: \(reason)\(next)\n".utf8))
                    case .authenticationFailed(let error):
                        throw CLIError("login failed: \(error.message)")
                    case .joined(_, _, _, true, _):
                        FileHandle.standardError.write(Data("chat: the room's history was reset\n".utf8))
                    default:
                        break
                    }
                }
            }
            try await group.next()
            try await group.next()
            try await group.next()
        }
    }
}

/// A runtime failure: printed as "Error: …" without the usage text.
struct CLIError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Writes log lines to a file (the terminal client must never log to the terminal).
struct FileLogHandler: LogHandler {
    let handle: FileHandle
    let label: String
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let all = metadata.merging(event.metadata ?? [:]) { $1 }
        let fields = all.isEmpty ? "" : " " + all.map { "\($0.key)=\($0.value)" }.sorted().joined(separator: " ")
        let line = "\(Date()) \(event.level) \(label):\(fields) \(event.message)\n"
        handle.write(Data(line.utf8))
    }

    /// A logger writing to `path` (created 0600), or one that drops everything when nil.
    static func logger(path: String?) throws -> Logger {
        guard let path else { return Logger(label: "chat", factory: { _ in SwiftLogNoOpLogHandler() }) }
        if !FileManager.default.fileExists(atPath: path) {
            guard FileManager.default.createFile(atPath: path, contents: nil, attributes: [.posixPermissions: 0o600])
            else { throw CLIError("cannot create the log file \(path)") }
        }
        guard let handle = FileHandle(forWritingAtPath: path) else {
            throw CLIError("cannot open the log file \(path)")
        }
        handle.seekToEndOfFile()
        var logger = Logger(label: "chat", factory: { FileLogHandler(handle: handle, label: $0) })
        logger.logLevel = .debug
        return logger
    }
}

struct Search: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Search messages; prints one JSON object per result (room, seq, from, text, ts, snippet).",
        discussion: """
            QUERY: words (all must match), "quoted phrases", from:NAME, in:ROOM. Only rooms you are a member of \
            are searched. Snippet ranges are [start, end) offsets in Unicode scalars into snippet.text.
            """
    )

    @OptionGroup var connection: ConnectionOptions

    @Option(help: "Search only this room (default: all your rooms).")
    var room: String?

    @Option(help: "Most results (the server allows at most \(SearchRequest.maxLimit)).")
    var limit = SearchRequest.defaultLimit

    @Flag(help: "Newest first instead of best match first.")
    var newest = false

    @Option(help: "Only messages older than this time (ms since the epoch).")
    var before: Int64?

    @Argument(parsing: .remaining, help: "The query.")
    var query: [String]

    func run() async throws {
        let url = try connection.url()
        let credentials = try Secrets.credentials(url: url, user: connection.user)
        let configuration = ChatClientConfiguration(url: url, user: connection.user, credentials: credentials)
        let request: SearchRequest
        switch SearchRequest.make(
            query: query.joined(separator: " "),
            room: room,
            limit: limit,
            before: before,
            order: newest ? .newest : .relevance
        ) {
        case .success(let r): request = r
        case .failure(let error): throw CLIError("search failed: \(error)")
        }
        let reply = try await withClient(configuration) { client in
            try await waitReady(client)
            do {
                return try await client.request(request, as: SearchReply.self)
            } catch {
                throw CLIError("search failed: \(error)")
            }
        }
        for result in reply.results { print(result.json.terminalSafeJSONString) }
    }
}

/// `chat edit`, `chat delete`, `chat react` and `chat unreact`: one change to a message, for
/// scripts. Each prints `{"room","seq","ts"}` with the seq of the change's own event.

struct Edit: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Replace the text of one of your messages; prints the edit event's seq."
    )

    @OptionGroup var connection: ConnectionOptions

    @Argument(help: "Room name.")
    var room: String

    @Argument(help: "The seq of the message to edit.")
    var seq: Int64

    @Argument(help: "The new text.")
    var text: String

    func run() async throws {
        let (room, seq, text) = (room, seq, text)
        try await runChange(connection, room: room, what: "edit") { client in
            try await client.edit(room, seq: seq, text: text)
        }
    }
}

struct Delete: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Delete a message (yours, or any in a room you own); prints the delete event's seq."
    )

    @OptionGroup var connection: ConnectionOptions

    @Argument(help: "Room name.")
    var room: String

    @Argument(help: "The seq of the message to delete.")
    var seq: Int64

    func run() async throws {
        let (room, seq) = (room, seq)
        try await runChange(connection, room: room, what: "delete") { client in
            try await client.delete(room, seq: seq)
        }
    }
}

struct React: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "React to a message with an emoji (or take it back with --remove); prints the event's seq.",
        discussion: """
            Reacting again with the same emoji changes nothing and prints the seq of the first reaction.
            """
    )

    @OptionGroup var connection: ConnectionOptions

    @Flag(help: "Take your reaction back (as chat unreact).")
    var remove = false

    @Argument(help: "Room name.")
    var room: String

    @Argument(help: "The seq of the message.")
    var seq: Int64

    @Argument(help: "One emoji.")
    var emoji: String

    func run() async throws {
        try await runReaction(connection, room: room, seq: seq, emoji: emoji, remove: remove)
    }
}

struct Unreact: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Take back your reaction to a message; prints the event's seq."
    )

    @OptionGroup var connection: ConnectionOptions

    @Argument(help: "Room name.")
    var room: String

    @Argument(help: "The seq of the message.")
    var seq: Int64

    @Argument(help: "The emoji you reacted with.")
    var emoji: String

    func run() async throws {
        try await runReaction(connection, room: room, seq: seq, emoji: emoji, remove: true)
    }
}

/// `react` or `unreact`.
func runReaction(_ connection: ConnectionOptions, room: String, seq: Int64, emoji: String, remove: Bool) async throws {
    try await runChange(connection, room: room, what: remove ? "unreact" : "react") { client in
        remove
            ? try await client.unreact(room, seq: seq, emoji: emoji)
            : try await client.react(room, seq: seq, emoji: emoji)
    }
}

/// Connects, sends one change and prints `{"room","seq","ts"}`; a refusal becomes
/// "Error: <what> failed: …" and a non-zero exit.
func runChange(
    _ connection: ConnectionOptions,
    room: String,
    what: String,
    _ change: @Sendable @escaping (ChatClient) async throws -> SendReply
) async throws {
    let url = try connection.url()
    let credentials = try Secrets.credentials(url: url, user: connection.user)
    let configuration = try await connection.client(credentials, url: url)
    let ack = try await withClient(configuration) { client in
        try await waitReady(client)
        do {
            return try await change(client)
        } catch let error as ChatClientError {
            throw CLIError("\(what) failed: \(error)")
        }
    }
    print(JSONValue.object(["room": .string(room), "seq": .int(ack.seq), "ts": .int(ack.ts)]).terminalSafeJSONString)
}
