import ChildProcesses
import Foundation

extension ChildProcess.Configuration {
    /// This executable again, as `refresher <arguments>`, with `environment` on top of this process's. The password
    /// variables are not inherited: a password is in the `REDIS_URL` the child is given, and a second source would be
    /// refused as ambiguous.
    static func refresher(
        _ arguments: [String],
        environment: [String: String],
        standardError: ChildProcess.Output = .forward
    ) -> Self {
        Self(
            executable: URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().path,
            arguments: arguments,
            environment: environment,
            removingEnvironment: RedisPasswordOptions.variables,
            standardError: standardError
        )
    }
}
