/// A token bucket: `rate` tokens per second up to `burst`.
package struct TokenBucket: Sendable, Equatable {
    package var rate: Double
    package var burst: Double
    package var tokens: Double
    package var updated: Double

    /// Creates a full bucket.
    ///
    /// - Parameters:
    ///   - rate: refill per second.
    ///   - burst: capacity.
    ///   - now: current time in seconds.
    package init(rate: Double, burst: Int, now: Double) {
        self.rate = rate
        self.burst = Double(burst)
        self.tokens = Double(burst)
        self.updated = now
    }

    /// Takes one token, or returns how many milliseconds until one is available.
    ///
    /// - Parameters:
    ///   - now: current time in seconds (monotonic).
    package mutating func take(now: Double) -> Int64? {
        take(cost: 1, now: now)
    }

    /// Takes `cost` tokens (at most `burst`, so any cost can be paid once the bucket is full),
    /// or returns how many milliseconds until they are available and takes none.
    ///
    /// - Parameters:
    ///   - cost: tokens to take.
    ///   - now: current time in seconds (monotonic).
    package mutating func take(cost: Double, now: Double) -> Int64? {
        if now > updated {
            tokens = min(burst, tokens + (now - updated) * rate)
            updated = now
        }
        if let wait = wait(cost: cost, now: now) { return wait }
        tokens -= min(cost, burst)
        return nil
    }

    /// How many milliseconds until `cost` tokens are available (nil: now), taking none.
    ///
    /// - Parameters:
    ///   - cost: tokens wanted (at most `burst` counts).
    ///   - now: current time in seconds (monotonic).
    package func wait(cost: Double, now: Double) -> Int64? {
        let available = now > updated ? min(burst, tokens + (now - updated) * rate) : tokens
        let cost = min(cost, burst)
        if available >= cost { return nil }
        guard rate > 0 else { return 60_000 }
        return max(1, Int64(((cost - available) / rate * 1000).rounded(.up)))
    }
}

/// A sliding one-minute window of protocol errors on a connection.
package struct ProtocolErrorWindow: Sendable {
    private var times: [Double] = []
    package let limit: Int
    package let window: Double

    /// Creates a window.
    ///
    /// - Parameters:
    ///   - limit: errors tolerated within `window`.
    ///   - window: seconds.
    package init(limit: Int = 10, window: Double = 60) {
        self.limit = limit
        self.window = window
    }

    /// Records an error; returns true when the limit is exceeded.
    ///
    /// - Parameters:
    ///   - now: current time in seconds (monotonic).
    package mutating func record(now: Double) -> Bool {
        times.removeAll { $0 <= now - window }
        times.append(now)
        return times.count > limit
    }
}
