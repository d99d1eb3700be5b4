import ArgumentParser
import Foundation
import RedisClient
import RedisRefresher

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The Redis password from outside the command line: a password in `--redis-url` is visible to every user of the
/// machine through `ps` and `/proc/PID/cmdline`.
///
/// Sources: `--redis-password-file PATH` (or `REDIS_PASSWORD_FILE`; the flag wins), whose content is the password
/// with one trailing newline trimmed, or `REDIS_PASSWORD`. Empty variables count as unset. At most one source may
/// give a password: a password in the URL together with one from the environment or a file, or both
/// `REDIS_PASSWORD` and a password file, is an error rather than a silent choice.
struct RedisPasswordOptions: ParsableArguments {
    @Option(
        name: .long,
        help: ArgumentHelp(
            "Read the Redis password from this file, one trailing newline trimmed (default: $REDIS_PASSWORD_FILE). "
                + "Or set $REDIS_PASSWORD. Either keeps the password out of the process list.",
            valueName: "path"
        )
    )
    var redisPasswordFile: String?

    static let passwordVariable = "REDIS_PASSWORD"
    static let fileVariable = "REDIS_PASSWORD_FILE"
    /// A password file larger than this is refused: it is not a password file.
    static let maximumFileBytes = 64 * 1024

    /// The password from the file or `REDIS_PASSWORD` and where it came from; `nil` when neither is given.
    func password(
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws -> (password: String, source: String)? {
        let variable = environment[Self.passwordVariable].flatMap { $0.isEmpty ? nil : $0 }
        let path = redisPasswordFile ?? environment[Self.fileVariable].flatMap { $0.isEmpty ? nil : $0 }
        guard let path else { return variable.map { ($0, Self.passwordVariable) } }
        guard variable == nil else {
            throw CLIError(
                "the Redis password is given twice, in \(Self.passwordVariable) and in a password file: give one"
            )
        }
        return (try Self.readPassword(path: path), "the password file")
    }

    /// `configuration` with the password from the file or the environment, if one is given.
    func apply(to configuration: inout RedisConfiguration) throws {
        guard let (password, source) = try password() else { return }
        try Self.refuseTwice(configuration, source: source)
        configuration.password = password
    }

    /// `url` with the password from the file or the environment in it, if one is given, for APIs that take a URL
    /// (``RefresherConfiguration/redisURL``): the password stays in this process's memory, never in an argv.
    func apply(toURL url: String) throws -> String {
        guard let (password, source) = try password() else { return url }
        let configuration: RedisConfiguration
        do {
            configuration = try RedisConfiguration(url: url)
        } catch {
            throw CLIError("bad Redis URL: \(error.message)")
        }
        try Self.refuseTwice(configuration, source: source)
        return try Self.url(url, configuration: configuration, password: password)
    }

    /// The variables a child process must not inherit once the password is part of the `REDIS_URL` it is given.
    static let variables = [passwordVariable, fileVariable]

    private static func refuseTwice(_ configuration: RedisConfiguration, source: String) throws {
        guard let existing = configuration.password, !existing.isEmpty else { return }
        throw CLIError(
            "the Redis password is given twice, in the URL and in \(source): give one (note: redis://NAME@host means "
                + "password NAME; for an ACL user write redis://USER:@host)"
        )
    }

    /// Reads a password file: its bytes as UTF-8, one trailing `\n` (or `\r\n`) trimmed.
    static func readPassword(path: String, what: String = "Redis password file") throws -> String {
        let shown = Operator.printable(path)
        func failure(_ reason: String) -> CLIError {
            CLIError("cannot read the \(what) \(shown): \(reason)")
        }
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw failure(String(cString: strerror(errno))) }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = read(fd, &buffer, buffer.count)
            if count < 0 {
                if errno == EINTR { continue }
                throw failure(String(cString: strerror(errno)))
            }
            if count == 0 { break }
            bytes.append(contentsOf: buffer[0..<count])
            guard bytes.count <= maximumFileBytes else { throw failure("larger than \(maximumFileBytes) bytes") }
        }
        if bytes.last == UInt8(ascii: "\n") {
            bytes.removeLast()
            if bytes.last == UInt8(ascii: "\r") { bytes.removeLast() }
        }
        guard !bytes.isEmpty else { throw failure("it is empty") }
        guard let password = String(validating: bytes, as: UTF8.self) else { throw failure("it is not UTF-8 text") }
        return password
    }

    /// `url` (which parses to `configuration` and has no password) with `password` added: in the user info of a
    /// `redis://`, `rediss://`, Sentinel or Cluster URL, as the `password` item of a `unix://` URL's query. Checked
    /// by parsing the result.
    static func url(_ url: String, configuration: RedisConfiguration, password: String) throws -> String {
        let encoded = URLText.percentEncoded(password)
        var text = RedisURLText(url)
        if text.scheme == "unix://" {
            text.query.removeAll { $0.hasPrefix("password=") }
            text.query.append("password=\(encoded)"[...])
        } else {
            text.userInfo = "\(text.user):\(encoded)"
        }
        let merged = text.text
        var expected = configuration
        expected.password = password
        guard (try? RedisConfiguration(url: merged)) == expected else {
            throw CLIError(
                "cannot add the Redis password to the URL \(RedisConfiguration.redactingPassword(inURL: url))"
            )
        }
        return merged
    }
}
