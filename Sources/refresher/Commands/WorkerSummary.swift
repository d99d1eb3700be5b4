import AsyncHTTPClient
import Foundation
import RedisRefresher

/// One worker's totals in continuous mode: its summary JSON line, which `demo` reads.
struct WorkerSummary: Codable, Sendable {
    var requests = 0
    var ok = 0
    var unauthorized = 0
    var refreshCalls = 0
    var errors = 0
    var loggedOut = false
    var wakeMilliseconds: [Int64] = []
    /// The first ``errorLogLimit`` errors, each with its Unix time and kind (``errorKind(_:)``), so that the demo
    /// can tell the errors of a failover from the others; ``errors`` counts them all.
    var errorLog: [ErrorEvent] = []
    /// The longest time one task went without a served request (`GET /resource` answered 200), in milliseconds,
    /// and the Unix time it began; the pause between a task's requests is part of it.
    var longestGapMs: Int64 = 0
    var longestGapStart: Double = 0
    /// With several sessions, each one's counts by session name; absent with one.
    var sessions: [String: SessionCounts]?

    /// One session's part of a worker's totals.
    struct SessionCounts: Codable, Sendable, Equatable {
        var requests = 0
        var ok = 0
        var unauthorized = 0
        var errors = 0
        var loggedOut = false

        init() {}

        init(_ summary: WorkerSummary) {
            requests = summary.requests
            ok = summary.ok
            unauthorized = summary.unauthorized
            errors = summary.errors
            loggedOut = summary.loggedOut
        }

        mutating func merge(_ other: SessionCounts) {
            requests += other.requests
            ok += other.ok
            unauthorized += other.unauthorized
            errors += other.errors
            loggedOut = loggedOut || other.loggedOut
        }
    }

    /// The summary line a worker prints.
    var json: String {
        String(decoding: (try? JSONEncoder().encode(self)) ?? Data("{}".utf8), as: UTF8.self)
    }

    /// How many errors a worker times, at most.
    static let errorLogLimit = 1000

    /// One failed request.
    struct ErrorEvent: Codable, Sendable, Hashable {
        /// Unix time, in seconds.
        var t: Double
        var kind: String
    }

    mutating func recordError(_ kind: String, at time: Double) {
        errors += 1
        if errorLog.count < Self.errorLogLimit { errorLog.append(ErrorEvent(t: time, kind: kind)) }
    }

    /// Records a time without a served request, from `start` to `end` (Unix seconds), if it is the longest yet.
    mutating func recordGap(from start: Double, to end: Double) {
        let milliseconds = Int64(((end - start) * 1000).rounded())
        guard milliseconds > longestGapMs else { return }
        longestGapMs = milliseconds
        longestGapStart = start
    }

    mutating func merge(_ other: WorkerSummary) {
        requests += other.requests
        ok += other.ok
        unauthorized += other.unauthorized
        refreshCalls += other.refreshCalls
        errors += other.errors
        loggedOut = loggedOut || other.loggedOut
        wakeMilliseconds += other.wakeMilliseconds
        errorLog += other.errorLog.prefix(max(0, Self.errorLogLimit - errorLog.count))
        if other.longestGapMs > longestGapMs {
            longestGapMs = other.longestGapMs
            longestGapStart = other.longestGapStart
        }
        if let others = other.sessions {
            var merged = sessions ?? [:]
            for (name, counts) in others { merged[name, default: SessionCounts()].merge(counts) }
            sessions = merged
        }
    }

    /// A short name for an error a request failed with: the refresher's code (`redisUnavailable`, `timeout`, ...),
    /// `refresh <outcome>` for a refresh function's failure, `http <kind>` for the HTTP client's own; never a token.
    static func errorKind(_ error: any Error) -> String {
        switch error {
        case let error as RefresherError: "\(error.code)"
        case let failure as RefreshFailure: "refresh \(failure.outcome.rawValue)"
        case let error as HTTPClientError: "http \(error.shortDescription)"
        default: "\(type(of: error))"
        }
    }
}
