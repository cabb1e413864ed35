/// Publish→delivery latencies in 10 µs bins up to 20 s (later ones land in the last bin);
/// the maximum is kept exactly. Constant memory whatever the number of deliveries.
struct LatencyHistogram {
    private static let binNanoseconds: UInt64 = 10_000
    private var bins = [UInt32](repeating: 0, count: 2_000_000)
    private(set) var count = 0
    private(set) var maxNanoseconds: UInt64 = 0

    /// Adds one latency.
    mutating func record(nanoseconds: UInt64) {
        let bin = min(Int(nanoseconds / Self.binNanoseconds), bins.count - 1)
        bins[bin] &+= 1
        count += 1
        if nanoseconds > maxNanoseconds { maxNanoseconds = nanoseconds }
    }

    /// The q-quantile in milliseconds (bin midpoint, rounded to 0.01 ms); 0 when empty.
    func percentileMs(_ q: Double) -> Double {
        guard count > 0 else { return 0 }
        if q >= 1 { return Self.ms(maxNanoseconds) }
        let target = max(1, Int((q * Double(count)).rounded(.up)))
        var seen = 0
        for (bin, n) in bins.enumerated() {
            seen += Int(n)
            if seen >= target {
                return Self.ms(min(maxNanoseconds, UInt64(bin) * Self.binNanoseconds + Self.binNanoseconds / 2))
            }
        }
        return Self.ms(maxNanoseconds)
    }

    private static func ms(_ ns: UInt64) -> Double {
        (Double(ns) / 10_000).rounded() / 100
    }
}
