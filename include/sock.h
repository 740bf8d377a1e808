/*
 * sock.h - the TCP socket lifecycle, step by step, with every trap handled.
 *
 * The functions mirror the steps of the course deck "Sockets, paso a paso":
 *
 *   client                                server
 *   sock_init(&cli)          socket()     sock_init(&acep)
 *                            bind()       sock_bind(&acep, host, service)
 *                            listen()     sock_listen(&acep, backlog)
 *   sock_connect(&cli, h, s) connect()    sock_accept(&acep, &srv)  accept()
 *   sock_send / sock_recv    send/recv    sock_send / sock_recv
 *   sock_shutdown(&cli, ..)  shutdown()   sock_shutdown(&srv, ..)
 *   sock_close(&cli)         close()      sock_close(&srv)
 *                                         sock_shutdown(&acep, ..); sock_close(&acep)
 *
 * Error convention (one rule for the whole header): every function returning
 * int returns 0 (or a documented non-negative value) on success and a
 * negative code on failure.  A code is either -errno (-ECONNREFUSED,
 * -ETIMEDOUT, -ECONNRESET, -EPIPE, -EADDRINUSE, -EINVAL, ...) or one of the
 * three codes below, which are negative and differ from every -errno.
 * sock_strerror() turns any code into text; sock_error() tells, for one
 * socket, what its last failure was in words a person can act on (the step,
 * the host and port, the system's reason, every address tried).
 *
 * The library never prints, never raises SIGPIPE, never touches the process's
 * signal handling, retries EINTR internally, and creates every descriptor
 * close-on-exec.  Tracing (SOCK_TRACE=1 or sock_set_trace()) is the only
 * output, and only when asked for.
 *
 * Threads: distinct sockets may be used from distinct threads freely.  On one
 * socket, one thread may send while another receives, and any thread may call
 * sock_shutdown() to wake a thread blocked in sock_accept() or sock_recv().
 * sock_close() must not race with other calls on the same socket: shut the
 * socket down, let the other threads return, then close it.
 */
#ifndef SOCK_H
#define SOCK_H

#include <netinet/in.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SOCK_VERSION_MAJOR 0
#define SOCK_VERSION_MINOR 1

/* ------------------------------------------------------------------------
 * Codes of our own (all negative, all outside the -errno range).
 * ------------------------------------------------------------------------ */

/* The peer closed the connection before sock_recv_all() got all it asked. */
#define SOCK_EOF (-10001)
/* A host or service name could not be resolved (the resolver's reason is in
 * sock_error()). */
#define SOCK_ERESOLVE (-10002)
/* The socket was shut down or closed locally: e.g. an acceptor shut down
 * while sock_accept() waited, a recv after SOCK_SHUT_READ, a send after
 * SOCK_SHUT_WRITE, any call after sock_close(). */
#define SOCK_ECLOSED (-10003)

/* Longest address text, "[ffff:...:ffff%interface]:65535" plus the NUL. */
#define SOCK_ADDRSTRLEN 80
/* Size of the per-socket error text buffer. */
#define SOCK_ERRLEN 256

/* How to shut down (sock_shutdown).  Equal to the system's SHUT_RD, SHUT_WR
 * and SHUT_RDWR, so either spelling works. */
#define SOCK_SHUT_READ SHUT_RD
#define SOCK_SHUT_WRITE SHUT_WR
#define SOCK_SHUT_READ_WRITE SHUT_RDWR

/* ------------------------------------------------------------------------
 * The socket handle.
 *
 * Declared here only so that it can live on the stack or inside your own
 * structures.  Its fields are private: use the functions below.
 * ------------------------------------------------------------------------ */
typedef struct sock {
    int priv_fd;          /* descriptor, -1 until bind/connect/accept */
    int priv_flags;       /* lifecycle state bits (atomic) */
    int priv_timeout_ms;  /* -1: wait forever */
    int priv_family;      /* AF_UNSPEC, AF_INET or AF_INET6 */
    unsigned priv_id;     /* number shown by the trace: sock#N */
    union {               /* the peer, kept so errors can name it after a reset */
        struct sockaddr sa;
        struct sockaddr_in in4;
        struct sockaddr_in6 in6;
    } priv_peer;
    /* What a handle needs only after a failure or during a non-blocking
     * connect (the error texts, the addresses still to try), allocated
     * then and released by sock_close(): a handle that never failed costs
     * this struct and nothing more, so a server can keep thousands. */
    struct sock__ext *priv_ext;
} sock_t;

/* ------------------------------------------------------------------------
 * Step 1: socket()
 * ------------------------------------------------------------------------ */

/* Prepare a handle.  Creates no descriptor yet: the address family is only
 * known once a name is resolved, so sock_bind() or sock_connect() creates it.
 * Use it on a new handle or on one that has been closed; never fails. */
void sock_init(sock_t *s);

/* Options, set between sock_init() and use.  Each returns 0, or -EINVAL
 * for a bad value (the reason in sock_error()). */

/* Restrict name resolution to AF_INET or AF_INET6; AF_UNSPEC (the default)
 * allows both.  With AF_INET6 a wildcard sock_bind() is IPv6 only (no IPv4
 * clients).  Must be called before sock_bind()/sock_connect(). */
int sock_set_family(sock_t *s, int family);

/* Bound every blocking call on s: sock_connect (across all addresses tried),
 * sock_accept, sock_send, sock_recv, and the whole of sock_send_all and
 * sock_recv_all.  ms is in milliseconds, -1 waits forever (the default), 0
 * never waits.  A call that runs out of time returns -ETIMEDOUT, never
 * earlier than ms after it started, and EINTR never restarts the clock.
 * Sockets returned by sock_accept() inherit the acceptor's timeout.
 * With a finite timeout the descriptor is non-blocking (sock_fd users take
 * note).  Call it before other threads use s. */
int sock_set_timeout(sock_t *s, int ms);

/* TCP_NODELAY on (1) or off (0): send small writes at once instead of
 * waiting to coalesce them (Nagle).  Needs a descriptor (after bind, connect
 * or accept); -ENOTCONN before. */
int sock_set_nodelay(sock_t *s, int on);

/* ------------------------------------------------------------------------
 * Names: host and service strings.
 *
 * host is a name ("localhost"), a numeric IPv4 or IPv6 address, an IPv6
 * address in brackets ("[::1]") or with a zone ("fe80::1%eth0").  service is
 * a port number ("8080", "0" for any free port) or a service name ("http").
 * A port number is plain decimal digits, 0..65535: a service that starts
 * with a digit, a sign or a blank and is not that ("99999", "-1", "+80",
 * " 80", "80 ", "0x50"), or that holds a blank or a control character
 * anywhere, is -EINVAL.
 * ------------------------------------------------------------------------ */

/* One address, as sock_bind()/sock_connect() would try it. */
typedef struct sock_addr {
    int family;                  /* AF_INET or AF_INET6 */
    char text[SOCK_ADDRSTRLEN];  /* "127.0.0.1:80" or "[::1]:80" */
} sock_addr_t;

/* Resolve host/service the way sock_connect(s, ...) would (or sock_bind when
 * passive is non-zero), honouring s's family, and store up to max addresses
 * in order of trial in out.  Returns how many addresses there are (which may
 * exceed max; only max are stored), or a negative code (SOCK_ERESOLVE,
 * -EINVAL) with the reason in sock_error(s).  Creates no descriptor. */
int sock_resolve(sock_t *s, const char *host, const char *service, int passive,
                 sock_addr_t *out, size_t max);

/* Split "HOST:PORT" into host and port, as written by people and other
 * tools: "127.0.0.1:80", "[::1]:80", "[fe80::1%lo]:http", "host:"
 * (empty port), ":80" (empty host).  Brackets are removed from host.
 * Returns 0, or -EINVAL when the text has no port ("[::1]", "host"), is
 * ambiguous ("::1"), or is malformed ("[a]:[b]c", "a]b:c"), or when a part
 * does not fit its buffer. */
int sock_split_hostport(const char *text, char *host, size_t hostlen,
                        char *port, size_t portlen);

/* Write the address sa (AF_INET or AF_INET6, e.g. from accept() or
 * recvfrom() of your own) as sock_local_addr() writes it: "127.0.0.1:80",
 * "[::1]:80", "[fe80::1%2]:80"; IPv4-mapped IPv6 addresses are shown as
 * IPv4.  Returns 0, -ENOSPC (buf too small; SOCK_ADDRSTRLEN always fits),
 * -EAFNOSUPPORT (another family; buf is then ""), -EINVAL (NULL). */
int sock_addr_format(const struct sockaddr *sa, char *buf, size_t len);

/* The port of sa (AF_INET or AF_INET6) in host order, or -EAFNOSUPPORT,
 * -EINVAL (NULL). */
int sock_addr_port(const struct sockaddr *sa);

/* ------------------------------------------------------------------------
 * Steps 2-4, server side: bind, listen, accept.
 * ------------------------------------------------------------------------ */

/* Create the descriptor and bind it to host/service.  host NULL, "" or "*"
 * binds every local address, dual-stack (one IPv6 socket that also accepts
 * IPv4 clients) where the system allows, else IPv4 only; after
 * sock_set_family(s, AF_INET6) it binds every IPv6 address only, and after
 * AF_INET every IPv4 address.  An explicit IPv6 address binds IPv6 only.  Every address of host is tried until one binds.
 * SO_REUSEADDR is set, so a server restarts at once while its old
 * connections sit in TIME_WAIT.  Service "0" lets the system choose a free
 * port (see sock_local_addr).  Returns 0 or a negative code: -EADDRINUSE,
 * -EADDRNOTAVAIL, -EACCES, SOCK_ERESOLVE, -EINVAL (already bound or
 * connected, bad port), SOCK_ECLOSED (closed handle). */
int sock_bind(sock_t *s, const char *host, const char *service);

/* Make a bound socket an acceptor with room for backlog pending
 * connections; backlog < 0 means the system's maximum.  Returns 0, -EINVAL
 * if s is not bound (call sock_bind first) or already connected, or the
 * system's code (-EADDRINUSE). */
int sock_listen(sock_t *s, int backlog);

/* Wait for a client and fill peer with a new connected socket for it; the
 * acceptor stays usable for more clients.  peer is initialised by this call
 * (pass a new or closed handle) and inherits the acceptor's timeout.
 * Connections aborted before they were accepted are skipped.  Returns 0, or:
 * -EINVAL (acceptor not listening), SOCK_ECLOSED (acceptor shut down or
 * closed, also while this call waited), -ETIMEDOUT, -EMFILE/-ENFILE (out of
 * descriptors: the pending client stays queued; retry later), or another
 * -errno.  On failure peer is left initialised and closed. */
int sock_accept(sock_t *acceptor, sock_t *peer);

/* ------------------------------------------------------------------------
 * Step 4, client side: connect.
 * ------------------------------------------------------------------------ */

/* Connect to host/service, trying every resolved address in order until one
 * answers.  Without an earlier sock_bind() the system binds implicitly to a
 * free ephemeral port; after sock_bind() that address is kept (and only
 * addresses of its family are tried).  A connection of a socket to itself
 * is refused (-ECONNREFUSED), whichever address reached this host
 * ("127.0.0.1", "0.0.0.0", "::" ...).  A failed attempt leaves nothing
 * behind: no descriptor of an implicit bind, and on a bound socket no SYN
 * in flight or half-made connection, so the handle keeps its bound address
 * (and its port, unless it was bound to port "0": the system then picks a
 * new one) and may call sock_connect() again, to any server; sock_fd()
 * stays the same.  The timeout, if set, bounds all attempts together.  Returns 0
 * or the last attempt's code (-ECONNREFUSED, -ETIMEDOUT, -ENETUNREACH, ...),
 * SOCK_ERESOLVE, -EINVAL (already connected, listening, bad port),
 * -EAFNOSUPPORT (a literal address of the other family than the bound one
 * or the one sock_set_family chose), with
 * every address tried and its reason in sock_error(). */
int sock_connect(sock_t *s, const char *host, const char *service);

/* ------------------------------------------------------------------------
 * Step 5: send and receive.
 * ------------------------------------------------------------------------ */

/* Send some of buf (at least one byte, maybe fewer than len).  Returns the
 * count sent (> 0), or: -EINVAL (len 0, buf NULL), -ENOTCONN (not
 * connected), SOCK_ECLOSED (write side shut down or socket closed),
 * -EPIPE/-ECONNRESET (the connection is gone), -ETIMEDOUT. */
ssize_t sock_send(sock_t *s, const void *buf, size_t len);

/* Receive some bytes into buf (at least one, at most len).  Returns the
 * count (> 0), 0 when the peer closed in order (end of stream), or:
 * -ECONNRESET (reset: never reported as end of stream), SOCK_ECLOSED (read
 * side shut down locally, also while this call waited), -EINVAL, -ENOTCONN,
 * -ETIMEDOUT. */
ssize_t sock_recv(sock_t *s, void *buf, size_t len);

/* Send exactly len bytes, looping over partial sends.  Returns 0 when all
 * were sent, else the failing code as for sock_send().  When sent is not
 * NULL it holds the bytes really handed to the system, on success and on
 * failure.  len 0 succeeds at once. */
int sock_send_all(sock_t *s, const void *buf, size_t len, size_t *sent);

/* Receive exactly len bytes, looping over partial receives.  Returns 0, or
 * SOCK_EOF if the peer closed first, or the failing code as for
 * sock_recv().  received (when not NULL) holds the bytes really stored in
 * buf, on success and on failure.  len 0 succeeds at once. */
int sock_recv_all(sock_t *s, void *buf, size_t len, size_t *received);

/* ------------------------------------------------------------------------
 * Steps 6-8: shutdown and close.
 * ------------------------------------------------------------------------ */

/* Shut down one or both directions: how is SOCK_SHUT_READ, SOCK_SHUT_WRITE
 * or SOCK_SHUT_READ_WRITE.  SOCK_SHUT_WRITE sends end of stream (FIN) after
 * the data already sent; the peer can still reply.  After SOCK_SHUT_READ,
 * sock_recv() returns SOCK_ECLOSED (data still pending is discarded, not
 * returned); after SOCK_SHUT_WRITE, sock_send() returns SOCK_ECLOSED.  From
 * another thread, SOCK_SHUT_READ wakes a blocked sock_recv().  On an
 * acceptor every how means "stop accepting": it stops listening and wakes
 * a blocked sock_accept(), and that and every later sock_accept() return
 * SOCK_ECLOSED.  Shutting
 * down a direction twice is harmless (0).  Returns 0, or -EINVAL (unknown
 * how), -ENOTCONN (never connected, or the connection was reset),
 * SOCK_ECLOSED (closed handle). */
int sock_shutdown(sock_t *s, int how);

/* Release the descriptor.  Data already sent is still delivered in the
 * background (orderly close); unread received data makes the system send a
 * reset.  Closing twice, or closing a handle that never got a descriptor, is
 * harmless (0).  Returns 0 or the system's -errno (the descriptor is
 * released anyway). */
int sock_close(sock_t *s);

/* Abortive close: discard unsent data and reset the connection (RST) at
 * once, leaving no TIME_WAIT behind.  Returns as sock_close(). */
int sock_abort(sock_t *s);

/* ------------------------------------------------------------------------
 * Inspection.
 * ------------------------------------------------------------------------ */

/* Write the local (or peer) address of s as "127.0.0.1:34390" or
 * "[::1]:8080" into buf.  Returns 0, -ENOTCONN (no descriptor / no peer:
 * before bind or connect, and after sock_close()), -ENOSPC (buf too small;
 * SOCK_ADDRSTRLEN always fits), -EINVAL.  The peer stays known after the
 * connection was reset, until sock_close(). */
int sock_local_addr(const sock_t *s, char *buf, size_t len);
int sock_peer_addr(const sock_t *s, char *buf, size_t len);

/* The local port (after bind, connect or accept), or a negative code. */
int sock_local_port(const sock_t *s);

/* The descriptor, or -1 before bind/connect/accept and after close.  Use it
 * for poll()/setsockopt(); closing it yourself breaks the handle. */
int sock_fd(const sock_t *s);

/* ------------------------------------------------------------------------
 * Errors.
 * ------------------------------------------------------------------------ */

/* A distinct, human text for every code: 0, -errno, SOCK_EOF, SOCK_ERESOLVE,
 * SOCK_ECLOSED.  Never NULL; unknown codes get a generic text.  Positive
 * values are read as errno values. */
const char *sock_strerror(int code);

/* What the last failure on s was, e.g. "connect localhost:8080: [::1]:8080
 * Connection refused; 127.0.0.1:8080 Connection refused".  "" when s has not
 * failed yet.  The text stays valid until the next failing call of the same
 * kind on s (send side, receive side, shutdown).  When threads share s, it
 * is the text of whichever failed last: a thread woken by another's
 * shutdown may read the shutdown's failure (e.g. the connection was reset),
 * which then describes its own failure too. */
const char *sock_error(const sock_t *s);

/* ------------------------------------------------------------------------
 * Step-by-step trace.
 *
 * With SOCK_TRACE=1 in the environment, every lifecycle step of every socket
 * is written to stderr, one line each.  A program may instead install its
 * own callback.  When tracing is off it costs one predictable branch.
 * ------------------------------------------------------------------------ */

/* One step.  Strings are valid only during the callback. */
typedef struct sock_trace_event {
    const sock_t *sock;    /* the socket the step acted on */
    unsigned id;           /* its number: "sock#3" */
    int fd;                /* its descriptor (-1 if none) */
    const char *step;      /* "socket" "bind" "listen" "accept" "connect"
                              "send" "recv" "shutdown" "close" "abort" */
    const char *args;      /* the call's arguments, e.g. "\"127.0.0.1\", \"0\"";
                              listen shows the backlog the kernel granted
                              (capped at net.core.somaxconn), not -1 */
    long long result;      /* the call's return value */
    const char *local;     /* local address text, "" if none */
    const char *peer;      /* peer address text, "" if none */
    const sock_t *created; /* accept: the new socket; NULL otherwise */
    const char *error;     /* on failure, sock_error() text; else "" */
} sock_trace_event_t;

typedef void (*sock_trace_fn)(const sock_trace_event_t *ev, void *user);

/* Send every step to fn (with user), or stop tracing with fn NULL.  This
 * overrides SOCK_TRACE.  Call it before other threads use the library. */
void sock_set_trace(sock_trace_fn fn, void *user);

/* The callback SOCK_TRACE=1 installs: each step as one line on stderr,
 * written with a single write() so that lines of several threads never
 * mix.  sock_set_trace(sock_trace_to_stderr, NULL) turns it on from code. */
void sock_trace_to_stderr(const sock_trace_event_t *ev, void *user);

/* Format ev as the one-line text SOCK_TRACE=1 prints (no newline) into buf.
 * Returns the length the full line needs, like snprintf: buf may be NULL
 * when len is 0, to measure.  String fields left NULL read as "".  Returns
 * -EINVAL when ev is NULL. */
int sock_trace_format(const sock_trace_event_t *ev, char *buf, size_t len);

#ifdef __cplusplus
}
#endif

#endif /* SOCK_H */
