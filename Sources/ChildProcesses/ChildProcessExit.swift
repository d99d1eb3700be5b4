import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Waits for a child to exit without reaping it: it stays a zombie, its pid and process descriptor valid, until
/// `Subprocess.run` reaps it.
enum ChildProcessExit {
    /// Returns once the child `pid` has exited (or cannot be waited for). Most children have exited by the time their
    /// output ends; one that outlives its output (`exec >&- 2>&-`) is waited for by a thread of its own, blocked in
    /// `waitid`, never by a thread of Swift's cooperative pool.
    static func wait(for pid: pid_t) async {
        if hasExited(pid, blocking: false) { return }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let thread = Thread {
                _ = hasExited(pid, blocking: true)
                continuation.resume()
            }
            thread.name = "ChildProcess.exit.\(pid)"
            thread.start()
        }
    }

    /// Whether `pid` has exited; `blocking` waits until it has. `WNOWAIT` leaves it unreaped. A pid that cannot be
    /// waited for (`ECHILD`: not a child, or reaped already) counts as exited.
    private static func hasExited(_ pid: pid_t, blocking: Bool) -> Bool {
        var info = siginfo_t()
        let flags = WEXITED | WNOWAIT | (blocking ? 0 : WNOHANG)
        while waitid(P_PID, id_t(pid), &info, flags) == -1 {
            if errno != EINTR { return true }
        }
        // With WNOHANG and no exited child, waitid leaves `info` zeroed.
        return info.si_signo != 0
    }
}
