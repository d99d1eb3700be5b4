import ChildProcesses
import Foundation
import RedisRefresher
import RedisTestSupport
import Testing

@Suite("docker-compose.yml")
struct ComposeTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    /// `docker-compose -f docker-compose.yml <arguments>`: its exit and its standard output.
    static func compose(_ arguments: [String]) async throws -> (termination: ChildProcess.Termination?, lines: [String])
    {
        let binary = try #require(
            ["/usr/bin/docker-compose", "/usr/local/bin/docker-compose"].first {
                FileManager.default.isExecutableFile(atPath: $0)
            },
            "docker-compose is not installed (scripts/test installs it)"
        )
        let compose = try await ChildProcess.run(
            .init(
                executable: binary,
                arguments: ["-f", Self.repository.appendingPathComponent("docker-compose.yml").path] + arguments,
                standardError: .discard
            ),
            timeout: .seconds(60)
        )
        return (compose.termination, compose.standardOutput)
    }

    @Test("docker-compose config accepts the file and lists redis, idp and workers")
    func composeFileIsValid() async throws {
        let compose = try await Self.compose(["config", "--services"])
        #expect(compose.termination == .exited(0))
        #expect(Set(compose.lines).isSuperset(of: ["redis", "idp", "workers"]))
    }

    @Test("The sentinel profile: a primary, replicas, three sentinels by hostname, workers with a Sentinel URL")
    func sentinelProfile() async throws {
        let config = try await Self.compose(["--profile", "sentinel", "config"])
        #expect(config.termination == .exited(0))
        // The services: the keys indented by two spaces under `services:`.
        let services = config.lines.drop { $0 != "services:" }.dropFirst().prefix { $0.hasPrefix(" ") }.compactMap {
            line -> String? in
            guard line.hasPrefix("  "), !line.hasPrefix("   "), line.hasSuffix(":") else { return nil }
            return String(line.dropFirst(2).dropLast())
        }
        let sentinels: Set = ["sentinel-1", "sentinel-2", "sentinel-3"]
        #expect(
            Set(services).isSuperset(
                of: sentinels.union([
                    "redis-primary", "redis-replica-1", "redis-replica-2", "sentinel-idp", "sentinel-workers",
                ])
            ),
            "\(services)"
        )
        // The rendering folds long strings over lines: compare with every run of whitespace as one space.
        let text = config.lines.joined(separator: " ").split(whereSeparator: \.isWhitespace).joined(separator: " ")
        // Sentinels in containers must monitor and name the nodes by hostname: container IPs change.
        for setting in ["sentinel resolve-hostnames yes", "sentinel announce-hostnames yes", "--sentinel"] {
            #expect(text.contains(setting), "\(setting)")
        }
        #expect(text.contains("sentinel monitor mymaster redis-primary 6379 2"))
        // Sentinel may promote either replica: the workers wait for both.
        #expect(text.contains("REPLICA_ACKS: '2'"), "\(text)")
        // Every Sentinel URL parses and names exactly the three sentinel services.
        let urls = config.lines.compactMap { line -> String? in
            guard let key = line.firstRange(of: "REDIS_URL: ") else { return nil }
            let value = line[key.upperBound...]
            return value.hasPrefix("redis-sentinel://") ? String(value) : nil
        }
        #expect(urls.count == 3, "\(urls)")
        for url in urls {
            let sentinel = try #require(try RedisConfiguration(url: url).sentinel, "\(url)")
            #expect(sentinel.primaryName == "mymaster")
            #expect(Set(sentinel.nodes.map(\.host)) == sentinels)
            #expect(sentinel.nodes.allSatisfy { $0.port == 26379 })
        }
    }

    @Test("The Dockerfile builds the refresher executable with libhiredis")
    func dockerfileNamesWhatItNeeds() throws {
        let dockerfile = try String(contentsOf: Self.repository.appendingPathComponent("Dockerfile"), encoding: .utf8)
        #expect(dockerfile.contains("libhiredis-dev"))
        #expect(dockerfile.contains("--product refresher"))
        #expect(dockerfile.contains("ENTRYPOINT [\"refresher\"]"))
    }
}
