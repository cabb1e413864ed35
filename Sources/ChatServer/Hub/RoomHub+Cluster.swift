import ChatCore
import ChatLog
import Logging

/// `--cluster`: the shell's side of write turns (see `HubCore+Cluster.swift` and
/// `PostgresChatStore+Cluster.swift`). Every input that may change the state waits for the
/// store's next turn and runs inside it; nothing changes the state between turns except other
/// nodes' commits, applied in the database's order.
extension RoomHub {
    /// Runs `work` now, or on a cluster node inside the next write turn, and returns its result.
    ///
    /// - Parameters:
    ///   - work: the input: it feeds the core and performs the step, without suspending.
    func changing<T: Sendable>(_ work: @escaping @Sendable (isolated RoomHub) -> T) async -> T {
        guard let clusterStore else { return work(self) }
        return await withCheckedContinuation { (continuation: CheckedContinuation<T, Never>) in
            turnQueue.append { hub in continuation.resume(returning: work(hub)) }
            if turnQueue.count == 1 { clusterStore.requestTurn() }
        }
    }

    /// A write turn, called by the store inside its transaction: applies the other nodes' commits
    /// the turn read, then runs every input waiting for the turn. What they append is written
    /// in the same transaction.
    ///
    /// - Parameters:
    ///   - remote: other nodes' commits since this node's last turn or read, oldest first.
    package func runTurn(_ remote: [ClusterEntry]) throws(ClusterDivergence) {
        inTurn = true
        defer { inTurn = false }
        if !remote.isEmpty { perform(try core.applyRemote(remote)) }
        if core.hasDeferredDrains { perform(core.drainDeferred(at: clock.now())) }
        let queue = turnQueue
        turnQueue = []
        for work in queue { work(self) }
    }

    /// Other nodes' commits read between turns: applied, their messages and events delivered.
    ///
    /// - Parameters:
    ///   - remote: the commits, oldest first.
    package func applyRemote(_ remote: [ClusterEntry]) throws(ClusterDivergence) {
        perform(try core.applyRemote(remote))
    }

    /// The store cannot run turns (PostgreSQL is away): changes are refused from now on until it
    /// can (`checkStorageRecovered`), and the inputs waiting for a turn run now, refused.
    package func turnsFailed() {
        if !core.storageFailed {
            if !loggedStorageFailure {
                loggedStorageFailure = true
                logger.critical("cluster: PostgreSQL cannot be written; refusing changes")
            }
            perform(core.storageFailed(at: clock.now()))
        }
        let queue = turnQueue
        turnQueue = []
        for work in queue { work(self) }
    }

    /// Another node's presence, typing or heartbeat.
    ///
    /// - Parameters:
    ///   - node: the sending node's id.
    ///   - event: the event.
    package func applyEphemeral(from node: String, _ event: EphemeralEvent) {
        perform(core.applyEphemeral(from: node, event, at: clock.now()))
    }

    /// Forgets the users of nodes not heard from for a while (`HubCore.expireNodes`).
    package func expireNodes() {
        perform(core.expireNodes(at: clock.now()))
    }

    /// Hands a commit's records and events to the cluster store.
    func appendClustered(_ records: [LogRecord], commit: CommitID, to store: PostgresChatStore) -> UInt64 {
        if !inTurn {
            logger.error("a change was made outside a write turn", metadata: ["chat.records": "\(records.count)"])
        }
        return store.append(records, events: core.takeClusterEvents(commit))
    }
}
