extension RedisConfiguration {
    /// TLS settings for a `rediss://` connection.
    ///
    /// The defaults verify the server the safe way: its certificate must chain to the system trust store (or to
    /// ``caFile`` / ``caDirectory`` when given) and name the host connected to (or ``serverName``), and TLS 1.2 is
    /// the oldest version accepted. The URL query items of the same meaning are `ca_file`, `ca_dir`, `cert_file`,
    /// `key_file`, `server_name` and `insecure_skip_verify`.
    public struct TLS: Sendable, Hashable {
        /// A PEM file of CA certificates to trust instead of the system store.
        public var caFile: String?
        /// A directory of hashed CA certificates (`openssl rehash`) to trust instead of the system store.
        public var caDirectory: String?
        /// A PEM client certificate (chain) for servers that require one (mutual TLS).
        public var certificateFile: String?
        /// The PEM private key of ``certificateFile``; `nil` reads it from ``certificateFile``.
        public var keyFile: String?
        /// The name sent as SNI and required in the server certificate; `nil` uses the host of the endpoint.
        public var serverName: String?
        /// Accepts any server certificate, from anyone: the connection is encrypted but not authenticated, so a
        /// machine in the middle can read and change everything, the password included. For throwaway test
        /// servers only.
        public var insecureSkipVerify: Bool

        /// TLS settings; the defaults verify the server against the system trust store.
        public init(
            caFile: String? = nil,
            caDirectory: String? = nil,
            certificateFile: String? = nil,
            keyFile: String? = nil,
            serverName: String? = nil,
            insecureSkipVerify: Bool = false
        ) {
            self.caFile = caFile
            self.caDirectory = caDirectory
            self.certificateFile = certificateFile
            self.keyFile = keyFile
            self.serverName = serverName
            self.insecureSkipVerify = insecureSkipVerify
        }

        /// Checks the combinations that cannot work.
        func validate() throws(RedisError) {
            for (name, value) in [
                ("ca_file", caFile), ("ca_dir", caDirectory), ("cert_file", certificateFile), ("key_file", keyFile),
                ("server_name", serverName),
            ] {
                if let value, value.isEmpty || value.utf8.contains(0) {
                    throw RedisError(.invalidConfiguration, "the TLS setting \(name) is empty or holds a NUL byte")
                }
            }
            if keyFile != nil && certificateFile == nil {
                throw RedisError(.invalidConfiguration, "a TLS key_file needs its cert_file")
            }
        }

        /// The settings as percent-encoded URL query items, in a fixed order (empty when all are defaults), so a
        /// description parses back to the same settings.
        var queryItems: [String] {
            var items: [String] = []
            for (name, value) in [
                ("ca_file", caFile), ("ca_dir", caDirectory), ("cert_file", certificateFile), ("key_file", keyFile),
                ("server_name", serverName),
            ] {
                if let value { items.append("\(name)=\(URLText.percentEncoded(value, keeping: "/:"))") }
            }
            if insecureSkipVerify { items.append("insecure_skip_verify=true") }
            return items
        }
    }
}

extension RedisConfiguration.TLS: CustomStringConvertible {
    /// The settings as `rediss://` query items (file paths and names only: TLS settings hold no secret), or
    /// `default` when every setting is the default.
    public var description: String {
        let items = queryItems
        return items.isEmpty ? "default" : items.joined(separator: "&")
    }
}
