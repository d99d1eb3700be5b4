#ifndef CHIREDIS_SHIM_H
#define CHIREDIS_SHIM_H

// Debian's libhiredis-dev 0.14.1: no TLS, no RESP3. `redisCommand` is variadic and not importable
// into Swift; the Swift side uses the Argv forms. These helpers expose what Swift cannot reach
// directly (fixed-size char arrays, flag bits) under a `chiredis_` prefix.

#include <hiredis/hiredis.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/time.h>

/// The context's error code (`REDIS_ERR_IO`, `REDIS_ERR_EOF`, ...), 0 when healthy.
static inline int chiredis_err(const redisContext *c) { return c ? c->err : REDIS_ERR_OTHER; }

/// The context's error text; valid while the context lives.
static inline const char *chiredis_errstr(const redisContext *c) {
    return c ? c->errstr : "cannot allocate redis context";
}

/// The socket of the context.
static inline int chiredis_fd(const redisContext *c) { return c->fd; }

/// Whether the hiredis output buffer still holds bytes to write.
static inline int chiredis_has_pending_output(const redisContext *c) {
    return c->obuf != NULL && sdslen(c->obuf) > 0 ? 1 : 0;
}

/// Switches a connected context to non-blocking mode so `redisBufferRead` / `redisBufferWrite`
/// return on EAGAIN instead of failing; the caller drives the socket with `poll`.
static inline int chiredis_set_nonblocking(redisContext *c) {
    int flags = fcntl(c->fd, F_GETFL);
    if (flags == -1 || fcntl(c->fd, F_SETFL, flags | O_NONBLOCK) == -1) return -1;
    c->flags &= ~REDIS_BLOCK;
    return 0;
}

/// An eventfd used to wake a connection's I/O thread.
static inline int chiredis_eventfd(void) { return eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC); }

int pthread_setname_np(pthread_t thread, const char *name);

/// Names the calling thread (at most 15 bytes are kept), for `top -H` and debuggers.
static inline void chiredis_set_thread_name(const char *name) {
    char buffer[16];
    strncpy(buffer, name, sizeof(buffer) - 1);
    buffer[sizeof(buffer) - 1] = '\0';
    pthread_setname_np(pthread_self(), buffer);
}

/// Builds a `struct timeval` from milliseconds.
static inline struct timeval chiredis_timeval_ms(long long ms) {
    struct timeval tv;
    tv.tv_sec = (time_t)(ms / 1000);
    tv.tv_usec = (suseconds_t)((ms % 1000) * 1000);
    return tv;
}

#endif
