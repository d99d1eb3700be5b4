import Testing

@testable import RedisRefresher

/// Where each session's refresh ahead of expiry falls in its window, without a server.
@Suite("Refresh-ahead spread")
struct RefreshAheadScheduleTests {
    static let names = (0..<1000).map { "tenant-\($0)" }
    static let expiresAt: Int64 = 1_700_000_000_000
    /// Issued long before: the half-lifetime cap does not apply.
    static let refreshedAt: Int64 = expiresAt - 86_400_000

    @Test("A session's place in the spread depends only on its name, the same in every process and run")
    func deterministic() {
        // Fixed values: processes of one fleet (and of different versions) must agree.
        #expect(RefreshAheadSchedule.position(of: "crm-api") == RefreshAheadSchedule.position(of: "crm-api"))
        #expect(RefreshAheadSchedule.position(of: "crm-api") == Self.crmAPIPosition)
        #expect(RefreshAheadSchedule.position(of: "") == Self.emptyPosition)
        let first = RefreshAheadSchedule(window: .seconds(60), spread: 1, session: "tenant-7")
        let second = RefreshAheadSchedule(window: .seconds(60), spread: 1, session: "tenant-7")
        #expect(first == second)
        #expect(first != RefreshAheadSchedule(window: .seconds(60), spread: 1, session: "tenant-8"))
    }

    static let crmAPIPosition = 0.923_159_141_595_907_5
    static let emptyPosition = 0.957_673_425_242_056_1

    @Test("The lead stays between the window and the window less its spread share", arguments: [0, 0.25, 0.5, 1])
    func withinBounds(spread: Double) {
        let window: Int64 = 600_000
        for name in Self.names {
            let schedule = RefreshAheadSchedule(window: .milliseconds(window), spread: spread, session: name)
            let lead = schedule.leadMilliseconds(expiresAt: Self.expiresAt, refreshedAt: Self.refreshedAt)
            #expect(lead <= window)
            #expect(Double(lead) >= Double(window) * (1 - spread) - 1, "\(name): \(lead) ms")
            #expect(lead >= 0)
            #expect(
                schedule.dueMilliseconds(expiresAt: Self.expiresAt, refreshedAt: Self.refreshedAt)
                    == Self.expiresAt - lead
            )
            if spread == 0 { #expect(lead == window) }
        }
    }

    @Test("The window is capped at half the token's lifetime before the spread applies")
    func cappedAtHalfLifetime() {
        // A 10-minute token with a 1-hour window: the window is 5 minutes.
        let refreshedAt = Self.expiresAt - 600_000
        for name in Self.names {
            let schedule = RefreshAheadSchedule(window: .seconds(3600), spread: 0.5, session: name)
            let lead = schedule.leadMilliseconds(expiresAt: Self.expiresAt, refreshedAt: refreshedAt)
            #expect(lead <= 300_000)
            #expect(lead >= 150_000)
        }
        // An unknown issue time, or one after the expiry: no cap.
        let schedule = RefreshAheadSchedule(window: .seconds(60), spread: 0, session: "a")
        #expect(schedule.leadMilliseconds(expiresAt: Self.expiresAt, refreshedAt: nil) == 60_000)
        #expect(schedule.leadMilliseconds(expiresAt: Self.expiresAt, refreshedAt: Self.expiresAt + 5) == 60_000)
    }

    @Test("A thousand sessions with the same expiry spread evenly over the window, a few per second at most")
    func uniform() {
        let window: Int64 = 600_000
        let dues = Self.names.map { name in
            RefreshAheadSchedule(window: .milliseconds(window), spread: 1, session: name)
                .dueMilliseconds(expiresAt: Self.expiresAt, refreshedAt: Self.refreshedAt)
        }
        // Ten buckets of a minute each: 100 expected in each; chi-square with 9 degrees of freedom under 27.9
        // (p = 0.001 for a truly uniform hash).
        var buckets = [Int](repeating: 0, count: 10)
        for due in dues { buckets[Int((due - (Self.expiresAt - window)) / 60_000)] += 1 }
        let chiSquare = buckets.reduce(0.0) { $0 + Double(($1 - 100) * ($1 - 100)) / 100 }
        #expect(chiSquare < 27.9, "\(buckets)")
        // 1,000 sessions over 600 seconds: 1.7 per second on average, never a crowd.
        var perSecond: [Int64: Int] = [:]
        for due in dues { perSecond[due / 1000, default: 0] += 1 }
        #expect(perSecond.values.max() ?? 0 <= 8, "\(perSecond.values.max() ?? 0) in one second")
        #expect(Set(dues).count >= 995)
        // Names that differ only in their last character land far apart (the mixer at work).
        let neighbours = (0..<10).map { RefreshAheadSchedule.position(of: "tenant-000\($0)") }
        #expect(neighbours.max()! - neighbours.min()! > 0.5, "\(neighbours)")
    }

    @Test("The spread setting is clamped to 0...1 by the schedule (validation refuses others earlier)")
    func clamped() {
        let over = RefreshAheadSchedule(window: .seconds(60), spread: 7, session: "x")
        let one = RefreshAheadSchedule(window: .seconds(60), spread: 1, session: "x")
        #expect(over == one)
        let under = RefreshAheadSchedule(window: .seconds(60), spread: -1, session: "x")
        #expect(under.delayFraction == 0)
    }
}
