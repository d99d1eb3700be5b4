import ArgumentParser

/// When the demo fails its Sentinel topology over: `SECONDS` into the run, or `none`.
enum FailoverTime: Sendable, Hashable, ExpressibleByArgument, CustomStringConvertible {
    case at(seconds: Double)
    case never

    init?(argument: String) {
        if argument == "none" {
            self = .never
        } else if let seconds = Double(argument), seconds.isFinite {
            self = .at(seconds: seconds)
        } else {
            return nil
        }
    }

    var seconds: Double? {
        if case .at(let seconds) = self { return seconds }
        return nil
    }

    var description: String { seconds.map { "\($0)" } ?? "none" }
}
