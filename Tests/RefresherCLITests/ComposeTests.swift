import ChildProcesses
import Foundation
import RedisTestSupport
import Testing

@Suite("docker-compose.yml")
struct ComposeTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    @Test("docker-compose config accepts the file and lists redis, idp and workers")
    func composeFileIsValid() async throws {
        let binary = try #require(
            ["/usr/bin/docker-compose", "/usr/local/bin/docker-compose"].first {
                FileManager.default.isExecutableFile(atPath: $0)
            },
            "docker-compose is not installed (scripts/test installs it)"
        )
        let compose = try await ChildProcess.run(
            .init(
                executable: binary,
                arguments: [
                    "-f", Self.repository.appendingPathComponent("docker-compose.yml").path, "config", "--services",
                ],
                standardError: .discard
            ),
            timeout: .seconds(60)
        )
        let services = compose.standardOutput
        #expect(compose.termination == .exited(0))
        #expect(Set(services).isSuperset(of: ["redis", "idp", "workers"]))
    }

    @Test("The Dockerfile builds the refresher executable with libhiredis")
    func dockerfileNamesWhatItNeeds() throws {
        let dockerfile = try String(contentsOf: Self.repository.appendingPathComponent("Dockerfile"), encoding: .utf8)
        #expect(dockerfile.contains("libhiredis-dev"))
        #expect(dockerfile.contains("--product refresher"))
        #expect(dockerfile.contains("ENTRYPOINT [\"refresher\"]"))
    }
}
