/*
 * echo.c - `sock echo [HOST] PORT`: an echo server for many clients at
 * once, on one epoll event loop.
 *
 * The library's calls are blocking by design (one connection, one flow of
 * control, as the course teaches).  A server for thousands of clients
 * instead waits for all of them at once, so the listener is made with the
 * library (resolution, dual-stack bind, listen, errors) and the loop then
 * drives the descriptors with non-blocking system calls and epoll.
 *
 * What makes it hold under load, each a scenario of the reliability
 * catalogue:
 *
 *   - Memory: a connection is 40 bytes in a table indexed by descriptor,
 *     with no buffer of its own while idle.  Data is read into one shared
 *     64 KiB buffer and sent straight back; only what the kernel would not
 *     take at once is copied into a buffer of the connection's own.
 *   - Bounded buffering: while a connection has such a backlog, the loop
 *     stops reading from it.  A client that sends but never reads fills
 *     its own socket buffers and then waits; the server holds at most
 *     64 KiB for it.
 *   - Fairness: one recv per readable connection per turn, so a fast
 *     client cannot starve the others, and idle ones cost nothing.
 *   - Descriptor exhaustion: when accept fails with EMFILE (or ENFILE,
 *     ENOBUFS, ENOMEM), the listener leaves the epoll set, since a
 *     level-triggered listener would wake the loop again at once and spin.
 *     It comes back as soon as a connection closes, or after a pause.
 *   - Idle clients: with --idle-timeout, connections sit on a list in the
 *     order of their last activity, so the loop finds the expired ones at
 *     its head without scanning them all.
 *   - Stop: SIGINT or SIGTERM (read from a signalfd, so no handler runs)
 *     closes the listener, ends every client's stream after what was
 *     already echoed, waits a bounded time for the clients to close, and
 *     reports the counts.
 */
#include "cli.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#define ECHO_BUF 65536         /* the shared read buffer, and the most kept per client */
#define ECHO_EVENTS 256        /* events taken per epoll_wait */
#define ECHO_ACCEPT_BURST 64   /* accepts per turn, so clients already in are served too */
#define ECHO_PAUSE_MS 250      /* retry accept this long after descriptors ran out */
#define ECHO_DRAIN_MS 2000     /* on stop, how long clients get to close their side */

/* One client, in the table indexed by its descriptor.  The list links are
 * descriptors too (-1 for none): smaller than pointers, and still valid when
 * the table moves as it grows. */
struct conn {
    char *pend;         /* bytes read but not yet sent back, or NULL */
    int64_t last_ms;    /* last activity, for --idle-timeout */
    uint32_t pend_off;  /* first unsent byte of pend */
    uint32_t pend_len;  /* bytes in pend */
    int32_t prev, next; /* the activity list, oldest first */
    uint8_t open;       /* this slot is a connection */
    uint8_t draining;   /* stop: our side is shut, discard until the client closes */
};

struct echo_opts {
    int idle_ms;  /* --idle-timeout, -1 never */
    int backlog;  /* --backlog, -1 the library's default */
    int verbose;  /* -v: one line per client */
};

struct echo_counts {
    unsigned long long accepted, bytes, resets, idle_dropped, accept_failed;
    long open_now, peak;
};

struct server {
    struct echo_opts opt;
    struct echo_counts n;
    sock_t acep;           /* the listener, made by the library */
    int ep;                /* the epoll set */
    int lfd;               /* the listener's descriptor, -1 once closed */
    int sfd;               /* the signalfd */
    int listening;         /* the listener is in the epoll set */
    int64_t resume_ms;     /* when paused by EMFILE: when to retry */
    int stopping;          /* 0, or the signal that stops us */
    int hurry;             /* a second SIGINT: end the stop now */
    struct conn *c;        /* indexed by descriptor */
    int cap;               /* slots in c */
    int32_t head, tail;    /* the activity list */
    char buf[ECHO_BUF];
};

/* The loop's clock, in the milliseconds that the timeouts are given in. */
static int64_t now_ms(void)
{
    return (int64_t)(tool_now() * 1000.0);
}

/* ------------------------------------------------------------------ table */

/* Make room for descriptor fd.  The table doubles, so growing costs
 * little over a run; its slots are plain data, so realloc may move it. */
static int table_fit(struct server *s, int fd)
{
    if (fd < s->cap)
        return 0;
    int cap = s->cap ? s->cap : 1024;
    while (cap <= fd)
        cap *= 2;
    struct conn *c = realloc(s->c, (size_t)cap * sizeof *c);
    if (!c)
        return -1;
    memset(c + s->cap, 0, (size_t)(cap - s->cap) * sizeof *c);
    s->c = c;
    s->cap = cap;
    return 0;
}

static void list_unlink(struct server *s, int fd)
{
    struct conn *c = &s->c[fd];
    if (c->prev >= 0)
        s->c[c->prev].next = c->next;
    else
        s->head = c->next;
    if (c->next >= 0)
        s->c[c->next].prev = c->prev;
    else
        s->tail = c->prev;
    c->prev = c->next = -1;
}

static void list_append(struct server *s, int fd)
{
    struct conn *c = &s->c[fd];
    c->prev = s->tail;
    c->next = -1;
    if (s->tail >= 0)
        s->c[s->tail].next = fd;
    else
        s->head = fd;
    s->tail = fd;
}

/* Activity: the connection moves to the young end of the list. */
static void touch(struct server *s, int fd, int64_t now)
{
    s->c[fd].last_ms = now;
    if (s->opt.idle_ms >= 0 && s->tail != fd) {
        list_unlink(s, fd);
        list_append(s, fd);
    }
}

/* ---------------------------------------------------------- connections */

/* -v: one line per event of a client, named by its address. */
static void note(const struct server *s, int fd, const char *what)
{
    if (!s->opt.verbose)
        return;
    /* A client that reset is often already unnamed (getpeername fails). */
    struct sockaddr_storage ss = {.ss_family = AF_UNSPEC};
    socklen_t len = sizeof ss;
    char ip[INET6_ADDRSTRLEN] = "?";
    int port = 0;
    if (getpeername(fd, (struct sockaddr *)&ss, &len) == 0) {
        if (ss.ss_family == AF_INET6) {
            const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&ss;
            inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof ip);
            port = ntohs(a->sin6_port);
        } else if (ss.ss_family == AF_INET) {
            const struct sockaddr_in *a = (const struct sockaddr_in *)&ss;
            inet_ntop(AF_INET, &a->sin_addr, ip, sizeof ip);
            port = ntohs(a->sin_port);
        }
    }
    fprintf(stderr, ss.ss_family == AF_INET6 ? "sock echo: client [%s]:%d: %s\n"
                                             : "sock echo: client %s:%d: %s\n",
            ip, port, what);
}

static void listener_watch(struct server *s, int on);

/* Close one client and free what it held.  A descriptor freed while the
 * listener waits out EMFILE is what lets accepting resume, so resume now. */
static void drop(struct server *s, int fd, const char *why)
{
    struct conn *c = &s->c[fd];
    note(s, fd, why);
    list_unlink(s, fd);
    free(c->pend);
    memset(c, 0, sizeof *c);
    close(fd); /* also removes it from the epoll set */
    s->n.open_now--;
    if (!s->listening && s->lfd >= 0 && !s->stopping)
        listener_watch(s, 1);
}

static int watch(struct server *s, int op, int fd, uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.fd = fd};
    return epoll_ctl(s->ep, op, fd, &ev);
}

/* A failed receive or send: a reset is the client's doing, counted apart.
 * A send fails with EPIPE, not ECONNRESET, once the client's reset has
 * been seen: never after our own shutdown (nothing is sent after it), so
 * it is the same reset. */
static void drop_error(struct server *s, int fd, int err)
{
    if (err == ECONNRESET || err == EPIPE)
        s->n.resets++;
    drop(s, fd, err == ECONNRESET || err == EPIPE ? "reset by the client" : strerror(err));
}

/* Send what is pending.  Returns 1 when all of it went, 0 when the kernel
 * took part (wait for EPOLLOUT), -1 when the connection was dropped. */
static int flush_pending(struct server *s, int fd)
{
    struct conn *c = &s->c[fd];
    while (c->pend_off < c->pend_len) {
        ssize_t n = send(fd, c->pend + c->pend_off, c->pend_len - c->pend_off, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return 0;
        if (n < 0) {
            drop_error(s, fd, errno);
            return -1;
        }
        c->pend_off += (uint32_t)n;
    }
    free(c->pend);
    c->pend = NULL;
    c->pend_off = c->pend_len = 0;
    return 1;
}

/* Keep the part of an echo the kernel did not take, and stop reading from
 * this client until it is sent: this is what bounds the server's memory
 * for a client that does not read. */
static int keep_pending(struct server *s, int fd, const char *data, size_t len)
{
    struct conn *c = &s->c[fd];
    c->pend = malloc(len);
    if (!c->pend) {
        drop(s, fd, "out of memory for its backlog");
        return -1;
    }
    memcpy(c->pend, data, len);
    c->pend_off = 0;
    c->pend_len = (uint32_t)len;
    if (watch(s, EPOLL_CTL_MOD, fd, EPOLLOUT) < 0) {
        drop(s, fd, strerror(errno));
        return -1;
    }
    return 0;
}

/* The client's side is closed.  Everything read was echoed (or we would not
 * be reading), so closing now loses nothing and the client sees the end. */
static void client_finished(struct server *s, int fd)
{
    drop(s, fd, s->c[fd].draining ? "closed after the stop" : "closed");
}

/* One readable event: one receive, echoed at once. */
static void on_readable(struct server *s, int fd, int64_t now)
{
    ssize_t n;
    do
        n = recv(fd, s->buf, sizeof s->buf, 0);
    while (n < 0 && errno == EINTR);
    if (n < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            drop_error(s, fd, errno);
        return;
    }
    if (n == 0) {
        client_finished(s, fd);
        return;
    }
    touch(s, fd, now);
    if (s->c[fd].draining)
        return; /* our side is shut: what arrives now cannot be echoed */
    s->n.bytes += (unsigned long long)n;
    ssize_t w;
    do
        w = send(fd, s->buf, (size_t)n, MSG_NOSIGNAL);
    while (w < 0 && errno == EINTR);
    if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
        drop_error(s, fd, errno);
        return;
    }
    if (w < 0)
        w = 0;
    if (w < n)
        keep_pending(s, fd, s->buf + w, (size_t)(n - w));
}

/* The backlog can move again: send it, then read again. */
static void on_writable(struct server *s, int fd, int64_t now)
{
    int r = flush_pending(s, fd);
    if (r < 0)
        return;
    touch(s, fd, now);
    if (r == 0)
        return;
    if (s->c[fd].draining)
        shutdown(fd, SHUT_WR);
    /* Back to reading; a client we cannot watch any more is dropped rather
     * than left to wake the loop for writing for ever. */
    if (watch(s, EPOLL_CTL_MOD, fd, EPOLLIN) < 0)
        drop(s, fd, strerror(errno));
}

static void on_client(struct server *s, int fd, uint32_t events, int64_t now)
{
    if (fd >= s->cap || !s->c[fd].open)
        return; /* dropped earlier in this same batch of events */
    /* The client's state, not the event, says what to do: with a backlog
     * it is sent first (a hang-up or error then shows in send's result),
     * so echoes never leave out of order. */
    if (s->c[fd].pend)
        on_writable(s, fd, now);
    else if (events & (EPOLLIN | EPOLLHUP | EPOLLERR))
        on_readable(s, fd, now); /* a hang-up or error shows in recv's result */
}

/* ------------------------------------------------------------- listener */

static void listener_watch(struct server *s, int on)
{
    if (on == s->listening)
        return;
    if (watch(s, on ? EPOLL_CTL_ADD : EPOLL_CTL_DEL, s->lfd, EPOLLIN) == 0)
        s->listening = on;
}

static int accept_failure_is_exhaustion(int err)
{
    return err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM;
}

static void add_client(struct server *s, int fd, int64_t now)
{
    static const int one = 1;
    if (table_fit(s, fd) < 0) {
        close(fd);
        s->n.accept_failed++;
        return;
    }
    /* An echo sent in two pieces must not wait for an ACK (Nagle). */
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (watch(s, EPOLL_CTL_ADD, fd, EPOLLIN) < 0) {
        close(fd);
        s->n.accept_failed++;
        return;
    }
    struct conn *c = &s->c[fd];
    memset(c, 0, sizeof *c);
    c->open = 1;
    c->last_ms = now;
    c->prev = c->next = -1;
    list_append(s, fd);
    s->n.accepted++;
    if (++s->n.open_now > s->n.peak)
        s->n.peak = s->n.open_now;
    note(s, fd, "connected");
}

/* Take the waiting clients, a burst at a time.  Out of descriptors, stop
 * watching the listener until one is freed or the pause is over. */
static void on_listener(struct server *s, int64_t now)
{
    for (int i = 0; i < ECHO_ACCEPT_BURST; i++) {
        int fd = accept4(s->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
            add_client(s, fd, now);
            continue;
        }
        if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO || errno == EPERM)
            continue; /* that client is gone, or refused by a firewall: take the next */
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return;
        s->n.accept_failed++;
        if (accept_failure_is_exhaustion(errno)) {
            listener_watch(s, 0);
            s->resume_ms = now + ECHO_PAUSE_MS;
        }
        return;
    }
}

/* ----------------------------------------------------------------- stop */

/* Stop accepting and end every client's stream after what it was already
 * sent; then the loop waits (bounded) for the clients to close theirs. */
static void begin_stop(struct server *s, int sig)
{
    s->stopping = sig;
    listener_watch(s, 0);
    sock_close(&s->acep);
    s->lfd = -1;
    for (int fd = s->head; fd >= 0;) {
        int next = s->c[fd].next;
        s->c[fd].draining = 1;
        if (!s->c[fd].pend)
            shutdown(fd, SHUT_WR); /* else: after its backlog, in on_writable */
        fd = next;
    }
}

/* The first SIGINT or SIGTERM starts the stop; a second SIGINT during the
 * grace period (a person pressing Ctrl-C again) ends it at once, and the
 * clients still open are counted as cut off. */
static void on_signal(struct server *s)
{
    struct signalfd_siginfo si;
    if (read(s->sfd, &si, sizeof si) != (ssize_t)sizeof si)
        return;
    if (!s->stopping)
        begin_stop(s, (int)si.ssi_signo);
    else if (si.ssi_signo == SIGINT)
        s->hurry = 1;
}

/* ------------------------------------------------------------ the loop */

static void expire_idle(struct server *s, int64_t now)
{
    if (s->opt.idle_ms < 0)
        return;
    while (s->head >= 0 && now - s->c[s->head].last_ms >= s->opt.idle_ms) {
        s->n.idle_dropped++;
        drop(s, s->head, "idle, dropped");
    }
}

/* How long epoll_wait may sleep: until the oldest client expires, the
 * listener's pause ends or the stop's grace runs out; -1 for no limit. */
static int next_timeout(const struct server *s, int64_t now, int64_t stop_deadline)
{
    int64_t until = -1;
    if (s->opt.idle_ms >= 0 && s->head >= 0)
        until = s->c[s->head].last_ms + s->opt.idle_ms;
    if (!s->listening && s->lfd >= 0 && (until < 0 || s->resume_ms < until))
        until = s->resume_ms;
    if (s->stopping && (until < 0 || stop_deadline < until))
        until = stop_deadline;
    if (until < 0)
        return -1;
    int64_t wait = until - now;
    return wait <= 0 ? 0 : wait > INT_MAX ? INT_MAX : (int)wait;
}

static int run_loop(struct server *s)
{
    struct epoll_event ev[ECHO_EVENTS];
    int64_t stop_deadline = 0;
    for (;;) {
        int64_t now = now_ms();
        if (s->stopping && !stop_deadline)
            stop_deadline = now + ECHO_DRAIN_MS;
        if (s->stopping && (s->n.open_now == 0 || now >= stop_deadline || s->hurry))
            return 0;
        int n = epoll_wait(s->ep, ev, ECHO_EVENTS, next_timeout(s, now, stop_deadline));
        if (n < 0 && errno != EINTR) {
            tool_err("echo", "epoll_wait: %s", strerror(errno));
            return -1;
        }
        now = now_ms();
        for (int i = 0; i < n; i++) {
            int fd = ev[i].data.fd;
            if (fd == s->sfd)
                on_signal(s);
            else if (fd == s->lfd)
                on_listener(s, now);
            else
                on_client(s, fd, ev[i].events, now);
        }
        if (!s->listening && s->lfd >= 0 && !s->stopping && now >= s->resume_ms)
            listener_watch(s, 1);
        expire_idle(s, now);
    }
}

/* --------------------------------------------------------------- set-up */

static void usage(FILE *f)
{
    fprintf(f,
            "usage: sock [global options] echo [OPTIONS] [HOST] PORT\n"
            "\n"
            "Serve many clients at once, sending back every byte each one sends, from one\n"
            "event loop (epoll).  Listens on HOST PORT (every local address, IPv4 and IPv6,\n"
            "when HOST is left out; PORT 0 lets the system choose) and prints 'listening on\n"
            "ADDR' on standard error with the real port.\n"
            "\n"
            "SIGINT or SIGTERM stops it cleanly: no new clients, every client's stream is\n"
            "ended after what it was already sent back, clients get %d s to close, and a\n"
            "line of counts is printed on standard error.  A second SIGINT (Ctrl-C again)\n"
            "during those seconds ends it at once, with the same line.\n"
            "\n"
            "  --idle-timeout MS  drop a client that sent nothing and could take nothing for\n"
            "                     MS milliseconds (1 to 86400000); the global --timeout\n"
            "                     does not apply to echo (a usage error)\n"
            "  --backlog N        the listen queue, 1 to 65535 connections (default: the\n"
            "                     system's maximum; the system caps it at somaxconn)\n"
            "  -v, --verbose      one line per client connected and closed\n"
            "\n"
            "Memory stays small and bounded: an idle client costs under 100 bytes of the\n"
            "server's memory (besides the kernel's socket buffers), and a client that sends\n"
            "without reading gets at most 64 KiB kept for it before the server stops reading\n"
            "from it.  When descriptors run out, accepting pauses until one is free.  The\n"
            "soft descriptor limit is raised to the hard one at start.\n"
            "\n"
            "Exit status: 0 after a clean stop, 1 on a network error, 2 on a usage error.\n",
            ECHO_DRAIN_MS / 1000);
}

int cli_parse_echo(const struct cli_opts *o, int argc, char **argv, struct echo_args *a)
{
    static const struct option opts[] = {{"idle-timeout", required_argument, NULL, 'i'},
                                         {"backlog", required_argument, NULL, 'b'},
                                         {"verbose", no_argument, NULL, 'v'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    *a = (struct echo_args){.idle_ms = -1, .backlog = -1};
    long v;
    int ch;
    optind = 0;
    while ((ch = tool_getopt("echo", argc, argv, "vh", opts)) != -1) {
        switch (ch) {
        case 'i':
            if (tool_parse_number("echo", "--idle-timeout", optarg, 1, CLI_TIMEOUT_MAX,
                                  "milliseconds", &v))
                return EXIT_USAGE;
            a->idle_ms = (int)v;
            break;
        case 'b':
            if (tool_parse_number("echo", "--backlog", optarg, 1, 65535, "connections", &v))
                return EXIT_USAGE;
            a->backlog = (int)v;
            break;
        case 'v':
            a->verbose = 1;
            break;
        case 'h':
            a->help = 1;
            return 0;
        default:
            return EXIT_USAGE;
        }
    }
    /* A server of many clients has no one connection for --timeout to
     * bound; what a person wants from it is the idle limit per client. */
    if (o->timeout_ms >= 0) {
        tool_err("echo", "--timeout does not apply to echo: use --idle-timeout MS to drop idle "
                         "clients");
        return EXIT_USAGE;
    }
    return tool_host_port("echo", argc - optind, argv + optind, 0, a->host, sizeof a->host,
                          a->port, sizeof a->port);
}

/* Thousands of clients need thousands of descriptors: take what the hard
 * limit allows.  A failure here is not fatal; EMFILE is handled anyway. */
static void raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

/* The listener, made by the library: resolution, dual-stack bind and
 * errors are its job.  Then non-blocking, for the loop. */
static int open_listener(const struct cli_opts *o, const struct echo_args *a, sock_t *acep)
{
    int rc = tool_listen("echo", o, a->host, a->port, a->backlog, 0, acep);
    if (rc)
        return rc;
    int fd = sock_fd(acep);
    if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0) {
        tool_err("echo", "cannot make the listener non-blocking: %s", strerror(errno));
        sock_close(acep);
        return EXIT_NET;
    }
    return 0;
}

/* SIGINT and SIGTERM arrive through a descriptor in the epoll set. */
static int open_signals(struct server *s)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
        return -1;
    s->sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
    return s->sfd < 0 ? -1 : watch(s, EPOLL_CTL_ADD, s->sfd, EPOLLIN);
}

static void report(const struct server *s)
{
    const struct echo_counts *n = &s->n;
    fprintf(stderr,
            "sock echo: stopped by %s%s: %llu clients served, %llu bytes echoed, %ld at most at "
            "once, %ld cut off %s, %llu resets, %llu dropped idle, %llu failed accepts\n",
            s->stopping == SIGINT ? "SIGINT" : "SIGTERM",
            s->hurry ? " and a second SIGINT" : "", n->accepted, n->bytes, n->peak, n->open_now,
            s->hurry ? "at the second SIGINT" : "after the grace period", n->resets,
            n->idle_dropped, n->accept_failed);
}

static void close_all(struct server *s)
{
    while (s->head >= 0)
        drop(s, s->head, "closed at the end of the stop");
}

int cmd_echo(const struct cli_opts *o, int argc, char **argv)
{
    struct echo_args a;
    int rc = cli_parse_echo(o, argc, argv, &a);
    if (rc || a.help) {
        if (a.help)
            usage(stdout);
        return rc;
    }
    raise_fd_limit();
    /* The server holds the 64 KiB shared buffer: on the heap, not the stack. */
    struct server *s = calloc(1, sizeof *s);
    if (!s) {
        tool_err("echo", "out of memory");
        return EXIT_NET;
    }
    s->opt = (struct echo_opts){.idle_ms = a.idle_ms, .backlog = a.backlog, .verbose = a.verbose};
    s->head = s->tail = -1;
    s->ep = s->sfd = s->lfd = -1;
    /* The signals are blocked before the listener exists, so that a stop
     * sent as soon as "listening on" shows is never lost. */
    s->ep = epoll_create1(EPOLL_CLOEXEC);
    if (s->ep < 0 || open_signals(s) < 0) {
        tool_err("echo", "cannot set up the event loop: %s", strerror(errno));
        rc = EXIT_NET;
    } else if ((rc = open_listener(o, &a, &s->acep)) == 0) {
        s->lfd = sock_fd(&s->acep);
        listener_watch(s, 1);
        rc = run_loop(s) == 0 ? EXIT_OK : EXIT_NET;
        if (rc == EXIT_OK)
            report(s);
    }
    /* The listener first, so that freeing descriptors cannot resume it. */
    if (s->lfd >= 0) {
        listener_watch(s, 0);
        sock_close(&s->acep);
        s->lfd = -1;
    }
    close_all(s);
    if (s->sfd >= 0)
        close(s->sfd);
    if (s->ep >= 0)
        close(s->ep);
    free(s->c);
    free(s);
    return rc;
}
