import CoreMetrics
import Metrics

/// The store's metrics (no-ops until `MetricsSystem.bootstrap`).
struct StoreMetrics: Sendable {
    let fsync = Timer(label: "chat_fsync_seconds")
    let snapshot = Timer(label: "chat_snapshot_seconds")
    let logBytes = Gauge(label: "chat_log_bytes")
    /// 1 while storage has failed and changes are refused, 0 otherwise.
    let failing = Gauge(label: "chat_storage_failing")

    func setLogBytes(_ bytes: Int) { logBytes.record(bytes) }
}

extension Timer {
    func recordInterval(since start: ContinuousClock.Instant) {
        let d = start.duration(to: .now)
        recordNanoseconds(d.components.seconds * 1_000_000_000 + d.components.attoseconds / 1_000_000_000)
    }
}
