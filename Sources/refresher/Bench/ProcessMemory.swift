import Foundation

/// The memory of this process as the kernel counts it.
enum ProcessMemory {
    /// The resident set size (`VmRSS` in `/proc/self/status`), in kilobytes; 0 where there is no `/proc`.
    static func residentKilobytes() -> Int {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") })
        else { return 0 }
        return Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0
    }
}
