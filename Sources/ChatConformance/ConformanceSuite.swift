#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Every conformance case, grouped by contract section.
package enum ConformanceSuite {
    /// All cases, in run order.
    package static var all: [ConformanceCase] {
        transport + frames + session + rooms + privateRooms + messages + changes + files + websocket + limits
    }

    /// Cases whose name contains the filter (all when nil).
    ///
    /// - Parameters:
    ///   - filter: substring of a case name.
    package static func cases(matching filter: String?) -> [ConformanceCase] {
        guard let filter, !filter.isEmpty else { return all }
        return all.filter { $0.name.contains(filter) }
    }
}

/// Milliseconds since the Unix epoch on this machine.
func wallClockMilliseconds() -> Int {
    var ts = timespec()
    clock_gettime(CLOCK_REALTIME, &ts)
    return Int(ts.tv_sec) * 1000 + Int(ts.tv_nsec) / 1_000_000
}
