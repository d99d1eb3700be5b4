import RedisClient
import RedisRefresher

/// TLS settings for a `rediss://` URL from `REDIS_TLS_*` environment variables, one per URL query item:
/// `REDIS_TLS_CA_FILE` (`ca_file`), `REDIS_TLS_CA_DIR` (`ca_dir`), `REDIS_TLS_CERT_FILE` (`cert_file`),
/// `REDIS_TLS_KEY_FILE` (`key_file`), `REDIS_TLS_SERVER_NAME` (`server_name`) and `REDIS_TLS_INSECURE_SKIP_VERIFY`
/// (`insecure_skip_verify`, `true` or `false`).
///
/// The variables are merged into the URL: each fills in the query item the URL leaves out, and an item written in
/// the URL wins over its variable. Empty variables count as unset. With a plaintext URL (`redis://`, `unix://`,
/// `redis-sentinel://`, `redis-cluster://`) a set variable is an error rather than silently ignored: TLS needs
/// `rediss://`, `rediss-sentinel://` or `rediss-cluster://` (whose settings apply to every node of the cluster).
struct RedisTLSVariables: Sendable {
    /// Each variable with the URL query item it stands for.
    static let items: [(variable: String, item: String)] = [
        ("REDIS_TLS_CA_FILE", "ca_file"), ("REDIS_TLS_CA_DIR", "ca_dir"), ("REDIS_TLS_CERT_FILE", "cert_file"),
        ("REDIS_TLS_KEY_FILE", "key_file"), ("REDIS_TLS_SERVER_NAME", "server_name"),
        ("REDIS_TLS_INSECURE_SKIP_VERIFY", "insecure_skip_verify"),
    ]

    /// The variables' names, which child processes do not inherit: their settings are in the URL they are given.
    static var names: [String] { items.map(\.variable) }

    /// The variables that are set (non-empty), in the order of ``items``.
    let given: [(variable: String, item: String, value: String)]

    init(environment: [String: String]) {
        given = Self.items.compactMap { variable, item in
            guard let value = environment[variable], !value.isEmpty else { return nil }
            return (variable, item, value)
        }
    }

    /// `url` with the settings of the variables added as query items, those the URL already has kept as written.
    /// Checked by parsing the result.
    func apply(toURL url: String) throws -> String {
        guard let first = given.first else { return url }
        let shown = RedisConfiguration.redactingPassword(inURL: url)
        var text = RedisURLText(url)
        guard text.isTLS else {
            throw CLIError(
                "\(first.variable) is set, but the Redis URL \(shown) is not a rediss://, rediss-sentinel:// or "
                    + "rediss-cluster:// URL: TLS settings need one (or unset the REDIS_TLS_* variables)"
            )
        }
        do {
            _ = try RedisConfiguration(url: url)
        } catch {
            throw CLIError("bad Redis URL: \(error.message)")
        }
        let written = text.queryNames
        for (variable, item, value) in given where !written.contains(item[...]) {
            if item == "insecure_skip_verify", value != "true", value != "false" {
                throw CLIError("\(variable) must be true or false")
            }
            text.query.append("\(item)=\(URLText.percentEncoded(value, keeping: "/:"))"[...])
        }
        let merged = text.text
        do {
            _ = try RedisConfiguration(url: merged)
        } catch {
            let names = given.map(\.variable).joined(separator: ", ")
            throw CLIError("the TLS settings of \(names) do not fit the Redis URL \(shown): \(error.message)")
        }
        return merged
    }
}
