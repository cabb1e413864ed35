import NIOCore

/// Connections opened by `openConnections`, in index order, and what failed.
struct OpenedConnections: Sendable {
    var connections: [BenchConnection]
    var failures: Int
    var firstError: String?
}

/// Opens `count` connections and runs `setup` on each, with at most `parallel` in set-up at once;
/// stops starting new ones after `deadline`. A connection whose set-up fails is closed and counted.
func openConnections(
    count: Int,
    parallel: Int,
    kind: BenchProtocol,
    target: BenchTarget,
    loop: any EventLoop,
    deadline: ContinuousClock.Instant,
    setup: @escaping @Sendable (BenchConnection, Int) async throws -> Void
) async -> OpenedConnections {
    await withTaskGroup(of: (Int, Result<BenchConnection, any Error>).self) { group in
        var result = OpenedConnections(connections: [], failures: 0, firstError: nil)
        var slots: [BenchConnection?] = Array(repeating: nil, count: count)
        var started = 0
        func startNext() {
            guard started < count, ContinuousClock.now < deadline else { return }
            let index = started
            started += 1
            group.addTask {
                do {
                    let conn = try await BenchConnection.open(kind, target, on: loop)
                    do {
                        try await setup(conn, index)
                    } catch {
                        conn.close()
                        throw error
                    }
                    return (index, .success(conn))
                } catch {
                    return (index, .failure(error))
                }
            }
        }
        for _ in 0..<min(parallel, count) { startNext() }
        while let (index, outcome) = await group.next() {
            switch outcome {
            case .success(let conn): slots[index] = conn
            case .failure(let error):
                result.failures += 1
                if result.firstError == nil { result.firstError = "connection \(index): \(error)" }
            }
            startNext()
        }
        result.failures += count - started
        if started < count, result.firstError == nil { result.firstError = "deadline passed after \(started)" }
        result.connections = slots.compactMap { $0 }
        return result
    }
}

/// Closes connections and lets the loop finish the closes.
func closeAll(_ connections: [BenchConnection], on loop: any EventLoop) async {
    try? await loop.submit {
        for conn in connections { conn.close() }
    }.get()
    try? await Task.sleep(for: .milliseconds(200))
}
