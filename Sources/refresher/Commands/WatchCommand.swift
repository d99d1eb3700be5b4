import ArgumentParser
import Dispatch
import Foundation
import RedisClient
import RedisRefresher
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// `refresher watch`: prints a session's events live (refreshed, failed, released, replaced), each with the local
/// time it arrived, plus `gap` when the subscription was lost and resumed (events may have been missed then).
///
/// Runs until SIGINT/SIGTERM (exit 0), until `--count` published events were printed (exit 0), or until
/// `--timeout` (exit 0 without `--count`; exit 1 when fewer than `--count` events arrived). Once the server has
/// confirmed the subscription it writes `watching <channel>` to stderr: every event published after that line is
/// printed.
struct WatchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "watch",
        abstract: "Print a session's events live (refreshed, failed, released, replaced) until interrupted."
    )

    @OptionGroup var options: SessionOptions

    @Flag(name: .long, help: "Print one JSON object per event and line.")
    var json = false

    @Option(name: .long, help: "Exit after this many published events (gaps are not counted).")
    var count: Int?

    @Option(name: .long, help: "Exit after this many seconds (exit code 1 if --count events did not arrive by then).")
    var timeout: Double?

    func validate() throws {
        if let count, count <= 0 { throw ValidationError("--count must be positive") }
        if let timeout, !(timeout.isFinite && timeout > 0 && timeout <= 1e9) {
            throw ValidationError("--timeout must be a positive number of seconds")
        }
    }

    private enum Outcome: Sendable {
        case counted, signal, timedOut, subscriptionEnded
    }

    func run() async throws {
        let keys = try options.keys()
        let configuration = try options.redisConfiguration(clientName: "refresher-watch")
        let subscriber: RedisSubscriber
        do {
            subscriber = try RedisSubscriber(configuration: configuration, name: "refresher-watch")
        } catch {
            throw CLIError("bad Redis URL: \(error.message)")
        }
        defer { subscriber.close() }

        // Signals become values of a stream, so stopping is one more racing task rather than a handler that calls
        // exit() under the subscription.
        let signals = try SignalPipe.stream(of: [SIGINT, SIGTERM])

        let printed = Counter()
        let (json, count, timeout) = (self.json, self.count, self.timeout)
        let outcome = try await Operator.talkingTo(configuration) {
            try await withThrowingTaskGroup(of: Outcome.self) { group in
                group.addTask {
                    try await subscriber.subscribe(to: [keys.events]) { subscription in
                        printError("watching \(keys.events)")
                        for await event in subscription {
                            let parsed: RefresherEvent
                            switch event {
                            case .gap: parsed = .gap
                            case .message(_, let payload):
                                parsed = RefresherEvent(line: String(decoding: payload, as: UTF8.self))
                            }
                            emit(Self.format(parsed, at: UnixTime.nowMilliseconds, json: json))
                            if parsed != .gap, printed.increment() == count { return Outcome.counted }
                        }
                        return Task.isCancelled ? Outcome.signal : Outcome.subscriptionEnded
                    }
                }
                group.addTask {
                    for await _ in signals { return Outcome.signal }
                    return Outcome.signal
                }
                if let timeout {
                    group.addTask {
                        try await Task.sleep(for: .milliseconds(Int64(timeout * 1000)))
                        return Outcome.timedOut
                    }
                }
                // The first finisher decides; the others are cancelled (their results and errors are not needed).
                defer { group.cancelAll() }
                return try await group.next() ?? .subscriptionEnded
            }
        }
        switch outcome {
        case .counted, .signal:
            return
        case .timedOut:
            if let count {
                throw CLIError(
                    "timed out after \(Operator.span(milliseconds: Int64(timeout! * 1000))): "
                        + "\(printed.value) of \(count) events"
                )
            }
        case .subscriptionEnded:
            throw CLIError("the subscription ended unexpectedly")
        }
    }

    /// One output line for `event`, received at `time` (ms since epoch, local clock).
    static func format(_ event: RefresherEvent, at time: Int64, json: Bool) -> String {
        var record = EventRecord(time: Double(time) / 1000, event: "")
        var details: String
        switch event {
        case .refreshed(let generation, let by, let duration):
            (record.event, record.generation, record.by, record.durationMilliseconds) = (
                "refreshed", generation, by, duration
            )
            details = "generation=\(generation) by=\(by)" + (duration.map { " duration_ms=\($0)" } ?? "")
        case .failed(let generation, let outcome, let by, let reason):
            record.event = "failed"
            (record.generation, record.by, record.reason) = (generation, by, reason)
            record.kind = outcome.rawValue
            let relogin = outcome != .notProcessed
            record.reloginRequired = relogin
            details =
                "generation=\(generation) kind=\(outcome.rawValue) by=\(by) reason=\(reason)"
                + (relogin ? " (re-login required)" : "")
        case .released(let by, let reason):
            (record.event, record.by, record.reason) = ("released", by, reason)
            details = "by=\(by) reason=\(reason)"
        case .replaced(let generation, let by):
            (record.event, record.generation, record.by) = ("replaced", generation, by)
            details = "generation=\(generation) by=\(by)"
        case .gap:
            record.event = "gap"
            details = "the subscription was lost and resumed: events may have been missed"
        case .unknown(let line):
            (record.event, record.line) = ("unknown", line)
            details = line
        }
        if json { return (try? Operator.json(record)) ?? "{}" }
        let name = record.event.padding(toLength: 9, withPad: " ", startingAt: 0)
        return "\(Operator.localTimestamp(milliseconds: time))  \(name)  \(Operator.printable(details))"
    }

    /// One `watch --json` line. Fields that do not apply to an event are left out.
    struct EventRecord: Encodable {
        /// Arrival time, seconds since the epoch with millisecond precision.
        var time: Double
        /// `refreshed`, `failed`, `released`, `replaced`, `gap` or `unknown`.
        var event: String
        var generation: Int64?
        var by: String?
        var durationMilliseconds: Int64?
        /// `failed` only: `rejected`, `unknown` (the answer was lost: re-login required) or `not_processed`.
        var kind: String?
        var reloginRequired: Bool?
        var reason: String?
        /// `unknown` only: the unparsed message.
        var line: String?

        enum CodingKeys: String, CodingKey {
            case time, event, generation, by, kind, reason, line
            case durationMilliseconds = "duration_ms"
            case reloginRequired = "relogin_required"
        }
    }

    /// Events printed so far, shared with the task that reports a timeout.
    private final class Counter: Sendable {
        private let count = Atomic<Int>(0)
        var value: Int { count.load(ordering: .relaxed) }
        /// Adds one and returns the new value.
        func increment() -> Int { count.add(1, ordering: .relaxed).newValue }
    }
}
