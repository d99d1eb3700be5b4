/// One message on a session's `events` channel: a human-readable line such as
/// `refreshed generation=5 by=web-1:4242:9f2c duration_ms=212`. Never carries a token.
public enum RefresherEvent: Sendable, Hashable {
    /// A refresh stored `generation`.
    case refreshed(generation: Int64, by: String, durationMilliseconds: Int64?)
    /// A refresh after `generation` failed, with how it ended: ``RefreshFailure/Outcome/rejected`` and
    /// ``RefreshFailure/Outcome/unknown`` need a new login, ``RefreshFailure/Outcome/notProcessed`` may be tried again.
    case failed(generation: Int64, outcome: RefreshFailure.Outcome, by: String, reason: String)
    /// A holder released the lock without storing a result (shutdown, cancelled refresh, operator).
    case released(by: String, reason: String)
    /// The session was seeded or replaced after a fresh login.
    case replaced(generation: Int64, by: String)
    /// The subscriber lost its connection: events may have been missed (local only, never published).
    case gap
    /// A line that does not parse (kept so monitors can show it).
    case unknown(String)

    /// Parses one channel message.
    package init(line: String) {
        let kind = line.prefix { $0 != " " }
        var fields: [Substring: Substring] = [:]
        var rest = line.dropFirst(kind.count).drop { $0 == " " }
        while !rest.isEmpty {
            guard let equals = rest.firstIndex(of: "=") else { break }
            let key = rest[..<equals]
            let afterEquals = rest[rest.index(after: equals)...]
            // `reason` is always last and may contain spaces.
            if key == "reason" {
                fields[key] = afterEquals
                break
            }
            let value = afterEquals.prefix { $0 != " " }
            fields[key] = value
            rest = afterEquals.dropFirst(value.count).drop { $0 == " " }
        }
        let generation = fields["generation"].flatMap { Int64($0) }
        let by = fields["by"].map(String.init) ?? ""
        switch kind {
        case "refreshed" where generation != nil:
            self = .refreshed(
                generation: generation!,
                by: by,
                durationMilliseconds: fields["duration_ms"].flatMap { Int64($0) }
            )
        case "failed" where generation != nil:
            // `transient` is how older versions published a failure that did not use up the token.
            let outcome = fields["kind"].flatMap { RefreshFailure.Outcome(rawValue: String($0)) } ?? .notProcessed
            self = .failed(
                generation: generation!,
                outcome: outcome,
                by: by,
                reason: fields["reason"].map(String.init) ?? ""
            )
        case "released":
            self = .released(by: by, reason: fields["reason"].map(String.init) ?? "")
        case "replaced" where generation != nil:
            self = .replaced(generation: generation!, by: by)
        default:
            self = .unknown(String(line.prefix(300)))
        }
    }
}

extension RefreshFailure {
    /// The reason as published: one line, at most 200 bytes, no `=`-confusion issues since it is the last field.
    var publishedReason: String {
        let flat = reason.map { $0.isNewline || $0 == "\t" ? " " : $0 }
        var result = String(flat)
        while result.utf8.count > 200 { result.removeLast() }
        return result.isEmpty ? "unspecified" : result
    }
}
