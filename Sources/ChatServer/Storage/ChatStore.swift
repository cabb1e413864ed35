import ServiceLifecycle

/// Where state changes are kept. The hub applies every change in memory and
/// appends its record here; `append` returns once the record is stored under the
/// store's durability policy, and only then is the change acknowledged.
package protocol ChatStore: Service {
    /// Rebuilds the state stored so far (empty for a new store).
    func recover() async throws -> ChatState

    /// Stores records, in order.
    ///
    /// - Parameters:
    ///   - records: the changes, in the order they were applied.
    func append(_ records: [LogRecord]) async throws
}

/// The in-memory default: keeps nothing beyond the process (state lives in the hub).
package struct MemoryChatStore: ChatStore {
    /// Creates the store.
    package init() {}

    package func recover() async throws -> ChatState { ChatState() }

    package func append(_ records: [LogRecord]) async throws {}

    package func run() async throws {
        try? await gracefulShutdown()
    }
}
