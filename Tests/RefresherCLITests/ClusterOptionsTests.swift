import Foundation
import RedisRefresher
import Testing

@testable import refresher

/// `redis-cluster://` and `rediss-cluster://` URLs through the command's URL plumbing: the password, the
/// `REDIS_TLS_*` variables, the sentinel credentials (refused), the replica acknowledgement, and the worker's
/// session list. No server: the commands against a real cluster are in ``ClusterCommandTests``.
@Suite("redis-cluster:// URLs in the command's options")
struct ClusterOptionsTests {
    static let url = "redis-cluster://10.0.0.1:7001,10.0.0.2:7002"
    static let tlsURL = "rediss-cluster://u:p@a:7001,[::1]:7002?ca_file=/ca.pem"

    @Test("RedisURLText keeps a cluster URL as written and knows it for one; rediss-cluster:// is TLS")
    func urlText() {
        for form in [Self.url, Self.tlsURL, "redis-cluster://:pw@h:1/0"] { #expect(RedisURLText(form).text == form) }
        let plain = RedisURLText(Self.url)
        #expect(plain.isCluster && !plain.isTLS && !plain.isSentinel)
        #expect(plain.userInfo == nil)
        let tls = RedisURLText(Self.tlsURL)
        #expect(tls.isCluster && tls.isTLS)
        #expect(tls.user == "u")
        #expect(tls.location == "a:7001,[::1]:7002")
        #expect(tls.queryNames == ["ca_file"])
    }

    @Test("A password from the environment or a file goes into a cluster URL and reaches every seed")
    func password() throws {
        let merged = try RedisPasswordOptions.url(
            Self.url,
            configuration: try RedisConfiguration(url: Self.url),
            password: "p@ss:w/rd"
        )
        #expect(merged == "redis-cluster://:p%40ss%3Aw%2Frd@10.0.0.1:7001,10.0.0.2:7002")
        let parsed = try RedisConfiguration(url: merged)
        #expect(parsed.password == "p@ss:w/rd")
        #expect(parsed.cluster?.seeds.map(\.description) == ["10.0.0.1:7001", "10.0.0.2:7002"])
        // An ACL user written in the URL is kept; the TLS query stays.
        let user = "rediss-cluster://app:@h:7001?ca_file=/ca.pem"
        let withUser = try RedisPasswordOptions.url(
            user,
            configuration: try RedisConfiguration(url: user),
            password: "x"
        )
        #expect(withUser == "rediss-cluster://app:x@h:7001?ca_file=/ca.pem")
        #expect(try RedisConfiguration(url: withUser).username == "app")
        #expect(try RedisConfiguration(url: withUser).tls?.caFile == "/ca.pem")
    }

    @Test("REDIS_TLS_* variables fill in a rediss-cluster:// URL, for every node; redis-cluster:// refuses them")
    func tlsVariables() throws {
        let variables = RedisTLSVariables(environment: [
            "REDIS_TLS_CA_FILE": "/etc/ssl/other.pem", "REDIS_TLS_SERVER_NAME": "cache.internal",
        ])
        let merged = try variables.apply(toURL: Self.tlsURL)
        #expect(merged == Self.tlsURL + "&server_name=cache.internal")
        let configuration = try RedisConfiguration(url: merged)
        #expect(configuration.tls?.caFile == "/ca.pem")
        #expect(configuration.tls?.serverName == "cache.internal")
        #expect(configuration.cluster?.seeds.count == 2)
        do {
            _ = try variables.apply(toURL: Self.url)
            Issue.record("a plaintext cluster URL took TLS settings")
        } catch {
            #expect("\(error)".contains("rediss-cluster://"), "\(error)")
        }
    }

    @Test("Sentinel credentials with a cluster URL are refused, saying that a cluster has no sentinels")
    func sentinelCredentialsRefused() throws {
        let options = RedisSentinelOptions(passwordFile: nil)
        let environment = ["REDIS_SENTINEL_PASSWORD": "sentinel-secret"]
        for attempt in 0..<2 {
            do {
                if attempt == 0 {
                    _ = try options.apply(toURL: Self.url, environment: environment)
                } else {
                    var configuration = try RedisConfiguration(url: Self.url)
                    try options.apply(to: &configuration, environment: environment)
                }
                Issue.record("sentinel credentials were taken for a cluster URL")
            } catch {
                let message = (error as? CLIError)?.description ?? "\(error)"
                #expect(message.contains("names a Redis Cluster, which fails over without sentinels"), "\(message)")
                #expect(message.contains("REDIS_SENTINEL_PASSWORD"))
                #expect(!message.contains("sentinel-secret"))
            }
        }
        // Without sentinel credentials the URL passes unchanged.
        #expect(try options.apply(toURL: Self.url, environment: [:]) == Self.url)
    }

    @Test("Replica acknowledgement on a cluster: automatic 1 replica, shards without replicas skipped, also when set")
    func replicaAcknowledgement() throws {
        let cluster = try RedisConfiguration(url: Self.url)
        let automatic = try ReplicaAcknowledgementOptions.effective(for: cluster, environment: [:])
        #expect(automatic.automatic)
        #expect(automatic.acknowledgement.replicas == 1 && automatic.acknowledgement.skipsShardsWithoutReplicas)
        let set = try #require(
            try ReplicaAcknowledgementOptions.setting(
                replicas: 2,
                timeoutMilliseconds: 250,
                for: cluster,
                environment: [:]
            )
        )
        #expect(set.replicas == 2 && set.timeout == .milliseconds(250) && set.skipsShardsWithoutReplicas)
        let single = try #require(
            try ReplicaAcknowledgementOptions.setting(
                replicas: 1,
                timeoutMilliseconds: nil,
                for: try RedisConfiguration(url: "redis://h:1"),
                environment: [:]
            )
        )
        #expect(!single.skipsShardsWithoutReplicas)
    }

    @Test(
        "status's acknowledgement line on a cluster: automatic on a cluster; a shard without replicas is not waited for"
    )
    func acknowledgementLine() throws {
        let setting = ReplicaAcknowledgement.automatic(for: try RedisConfiguration(url: Self.url))
        let replicated = StatusReport.Acknowledgement(
            setting,
            automatic: true,
            sentinel: false,
            cluster: true,
            onlineReplicas: 1,
            shardReplicas: 1
        )
        #expect(replicated.line == "1 replica within 1 s (automatic on a cluster)")
        #expect(replicated.enoughReplicas == true)
        let alone = StatusReport.Acknowledgement(
            setting,
            automatic: true,
            sentinel: false,
            cluster: true,
            onlineReplicas: 0,
            shardReplicas: 0
        )
        #expect(
            alone.line
                == "1 replica within 1 s (automatic on a cluster); the session's shard has no replica: its writes do not wait"
        )
        #expect(alone.enoughReplicas == nil)
        let starved = StatusReport.Acknowledgement(
            setting,
            automatic: true,
            sentinel: false,
            cluster: true,
            onlineReplicas: 0,
            shardReplicas: 1
        )
        #expect(starved.enoughReplicas == false)
        #expect(starved.line.hasSuffix("only 0 online: no refresh can complete until 1 is"))
    }

    @Test("The worker's session list: one name or several, comma-separated, each valid and named once")
    func workerSessions() throws {
        #expect(try WorkerCommand.sessionNames("alpha") == ["alpha"])
        #expect(try WorkerCommand.sessionNames("a-0,b.1,c:2") == ["a-0", "b.1", "c:2"])
        for bad in [nil, "", "a,,b", "a,b,a", "a,{b}", "a b"] {
            #expect(throws: CLIError.self, "\(bad ?? "nil")") { try WorkerCommand.sessionNames(bad) }
        }
    }

    @Test("A worker's summary with several sessions keeps each session's counts, added up across workers")
    func summaryPerSession() throws {
        var first = WorkerSummary()
        first.ok = 3
        first.sessions = ["a": .init(), "b": .init()]
        first.sessions?["a"]?.ok = 2
        first.sessions?["b"]?.ok = 1
        var second = WorkerSummary()
        second.ok = 4
        second.errors = 1
        second.sessions = ["a": .init()]
        second.sessions?["a"]?.ok = 4
        second.sessions?["a"]?.errors = 1
        let decoded = try JSONDecoder().decode(WorkerSummary.self, from: Data(second.json.utf8))
        #expect(decoded.sessions == second.sessions)
        first.merge(decoded)
        #expect(first.ok == 7 && first.errors == 1)
        #expect(first.sessions?["a"]?.ok == 6 && first.sessions?["a"]?.errors == 1)
        #expect(first.sessions?["b"]?.ok == 1)
        // One session: no per-session part, as before.
        #expect(try JSONDecoder().decode(WorkerSummary.self, from: Data(WorkerSummary().json.utf8)).sessions == nil)
    }
}
