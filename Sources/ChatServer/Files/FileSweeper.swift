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
                var first = true
                for await _ in wakeups {
                    await sweep(walkingTheStore: first)
                    first = false
                }
                group.cancelAll()
            }
        } onGracefulShutdown: {
            wake.finish()
        }
        if temporary { store.removeAll() }
    }

    /// One sweep: uploads first (their removal stored), then the bytes they held. The first
    /// sweep walks the whole store for bytes no upload holds (left by a crash or an offline
    /// `file remove`); later ones unlink only what the hub freed, so no sweep reads the store.
    func sweep(walkingTheStore: Bool) async {
        let decidedAt = ContinuousClock.now
        let sweep = await hub.sweepUploads()
        let removed =
            walkingTheStore
            ? await store.removeUnheld(sweep.held, decidedAt: decidedAt)
            : await store.remove(sweep.freed, decidedAt: decidedAt)
        if removed.files > 0 {
            logger.info(
                "removed stored files nothing refers to",
                metadata: ["chat.files": "\(removed.files)", "chat.bytes": "\(removed.bytes)"]
            )
        }
        ServerMetrics.setFileStore(files: sweep.stored.files, bytes: sweep.stored.bytes)
    }
}
