import ArgumentParser
import Foundation
import RedisRefresher

/// `refresher session`: commands that write the stored session itself.
struct SessionCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "session",
        abstract: "Manage the stored session.",
        subcommands: [SessionPutCommand.self]
    )
}

/// `refresher session put`: stores tokens from a fresh login as the next generation and publishes `replaced`.
///
/// Tokens are read from stdin or `--file`, never from arguments (which `ps` and shell history would show), and are
/// never printed: the output names them by fingerprint. Exit codes: 0 stored; 1 bad input or Redis error.
struct SessionPutCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "put",
        abstract: "Store a session from a fresh login (JSON on stdin or in --file) as the next generation.",
        discussion: """
            The input is one JSON object: {"access_token": "...", "refresh_token": "...", "expires_in": 3600}, \
            or with "expires_at" (ms since the epoch) instead of "expires_in"; without either the expiry is \
            unknown. Other fields (token_type, scope, ...) are ignored, so an OAuth token response can be piped \
            in as is. The tokens are never printed, only their fingerprints.
            """
    )

    @OptionGroup var options: SessionOptions

    @Option(name: .long, help: "Read the session JSON from this file instead of stdin.")
    var file: String?

    @Option(name: .long, help: "Who stores it, as shown in refreshed_by and the replaced event.")
    var by: String = "operator"

    @Flag(name: .long, help: "Print one JSON object instead of a sentence.")
    var json = false

    /// Larger input is refused before parsing: two 64 KiB tokens plus an OAuth response's other fields fit easily.
    static let maximumInputBytes = 1 << 20

    func validate() throws {
        // `by` goes into the event line `replaced generation=N by=O`, whose fields are separated by spaces.
        guard !by.isEmpty, by.utf8.count <= 200, !by.utf8.contains(where: { $0 <= 32 || $0 >= 127 }) else {
            throw ValidationError("--by must be 1-200 printable ASCII characters without spaces")
        }
    }

    func run() async throws {
        // Input errors first: they need no Redis, and a typo should not wait for a connect timeout.
        let keys = try options.keys()
        let tokens = try SessionInput.parse(try readInput())
        let admin = try options.admin(clientName: "refresher-session")
        defer { admin.connection.close() }
        let generation = try await Operator.talkingTo(admin.connection.configuration) {
            try await admin.putSession(tokens, by: by)
        }
        let access = TokenFingerprint.of(tokens.accessToken)
        let refresh = TokenFingerprint.of(tokens.refreshToken ?? "")
        if json {
            struct Report: Encodable {
                var session: String
                var generation: Int64
                var expiresAt: Int64?
                var accessTokenFingerprint: String
                var refreshTokenFingerprint: String

                func encode(to encoder: any Encoder) throws {
                    enum Key: String, CodingKey {
                        case session, generation
                        case expiresAt = "expires_at_ms"
                        case accessTokenFingerprint = "access_token_fingerprint"
                        case refreshTokenFingerprint = "refresh_token_fingerprint"
                    }
                    var container = encoder.container(keyedBy: Key.self)
                    try container.encode(session, forKey: .session)
                    try container.encode(generation, forKey: .generation)
                    try container.encode(expiresAt, forKey: .expiresAt)
                    try container.encode(accessTokenFingerprint, forKey: .accessTokenFingerprint)
                    try container.encode(refreshTokenFingerprint, forKey: .refreshTokenFingerprint)
                }
            }
            emit(
                try Operator.json(
                    Report(
                        session: keys.session.rawValue,
                        generation: generation,
                        expiresAt: tokens.expiresAtMilliseconds,
                        accessTokenFingerprint: access,
                        refreshTokenFingerprint: refresh
                    )
                )
            )
        } else {
            emit("stored generation \(generation) for session \(keys.session) (access \(access), refresh \(refresh))")
        }
    }

    /// The raw input, from `--file` or stdin, bounded in size.
    private func readInput() throws -> Data {
        let data: Data
        if let file {
            guard let handle = FileHandle(forReadingAtPath: file) else {
                throw CLIError("cannot read \(file): no such file or no permission")
            }
            defer { try? handle.close() }
            data = try read(handle, name: file)
        } else {
            if Operator.stdinIsTerminal { printError("reading the session JSON from stdin (end with Ctrl-D)") }
            data = try read(FileHandle.standardInput, name: "stdin")
        }
        guard !data.allSatisfy({ $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }) else {
            throw CLIError(
                "no input on \(file ?? "stdin"): expected the session JSON (see `refresher session put --help`)"
            )
        }
        return data
    }

    private func read(_ handle: FileHandle, name: String) throws -> Data {
        let data: Data?
        do {
            data = try handle.read(upToCount: Self.maximumInputBytes + 1)
        } catch {
            throw CLIError("cannot read \(name)")
        }
        guard (data?.count ?? 0) <= Self.maximumInputBytes else {
            throw CLIError("the input on \(name) is larger than \(Self.maximumInputBytes) bytes")
        }
        return data ?? Data()
    }
}

/// Parses and validates the session JSON. Error messages name the field, never repeat a value: values are secrets.
enum SessionInput {
    private struct Fields: Decodable {
        var accessToken: String?
        var refreshToken: String?
        var expiresIn: Double?
        var expiresAt: Double?

        enum CodingKeys: String, CodingKey {
            case accessToken = "access_token"
            case refreshToken = "refresh_token"
            case expiresIn = "expires_in"
            case expiresAt = "expires_at"
        }

        init(from decoder: any Decoder) throws {
            let container: KeyedDecodingContainer<CodingKeys>
            do {
                container = try decoder.container(keyedBy: CodingKeys.self)
            } catch {
                throw CLIError(
                    "the session JSON must be an object like {\"access_token\": ..., \"refresh_token\": ...}"
                )
            }
            func field<Value: Decodable>(_ key: CodingKeys, _ type: Value.Type, _ expected: String) throws -> Value? {
                do {
                    return try container.decodeIfPresent(type, forKey: key)
                } catch {
                    throw CLIError("\(key.rawValue) must be \(expected)")
                }
            }
            accessToken = try field(.accessToken, String.self, "a string")
            refreshToken = try field(.refreshToken, String.self, "a string")
            expiresIn = try field(.expiresIn, Double.self, "a number of seconds")
            expiresAt = try field(.expiresAt, Double.self, "a number (ms since the epoch)")
        }
    }

    /// The tokens in `data`, or a one-line ``CLIError``.
    static func parse(_ data: Data, now: Int64 = UnixTime.nowMilliseconds) throws -> RefreshedTokens {
        let fields: Fields
        do {
            fields = try JSONDecoder().decode(Fields.self, from: data)
        } catch let error as CLIError {
            throw error
        } catch {
            throw CLIError(
                "the session input is not valid JSON (expected {\"access_token\": ..., \"refresh_token\": ...})"
            )
        }
        guard let access = fields.accessToken, !access.isEmpty else {
            throw CLIError("access_token is missing or empty")
        }
        guard let refresh = fields.refreshToken, !refresh.isEmpty else {
            throw CLIError("refresh_token is missing or empty")
        }
        for (name, token) in [("access_token", access), ("refresh_token", refresh)]
        where token.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) {
            throw CLIError("\(name) contains control characters (a stray newline?)")
        }
        let expiresAt: Int64?
        switch (fields.expiresIn, fields.expiresAt) {
        case (.some, .some):
            throw CLIError("give either expires_in or expires_at, not both")
        case (.some(let seconds), nil):
            guard seconds.isFinite, seconds > 0, seconds <= 10 * 365 * 86_400 else {
                throw CLIError("expires_in must be a positive number of seconds (at most 10 years)")
            }
            expiresAt = now + Int64((seconds * 1000).rounded())
        case (nil, .some(let milliseconds)):
            // 1e11 ms is 1973: a smaller value is almost certainly in seconds, which would read as long expired.
            guard milliseconds.isFinite, milliseconds >= 1e11 else {
                throw CLIError("expires_at must be in milliseconds since the Unix epoch (this looks like seconds)")
            }
            guard milliseconds < 1e14 else { throw CLIError("expires_at is too far in the future (milliseconds?)") }
            expiresAt = Int64(milliseconds.rounded())
        case (nil, nil):
            expiresAt = nil
        }
        return RefreshedTokens(accessToken: access, refreshToken: refresh, expiresAtMilliseconds: expiresAt)
    }
}
