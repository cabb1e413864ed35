import Logging
import ServiceLifecycle

/// Removes uploads nobody can reach and the bytes no upload holds: at start, every minute,
/// and right after a delete leaves an upload without messages.
package struct FileSweeper: Service {
    let hub: RoomHub
    let store: FileStore
    let logger: Logger
    /// Between sweeps when nothing wakes it.
    let interval: Duration
    /// Remove the whole store at shutdown (a server without a data directory).
    let temporary: Bool

    package func run() async throws {
        let (wakeups, wake) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
        await hub.onOrphanedFiles(wake)
        wake.yield()
        let interval = self.interval
        await withGracefulShutdownHandler {
            await withTaskGroup(of: Void.self) { group in
                group.addTask {
                    while !Task.isCancelled {
                        try? await Task.sleep(for: interval)
                        wake.yield()
                    }
                }
                for await _ in wakeups { await sweep() }
                group.cancelAll()
            }
        } onGracefulShutdown: {
            wake.finish()
        }
        if temporary { store.removeAll() }
    }

    /// One sweep: uploads first (their removal stored), then the bytes nothing holds.
    func sweep() async {
        let decidedAt = ContinuousClock.now
        let held = await hub.sweepUploads()
        let removed = await store.removeUnheld(held, decidedAt: decidedAt)
        if removed.files > 0 {
            logger.info(
                "removed stored files nothing refers to",
                metadata: ["chat.files": "\(removed.files)", "chat.bytes": "\(removed.bytes)"]
            )
        }
        let usage = await store.usage()
        ServerMetrics.setFileStore(files: usage.files, bytes: usage.bytes)
    }
}
