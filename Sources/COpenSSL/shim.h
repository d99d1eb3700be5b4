#ifndef COPENSSL_SHIM_H
#define COPENSSL_SHIM_H

// Debian's libssl-dev (OpenSSL 3). Several calls the client needs are macros over SSL_ctrl, and the option bits
// are built with a macro Swift cannot import: these helpers expose them under a `copenssl_` prefix.

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>
#include <stdint.h>

/// Refuses anything older than TLS 1.2.
static inline int copenssl_set_min_tls12(SSL_CTX *ctx) {
    return (int)SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
}

/// Partial writes (a large pipeline goes out in pieces) from a buffer that may move between retries, and no error
/// for a peer that closes without close_notify (RESP frames its own replies, so truncation cannot go unnoticed).
static inline void copenssl_configure_context(SSL_CTX *ctx) {
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_NO_COMPRESSION);
}

/// Refuses a passphrase: without this OpenSSL's default callback would prompt on the terminal (or read stdin) from
/// the connection's I/O thread, and the connect would hang instead of failing.
static int copenssl_no_passphrase(char *buffer, int size, int rwflag, void *userdata) {
    (void)buffer;
    (void)size;
    (void)rwflag;
    (void)userdata;
    return 0;
}

static inline void copenssl_refuse_passphrases(SSL_CTX *ctx) { SSL_CTX_set_default_passwd_cb(ctx, copenssl_no_passphrase); }

/// Sends the server name (SNI).
static inline int copenssl_set_server_name(SSL *ssl, const char *name) {
    return (int)SSL_set_tlsext_host_name(ssl, name);
}

/// Requires the peer certificate to carry this IP address (an IP literal is never sent as SNI).
static inline int copenssl_set_expected_ip(SSL *ssl, const char *address) {
    return X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), address);
}

/// The reason code of a packed OpenSSL error.
static inline int copenssl_error_reason(unsigned long error) { return ERR_GET_REASON(error); }

/// The alert a TLS 1.3 server sends when it requires a client certificate and got none.
static inline int copenssl_reason_certificate_required(void) { return SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED; }

/// The reason code of a record that is not TLS (a plaintext server answering).
static inline int copenssl_reason_wrong_version_number(void) { return SSL_R_WRONG_VERSION_NUMBER; }

#endif
