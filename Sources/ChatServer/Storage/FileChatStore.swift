import ChatCore
import ChatLog
import Foundation
import Logging
import NIOPosix
import ServiceLifecycle

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
    private enum Item {
        case records([UInt8], lsn: UInt64)
        case rotate(ChatState)
    }

    package let configuration: StorageConfiguration
    let directory: DataDirectory
    let logger: Logger
    let metrics: StoreMetrics

    private let condition = NSCondition()
    private var queue: [Item] = []
    private var queuedBytes = 0
    private var lastLSN: UInt64 = 0
    private var ackedLSN: UInt64 = 0
    private var waiters: [(lsn: UInt64, continuation: CheckedContinuation<Void, any Error>)] = []
    private var failure: StorageError?
    private var stopping = false
    private var writerFinished = false
    /// The writer thread is writing, fsyncing or rotating outside the lock: `append` queues.
    private var writerBusy = false
    private var generation = 0
    private var logFD: Int32 = -1
    private var logBytes = 0
    private var rotationQueued = false
    private var snapshotRunning = false
    private var lastSnapshot = ContinuousClock.now
    private var dirty = false
    private var lastFsync = ContinuousClock.now
    private var lockFD: Int32 = -1
    /// While the disk is full: when the writer tries the unwritten records again.
    private var retryAt: ContinuousClock.Instant?
    private let retryDelay: Duration = .seconds(1)
    /// The last failure logged and when (one line per distinct failure, then one a minute).
    private var lastLogged: (message: String, at: ContinuousClock.Instant)?
    private var started = false

    /// Creates a store; nothing touches the disk until `recover()`.
    ///
    /// - Parameters:
    ///   - configuration: directory and policies.
    ///   - logger: logger.
    package init(configuration: StorageConfiguration, logger: Logger) {
        self.configuration = configuration
        self.directory = DataDirectory(configuration.directory)
        self.logger = logger
        self.metrics = StoreMetrics()
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
            let path = directory.logPath(generation)
            let written = Result { try bytes.withUnsafeBytes { try DataDirectory.writeAll(logFD, $0, path: path) } }
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
                let error = error as? StorageError ?? StorageError.io(path, "\(error)")
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

    private func locked<T>(_ body: () -> T) -> T {
        condition.lock()
        defer { condition.unlock() }
        return body()
    }

    package var snapshotDue: Bool {
        condition.lock()
        defer { condition.unlock() }
        guard !rotationQueued, !snapshotRunning, failure == nil, !stopping else { return false }
        let size = logBytes + queuedBytes
        if size >= configuration.snapshotAfterBytes { return true }
        return size > 0 && lastSnapshot.duration(to: .now) >= configuration.snapshotInterval
    }

    package func snapshot(_ state: ChatState) {
        condition.lock()
        defer { condition.unlock() }
        guard !rotationQueued, !snapshotRunning, !stopping, logBytes + queuedBytes > 0 else { return }
        rotationQueued = true
        queue.append(.rotate(state))
        condition.signal()
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
        try fm.createDirectory(
            atPath: directory.path,
            withIntermediateDirectories: true,
            attributes: [.posixPermissions: 0o700]
        )
        lockFD = open(directory.lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard lockFD >= 0 else {
            throw StorageError.io(directory.lockPath, "cannot open the lock file: \(String(cString: strerror(errno)))")
        }
        // A process being spawned elsewhere in this program can hold a copy of the descriptor
        // for a moment (between fork and exec): retry briefly before calling the directory taken.
        var locked = flock(lockFD, LOCK_EX | LOCK_NB) == 0
        var attempts = 0
        while !locked, errno == EWOULDBLOCK, attempts < 10 {
            attempts += 1
            usleep(20_000)
            locked = flock(lockFD, LOCK_EX | LOCK_NB) == 0
        }
        guard locked else {
            throw StorageError.locked(directory.lockPath, "the data directory is in use by another chat-server")
        }
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
            try SnapshotFile.write(state, generation: generation, in: directory)
            logFD = open(directory.logPath(generation), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
            guard logFD >= 0 else { throw StorageError.io(directory.logPath(generation), "cannot open the log") }
            logBytes = 0
            let (oldSnapshots, oldLogs) = try directory.generations()
            for gen in oldSnapshots where gen < generation { unlink(directory.snapshotPath(gen)) }
            for gen in oldLogs where gen < generation { unlink(directory.logPath(gen)) }
            directory.syncDirectory()
            logger.notice("repaired state saved as a new snapshot", metadata: ["chat.generation": "\(generation)"])
        }
        unlink(directory.epochResetPath)
        let marker = "boot_id=\(DataDirectory.bootID())\nfsync=\(configuration.fsync.rawValue)\npid=\(getpid())\n"
        try directory.writeAtomically(Array(marker.utf8), to: directory.runningPath)
        started = true
        let elapsed = start.duration(to: .now)
        logger.info(
            "state recovered",
            metadata: [
                "chat.records": "\(loadedRecords)", "chat.rooms": "\(state.rooms.count)",
                "chat.users": "\(state.users.count)", "chat.seconds": "\(elapsed)",
                "chat.log_generation": "\(generation)",
            ]
        )
        metrics.setLogBytes(logBytes)
        return state
    }

    // MARK: Writer thread

    private func writerLoop() {
        while true {
            condition.lock()
            while !stopping {
                if let retryAt {
                    // The disk was full: try the unwritten records again at `retryAt`, not before.
                    let now = ContinuousClock.now
                    if now >= retryAt { break }
                    let wait = now.duration(to: retryAt)
                    _ = condition.wait(until: Date(timeIntervalSinceNow: Double(wait.nanoseconds) / 1e9))
                    continue
                }
                if failure != nil {
                    condition.wait()  // a failure that is not retried: nothing to do until the end
                    continue
                }
                if !queue.isEmpty || fsyncDue() { break }
                if configuration.fsync == .everysec && dirty {
                    _ = condition.wait(until: Date(timeIntervalSinceNow: 0.1))
                } else {
                    condition.wait()
                }
            }
            let exiting = stopping && (queue.isEmpty || failure != nil)
            let retrying = retryAt != nil
            let items = exiting ? [] : queue
            if !exiting {
                queue = []
                queuedBytes = 0
            }
            writerBusy = !exiting
            condition.unlock()
            if exiting { break }
            do {
                try process(items)
                if retrying { recovered() }
            } catch let error as StorageError {
                fail(error)
            } catch {
                fail(StorageError.io(nil, "\(error)"))
            }
            condition.lock()
            writerBusy = false
            condition.unlock()
        }
        if logFD >= 0 {
            if locked({ failure == nil }), fsync(logFD) != 0 {
                fail(StorageError.io(directory.logPath(generation), "fsync at shutdown failed"))
            }
            Glibc.close(logFD)
            logFD = -1
        }
        condition.lock()
        writerFinished = true
        condition.unlock()
    }

    /// Caller holds the lock.
    private func fsyncDue() -> Bool {
        configuration.fsync == .everysec && dirty && lastFsync.duration(to: .now) >= .seconds(1)
    }

    /// Writes queued records (and rotates where asked). When the disk is full, what was not
    /// written goes back to the front of the queue, in order, for the retry.
    private func process(_ items: [Item]) throws {
        var buffer: [UInt8] = []
        var upTo: UInt64 = 0
        func write(keeping rest: ArraySlice<Item>) throws {
            do {
                try writeAndAcknowledge(&buffer, upTo: upTo)
            } catch let error as StorageError where error.isRetryable {
                let unwritten: [Item] = buffer.isEmpty ? [] : [.records(buffer, lsn: upTo)]
                requeue(unwritten + rest)
                throw error
            }
        }
        for (index, item) in items.enumerated() {
            switch item {
            case .records(let bytes, let lsn):
                if buffer.isEmpty { buffer = bytes } else { buffer.append(contentsOf: bytes) }
                upTo = lsn
            case .rotate(let state):
                try write(keeping: items[index...])
                try rotate(snapshotting: state)
            }
        }
        try write(keeping: [])
        condition.lock()
        let due = fsyncDue()
        condition.unlock()
        if due { try sync() }
    }

    /// Puts items back at the front of the queue (before what arrived meanwhile).
    private func requeue(_ items: [Item]) {
        condition.lock()
        defer { condition.unlock() }
        for item in items {
            if case .records(let bytes, _) = item { queuedBytes += bytes.count }
        }
        queue.insert(contentsOf: items, at: 0)
    }

    private func writeAndAcknowledge(_ buffer: inout [UInt8], upTo lsn: UInt64) throws {
        if !buffer.isEmpty {
            let path = directory.logPath(generation)
            do {
                try buffer.withUnsafeBytes { try DataDirectory.writeAll(logFD, $0, path: path) }
            } catch let error as StorageError where error.isRetryable {
                // Nothing half-written stays in the log: the retry writes the whole buffer again.
                _ = ftruncate(logFD, off_t(locked { logBytes }))
                throw error
            }
            condition.lock()
            logBytes += buffer.count
            dirty = true
            condition.unlock()
            metrics.setLogBytes(logBytes)
            buffer.removeAll(keepingCapacity: true)
            if configuration.fsync == .always { try sync() }
        }
        guard lsn > 0 else { return }
        condition.lock()
        if lsn > ackedLSN { ackedLSN = lsn }
        var ready: [CheckedContinuation<Void, any Error>] = []
        waiters.removeAll { waiter in
            guard waiter.lsn <= ackedLSN else { return false }
            ready.append(waiter.continuation)
            return true
        }
        condition.unlock()
        for continuation in ready { continuation.resume() }
    }

    private func sync() throws {
        let start = ContinuousClock.now
        guard fsync(logFD) == 0 else {
            throw StorageError.io(directory.logPath(generation), "fsync failed: \(String(cString: strerror(errno)))")
        }
        metrics.fsync.recordInterval(since: start)
        condition.lock()
        dirty = false
        lastFsync = .now
        condition.unlock()
    }

    private func rotate(snapshotting state: ChatState) throws {
        let old = generation
        if configuration.fsync != .no { try sync() }
        let next = old + 1
        let fd = open(directory.logPath(next), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw StorageError.io(directory.logPath(next), "cannot create the next log segment") }
        Glibc.close(logFD)
        directory.syncDirectory()
        condition.lock()
        logFD = fd
        generation = next
        logBytes = 0
        rotationQueued = false
        snapshotRunning = true
        condition.unlock()
        let thread = Thread { [self] in writeSnapshot(state, generation: next) }
        thread.name = "chat-snapshot"
        thread.start()
    }

    private func writeSnapshot(_ state: ChatState, generation: Int) {
        let start = ContinuousClock.now
        do {
            let size = try SnapshotFile.write(state, generation: generation, in: directory)
            let (snapshots, logs) = try directory.generations()
            for gen in snapshots where gen < generation { unlink(directory.snapshotPath(gen)) }
            for gen in logs where gen < generation { unlink(directory.logPath(gen)) }
            directory.syncDirectory()
            metrics.snapshot.recordInterval(since: start)
            logger.info(
                "snapshot written",
                metadata: [
                    "chat.generation": "\(generation)", "chat.bytes": "\(size)",
                    "chat.seconds": "\(start.duration(to: .now))",
                ]
            )
        } catch {
            logger.error("snapshot failed; the log keeps everything", metadata: ["error": "\(error)"])
        }
        condition.lock()
        snapshotRunning = false
        lastSnapshot = .now
        condition.unlock()
    }

    /// Refuses what waits for durability. A full disk is retried every second with nothing
    /// lost; any other failure stays until a restart.
    private func fail(_ error: StorageError) {
        let now = ContinuousClock.now
        condition.lock()
        failure = error
        if error.isRetryable {
            // Like Redis with its AOF: the write is tried again every second until it goes through.
            retryAt = now + retryDelay
        } else {
            retryAt = nil
        }
        let pending = waiters
        waiters = []
        // One line per distinct failure, then at most one a minute.
        var log = true
        if let last = lastLogged, last.message == error.description, last.at.duration(to: now) < .seconds(60) {
            log = false
        }
        if log { lastLogged = (error.description, now) }
        let retry = retryAt.map { now.duration(to: $0) }
        condition.unlock()
        if log {
            if let retry {
                logger.critical(
                    "storage failed (disk full?); changes are refused until a write succeeds again",
                    metadata: ["error": "\(error)", "chat.retry_in": "\(retry)"]
                )
            } else {
                logger.critical("storage failed; changes are refused until a restart", metadata: ["error": "\(error)"])
            }
        }
        for waiter in pending { waiter.continuation.resume(throwing: error) }
    }

    /// The writes went through again after a full disk.
    private func recovered() {
        condition.lock()
        failure = nil
        retryAt = nil
        lastLogged = nil
        let acked = ackedLSN
        condition.unlock()
        logger.notice("storage works again; changes are accepted", metadata: ["chat.lsn": "\(acked)"])
    }
}
