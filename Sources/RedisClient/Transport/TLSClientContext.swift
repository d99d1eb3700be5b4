import COpenSSL

/// An OpenSSL client context built from ``RedisConfiguration/TLS``: trust store, client certificate, TLS 1.2
/// minimum. Built for every connect, so certificates rotated on disk are picked up by the next reconnect.
final class TLSClientContext {
    let settings: RedisConfiguration.TLS
    let raw: OpaquePointer

    init(_ settings: RedisConfiguration.TLS) throws(RedisError) {
        guard let context = SSL_CTX_new(TLS_client_method()) else {
            throw TLSErrors.failure("cannot create a TLS context")
        }
        self.settings = settings
        self.raw = context
        guard copenssl_set_min_tls12(context) == 1 else { throw TLSErrors.failure("cannot require TLS 1.2") }
        copenssl_configure_context(context)
        copenssl_refuse_passphrases(context)
        if settings.caFile != nil || settings.caDirectory != nil {
            guard SSL_CTX_load_verify_locations(context, settings.caFile, settings.caDirectory) == 1 else {
                throw TLSErrors.failure("cannot load the CA certificates from \(Self.describe(settings))")
            }
        } else if SSL_CTX_set_default_verify_paths(context) != 1 {
            throw TLSErrors.failure("cannot load the system trust store")
        }
        SSL_CTX_set_verify(context, settings.insecureSkipVerify ? SSL_VERIFY_NONE : SSL_VERIFY_PEER, nil)
        if let certificateFile = settings.certificateFile {
            guard SSL_CTX_use_certificate_chain_file(context, certificateFile) == 1 else {
                throw TLSErrors.failure("cannot load the client certificate \(certificateFile)")
            }
            let keyFile = settings.keyFile ?? certificateFile
            guard SSL_CTX_use_PrivateKey_file(context, keyFile, SSL_FILETYPE_PEM) == 1 else {
                throw TLSErrors.failure(
                    "cannot load the client key \(keyFile) (keys protected by a passphrase are not supported)"
                )
            }
            guard SSL_CTX_check_private_key(context) == 1 else {
                throw TLSErrors.failure("the client key \(keyFile) does not match the certificate \(certificateFile)")
            }
        }
    }

    deinit { SSL_CTX_free(raw) }

    private static func describe(_ settings: RedisConfiguration.TLS) -> String {
        [settings.caFile.map { "ca_file \($0)" }, settings.caDirectory.map { "ca_dir \($0)" }]
            .compactMap { $0 }.joined(separator: " and ")
    }
}
