import ChildProcesses
import Foundation

extension ChildProcess.Configuration {
    /// This executable again, as `refresher <arguments>`, with `environment` on top of this process's. The password,
    /// `REDIS_SENTINEL_*` and `REDIS_TLS_*` variables are not inherited: the credentials and the TLS settings are in
    /// the `REDIS_URL` the child is given (a second source would be refused as ambiguous, and TLS variables would not
    /// fit the plaintext URL of an embedded server).
    static func refresher(
        _ arguments: [String],
        environment: [String: String],
        standardError: ChildProcess.Output = .forward
    ) -> Self {
        Self(
            executable: URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().path,
            arguments: arguments,
            environment: environment,
            removingEnvironment: RedisPasswordOptions.variables + RedisSentinelOptions.variables
                + RedisTLSVariables.names,
            standardError: standardError
        )
    }
}
