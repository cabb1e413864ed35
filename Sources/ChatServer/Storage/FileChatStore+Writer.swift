import ChatLog
import CoreMetrics
import Foundation
import Logging
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The writer thread: writes queued records in order, fsyncs by policy, rotates the log for
/// snapshots, and retries writes refused by a full disk.
extension FileChatStore {

    func writerLoop() {
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
    func fsyncDue() -> Bool {
        configuration.fsync == .everysec && dirty && lastFsync.duration(to: .now) >= .seconds(1)
    }

    /// Writes queued records (and rotates where asked). When the disk is full, what was not
    /// written goes back to the front of the queue, in order, for the retry.
    func process(_ items: [Item]) throws {
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
    func requeue(_ items: [Item]) {
        condition.lock()
        defer { condition.unlock() }
        for item in items {
            if case .records(let bytes, _) = item { queuedBytes += bytes.count }
        }
        queue.insert(contentsOf: items, at: 0)
    }

    func writeAndAcknowledge(_ buffer: inout [UInt8], upTo lsn: UInt64) throws {
        if !buffer.isEmpty {
            do {
                try buffer.withUnsafeBytes {
                    try DataDirectory.writeAll(logFD, $0, path: directory.logPath(generation))
                }
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

    func sync() throws {
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

    func rotate(snapshotting state: ChatState) throws {
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

    /// Compacts (messages beyond each room's window go to the cold store, committed as
    /// `generation`), then writes snapshot `generation` of what stays in memory. A compaction
    /// that fails is rolled back and the snapshot then holds every message; once the cold store
    /// is committed, the hub is told to drop what moved even if the snapshot then fails (the
    /// logs since the previous snapshot stay, and a restart opens the cold store as that
    /// snapshot's commit left it).
    func writeSnapshot(_ state: ChatState, generation: Int) {
        let start = ContinuousClock.now
        var snapshot = state
        var compaction: Compaction?
        var coldBodies = false
        if let cold, !locked({ compactionBroken }) {
            // Retention runs with at most one snapshot per check interval, so a failing one
            // (rolled back below) is not retried at once.
            let expireBefore: Int64? = locked {
                guard retentionDue, let retention = configuration.retention else { return nil }
                lastRetention = .now
                return Int64((wallSeconds() * 1000).rounded(.down)) - Int64(retention / .milliseconds(1))
            }
            do {
                compaction = try Compaction.run(
                    &snapshot,
                    policy: configuration.hotWindow,
                    expireBefore: expireBefore,
                    generation: generation
                ) {
                    testPause("compaction appended, not committed")
                }
                if compaction != nil { testPause("compaction committed, snapshot not written") }
            } catch {
                logger.error(
                    "compaction failed; this snapshot keeps every message",
                    metadata: ["error": "\(error)", "chat.generation": "\(generation)"]
                )
                snapshot = state
                coldBodies = true
                metrics.compactionFailures.increment()
                if expireBefore != nil, let interval = configuration.retentionCheckInterval,
                    interval > Self.retentionRetry
                {
                    // Retention is tried again in 5 minutes, not a whole interval later.
                    locked { lastRetention = .now - (interval - Self.retentionRetry) }
                }
                do {
                    try cold.rollback()
                } catch {
                    logger.error(
                        "the cold store could not be rolled back; no compaction until a restart",
                        metadata: ["error": "\(error)"]
                    )
                    locked { compactionBroken = true }
                }
            }
        } else if state.hasColdMessages {
            coldBodies = true
        }
        let compacted = start.duration(to: .now)
        do {
            let size = try SnapshotFile.write(snapshot, generation: generation, in: directory, coldBodies: coldBodies)
            let (snapshots, logs) = try directory.generations()
            for gen in snapshots where gen < generation { unlink(directory.snapshotPath(gen)) }
            for gen in logs where gen < generation { unlink(directory.logPath(gen)) }
            directory.syncDirectory()
            if compaction != nil { cold?.forget(before: generation) }
            if let cold { metrics.setCold(cold) }
            metrics.snapshot.recordInterval(since: start)
            logger.info(
                "snapshot written",
                metadata: [
                    "chat.generation": "\(generation)", "chat.bytes": "\(size)",
                    "chat.seconds": "\(start.duration(to: .now))",
                    "chat.compaction_seconds": "\(compacted)",
                    "chat.rooms_compacted": "\(compaction?.rooms.count ?? 0)",
                    "chat.rooms_expired": "\(compaction?.rooms.values.count { $0.expiry != nil } ?? 0)",
                ]
            )
        } catch {
            logger.error("snapshot failed; the log keeps everything", metadata: ["error": "\(error)"])
        }
        condition.lock()
        if let compaction, !compaction.rooms.isEmpty {
            pendingCompaction = compaction
            compactionReady.store(true, ordering: .releasing)
        }
        snapshotRunning = false
        lastSnapshot = .now
        condition.unlock()
    }

    /// For the crash tests only: with `CHAT_SERVER_TEST_PAUSE_COMPACTION_MS` set, logs where the
    /// compaction is and waits that long, so a test can `kill -9` the server right there.
    func testPause(_ point: String) {
        guard let pause = Self.testCompactionPause else { return }
        logger.notice("test pause: \(point)")
        Thread.sleep(forTimeInterval: Double(pause) / 1000)
    }

    /// How soon a compaction that failed while expiring messages runs retention again.
    static let retentionRetry: Duration = .seconds(300)

    static let testCompactionPause = ProcessInfo.processInfo.environment["CHAT_SERVER_TEST_PAUSE_COMPACTION_MS"]
        .flatMap { Int($0) }

    /// Refuses what waits for durability. A full disk is retried every second with nothing
    /// lost; any other failure stays until a restart.
    func fail(_ error: StorageError) {
        let now = ContinuousClock.now
        condition.lock()
        failure = error
        if error.isRetryable {
            // Like Redis with its AOF: the write is tried again every second until it goes through.
            retryAt = now + retryDelay
            // The writer may be waiting without a timeout (nothing was dirty when a direct write
            // from `append` failed): wake it to wait for the retry instead.
            condition.signal()
        } else {
            retryAt = nil
        }
        let pending = waiters
        waiters = []
        metrics.failing.record(1)
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
    func recovered() {
        condition.lock()
        failure = nil
        retryAt = nil
        lastLogged = nil
        let acked = ackedLSN
        condition.unlock()
        metrics.failing.record(0)
        logger.notice("storage works again; changes are accepted", metadata: ["chat.lsn": "\(acked)"])
    }
}
