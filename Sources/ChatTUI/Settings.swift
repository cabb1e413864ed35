/// Settings from `$XDG_CONFIG_HOME/chat/config.toml`. Command-line flags override them.
///
/// Only flat `key = value` lines are read (strings, booleans, arrays of strings) — a small,
/// strict subset of TOML parsed here rather than with a TOML package, which would add a C++
/// library to the build for six keys.
package struct Settings: Sendable, Equatable {
    package var server: String?
    package var user: String?
    package var bell: Bool?
    package var color: Bool?
    /// "24h" (default) or "12h".
    package var timeFormat: String?
    package var logFile: String?
    package var rooms: [String]?

    package init() {}

    /// The file `chat` writes on its first start, from the two answers: the server and the user.
    ///
    /// - Parameters:
    ///   - server: normalised server URL.
    ///   - user: user name.
    package static func firstRunFile(server: String, user: String) -> String {
        func quoted(_ s: String) -> String {
            var out = "\""
            for c in s {
                switch c {
                case "\"": out += "\\\""
                case "\\": out += "\\\\"
                case "\n": out += "\\n"
                default: out.append(c)
                }
            }
            return out + "\""
        }
        return """
            # Written by chat on its first start; flags override it. Other keys: bell, color,
            # time_format ("24h" or "12h"), log_file, rooms (an array of room names to join).
            server = \(quoted(server))
            user = \(quoted(user))

            """
    }

    /// Keys the file may hold.
    package static let keys = ["server", "user", "bell", "color", "time_format", "log_file", "rooms"]

    /// A line that could not be read.
    package struct ParseError: Error, Equatable, CustomStringConvertible {
        package var line: Int
        package var message: String
        package var description: String { "config.toml line \(line): \(message)" }
    }

    /// Parses the file's text.
    ///
    /// - Parameters:
    ///   - text: the file contents.
    package static func parse(_ text: String) throws(ParseError) -> Settings {
        var settings = Settings()
        for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let number = index + 1
            let line = stripComment(String(raw)).trimmingSpaces
            if line.isEmpty { continue }
            guard let equals = line.firstIndex(of: "=") else {
                throw ParseError(line: number, message: "expected key = value")
            }
            let key = String(line[..<equals]).trimmingSpaces
            let value = String(line[line.index(after: equals)...]).trimmingSpaces
            func string() throws(ParseError) -> String {
                guard let s = parseString(value) else {
                    throw ParseError(line: number, message: "\(key) must be a \"quoted string\"")
                }
                return s
            }
            func bool() throws(ParseError) -> Bool {
                switch value {
                case "true": return true
                case "false": return false
                default: throw ParseError(line: number, message: "\(key) must be true or false")
                }
            }
            switch key {
            case "server": settings.server = try string()
            case "user": settings.user = try string()
            case "bell": settings.bell = try bool()
            case "color", "colour", "colors", "colours": settings.color = try bool()
            case "time_format":
                let format = try string()
                guard format == "24h" || format == "12h" else {
                    throw ParseError(line: number, message: "time_format must be \"24h\" or \"12h\"")
                }
                settings.timeFormat = format
            case "log_file": settings.logFile = try string()
            case "rooms":
                guard value.hasPrefix("["), value.hasSuffix("]") else {
                    throw ParseError(line: number, message: "rooms must be an array of strings")
                }
                let inner = value.dropFirst().dropLast()
                var rooms: [String] = []
                for item in splitArray(String(inner)) where !item.trimmingSpaces.isEmpty {
                    guard let s = parseString(item.trimmingSpaces) else {
                        throw ParseError(line: number, message: "rooms must be an array of strings")
                    }
                    rooms.append(s)
                }
                settings.rooms = rooms
            default:
                throw ParseError(line: number, message: "unknown key '\(key)' (known: \(keys.joined(separator: ", ")))")
            }
        }
        return settings
    }

    /// Calls `body` with each character and whether it is inside a "quoted string" (quotes
    /// and escapes count as inside); stops when `body` returns false.
    private static func scan(_ text: String, _ body: (Character, Bool) -> Bool) {
        var inString = false
        var escaped = false
        for c in text {
            let inside = inString || c == "\""
            if inString {
                if escaped {
                    escaped = false
                } else if c == "\\" {
                    escaped = true
                } else if c == "\"" {
                    inString = false
                }
            } else if c == "\"" {
                inString = true
            }
            if !body(c, inside) { return }
        }
    }

    private static func stripComment(_ line: String) -> String {
        var out = ""
        scan(line) { c, inString in
            if !inString, c == "#" { return false }
            out.append(c)
            return true
        }
        return out
    }

    private static func splitArray(_ inner: String) -> [String] {
        var items: [String] = []
        var current = ""
        scan(inner) { c, inString in
            if !inString, c == "," {
                items.append(current)
                current = ""
            } else {
                current.append(c)
            }
            return true
        }
        items.append(current)
        return items
    }

    private static func parseString(_ value: String) -> String? {
        guard value.count >= 2, value.hasPrefix("\""), value.hasSuffix("\"") else { return nil }
        var out = ""
        var escaped = false
        for c in value.dropFirst().dropLast() {
            if escaped {
                switch c {
                case "n": out.append("\n")
                case "t": out.append("\t")
                case "\\": out.append("\\")
                case "\"": out.append("\"")
                default: return nil
                }
                escaped = false
            } else if c == "\\" {
                escaped = true
            } else if c == "\"" {
                return nil
            } else {
                out.append(c)
            }
        }
        return escaped ? nil : out
    }
}
