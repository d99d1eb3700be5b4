import AsyncHTTPClient
import DemoIdentityProvider
import Foundation
import NIOCore
import RedisRefresher
import RedisTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `/metrics` as Prometheus sees it: real `refresher worker` and `refresher idp` processes, scraped over HTTP.
@Suite("Prometheus /metrics endpoint", .serialized)
struct MetricsEndpointTests {
    @Test("Two workers with --metrics-port 0: their scrapes add up to the one refresh the provider counted")
    func workersExposeRefreshes() async throws {
        try await StaleSession.with("cli-metrics") { fleet in
            let environment = fleet.workerEnvironment()
            let first = try await CLIProcess(
                ["worker", "--metrics-port", "0"],
                environment: environment,
                removing: MetricsScrape.variables
            )
            defer { first.kill() }
            let second = try await CLIProcess(
                ["worker", "--metrics-port", "0"],
                environment: environment,
                removing: MetricsScrape.variables
            )
            defer { second.kill() }
            let workers = [first, second]
            var announced: [String] = []
            for worker in workers { announced.append(try await MetricsScrape.announcedURL(of: worker)) }
            let urls = announced
            let series = "redis_refresher_refreshes{session=\"\(fleet.name)\"}"
            try await waitUntil(timeout: .seconds(30), "the refresh shows in the workers' scrapes") {
                var total = 0.0
                for url in urls { total += try await MetricsScrape.get(url).samples[series] ?? 0 }
                return total == 1
            }
            var refreshes: [Double] = []
            for url in urls {
                let scrape = try await MetricsScrape.get(url)
                #expect(scrape.contentType.hasPrefix("text/plain; version=0.0.4"))
                #expect(scrape.text.contains("# TYPE redis_refresher_refreshes counter"))
                // Every counter exists from the start, so a worker that did not refresh reports 0 rather than nothing.
                refreshes.append(try #require(scrape.samples[series], "\(scrape.text)"))
            }
            #expect(refreshes.sorted() == [0, 1])
            #expect(fleet.idp.stats.refreshes == 1)
            #expect(fleet.idp.stats.reuseEvents == 0)
            // The refresh's duration went into the holder's timer, a Prometheus histogram.
            let holder = urls[refreshes[0] == 1 ? 0 : 1]
            let durations = try await MetricsScrape.get(holder).samples
            #expect(durations["redis_refresher_refresh_duration_count{session=\"\(fleet.name)\"}"] == 1)
            // Each worker listens on its metrics port and nothing else, on loopback only: without METRICS_HOST the
            // endpoint is not reachable from other machines.
            for (worker, url) in zip(workers, urls) {
                let announced = try #require(URL(string: url))
                let port = try #require(announced.port)
                #expect(announced.host == "127.0.0.1")
                #expect(try MetricsScrape.listeningPorts(of: worker.pid) == [port])
                #expect(try MetricsScrape.listeningAddresses(of: worker.pid) == ["127.0.0.1:\(port)"])
            }
            for worker in workers { worker.signal(SIGTERM) }
            for worker in workers { _ = try await worker.waitForExit() }
        }
    }

    @Test("A worker without --metrics-port or METRICS_PORT listens on no port")
    func workerWithoutFlagServesNothing() async throws {
        try await StaleSession.with("cli-nometrics") { fleet in
            let worker = try await CLIProcess(
                ["worker"],
                environment: fleet.workerEnvironment(),
                removing: MetricsScrape.variables
            )
            defer { worker.kill() }
            // Once the worker has refreshed, its refresher, HTTP client and tasks are all up.
            try await waitUntil(timeout: .seconds(30), "the worker refreshes") {
                try await fleet.admin.status().generation == 2
            }
            #expect(worker.isRunning)
            #expect(try MetricsScrape.listeningPorts(of: worker.pid) == [])
            #expect(!worker.stderr.contains("metrics at"))
            worker.signal(SIGTERM)
            _ = try await worker.waitForExit()
        }
    }

    @Test("METRICS_PORT turns the endpoint on like the flag; a bad value is a one-line error")
    func metricsPortVariable() async throws {
        try await StaleSession.with("cli-metricsenv") { fleet in
            var environment = fleet.workerEnvironment()
            environment["METRICS_PORT"] = "0"
            let worker = try await CLIProcess(["worker"], environment: environment, removing: ["METRICS_HOST"])
            defer { worker.kill() }
            let url = try await MetricsScrape.announcedURL(of: worker)
            let series = "redis_refresher_refreshes{session=\"\(fleet.name)\"}"
            try await waitUntil(timeout: .seconds(30), "the refresh shows in the scrape") {
                try await MetricsScrape.get(url).samples[series] == 1
            }
            worker.signal(SIGTERM)
            _ = try await worker.waitForExit()
            environment["METRICS_PORT"] = "nine"
            let refused = try await CLI.run(["worker"], environment: environment, timeout: .seconds(30))
            #expect(refused.status == 1)
            #expect(refused.stderr.contains("METRICS_PORT must be an integer"), "\(refused.stderr)")
        }
    }

    @Test("demo --metrics-port 0: the demo and each worker serve /metrics while the fleet runs")
    func demoExposesFleet() async throws {
        let demo = try await CLIProcess(
            [
                "demo", "--processes", "2", "--tasks", "2", "--duration", "6", "--token-ttl", "1", "--latency-ms", "20",
                "--metrics-port", "0", "--json",
            ],
            environment: ["REDIS_URL": TestRedis.url],
            removing: MetricsScrape.variables
        )
        defer { demo.kill() }
        @Sendable func announced() -> [String] {
            demo.stderr.split(separator: "\n").filter { $0.hasPrefix("metrics at ") }
                .map { String($0.dropFirst("metrics at ".count)) }
        }
        try await waitUntil(timeout: .seconds(60), "the demo and its 2 workers say where their metrics are") {
            if !demo.isRunning { throw TestSupportError("the demo exited: \(demo.stderr)") }
            return announced().count == 3
        }
        // The demo's own line comes first: it serves before it starts the workers.
        let urls = announced()
        try await waitUntil(timeout: .seconds(30), "the identity provider and a worker count a refresh") {
            let idp = try await MetricsScrape.get(urls[0]).samples["demo_idp_refreshes"] ?? 0
            var workers = 0.0
            for url in urls.dropFirst() {
                let samples = try await MetricsScrape.get(url).samples
                workers += samples.filter { $0.key.hasPrefix("redis_refresher_refreshes{session=\"demo-") }.values
                    .reduce(0, +)
            }
            return idp >= 1 && workers >= 1
        }
        let status = try await demo.waitForExit(timeout: .seconds(120))
        #expect(status == 0, "\(demo.stderr)")
        let report = try OperatorFixture.jsonObject(demo.stdout)
        #expect(report["passed"] as? Bool == true)
        #expect(report["reuseEvents"] as? Int == 0)
    }

    @Test("refresher idp stores its login and serves /metrics on its own port with the provider's counters")
    func identityProviderExposesCounters() async throws {
        let name = "cli-idpmetrics-\(UUID().uuidString.prefix(8))"
        try await SessionAdmin.with(session: name) { admin in
            let idp = try await CLIProcess(
                ["idp", "--port", "0", "--session", name, "--latency-ms", "0"],
                environment: ["REDIS_URL": TestRedis.url]
            )
            defer { idp.kill() }
            @Sendable func listening() -> String? {
                let line = idp.stdout.split(separator: "\n").first { $0.contains("listening on ") }
                return line?.split(separator: " ").first { $0.hasPrefix("http://") }.map(String.init)
            }
            try await waitUntil(timeout: .seconds(30), "the identity provider says where it listens") {
                if !idp.isRunning { throw TestSupportError("idp exited: \(idp.stderr)") }
                return listening() != nil
            }
            let base = try #require(listening())
            #expect(try await admin.status().generation == 1)

            // A second login, one refresh, the same refresh token again (reuse: the session is revoked), and a
            // request without a token.
            let login = try await MetricsScrape.post(base + "/login", body: "")
            let tokens = try JSONDecoder().decode(DemoIdentityProvider.Tokens.self, from: Data(login.body.utf8))
            let form = "grant_type=refresh_token&refresh_token=\(tokens.refresh_token)&client_id=metrics-test"
            #expect(try await MetricsScrape.post(base + "/oauth/token", body: form).status == 200)
            #expect(try await MetricsScrape.post(base + "/oauth/token", body: form).status == 400)
            #expect(try await MetricsScrape.get(base + "/resource", bearer: "never-issued").status == 401)

            let samples = try await MetricsScrape.get(base + "/metrics").samples
            #expect(samples["demo_idp_logins"] == 2, "\(samples)")
            #expect(samples["demo_idp_refreshes"] == 1)
            #expect(samples["demo_idp_rejected_refreshes"] == 1)
            #expect(samples["demo_idp_refresh_token_reuse"] == 1)
            #expect(samples["demo_idp_session_revoked"] == 1)
            #expect(samples["demo_idp_resource_requests{status=\"401\"}"] == 1)
            #expect(!(try await MetricsScrape.get(base + "/metrics").text.contains(tokens.refresh_token)))
            idp.signal(SIGTERM)
            _ = try await idp.waitForExit()
        }
    }
}

/// Scraping and reading the Prometheus text format.
enum MetricsScrape {
    /// What a test removes from the inherited environment so that only its own flags turn metrics on.
    static let variables = ["METRICS_PORT", "METRICS_HOST"]

    struct Response {
        let status: Int
        let contentType: String
        let body: String
        var text: String { body }

        /// Every sample by its series (`name{labels}`), for the text format's `series value` lines.
        var samples: [String: Double] {
            var samples: [String: Double] = [:]
            for line in body.split(separator: "\n") where !line.hasPrefix("#") {
                guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...])
                else { continue }
                samples[String(line[..<space])] = value
            }
            return samples
        }
    }

    static func get(_ url: String, bearer: String? = nil) async throws -> Response {
        var request = HTTPClientRequest(url: url)
        if let bearer { request.headers.add(name: "Authorization", value: "Bearer \(bearer)") }
        return try await send(request)
    }

    static func post(_ url: String, body: String) async throws -> Response {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
        request.body = .bytes(ByteBuffer(string: body))
        return try await send(request)
    }

    private static func send(_ request: HTTPClientRequest) async throws -> Response {
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
        let body = try await response.body.collect(upTo: 1 << 20)
        return Response(
            status: Int(response.status.code),
            contentType: response.headers.first(name: "Content-Type") ?? "",
            body: String(buffer: body)
        )
    }

    /// The URL a worker prints on stderr once its endpoint listens: `metrics at http://HOST:PORT/metrics`.
    static func announcedURL(of process: CLIProcess) async throws -> String {
        @Sendable func announced() -> String? {
            let line = process.stderr.split(separator: "\n").first { $0.hasPrefix("metrics at ") }
            return line.map { String($0.dropFirst("metrics at ".count)) }
        }
        try await waitUntil(timeout: .seconds(30), "the worker says where its metrics are") {
            if !process.isRunning { throw TestSupportError("the worker exited: \(process.stderr)") }
            return announced() != nil
        }
        guard let url = announced() else { throw TestSupportError("no metrics URL") }
        return url
    }

    /// The TCP ports on which process `pid` listens.
    static func listeningPorts(of pid: Int32) throws -> [Int] {
        try listeningSockets(of: pid).map(\.port).sorted()
    }

    /// The local addresses (`HOST:PORT`, `[HOST]:PORT` for IPv6) on which process `pid` listens.
    static func listeningAddresses(of pid: Int32) throws -> [String] {
        try listeningSockets(of: pid).map {
            $0.host.contains(":") ? "[\($0.host)]:\($0.port)" : "\($0.host):\($0.port)"
        }
        .sorted()
    }

    /// The TCP sockets on which process `pid` listens: its socket descriptors matched with the kernel's table of
    /// listening sockets.
    private static func listeningSockets(of pid: Int32) throws -> [(host: String, port: Int)] {
        let descriptors = try FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd")
        let inodes = Set(
            descriptors.compactMap { descriptor -> String? in
                guard
                    let target = try? FileManager.default.destinationOfSymbolicLink(
                        atPath: "/proc/\(pid)/fd/\(descriptor)"
                    ),
                    target.hasPrefix("socket:[")
                else { return nil }
                return String(target.dropFirst("socket:[".count).dropLast())
            }
        )
        var sockets: [(host: String, port: Int)] = []
        for table in ["tcp", "tcp6"] {
            // Read to the end: `String(contentsOfFile:)` stops after the first page of a /proc file, and the table
            // holds every socket of the machine's network namespace.
            let file = URL(fileURLWithPath: "/proc/\(pid)/net/\(table)")
            let data = (try? FileHandle(forReadingFrom: file).readToEnd()) ?? nil
            let text = String(decoding: data ?? Data(), as: UTF8.self)
            for line in text.split(separator: "\n").dropFirst() {
                // sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
                let fields = line.split(separator: " ")
                guard fields.count > 9, fields[3] == "0A", inodes.contains(String(fields[9])) else { continue }
                let local = fields[1].split(separator: ":")
                guard local.count == 2, let host = address(hex: local[0]), let port = Int(local[1], radix: 16)
                else { continue }
                sockets.append((host, port))
            }
        }
        return sockets
    }

    /// An address as the kernel's tables print it (each 32-bit word of the network-order bytes in hex, as the host
    /// reads it), in the usual text form.
    private static func address(hex: Substring) -> String? {
        guard hex.count == 8 || hex.count == 32 else { return nil }
        var bytes: [UInt8] = []
        var rest = hex
        while !rest.isEmpty {
            guard let word = UInt32(rest.prefix(8), radix: 16) else { return nil }
            withUnsafeBytes(of: word) { bytes.append(contentsOf: $0) }
            rest = rest.dropFirst(8)
        }
        let family = bytes.count == 4 ? AF_INET : AF_INET6
        var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        guard inet_ntop(family, bytes, &text, socklen_t(text.count)) != nil else { return nil }
        return String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
