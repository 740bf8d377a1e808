/*
 * echo.c - `sock echo [HOST] PORT`: an echo server for many clients at
 * once, on one event loop of the library's own: the acceptor and every
 * client are non-blocking libsock handles (sock_set_nonblocking), and one
 * sock_poller_t waits for all of them and for the signals.
 *
 * What makes it hold under load, each a scenario of the reliability
 * catalogue:
 *
 *   - Memory: a connection is an 88-byte slot (its sock_t and the few
 *     fields below) in a table of fixed blocks, with no buffer of its own
 *     while idle.  Data is read into one shared 64 KiB buffer and sent
 *     straight back; only what the kernel would not take at once is
 *     copied into a buffer of the connection's own.
 *   - Bounded buffering: while a connection has such a backlog, the loop
 *     stops reading from it.  A client that sends but never reads fills
 *     its own socket buffers and then waits; the server holds at most
 *     64 KiB for it.
 *   - Fairness: one receive per readable connection per turn, so a fast
 *     client cannot starve the others, and idle ones cost nothing.
 *   - Descriptor exhaustion: when accepting fails with EMFILE (or ENFILE,
 *     ENOBUFS, ENOMEM), the acceptor leaves the poller, since a
 *     level-triggered acceptor would wake the loop again at once and spin.
 *     It comes back as soon as a connection closes, or after a pause.
 *   - Idle clients: with --idle-timeout, connections sit on a list in the
 *     order of their last activity, so the loop finds the expired ones at
 *     its head without scanning them all.
 *   - Stop: SIGINT or SIGTERM (read from a signalfd, so no handler runs)
 *     closes the acceptor, ends every client's stream after what was
 *     already echoed, waits a bounded time for the clients to close, and
 *     reports the counts.
 */
#include "cli.h"
#include "util.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <unistd.h>

#define ECHO_BUF 65536         /* the shared read buffer, and the most kept per client */
#define ECHO_EVENTS 256        /* events taken per wait */
#define ECHO_ACCEPT_BURST 64   /* accepts per turn, so clients already in are served too */
#define ECHO_PAUSE_MS 250      /* retry accept this long after descriptors ran out */
#define ECHO_DRAIN_MS 2000     /* on stop, how long clients get to close their side */
#define ECHO_BLOCK 512         /* slots per block of the table */

/* The part of an echo the kernel did not take at once, allocated only then. */
struct pending {
    uint32_t off, len; /* first unsent byte, bytes held */
    char data[];
};

/* One client.  Slots live in blocks that never move, so the poller carries
 * a slot's address; the list links are slot numbers (-1 for none), half
 * the size of pointers.  A free slot is on the free list through next. */
struct conn {
    sock_t s;              /* the client's handle */
    struct pending *pend;  /* bytes read but not yet sent back, or NULL */
    int64_t last_ms;       /* last activity, for --idle-timeout */
    int32_t prev, next;    /* the activity list, oldest first; or the free list */
    int32_t self;          /* this slot's number */
    uint8_t open;          /* this slot is a connection */
    uint8_t draining;      /* stop: our side is shut, discard until the client closes */
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
    sock_t acep;           /* the acceptor, non-blocking */
    int acep_open;         /* acep is open (it is closed when the stop begins) */
    sock_poller_t *poller;
    int sfd;               /* the signalfd */
    int listening;         /* the acceptor is in the poller */
    int64_t resume_ms;     /* when paused by EMFILE: when to retry */
    int stopping;          /* 0, or the signal that stops us */
    int hurry;             /* a second SIGINT: end the stop now */
    struct conn **block;   /* the table: nblocks blocks of ECHO_BLOCK slots */
    int nblocks;
    int32_t free_head;     /* the free slots, -1 when every slot is taken */
    int32_t head, tail;    /* the activity list */
    char buf[ECHO_BUF];
};

/* The loop's clock, in the milliseconds that the timeouts are given in. */
static int64_t now_ms(void)
{
    return (int64_t)(tool_now() * 1000.0);
}

/* ------------------------------------------------------------------ table */

static struct conn *slot(const struct server *s, int32_t i)
{
    return &s->block[i / ECHO_BLOCK][i % ECHO_BLOCK];
}

/* A free slot for the next client, or NULL when out of memory.  The table
 * grows a block at a time and blocks never move (the poller holds their
 * addresses), so memory follows the most clients ever open at once. */
static struct conn *slot_get(struct server *s)
{
    if (s->free_head < 0) {
        if (s->nblocks >= INT32_MAX / ECHO_BLOCK)
            return NULL;
        struct conn **grown = realloc(s->block, (size_t)(s->nblocks + 1) * sizeof *grown);
        if (!grown)
            return NULL;
        s->block = grown;
        struct conn *b = calloc(ECHO_BLOCK, sizeof *b);
        if (!b)
            return NULL;
        s->block[s->nblocks] = b;
        /* Pushed in reverse, so that the lowest numbers are taken first. */
        for (int i = ECHO_BLOCK - 1; i >= 0; i--) {
            b[i].self = s->nblocks * ECHO_BLOCK + i;
            b[i].next = s->free_head;
            s->free_head = b[i].self;
        }
        s->nblocks++;
    }
    return slot(s, s->free_head);
}

/* The slot that slot_get() returned becomes a connection. */
static void slot_take(struct server *s, struct conn *c)
{
    s->free_head = c->next;
}

static void slot_release(struct server *s, struct conn *c)
{
    int32_t self = c->self;
    memset(c, 0, sizeof *c);
    c->self = self;
    c->next = s->free_head;
    s->free_head = self;
}

static void list_unlink(struct server *s, struct conn *c)
{
    if (c->prev >= 0)
        slot(s, c->prev)->next = c->next;
    else
        s->head = c->next;
    if (c->next >= 0)
        slot(s, c->next)->prev = c->prev;
    else
        s->tail = c->prev;
    c->prev = c->next = -1;
}

static void list_append(struct server *s, struct conn *c)
{
    c->prev = s->tail;
    c->next = -1;
    if (s->tail >= 0)
        slot(s, s->tail)->next = c->self;
    else
        s->head = c->self;
    s->tail = c->self;
}

/* Activity: the connection moves to the young end of the list. */
static void touch(struct server *s, struct conn *c, int64_t now)
{
    c->last_ms = now;
    if (s->opt.idle_ms >= 0 && s->tail != c->self) {
        list_unlink(s, c);
        list_append(s, c);
    }
}

/* ---------------------------------------------------------- connections */

/* -v: one line per event of a client, named by its address (which the
 * handle remembers even after a reset). */
static void note(const struct server *s, const struct conn *c, const char *what)
{
    if (!s->opt.verbose)
        return;
    char addr[SOCK_ADDRSTRLEN] = "?";
    sock_peer_addr(&c->s, addr, sizeof addr);
    fprintf(stderr, "sock echo: client %s: %s\n", addr, what);
}

static void listener_watch(struct server *s, int on);

/* Close one client and free what it held.  A descriptor freed while the
 * acceptor waits out EMFILE is what lets accepting resume, so resume now. */
static void drop(struct server *s, struct conn *c, const char *why)
{
    note(s, c, why);
    list_unlink(s, c);
    free(c->pend);
    sock_close(&c->s); /* also takes it out of the poller */
    slot_release(s, c);
    s->n.open_now--;
    if (!s->listening && s->acep_open && !s->stopping)
        listener_watch(s, 1);
}

/* What the loop wants of a client: to read, or, with a backlog, to write.
 * Writing is edge-triggered: the poller always reports a client's end of
 * stream (SOCK_HUP), so a level-triggered wait for room would wake the
 * loop without end once a client that does not read has closed its side;
 * flush_pending() sends until -EAGAIN, as an edge requires. */
static int watch(struct server *s, struct conn *c, int writing)
{
    return sock_poller_modify(s->poller, &c->s, writing ? SOCK_WRITABLE | SOCK_EDGE : SOCK_READABLE,
                              c);
}

/* A failed receive or send: a reset is the client's doing, counted apart.
 * A send fails with EPIPE, not ECONNRESET, once the client's reset has
 * been seen: never after our own shutdown (the library says SOCK_ECLOSED
 * then, and nothing is sent after it), so it is the same reset. */
static void drop_error(struct server *s, struct conn *c, int code)
{
    int reset = code == -ECONNRESET || code == -EPIPE;
    if (reset)
        s->n.resets++;
    drop(s, c, reset ? "reset by the client" : sock_strerror(code));
}

/* Send what is pending.  Returns 1 when all of it went, 0 when the kernel
 * took part (wait until writable), -1 when the connection was dropped. */
static int flush_pending(struct server *s, struct conn *c)
{
    struct pending *p = c->pend;
    size_t sent = 0;
    int rc = sock_send_all(&c->s, p->data + p->off, p->len - p->off, &sent);
    p->off += (uint32_t)sent;
    if (rc == -EAGAIN)
        return 0;
    if (rc < 0) {
        drop_error(s, c, rc);
        return -1;
    }
    free(p);
    c->pend = NULL;
    return 1;
}

/* Keep the part of an echo the kernel did not take, and stop reading from
 * this client until it is sent: this is what bounds the server's memory
 * for a client that does not read. */
static void keep_pending(struct server *s, struct conn *c, const char *data, size_t len)
{
    struct pending *p = malloc(sizeof *p + len);
    if (!p) {
        drop(s, c, "out of memory for its backlog");
        return;
    }
    memcpy(p->data, data, len);
    p->off = 0;
    p->len = (uint32_t)len;
    c->pend = p;
    int rc = watch(s, c, 1);
    if (rc < 0)
        drop(s, c, sock_strerror(rc));
}

/* The client's side is closed.  Everything read was echoed (or we would not
 * be reading), so closing now loses nothing and the client sees the end. */
static void client_finished(struct server *s, struct conn *c)
{
    drop(s, c, c->draining ? "closed after the stop" : "closed");
}

/* One readable event: one receive, echoed at once. */
static void on_readable(struct server *s, struct conn *c, int64_t now)
{
    ssize_t n = sock_recv(&c->s, s->buf, sizeof s->buf);
    if (n == -EAGAIN)
        return;
    if (n < 0) {
        drop_error(s, c, (int)n);
        return;
    }
    if (n == 0) {
        client_finished(s, c);
        return;
    }
    touch(s, c, now);
    if (c->draining)
        return; /* our side is shut: what arrives now cannot be echoed */
    s->n.bytes += (unsigned long long)n;
    ssize_t w = sock_send(&c->s, s->buf, (size_t)n);
    if (w < 0 && w != -EAGAIN) {
        drop_error(s, c, (int)w);
        return;
    }
    if (w < 0)
        w = 0;
    if (w < n)
        keep_pending(s, c, s->buf + w, (size_t)(n - w));
}

/* The backlog can move again: send it, then read again. */
static void on_writable(struct server *s, struct conn *c, int64_t now)
{
    int r = flush_pending(s, c);
    if (r < 0)
        return;
    touch(s, c, now);
    if (r == 0)
        return;
    if (c->draining)
        sock_shutdown(&c->s, SOCK_SHUT_WRITE);
    /* Back to reading; a client we cannot watch any more is dropped rather
     * than left without events for ever. */
    int rc = watch(s, c, 0);
    if (rc < 0)
        drop(s, c, sock_strerror(rc));
}

static void on_client(struct server *s, struct conn *c, unsigned events, int64_t now)
{
    if (!c->open)
        return; /* dropped earlier in this same batch of events */
    /* The client's state, not the event, says what to do: with a backlog
     * it is sent first (a hang-up or error then shows in send's result),
     * so echoes never leave out of order. */
    if (c->pend)
        on_writable(s, c, now);
    else if (events & SOCK_READABLE)
        on_readable(s, c, now); /* a hang-up or error shows in recv's result */
}

/* ------------------------------------------------------------- listener */

static void listener_watch(struct server *s, int on)
{
    if (on == s->listening)
        return;
    int rc = on ? sock_poller_add(s->poller, &s->acep, SOCK_READABLE, &s->acep)
                : sock_poller_remove(s->poller, &s->acep);
    if (rc == 0)
        s->listening = on;
}

static int accept_failure_is_exhaustion(int code)
{
    return code == -EMFILE || code == -ENFILE || code == -ENOBUFS || code == -ENOMEM;
}

/* Set up the slot of a client just accepted; 0, or -1 when it was refused. */
static int add_client(struct server *s, struct conn *c, int64_t now)
{
    /* An echo sent in two pieces must not wait for an ACK (Nagle). */
    sock_set_nodelay(&c->s, 1);
    if (sock_poller_add(s->poller, &c->s, SOCK_READABLE, c) < 0) {
        sock_close(&c->s);
        s->n.accept_failed++;
        return -1;
    }
    slot_take(s, c);
    c->open = 1;
    c->last_ms = now;
    c->prev = c->next = -1;
    list_append(s, c);
    s->n.accepted++;
    if (++s->n.open_now > s->n.peak)
        s->n.peak = s->n.open_now;
    note(s, c, "connected");
    return 0;
}

/* Take the waiting clients, a burst at a time, each straight into a free
 * slot.  Out of descriptors, stop watching the acceptor until one is freed
 * or the pause is over. */
static void on_listener(struct server *s, int64_t now)
{
    for (int i = 0; i < ECHO_ACCEPT_BURST; i++) {
        struct conn *c = slot_get(s);
        if (!c) {
            s->n.accept_failed++;
            return; /* out of memory: the client stays queued for the next turn */
        }
        int rc = sock_accept(&s->acep, &c->s);
        if (rc == 0) {
            add_client(s, c, now);
            continue;
        }
        /* The library skips clients that died in the queue; EPERM is one
         * a firewall refused: take the next. */
        if (rc == -EPERM)
            continue;
        if (rc == -EAGAIN)
            return;
        s->n.accept_failed++;
        if (accept_failure_is_exhaustion(rc)) {
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
    s->acep_open = 0;
    for (int32_t i = s->head; i >= 0;) {
        struct conn *c = slot(s, i);
        i = c->next;
        c->draining = 1;
        if (!c->pend)
            sock_shutdown(&c->s, SOCK_SHUT_WRITE); /* else: after its backlog, in on_writable */
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
    while (s->head >= 0 && now - slot(s, s->head)->last_ms >= s->opt.idle_ms) {
        s->n.idle_dropped++;
        drop(s, slot(s, s->head), "idle, dropped");
    }
}

/* How long the wait may sleep: until the oldest client expires, the
 * acceptor's pause ends or the stop's grace runs out; -1 for no limit. */
static int next_timeout(const struct server *s, int64_t now, int64_t stop_deadline)
{
    int64_t until = -1;
    if (s->opt.idle_ms >= 0 && s->head >= 0)
        until = slot(s, s->head)->last_ms + s->opt.idle_ms;
    if (!s->listening && s->acep_open && (until < 0 || s->resume_ms < until))
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
    sock_event_t ev[ECHO_EVENTS];
    int64_t stop_deadline = 0;
    for (;;) {
        int64_t now = now_ms();
        if (s->stopping && !stop_deadline)
            stop_deadline = now + ECHO_DRAIN_MS;
        if (s->stopping && (s->n.open_now == 0 || now >= stop_deadline || s->hurry))
            return 0;
        int n = sock_poller_wait(s->poller, ev, ECHO_EVENTS, next_timeout(s, now, stop_deadline));
        if (n < 0) {
            tool_err("echo", "waiting for clients: %s", sock_strerror(n));
            return -1;
        }
        now = now_ms();
        for (int i = 0; i < n; i++) {
            if (ev[i].user == &s->sfd)
                on_signal(s);
            else if (ev[i].user == &s->acep)
                on_listener(s, now);
            else
                on_client(s, ev[i].user, ev[i].events, now);
        }
        if (!s->listening && s->acep_open && !s->stopping && now >= s->resume_ms)
            listener_watch(s, 1);
        expire_idle(s, now);
    }
}

/* --------------------------------------------------------------- set-up */

static void usage(FILE *f)
{
    fprintf(f,
            "usage: sock [global options] echo [OPTIONS] [HOST] PORT\n"
            "       sock [global options] echo [OPTIONS] -U PATH\n"
            "\n"
            "Serve many clients at once, sending back every byte each one sends, from one\n"
            "event loop (the library's poller).  Listens on HOST PORT (every local address,\n"
            "IPv4 and IPv6, when HOST is left out; PORT 0 lets the system choose) and prints\n"
            "'listening on ADDR' on standard error with the real port.\n"
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
            "  -U PATH            serve a Unix stream socket at PATH instead (@NAME: Linux's\n"
            "                     abstract namespace), as 'sock listen -U'\n"
            "\n"
            "Memory stays small and bounded: an idle client costs under 128 bytes of the\n"
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
    int ch, rc;
    const char *unix_path = NULL;
    optind = 0;
    while ((ch = tool_getopt("echo", argc, argv, "vU:h", opts)) != -1) {
        switch (ch) {
        case 'U':
            unix_path = optarg;
            break;
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
    if (unix_path) {
        if (optind < argc) {
            tool_err("echo", "unexpected argument %s: -U PATH takes no HOST or PORT",
                     tool_quote(argv[optind]));
            return EXIT_USAGE;
        }
        a->is_unix = 1;
        return tool_unix_host("echo", o, unix_path, a->host, sizeof a->host);
    }
    rc = tool_host_port("echo", argc - optind, argv + optind, 0, a->host, sizeof a->host,
                        a->port, sizeof a->port);
    return rc ? rc : tool_check_numeric("echo", o, "HOST", a->host, a->port);
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

/* The acceptor: resolution, dual-stack bind and errors are the library's
 * job; then non-blocking, for the loop (accepted clients inherit it). */
static int open_listener(const struct cli_opts *o, const struct echo_args *a, sock_t *acep)
{
    int rc = tool_listen("echo", o, a->host, a->port, a->backlog, 0, acep);
    if (rc)
        return rc;
    if (sock_set_nonblocking(acep, 1) < 0) {
        tool_err("echo", "cannot make the acceptor non-blocking: %s", sock_error(acep));
        sock_close(acep);
        return EXIT_NET;
    }
    return 0;
}

/* SIGINT and SIGTERM arrive through a descriptor in the poller: the library
 * has no signals of its own (it never touches the process's signal
 * handling), so the signalfd is the loop's, watched with
 * sock_poller_add_fd() and read with read(). */
static int open_signals(struct server *s)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
        return -errno;
    s->sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
    if (s->sfd < 0)
        return -errno;
    return sock_poller_add_fd(s->poller, s->sfd, SOCK_READABLE, &s->sfd);
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
        drop(s, slot(s, s->head), "closed at the end of the stop");
}

static void free_table(struct server *s)
{
    for (int i = 0; i < s->nblocks; i++)
        free(s->block[i]);
    free(s->block);
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
    s->head = s->tail = s->free_head = -1;
    s->sfd = -1;
    /* The signals are blocked before the acceptor exists, so that a stop
     * sent as soon as "listening on" shows is never lost. */
    int code = sock_poller_open(&s->poller);
    if (code == 0)
        code = open_signals(s);
    if (code < 0) {
        tool_err("echo", "cannot set up the event loop: %s", sock_strerror(code));
        rc = EXIT_NET;
    } else if ((rc = open_listener(o, &a, &s->acep)) == 0) {
        s->acep_open = 1;
        listener_watch(s, 1);
        rc = run_loop(s) == 0 ? EXIT_OK : EXIT_NET;
        if (rc == EXIT_OK)
            report(s);
    }
    /* The acceptor first, so that freeing descriptors cannot resume it. */
    if (s->acep_open) {
        listener_watch(s, 0);
        sock_close(&s->acep);
        s->acep_open = 0;
    }
    close_all(s);
    if (s->sfd >= 0)
        close(s->sfd);
    sock_poller_close(s->poller);
    free_table(s);
    free(s);
    return rc;
}
