import ChatCore
import CoreMetrics
import Metrics

/// The server's metrics (no-ops until `MetricsSystem.bootstrap`; `chat-server` bootstraps
/// Prometheus and serves them on `/metrics`).
package final class ServerMetrics: Sendable {
    let connections = Gauge(label: "chat_connections")
    let messagesIn = Counter(label: "chat_messages_in_total")
    let messagesOut = Counter(label: "chat_messages_out_total")
    let deliveries = Counter(label: "chat_fanout_deliveries_total")
    let slowConsumerCloses = Counter(label: "chat_slow_consumer_closes_total")
    /// From a message's acceptance to its hand-off to the subscribers' queues (the durable
    /// wait included).
    let fanoutLag = CoreMetrics.Timer(label: "chat_fanout_lag_seconds")

    /// Uploads stored (`POST /v1/files` answered 201).
    let uploads = Counter(label: "chat_file_uploads_total")

    package init() {}

    /// Bytes the uploads hold (`chat_file_bytes`, the same bytes once) and how many blobs (`chat_files`).
    package static func setFileStore(files: Int, bytes: Int64) {
        Gauge(label: "chat_file_bytes").record(bytes)
        Gauge(label: "chat_files").record(files)
    }

    /// A download answered (200, 206 or 304) and the bytes it sent.
    package static func downloaded(bytes: Int64) {
        Counter(label: "chat_file_downloads_total").increment()
        Counter(label: "chat_file_download_bytes_total").increment(by: bytes)
    }

    /// An upload's bytes received (stored or not).
    package static func uploadedBytes(_ bytes: Int64) {
        Counter(label: "chat_file_upload_bytes_total").increment(by: bytes)
    }

    /// A file request refused, by reason: `too_large`, `quota`, `rate_limited`, `disk_full`, `unauthorized`,
    /// `not_found`, `bad_request`, `interrupted`, `unavailable`.
    package static func fileRefused(_ reason: String) {
        Counter(label: "chat_file_refused_total", dimensions: [("reason", reason)]).increment()
    }

    func rejected(_ code: ErrorCode) {
        Counter(label: "chat_requests_rejected_total", dimensions: [("code", code.rawValue)]).increment()
    }

    func setConnections(_ count: Int) { connections.record(count) }

    /// A login that did not authenticate, by reason: `bad_password`, `unknown_user`,
    /// `throttled` (or another refusal's error code).
    func loginFailed(_ reason: String) {
        Counter(label: "chat_login_failures_total", dimensions: [("reason", reason)]).increment()
    }

    /// Publishes the configured connection limit (`chat_connections_max`), what
    /// `chat_connections` is compared with.
    package static func setConnectionLimit(_ limit: Int) {
        Gauge(label: "chat_connections_max").record(limit)
    }
}
