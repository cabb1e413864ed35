#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Wall-clock seconds since the Unix epoch.
func wallSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_REALTIME, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

/// Monotonic seconds.
func uptimeSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

/// The server's one source of time: the hub, the request pump and pings read it, and tests
/// inject their own.
package struct ServerClock: Sendable {
    /// The current time.
    package var now: @Sendable () -> HubTime

    /// Creates a clock.
    ///
    /// - Parameters:
    ///   - now: returns the current time.
    package init(now: @escaping @Sendable () -> HubTime) {
        self.now = now
    }

    /// The system's monotonic and wall clocks.
    package static let system = ServerClock {
        HubTime(monotonic: uptimeSeconds(), wallMs: Int64((wallSeconds() * 1000).rounded(.down)))
    }
}
