import ChatCore
import CoreMetrics
import Metrics

/// The server's metrics (no-ops until `MetricsSystem.bootstrap`; `chat-server` bootstraps
/// Prometheus and serves them on `/metrics`).
package struct ServerMetrics: Sendable {
    let connections = Gauge(label: "chat_connections")
    let messagesIn = Counter(label: "chat_messages_in_total")
    let messagesOut = Counter(label: "chat_messages_out_total")
    let deliveries = Counter(label: "chat_fanout_deliveries_total")

    package init() {}

    func rejected(_ code: ErrorCode) {
        Counter(label: "chat_requests_rejected_total", dimensions: [("code", code.rawValue)]).increment()
    }

    func setConnections(_ count: Int) { connections.record(count) }
}
