/// Checks `condition` every `interval` until it holds or `timeout` has passed.
///
/// - Parameters:
///   - timeout: how long to keep checking.
///   - interval: the pause between checks.
///   - condition: what to wait for.
/// - Returns: whether `condition` held before the timeout.
func eventually(
    within timeout: Duration,
    every interval: Duration = .milliseconds(5),
    _ condition: () async throws -> Bool
) async throws -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return true }
        try await Task.sleep(for: interval)
    }
    return false
}
