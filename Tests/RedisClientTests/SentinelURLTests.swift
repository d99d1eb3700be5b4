import RedisClient
import Testing

@Suite("Sentinel URLs")
struct SentinelURLTests {
    @Test("A Sentinel URL names the sentinels, the primary, the data nodes' credentials and database")
    func parsesEverything() throws {
        let configuration = try RedisConfiguration(
            url: "redis-sentinel://app:data%40pw@10.0.0.1:26379,sentinel-b,[::1]:26390/2"
                + "?sentinel_username=watch&sentinel_password=s%26pw#my-primary"
        )
        let sentinel = try #require(configuration.sentinel)
        #expect(
            sentinel.nodes == [
                .init(host: "10.0.0.1", port: 26379), .init(host: "sentinel-b", port: 26379),
                .init(host: "::1", port: 26390),
            ]
        )
        #expect(sentinel.primaryName == "my-primary")
        #expect(sentinel.username == "watch")
        #expect(sentinel.password == "s&pw")
        #expect(configuration.username == "app")
        #expect(configuration.password == "data@pw")
        #expect(configuration.database == 2)
        #expect(configuration.tls == nil)
        #expect(
            configuration.description
                == "redis-sentinel://app:***@10.0.0.1:26379,sentinel-b:26379,[::1]:26390/2"
                + "?sentinel_username=watch&sentinel_password=***#my-primary"
        )
    }

    @Test("Without credentials for the sentinels none are sent to them; the description parses back")
    func minimal() throws {
        let configuration = try RedisConfiguration(url: "redis-sentinel://127.0.0.1:26379#mymaster")
        #expect(configuration.sentinel?.password == nil)
        #expect(configuration.sentinel?.username == nil)
        #expect(configuration.password == nil)
        #expect(configuration.database == 0)
        #expect(try RedisConfiguration(url: configuration.description) == configuration)
    }

    @Test("rediss-sentinel:// speaks TLS to sentinels and data nodes, with the TLS query items")
    func tls() throws {
        let configuration = try RedisConfiguration(
            url: "rediss-sentinel://h:26379/0?ca_file=/etc/ca.pem&sentinel_password=x&server_name=redis.internal#m"
        )
        #expect(configuration.tls?.caFile == "/etc/ca.pem")
        #expect(configuration.tls?.serverName == "redis.internal")
        #expect(configuration.sentinel?.password == "x")
        #expect(configuration.description.hasPrefix("rediss-sentinel://h:26379/0?"))
    }

    @Test(
        "Malformed Sentinel URLs are refused with a reason",
        arguments: [
            ("redis-sentinel://h:26379", "names its primary after '#'"),
            ("redis-sentinel://h:26379#", "primary's name"),
            ("redis-sentinel://h:26379#my%20primary", "primary's name"),
            ("redis-sentinel://h:26379#m?sentinel_password=secret", "primary's name"),
            ("redis-sentinel://h:26379#a/b", "primary's name"),
            ("redis-sentinel://#m", "no host"),
            ("redis-sentinel://h1,,h2#m", "no host"),
            ("redis-sentinel://h:0#m", "port"),
            ("redis-sentinel://h:26379/x#m", "database number"),
            ("redis-sentinel://h?ca_file=/x#m", "rediss-sentinel"),
            ("redis-sentinel://h?sentinel_password=a&sentinel_password=b#m", "appears twice"),
            ("redis-sentinel://h?sentinel_password#m", "lacks '='"),
        ]
    )
    func refused(_ url: String, _ reason: String) {
        do {
            _ = try RedisConfiguration(url: url)
            Issue.record("accepted \(url)")
        } catch {
            #expect(error.code == .invalidURL || error.code == .invalidConfiguration)
            #expect(error.message.contains(reason), "\(error.message)")
        }
    }
}

@Suite("Sentinel announcements")
struct SentinelAnnouncementTests {
    @Test("+switch-master and +promoted-slave name the new primary of the watched name only")
    func parses() {
        let switched = Array("mymaster 127.0.0.1 6379 10.0.0.2 6380".utf8)
        #expect(
            SentinelAnnouncement.newPrimary(announcedOn: "+switch-master", in: switched, named: "mymaster")
                == .init(host: "10.0.0.2", port: 6380)
        )
        #expect(SentinelAnnouncement.newPrimary(announcedOn: "+switch-master", in: switched, named: "other") == nil)
        let promoted = Array("slave 10.0.0.2:6380 10.0.0.2 6380 @ mymaster 127.0.0.1 6379".utf8)
        #expect(
            SentinelAnnouncement.newPrimary(announcedOn: "+promoted-slave", in: promoted, named: "mymaster")
                == .init(host: "10.0.0.2", port: 6380)
        )
        #expect(SentinelAnnouncement.newPrimary(announcedOn: "+promoted-slave", in: promoted, named: "my") == nil)
        #expect(SentinelAnnouncement.newPrimary(announcedOn: "+sdown", in: promoted, named: "mymaster") == nil)
        #expect(
            SentinelAnnouncement.newPrimary(announcedOn: "+switch-master", in: Array("garbage".utf8), named: "garbage")
                == nil
        )
    }
}
