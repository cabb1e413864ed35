import Foundation

/// Where downloads go on this machine.
package enum LocalFiles {
    /// `$XDG_DOWNLOAD_DIR`, else the `XDG_DOWNLOAD_DIR` line of `user-dirs.dirs` (as
    /// `xdg-user-dir DOWNLOAD` reads it), else `~/Downloads`.
    ///
    /// - Parameters:
    ///   - environment: the process environment.
    package static func downloadDirectory(
        _ environment: [String: String] = ProcessInfo.processInfo.environment
    )
        -> String
    {
        if let xdg = environment["XDG_DOWNLOAD_DIR"], xdg.hasPrefix("/") { return xdg }
        let home = environment["HOME"] ?? NSHomeDirectory()
        let config = environment["XDG_CONFIG_HOME"].flatMap { $0.hasPrefix("/") ? $0 : nil } ?? home + "/.config"
        if let text = try? String(contentsOfFile: config + "/user-dirs.dirs", encoding: .utf8),
            let directory = userDirsDownload(text, home: home)
        {
            return directory
        }
        return home + "/Downloads"
    }

    /// The download directory a `user-dirs.dirs` file names: `XDG_DOWNLOAD_DIR="$HOME/…"` or an
    /// absolute path (nil: none, or `$HOME` itself, which xdg-user-dirs means as "not set").
    ///
    /// - Parameters:
    ///   - text: the file's contents.
    ///   - home: the home directory.
    package static func userDirsDownload(_ text: String, home: String) -> String? {
        for line in text.split(separator: "\n") {
            let trimmed = line.drop { $0 == " " || $0 == "\t" }
            guard trimmed.hasPrefix("XDG_DOWNLOAD_DIR="), !trimmed.hasPrefix("#") else { continue }
            var value = trimmed.dropFirst("XDG_DOWNLOAD_DIR=".count)
            while let last = value.last, last == " " || last == "\t" || last == "\r" { value = value.dropLast() }
            guard value.hasPrefix("\""), value.hasSuffix("\""), value.count >= 2 else { return nil }
            value = value.dropFirst().dropLast()
            let path: String
            if value.hasPrefix("$HOME") {
                path = home + value.dropFirst(5)
            } else if value.hasPrefix("/") {
                path = String(value)
            } else {
                return nil
            }
            let normalized = path.hasSuffix("/") ? String(path.dropLast()) : path
            return normalized == home ? nil : normalized
        }
        return nil
    }

    /// A path in `directory` for a server's file name that exists nowhere yet: the name made
    /// safe (`FileNames.safeLocalName`), then `name (1).ext`, `name (2).ext`, … — never an
    /// existing file, never outside `directory`.
    ///
    /// - Parameters:
    ///   - name: the file's name from the server.
    ///   - directory: the download directory.
    package static func freePath(for name: String, in directory: String) -> String {
        let safe = FileNames.safeLocalName(name)
        let manager = FileManager.default
        var candidate = directory + "/" + safe
        var n = 1
        while manager.fileExists(atPath: candidate) || manager.fileExists(atPath: candidate + ".part") {
            candidate = directory + "/" + FileNames.numbered(safe, n)
            n += 1
        }
        return candidate
    }

    /// Where `/open` keeps a file: `$XDG_CACHE_HOME/chat/files/SHA256/NAME` (else `~/.cache/…`),
    /// the name made safe.
    ///
    /// - Parameters:
    ///   - file: the file.
    ///   - environment: the process environment.
    package static func cachePath(
        for file: FileRef,
        _ environment: [String: String] = ProcessInfo.processInfo.environment
    )
        -> String
    {
        let base =
            environment["XDG_CACHE_HOME"].flatMap { $0.hasPrefix("/") ? $0 : nil }
            ?? ((environment["HOME"] ?? NSHomeDirectory()) + "/.cache")
        let hash = FileRef.isValidHash(file.sha256) ? file.sha256 : FileNames.safeLocalName(file.id)
        return base + "/chat/files/" + hash + "/" + FileNames.safeLocalName(file.name)
    }
}
