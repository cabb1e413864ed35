import ArgumentParser
import ChatCore
import ChatServer
import Foundation
import Logging

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Options every admin subcommand shares.
struct AdminOptions: ParsableArguments {
    @Option(help: "The server's data directory.")
    var dataDir = "./chat-data"

    @Flag(help: "Print the result as one JSON object.")
    var json = false

    /// Runs the command offline or through the running server's admin socket.
    func run(_ command: AdminCommand) async throws -> JSONObject {
        var logger = Logger(label: "chat-server") { StreamLogHandler.standardError(label: $0) }
        logger.logLevel = .warning
        do {
            let (result, place) = try await AdminRunner.run(command, dataDirectory: dataDir, logger: logger)
            if json {
                print(JSONValue.object(result).jsonString)
            } else if place == .runningServer {
                FileHandle.standardError.write(Data("(applied by the running server)\n".utf8))
            }
            return result
        } catch let error as AdminError {
            throw CLIError(error.description)
        } catch let error as StorageError {
            throw CLIError("cannot open \(dataDir): \(error)")
        }
    }
}

struct UserCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "user",
        abstract: "Manage accounts.",
        discussion: """
            Works on a stopped server's data directory directly, and on a running server through its \
            admin socket (data-dir/admin.sock, owner only): changes then apply at once.
            """,
        subcommands: [Add.self, Passwd.self, Disable.self, Enable.self, List.self]
    )

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create an account (asks for the password; with --password-stdin reads one line)."
        )
        @OptionGroup var options: AdminOptions
        @Argument(help: "The user name.") var name: String
        @Flag(help: "Read the password from the first line of standard input.") var passwordStdin = false

        func run() async throws {
            let hash = try hashedPassword(readPassword(fromStdin: passwordStdin))
            let result = try await options.run(.addUser(name: name, passwordHash: hash))
            if !options.json { print("created user \(result["user"]?.stringValue ?? name)") }
        }
    }

    struct Passwd: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Set a new password; every session of the user is logged out."
        )
        @OptionGroup var options: AdminOptions
        @Argument(help: "The user name.") var name: String
        @Flag(help: "Read the password from the first line of standard input.") var passwordStdin = false

        func run() async throws {
            let hash = try hashedPassword(readPassword(fromStdin: passwordStdin))
            let result = try await options.run(.setPassword(name: name, passwordHash: hash))
            if !options.json {
                print("password changed; \(result["tokens_revoked"]?.intValue ?? 0) session token(s) revoked")
            }
        }
    }

    struct Disable: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Disable an account: it cannot log in, and its sessions end at once."
        )
        @OptionGroup var options: AdminOptions
        @Argument(help: "The user name.") var name: String

        func run() async throws {
            let result = try await options.run(.setDisabled(name: name, disabled: true))
            if !options.json {
                print("disabled \(name); \(result["tokens_revoked"]?.intValue ?? 0) session token(s) revoked")
            }
        }
    }

    struct Enable: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Enable a disabled account again.")
        @OptionGroup var options: AdminOptions
        @Argument(help: "The user name.") var name: String

        func run() async throws {
            _ = try await options.run(.setDisabled(name: name, disabled: false))
            if !options.json { print("enabled \(name)") }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List accounts.")
        @OptionGroup var options: AdminOptions

        func run() async throws {
            let result = try await options.run(.listUsers)
            guard !options.json else { return }
            let rows = (result["users"]?.arrayValue ?? []).compactMap(\.objectValue).map { user in
                [
                    user["name"]?.stringValue ?? "?", formatTime(user["created"]?.intValue ?? 0),
                    user["disabled"]?.boolValue == true ? "disabled" : "active",
                    "\(user["rooms"]?.intValue ?? 0)", "\(user["tokens"]?.intValue ?? 0)",
                    "\(user["online"]?.intValue ?? 0)",
                ]
            }
            printTable(["NAME", "CREATED", "STATE", "ROOMS", "TOKENS", "CONNECTIONS"], rows)
        }
    }
}

struct InviteCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "invite",
        abstract: "Manage invite codes for --registration invite.",
        discussion: "Works offline or through a running server's admin socket, like 'user'.",
        subcommands: [Create.self, List.self, Revoke.self]
    )

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print a new invite code that 'register' accepts (field 'invite')."
        )
        @OptionGroup var options: AdminOptions
        @Option(help: "How many sign-ups the code allows.") var uses: Int64 = 1
        @Option(help: "Validity: e.g. 30m, 12h, 7d, or 'never'.") var expires = "7d"

        func validate() throws {
            guard uses >= 1, uses <= 1_000_000 else { throw ValidationError("--uses must be 1…1000000") }
            guard parseDuration(expires) != nil else {
                throw ValidationError("--expires must look like 30m, 12h, 7d or 'never'")
            }
        }

        func run() async throws {
            let result = try await options.run(.createInvite(uses: uses, expiresIn: parseDuration(expires) ?? 0))
            guard !options.json else { return }
            print(result["code"]?.stringValue ?? "?")
            let expiry = result["expires"]?.intValue ?? 0
            FileHandle.standardError.write(
                Data(
                    "id \(result["id"]?.stringValue ?? "?"), \(uses) use(s), expires \(expiry == 0 ? "never" : formatTime(expiry))\n"
                        .utf8
                )
            )
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List invites that still have uses left.")
        @OptionGroup var options: AdminOptions

        func run() async throws {
            let result = try await options.run(.listInvites)
            guard !options.json else { return }
            let rows = (result["invites"]?.arrayValue ?? []).compactMap(\.objectValue).map { invite in
                let expires = invite["expires"]?.intValue ?? 0
                return [
                    invite["id"]?.stringValue ?? "?", "\(invite["uses_left"]?.intValue ?? 0)",
                    formatTime(invite["created"]?.intValue ?? 0),
                    expires == 0
                        ? "never" : formatTime(expires) + (invite["expired"]?.boolValue == true ? " (expired)" : ""),
                ]
            }
            printTable(["ID", "USES LEFT", "CREATED", "EXPIRES"], rows)
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Withdraw an invite by its id.")
        @OptionGroup var options: AdminOptions
        @Argument(help: "The invite id (at least 6 characters, from 'invite list').") var id: String

        func run() async throws {
            _ = try await options.run(.revokeInvite(id: id))
            if !options.json { print("invite revoked") }
        }
    }
}

struct TokenCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "token",
        abstract: "List and revoke a user's session tokens.",
        discussion: "Revoking ends the sessions that use the token at once (close code 4002).",
        subcommands: [List.self, Revoke.self]
    )

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List a user's session tokens.")
        @OptionGroup var options: AdminOptions
        @Argument(help: "The user name.") var name: String

        func run() async throws {
            let result = try await options.run(.listTokens(name: name))
            guard !options.json else { return }
            let rows = (result["tokens"]?.arrayValue ?? []).compactMap(\.objectValue).map { token in
                [
                    token["id"]?.stringValue ?? "?", formatTime(token["issued"]?.intValue ?? 0),
                    formatTime(token["last_used"]?.intValue ?? 0), "\(token["connections"]?.intValue ?? 0)",
                ]
            }
            printTable(["ID", "ISSUED", "LAST USED", "CONNECTIONS"], rows)
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke one token by id, or all with --all.")
        @OptionGroup var options: AdminOptions
        @Argument(help: "The user name.") var name: String
        @Argument(help: "The token id (at least 6 characters, from 'token list').") var id: String?
        @Flag(help: "Revoke every token of the user.") var all = false

        func validate() throws {
            guard (id == nil) == all else { throw ValidationError("give a token id or --all (not both)") }
        }

        func run() async throws {
            let result = try await options.run(.revokeTokens(name: name, id: all ? nil : id))
            if !options.json { print("\(result["revoked"]?.intValue ?? 0) token(s) revoked") }
        }
    }
}

// MARK: Helpers

/// Seconds in "30m", "12h", "7d", "90s"; 0 for "never".
func parseDuration(_ text: String) -> Int64? {
    if text == "never" { return 0 }
    guard let unit = text.last, let value = Int64(text.dropLast()), value > 0, value <= 100_000 else { return nil }
    switch unit {
    case "s": return value
    case "m": return value * 60
    case "h": return value * 3600
    case "d": return value * 86400
    default: return nil
    }
}

func formatTime(_ milliseconds: Int64) -> String {
    guard milliseconds > 0 else { return "-" }
    let formatter = DateFormatter()
    formatter.locale = Locale(identifier: "en_US_POSIX")
    formatter.dateFormat = "yyyy-MM-dd HH:mm"
    return formatter.string(from: Date(timeIntervalSince1970: Double(milliseconds) / 1000))
}

func printTable(_ header: [String], _ rows: [[String]]) {
    let all = [header] + rows
    let widths = header.indices.map { column in all.map { $0[column].count }.max() ?? 0 }
    for row in all {
        let cells = row.enumerated().map { index, cell in
            index == row.count - 1 ? cell : cell.padding(toLength: widths[index], withPad: " ", startingAt: 0)
        }
        print(cells.joined(separator: "  "))
    }
    if rows.isEmpty { print("(none)") }
}

/// Reads a password: from the terminal without echo (asked twice), or one line of stdin.
func readPassword(fromStdin: Bool) throws -> String {
    if fromStdin || isatty(STDIN_FILENO) == 0 {
        guard let line = readLine(strippingNewline: true) else { throw CLIError("no password on standard input") }
        return line
    }
    let first = try promptHidden("Password: ")
    let second = try promptHidden("Repeat password: ")
    guard first == second else { throw CLIError("the passwords do not match") }
    return first
}

private func promptHidden(_ prompt: String) throws -> String {
    FileHandle.standardError.write(Data(prompt.utf8))
    var saved = termios()
    tcgetattr(STDIN_FILENO, &saved)
    var quiet = saved
    quiet.c_lflag &= ~tcflag_t(ECHO)
    tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet)
    defer {
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved)
        FileHandle.standardError.write(Data("\n".utf8))
    }
    guard let line = readLine(strippingNewline: true) else { throw CLIError("no password entered") }
    return line
}

/// Checks the protocol's password rule and hashes with the server's KDF.
func hashedPassword(_ password: String) throws -> String {
    guard (8...1024).contains(password.utf8.count) else { throw CLIError("the password must be 8 to 1024 bytes") }
    return try PasswordHasher(rounds: ServerConfiguration().passwordRounds).hash(password)
}

struct MessageCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "message",
        abstract: "Moderate messages.",
        discussion: """
            Deleting removes the text from memory and the search index at once and from disk at the \
            next snapshot; members see a delete event from 'server'.
            """,
        subcommands: [Delete.self]
    )

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete one message by room and seq.")
        @OptionGroup var options: AdminOptions
        @Argument(help: "The room name.") var room: String
        @Argument(help: "The message's seq.") var seq: Int64

        func run() async throws {
            let result = try await options.run(.deleteMessage(room: room, seq: seq))
            if !options.json {
                print(
                    "message \(seq) of \(result["room"]?.stringValue ?? room) deleted (event \(result["event_seq"]?.intValue ?? 0))"
                )
            }
        }
    }
}

struct FileCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "file",
        abstract: "List, remove and count uploaded files.",
        discussion: """
            A removed file answers 404 at once; its bytes go at the running server's next file sweep \
            (within a minute), or at the next start of a stopped one.
            """,
        subcommands: [List.self, Remove.self, Usage.self]
    )

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List uploads, oldest first.")
        @OptionGroup var options: AdminOptions
        @Option(help: "Only this user's uploads.") var user: String?

        func run() async throws {
            let result = try await options.run(.listFiles(user: user))
            guard !options.json else { return }
            let rows = (result["files"]?.arrayValue ?? []).compactMap(\.objectValue).map { file in
                [
                    file["id"]?.stringValue ?? "?", formatTime(file["ts"]?.intValue ?? 0),
                    file["uploader"]?.stringValue ?? "?", FileRef.humanSize(file["size"]?.intValue ?? 0),
                    file["mime"]?.stringValue ?? "?",
                    (file["rooms"]?.arrayValue ?? []).compactMap(\.stringValue).joined(separator: ","),
                    String(JSONValue.string(file["name"]?.stringValue ?? "").jsonString),
                ]
            }
            printTable(["ID", "UPLOADED", "BY", "SIZE", "TYPE", "ROOMS", "NAME"], rows)
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove an upload (messages keep a dead link).")
        @OptionGroup var options: AdminOptions
        @Argument(help: "The file id (32 hex digits, as `file list` shows).") var id: String

        func run() async throws {
            let result = try await options.run(.removeFile(id: id))
            if !options.json { print("removed \(id) (\(result["name"]?.stringValue ?? ""))") }
        }
    }

    struct Usage: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Bytes and uploads by user.")
        @OptionGroup var options: AdminOptions

        func run() async throws {
            let result = try await options.run(.fileUsage)
            guard !options.json else { return }
            let rows = (result["users"]?.arrayValue ?? []).compactMap(\.objectValue).map { user in
                [
                    user["user"]?.stringValue ?? "?", "\(user["bytes"]?.intValue ?? 0)",
                    FileRef.humanSize(user["bytes"]?.intValue ?? 0), "\(user["files"]?.intValue ?? 0)",
                ]
            }
            printTable(["USER", "BYTES", "SIZE", "FILES"], rows)
            let quota = result["quota_bytes"]?.intValue ?? 0
            print(
                "total: \(result["files"]?.intValue ?? 0) uploads, \(result["bytes"]?.intValue ?? 0) bytes; "
                    + "\(result["stored_bytes"]?.intValue ?? 0) bytes on disk (same bytes stored once); "
                    + "quota per user: \(quota > 0 ? "\(quota) bytes" : "none")"
            )
        }
    }
}
