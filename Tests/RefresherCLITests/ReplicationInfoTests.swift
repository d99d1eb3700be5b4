import Foundation
import RedisRefresher
import Testing

@testable import refresher

/// What `status` makes of `INFO replication` and `CLIENT INFO`, without a server.
@Suite("status: replication and replica acknowledgement display")
struct ReplicationInfoTests {
    static let primaryInfo = """
        # Replication\r
        role:master\r
        connected_slaves:2\r
        slave0:ip=127.0.0.1,port=7202,state=online,offset=1234,lag=0\r
        slave1:ip=::1,port=7203,state=wait_bgsave,offset=0,lag=3\r
        master_failover_state:no-failover\r
        master_replid:893d4a716e857570215ad5d450d10fd48f97812e\r
        master_repl_offset:1234\r
        """

    static let replicaInfo = """
        # Replication
        role:slave
        master_host:redis-primary
        master_port:6379
        master_link_status:down
        master_last_io_seconds_ago:-1
        slave_repl_offset:1
        connected_slaves:0
        master_repl_offset:0
        """

    static let sentinel = RedisConfiguration(
        endpoint: .sentinel(.init(nodes: [.init(host: "127.0.0.1")], primaryName: "mymaster"))
    )

    @Test("A primary with replicas: role, address, every replica with its state and lag")
    func primary() throws {
        let info = ReplicationInfo(info: RedisInfo(parsing: Self.primaryInfo), address: "127.0.0.1:7201")
        #expect(info.role == .primary)
        #expect(info.address == "127.0.0.1:7201")
        #expect(info.connectedReplicas == 2)
        #expect(info.offset == 1234)
        #expect(
            info.replicas == [
                .init(address: "127.0.0.1:7202", state: "online", offset: 1234, lag: 0),
                .init(address: "[::1]:7203", state: "wait_bgsave", offset: 0, lag: 3),
            ]
        )
        #expect(info.onlineReplicas == 1)
        let shown = StatusReport.Replication(info)
        #expect(shown.nodeLine == "primary 127.0.0.1:7201")
        #expect(
            shown.replicasLine == "2 connected: 127.0.0.1:7202 (online, lag 0 s), [::1]:7203 (wait_bgsave, lag 3 s)"
        )
        #expect(shown.onlineReplicas == 1)
    }

    @Test("A replica: its primary and the link, and that writes fail there")
    func replica() {
        let info = ReplicationInfo(info: RedisInfo(parsing: Self.replicaInfo), address: nil)
        #expect(info.role == .replica)
        #expect(info.primaryAddress == "redis-primary:6379")
        #expect(info.primaryLinkUp == false)
        #expect(info.replicas.isEmpty)
        let shown = StatusReport.Replication(info)
        #expect(shown.nodeLine == "replica of redis-primary:6379 (link down): not the primary, writes fail here")
        #expect(shown.replicasLine == "none")
    }

    @Test("Unknown roles, missing or malformed replica lines, and a failed INFO")
    func oddReplies() throws {
        let empty = ReplicationInfo(info: RedisInfo(parsing: ""), address: nil)
        #expect(empty.role == nil && empty.connectedReplicas == 0 && empty.replicas.isEmpty)
        #expect(StatusReport.Replication(empty).nodeLine == "unknown role")
        #expect(StatusReport.Replication(empty).onlineReplicas == nil)
        let malformed = ReplicationInfo(
            info: RedisInfo(parsing: "role:master\nconnected_slaves:2\nslave0:state=online\nslave1:ip=h,port=1"),
            address: nil
        )
        #expect(malformed.replicas == [.init(address: "h:1", state: "unknown", offset: nil, lag: nil)])
        #expect(StatusReport.Replication(malformed).nodeLine == "primary (address unknown)")
        #expect(StatusReport.Replication(malformed).replicasLine == "2 connected: h:1 (unknown)")
        let failed = StatusReport.Replication(error: "NOPERM this user has no permissions to run the 'info' command\n")
        #expect(failed.nodeLine == "unknown (NOPERM this user has no permissions to run the 'info' command)")
        #expect(failed.replicasLine == "unknown")
        #expect(failed.onlineReplicas == nil)
        // Control characters from the server cannot forge output lines.
        let hostile = ReplicationInfo(
            info: RedisInfo(parsing: "role:master\nconnected_slaves:1\nslave0:ip=a\u{1b}[2J,port=1,state=online"),
            address: nil
        )
        #expect(!StatusReport.Replication(hostile).replicasLine.contains("\u{1b}"))
    }

    @Test("CLIENT INFO: the node's end of the connection")
    func localAddress() {
        let tcp = "id=7 addr=127.0.0.1:50000 laddr=127.0.0.1:7201 fd=8 name=refresher-status age=0 db=0\n"
        #expect(ReplicationInfo.localAddress(clientInfo: tcp) == "127.0.0.1:7201")
        #expect(
            ReplicationInfo.localAddress(clientInfo: "id=1 addr=/tmp/r.sock:0 laddr=/tmp/r.sock:0 fd=9")
                == "/tmp/r.sock"
        )
        #expect(ReplicationInfo.localAddress(clientInfo: "id=1 laddr=[::1]:6379") == "[::1]:6379")
        #expect(ReplicationInfo.localAddress(clientInfo: "id=1 addr=1.2.3.4:5") == nil)
        #expect(ReplicationInfo.localAddress(clientInfo: "laddr= id=1") == nil)
    }

    @Test("The acknowledgement line: setting, where it comes from, and a warning when too few replicas are online")
    func acknowledgementLine() {
        let automatic = StatusReport.Acknowledgement(
            ReplicaAcknowledgement(replicas: 1, timeout: .seconds(1)),
            automatic: true,
            sentinel: true,
            onlineReplicas: 1
        )
        #expect(automatic.line == "1 replica within 1 s (automatic with Sentinel)")
        #expect(automatic.enoughReplicas == true)
        let starved = StatusReport.Acknowledgement(
            ReplicaAcknowledgement(replicas: 2, timeout: .milliseconds(250)),
            automatic: false,
            sentinel: true,
            onlineReplicas: 1
        )
        #expect(
            starved.line
                == "2 replicas within 250 ms (from REPLICA_ACKS/REPLICA_ACK_TIMEOUT_MS); only 1 online: no refresh "
                + "can complete until 2 are"
        )
        #expect(starved.enoughReplicas == false)
        let off = StatusReport.Acknowledgement(.off, automatic: true, sentinel: false, onlineReplicas: 0)
        #expect(off.line == "off (automatic without Sentinel)")
        #expect(off.enoughReplicas == nil && off.replicas == 0 && off.timeoutMilliseconds == nil)
        let unknown = StatusReport.Acknowledgement(
            .automatic(for: Self.sentinel),
            automatic: true,
            sentinel: true,
            onlineReplicas: nil
        )
        #expect(unknown.enoughReplicas == nil)
        #expect(unknown.line == "1 replica within 1 s (automatic with Sentinel)")
    }

    @Test("JSON: every field present, null where unknown")
    func json() throws {
        let info = ReplicationInfo(info: RedisInfo(parsing: Self.primaryInfo), address: "127.0.0.1:7201")
        let object = try OperatorFixture.jsonObject(try Operator.json(StatusReport.Replication(info)))
        #expect(object["role"] as? String == "primary")
        #expect(object["address"] as? String == "127.0.0.1:7201")
        #expect(object["primary_address"] is NSNull)
        #expect(object["primary_link_up"] is NSNull)
        #expect(object["connected_replicas"] as? Int == 2)
        #expect(object["error"] is NSNull)
        let replicas = try #require(object["replicas"] as? [[String: Any]])
        #expect(replicas.first?["address"] as? String == "127.0.0.1:7202")
        #expect(replicas.first?["lag_s"] as? Int == 0)
        #expect(replicas.first?["offset"] as? Int == 1234)
        let failed = try OperatorFixture.jsonObject(try Operator.json(StatusReport.Replication(error: "ERR x")))
        #expect(failed["role"] is NSNull && failed["connected_replicas"] is NSNull)
        #expect(failed["error"] as? String == "ERR x")
        #expect((failed["replicas"] as? [Any])?.isEmpty == true)
        let acknowledgement = try OperatorFixture.jsonObject(
            try Operator.json(StatusReport.Acknowledgement(.off, automatic: true, sentinel: false, onlineReplicas: 0))
        )
        #expect(
            Set(acknowledgement.keys) == [
                "replicas", "timeout_ms", "automatic", "sentinel", "cluster", "enough_replicas",
            ]
        )
        #expect(acknowledgement["cluster"] as? Bool == false)
        #expect(acknowledgement["timeout_ms"] is NSNull)
    }
}
