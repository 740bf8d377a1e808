/*
 * relay.c - `sock relay [HOST:]LISTEN_PORT HOST PORT`: a man in the middle.
 *
 * The relay accepts a client, connects to the target (the "server") on its
 * behalf and forwards both directions, showing on standard output what
 * passes: every write as a hexdump with its direction, its offset in that
 * direction and the time since the client was accepted, and each half-close
 * and reset as a line when it happens.  --max-chunk and --delay cut the
 * stream into small, slow writes, so that the programs at both ends meet
 * partial reads and writes they would rarely see on loopback.
 *
 * One poll() loop moves both directions.  Each direction has one buffer and
 * reads only when that buffer is empty, so when one side stops reading, the
 * relay stops reading from the other side: memory stays bounded and the
 * sender feels the back-pressure, as it would on a direct connection.
 */
#include "cli.h"
#include "util.h"

#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#define BUF_SIZE (64 * 1024)
#define MAX_DELAY_MS 60000
#define DUMP_WIDTH 16

struct relay_opts {
    int keep;          /* -k: relay one client after another */
    int quiet;         /* -q: events only, no hexdump */
    long max_chunk;    /* bytes per write, 1..BUF_SIZE */
    long delay_ms;     /* pause between two writes of one direction, 0 none */
    int idle_ms;       /* --timeout: give up after this long without data, -1 never */
};

enum { CLIENT, SERVER };

/* One end of the relay: the accepted client or the connected server. */
struct side {
    sock_t s;
    int fd;
    const char *name;          /* "client" or "server", for people */
    char addr[SOCK_ADDRSTRLEN];
    int read_eof;              /* this side has sent end of stream */
    int write_shut;            /* we have sent end of stream to this side */
    int hung_up;               /* both ways closed in the kernel, EOF not read yet */
    int failed;                /* the errno of a failure passed on later (see broken) */
};

/* One direction: the bytes read from one side, waiting to go to the other. */
struct dir {
    const char *tag;           /* "c>s" or "s>c" */
    int from, to;
    char *buf;
    size_t len, off;           /* buf[off..len) is still to be written */
    unsigned long long moved;  /* bytes forwarded so far: the offset of the next */
    double next_write;         /* with --delay, the earliest time of the next write */
};

struct session {
    struct side side[2];
    struct dir dir[2];
    const struct relay_opts *o;
    double started, last_progress;
    int over;                  /* a reset, an error or the idle timeout ended it */
    int rc;
};

static void usage(FILE *f)
{
    fprintf(f,
            "usage: sock [global options] relay [-k] [-q] [--max-chunk N] [--delay MS]\n"
            "                                   [HOST:]LISTEN_PORT HOST PORT\n"
            "       sock [global options] relay [options] [HOST:]LISTEN_PORT HOST:PORT\n"
            "\n"
            "A man in the middle: listen on LISTEN_PORT (every local address when HOST is\n"
            "left out; 0 lets the system choose), print 'listening on ADDR' on standard\n"
            "error with the real port, accept a client, connect to HOST PORT for it and\n"
            "forward both directions.  Standard output shows what passes, each line with\n"
            "the seconds since the client was accepted and the direction (c>s: client to\n"
            "server, s>c: server to client):\n"
            "\n"
            "    0.000731 c>s 00000000  68 6f 6c 61 0a                                    |hola.|\n"
            "    0.000902 c>s EOF after 5 bytes: the client half-closed; shutdown write to the server\n"
            "\n"
            "Every write is dumped with its offset in its direction.  End of stream from\n"
            "one side becomes a shutdown (write) towards the other; a reset from one side\n"
            "resets (aborts) the other, after what that side sent before it.  Urgent\n"
            "(out-of-band) bytes are not forwarded.  Standard error carries 'listening on'\n"
            "and errors.  One client at a time: while the relay connects to HOST PORT\n"
            "(bounded by --timeout), the next client waits.\n"
            "\n"
            "  -k, --keep-open     relay one client after another\n"
            "  -q, --quiet         no hexdump: only the events (accept, connect, EOF, reset)\n"
            "      --max-chunk N   forward at most N bytes (1 to 65536) per write\n"
            "      --delay MS      wait MS milliseconds (0 to 60000) between two writes in\n"
            "                      one direction: with --max-chunk, the programs at both\n"
            "                      ends meet partial reads and writes\n"
            "\n"
            "Global options (before or after 'relay'): -4/-6 apply to both the listening\n"
            "and the connecting side; --timeout MS (1 to 86400000) bounds the wait for the\n"
            "client (not with -k: a keep-open relay waits for ever) and the connect to the\n"
            "target, and ends a client's session after MS without data.  The target's\n"
            "PORT is checked at start: a number, or a service name the system knows.\n"
            "\n"
            "Exit status: 0 when both directions ended cleanly, 1 on a network error or a\n"
            "reset (or when the record could not be written), 2 on a usage error.\n");
}

/* ------------------------------------------------------------------------
 * What the relay shows on standard output.
 * ------------------------------------------------------------------------ */

/* Standard output is the record.  When it cannot be written (a closed
 * pipe, a full disk) the relay still relays, since the two programs
 * depend on it, but says so once, and the exit status says so at the end. */
static int record_failed;

static void record_flush(void)
{
    if (fflush(stdout) == 0 || record_failed)
        return;
    record_failed = errno ? errno : EIO;
    tool_err("relay", "cannot write the record to standard output: %s; still relaying",
             strerror(record_failed));
}

/* One event line: the time, a tag ("c>s", "s>c" or "---" for the
 * connection as a whole) and the text.  Flushed at once, so that a person
 * or a test watching the output sees each event when it happens. */
static void event(const struct session *ss, const char *tag, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void event(const struct session *ss, const char *tag, const char *fmt, ...)
{
    va_list ap;
    printf("%12.6f %s ", tool_now() - ss->started, tag);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    record_flush();
}

/* One hexdump line of up to DUMP_WIDTH bytes found at offset off. */
static void dump_line(double t, const char *tag, unsigned long long off, const unsigned char *p,
                      size_t n)
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
    printf("%12.6f %s %08llx  %s |%s|\n", t, tag, off, hex, text);
}

/* Show n bytes just written in direction d, starting at d's current offset. */
static void dump(const struct session *ss, const struct dir *d, const char *p, size_t n)
{
    if (ss->o->quiet)
        return;
    double t = tool_now() - ss->started;
    for (size_t i = 0; i < n; i += DUMP_WIDTH) {
        size_t k = n - i < DUMP_WIDTH ? n - i : DUMP_WIDTH;
        dump_line(t, d->tag, d->moved + i, (const unsigned char *)p + i, k);
    }
    record_flush();
}

/* ------------------------------------------------------------------------
 * The end of a session: cleanly, by a reset, or by the idle timeout.
 * ------------------------------------------------------------------------ */

static void summary(const struct session *ss)
{
    event(ss, "---", "closed: c>s %llu bytes, s>c %llu bytes", ss->dir[0].moved,
          ss->dir[1].moved);
}

/* The connection to side x failed (a reset, or another error such as a
 * broken pipe): pass the failure on by aborting the other side, so that its
 * program sees a reset too instead of a clean end of stream.
 *
 * Not before what x sent has been passed on, though: a program that sends
 * a request and resets at once gets its request delivered on a direct
 * connection, so it must through the relay too.  While bytes from x wait
 * in our buffer, the failure is only noted; x is read again once they are
 * forwarded (the kernel still hands out what x sent before the reset), and
 * the failure is passed on when x has nothing more to give. */
static void broken(struct session *ss, int x, int err)
{
    struct side *bad = &ss->side[x], *other = &ss->side[1 - x];
    const struct dir *from_bad = &ss->dir[x == CLIENT ? 0 : 1];
    const char *tag = from_bad->tag;
    /* A send fails with EPIPE, not ECONNRESET, once the peer's reset has
     * been seen (we never send after our own shutdown): it is that reset. */
    if (err == 0 || err == EPIPE)
        err = ECONNRESET;
    if (from_bad->off < from_bad->len && !other->failed) {
        if (!bad->failed)
            bad->failed = err;
        return;
    }
    /* Abort first and tell afterwards, so that whoever reads the line can
     * count on the other side having been reset already. */
    sock_abort(&other->s);
    sock_close(&bad->s);
    if (err == ECONNRESET)
        event(ss, tag, "RESET: the %s reset the connection (%s); aborted the %s", bad->name,
              sock_strerror(-err), other->name);
    else
        event(ss, tag, "ERROR: the connection to the %s failed (%s); aborted the %s",
              bad->name, sock_strerror(-err), other->name);
    tool_err("relay", "%s %s: %s (c>s %llu bytes, s>c %llu bytes forwarded)", bad->name,
             bad->addr, sock_strerror(-err), ss->dir[0].moved, ss->dir[1].moved);
    ss->over = 1;
    ss->rc = EXIT_NET;
}

/* Once a side has sent end of stream and all it sent is forwarded, pass the
 * end of stream on: the other side can still reply (a half-close). */
static void maybe_half_close(struct session *ss, struct dir *d)
{
    struct side *from = &ss->side[d->from], *to = &ss->side[d->to];
    if (!from->read_eof || d->off < d->len || to->write_shut)
        return;
    to->write_shut = 1;
    event(ss, d->tag, "EOF after %llu bytes: the %s half-closed; shutdown write to the %s",
          d->moved, from->name, to->name);
    int rc = sock_shutdown(&to->s, SOCK_SHUT_WRITE);
    /* -ENOTCONN: the other side was reset meanwhile; say so now rather than
     * at its next read. */
    if (rc < 0)
        broken(ss, d->to, rc == -ENOTCONN ? ECONNRESET : -rc);
}

/* ------------------------------------------------------------------------
 * Moving bytes.
 * ------------------------------------------------------------------------ */

static void take(struct session *ss, struct dir *d)
{
    struct side *from = &ss->side[d->from];
    ssize_t n = recv(from->fd, d->buf, BUF_SIZE, MSG_DONTWAIT);
    /* A side that failed earlier has reported its error already (the
     * kernel reports it once): when it has no data left, pass that on. */
    if (from->failed && (n == 0 || (n < 0 && (errno == EAGAIN || errno == EINTR)))) {
        broken(ss, d->from, from->failed);
        return;
    }
    if (n < 0) {
        if (errno != EAGAIN && errno != EINTR)
            broken(ss, d->from, errno);
        return;
    }
    if (n == 0) {
        from->read_eof = 1;
        maybe_half_close(ss, d);
        return;
    }
    d->len = (size_t)n;
    d->off = 0;
    ss->last_progress = tool_now();
}

static void forward(struct session *ss, struct dir *d)
{
    size_t chunk = d->len - d->off;
    if (chunk > (size_t)ss->o->max_chunk)
        chunk = (size_t)ss->o->max_chunk;
    ssize_t n = send(ss->side[d->to].fd, d->buf + d->off, chunk, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) {
        if (errno != EAGAIN && errno != EINTR)
            broken(ss, d->to, errno);
        return;
    }
    dump(ss, d, d->buf + d->off, (size_t)n);
    d->off += (size_t)n;
    d->moved += (unsigned long long)n;
    if (d->off == d->len)
        d->len = d->off = 0;
    ss->last_progress = tool_now();
    d->next_write = ss->last_progress + (double)ss->o->delay_ms / 1000.0;
    /* While --delay holds the rest back, the relay is the one waiting:
     * the idle time of --timeout starts when the next write may go. */
    if (d->len > 0)
        ss->last_progress = d->next_write;
    maybe_half_close(ss, d);
}

/* A direction reads only when its buffer is empty: this is what bounds the
 * memory and passes back-pressure from the receiver to the sender. */
static int wants_read(const struct session *ss, const struct dir *d)
{
    return !ss->side[d->from].read_eof && d->len == 0;
}

static int wants_write(const struct dir *d, double now)
{
    return d->off < d->len && now >= d->next_write;
}

/* How long poll() may sleep: until the next delayed write is due, or until
 * the idle timeout runs out; -1 when nothing is due. */
static int poll_wait(const struct session *ss, double now)
{
    double until = -1;
    for (int i = 0; i < 2; i++) {
        const struct dir *d = &ss->dir[i];
        if (d->off < d->len && d->next_write > now && (until < 0 || d->next_write < until))
            until = d->next_write;
    }
    if (ss->o->idle_ms >= 0) {
        double idle_end = ss->last_progress + ss->o->idle_ms / 1000.0;
        if (until < 0 || idle_end < until)
            until = idle_end;
    }
    if (until < 0)
        return -1;
    double ms = (until - now) * 1000.0;
    /* Round up: waking a little early would only spin once more. */
    return ms <= 0 ? 0 : (int)ms + 1;
}

static void idle_timeout(struct session *ss)
{
    sock_abort(&ss->side[CLIENT].s);
    sock_abort(&ss->side[SERVER].s);
    event(ss, "---", "TIMEOUT: no data for %d ms; aborted both sides", ss->o->idle_ms);
    tool_err("relay", "no data moved for %d ms (--timeout)", ss->o->idle_ms);
    ss->over = 1;
    ss->rc = EXIT_NET;
}

/* An error or hang-up reported on a side we were not reading from or
 * writing to.  An error (say the client reset after its end of stream,
 * while the server is still thinking) is passed on at once.  A hang-up
 * alone is no failure: the side has sent end of stream and we have sent
 * ours, and its EOF waits behind bytes still in the buffer; it is not
 * watched again until we want to read it, or poll() would never sleep. */
static void unsolicited(struct session *ss, int x, short revents)
{
    if (!(revents & POLLERR)) {
        ss->side[x].hung_up = 1;
        return;
    }
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(ss->side[x].fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err == 0)
        err = ECONNRESET;
    broken(ss, x, err);
}

static void step(struct session *ss)
{
    struct pollfd pf[2];
    int who[2], n = 0;
    double now = tool_now();
    for (int x = 0; x < 2; x++) {
        struct side *sd = &ss->side[x];
        /* dir[0] reads the client and writes the server, dir[1] the reverse. */
        struct dir *in = &ss->dir[x == CLIENT ? 0 : 1], *out = &ss->dir[x == CLIENT ? 1 : 0];
        short ev = 0;
        if (wants_read(ss, in))
            ev |= POLLIN;
        if (!sd->failed && wants_write(out, now))
            ev |= POLLOUT;
        /* A side that still has a direction open is watched even with no
         * events, so that its reset is seen at once; a side closed both
         * ways would only report hang-ups, and a failed one only its
         * error again. */
        if (ev || !(sd->failed || sd->hung_up || (sd->read_eof && sd->write_shut))) {
            who[n] = x;
            pf[n++] = (struct pollfd){.fd = sd->fd, .events = ev};
        }
    }
    int r = poll(pf, (nfds_t)n, poll_wait(ss, now));
    if (r < 0) {
        if (errno != EINTR) {
            tool_err("relay", "poll: %s", strerror(errno));
            ss->over = 1;
            ss->rc = EXIT_NET;
        }
        return;
    }
    if (r == 0) {
        if (ss->o->idle_ms >= 0 && tool_now() - ss->last_progress >= ss->o->idle_ms / 1000.0)
            idle_timeout(ss);
        return;
    }
    for (int i = 0; i < n && !ss->over; i++) {
        int x = who[i];
        struct dir *in = &ss->dir[x == CLIENT ? 0 : 1], *out = &ss->dir[x == CLIENT ? 1 : 0];
        short re = pf[i].revents;
        int acted = 0;
        if ((pf[i].events & POLLOUT) && (re & (POLLOUT | POLLERR | POLLHUP))) {
            forward(ss, out);
            acted = 1;
        }
        if (!ss->over && (pf[i].events & POLLIN) && (re & (POLLIN | POLLERR | POLLHUP))) {
            take(ss, in);
            acted = 1;
        }
        if (!ss->over && !acted && (re & (POLLERR | POLLHUP)))
            unsolicited(ss, x, re);
    }
}

static int finished(const struct session *ss)
{
    return ss->over || (ss->side[CLIENT].write_shut && ss->side[SERVER].write_shut &&
                        ss->side[CLIENT].read_eof && ss->side[SERVER].read_eof);
}

/* ------------------------------------------------------------------------
 * One client, from accept to the end of both directions.
 * ------------------------------------------------------------------------ */

/* Connect to the target for the client just accepted.  A target that cannot
 * be reached must not leave the client waiting: it is aborted, so its
 * program sees a reset at once, the nearest thing to a refusal it can
 * still be told. */
static int connect_server(struct session *ss, const struct cli_opts *o, const char *host,
                          const char *port)
{
    struct side *srv = &ss->side[SERVER], *cli = &ss->side[CLIENT];
    int rc = tool_prepare("relay", o, &srv->s);
    if (rc) {
        sock_abort(&cli->s);
        return rc;
    }
    int code = sock_connect(&srv->s, host, port);
    if (code < 0) {
        sock_abort(&cli->s);
        event(ss, "---", "connect to the server failed: %s; aborted the client",
              sock_error(&srv->s));
        tool_err("relay", "%s (client %s aborted)", sock_error(&srv->s), cli->addr);
        return tool_status(code);
    }
    srv->fd = sock_fd(&srv->s);
    sock_peer_addr(&srv->s, srv->addr, sizeof srv->addr);
    char local[SOCK_ADDRSTRLEN] = "?";
    sock_local_addr(&srv->s, local, sizeof local);
    event(ss, "---", "connected to server %s from %s", srv->addr, local);
    return 0;
}

static void init_session(struct session *ss, const struct relay_opts *ro, char *bufs)
{
    memset(ss, 0, sizeof *ss);
    ss->o = ro;
    ss->side[CLIENT].name = "client";
    ss->side[SERVER].name = "server";
    ss->dir[0] = (struct dir){.tag = "c>s", .from = CLIENT, .to = SERVER, .buf = bufs};
    ss->dir[1] = (struct dir){.tag = "s>c", .from = SERVER, .to = CLIENT, .buf = bufs + BUF_SIZE};
    sock_init(&ss->side[SERVER].s);
}

/* Relay the client accepted into ss until both directions have ended, or
 * one side resets.  Returns the exit status for this client. */
static int relay_one(struct session *ss, const struct cli_opts *o, const char *host,
                     const char *port, unsigned number)
{
    struct side *cli = &ss->side[CLIENT];
    ss->started = ss->last_progress = tool_now();
    cli->fd = sock_fd(&cli->s);
    sock_peer_addr(&cli->s, cli->addr, sizeof cli->addr);
    event(ss, "---", "connection %u: accepted client %s", number, cli->addr);
    int rc = connect_server(ss, o, host, port);
    if (rc)
        return rc;
    /* Forward each write as its own segment at once: a relay should add no
     * delay of its own, and with --max-chunk each chunk must reach the
     * other program as a separate, small arrival. */
    sock_set_nodelay(&cli->s, 1);
    sock_set_nodelay(&ss->side[SERVER].s, 1);
    while (!finished(ss))
        step(ss);
    /* After a reset or a timeout the handles are closed already, and
     * closing twice is harmless. */
    sock_close(&cli->s);
    sock_close(&ss->side[SERVER].s);
    summary(ss);
    return ss->rc;
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

/* Accept failures that pass once descriptors or memory are free again. */
static int accept_can_wait(int code)
{
    return code == -EMFILE || code == -ENFILE || code == -ENOBUFS || code == -ENOMEM;
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
    struct relay_opts ro = {.keep = a.keep, .quiet = a.quiet, .max_chunk = a.max_chunk,
                            .delay_ms = a.delay_ms, .idle_ms = o->timeout_ms};
    const char *thost = a.thost, *tport = a.tport;
    /* The target is connected to only when a client comes: a service that
     * can never be a port must be a usage error now, not then. */
    if ((rc = tool_check_service("relay", tport)) != 0)
        return rc;
    /* As for listen: --timeout bounds the wait for the one client, and a
     * keep-open relay waits for its next client for ever. */
    sock_t acep;
    if ((rc = tool_listen("relay", o, a.lhost, a.lport, -1, !a.keep, &acep)) != 0)
        return rc;
    /* Both directions' buffers, allocated once for every client. */
    char *bufs = malloc(2 * BUF_SIZE);
    if (!bufs) {
        tool_err("relay", "buffers: %s", strerror(ENOMEM));
        sock_close(&acep);
        return EXIT_NET;
    }
    unsigned number = 0;
    do {
        struct session ss;
        init_session(&ss, &ro, bufs);
        int code = sock_accept(&acep, &ss.side[CLIENT].s);
        if (code < 0 && ro.keep && accept_can_wait(code)) {
            /* Out of descriptors or memory: the clients still waiting
             * are served once some are free, not turned away for good. */
            tool_err("relay", "%s; retrying in 250 ms", sock_error(&acep));
            struct timespec pause = {0, 250 * 1000 * 1000};
            nanosleep(&pause, NULL);
            continue;
        }
        if (code < 0) {
            if (code == -ETIMEDOUT)
                tool_err("relay", "no client within %d ms (--timeout)", o->timeout_ms);
            else
                tool_err("relay", "%s", sock_error(&acep));
            rc = EXIT_NET;
            break;
        }
        rc = relay_one(&ss, o, thost, tport, ++number);
        /* With -k one client's failure (already reported) ends only that
         * client. */
        if (ro.keep)
            rc = EXIT_OK;
    } while (ro.keep);
    free(bufs);
    sock_close(&acep);
    return rc == EXIT_OK && record_failed ? EXIT_NET : rc;
}
