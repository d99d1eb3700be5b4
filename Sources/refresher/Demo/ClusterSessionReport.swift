import DemoIdentityProvider

/// One session of the cluster demo: where it lived and what its identity provider and the workers counted.
struct ClusterSessionReport: Encodable {
    let name: String
    let slot: Int
    /// The port of the primary that served the slot when the fleet started, and at the end.
    let primaryPortAtStart: Int?
    let primaryPortAtEnd: Int?
    let refreshes: Int
    let tokenExpiries: Int
    let reuseEvents: Int
    let loggedOut: Bool
    let requestsServed: Int
    let unauthorized: Int
    /// Errors of the workers' requests for this session.
    let errors: Int

    init(
        name: String,
        slot: Int,
        primaryPortAtStart: Int?,
        primaryPortAtEnd: Int?,
        stats: DemoIdentityProvider.Stats,
        counts: WorkerSummary.SessionCounts?
    ) {
        self.name = name
        self.slot = slot
        self.primaryPortAtStart = primaryPortAtStart
        self.primaryPortAtEnd = primaryPortAtEnd
        refreshes = stats.refreshes
        tokenExpiries = stats.expiries
        reuseEvents = stats.reuseEvents
        loggedOut = stats.revoked
        requestsServed = stats.resourceOK
        unauthorized = stats.resource401
        errors = counts?.errors ?? 0
    }

    /// No reuse, no logout.
    var passed: Bool { reuseEvents == 0 && !loggedOut }

    /// The sessions as a table: a header line and one line per session.
    static func table(_ sessions: [ClusterSessionReport]) -> [String] {
        let width = max(7, sessions.map(\.name.count).max() ?? 0)
        func line(_ fields: [String]) -> String {
            let name = fields[0].padding(toLength: width + 2, withPad: " ", startingAt: 0)
            let widths = [7, 15, 11, 10, 7, 9, 6]
            return name
                + zip(fields.dropFirst(), widths).map { $0.padding(toLength: $1, withPad: " ", startingAt: 0) }
                .joined().trimmingTrailingSpaces
        }
        var lines = [line(["session", "slot", "primary", "refreshes", "expiries", "reuse", "served", "errors"])]
        for session in sessions {
            let start = session.primaryPortAtStart.map(String.init) ?? "?"
            let end = session.primaryPortAtEnd.map(String.init) ?? "?"
            lines.append(
                line([
                    session.name, "\(session.slot)", start == end ? start : "\(start) → \(end)",
                    "\(session.refreshes)", "\(session.tokenExpiries)",
                    "\(session.reuseEvents)" + (session.loggedOut ? "!" : ""), "\(session.requestsServed)",
                    "\(session.errors)",
                ])
            )
        }
        return lines
    }
}

extension String {
    fileprivate var trimmingTrailingSpaces: String {
        var text = self
        while text.last == " " { text.removeLast() }
        return text
    }
}
