/*
 * internal.h - what the files of libsock share and users never see.
 *
 * Every name here starts with sock__ (two underscores) so that it is visibly
 * private; in the shared library they are hidden (-fvisibility=hidden) and
 * only the functions marked SOCK_API are exported.
 */
#ifndef SOCK_INTERNAL_H
#define SOCK_INTERNAL_H

#include "sock.h"

#include <netdb.h>
#include <signal.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/un.h>

#ifdef SOCK_BUILDING_SHARED
#define SOCK_API __attribute__((visibility("default")))
#else
#define SOCK_API
#endif

/* Lifecycle state bits in sock_t.priv_flags.  They are read and set with
 * atomics because sock_shutdown() may run in one thread while another is
 * blocked in sock_accept() or sock_recv() and must see why it woke up. */
enum {
    SOCK__BOUND = 1 << 0,     /* sock_bind() succeeded (explicit bind) */
    SOCK__LISTENING = 1 << 1, /* sock_listen() succeeded: an acceptor */
    SOCK__CONNECTED = 1 << 2, /* connect or accept succeeded */
    SOCK__SHUT_RD = 1 << 3,   /* sock_shutdown(READ) was called */
    SOCK__SHUT_WR = 1 << 4,   /* sock_shutdown(WRITE) was called */
    SOCK__CLOSED = 1 << 5,    /* sock_close() or sock_abort() was called */
    SOCK__ERR_LOST = 1 << 6,  /* a failure's text could not be stored (no memory) */
    SOCK__NONBLOCK = 1 << 7,  /* sock_set_nonblocking(): -EAGAIN, never wait */
    SOCK__TRANSPORT = 1 << 8, /* a transport carries the bytes (priv_ext) */
    SOCK__NUMERIC = 1 << 9,   /* sock_set_numeric_only(): no name service */
};

static inline int sock__flags(const sock_t *s)
{
    return __atomic_load_n(&s->priv_flags, __ATOMIC_ACQUIRE);
}

static inline void sock__set_flags(sock_t *s, int bits)
{
    __atomic_fetch_or(&s->priv_flags, bits, __ATOMIC_ACQ_REL);
}

static inline void sock__clear_flags(sock_t *s, int bits)
{
    __atomic_fetch_and(&s->priv_flags, ~bits, __ATOMIC_ACQ_REL);
}

/* The descriptor of s must be O_NONBLOCK: in non-blocking mode, or when a
 * finite timeout makes the library wait with poll() itself. */
static inline int sock__wants_nonblock(const sock_t *s)
{
    return s->priv_timeout_ms >= 0 || (sock__flags(s) & SOCK__NONBLOCK);
}

/* Which error buffer a step writes.  Three buffers: one written by the
 * sending side (connect, send, close, ...), one by the receiving side
 * (accept, recv), one by shutdown, so that one thread sending, another
 * receiving and a third shutting the socket down to wake them never write
 * the same memory.  A layer's sock_set_error() from inside a transport
 * hook writes the buffer of that hook's side (transport.c). */
enum sock__side { SOCK__SIDE_SEND = 0, SOCK__SIDE_RECV = 1, SOCK__SIDE_CTL = 2 };

struct sock__connecting;

/* The part of a handle allocated on demand (sock_t.priv_ext).  Every block
 * is also on one global list, so that a program that exits without closing
 * a failed handle (the course's `return 1` after a failed connect) leaves
 * memory that is still reachable, not lost, in valgrind's and LeakSanitizer's
 * eyes. */
struct sock__ext {
    struct sock__ext *prev, *next;  /* the global list, under its lock */
    int err_slot;                   /* which err[] holds the last failure */
    char err[3][SOCK_ERRLEN];
    struct sock__connecting *connecting; /* a non-blocking connect under way */
    /* A Unix socket file this handle created by binding, removed at close
     * if it is still the same file. */
    char *unix_path;
    dev_t unix_dev;
    ino_t unix_ino;
    pid_t unix_pid;                 /* the process that bound it */
    int unix_mode;                  /* sock_set_unix_mode(), -1 if not set */
    int attempt_delay_ms;           /* sock_set_attempt_delay(), or SOCK__DELAY_UNSET */
    const sock_transport_t *transport; /* sock_set_transport() */
    void *transport_ctx;
    /* What the transport's last -EAGAIN of each direction (0 receive, 1
     * send) waits for (sock_want()); each written by its own direction. */
    unsigned char want[2];
};

#define SOCK__DELAY_UNSET (-2)

/* ---- error.c ------------------------------------------------------------ */

/* The extension block of s, created on first use (thread-safe: two threads
 * failing at once get the same block).  NULL only when out of memory. */
struct sock__ext *sock__ext(sock_t *s);

/* Release the extension block of s (sock_close); s must not be in use by
 * another thread. */
void sock__ext_free(sock_t *s);

/* Record "<context>: <reason of code>" as the last failure of s and return
 * code, so that failing paths read `return sock__fail(s, side, code, ...)`. */
int sock__fail(sock_t *s, int side, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Same, but the text is complete as given (no reason appended). */
int sock__failf(sock_t *s, int side, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* The error for a call on a closed handle or one without a connection:
 * SOCK_ECLOSED after sock_close(), else -ENOTCONN. */
int sock__fail_unusable(sock_t *s, int side, const char *step);

/* Whether side's error buffer holds a text (a layer's failure told in its
 * own words).  Reads that side's buffer only, never the one another
 * thread's side may be writing, as sock_error() may. */
int sock__side_has_error(const sock_t *s, int side);

/* A list of addresses tried and why each failed, for bind and connect. */
struct sock__attempts {
    char text[SOCK_ERRLEN];
    size_t len;
    int count;
    int last_code;
    char last_addr[SOCK_ADDRSTRLEN];
};
void sock__attempt_add(struct sock__attempts *a, const char *addr, int code);
/* Record the failure "<step> <host:service>: <every attempt>" and return
 * its code. */
int sock__attempt_fail(sock_t *s, const struct sock__attempts *a,
                       const char *step, const char *host, const char *service);
/* Same, with "host:service" already formatted (sock__format_target). */
int sock__attempt_fail_target(sock_t *s, const struct sock__attempts *a, const char *step,
                              const char *target);

/* ---- addr.c ------------------------------------------------------------- */

/* Format an address as "1.2.3.4:80" or "[::1]:80" (IPv4-mapped IPv6
 * addresses are shown as IPv4).  Returns 0, -ENOSPC or -EAFNOSUPPORT. */
int sock__format_addr(const struct sockaddr *sa, char *buf, size_t len);

/* Write "host:service" for messages ("*" for a wildcard host, brackets
 * around IPv6 literals). */
void sock__format_target(const char *host, const char *service, char *buf, size_t len);

/* 1 if host means "every local address" (NULL, "" or "*"). */
int sock__is_wildcard(const char *host);

/* 1 if host names a Unix socket ("unix:..."). */
int sock__is_unix(const char *host);

/* ---- resolve.c ---------------------------------------------------------- */

/* The result of a resolution.  A numeric host with a numeric port (the
 * common case in servers, tests and benchmarks) is parsed in place into
 * `one`, without calling getaddrinfo(); anything else is getaddrinfo()'s
 * list.  Release with sock__addrs_free() either way. */
struct sock__addrs {
    struct addrinfo *list;
    struct addrinfo one;
    struct sockaddr_storage one_addr;
};

/* Resolve host/service for step ("bind" or "connect"); passive selects the
 * wildcard addresses for bind and orders IPv6 first so that a dual-stack
 * socket is tried first; a connect's list is in RFC 8305's order (families
 * interleaved).  With a deadline (>= 0) a lookup that needs the name
 * service ends by then: -ETIMEDOUT, "resolve NAME: no answer within N ms".
 * On success out->list holds the addresses in order of trial; on failure
 * the error is recorded on s. */
int sock__resolve(sock_t *s, const char *step, const char *host, const char *service,
                  int passive, int family, int64_t deadline, struct sock__addrs *out);
void sock__addrs_free(struct sock__addrs *a);

/* ---- lifecycle.c -------------------------------------------------------- */

/* A new stream socket of family for s: close-on-exec, non-blocking when s
 * waits with poll() itself or is in non-blocking mode.  fd or -errno. */
int sock__new_fd(const sock_t *s, int family);

/* close() that keeps errno for the caller's report. */
void sock__close_quietly(int fd);

/* ---- connect.c ---------------------------------------------------------- */

/* Drop a non-blocking connect still under way (sock_close). */
void sock__connect_abandon(sock_t *s);

/* ---- transport.c -------------------------------------------------------- */

/* One send or recv through s's transport: the transport's result, with
 * *want the readiness it waits for on -EAGAIN. */
ssize_t sock__transport_send(sock_t *s, const void *buf, size_t len, unsigned *want);
ssize_t sock__transport_recv(sock_t *s, void *buf, size_t len, unsigned *want);

/* End the transport's sending side within the deadline (sock_shutdown),
 * and release it (sock_close). */
int sock__transport_shutdown(sock_t *s, int64_t deadline);
void sock__transport_release(sock_t *s);

/* ---- io.c --------------------------------------------------------------- */

/* The checks every transfer starts with (connected, not closed, the
 * direction not shut down, buf and len sane); 0 or the recorded code. */
int sock__check_io(sock_t *s, int side, const char *step, const void *buf, size_t len,
                   int zero_ok);

/* One call through s's transport that never waits: the count, 0 (recv:
 * end of stream), -EAGAIN, or a code.  For sock_pipe_t, whose calls never
 * wait on a non-blocking handle. */
ssize_t sock__transport_try(sock_t *s, void *buf, size_t len, int sending);

/* One send() / recv() that moves at least one byte (recv: or reports end
 * of stream, 0), waiting within the deadline; -EAGAIN in non-blocking
 * mode.  Nothing recorded: the caller records with sock__io_fail(). */
ssize_t sock__send_some(sock_t *s, const char *buf, size_t len, int64_t deadline);
ssize_t sock__recv_some(sock_t *s, char *buf, size_t len, int64_t deadline, int waitall);

/* The deadline of one call on s: -1 without a timeout or in non-blocking
 * mode. */
int64_t sock__deadline_of(const sock_t *s);

/* Record "<step> to/from <peer>: <reason>[ after N of M bytes]" (len 0: no
 * count) and return code. */
int sock__io_fail(sock_t *s, int side, const char *step, int code, size_t done, size_t len);

/* ---- wait.c ------------------------------------------------------------- */

/* Deadlines are absolute CLOCK_MONOTONIC times in nanoseconds; -1 is
 * "never".  A deadline is computed once at the start of a public call, so
 * that EINTR and partial progress never restart the clock. */
int64_t sock__deadline(int timeout_ms);

/* Wait until fd is ready for events (POLLIN/POLLOUT) or the deadline
 * passes.  Retries EINTR with the time that is left.  Returns 0 when ready
 * (or hung up / in error: the next syscall reports why), -ETIMEDOUT, or
 * -errno. */
int sock__wait(int fd, short events, int64_t deadline);

/* Milliseconds until deadline, rounded up, for poll()-like calls: -1 for
 * no deadline, 0 once it has passed. */
int sock__ms_left(int64_t deadline);

/* splice() and sendfile() into a socket (or a pipe whose reader is gone)
 * raise SIGPIPE, since MSG_NOSIGNAL cannot be passed to them, and the
 * library never touches the process's signal handling: block SIGPIPE in
 * the calling thread around such a call, and take back one it caused
 * (caused: it failed with EPIPE). */
struct sock__sigpipe_guard {
    sigset_t old;
};
void sock__sigpipe_block(struct sock__sigpipe_guard *g);
void sock__sigpipe_restore(struct sock__sigpipe_guard *g, int caused);

/* Switch O_NONBLOCK on or off.  Returns 0 or -errno. */
int sock__set_nonblock(int fd, int on);

/* ---- poller.c ----------------------------------------------------------- */

/* The interest bits a registration may carry. */
#define SOCK__POLL_INTEREST (SOCK_READABLE | SOCK_WRITABLE | SOCK_EDGE | SOCK_ONESHOT)

/* ---- trace.c ------------------------------------------------------------ */

/* Non-zero while a trace callback is installed; tested before any tracing
 * work so that tracing costs one predictable branch when it is off. */
extern int sock__trace_on;

/* Report one step of s to the trace callback.  args is printf-style. */
void sock__trace(const sock_t *s, const char *step, long long result,
                 const sock_t *created, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

#define SOCK__TRACE(...)                                                     \
    do {                                                                     \
        if (__builtin_expect(__atomic_load_n(&sock__trace_on, __ATOMIC_RELAXED), 0)) \
            sock__trace(__VA_ARGS__);                                        \
    } while (0)

#endif
