import CoreMetrics
import Metrics

/// The store's metrics (no-ops until `MetricsSystem.bootstrap`).
struct StoreMetrics: Sendable {
    let fsync = Timer(label: "chat_fsync_seconds")
    let snapshot = Timer(label: "chat_snapshot_seconds")
    let logBytes = Gauge(label: "chat_log_bytes")
    /// 1 while storage has failed and changes are refused, 0 otherwise.
    let failing = Gauge(label: "chat_storage_failing")
    /// Messages in the cold store and the bytes of its files (issue 16), after each compaction.
    let coldMessages = Gauge(label: "chat_cold_messages")
    let coldBytes = Gauge(label: "chat_cold_bytes")
    /// Compactions that failed (rolled back; that snapshot kept every message).
    let compactionFailures = Counter(label: "chat_compaction_failures_total")

    func setCold(_ store: FileColdStore) {
        coldMessages.record(store.heads().values.reduce(0, +))
        coldBytes.record(store.bytes)
    }

    func setLogBytes(_ bytes: Int) { logBytes.record(bytes) }
}

extension Timer {
    func recordInterval(since start: ContinuousClock.Instant) {
        let d = start.duration(to: .now)
        recordNanoseconds(d.components.seconds * 1_000_000_000 + d.components.attoseconds / 1_000_000_000)
    }
}
