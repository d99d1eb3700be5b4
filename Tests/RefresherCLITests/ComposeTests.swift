import ChildProcesses
import Foundation
import RedisRefresher
import RedisTestSupport
import Testing

@testable import refresher

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
        let services = Self.services(config.lines)
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

    /// The services of a rendered file: the keys indented by two spaces under `services:`.
    static func services(_ lines: [String]) -> [String] {
        lines.drop { $0 != "services:" }.dropFirst().prefix { $0.hasPrefix(" ") }.compactMap { line -> String? in
            guard line.hasPrefix("  "), !line.hasPrefix("   "), line.hasSuffix(":") else { return nil }
            return String(line.dropFirst(2).dropLast())
        }
    }

    /// The rendered lines of one service, up to the next service.
    static func lines(of service: String, in lines: [String]) -> [String] {
        Array(
            lines.drop { $0 != "  \(service):" }.dropFirst().prefix { $0.hasPrefix("   ") || $0.hasPrefix("  -") }
        )
    }

    @Test("The cluster profile: 6 nodes announcing hostnames, a one-shot create, workers with several sessions")
    func clusterProfile() async throws {
        let config = try await Self.compose(["--profile", "cluster", "config"])
        #expect(config.termination == .exited(0))
        let nodes = (1...6).map { "redis-node-\($0)" }
        let services = Self.services(config.lines)
        #expect(
            Set(services).isSuperset(of: nodes + ["redis-cluster-init", "cluster-idp", "cluster-workers"]),
            "\(services)"
        )
        let text = config.lines.joined(separator: " ").split(whereSeparator: \.isWhitespace).joined(separator: " ")
        // Every node is a cluster node that names itself by its service name: container IPs change.
        for node in nodes {
            let lines = Self.lines(of: node, in: config.lines)
            let own = lines.joined(separator: " ").split(whereSeparator: \.isWhitespace).joined(separator: " ")
            #expect(lines.contains("    hostname: \(node)"), "\(node): \(lines)")
            for setting in [
                "--cluster-enabled yes", "--cluster-announce-hostname", "--cluster-preferred-endpoint-type hostname",
            ] {
                #expect(own.contains(setting), "\(node): \(setting)")
            }
        }
        // One shot: 3 primaries with a replica each, after every node is up; the fleet waits for it to finish.
        for setting in ["redis-cli --cluster create", "--cluster-replicas 1", "--cluster-yes", "getent hosts"] {
            #expect(text.contains(setting), "\(setting)")
        }
        #expect(text.contains("redis-cluster-init: condition: service_completed_successfully"))
        // Every cluster URL parses and names the three first nodes as seeds.
        let urls = config.lines.compactMap { line -> String? in
            guard let key = line.firstRange(of: "REDIS_URL: ") else { return nil }
            let value = line[key.upperBound...]
            return value.hasPrefix("redis-cluster://") ? String(value) : nil
        }
        #expect(urls.count == 3, "\(urls)")  // cluster-idp, cluster-workers, cluster-tools
        for url in urls {
            let cluster = try #require(try RedisConfiguration(url: url).cluster, "\(url)")
            #expect(cluster.seeds.map(\.host) == Array(nodes.prefix(3)))
            #expect(cluster.seeds.allSatisfy { $0.port == 6379 })
        }
        // The workers serve the sessions the provider stores: compose-cluster-0 ... -7, each at its own provider.
        let workers = Self.lines(of: "cluster-workers", in: config.lines)
        let sessions = try #require(workers.first { $0.contains("SESSION: ") }).split(separator: " ").last ?? ""
        let names = try WorkerCommand.sessionNames(String(sessions))
        #expect(names == (0..<8).map { "compose-cluster-\($0)" })
        #expect(workers.contains("      IDP_URL: http://cluster-idp:8080/sessions/{session}"), "\(workers)")
        let idp = Self.lines(of: "cluster-idp", in: config.lines).map { $0.trimmingCharacters(in: .whitespaces) }
        let command = idp.drop { $0 != "command:" }.dropFirst().prefix { $0.hasPrefix("- ") }.map { $0.dropFirst(2) }
        #expect(
            command.joined(separator: " ").contains("--session compose-cluster --sessions '8'"),
            "\(command)"
        )
    }

    @Test("The Dockerfile builds the refresher executable with libhiredis")
    func dockerfileNamesWhatItNeeds() throws {
        let dockerfile = try String(contentsOf: Self.repository.appendingPathComponent("Dockerfile"), encoding: .utf8)
        #expect(dockerfile.contains("libhiredis-dev"))
        #expect(dockerfile.contains("--product refresher"))
        #expect(dockerfile.contains("ENTRYPOINT [\"refresher\"]"))
    }
}
