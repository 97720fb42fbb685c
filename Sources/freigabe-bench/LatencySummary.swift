import Foundation

/// Throughput and latency percentiles of one benchmark run.
struct LatencySummary {
    var count: Int
    var elapsed: Duration
    var sorted: [Duration]

    init(latencies: [Duration], elapsed: Duration) {
        self.count = latencies.count
        self.elapsed = elapsed
        self.sorted = latencies.sorted()
    }

    var perSecond: Double { Double(count) / elapsed.seconds }

    func percentile(_ fraction: Double) -> Duration {
        sorted.isEmpty ? .zero : sorted[min(sorted.count - 1, Int(Double(sorted.count) * fraction))]
    }

    var line: String {
        String(
            format: "%6d ops in %6.2f s = %8.1f /s   p50 %7.2f ms   p99 %7.2f ms   max %7.2f ms", count,
            elapsed.seconds,
            perSecond, percentile(0.5).milliseconds, percentile(0.99).milliseconds, (sorted.last ?? .zero).milliseconds)
    }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
    var milliseconds: Double { seconds * 1000 }
}
