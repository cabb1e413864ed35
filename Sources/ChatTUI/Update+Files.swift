import ChatCore
import Foundation

// MARK: Files: /upload, /download, /open

/// `/upload PATH [caption]`: a path with spaces is written with backslashes (`my\ file.png`) or
/// in double quotes; `~/` is the home directory.
func uploadCommand(_ state: inout AppState, _ argument: String) -> [AppEffect] {
    guard let room = state.activeRoom?.name else {
        state.notice = "join a room first: /join ROOM"
        return []
    }
    guard state.limits.maxFileBytes > 0 else {
        state.notice = "this server does not take files"
        return []
    }
    guard state.transfer == nil else {
        state.notice = "a transfer is already running"
        return []
    }
    let (path, caption) = splitPath(argument)
    guard !path.isEmpty else {
        state.notice = "usage: /upload PATH [caption]"
        return []
    }
    state.nonceCounter += 1
    let nonce = "\(state.noncePrefix)-\(state.nonceCounter)"
    let expanded = PathCompletion.expandHome(path)
    state.transfer = AppState.Transfer(
        upload: true,
        name: (expanded as NSString).lastPathComponent,
        done: 0,
        total: 0
    )
    return [.upload(room: room, path: expanded, caption: caption, nonce: nonce)]
}

/// `/download [PATH]` and `/open`: the newest file in the room (`s` and `o` on a selected
/// message take that one).
func downloadCommand(_ state: inout AppState, _ command: String, _ argument: String) -> [AppEffect] {
    guard let room = state.activeRoom else {
        state.notice = "join a room first: /join ROOM"
        return []
    }
    guard let file = room.messages.last(where: { $0.file != nil && !$0.deleted })?.file else {
        state.notice = "no file in \(room.name)"
        return []
    }
    let path = splitPath(argument).path
    return startTransfer(
        &state,
        file,
        open: command == "/open",
        path: path.isEmpty ? nil : PathCompletion.expandHome(path)
    )
}

/// Starts a download (or `/open`) unless a transfer is running.
func startTransfer(_ state: inout AppState, _ file: FileRef, open: Bool, path: String?) -> [AppEffect] {
    guard state.transfer == nil else {
        state.notice = "a transfer is already running"
        return []
    }
    state.transfer = AppState.Transfer(upload: false, name: file.name, done: 0, total: file.size)
    return open ? [.open(file)] : [.download(file, path: path)]
}

/// The first argument as a path (backslash-escaped spaces, or double quotes), and the rest.
func splitPath(_ argument: String) -> (path: String, rest: String) {
    var path = ""
    var rest = Substring(argument)
    if rest.first == "\"" {
        rest = rest.dropFirst()
        while let c = rest.first, c != "\"" {
            path.append(c)
            rest = rest.dropFirst()
        }
        rest = rest.dropFirst()
    } else {
        while let c = rest.first, c != " " {
            if c == "\\", rest.count > 1 {
                rest = rest.dropFirst()
                path.append(rest.first!)
            } else {
                path.append(c)
            }
            rest = rest.dropFirst()
        }
    }
    return (path, String(rest).trimmingSpaces)
}

/// Whether a typed path holds a space that is not escaped with a backslash (then a caption follows).
func hasUnescapedSpace(_ typed: String) -> Bool {
    var escaped = false
    for c in typed {
        if escaped {
            escaped = false
        } else if c == "\\" {
            escaped = true
        } else if c == " " {
            return true
        }
    }
    return false
}

/// Tab completion of local paths for `/upload` (reads the directory: the one place `update`
/// touches the file system).
enum PathCompletion {
    /// `~/x` → `$HOME/x`.
    static func expandHome(_ path: String) -> String {
        guard path == "~" || path.hasPrefix("~/") else { return path }
        return (ProcessInfo.processInfo.environment["HOME"] ?? NSHomeDirectory()) + path.dropFirst()
    }

    /// Completions of a partial path, as typed (`~/` kept): directories end in `/`, files in a
    /// space; spaces in names are escaped with a backslash. Hidden entries only when the
    /// partial name starts with a dot. At most 200, sorted.
    static func candidates(_ typed: String) -> [String] {
        let unescaped = splitPath(typed).path
        let slash = unescaped.lastIndex(of: "/")
        let directoryPart = slash.map { String(unescaped[...$0]) } ?? ""
        let namePart = slash.map { String(unescaped[unescaped.index(after: $0)...]) } ?? unescaped
        let directory = expandHome(directoryPart.isEmpty ? "." : directoryPart)
        let manager = FileManager.default
        guard let names = try? manager.contentsOfDirectory(atPath: directory) else { return [] }
        return names.filter { $0.hasPrefix(namePart) && (namePart.hasPrefix(".") || !$0.hasPrefix(".")) }
            .sorted().prefix(200)
            .map { name in
                var isDirectory: ObjCBool = false
                _ = manager.fileExists(atPath: directory + "/" + name, isDirectory: &isDirectory)
                let escaped = (directoryPart + name).replacingOccurrences(of: " ", with: "\\ ")
                return escaped + (isDirectory.boolValue ? "/" : " ")
            }
    }
}
