import Foundation

/// Where downloads go on this machine.
package enum LocalFiles {
    /// `$XDG_DOWNLOAD_DIR`, else `~/Downloads`.
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
        return home + "/Downloads"
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
