import RedisRefresher
import Testing

@testable import refresher

@Suite("REDIS_TLS_* variables merged into a rediss:// URL")
struct RedisTLSVariablesTests {
    @Test("Each variable fills in the query item the URL leaves out; the URL's own items win")
    func merging() throws {
        let variables = RedisTLSVariables(environment: [
            "REDIS_TLS_CA_FILE": "/etc/ssl/ca file&x.pem", "REDIS_TLS_SERVER_NAME": "cache.internal",
            "REDIS_TLS_INSECURE_SKIP_VERIFY": "", "REDIS_TLS_CERT_FILE": "/c.pem",
        ])
        let merged = try variables.apply(toURL: "rediss://:pw@10.0.0.5:6380/2?server_name=other.example")
        #expect(
            merged
                == "rediss://:pw@10.0.0.5:6380/2?server_name=other.example&ca_file=/etc/ssl/ca%20file%26x.pem"
                + "&cert_file=/c.pem"
        )
        let configuration = try RedisConfiguration(url: merged)
        #expect(configuration.tls?.caFile == "/etc/ssl/ca file&x.pem")
        #expect(configuration.tls?.serverName == "other.example")
        #expect(configuration.tls?.certificateFile == "/c.pem")
        #expect(configuration.tls?.insecureSkipVerify == false)
        #expect(configuration.database == 2)
    }

    @Test("Without variables any URL passes unchanged; with one, only rediss:// URLs are accepted")
    func needsRediss() throws {
        #expect(try RedisTLSVariables(environment: [:]).apply(toURL: "redis://h:1") == "redis://h:1")
        let variables = RedisTLSVariables(environment: ["REDIS_TLS_INSECURE_SKIP_VERIFY": "true"])
        #expect(throws: CLIError.self) { try variables.apply(toURL: "redis://:secret@h:1") }
        #expect(throws: CLIError.self) { try variables.apply(toURL: "unix:///tmp/redis.sock") }
        #expect(try RedisConfiguration(url: variables.apply(toURL: "rediss://h")).tls?.insecureSkipVerify == true)
        let bad = RedisTLSVariables(environment: ["REDIS_TLS_INSECURE_SKIP_VERIFY": "yes"])
        #expect(throws: CLIError.self) { try bad.apply(toURL: "rediss://h") }
        let keyOnly = RedisTLSVariables(environment: ["REDIS_TLS_KEY_FILE": "/k.pem"])
        #expect(throws: CLIError.self) { try keyOnly.apply(toURL: "rediss://h") }
    }

    @Test("A password from the environment goes into a rediss:// URL with TLS query items")
    func passwordInRedissURL() throws {
        let url = "rediss://h:6380/1?ca_file=/ca.pem"
        let configuration = try RedisConfiguration(url: url)
        let merged = try RedisPasswordOptions.url(url, configuration: configuration, password: "p@ss")
        #expect(merged == "rediss://:p%40ss@h:6380/1?ca_file=/ca.pem")
    }
}
