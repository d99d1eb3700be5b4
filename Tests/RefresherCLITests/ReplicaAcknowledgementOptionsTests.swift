import ArgumentParser
import RedisRefresher
import Testing

@testable import refresher

/// `worker --replica-acks N --replica-ack-timeout-ms MS` (or `REPLICA_ACKS`, `REPLICA_ACK_TIMEOUT_MS`): automatic
/// unless given, 0 turns acknowledgement off, values checked.
@Suite("worker: replica acknowledgement options")
struct ReplicaAcknowledgementOptionsTests {
    static let sentinel = RedisConfiguration(
        endpoint: .sentinel(.init(nodes: [.init(host: "127.0.0.1")], primaryName: "mymaster"))
    )
    static let single = RedisConfiguration(endpoint: .tcp(host: "127.0.0.1", port: 6379))

    static func worker(_ arguments: [String]) throws -> WorkerCommand {
        try WorkerCommand.parse(arguments)
    }

    @Test("Without flags or variables the setting is automatic: 1 replica within 1 s behind Sentinel, else off")
    func automatic() throws {
        let options = try Self.worker([]).replicaAcknowledgement
        #expect(try options.setting(for: Self.sentinel, environment: [:]) == nil)
        #expect(try options.setting(for: Self.single, environment: ["REPLICA_ACKS": ""]) == nil)
        let behindSentinel = try ReplicaAcknowledgementOptions.effective(for: Self.sentinel, environment: [:])
        #expect(behindSentinel.automatic)
        #expect(behindSentinel.acknowledgement == ReplicaAcknowledgement(replicas: 1, timeout: .seconds(1)))
        #expect(behindSentinel.acknowledgement.summary == "1 replica within 1 s")
        let alone = try ReplicaAcknowledgementOptions.effective(for: Self.single, environment: [:])
        #expect(alone.automatic && !alone.acknowledgement.isOn)
        #expect(alone.acknowledgement.summary == "off")
    }

    @Test("Flags set the number and the timeout; the flags win over the variables")
    func flags() throws {
        let options = try Self.worker(["--replica-acks", "2", "--replica-ack-timeout-ms", "250"]).replicaAcknowledgement
        let setting = try options.setting(
            for: Self.single,
            environment: ["REPLICA_ACKS": "5", "REPLICA_ACK_TIMEOUT_MS": "9000"]
        )
        #expect(setting == ReplicaAcknowledgement(replicas: 2, timeout: .milliseconds(250)))
        #expect(setting?.summary == "2 replicas within 250 ms")
        let off = try Self.worker(["--replica-acks", "0"]).replicaAcknowledgement
        #expect(try off.setting(for: Self.sentinel, environment: [:]) == .off)
    }

    @Test("Variables set the number and the timeout; a timeout alone keeps the automatic number of replicas")
    func variables() throws {
        let options = try Self.worker([]).replicaAcknowledgement
        #expect(
            try options.setting(for: Self.single, environment: ["REPLICA_ACKS": "1"])
                == ReplicaAcknowledgement(replicas: 1, timeout: .seconds(1))
        )
        #expect(
            try options.setting(for: Self.sentinel, environment: ["REPLICA_ACK_TIMEOUT_MS": "300"])
                == ReplicaAcknowledgement(replicas: 1, timeout: .milliseconds(300))
        )
        // Without Sentinel the automatic number is 0: a timeout alone leaves acknowledgement off.
        #expect(try options.setting(for: Self.single, environment: ["REPLICA_ACK_TIMEOUT_MS": "300"]) == .off)
        #expect(try options.setting(for: Self.sentinel, environment: ["REPLICA_ACKS": "0"]) == .off)
        let chosen = try ReplicaAcknowledgementOptions.effective(for: Self.sentinel, environment: ["REPLICA_ACKS": "3"])
        #expect(!chosen.automatic && chosen.acknowledgement.replicas == 3)
    }

    @Test(
        "Out-of-range or non-numeric values are refused, naming the flag or the variable",
        arguments: [
            (["--replica-acks", "65"], [String: String](), "--replica-acks must be in 0...64"),
            (["--replica-acks=-1"], [:], "--replica-acks must be in 0...64"),
            ([], ["REPLICA_ACKS": "many"], "REPLICA_ACKS must be an integer"),
            ([], ["REPLICA_ACKS": "100"], "REPLICA_ACKS must be in 0...64"),
            (["--replica-ack-timeout-ms", "0"], [:], "--replica-ack-timeout-ms must be in 1...10000 ms"),
            ([], ["REPLICA_ACK_TIMEOUT_MS": "10001"], "REPLICA_ACK_TIMEOUT_MS must be in 1...10000 ms"),
            ([], ["REPLICA_ACK_TIMEOUT_MS": "1.5"], "REPLICA_ACK_TIMEOUT_MS must be an integer"),
        ]
    )
    func refused(_ arguments: [String], _ environment: [String: String], _ expected: String) throws {
        let options = try Self.worker(arguments).replicaAcknowledgement
        do {
            _ = try options.setting(for: Self.sentinel, environment: environment)
            Issue.record("\(arguments) \(environment) was accepted")
        } catch let error as CLIError {
            #expect(error.description.hasPrefix(expected), "\(error)")
        }
    }

    @Test("A value that is not a number is refused by the parser")
    func parser() {
        #expect(throws: (any Error).self) { try Self.worker(["--replica-acks", "two"]) }
        #expect(throws: (any Error).self) { try Self.worker(["--replica-ack-timeout-ms", "1s"]) }
    }

    @Test("Every setting the options accept is one RefresherConfiguration accepts")
    func acceptedByTheRefresher() throws {
        for (replicas, timeout) in [(0, 1), (1, 1), (64, 10_000), (3, 500)] {
            let options = try Self.worker([
                "--replica-acks", String(replicas), "--replica-ack-timeout-ms", String(timeout),
            ]).replicaAcknowledgement
            var configuration = RefresherConfiguration(redisURL: "redis://127.0.0.1:6379", session: "s")
            configuration.replicaAcknowledgement = try options.setting(for: Self.single, environment: [:])
            #expect(throws: Never.self) { try configuration.validate() }
        }
    }
}
