import ChatCore
import Foundation
import Logging
import Synchronization

extension TUIRuntime {
    /// Runs `/upload`, `/download` and `/open`: the transfer with progress in the status line,
    /// then a notice saying how it ended.
    func transfer(_ effect: AppEffect, connection: any ChatConnection, inbox: EventInbox) async {
        let progress = TransferProgress(inbox: inbox)
        do {
            switch effect {
            case .upload(let room, let path, let caption, let nonce):
                var isDirectory: ObjCBool = false
                guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue
                else { throw TransferError("no file \(path)") }
                let name = (path as NSString).lastPathComponent
                let file = try await connection.upload(path: path) { done, total in
                    progress.report(upload: true, name: name, done: done, total: total)
                }
                try await connection.sendFile(room: room, file: file, caption: caption, nonce: nonce)
                inbox.post(.transfer(nil))
                inbox.post(.notice("uploaded \(file.name) (\(FileRef.humanSize(file.size)))"))
            case .download(let file, let path):
                let target = try Self.downloadTarget(file, path: path)
                try await connection.download(file, to: target) { done, total in
                    progress.report(upload: false, name: file.name, done: done, total: total)
                }
                inbox.post(.transfer(nil))
                inbox.post(.notice("saved \(target)"))
            case .open(let file):
                let target = LocalFiles.cachePath(for: file)
                if !FileManager.default.fileExists(atPath: target) {
                    try FileManager.default.createDirectory(
                        atPath: (target as NSString).deletingLastPathComponent,
                        withIntermediateDirectories: true
                    )
                    try await connection.download(file, to: target) { done, total in
                        progress.report(upload: false, name: file.name, done: done, total: total)
                    }
                }
                inbox.post(.transfer(nil))
                let opener = try Self.open(target)
                inbox.post(.notice("opened \(file.name) with \(opener)"))
            default:
                break
            }
        } catch {
            logger.debug("file transfer failed", metadata: ["chat.error": "\(error)"])
            inbox.post(.transfer(nil))
            inbox.post(.notice(Self.transferFailed(effect) + plainWords(error)))
        }
    }

    static func transferFailed(_ effect: AppEffect) -> String {
        switch effect {
        case .upload: "not uploaded: "
        case .download: "not downloaded: "
        default: "not opened: "
        }
    }

    /// Where `/download [PATH]` writes: into PATH when it is a directory, at PATH when it does
    /// not exist, else under a safe, unused name in the download directory.
    static func downloadTarget(_ file: FileRef, path: String?) throws -> String {
        let manager = FileManager.default
        guard let path else {
            let directory = LocalFiles.downloadDirectory()
            try manager.createDirectory(atPath: directory, withIntermediateDirectories: true)
            return LocalFiles.freePath(for: file.name, in: directory)
        }
        var isDirectory: ObjCBool = false
        if manager.fileExists(atPath: path, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else { throw TransferError("\(path) exists") }
            return LocalFiles.freePath(for: file.name, in: path)
        }
        return path
    }

    /// Opens a file with `$CHAT_OPENER` or `xdg-open` (no shell; its output goes nowhere, so it
    /// cannot draw over the screen). Returns the opener's name.
    static func open(_ path: String) throws -> String {
        let environment = ProcessInfo.processInfo.environment
        let opener = environment["CHAT_OPENER"].flatMap { $0.isEmpty ? nil : $0 } ?? "xdg-open"
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [opener, path]
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        do {
            try process.run()
        } catch {
            throw TransferError("cannot run \(opener): \(error.localizedDescription)")
        }
        return opener
    }
}

/// A transfer failure with words for the status line.
struct TransferError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Posts progress to the status line when the whole percentage changes (not on every chunk).
final class TransferProgress: Sendable {
    private let inbox: EventInbox
    private let last = Mutex<Int64>(-1)

    init(inbox: EventInbox) { self.inbox = inbox }

    func report(upload: Bool, name: String, done: Int64, total: Int64) {
        let percent = total > 0 ? done * 100 / total : 0
        let changed = last.withLock { previous in
            guard previous != percent else { return false }
            previous = percent
            return true
        }
        if changed {
            inbox.post(.transfer(AppState.Transfer(upload: upload, name: name, done: done, total: total)))
        }
    }
}
