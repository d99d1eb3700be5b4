import ArgumentParser
import Foundation
import RedisClient
import RedisRefresher

/// `refresher release`: releases a stuck refresh lock, always by compare-and-delete.
///
/// - `--owner O`: releases the lock only while `O` holds it.
/// - `--force`: reads the current holder, shows it, asks `Release the lock held by X? [y/N]` (or takes `--yes`),
///   then compare-and-deletes exactly that holder, so a lock taken again in the meantime survives.
///
/// Either way it refuses while the holder is alive: when the lock was taken or extended (by the holder's refresh
/// attempt) within `--live-window` seconds of the server's clock. Releasing a live holder lets a second worker take
/// the lock and present the same refresh token again while the first may still be presenting it, which a rotating
/// identity provider treats as reuse. `--even-if-live` overrides that.
///
/// Exit codes: 0 released, or no lock was held; 2 not released because another owner holds the lock; 3 not
/// released because the holder is alive; 1 errors (bad input, Redis unreachable, confirmation declined or
/// impossible).
struct ReleaseCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "release",
        abstract: "Release a stuck refresh lock (owner-checked; never deletes a lock someone else took meanwhile).",
        discussion: """
            Without --force, --owner OWNER is required and the lock is released only while OWNER holds it. With \
            --force the current holder is shown and, after confirmation (or --yes), exactly that holder's lock is \
            released. A holder seen alive (lock taken or extended) within --live-window seconds is never released \
            without --even-if-live: a second worker would then present the same refresh token again. Exit codes: \
            0 released or no lock held, 2 held by another owner, 3 holder alive, 1 error.
            """
    )

    @OptionGroup var options: SessionOptions

    @Option(name: .long, help: "Release only if this owner id (host:pid:random) holds the lock.")
    var owner: String?

    @Flag(name: .long, help: "Release whoever holds the lock now, after confirmation.")
    var force = false

    @Flag(name: [.short, .long], help: "With --force: do not ask for confirmation.")
    var yes = false

    @Flag(name: .long, help: "Print one JSON object instead of a sentence.")
    var json = false

    @Option(
        name: .long,
        help: ArgumentHelp(
            "A holder whose lock was taken or extended within this many seconds (server clock) is alive.",
            valueName: "seconds"
        )
    )
    var liveWindow: Double = 30

    @Flag(
        name: .long,
        help: "Release even a holder seen alive within --live-window (it may be presenting the refresh token now)."
    )
    var evenIfLive = false

    /// The exit code when another owner holds the lock: distinct from errors (1), for scripts.
    static let heldByAnotherExitCode: Int32 = 2
    /// The exit code when the holder is alive and `--even-if-live` was not given.
    static let holderLiveExitCode: Int32 = 3

    func validate() throws {
        if force, owner != nil {
            throw ValidationError(
                "use either --owner (release that owner's lock) or --force (release the current holder)"
            )
        }
        if !force, owner == nil {
            throw ValidationError(
                "--owner OWNER is required (or --force to release whoever holds the lock, after confirmation)"
            )
        }
        if let owner, owner.isEmpty { throw ValidationError("--owner must not be empty") }
        if yes, !force { throw ValidationError("--yes only applies to --force") }
        guard liveWindow.isFinite, liveWindow > 0, liveWindow <= 86_400 else {
            throw ValidationError("--live-window must be a number of seconds in (0, 86400]")
        }
    }

    func run() async throws {
        let admin = try options.admin(clientName: "refresher-release")
        defer { admin.connection.close() }
        let outcome = try await Operator.talkingTo(admin.connection.configuration) {
            if let owner { return try await release(owner, admin: admin) }
            return try await forceRelease(admin: admin)
        }
        report(outcome, session: admin.keys.session.rawValue)
        switch outcome {
        case .heldByAnother: throw ExitCode(Self.heldByAnotherExitCode)
        case .holderLive(let live):
            printError("refresher: error: \(Self.liveHolderMessage(live, window: liveWindow))")
            throw ExitCode(Self.holderLiveExitCode)
        default: break
        }
    }

    enum Outcome {
        case released(holder: String)
        case heldByAnother(expected: String, holder: String)
        case noLock(expected: String?)
        case holderLive(SessionAdmin.LiveHolder)
    }

    private var window: Duration { .milliseconds(Int64((liveWindow * 1000).rounded())) }

    /// Compare-and-delete for `owner` unless it is alive; on a miss, reads who (if anyone) holds the lock, for the
    /// message.
    private func release(_ owner: String, admin: SessionAdmin) async throws -> Outcome {
        // Checked again by the release itself, atomically (also after a confirmation prompt, which may take long).
        if !evenIfLive, let live = try await admin.liveHolder(within: window), live.owner == owner {
            return .holderLive(live)
        }
        switch try await admin.release(owner: owner, unlessAliveWithin: evenIfLive ? nil : window) {
        case .released:
            return .released(holder: owner)
        case .holderAlive:
            if let live = try await admin.liveHolder(within: window), live.owner == owner { return .holderLive(live) }
            throw CLIError("not releasing: \(Operator.printable(owner)) showed a sign of life just now")
        case .notHeld:
            break
        }
        if let holder = try await Self.holder(admin) { return .heldByAnother(expected: owner, holder: holder.owner) }
        return .noLock(expected: owner)
    }

    private func forceRelease(admin: SessionAdmin) async throws -> Outcome {
        guard let current = try await Self.holder(admin) else { return .noLock(expected: nil) }
        let holder = current.owner
        let ttlText = current.ttl.map { "expires in \(Operator.span(milliseconds: $0))" } ?? "no expiry"
        printError("the lock of session \(admin.keys.session) is held by \(Operator.printable(holder)) (\(ttlText))")
        // A live holder is refused before anyone is asked.
        if !evenIfLive, let live = try await admin.liveHolder(within: window), live.owner == holder {
            return .holderLive(live)
        }
        if !yes {
            guard Operator.stdinIsTerminal else {
                throw CLIError("not releasing: confirmation needed but stdin is not a terminal (pass --yes to skip it)")
            }
            FileHandle.standardError.write(Data("Release the lock held by \(Operator.printable(holder))? [y/N] ".utf8))
            let answer = readLine(strippingNewline: true)?.trimmingCharacters(in: .whitespaces).lowercased()
            guard answer == "y" || answer == "yes" else { throw CLIError("not confirmed: nothing was released") }
        }
        // Exactly the holder that was shown: if the lock expired and another worker took it while the operator was
        // reading, that worker's lock is not touched.
        return try await release(holder, admin: admin)
    }

    /// The current holder and its remaining TTL (`nil` TTL: the lock has no expiry).
    private static func holder(_ admin: SessionAdmin) async throws -> (owner: String, ttl: Int64?)? {
        let replies: [Result<RedisValue, RedisError>]
        replies = try await admin.connection.pipeline([
            RedisCommand("GET", RedisArgument(admin.keys.lock)), RedisCommand("PTTL", RedisArgument(admin.keys.lock)),
        ])
        guard let holder = try replies[0].get().string else { return nil }
        let ttl = try replies[1].get().int ?? -1
        return (holder, ttl >= 0 ? ttl : nil)
    }

    /// Why a live holder is not released, on one line.
    static func liveHolderMessage(_ live: SessionAdmin.LiveHolder, window: Double) -> String {
        let windowText = window.rounded() == window ? String(Int(window)) : String(window)
        return "not releasing: the lock holder \(Operator.printable(live.owner)) was seen alive "
            + "\(Operator.span(milliseconds: live.lastSeenAgoMilliseconds)) ago (lock taken or extended within "
            + "--live-window \(windowText) s); releasing a live holder lets a second worker start a refresh that "
            + "presents the same refresh token again, which the identity provider may treat as reuse and revoke the "
            + "session. Wait until its lock expires, or pass --even-if-live"
    }

    private func report(_ outcome: Outcome, session: String) {
        struct JSONReport: Encodable {
            var session: String
            var outcome: String
            var released: Bool
            var holder: String?
            var expected: String?

            func encode(to encoder: any Encoder) throws {
                enum Key: String, CodingKey { case session, outcome, released, holder, expected }
                var container = encoder.container(keyedBy: Key.self)
                try container.encode(session, forKey: .session)
                try container.encode(outcome, forKey: .outcome)
                try container.encode(released, forKey: .released)
                try container.encode(holder, forKey: .holder)
                try container.encode(expected, forKey: .expected)
            }
        }
        let line: String
        let object: JSONReport
        switch outcome {
        case .released(let holder):
            line = "released lock held by \(Operator.printable(holder))"
            object = JSONReport(session: session, outcome: "released", released: true, holder: holder, expected: holder)
        case .heldByAnother(let expected, let holder):
            line =
                "not released: the lock is held by \(Operator.printable(holder))"
                + (force ? " now (it changed hands)" : ", not \(Operator.printable(expected))")
            object = JSONReport(
                session: session,
                outcome: "held_by_another",
                released: false,
                holder: holder,
                expected: expected
            )
        case .noLock(let expected):
            line = "no lock is held"
            object = JSONReport(session: session, outcome: "no_lock", released: false, holder: nil, expected: expected)
        case .holderLive(let live):
            // The reason goes to stderr as the error line; JSON readers get the outcome on stdout too.
            guard json else { return }
            line = ""
            object = JSONReport(
                session: session,
                outcome: "holder_live",
                released: false,
                holder: live.owner,
                expected: live.owner
            )
        }
        if json {
            emit((try? Operator.json(object)) ?? "{}")
        } else {
            emit(line)
        }
    }
}
