/// When one session's credentials are due for a refresh ahead of their expiry.
///
/// The window is ``RefresherConfiguration/refreshAhead``, capped at half the token's lifetime. Without spread every
/// session refreshes at the start of its window, so sessions whose tokens were issued together (a deployment, a
/// batch of logins) would all refresh in the same second. With a spread `s`, a session refreshes ahead at a point
/// inside the first `s` of its window: between the window (the earliest) and `window × (1 − s)` (the latest) before
/// expiry. The point is fixed by the session's name through a stable hash, so every process of the fleet picks the
/// same instant for a session, and a thousand sessions with the same expiry spread evenly over the window.
///
/// A value type without I/O, unit-tested on its own.
struct RefreshAheadSchedule: Sendable, Hashable {
    /// The configured window (``RefresherConfiguration/refreshAhead``).
    let window: Duration
    /// How far into the window this session's refresh starts, as a share of the window: `spread × position`, in
    /// `0 ..< spread`.
    let delayFraction: Double

    /// The schedule of `session`, with a window of `window` spread over `spread` (0...1) of it.
    init(window: Duration, spread: Double, session: String) {
        self.window = window
        self.delayFraction = min(max(spread, 0), 1) * Self.position(of: session)
    }

    /// How long before `expiresAt` a refresh ahead starts for a token stored at `refreshedAt` (milliseconds since
    /// the Unix epoch): the window, capped at half the lifetime so short-lived tokens are not refreshed over and
    /// over, minus this session's share of the spread. Never more than the capped window, never negative.
    func leadMilliseconds(expiresAt: Int64, refreshedAt: Int64?) -> Int64 {
        var margin = window.wholeMilliseconds
        if let refreshedAt, expiresAt > refreshedAt { margin = min(margin, (expiresAt - refreshedAt) / 2) }
        let delay = Int64((Double(margin) * delayFraction).rounded(.down))
        return max(0, margin - delay)
    }

    /// The instant (milliseconds since the Unix epoch) from which reads of a token that expires at `expiresAt` start a
    /// refresh ahead.
    func dueMilliseconds(expiresAt: Int64, refreshedAt: Int64?) -> Int64 {
        expiresAt - leadMilliseconds(expiresAt: expiresAt, refreshedAt: refreshedAt)
    }

    /// The session's place in the spread, in `0 ..< 1`: the top 53 bits of a 64-bit FNV-1a hash of its name (UTF-8),
    /// finished with SplitMix64's mixer. Stable across processes, runs and platforms (unlike `Hasher`, which is seeded
    /// per process); the mixer matters because FNV-1a alone barely moves its high bits for names that differ only in
    /// their last characters (`tenant-0001`, `tenant-0002`).
    static func position(of session: String) -> Double {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in session.utf8 {
            hash ^= UInt64(byte)
            hash &*= 0x0000_0100_0000_01b3
        }
        hash = (hash ^ (hash >> 30)) &* 0xbf58_476d_1ce4_e5b9
        hash = (hash ^ (hash >> 27)) &* 0x94d0_49bb_1331_11eb
        hash ^= hash >> 31
        return Double(hash >> 11) / Double(UInt64(1) << 53)
    }
}
