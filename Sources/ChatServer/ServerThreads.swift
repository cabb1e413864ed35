import Foundation
import NIOCore
import NIOPosix

#if canImport(Glibc)
import Glibc
#endif

/// The threads that serve sockets and run the hub: NIO's singleton event-loop group, sized to
/// the CPUs the process may run on, with Swift concurrency's global executor on the same
/// threads so a request, the hub's turn and the writes it causes do not change threads.
package enum ServerThreads {
    /// The CPUs this process may run on: its affinity mask (`taskset`, a cpuset), bounded by
    /// NIO's core count (which follows cgroup CPU quotas). NIO alone counts every online CPU,
    /// so a server pinned to one core would run two or more event loops competing for it.
    package static var availableCPUs: Int {
        #if os(Linux)
        // sched_getaffinity is not in Swift's Glibc module (it needs _GNU_SOURCE); the kernel
        // prints the same mask in /proc/self/status.
        if let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("Cpus_allowed_list:") }),
            let allowed = cpuCount(list: line.dropFirst("Cpus_allowed_list:".count)), allowed > 0
        {
            return min(allowed, System.coreCount)
        }
        #endif
        return System.coreCount
    }

    /// The number of CPUs in a kernel CPU list ("0-3,8,10-11"); nil when it is not one.
    ///
    /// - Parameters:
    ///   - list: the list, spaces and tabs around it ignored.
    package static func cpuCount(list: Substring) -> Int? {
        let trimmed = list.trimmingPrefix(while: { $0 == " " || $0 == "\t" })
        guard !trimmed.isEmpty else { return nil }
        var count = 0
        for part in trimmed.split(separator: ",", omittingEmptySubsequences: false) {
            let bounds = part.split(separator: "-", omittingEmptySubsequences: false)
            guard (1...2).contains(bounds.count), let first = Int(bounds[0]), first >= 0 else { return nil }
            let last = bounds.count == 2 ? Int(bounds[1]) : first
            guard let last, last >= first else { return nil }
            count += last - first + 1
        }
        return count
    }

    /// What `configure` did.
    package struct Setup: Sendable, Equatable {
        /// Event loops in the singleton group.
        package var eventLoops: Int
        /// Whether Swift concurrency's global executor runs on them.
        package var concurrencyOnEventLoops: Bool
    }

    /// Sizes the singleton group and puts Swift concurrency's global executor on it. Call it
    /// once, first thing in the server's process (before anything uses NIO's singletons).
    ///
    /// - Parameters:
    ///   - eventLoops: event loops wanted; 0 takes `availableCPUs` (unless
    ///     `NIO_SINGLETON_GROUP_LOOP_COUNT` is set, which NIO then follows).
    ///   - concurrencyOnEventLoops: whether to install the group as the global executor.
    /// - Returns: what was set up.
    package static func configure(eventLoops: Int, concurrencyOnEventLoops: Bool) -> Setup {
        if eventLoops > 0 {
            NIOSingletons.groupLoopCountSuggestion = eventLoops
        } else if getenv("NIO_SINGLETON_GROUP_LOOP_COUNT") == nil {
            NIOSingletons.groupLoopCountSuggestion = availableCPUs
        }
        let installed =
            concurrencyOnEventLoops
            && NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()
        return Setup(eventLoops: NIOSingletons.groupLoopCountSuggestion, concurrencyOnEventLoops: installed)
    }
}
