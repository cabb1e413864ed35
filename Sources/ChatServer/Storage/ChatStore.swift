import ChatLog
import ServiceLifecycle

/// Where state changes are kept. The hub applies every change in memory, hands
/// its records to the store in the same actor turn (`append`, synchronous, so the
/// log order is the apply order), and acknowledges the change only after
/// `waitDurable` returns, that is once the records are stored under the store's
/// durability policy.
package protocol ChatStore: Service {
    /// Rebuilds the state stored so far (empty for a new store).
    func recover() async throws -> ChatState

    /// Queues records, in order; returns their log sequence number.
    ///
    /// - Parameters:
    ///   - records: the changes, in the order they were applied.
    func append(_ records: [LogRecord]) -> UInt64

    /// Returns once everything up to `lsn` is stored; throws if storing failed.
    ///
    /// - Parameters:
    ///   - lsn: a number `append` returned.
    func waitDurable(_ lsn: UInt64) async throws

    /// Whether everything up to `lsn` is already stored, so `waitDurable` need not be awaited
    /// (false when storing failed).
    ///
    /// - Parameters:
    ///   - lsn: a number `append` returned.
    func isDurable(_ lsn: UInt64) -> Bool

    /// Whether the store would like a snapshot (log size or age).
    var snapshotDue: Bool { get }

    /// Takes a snapshot of `state`, which must include every record appended so far.
    ///
    /// - Parameters:
    ///   - state: a copy of the state, taken in the same turn as the last `append`.
    func snapshot(_ state: ChatState)

    /// What the last snapshot's compaction moved to the cold store, once (nil: nothing new); the
    /// hub drops it from memory (`ChatState.apply(_:)`) before it takes the next copy.
    func takeCompaction() -> Compaction?

    /// Whether a snapshot (and its compaction) is queued or being written.
    var isSnapshotRunning: Bool { get }
}

extension ChatStore {
    package func isDurable(_ lsn: UInt64) -> Bool { false }

    package func takeCompaction() -> Compaction? { nil }

    package var isSnapshotRunning: Bool { false }
}

/// The in-memory default: keeps nothing beyond the process (state lives in the hub).
package struct MemoryChatStore: ChatStore {
    /// Creates the store.
    package init() {}

    package func recover() async throws -> ChatState { ChatState() }

    package func append(_ records: [LogRecord]) -> UInt64 { 0 }

    package func waitDurable(_ lsn: UInt64) async throws {}

    package func isDurable(_ lsn: UInt64) -> Bool { true }

    package var snapshotDue: Bool { false }

    package func snapshot(_ state: ChatState) {}

    package func run() async throws {
        try? await gracefulShutdown()
    }
}
