#ifndef CHIREDIS_SHIM_H
#define CHIREDIS_SHIM_H

// Debian's libhiredis-dev 0.14.1: no TLS, no RESP3. The client uses only hiredis's protocol engine (the reply
// reader and the command formatter); sockets are its own. These helpers expose what Swift cannot reach directly
// (fixed-size char arrays, socket option constants) under a `chiredis_` prefix.

#include <hiredis/hiredis.h>
#include <hiredis/read.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>

/// The reader's error text (its `errstr` array); valid while the reader lives.
static inline const char *chiredis_reader_errstr(const redisReader *r) { return r->errstr; }

/// Turns on TCP keepalive with hiredis's timing: first probe after 15 s idle, then every 5 s, 3 probes.
static inline int chiredis_enable_keepalive(int fd) {
    int yes = 1, idle = REDIS_KEEPALIVE_INTERVAL, interval = REDIS_KEEPALIVE_INTERVAL / 3, count = 3;
    if (interval == 0) interval = 1;
    if (setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &yes, sizeof(yes)) == -1) return -1;
    if (setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle)) == -1) return -1;
    if (setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &interval, sizeof(interval)) == -1) return -1;
    if (setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &count, sizeof(count)) == -1) return -1;
    return 0;
}

/// Turns off Nagle's algorithm: commands are written whole, and a small one must not wait for an ACK.
static inline int chiredis_set_nodelay(int fd) {
    int yes = 1;
    return setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &yes, sizeof(yes));
}

/// The pending error of a socket whose non-blocking connect finished (0 when it connected).
static inline int chiredis_socket_error(int fd) {
    int error = 0;
    socklen_t length = sizeof(error);
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length) == -1) return errno;
    return error;
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

#endif
