/// Slows password guessing: after `freeAttempts` failures for a user name (known or not, so
/// there is no enumeration) or for a source address, each further attempt must wait
/// `base × 2^(extra failures - 1)`, capped at `maximum`, after the last failure — otherwise it is
/// answered `rate_limited` without checking the password. Failures are forgotten after `window`
/// seconds without one; a successful login clears its user's count.
package struct LoginThrottle: Sendable {
    private struct Record {
        var failures: Int
        var last: Double
    }

    package var freeAttempts: Int
    package var base: Double
    package var maximum: Double
    package var window: Double
    private var users: [String: Record] = [:]
    private var addresses: [String: Record] = [:]

    /// Creates a throttle.
    ///
    /// - Parameters:
    ///   - freeAttempts: failures allowed before delays start (per user; 4× per address).
    ///   - base: first delay in seconds.
    ///   - maximum: longest delay in seconds.
    ///   - window: seconds without a failure after which a count is forgotten.
    package init(freeAttempts: Int = 5, base: Double = 1, maximum: Double = 900, window: Double = 900) {
        self.freeAttempts = freeAttempts
        self.base = base
        self.maximum = maximum
        self.window = window
    }

    /// How long the caller must still wait (ms), or nil when an attempt is allowed now.
    ///
    /// - Parameters:
    ///   - user: the user name's fold key.
    ///   - address: the source address.
    ///   - now: monotonic seconds.
    package func wait(user: String, address: String, now: Double) -> Int64? {
        let waits = [
            delay(users[user], free: freeAttempts, now: now),
            delay(addresses[address], free: freeAttempts * 4, now: now),
        ].compactMap { $0 }
        guard let longest = waits.max() else { return nil }
        return Int64((longest * 1000).rounded(.up))
    }

    private func delay(_ record: Record?, free: Int, now: Double) -> Double? {
        guard let record, now - record.last < window, record.failures >= free else { return nil }
        let exponent = Double(min(30, record.failures - free))
        let required = min(maximum, base * pow2(exponent))
        let remaining = record.last + required - now
        return remaining > 0 ? remaining : nil
    }

    private func pow2(_ x: Double) -> Double {
        var result = 1.0
        for _ in 0..<Int(x) { result *= 2 }
        return result
    }

    /// Records a failed attempt.
    ///
    /// - Parameters:
    ///   - user: the user name's fold key.
    ///   - address: the source address.
    ///   - now: monotonic seconds.
    package mutating func failed(user: String, address: String, now: Double) {
        for key in [user] { users[key] = bump(users[key], now: now) }
        addresses[address] = bump(addresses[address], now: now)
        if users.count + addresses.count > 100_000 { forgetOld(now: now) }
    }

    /// Confirms an attempt counted up front was a failure: its delay runs from now (the
    /// password check took a while), the count stays.
    ///
    /// - Parameters:
    ///   - user: the user name's fold key.
    ///   - address: the source address.
    ///   - now: monotonic seconds.
    package mutating func confirmFailure(user: String, address: String, now: Double) {
        if let last = users[user]?.last { users[user]?.last = max(last, now) }
        if let last = addresses[address]?.last { addresses[address]?.last = max(last, now) }
    }

    /// Records a successful login whose attempt was counted as a failure up front (`failed`
    /// before the password was checked, so parallel guesses cannot all pass `wait`): the
    /// user's count is cleared and the address's takes the attempt back.
    ///
    /// - Parameters:
    ///   - user: the user name's fold key.
    ///   - address: the source address.
    package mutating func succeeded(user: String, address: String) {
        users[user] = nil
        guard var record = addresses[address] else { return }
        record.failures -= 1
        addresses[address] = record.failures > 0 ? record : nil
    }

    private func bump(_ record: Record?, now: Double) -> Record {
        guard let record, now - record.last < window else { return Record(failures: 1, last: now) }
        return Record(failures: record.failures + 1, last: now)
    }

    private mutating func forgetOld(now: Double) {
        users = users.filter { now - $0.value.last < window }
        addresses = addresses.filter { now - $0.value.last < window }
    }
}
