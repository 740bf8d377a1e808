/*
 * relay.c - `sock relay [HOST:]LISTEN_PORT HOST PORT`: a man in the middle
 * for many clients at once.
 *
 * The relay accepts clients, connects to the target (the "server") on
 * behalf of each and forwards both directions with the forwarding engine
 * (forward.c), every session on one poller.  Standard output shows what
 * passes, each line labelled with its client's number: every write as a
 * hexdump with its direction, its offset in that direction and the time
 * since that client was accepted, and each half-close and reset as a line
 * when it happens.  --max-chunk and --delay cut the stream into small, slow
 * writes, so that the programs at both ends meet partial reads and writes
 * they would rarely see on loopback.  With -q and neither of those, no hook
 * needs to see the bytes, and the engine splices them from one socket to
 * the other through a kernel pipe.
 *
 * What bounds a session: the engine reads a direction only while it has
 * room, so a client that never reads stops the reading from its target
 * (and the target feels the back-pressure, as on a direct connection).  A
 * session holds its two connections, about 700 bytes of its own, and
 * either two kernel pipes (splice: up to 1 MiB each, pages taken only
 * while bytes are in flight) or two copy buffers of 64 KiB (hexdump,
 * --max-chunk, --delay; allocated only while bytes are in flight).
 */
#include "cli.h"
#include "forward.h"
#include "util.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#define BUF_SIZE FWD_BUF_BYTES
#define MAX_DELAY_MS 60000
#define DUMP_WIDTH 16
#define RELAY_EVENTS 256        /* events taken per wait */
#define RELAY_ACCEPT_BURST 64   /* accepts per turn, so clients already in are served too */
#define RELAY_PAUSE_S 0.25      /* retry accept this long after descriptors ran out */
#define RELAY_GRACE_S 2.0       /* on stop, how long sessions get to end by themselves */

/* What the poller's pointers point to: the listener, a connect under way,
 * or an end of a session (FWD_KIND_END). */
enum { TAG_LISTENER = 1, TAG_CONNECT = 2 };

struct relay_opts {
    int keep;          /* -k: many clients, until SIGINT/SIGTERM */
    int quiet;         /* -q: events only, no hexdump */
    long max_chunk;    /* bytes per write, 1..BUF_SIZE */
    long delay_ms;     /* pause between two writes of one direction, 0 none */
    int idle_ms;       /* --timeout: give up after this long without data, -1 never */
};

enum { CONNECTING, FORWARDING };

/* One client: its connection, the one to the target made for it, and the
 * forwarding session between them (side A the client, B the server). */
struct session {
    struct fwd f;
    int connect_tag;           /* TAG_CONNECT: the pointer while connecting */
    int state;
    int dead;                  /* ended: freed after the current batch of events */
    unsigned number;
    sock_t cli, srv;
    char caddr[SOCK_ADDRSTRLEN], saddr[SOCK_ADDRSTRLEN];
    double started;            /* when accepted: the time of every line */
    double deadline;           /* while connecting: --timeout */
    int rc;
    struct relay *r;
    struct session *prev, *next;
};

struct relay_counts {
    unsigned long long accepted, c2s, s2c, resets, failed_accepts;
    long open_now, peak, cut_off;
};

struct relay {
    struct relay_opts o;
    const struct cli_opts *cli;
    const char *thost, *tport;
    struct fwd_hooks hooks;
    sock_poller_t *poller;
    sock_t acep;
    int listen_tag;            /* TAG_LISTENER */
    int listening;             /* the listener is open */
    int accepting;             /* ... and watched (not paused by EMFILE) */
    double resume_at;          /* when paused: when to try again */
    double accept_deadline;    /* without -k, with --timeout: the wait for the client */
    double next_scan;          /* the earliest --timeout that may run out */
    struct session *head;
    struct session *reap;      /* ended in this batch */
    struct relay_counts n;
    double stop_deadline;
    int rc;                    /* without -k: the one client's status */
};

/* SIGINT and SIGTERM: the handler notes the signal and wakes the poller
 * (safe in a signal handler); the loop does the rest. */
static sock_poller_t *signal_poller;
static volatile sig_atomic_t stop_signal, stop_again;

static void usage(FILE *f)
{
    fprintf(f,
            "usage: sock [global options] relay [-k] [-q] [--max-chunk N] [--delay MS]\n"
            "                                   [HOST:]LISTEN_PORT HOST PORT\n"
            "       sock [global options] relay [options] [HOST:]LISTEN_PORT HOST:PORT\n"
            "\n"
            "A man in the middle: listen on LISTEN_PORT (every local address when HOST is\n"
            "left out; 0 lets the system choose), print 'listening on ADDR' on standard\n"
            "error with the real port, accept clients, connect to HOST PORT for each and\n"
            "forward both directions.  Standard output shows what passes, each line with\n"
            "the seconds since its client was accepted, the client's number (#1, #2...)\n"
            "and the direction (c>s: client to server, s>c: server to client):\n"
            "\n"
            "    0.000731 #1 c>s 00000000  68 6f 6c 61 0a                                    |hola.|\n"
            "    0.000902 #1 c>s EOF after 5 bytes: the client half-closed; shutdown write to the server\n"
            "\n"
            "Every write is dumped with its offset in its direction.  End of stream from\n"
            "one side becomes a shutdown (write) towards the other; a reset from one side\n"
            "resets (aborts) the other, after what that side sent before it.  Urgent\n"
            "(out-of-band) bytes are not forwarded.  Standard error carries 'listening on'\n"
            "and errors.\n"
            "\n"
            "Without -k the relay serves one client: it stops listening once it is\n"
            "accepted and exits when that client's session ends, with its status.  With\n"
            "-k it serves many clients at once, each with its own connection to the\n"
            "target, on one event loop, until SIGINT or SIGTERM: then it stops accepting,\n"
            "gives the sessions under way %.0f s to end (a second SIGINT: none), resets\n"
            "those still open and prints a line of counts on standard error (clients\n"
            "served, bytes each way, resets, the most at once, those cut off).\n"
            "\n"
            "  -k, --keep-open     serve many clients, at once, until SIGINT/SIGTERM\n"
            "  -q, --quiet         no hexdump: only the events (accept, connect, EOF, reset);\n"
            "                      without --max-chunk and --delay the bytes are spliced\n"
            "                      from socket to socket, never copied\n"
            "      --max-chunk N   forward at most N bytes (1 to 65536) per write\n"
            "      --delay MS      wait MS milliseconds (0 to 60000) between two writes in\n"
            "                      one direction: with --max-chunk, the programs at both\n"
            "                      ends meet partial reads and writes\n"
            "\n"
            "Memory per client is bounded: a client that does not read stops the reading\n"
            "from its server.  A session holds about 1 KiB of the relay's memory, plus,\n"
            "while bytes are in flight, two 64 KiB buffers (hexdump, --max-chunk, --delay)\n"
            "or two kernel pipes of up to 1 MiB (-q).  When descriptors run out, accepting\n"
            "pauses until one is free; the soft descriptor limit is raised to the hard one.\n"
            "\n"
            "Global options (before or after 'relay'): -4/-6 apply to both the listening\n"
            "and the connecting side; --timeout MS (1 to 86400000) bounds the wait for the\n"
            "client (not with -k: a keep-open relay waits for ever) and the connect to the\n"
            "target, and ends a client's session after MS without data.  The target's\n"
            "PORT is checked at start: a number, or a service name the system knows.\n"
            "\n"
            "Exit status: 0 when both directions ended cleanly (with -k: after a stop by a\n"
            "signal), 1 on a network error or a reset (or when the record could not be\n"
            "written), 2 on a usage error.\n",
            RELAY_GRACE_S);
}

/* ------------------------------------------------------------------------
 * What the relay shows on standard output.
 * ------------------------------------------------------------------------ */

/* Standard output is the record.  When it cannot be written (a closed
 * pipe, a full disk) the relay still relays, since the programs depend on
 * it, but says so once, and the exit status says so at the end. */
static int record_failed;

/* The record is flushed before every wait, so that a person or a test
 * watching it sees each event as it happens, in as few writes as the
 * sessions allow. */
static void record_flush(void)
{
    if (fflush(stdout) == 0 || record_failed)
        return;
    record_failed = errno ? errno : EIO;
    tool_err("relay", "cannot write the record to standard output: %s; still relaying",
             strerror(record_failed));
}

static const char *const dir_tag[2] = {"c>s", "s>c"};
static const char *const side_name[2] = {"client", "server"};

/* One event line of session ss: the time, its number, a tag ("c>s",
 * "s>c" or "---" for the session as a whole) and the text. */
static void event(const struct session *ss, const char *tag, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void event(const struct session *ss, const char *tag, const char *fmt, ...)
{
    va_list ap;
    printf("%12.6f #%u %s ", tool_now() - ss->started, ss->number, tag);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
}

/* One hexdump line of up to DUMP_WIDTH bytes found at offset off. */
static void dump_line(double t, unsigned number, const char *tag, unsigned long long off,
                      const unsigned char *p, size_t n)
{
    char hex[DUMP_WIDTH * 3 + 2], text[DUMP_WIDTH + 1];
    size_t h = 0;
    for (size_t i = 0; i < DUMP_WIDTH; i++) {
        /* An extra space in the middle, as hexdump -C does, to help count. */
        if (i == DUMP_WIDTH / 2)
            hex[h++] = ' ';
        if (i < n)
            snprintf(hex + h, sizeof hex - h, "%02x ", p[i]);
        else
            memcpy(hex + h, "   ", 4);
        h += 3;
        if (i < n)
            text[i] = p[i] >= 0x20 && p[i] < 0x7f ? (char)p[i] : '.';
    }
    text[n] = '\0';
    printf("%12.6f #%u %s %08llx  %s |%s|\n", t, number, tag, off, hex, text);
}

/* The engine's hook: n bytes just written in direction d. */
static void on_data(struct fwd *f, int d, const char *p, size_t n)
{
    const struct session *ss = f->user;
    double t = tool_now() - ss->started;
    for (size_t i = 0; i < n; i += DUMP_WIDTH) {
        size_t k = n - i < DUMP_WIDTH ? n - i : DUMP_WIDTH;
        dump_line(t, ss->number, dir_tag[d], f->dir[d].moved + i, (const unsigned char *)p + i,
                  k);
    }
}

static void on_eof(struct fwd *f, int d)
{
    const struct session *ss = f->user;
    event(ss, dir_tag[d], "EOF after %llu bytes: the %s half-closed; shutdown write to the %s",
          f->dir[d].moved, side_name[d], side_name[1 - d]);
}

/* Side x failed and the engine has aborted the other side. */
static void on_failed(struct fwd *f, int x, int err)
{
    struct session *ss = f->user;
    sock_close(x == FWD_A ? &ss->cli : &ss->srv);
    if (err == ECONNRESET)
        event(ss, dir_tag[x], "RESET: the %s reset the connection (%s); aborted the %s",
              side_name[x], sock_strerror(-err), side_name[1 - x]);
    else
        event(ss, dir_tag[x], "ERROR: the connection to the %s failed (%s); aborted the %s",
              side_name[x], sock_strerror(-err), side_name[1 - x]);
    tool_err("relay", "#%u %s %s: %s (c>s %llu bytes, s>c %llu bytes forwarded)", ss->number,
             side_name[x], x == FWD_A ? ss->caddr : ss->saddr, sock_strerror(-err),
             f->dir[0].moved, f->dir[1].moved);
    ss->r->n.resets++;
    ss->rc = EXIT_NET;
}

/* ------------------------------------------------------------------------
 * Sessions.
 * ------------------------------------------------------------------------ */

static void accepting_resume(struct relay *r);

/* The end of a session: its summary, its connections closed, its memory
 * freed once the current batch of events has been handled (events already
 * taken from the poller may still point into it). */
static void session_end(struct session *ss)
{
    struct relay *r = ss->r;
    if (ss->dead)
        return;
    ss->dead = 1;
    if (ss->state == FORWARDING) {
        event(ss, "---", "closed: c>s %llu bytes, s>c %llu bytes", ss->f.dir[0].moved,
              ss->f.dir[1].moved);
        r->n.c2s += ss->f.dir[0].moved;
        r->n.s2c += ss->f.dir[1].moved;
        fwd_stop(&ss->f);
        ss->f.over = 1; /* later events of this batch are ignored */
    }
    sock_close(&ss->cli);
    sock_close(&ss->srv);
    if (ss->prev)
        ss->prev->next = ss->next;
    else
        r->head = ss->next;
    if (ss->next)
        ss->next->prev = ss->prev;
    ss->next = r->reap;
    r->reap = ss;
    r->n.open_now--;
    if (!r->o.keep)
        r->rc = ss->rc;
    /* A descriptor freed is what lets accepting resume after EMFILE. */
    accepting_resume(r);
}

static void reap(struct relay *r)
{
    while (r->reap) {
        struct session *ss = r->reap;
        r->reap = ss->next;
        free(ss);
    }
}

static void session_check(struct session *ss)
{
    if (!ss->dead && ss->state == FORWARDING && fwd_finished(&ss->f))
        session_end(ss);
}

/* A target that cannot be reached must not leave the client waiting: it is
 * aborted, so its program sees a reset at once, the nearest thing to a
 * refusal it can still be told. */
static void connect_failed(struct session *ss, int code)
{
    sock_abort(&ss->cli);
    event(ss, "---", "connect to the server failed: %s; aborted the client",
          sock_error(&ss->srv));
    tool_err("relay", "#%u %s (client %s aborted)", ss->number, sock_error(&ss->srv), ss->caddr);
    ss->rc = tool_status(code);
    session_end(ss);
}

static void connected(struct session *ss)
{
    struct relay *r = ss->r;
    sock_peer_addr(&ss->srv, ss->saddr, sizeof ss->saddr);
    char local[SOCK_ADDRSTRLEN] = "?";
    sock_local_addr(&ss->srv, local, sizeof local);
    event(ss, "---", "connected to server %s from %s", ss->saddr, local);
    /* Forward each write as its own segment at once: a relay should add no
     * delay of its own, and with --max-chunk each chunk must reach the
     * other program as a separate, small arrival. */
    sock_set_nodelay(&ss->cli, 1);
    sock_set_nodelay(&ss->srv, 1);
    ss->state = FORWARDING;
    ss->f.side[FWD_A].s = &ss->cli;
    ss->f.side[FWD_B].s = &ss->srv;
    ss->f.user = ss;
    int rc = fwd_start(&ss->f, r->poller, &r->hooks);
    if (rc < 0) {
        tool_err("relay", "#%u cannot watch the connections: %s", ss->number, sock_strerror(rc));
        fwd_abort(&ss->f);
        ss->rc = EXIT_NET;
    }
    if (r->o.idle_ms >= 0 && ss->f.last_moved + r->o.idle_ms / 1000.0 < r->next_scan)
        r->next_scan = ss->f.last_moved + r->o.idle_ms / 1000.0;
    session_check(ss);
}

/* The non-blocking connect to the target has news. */
static void on_connect(struct session *ss)
{
    if (ss->dead)
        return;
    int rc = sock_connect_finish(&ss->srv);
    if (rc == -EINPROGRESS)
        return;
    if (rc < 0) {
        connect_failed(ss, rc);
        return;
    }
    sock_poller_remove(ss->r->poller, &ss->srv);
    connected(ss);
}

/* A client just accepted: its session, and the connect to the target. */
static void session_begin(struct relay *r, struct session *ss)
{
    ss->r = r;
    ss->connect_tag = TAG_CONNECT;
    ss->number = (unsigned)++r->n.accepted;
    ss->started = tool_now();
    ss->f.fail_side = -1;
    ss->next = r->head;
    if (r->head)
        r->head->prev = ss;
    r->head = ss;
    if (++r->n.open_now > r->n.peak)
        r->n.peak = r->n.open_now;
    sock_peer_addr(&ss->cli, ss->caddr, sizeof ss->caddr);
    event(ss, "---", "connection %u: accepted client %s", ss->number, ss->caddr);
    sock_init(&ss->srv);
    int rc = tool_prepare("relay", r->cli, &ss->srv);
    if (rc == 0)
        rc = sock_set_nonblocking(&ss->srv, 1);
    if (rc != 0) {
        ss->rc = EXIT_NET;
        sock_abort(&ss->cli);
        session_end(ss);
        return;
    }
    int code = sock_connect(&ss->srv, r->thost, r->tport);
    if (code == 0) {
        connected(ss);
        return;
    }
    if (code == -EINPROGRESS)
        code = sock_poller_add(r->poller, &ss->srv, SOCK_WRITABLE, &ss->connect_tag);
    if (code < 0) {
        connect_failed(ss, code);
        return;
    }
    ss->state = CONNECTING;
    ss->deadline = r->cli->timeout_ms >= 0 ? ss->started + r->cli->timeout_ms / 1000.0 : -1;
    if (ss->deadline >= 0 && ss->deadline < r->next_scan)
        r->next_scan = ss->deadline;
}

static void idle_timeout(struct session *ss)
{
    fwd_abort(&ss->f);
    event(ss, "---", "TIMEOUT: no data for %d ms; aborted both sides", ss->r->o.idle_ms);
    tool_err("relay", "#%u no data moved for %d ms (--timeout)", ss->number, ss->r->o.idle_ms);
    ss->rc = EXIT_NET;
    session_end(ss);
}

/* --timeout: connects and sessions whose time ran out.  Deadlines only
 * move later, so the earliest one found is when to look again. */
static void scan_timeouts(struct relay *r, double now)
{
    if (now < r->next_scan)
        return;
    r->next_scan = 1e300;
    for (struct session *ss = r->head, *next; ss; ss = next) {
        next = ss->next;
        double until = ss->state == CONNECTING ? ss->deadline
                                               : ss->f.last_moved + r->o.idle_ms / 1000.0;
        if (until < 0)
            continue;
        if (now >= until && ss->state == CONNECTING) {
            sock_close(&ss->srv);
            sock_abort(&ss->cli);
            event(ss, "---", "connect to the server timed out after %d ms; aborted the client",
                  r->cli->timeout_ms);
            tool_err("relay", "#%u connect %s:%s: timed out after %d ms (client %s aborted)",
                     ss->number, r->thost, r->tport, r->cli->timeout_ms, ss->caddr);
            ss->rc = EXIT_NET;
            session_end(ss);
        } else if (now >= until && r->o.idle_ms >= 0) {
            idle_timeout(ss);
        } else if (until < r->next_scan) {
            r->next_scan = until;
        }
    }
}

/* --delay: the writes now due. */
static void run_delayed(struct relay *r, double now, double *next_due)
{
    *next_due = -1;
    for (struct session *ss = r->head, *next; ss; ss = next) {
        next = ss->next;
        if (ss->state != FORWARDING)
            continue;
        double due = fwd_next_due(&ss->f);
        if (due >= 0 && due <= now) {
            fwd_run(&ss->f);
            session_check(ss);
            if (!ss->dead)
                due = fwd_next_due(&ss->f);
        }
        if (!ss->dead && due >= 0 && (*next_due < 0 || due < *next_due))
            *next_due = due;
    }
}

/* ------------------------------------------------------------------------
 * The listener.
 * ------------------------------------------------------------------------ */

static void listener_watch(struct relay *r, int on)
{
    if (!r->listening || on == r->accepting)
        return;
    if (sock_poller_modify(r->poller, &r->acep, on ? SOCK_READABLE : 0, &r->listen_tag) == 0)
        r->accepting = on;
}

static void accepting_resume(struct relay *r)
{
    if (!r->accepting && r->listening && !stop_signal)
        listener_watch(r, 1);
}

static void listener_close(struct relay *r)
{
    if (!r->listening)
        return;
    sock_close(&r->acep); /* also leaves the poller */
    r->listening = r->accepting = 0;
}

/* Accept failures that pass once descriptors or memory are free again. */
static int accept_can_wait(int code)
{
    return code == -EMFILE || code == -ENFILE || code == -ENOBUFS || code == -ENOMEM;
}

/* Take the waiting clients, a burst at a time.  Out of descriptors, stop
 * watching the listener until one is freed or the pause is over: a
 * level-triggered listener would wake the loop again at once and spin. */
static void on_listener(struct relay *r)
{
    for (int i = 0; i < RELAY_ACCEPT_BURST && r->accepting; i++) {
        struct session *ss = calloc(1, sizeof *ss);
        int code = ss ? sock_accept(&r->acep, &ss->cli) : -ENOMEM;
        if (code == -EAGAIN) {
            free(ss);
            return;
        }
        if (code < 0) {
            free(ss);
            r->n.failed_accepts++;
            if (accept_can_wait(code)) {
                if (r->n.failed_accepts == 1)
                    tool_err("relay", "accept: %s; pausing accepts until a descriptor is free",
                             sock_strerror(code));
                listener_watch(r, 0);
                r->resume_at = tool_now() + RELAY_PAUSE_S;
                return;
            }
            if (!r->o.keep) {
                tool_err("relay", "%s", sock_error(&r->acep));
                r->rc = EXIT_NET;
                listener_close(r);
            }
            return;
        }
        session_begin(r, ss);
        if (!r->o.keep) {
            /* One client: later ones are refused, not left queued. */
            listener_close(r);
            return;
        }
    }
}
/* ------------------------------------------------------------------------
 * Arguments.
 * ------------------------------------------------------------------------ */

int cli_parse_relay(const struct cli_opts *o, int argc, char **argv, struct relay_args *a)
{
    static const struct option opts[] = {{"keep-open", no_argument, NULL, 'k'},
                                         {"quiet", no_argument, NULL, 'q'},
                                         {"max-chunk", required_argument, NULL, 'M'},
                                         {"delay", required_argument, NULL, 'D'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    (void)o;
    *a = (struct relay_args){.max_chunk = BUF_SIZE};
    int ch;
    optind = 0;
    while ((ch = tool_getopt("relay", argc, argv, "kqh", opts)) != -1) {
        switch (ch) {
        case 'k':
            a->keep = 1;
            break;
        case 'q':
            a->quiet = 1;
            break;
        case 'M':
            if (tool_parse_number("relay", "--max-chunk", optarg, 1, BUF_SIZE, "bytes",
                                  &a->max_chunk))
                return EXIT_USAGE;
            break;
        case 'D':
            if (tool_parse_number("relay", "--delay", optarg, 0, MAX_DELAY_MS, "milliseconds",
                                  &a->delay_ms))
                return EXIT_USAGE;
            break;
        case 'h':
            a->help = 1;
            return 0;
        default:
            return EXIT_USAGE;
        }
    }
    argc -= optind, argv += optind;
    /* The positional arguments: [HOST:]LISTEN_PORT, then HOST PORT or
     * HOST:PORT of the target. */
    if (argc < 2) {
        tool_err("relay", "missing %s (see 'sock relay --help')",
                 argc == 0 ? "LISTEN_PORT, HOST and PORT" : "HOST and PORT of the target");
        return EXIT_USAGE;
    }
    if (argc > 3) {
        tool_err("relay", "unexpected argument %s (see 'sock relay --help')",
                 tool_quote(argv[3]));
        return EXIT_USAGE;
    }
    int rc = tool_host_port("relay", 1, argv, 0, a->lhost, sizeof a->lhost, a->lport,
                            sizeof a->lport);
    if (rc == 0)
        rc = tool_host_port("relay", argc - 1, argv + 1, 1, a->thost, sizeof a->thost, a->tport,
                            sizeof a->tport);
    return rc;
}

/* ------------------------------------------------------------------------
 * The loop, and the stop.
 * ------------------------------------------------------------------------ */

static void on_stop_signal(int sig)
{
    if (stop_signal && sig == SIGINT)
        stop_again = 1;
    if (!stop_signal)
        stop_signal = sig;
    sock_poller_wake(signal_poller);
}

static void stop_signals(void (*handler)(int))
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = handler;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

/* Stop: no new clients; connects under way are given up (their clients
 * reset); sessions that forward get the grace period to end by
 * themselves. */
static void begin_stop(struct relay *r, double now)
{
    listener_close(r);
    r->stop_deadline = now + RELAY_GRACE_S;
    for (struct session *ss = r->head, *next; ss; ss = next) {
        next = ss->next;
        if (ss->state == CONNECTING) {
            sock_abort(&ss->cli);
            r->n.cut_off++;
            session_end(ss);
        }
    }
}

/* The end of the grace period (or a second SIGINT): the sessions still
 * open are reset both ways, so that neither program takes a cut stream
 * for a whole one. */
static void cut_off_all(struct relay *r)
{
    while (r->head) {
        struct session *ss = r->head;
        event(ss, "---", "STOPPED: the relay was stopped; aborted both sides");
        fwd_abort(&ss->f);
        r->n.cut_off++;
        session_end(ss);
    }
}

static void report_counts(const struct relay *r)
{
    const struct relay_counts *n = &r->n;
    fprintf(stderr,
            "sock relay: stopped by %s%s: %llu clients served, %llu bytes c>s, %llu bytes s>c, "
            "%llu resets, %ld at most at once, %ld cut off, %llu failed accepts\n",
            stop_signal == SIGINT ? "SIGINT" : "SIGTERM", stop_again ? " and a second SIGINT" : "",
            n->accepted, n->c2s, n->s2c, n->resets, n->peak, n->cut_off, n->failed_accepts);
}

/* How long the poller may sleep: until a delayed write, a --timeout, the
 * end of a pause of the listener or of the stop's grace; -1 for ever. */
static int wait_ms(const struct relay *r, double now, double next_due)
{
    double until = next_due;
    if (r->o.idle_ms >= 0 || r->cli->timeout_ms >= 0)
        if (r->next_scan < 1e299 && (until < 0 || r->next_scan < until))
            until = r->next_scan;
    if (r->listening && !r->accepting && (until < 0 || r->resume_at < until))
        until = r->resume_at;
    if (r->accept_deadline > 0 && r->listening && (until < 0 || r->accept_deadline < until))
        until = r->accept_deadline;
    if (stop_signal && (until < 0 || r->stop_deadline < until))
        until = r->stop_deadline;
    if (until < 0)
        return -1;
    double ms = (until - now) * 1000.0;
    /* Round up: waking a little early would only spin once more. */
    return ms <= 0 ? 0 : ms > 86400000.0 ? 86400000 : (int)ms + 1;
}

static void dispatch(struct relay *r, const sock_event_t *ev)
{
    int kind = *(const int *)ev->user;
    if (kind == TAG_LISTENER) {
        on_listener(r);
    } else if (kind == TAG_CONNECT) {
        on_connect((struct session *)((char *)ev->user - offsetof(struct session, connect_tag)));
    } else {
        struct fwd_end *e = ev->user;
        fwd_event(e, ev->events);
        session_check(e->f->user);
    }
}

/* Serve until the one client has ended (without -k), or until a stop. */
static int run(struct relay *r)
{
    sock_event_t ev[RELAY_EVENTS];
    double next_due = -1;
    int stopping = 0;
    for (;;) {
        double now = tool_now();
        if (stop_signal && !stopping) {
            stopping = 1;
            begin_stop(r, now);
        }
        if (stopping && (!r->head || now >= r->stop_deadline || stop_again))
            cut_off_all(r);
        reap(r);
        record_flush();
        if (stopping && !r->head)
            return 0;
        if (!r->o.keep && !r->listening && !r->head)
            return 1;
        if (r->accept_deadline > 0 && r->listening && now >= r->accept_deadline) {
            tool_err("relay", "no client within %d ms (--timeout)", r->cli->timeout_ms);
            r->rc = EXIT_NET;
            return 1;
        }
        int n = sock_poller_wait(r->poller, ev, RELAY_EVENTS, wait_ms(r, now, next_due));
        if (n < 0) {
            tool_err("relay", "poller: %s", sock_strerror(n));
            r->rc = EXIT_NET;
            return 1;
        }
        for (int i = 0; i < n; i++)
            dispatch(r, &ev[i]);
        now = tool_now();
        if (r->listening && !r->accepting && !stop_signal && now >= r->resume_at)
            listener_watch(r, 1);
        if (r->o.idle_ms >= 0 || r->cli->timeout_ms >= 0)
            scan_timeouts(r, now);
        if (r->o.delay_ms > 0)
            run_delayed(r, now, &next_due);
    }
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
    /* Pipes (two descriptors each) may take half of the descriptors; the
     * other half is for the connections, two per client.  Beyond that a
     * direction copies instead of splicing. */
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
        fwd_set_pipe_limit((long)(rl.rlim_cur / 4));
}

static int relay_open(struct relay *r, const struct relay_args *a)
{
    int rc = sock_poller_open(&r->poller);
    if (rc < 0) {
        tool_err("relay", "cannot set up the event loop: %s", sock_strerror(rc));
        return EXIT_NET;
    }
    signal_poller = r->poller;
    /* The handlers are in place before the listener exists, so that a stop
     * sent as soon as "listening on" shows is never lost. */
    stop_signals(on_stop_signal);
    if ((rc = tool_listen("relay", r->cli, a->lhost, a->lport, -1, 0, &r->acep)) != 0)
        return rc;
    r->listening = 1;
    r->listen_tag = TAG_LISTENER;
    int code = sock_set_nonblocking(&r->acep, 1);
    if (code == 0)
        code = sock_poller_add(r->poller, &r->acep, SOCK_READABLE, &r->listen_tag);
    if (code < 0) {
        tool_err("relay", "cannot watch the listener: %s", sock_strerror(code));
        return EXIT_NET;
    }
    r->accepting = 1;
    /* As for listen: --timeout bounds the wait for the one client, and a
     * keep-open relay waits for its next client for ever. */
    if (!r->o.keep && r->cli->timeout_ms >= 0)
        r->accept_deadline = tool_now() + r->cli->timeout_ms / 1000.0;
    return 0;
}

int cmd_relay(const struct cli_opts *o, int argc, char **argv)
{
    struct relay_args a;
    int rc = cli_parse_relay(o, argc, argv, &a);
    if (rc || a.help) {
        if (a.help)
            usage(stdout);
        return rc;
    }
    /* The target is connected to only when a client comes: a service that
     * can never be a port must be a usage error now, not then. */
    if ((rc = tool_check_service("relay", a.tport)) != 0)
        return rc;
    raise_fd_limit();
    struct relay *r = calloc(1, sizeof *r);
    if (!r) {
        tool_err("relay", "out of memory");
        return EXIT_NET;
    }
    r->o = (struct relay_opts){.keep = a.keep, .quiet = a.quiet, .max_chunk = a.max_chunk,
                               .delay_ms = a.delay_ms, .idle_ms = o->timeout_ms};
    r->cli = o;
    r->thost = a.thost;
    r->tport = a.tport;
    r->next_scan = 1e300;
    r->rc = EXIT_OK;
    /* The hooks decide the path of the bytes: a hook that must see them
     * means a copy buffer; none (-q alone) means splice. */
    r->hooks = (struct fwd_hooks){
        .max_chunk = a.max_chunk < BUF_SIZE ? (size_t)a.max_chunk : 0,
        .delay_ms = (int)a.delay_ms,
        .see_bytes = !a.quiet,
        .pass_failures = 1,
        .on_data = a.quiet ? NULL : on_data,
        .on_eof = on_eof,
        .on_failed = on_failed,
    };
    rc = relay_open(r, &a);
    if (rc == 0) {
        run(r);
        rc = r->o.keep ? (r->rc == EXIT_NET && !stop_signal ? EXIT_NET : EXIT_OK) : r->rc;
        if (stop_signal)
            report_counts(r);
    }
    listener_close(r);
    cut_off_all(r);
    reap(r);
    record_flush();
    stop_signals(SIG_DFL);
    sock_poller_close(r->poller);
    signal_poller = NULL;
    free(r);
    return rc == EXIT_OK && record_failed ? EXIT_NET : rc;
}
