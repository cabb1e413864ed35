/// A storage failure: which file, where, and why.
package struct StorageError: Error, Equatable, CustomStringConvertible {
    private enum Code: Equatable {
        case corrupt
        case io
        case locked
        case noSpace
        case format
    }

    private let code: Code
    /// What happened, for people.
    package let message: String
    /// The file involved.
    package let path: String?
    /// Byte offset in the file, for corruption.
    package let offset: Int?

    package static func corrupt(_ path: String, offset: Int, _ message: String) -> StorageError {
        StorageError(code: .corrupt, message: message, path: path, offset: offset)
    }

    package static func io(_ path: String?, _ message: String) -> StorageError {
        StorageError(code: .io, message: message, path: path, offset: nil)
    }

    /// A write refused for lack of space (ENOSPC, EDQUOT): the store retries it.
    package static func noSpace(_ path: String?, _ message: String) -> StorageError {
        StorageError(code: .noSpace, message: message, path: path, offset: nil)
    }

    package static func locked(_ path: String, _ message: String) -> StorageError {
        StorageError(code: .locked, message: message, path: path, offset: nil)
    }

    /// A data directory in a format this binary does not read (written by a newer chat-server).
    package static func unsupportedFormat(_ path: String, _ message: String) -> StorageError {
        StorageError(code: .format, message: message, path: path, offset: nil)
    }

    /// Whether the write can be tried again later (the disk was full): nothing is lost meanwhile.
    package var isRetryable: Bool { code == .noSpace }

    /// Whether this is corruption that `--repair` can truncate away.
    package var isCorruption: Bool { code == .corrupt }

    /// Whether another process (a running server) holds the data directory.
    package var isLocked: Bool { code == .locked }

    package var description: String {
        var s = message
        if let path { s += " (file \(path)" + (offset.map { ", offset \($0)" } ?? "") + ")" }
        return s
    }
}

/// When the log is flushed to disk.
package enum FsyncPolicy: String, Sendable, CaseIterable {
    /// fsync before a change is acknowledged (group commit): no crash loses an acknowledged change.
    case always
    /// write before acknowledging, fsync at most one second later: a machine crash may lose ~1 s.
    case everysec
    /// write before acknowledging, let the OS flush: a machine crash may lose more.
    case no
}

/// Where and how the file store keeps state.
package struct StorageConfiguration: Sendable {
    package var directory: String
    package var fsync: FsyncPolicy
    /// Snapshot once the log has grown by this many bytes.
    package var snapshotAfterBytes: Int
    /// Snapshot when this much time has passed since the last one and the log is not empty.
    package var snapshotInterval: Duration
    /// Truncate at the first damaged record instead of refusing to start.
    package var repair: Bool
    /// How many messages each room keeps in memory; older ones move to the cold store at each
    /// snapshot (nil: none move, as before issue 16).
    package var hotWindow: HotWindow?
    /// Messages older than this expire (`--retain-days`; nil: kept forever).
    package var retention: Duration?

    /// Creates a configuration.
    ///
    /// - Parameters:
    ///   - directory: the data directory.
    ///   - fsync: fsync policy.
    ///   - snapshotAfterBytes: log growth that triggers a snapshot.
    ///   - snapshotInterval: time that triggers a snapshot.
    ///   - repair: truncate damaged data instead of refusing to start.
    ///   - hotWindow: the messages each room keeps in memory (nil: all).
    ///   - retention: the age at which messages expire (nil: never).
    package init(
        directory: String,
        fsync: FsyncPolicy = .everysec,
        snapshotAfterBytes: Int = 64 << 20,
        snapshotInterval: Duration = .seconds(300),
        repair: Bool = false,
        hotWindow: HotWindow? = nil,
        retention: Duration? = nil
    ) {
        self.hotWindow = hotWindow
        self.retention = retention
        self.directory = directory
        self.fsync = fsync
        self.snapshotAfterBytes = snapshotAfterBytes
        self.snapshotInterval = snapshotInterval
        self.repair = repair
    }

    /// How often retention runs (with a snapshot): every 1/24 of the period, at least once a
    /// second and at most once a day (each run rewrites the cold files of every room where
    /// something expired).
    package var retentionCheckInterval: Duration? {
        retention.map { min(max($0 / 24, .seconds(1)), .seconds(86_400)) }
    }
}
