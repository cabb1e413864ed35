import ChatCore
import ChatLog
import CoreMetrics
import Foundation
import Logging
import NIOPosix
import ServiceLifecycle
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Redis-like persistence: state lives in memory, every change is appended to a
/// log (`log-N.aof`), and snapshots (`snap-N.snap`) compact it.
///
/// Records are handed over synchronously, in the order the hub applied them, so a
/// copy of the state taken in the same actor turn corresponds to an exact place in
/// the log. A dedicated writer thread drains them: under `always` it writes and
/// fsyncs everything that arrived while the previous fsync ran (group commit)
/// before acknowledging; under `everysec` and `no` it acknowledges after `write(2)`.
/// Snapshots are serialised from a copy-on-write copy of the state on their own
/// thread, so message delivery does not wait for them.
package final class FileChatStore: ChatStore, @unchecked Sendable {
    // @unchecked: every `var` below is guarded by `condition`.
    enum Item {
        case records([UInt8], lsn: UInt64)
        case rotate(ChatState)
    }

    package let configuration: StorageConfiguration
    let directory: DataDirectory
    let logger: Logger
    let metrics: StoreMetrics

    let condition = NSCondition()
    var queue: [Item] = []
    var queuedBytes = 0
    var lastLSN: UInt64 = 0
    var ackedLSN: UInt64 = 0
    var waiters: [(lsn: UInt64, continuation: CheckedContinuation<Void, any Error>)] = []
    var failure: StorageError?
    var stopping = false
    var writerFinished = false
    /// The writer thread is writing, fsyncing or rotating outside the lock: `append` queues.
    var writerBusy = false
    var generation = 0
    var logFD: Int32 = -1
    var logBytes = 0
    var rotationQueued = false
    var snapshotRunning = false
    var lastSnapshot = ContinuousClock.now
    var dirty = false
    var lastFsync = ContinuousClock.now
    var lockFD: Int32 = -1
    /// While the disk is full: when the writer tries the unwritten records again.
    var retryAt: ContinuousClock.Instant?
    let retryDelay: Duration = .seconds(1)
    /// The last failure logged and when (one line per distinct failure, then one a minute).
    var lastLogged: (message: String, at: ContinuousClock.Instant)?
    var started = false
    /// Older messages (`<data>/cold/`), opened by `recover()` at the generation of the snapshot
    /// it loads.
    var cold: FileColdStore?
    /// What the last compaction committed, until the hub takes it (`takeCompaction`); no
    /// snapshot starts meanwhile, since the next compaction must start from the trimmed state.
    var pendingCompaction: Compaction?
    /// Whether `pendingCompaction` is set, readable without the lock (the hub asks after every
    /// batch of appends).
    let compactionReady = Atomic<Bool>(false)
    /// Some room holds more messages than its window (after a start): snapshot soon.
    var compactionWanted = false
    /// A failed compaction could not be rolled back: snapshots keep every message until a restart.
    var compactionBroken = false
    /// When retention last ran (nil: not since the start, so the first snapshot runs it).
    var lastRetention: ContinuousClock.Instant?

    /// Creates a store; nothing touches the disk until `recover()`.
    ///
    /// - Parameters:
    ///   - configuration: directory and policies.
    ///   - logger: logger.
    package init(configuration: StorageConfiguration, logger: Logger) {
        self.configuration = configuration
        self.directory = DataDirectory(configuration.directory)
        self.logger = logger
        let metrics = StoreMetrics()
        metrics.failing.record(0)
        self.metrics = metrics
    }

    // MARK: ChatStore

    package func recover() async throws -> ChatState {
        let state: ChatState
        do {
            state = try await NIOThreadPool.singleton.runIfActive { try self.recoverSync() }
        } catch {
            // A refused start must not keep the directory locked (e.g. for a retry with repair).
            if logFD >= 0 {
                Glibc.close(logFD)
                logFD = -1
            }
            if lockFD >= 0 {
                Glibc.close(lockFD)
                lockFD = -1
            }
            throw error
        }
        let thread = Thread { [self] in writerLoop() }
        thread.name = "chat-log-writer"
        thread.start()
        return state
    }

    package func append(_ records: [LogRecord]) -> UInt64 {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(records.count * 96)
        for record in records { RecordFraming.append(record, to: &bytes) }
        condition.lock()
        lastLSN += 1
        let lsn = lastLSN
        // Under `everysec` and `no` a change is acknowledged after write(2): when the writer
        // thread is idle and nothing is queued, write here (in log order, under the lock) rather
        // than wake the writer and wait for it. The writer only fsyncs, rotates and catches up.
        if configuration.fsync != .always, queue.isEmpty, !writerBusy, !stopping, failure == nil, logFD >= 0 {
            // The path string only for an error: making it cost 2 % of a durable send.
            let written = Result {
                try bytes.withUnsafeBytes { try DataDirectory.writeAll(logFD, $0, path: directory.logPath(generation)) }
            }
            switch written {
            case .success:
                logBytes += bytes.count
                let size = logBytes
                ackedLSN = lsn
                if !dirty {
                    dirty = true
                    // The writer waits without a timeout while nothing is dirty: start the 1 s clock.
                    condition.signal()
                }
                condition.unlock()
                metrics.setLogBytes(size)
            case .failure(let error):
                let error = error as? StorageError ?? StorageError.io(directory.logPath(generation), "\(error)")
                if error.isRetryable {
                    // Nothing half-written stays in the log; the writer writes these bytes again.
                    _ = ftruncate(logFD, off_t(logBytes))
                    queuedBytes += bytes.count
                    queue.append(.records(bytes, lsn: lsn))
                }
                condition.unlock()
                fail(error)
            }
            return lsn
        }
        queuedBytes += bytes.count
        queue.append(.records(bytes, lsn: lsn))
        condition.signal()
        condition.unlock()
        return lsn
    }

    package func isDurable(_ lsn: UInt64) -> Bool {
        locked { failure == nil && ackedLSN >= lsn }
    }

    package func waitDurable(_ lsn: UInt64) async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            enum Now {
                case fail(StorageError)
                case done
                case wait
            }
            let now = locked { () -> Now in
                if let failure { return .fail(failure) }
                if ackedLSN >= lsn { return .done }
                waiters.append((lsn, continuation))
                return .wait
            }
            switch now {
            case .fail(let error): continuation.resume(throwing: error)
            case .done: continuation.resume()
            case .wait: break
            }
        }
    }

    func locked<T>(_ body: () -> T) -> T {
        condition.lock()
        defer { condition.unlock() }
        return body()
    }

    package var snapshotDue: Bool {
        condition.lock()
        defer { condition.unlock() }
        guard !rotationQueued, !snapshotRunning, pendingCompaction == nil, failure == nil, !stopping else {
            return false
        }
        if compactionWanted || retentionDue { return true }
        let size = logBytes + queuedBytes
        if size >= configuration.snapshotAfterBytes { return true }
        return size > 0 && lastSnapshot.duration(to: .now) >= configuration.snapshotInterval
    }

    package func snapshot(_ state: ChatState) {
        condition.lock()
        defer { condition.unlock() }
        guard !rotationQueued, !snapshotRunning, pendingCompaction == nil, !stopping,
            logBytes + queuedBytes > 0 || compactionWanted || retentionDue
        else { return }
        compactionWanted = false
        rotationQueued = true
        queue.append(.rotate(state))
        condition.signal()
    }

    package var isSnapshotRunning: Bool { locked { rotationQueued || snapshotRunning } }

    /// Whether the next snapshot runs retention (`--retain-days`); read under the lock.
    var retentionDue: Bool {
        guard let interval = configuration.retentionCheckInterval, cold != nil, !compactionBroken else { return false }
        return lastRetention.map { $0.duration(to: .now) >= interval } ?? true
    }

    package func takeCompaction() -> Compaction? {
        guard compactionReady.load(ordering: .acquiring) else { return nil }
        return locked {
            defer {
                pendingCompaction = nil
                compactionReady.store(false, ordering: .releasing)
            }
            return pendingCompaction
        }
    }

    package func run() async throws {
        try? await gracefulShutdown()
        await close()
    }

    /// Flushes, fsyncs and stops the writer, waits for a running snapshot, and
    /// marks the shutdown clean.
    package func close() async {
        let wasStarted = locked {
            stopping = true
            condition.signal()
            return started
        }
        guard wasStarted else { return }
        for _ in 0..<12_000 {
            if locked({ writerFinished && !snapshotRunning }) { break }
            try? await Task.sleep(for: .milliseconds(5))
        }
        let clean = locked { failure == nil }
        if clean { unlink(directory.runningPath) }
        directory.syncDirectory()
        if lockFD >= 0 {
            Glibc.close(lockFD)
            lockFD = -1
        }
        logger.debug("store closed", metadata: ["chat.store.clean": "\(clean)"])
    }

    /// Current log generation and size (for metrics and tests).
    package var logPosition: (generation: Int, bytes: Int) {
        condition.lock()
        defer { condition.unlock() }
        return (generation, logBytes)
    }

    // MARK: Recovery

    private func recoverSync() throws -> ChatState {
        let fm = FileManager.default
        try directory.prepare()
        lockFD = try directory.lockExclusively("the data directory is in use by another chat-server")
        let format = try directory.checkFormat()
        for name in (try? fm.contentsOfDirectory(atPath: directory.path)) ?? [] where name.hasSuffix(".tmp") {
            unlink(directory.path + "/" + name)
        }
        let start = ContinuousClock.now
        let (snapshots, logs) = try directory.generations()
        var state = ChatState()
        var resetEpochs = false
        var repaired = false
        var first = 0
        var loadedRecords = 0
        if let newest = snapshots.last {
            let loaded = try SnapshotFile.load(directory.snapshotPath(newest), repair: configuration.repair)
            if let damage = loaded.damage {
                logger.warning(
                    "repair: snapshot damaged; kept the records before the damage",
                    metadata: [
                        "chat.file": "\(directory.snapshotPath(newest))", "chat.offset": "\(damage.offset)",
                        "chat.reason": "\(damage.reason)",
                    ]
                )
                resetEpochs = true
                repaired = true
            }
            state = loaded.state
            loadedRecords += loaded.records
            first = newest
        }
        // The cold store as the loaded snapshot's compaction committed it; a snapshot without
        // cold messages needs none (what a later compaction committed is in the log too).
        let coldStore = try FileColdStore(
            path: directory.path + "/cold",
            generation: state.hasColdMessages ? first : nil
        )
        state.cold = coldStore
        cold = coldStore
        let replay = logs.filter { $0 >= first }
        var dropped = false
        for (index, gen) in replay.enumerated() {
            let path = directory.logPath(gen)
            if dropped {
                unlink(path)
                continue
            }
            let bytes = try DataDirectory.read(path)
            let scan = bytes.withUnsafeBytes { raw in
                RecordFraming.scan(raw) { record in
                    state.apply(record)
                    loadedRecords += 1
                }
            }
            guard let problem = scan.problem else { continue }
            let isLast = index == replay.count - 1
            let lost = bytes.count - scan.validLength
            if problem.isTail && isLast {
                logger.warning(
                    "torn tail at the end of the log truncated",
                    metadata: [
                        "chat.file": "\(path)", "chat.offset": "\(problem.offset)", "chat.bytes_dropped": "\(lost)",
                    ]
                )
            } else if configuration.repair {
                logger.warning(
                    "repair: log damaged; truncated at the first bad record and dropped later segments",
                    metadata: [
                        "chat.file": "\(path)", "chat.offset": "\(problem.offset)", "chat.bytes_dropped": "\(lost)",
                        "chat.reason": "\(problem.reason)",
                    ]
                )
                resetEpochs = true
                repaired = true
                dropped = true
            } else {
                throw StorageError.corrupt(
                    path,
                    offset: problem.offset,
                    "damaged log record (\(problem.reason)); start with --repair to truncate here, dropping \(lost) bytes"
                )
            }
            guard truncate(path, off_t(scan.validLength)) == 0 else { throw StorageError.io(path, "truncate failed") }
        }
        for gen in logs where gen < first { unlink(directory.logPath(gen)) }
        for gen in snapshots where gen < first { unlink(directory.snapshotPath(gen)) }

        if let marker = try? String(contentsOfFile: directory.runningPath, encoding: .utf8) {
            let fields = Dictionary(
                marker.split(separator: "\n").compactMap { line -> (String, String)? in
                    let parts = line.split(separator: "=", maxSplits: 1)
                    return parts.count == 2 ? (String(parts[0]), String(parts[1])) : nil
                },
                uniquingKeysWith: { $1 }
            )
            let machineRestarted = fields["boot_id"] != DataDirectory.bootID()
            if machineRestarted && fields["fsync"] != FsyncPolicy.always.rawValue {
                logger.warning(
                    "the machine stopped uncleanly under fsync \(fields["fsync"] ?? "?"); room epochs change"
                )
                resetEpochs = true
            } else if machineRestarted {
                logger.notice("the machine stopped uncleanly; under fsync always nothing acknowledged was lost")
            } else {
                logger.notice("the last stop was not clean (process crash); nothing acknowledged was lost")
            }
        }
        if fm.fileExists(atPath: directory.epochResetPath) { resetEpochs = true }

        generation = replay.last ?? first
        logFD = open(directory.logPath(generation), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
        guard logFD >= 0 else { throw StorageError.io(directory.logPath(generation), "cannot open the log") }
        logBytes = Int(lseek(logFD, 0, SEEK_END))
        if resetEpochs {
            var bytes: [UInt8] = []
            for key in state.rooms.keys.sorted() {
                let record = LogRecord.epochChanged(room: key, epoch: PasswordHasher.newEpoch())
                state.apply(record)
                RecordFraming.append(record, to: &bytes)
            }
            try bytes.withUnsafeBytes { try DataDirectory.writeAll(logFD, $0, path: directory.logPath(generation)) }
            guard fsync(logFD) == 0 else { throw StorageError.io(directory.logPath(generation), "fsync failed") }
            logBytes += bytes.count
            logger.notice("every room's epoch changed", metadata: ["chat.rooms": "\(state.rooms.count)"])
        }
        if repaired {
            // Make the repair stick: a fresh snapshot of what was recovered replaces the damaged
            // files, so the next start neither refuses nor repairs (and re-epochs) again.
            Glibc.close(logFD)
            generation += 1
            // Pending versions of cold messages (changes replayed from the log) go to the cold
            // store with this commit: the snapshot holds hot messages only.
            let compacted = try Compaction.run(&state, policy: nil, generation: generation)
            try SnapshotFile.write(state, generation: generation, in: directory)
            if compacted != nil { coldStore.forget(before: generation) }
            logFD = open(directory.logPath(generation), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
            guard logFD >= 0 else { throw StorageError.io(directory.logPath(generation), "cannot open the log") }
            logBytes = 0
            let (oldSnapshots, oldLogs) = try directory.generations()
            for gen in oldSnapshots where gen < generation { unlink(directory.snapshotPath(gen)) }
            for gen in oldLogs where gen < generation { unlink(directory.logPath(gen)) }
            directory.syncDirectory()
            logger.notice("repaired state saved as a new snapshot", metadata: ["chat.generation": "\(generation)"])
        }
        if format < DataDirectory.format {
            // The loader reads every older format as it is; what changes is what this binary
            // writes from now on (records an older one refuses). Older messages leave the
            // snapshot at the first compaction (`compactionWanted` below).
            try directory.writeFormat()
            if loadedRecords > 0 {
                logger.notice(
                    "data directory upgraded in place",
                    metadata: ["chat.format_from": "\(format)", "chat.format_to": "\(DataDirectory.format)"]
                )
            }
        }
        unlink(directory.epochResetPath)
        let marker = "boot_id=\(DataDirectory.bootID())\nfsync=\(configuration.fsync.rawValue)\npid=\(getpid())\n"
        try directory.writeAtomically(Array(marker.utf8), to: directory.runningPath)
        started = true
        compactionWanted = !(configuration.hotWindow?.plan(state).isEmpty ?? true)
        let elapsed = start.duration(to: .now)
        logger.info(
            "state recovered",
            metadata: [
                "chat.records": "\(loadedRecords)", "chat.rooms": "\(state.rooms.count)",
                "chat.users": "\(state.users.count)", "chat.seconds": "\(elapsed)",
                "chat.log_generation": "\(generation)",
                "chat.cold_rooms": "\(coldStore.heads().count)",
                "chat.hot_messages": "\(state.rooms.values.reduce(0) { $0 + $1.messages.count })",
            ]
        )
        metrics.setLogBytes(logBytes)
        metrics.setCold(coldStore)
        return state
    }
}
