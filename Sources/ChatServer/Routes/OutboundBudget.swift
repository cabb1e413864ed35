import Synchronization

/// Byte budgets for what waits to be written to clients: one per connection (replies and
/// events together) and one for the replies of all connections together. Over either, the
/// connection is closed as a slow consumer (4001); a large reply that would not fit is
/// refused before it is built (`fits`).
package final class OutboundBudget: Sendable {
    /// Most bytes queued for one connection.
    package let perConnection: Int
    /// Most bytes of replies queued for all connections together.
    package let total: Int
    private let used = Atomic<Int>(0)

    /// Creates budgets.
    ///
    /// - Parameters:
    ///   - perConnection: most bytes queued for one connection.
    ///   - total: most bytes of replies queued for all connections together.
    package init(perConnection: Int, total: Int) {
        self.perConnection = perConnection
        self.total = total
    }

    /// Bytes of replies queued now, over all connections.
    package var inUse: Int { used.load(ordering: .relaxed) }

    /// Takes `bytes` from the total; false (nothing taken) when they would go over it.
    func reserve(_ bytes: Int) -> Bool {
        var current = used.load(ordering: .relaxed)
        while true {
            guard current + bytes <= total else { return false }
            let (exchanged, original) = used.compareExchange(
                expected: current,
                desired: current + bytes,
                ordering: .relaxed
            )
            if exchanged { return true }
            current = original
        }
    }

    /// Gives bytes back to the total.
    func release(_ bytes: Int) {
        guard bytes > 0 else { return }
        used.subtract(bytes, ordering: .relaxed)
    }
}
