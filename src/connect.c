/*
 * connect.c - step 4 of the client: connect to every address a name has,
 * blocking (one budget for all attempts) or not (one descriptor for all,
 * so that a poller's registration stays valid), and never to oneself.
 */
#include "internal.h"

#include <errno.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int same_endpoint(const struct sockaddr *a, const struct sockaddr *b)
{
    if (a->sa_family != b->sa_family || (a->sa_family != AF_INET && a->sa_family != AF_INET6))
        return 0;
    if (a->sa_family == AF_INET) {
        const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;
        return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
    }
    const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;
    return x->sin6_port == y->sin6_port &&
           memcmp(&x->sin6_addr, &y->sin6_addr, sizeof x->sin6_addr) == 0;
}

/* The kernel picks implicit (ephemeral) ports from
 * net.ipv4.ip_local_port_range, read once per process: a destination port
 * outside that range can never be our own source port, so the self-connect
 * check below (one more system call) is skipped for it, as for servers on
 * the usual fixed ports. */
static int ephemeral_lo, ephemeral_hi;
static pthread_once_t ephemeral_once = PTHREAD_ONCE_INIT;

static void read_ephemeral_range(void)
{
    ephemeral_lo = 1, ephemeral_hi = 65535; /* unknown: check every port */
    FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "re");
    if (!f)
        return;
    int lo, hi;
    if (fscanf(f, "%d %d", &lo, &hi) == 2 && lo > 0 && hi >= lo)
        ephemeral_lo = lo, ephemeral_hi = hi;
    fclose(f);
}

static int may_meet_itself(const struct sockaddr *dst, int bound)
{
    if (dst->sa_family == AF_UNIX)
        return 0; /* a Unix socket cannot connect to itself */
    if (bound)
        return 1; /* an explicit bind can pick any port */
    pthread_once(&ephemeral_once, read_ephemeral_range);
    int port = sock_addr_port(dst);
    return port >= ephemeral_lo && port <= ephemeral_hi;
}

/* Start connecting fd to sa.  Returns 0 when connected at once,
 * -EINPROGRESS when it goes on in the background (an interrupted connect
 * goes on too), or the system's code. */
static int connect_start(int fd, const struct sockaddr *sa, socklen_t len)
{
    if (connect(fd, sa, len) == 0)
        return 0;
    return errno == EINPROGRESS || errno == EINTR ? -EINPROGRESS : -errno;
}

/* How a connect that went on in the background ended, once the socket is
 * writable: 0, or the reason it failed. */
static int connect_outcome(int fd)
{
    int soerr = 0;
    socklen_t len = sizeof soerr;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0)
        return -errno;
    return -soerr;
}

/* A connect to a local address whose port is free can meet itself (TCP
 * simultaneous open) when the system picks that very port as our
 * ephemeral one; nobody wants that connection.  The comparison is with the
 * peer the kernel really connected to, not the address as written: 0.0.0.0
 * and :: reach this host too.  Returns 0 or -ECONNREFUSED. */
static int refuse_self(int fd, const struct sockaddr *dst, int bound)
{
    if (!may_meet_itself(dst, bound))
        return 0;
    struct sockaddr_storage me, peer;
    socklen_t len = sizeof me, plen = sizeof peer;
    if (getsockname(fd, (struct sockaddr *)&me, &len) == 0 &&
        getpeername(fd, (struct sockaddr *)&peer, &plen) == 0 &&
        same_endpoint((struct sockaddr *)&me, (struct sockaddr *)&peer))
        return -ECONNREFUSED;
    return 0;
}

/* Connect fd to one address within the deadline: start, wait until
 * writable, ask the socket how it ended. */
static int connect_one(int fd, const struct addrinfo *ai, int bound, int64_t deadline)
{
    int rc = connect_start(fd, ai->ai_addr, ai->ai_addrlen);
    /* A Unix server whose queue is full makes a non-blocking connect fail
     * with EAGAIN rather than go on in the background, and nothing tells
     * when there is room: try again every 10 ms until the deadline. */
    while (rc == -EAGAIN && ai->ai_family == AF_UNIX && sock__ms_left(deadline) != 0) {
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
        rc = connect_start(fd, ai->ai_addr, ai->ai_addrlen);
    }
    if (rc == -EAGAIN && ai->ai_family == AF_UNIX)
        rc = -ETIMEDOUT;
    if (rc == -EINPROGRESS) {
        rc = sock__wait(fd, POLLOUT, deadline);
        if (rc == 0)
            rc = connect_outcome(fd);
    }
    return rc < 0 ? rc : refuse_self(fd, ai->ai_addr, bound);
}

/* End a failed connect of an explicitly bound socket so that nothing of
 * it survives: a SYN still in flight after a timeout would otherwise
 * complete later, and a self-connected socket stays connected to itself,
 * so the next connect of the handle would meet that connection instead of
 * the server it names.  connect() to AF_UNSPEC dissolves the association
 * (Linux: tcp_disconnect) and keeps the descriptor and its options; the
 * bound address stays, and so does the bound port unless it was "0" (the
 * system then picks a new free port at the next connect).  Reading
 * SO_ERROR clears the reset the disconnect leaves pending. */
static void abandon_attempt(int fd)
{
    int saved = errno;
    struct sockaddr unspec = {.sa_family = AF_UNSPEC};
    if (connect(fd, &unspec, sizeof unspec) == 0) {
        int soerr;
        socklen_t len = sizeof soerr;
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len);
    }
    errno = saved;
}

/* Keep the peer's address, so that errors can name it after a reset; a
 * Unix peer's does not fit the handle, and the kernel is asked instead
 * (sock_peer_addr), so only its family is kept. */
static void remember_peer(sock_t *s, const struct addrinfo *ai)
{
    if (ai->ai_family == AF_UNIX) {
        s->priv_family = AF_UNIX;
        return;
    }
    memcpy(&s->priv_peer, ai->ai_addr,
           ai->ai_addrlen < sizeof s->priv_peer ? ai->ai_addrlen : sizeof s->priv_peer);
}

/* ---- non-blocking connect ------------------------------------------------ */

/* A non-blocking connect under way (sock__ext.connecting).  All its
 * attempts use the one descriptor the caller may already watch in a
 * poller: a failed attempt is dissolved (abandon_attempt) and the next
 * address is tried on the same socket, so the descriptor's number and
 * registration never change.  An IPv6 socket reaches IPv4 addresses
 * through their IPv4-mapped form, so one socket serves a list of both
 * families. */
struct sock__connecting {
    struct sock__addrs addrs;     /* every address, in order of trial */
    struct addrinfo *ai;          /* the one being tried */
    struct sock__attempts tried;  /* the ones that failed, and why */
    char target[SOCK_ERRLEN / 2]; /* "host:service" for the message */
    int bound;                    /* explicit bind: the descriptor stays */
    int family;                   /* the descriptor's family */
};

/* ai's address as a socket of family can connect to it.  Returns 0, or
 * -EAFNOSUPPORT (an IPv6 address for an IPv4 socket). */
static int address_for(int family, const struct addrinfo *ai, struct sockaddr_storage *out,
                       socklen_t *len)
{
    memset(out, 0, sizeof *out);
    if (ai->ai_family == family) {
        memcpy(out, ai->ai_addr, ai->ai_addrlen);
        *len = ai->ai_addrlen;
        return 0;
    }
    if (family != AF_INET6 || ai->ai_family != AF_INET)
        return -EAFNOSUPPORT;
    const struct sockaddr_in *in4 = (const struct sockaddr_in *)ai->ai_addr;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)out;
    in6->sin6_family = AF_INET6;
    in6->sin6_port = in4->sin_port;
    in6->sin6_addr.s6_addr[10] = in6->sin6_addr.s6_addr[11] = 0xff;
    memcpy(&in6->sin6_addr.s6_addr[12], &in4->sin_addr, 4);
    *len = sizeof *in6;
    return 0;
}

/* One descriptor for every address of the list: IPv6 (dual-stack) when
 * there is an IPv6 address, unless the system has no IPv6; else IPv4. */
static int nb_new_fd(const sock_t *s, struct sock__connecting *c)
{
    if (c->addrs.list->ai_family == AF_UNIX) {
        c->family = AF_UNIX;
        return sock__new_fd(s, AF_UNIX);
    }
    int has4 = 0, has6 = 0;
    for (const struct addrinfo *ai = c->addrs.list; ai; ai = ai->ai_next)
        has4 |= ai->ai_family == AF_INET, has6 |= ai->ai_family == AF_INET6;
    int fd = has6 ? sock__new_fd(s, AF_INET6) : -EAFNOSUPPORT;
    if (fd >= 0) {
        int off = 0;
        if (has4 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off) < 0) {
            sock__close_quietly(fd);
            fd = -EAFNOSUPPORT;
        } else {
            c->family = AF_INET6;
            return fd;
        }
    }
    if (!has4)
        return fd;
    c->family = AF_INET;
    return sock__new_fd(s, AF_INET);
}

static struct addrinfo *v6_before_v4(struct addrinfo *list)
{
    struct addrinfo *v6 = NULL, **v6t = &v6, *v4 = NULL, **v4t = &v4;
    for (struct addrinfo *ai = list, *next; ai; ai = next) {
        next = ai->ai_next;
        ai->ai_next = NULL;
        if (ai->ai_family == AF_INET6)
            *v6t = ai, v6t = &ai->ai_next;
        else
            *v4t = ai, v4t = &ai->ai_next;
    }
    *v6t = v4;
    return v6;
}

static void nb_release(sock_t *s, struct sock__connecting *c)
{
    sock__addrs_free(&c->addrs);
    free(c);
    s->priv_ext->connecting = NULL;
}

static int nb_connected(sock_t *s, struct sock__connecting *c)
{
    remember_peer(s, c->ai);
    sock__set_flags(s, SOCK__CONNECTED);
    nb_release(s, c);
    return 0;
}

static void nb_attempt_failed(sock_t *s, struct sock__connecting *c, int code)
{
    char addr[SOCK_ADDRSTRLEN];
    abandon_attempt(s->priv_fd);
    sock__format_addr(c->ai->ai_addr, addr, sizeof addr);
    sock__attempt_add(&c->tried, addr, code);
    c->ai = c->ai->ai_next;
}

/* Start the attempts from c->ai on until one is under way (-EINPROGRESS),
 * one connected (0), or none is left: then the handle is as after a failed
 * blocking connect (no descriptor without an explicit bind) and the code
 * of the last attempt is returned, every attempt in sock_error(). */
static int nb_try(sock_t *s, struct sock__connecting *c)
{
    while (c->ai) {
        struct sockaddr_storage dst;
        socklen_t len;
        int rc = address_for(c->family, c->ai, &dst, &len);
        if (rc == 0)
            rc = connect_start(s->priv_fd, (struct sockaddr *)&dst, len);
        if (rc == -EINPROGRESS)
            return rc;
        /* A Unix server with a full queue: a refusal for now (-EAGAIN
         * means "not yet" to a non-blocking caller, not "failed"). */
        if (rc == -EAGAIN && c->ai->ai_family == AF_UNIX)
            rc = -ECONNREFUSED;
        if (rc == 0)
            rc = refuse_self(s->priv_fd, (struct sockaddr *)&dst, c->bound);
        if (rc == 0)
            return nb_connected(s, c);
        nb_attempt_failed(s, c, rc);
    }
    int rc = sock__attempt_fail_target(s, &c->tried, "connect", c->target);
    if (!c->bound) {
        sock__close_quietly(s->priv_fd);
        s->priv_fd = -1;
    }
    nb_release(s, c);
    return rc;
}

static int nb_connect(sock_t *s, const char *host, const char *service, int family)
{
    struct sock__ext *ext = sock__ext(s);
    struct sock__connecting *c = ext ? calloc(1, sizeof *c) : NULL;
    if (!c) {
        free(c);
        return sock__fail(s, SOCK__SIDE_SEND, -ENOMEM, "connect");
    }
    ext->connecting = c;
    c->bound = s->priv_fd >= 0;
    c->family = family;
    sock__format_target(host, service, c->target, sizeof c->target);
    int rc = sock__resolve(s, "connect", host, service, 0, family, -1, &c->addrs);
    if (rc < 0) {
        nb_release(s, c);
        return rc;
    }
    c->ai = c->addrs.list;
    if (!c->bound) {
        /* On Linux a dual-stack socket that tried an IPv4-mapped address
         * cannot then reach a native IPv6 one (it stays in SYN_SENT): so
         * the IPv6 addresses go first, each family in its order. */
        c->addrs.list = c->ai = v6_before_v4(c->addrs.list);
        int fd = nb_new_fd(s, c);
        if (fd < 0) {
            rc = sock__fail(s, SOCK__SIDE_SEND, fd, "connect %s", c->target);
            nb_release(s, c);
            return rc;
        }
        s->priv_fd = fd;
    }
    return nb_try(s, c);
}

/* No error pending and no peer: still under way, or failed with its error
 * already taken (sock_take_error)?  The TCP state says.  -EINPROGRESS or
 * -ECONNABORTED. */
static int still_connecting(int fd)
{
    struct tcp_info ti;
    socklen_t len = sizeof ti;
    if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) < 0)
        return -EINPROGRESS; /* a Unix socket: its connect does not linger */
    return ti.tcpi_state == TCP_SYN_SENT ? -EINPROGRESS : -ECONNABORTED;
}

SOCK_API int sock_connect_finish(sock_t *s)
{
    if (!s)
        return -EINVAL;
    int flags = sock__flags(s);
    struct sock__connecting *c = s->priv_ext ? s->priv_ext->connecting : NULL;
    int rc;
    if (flags & SOCK__CLOSED)
        rc = sock__fail_unusable(s, SOCK__SIDE_SEND, "connect_finish");
    else if (!c)
        rc = flags & SOCK__CONNECTED ? 0
                                     : sock__fail(s, SOCK__SIDE_SEND, -EINVAL,
                                                  "connect_finish: no connect under way");
    else {
        rc = connect_outcome(s->priv_fd);
        struct sockaddr_storage peer;
        socklen_t len = sizeof peer;
        /* No error yet and no peer: the attempt is still under way (the
         * caller looked before the socket became writable). */
        if (rc == 0 && getpeername(s->priv_fd, (struct sockaddr *)&peer, &len) < 0)
            rc = errno == ENOTCONN ? still_connecting(s->priv_fd) : -errno;
        if (rc == 0)
            rc = refuse_self(s->priv_fd, (struct sockaddr *)&peer, c->bound);
        if (rc == 0)
            rc = nb_connected(s, c);
        else if (rc != -EINPROGRESS) {
            nb_attempt_failed(s, c, rc);
            rc = nb_try(s, c);
        }
    }
    SOCK__TRACE(s, "connect_finish", rc, NULL, "%s", "");
    return rc;
}

/* Record a failed attempt (and show it in the trace). */
static void attempt_failed(sock_t *s, struct sock__attempts *tried, const struct addrinfo *ai,
                           int code)
{
    char addr[SOCK_ADDRSTRLEN];
    sock__format_addr(ai->ai_addr, addr, sizeof addr);
    sock__attempt_add(tried, addr, code);
    SOCK__TRACE(s, "connect_attempt", code, NULL, "%s", addr);
}

static int connected(sock_t *s, int fd, const struct addrinfo *ai)
{
    s->priv_fd = fd;
    remember_peer(s, ai);
    sock__set_flags(s, SOCK__CONNECTED);
    return 0;
}

/* The addresses in order, each to its end: the explicit-bind case (one
 * descriptor, one family) and a name with a single address.  Returns 0,
 * or the last code with every attempt in tried. */
static int one_by_one(sock_t *s, const struct addrinfo *list, int bound, int64_t deadline,
                      struct sock__attempts *tried)
{
    int rc = -EHOSTUNREACH;
    for (const struct addrinfo *ai = list; ai; ai = ai->ai_next) {
        int fd = bound ? s->priv_fd : sock__new_fd(s, ai->ai_family);
        rc = fd < 0 ? fd : connect_one(fd, ai, bound, deadline);
        if (rc == 0)
            return connected(s, fd, ai);
        if (fd >= 0 && !bound)
            sock__close_quietly(fd);
        else if (fd >= 0)
            abandon_attempt(fd);
        attempt_failed(s, tried, ai, rc);
        /* The timeout is one budget for all addresses. */
        if (rc == -ETIMEDOUT && deadline >= 0)
            break;
    }
    return rc;
}

/* ---- Happy Eyeballs (RFC 8305) -------------------------------------------- */

/* Attempts in flight at once at most; a longer list waits for a slot. */
#define RACE_MAX 16
/* RFC 8305's recommended Connection Attempt Delay. */
#define DEFAULT_ATTEMPT_DELAY_MS 250

static int attempt_delay(const sock_t *s)
{
    const struct sock__ext *ext = s->priv_ext;
    return ext && ext->attempt_delay_ms != SOCK__DELAY_UNSET ? ext->attempt_delay_ms
                                                             : DEFAULT_ATTEMPT_DELAY_MS;
}

SOCK_API int sock_set_attempt_delay(sock_t *s, int ms)
{
    if (!s)
        return -EINVAL;
    if (ms < -1 || ms > 60000)
        return sock__fail(s, SOCK__SIDE_SEND, -EINVAL,
                          "set_attempt_delay: %d ms is not a delay (0 to 60000, -1: one address "
                          "after another)",
                          ms);
    struct sock__ext *ext = sock__ext(s);
    if (!ext)
        return -ENOMEM;
    ext->attempt_delay_ms = ms;
    return 0;
}

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

struct racer {
    int fd;
    const struct addrinfo *ai;
};

/* Start the attempt at ai on a new non-blocking descriptor.  Returns 1 when
 * it is under way (r filled), 0 when it connected at once (r filled), or a
 * negative code (nothing left open). */
static int race_start(const sock_t *s, const struct addrinfo *ai, struct racer *r)
{
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, IPPROTO_TCP);
    if (fd < 0)
        return -errno;
    int rc = connect_start(fd, ai->ai_addr, ai->ai_addrlen);
    if (rc == 0)
        rc = refuse_self(fd, ai->ai_addr, 0);
    if (rc < 0 && rc != -EINPROGRESS) {
        sock__close_quietly(fd);
        return rc;
    }
    (void)s;
    *r = (struct racer){.fd = fd, .ai = ai};
    return rc == -EINPROGRESS ? 1 : 0;
}

/* The winner: the others are closed (a socket closed while its SYN is
 * unanswered sends nothing, so no half-open connection is left anywhere),
 * and its descriptor gets the mode the handle asks for. */
static int race_won(sock_t *s, struct racer *r, int n, int winner)
{
    for (int i = 0; i < n; i++)
        if (i != winner)
            sock__close_quietly(r[i].fd);
    int fd = r[winner].fd;
    int rc = sock__wants_nonblock(s) ? 0 : sock__set_nonblock(fd, 0);
    if (rc < 0) {
        sock__close_quietly(fd);
        return rc;
    }
    return connected(s, fd, r[winner].ai);
}

/* Connect to the first address that answers, starting the next attempt
 * when the current one fails or after the attempt delay, whichever comes
 * first (the list is already in RFC 8305's order, families interleaved:
 * see sock__resolve).  Returns 0, or the last failure's code with every
 * attempt in tried; at the deadline, the attempts still running are
 * recorded as timed out. */
static int race(sock_t *s, const struct addrinfo *next, int64_t deadline,
                struct sock__attempts *tried)
{
    struct racer r[RACE_MAX];
    int n = 0, rc = -EHOSTUNREACH;
    int64_t delay_ns = (int64_t)attempt_delay(s) * 1000000;
    int64_t next_start = now_ns();
    for (;;) {
        /* Start attempts: the first at once, the next after the delay or
         * as soon as none is running. */
        while (next && n < RACE_MAX && (n == 0 || now_ns() >= next_start)) {
            int k = race_start(s, next, &r[n]);
            if (k >= 0) {
                if (__builtin_expect(sock__trace_on, 0)) {
                    char addr[SOCK_ADDRSTRLEN];
                    sock__format_addr(next->ai_addr, addr, sizeof addr);
                    SOCK__TRACE(s, "connect_attempt", k ? -EINPROGRESS : 0, NULL, "%s", addr);
                }
                n++;
                if (k == 0)
                    return race_won(s, r, n, n - 1);
                next_start = now_ns() + delay_ns;
            } else {
                rc = k;
                attempt_failed(s, tried, next, k);
            }
            next = next->ai_next;
        }
        if (n == 0)
            return rc; /* every address failed */
        int wait_ms = sock__ms_left(deadline);
        if (wait_ms == 0)
            break;
        if (next) {
            int64_t until = next_start - now_ns();
            int start_ms = until <= 0 ? 0 : (int)((until + 999999) / 1000000);
            if (wait_ms < 0 || start_ms < wait_ms)
                wait_ms = start_ms;
        }
        struct pollfd pfd[RACE_MAX];
        for (int i = 0; i < n; i++)
            pfd[i] = (struct pollfd){.fd = r[i].fd, .events = POLLOUT};
        int ready = poll(pfd, (nfds_t)n, wait_ms);
        if (ready < 0 && errno != EINTR) {
            int e = errno;
            for (int i = 0; i < n; i++) {
                attempt_failed(s, tried, r[i].ai, -e);
                sock__close_quietly(r[i].fd);
            }
            return -e;
        }
        for (int i = n - 1; ready > 0 && i >= 0; i--) {
            if (!pfd[i].revents)
                continue;
            int out = connect_outcome(r[i].fd);
            if (out == 0)
                out = refuse_self(r[i].fd, r[i].ai->ai_addr, 0);
            if (out == 0)
                return race_won(s, r, n, i);
            rc = out;
            attempt_failed(s, tried, r[i].ai, out);
            sock__close_quietly(r[i].fd);
            r[i] = r[--n];
            next_start = now_ns(); /* one failed: start the next now */
        }
    }
    /* Out of time: every attempt still running timed out. */
    for (int i = 0; i < n; i++) {
        attempt_failed(s, tried, r[i].ai, -ETIMEDOUT);
        sock__close_quietly(r[i].fd);
    }
    return -ETIMEDOUT;
}

static int do_connect(sock_t *s, const char *host, const char *service)
{
    int flags = sock__flags(s);
    if (flags & SOCK__CLOSED)
        return sock__fail_unusable(s, SOCK__SIDE_SEND, "connect");
    if (flags & (SOCK__CONNECTED | SOCK__LISTENING))
        return sock__fail(s, SOCK__SIDE_SEND, -EINVAL, "connect: socket is already %s",
                          flags & SOCK__CONNECTED ? "connected" : "listening");
    if (s->priv_ext && s->priv_ext->connecting)
        return sock__fail(s, SOCK__SIDE_SEND, -EALREADY,
                          "connect: a connect is already under way (call sock_connect_finish)");

    /* After an explicit bind the descriptor exists and its family is
     * fixed: only addresses of that family can be tried, on that socket. */
    int bound = s->priv_fd >= 0;
    int family = s->priv_family;
    if (bound) {
        struct sockaddr_storage me;
        socklen_t len = sizeof me;
        if (getsockname(s->priv_fd, (struct sockaddr *)&me, &len) < 0)
            return sock__fail(s, SOCK__SIDE_SEND, -errno, "connect");
        family = me.ss_family;
    }
    if (flags & SOCK__NONBLOCK)
        return nb_connect(s, host, service, family);
    /* One budget for all of it: the name's resolution and every
     * attempt. */
    int64_t deadline = sock__deadline(s->priv_timeout_ms);
    struct sock__addrs addrs;
    int rc = sock__resolve(s, "connect", host, service, 0, family, deadline, &addrs);
    if (rc < 0)
        return rc;
    struct sock__attempts tried = {.len = 0};
    /* Several addresses and no explicit bind: race them (Happy Eyeballs);
     * else one after another, on the one descriptor a bind made. */
    if (!bound && addrs.list->ai_next && attempt_delay(s) >= 0)
        rc = race(s, addrs.list, deadline, &tried);
    else
        rc = one_by_one(s, addrs.list, bound, deadline, &tried);
    sock__addrs_free(&addrs);
    if (rc == 0 && (sock__flags(s) & SOCK__CONNECTED))
        return 0;
    if (tried.count == 0) /* failed after an attempt won (e.g. fcntl) */
        return sock__fail(s, SOCK__SIDE_SEND, rc ? rc : -EIO, "connect %s:%s", host, service);
    return sock__attempt_fail(s, &tried, "connect", host, service);
}

SOCK_API int sock_connect(sock_t *s, const char *host, const char *service)
{
    if (!s)
        return -EINVAL;
    int rc = do_connect(s, host, service);
    SOCK__TRACE(s, "connect", rc, NULL, "\"%s\", \"%s\"", host ? host : "", service ? service : "");
    return rc;
}

void sock__connect_abandon(sock_t *s)
{
    if (s->priv_ext && s->priv_ext->connecting)
        nb_release(s, s->priv_ext->connecting);
}
