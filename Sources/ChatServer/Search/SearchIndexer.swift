import ChatCore
import CoreMetrics
import Logging
import Metrics
import ServiceLifecycle
import Synchronization
import Tracing

/// Tuning of the background indexer.
package struct SearchIndexerConfiguration: Sendable {
    /// Most messages per batch (one SQLite transaction).
    package var batchSize: Int
    /// Pause after a batch that was not full, so a steady trickle is indexed in batches.
    package var idlePoll: Duration
    /// First pause after a failed write; it doubles per failure up to `retryMax`.
    package var retryBase: Duration
    /// Longest pause between retries.
    package var retryMax: Duration
    /// Shortest time between two purges of removed rows (see `SearchIndex.purge()`).
    package var purgeSpacing: Duration

    /// Creates a configuration with the defaults.
    ///
    /// - Parameters:
    ///   - batchSize: most messages per batch.
    ///   - idlePoll: pause after a batch that was not full.
    ///   - retryBase: first retry pause.
    ///   - retryMax: longest retry pause.
    package init(
        batchSize: Int = 2000,
        idlePoll: Duration = .milliseconds(25),
        retryBase: Duration = .milliseconds(100),
        retryMax: Duration = .seconds(5),
        purgeSpacing: Duration = .seconds(10)
    ) {
        self.batchSize = batchSize
        self.idlePoll = idlePoll
        self.retryBase = retryBase
        self.retryMax = retryMax
        self.purgeSpacing = purgeSpacing
    }
}

/// What the indexer has done so far (for tests and `/metrics`).
package struct SearchIndexerProgress: Sendable, Equatable {
    /// Messages stored in the index by this indexer.
    package var indexed: Int64 = 0
    /// Batches stored.
    package var batches: Int64 = 0
    /// Failed write attempts (each one retried).
    package var failures: Int64 = 0
    /// Purges of removed rows done (`SearchIndex.purge()`).
    package var purges: Int64 = 0
    /// Messages not yet searchable, as of the last batch.
    package var lag: Int64 = 0
}

/// The background service that keeps the search index up to date with the message log.
///
/// Each round asks the hub for the published messages after the indexer's cursors
/// (one short actor call that returns a copy), writes them and the advanced cursors in
/// one SQLite transaction on GRDB's writer queue, and only then moves its in-memory
/// cursors. A failed write is retried with exponential backoff and the cursors stay
/// put, so nothing is skipped; sending never waits for the indexer. After a restart
/// the indexer resumes from the cursors stored in the index.
package final class SearchIndexer: Service {
    let hub: RoomHub
    let index: any SearchIndexWriting
    let configuration: SearchIndexerConfiguration
    let logger: Logger
    let tracing: Bool
    let metrics = SearchMetrics()
    private let state = Mutex(SearchIndexerProgress())
    /// False until `activate()` when the indexer waits for the first search.
    private let active: Mutex<Bool>
    /// Finished by `activate()`: wakes a waiting indexer without polling.
    private let activation: AsyncStream<Void>
    private let activationContinuation: AsyncStream<Void>.Continuation

    /// Creates an indexer.
    ///
    /// - Parameters:
    ///   - hub: the hub whose messages are indexed.
    ///   - index: where batches go.
    ///   - configuration: batch size and timing.
    ///   - logger: logger.
    ///   - waitForFirstSearch: start indexing only at the first search (servers without a
    ///     data directory, i.e. tests, where most servers are never searched).
    ///   - tracing: whether each batch write makes a `chat.search.index_batch` span.
    package init(
        hub: RoomHub,
        index: any SearchIndexWriting,
        configuration: SearchIndexerConfiguration = SearchIndexerConfiguration(),
        logger: Logger,
        waitForFirstSearch: Bool = false,
        tracing: Bool = false
    ) {
        self.tracing = tracing
        self.hub = hub
        self.index = index
        self.configuration = configuration
        self.logger = logger
        self.active = Mutex(!waitForFirstSearch)
        (activation, activationContinuation) = AsyncStream.makeStream(of: Void.self)
        if !waitForFirstSearch { activationContinuation.finish() }
    }

    /// Starts an indexer that waits for the first search; no effect otherwise.
    package func activate() {
        let first = active.withLock { active in
            defer { active = true }
            return !active
        }
        if first { activationContinuation.finish() }
    }

    /// What the indexer has done so far.
    package var progress: SearchIndexerProgress { state.withLock { $0 } }

    package func run() async throws {
        await cancelWhenGracefulShutdown { await self.loop() }
    }

    /// The indexing loop; returns when the task is cancelled (after a purge still due).
    package func loop() async {
        var purgeDue = false
        var cursors: [String: IndexCursor]?
        await indexLoop(purgeDue: &purgeDue, cursors: &cursors)
        guard let cursors else { return }
        // Not cancelled with the loop: what was deleted before the stop must leave the index
        // files before the exit, so the last changes are indexed (a few batches at most) and
        // removed rows purged.
        let (hub, index, limit) = (self.hub, self.index, configuration.batchSize)
        let outcome = await Task.detached { () -> (indexed: Int64, purged: Bool) in
            var cursors = cursors
            var indexed: Int64 = 0
            for _ in 0..<8 {
                let batch = await hub.indexBatch(after: cursors, limit: limit)
                guard !batch.isEmpty, (try? await index.write(batch)) != nil else { break }
                cursors.merge(batch.cursors) { $1 }
                indexed += Int64(batch.messages.count)
                if !batch.removals.isEmpty || !batch.resets.isEmpty || !batch.expiries.isEmpty { purgeDue = true }
            }
            guard purgeDue else { return (indexed, false) }
            return (indexed, (try? await index.purge()) != nil)
        }.value
        state.withLock {
            $0.indexed += outcome.indexed
            if outcome.purged { $0.purges += 1 }
        }
    }

    private func indexLoop(purgeDue: inout Bool, cursors stored: inout [String: IndexCursor]?) async {
        var lastPurge: ContinuousClock.Instant?
        // Ends when activated (the stream finishes) or when the task is cancelled.
        for await _ in activation {}
        guard !Task.isCancelled else { return }
        var attempt = 0
        var cursors: [String: IndexCursor] = [:]
        while true {
            do {
                cursors = try await index.cursors()
                if try await index.purgePending() { purgeDue = true }
                break
            } catch {
                attempt += 1
                logger.warning("reading the search index cursors failed; retrying", metadata: ["error": "\(error)"])
                guard await pause(backoff(attempt)) else { return }
            }
        }
        stored = cursors
        defer { stored = cursors }
        while !Task.isCancelled {
            let batch = await hub.indexBatch(after: cursors, limit: configuration.batchSize)
            metrics.lag.record(batch.lag)
            state.withLock { $0.lag = batch.lag }
            if batch.isEmpty {
                if purgeDue, lastPurge.map({ $0.duration(to: .now) >= configuration.purgeSpacing }) ?? true {
                    do {
                        try await index.purge()
                        purgeDue = false
                        lastPurge = .now
                        state.withLock { $0.purges += 1 }
                    } catch {
                        if Task.isCancelled { return }
                        lastPurge = .now  // tried: try again after the spacing
                        logger.warning(
                            "purging removed rows from the search index failed",
                            metadata: ["error": "\(error)"]
                        )
                    }
                }
                guard await pause(configuration.idlePoll) else { return }
                continue
            }
            attempt = 0
            var lastWarning: (message: String, at: ContinuousClock.Instant)?
            while true {
                let start = ContinuousClock.now
                let span = tracing ? Spans.start("chat.search.index_batch", parent: nil) : nil
                span?.attributes["chat.search.batch"] = batch.messages.count
                span?.attributes["chat.search.attempt"] = attempt + 1
                do {
                    try await index.write(batch)
                    metrics.batch.recordInterval(since: start)
                    span?.end()
                    break
                } catch {
                    if let span {
                        span.recordError(error)
                        span.setStatus(SpanStatus(code: .error))
                        span.end()
                    }
                    // A write cut short by shutdown is not a failure: the cursor simply stays.
                    if Task.isCancelled { return }
                    attempt += 1
                    metrics.failures.increment()
                    state.withLock { $0.failures += 1 }
                    // One line per distinct failure, then at most one a minute (a full disk
                    // must not turn into a log storm).
                    let message = "\(error)"
                    if lastWarning == nil || lastWarning?.message != message
                        || lastWarning!.at.duration(to: start) >= .seconds(60)
                    {
                        lastWarning = (message, start)
                        logger.warning(
                            "writing a search index batch failed; retrying",
                            metadata: [
                                "error": "\(message)", "chat.search.attempt": "\(attempt)",
                                "chat.search.batch": "\(batch.messages.count)",
                            ]
                        )
                    }
                    guard await pause(backoff(attempt)) else { return }
                }
            }
            cursors.merge(batch.cursors) { $1 }
            if !batch.removals.isEmpty || !batch.resets.isEmpty || !batch.expiries.isEmpty { purgeDue = true }
            let indexed = Int64(batch.messages.count)
            metrics.indexed.increment(by: indexed)
            metrics.lag.record(batch.lag - indexed)
            state.withLock {
                $0.indexed += indexed
                $0.batches += 1
                $0.lag = batch.lag - indexed
            }
            logger.trace("search index batch stored", metadata: ["chat.search.batch": "\(indexed)"])
            if batch.messages.count < configuration.batchSize {
                guard await pause(configuration.idlePoll) else { return }
            }
        }
    }

    private func backoff(_ attempt: Int) -> Duration {
        let factor = 1 << min(attempt - 1, 16)
        return min(configuration.retryBase * factor, configuration.retryMax)
    }

    /// Sleeps; false when cancelled.
    private func pause(_ duration: Duration) async -> Bool {
        do {
            try await Task.sleep(for: duration)
            return true
        } catch {
            return false
        }
    }
}

/// The search metrics (no-ops until `MetricsSystem.bootstrap`).
struct SearchMetrics: Sendable {
    let lag = Gauge(label: "chat_search_index_lag_messages")
    let batch = CoreMetrics.Timer(label: "chat_search_index_batch_seconds")
    let indexed = Counter(label: "chat_search_indexed_messages_total")
    let failures = Counter(label: "chat_search_index_failures_total")
    let query = CoreMetrics.Timer(label: "chat_search_query_seconds")
}
