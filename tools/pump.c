/*
 * pump.c - the data mover of `sock connect` and `sock listen`; see pump.h.
 *
 * One poll() loop moves both directions at once, so a peer that talks
 * while we are still sending never deadlocks against us.  The connection
 * is non-blocking for the loop; a local descriptor is used only when
 * poll() says it is ready, and a local socket with MSG_DONTWAIT, so that
 * no call waits (a terminal stopped with Ctrl-S can still hold a write).
 *
 * Each direction is a channel: a source, a destination, and what has been
 * taken from the source but not yet given to the destination.  How the
 * bytes move depends on what the local side is, so that they cross user
 * space as little as possible:
 *
 *   - a regular file as input goes to the socket with sendfile(), straight
 *     from the page cache;
 *   - a pipe, a regular file or /dev/null goes through a pipe of our own
 *     with splice(): the kernel moves page references, not bytes, and
 *     1 MiB at a time (a pipe is the only thing splice can join two
 *     descriptors with, hence the pipe in the middle);
 *   - anything else (a terminal, a device, a local socket) is copied
 *     through a 256 KiB buffer.
 */
#include "pump.h"

#include "cli.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#define BUF_SIZE (256 * 1024)
#define SENDFILE_CHUNK (1 << 20)
#define PIPE_WANTED (1 << 20)
#define URGENT_STEP 65536

enum chan_mode { CHAN_COPY, CHAN_SPLICE, CHAN_SENDFILE };

/* One direction.  In CHAN_COPY mode the pending bytes are buf[off, len);
 * in CHAN_SPLICE mode they are the `fill` bytes in our pipe; in
 * CHAN_SENDFILE mode nothing is pending (the file is read as it is sent). */
struct chan {
    enum chan_mode mode;
    int src, dst;
    int src_open;
    int src_sock, dst_sock; /* sockets are read and written with MSG_DONTWAIT */
    char *buf;
    size_t len, off;
    int pipe_r, pipe_w;
    size_t fill, cap;
    int pipe_full;          /* the last take found no room in the pipe (see chan_take) */
    unsigned long long moved;
};

struct pump {
    sock_t *s;
    int sfd;
    int in_tty, wr_shut;
    struct chan up, down; /* up: input -> socket, down: socket -> output */
    int net_err;          /* the connection failed (a -errno): finish writing, then report */
    const char *net_what; /* ... in which call */
    const struct pump_opts *o;
    struct pump_stats *st;
    double started, last_report, last_moved;
};

static int fail(struct pump *p, const char *what, int err)
{
    char peer[SOCK_ADDRSTRLEN] = "?";
    sock_peer_addr(p->s, peer, sizeof peer);
    tool_err(p->o->cmd, "%s %s: %s (sent %llu, received %llu bytes)", what, peer,
             sock_strerror(-err), p->st->sent, p->st->received);
    return EXIT_NET;
}

static int local_fail(struct pump *p, const char *what, int err)
{
    tool_err(p->o->cmd, "%s: %s", what, strerror(err));
    return EXIT_NET;
}

/* --trace: the library traces its own calls, but the data of connect and
 * listen moves in system calls of ours (splice, sendfile, send, recv on
 * the descriptor), so each that moved data or failed is reported here in
 * the library's trace format.  Callers test p->o->trace first, so that
 * with tracing off this costs one branch. */
static void trace_step(const struct pump *p, const char *step, const char *args, ssize_t n)
{
    char local[SOCK_ADDRSTRLEN] = "", peer[SOCK_ADDRSTRLEN] = "";
    sock_local_addr(p->s, local, sizeof local);
    sock_peer_addr(p->s, peer, sizeof peer);
    sock_trace_event_t ev = {
        .sock = p->s,
        .id = p->s->priv_id,
        .fd = p->sfd,
        .step = step,
        .args = args,
        .result = n,
        .local = local,
        .peer = peer,
        .created = NULL,
        .error = n < 0 ? strerror((int)-n) : "",
    };
    sock_trace_to_stderr(&ev, NULL);
}

/* The trace of one step of channel c that touched the connection: giving
 * (up: to the socket) or taking (down: from it). */
static void chan_trace(const struct pump *p, const struct chan *c, int giving, ssize_t n)
{
    if (n == -EAGAIN || n == -EINTR)
        return;
    char args[48];
    const char *step;
    if (c->mode == CHAN_SENDFILE) {
        step = "sendfile";
        snprintf(args, sizeof args, "fd %d -> socket", c->src);
    } else if (c->mode == CHAN_SPLICE) {
        step = giving ? "splice-out" : "splice-in";
        snprintf(args, sizeof args, giving ? "pipe -> socket" : "socket -> pipe");
    } else {
        step = giving ? "send" : "recv";
        snprintf(args, sizeof args, giving ? "buffer -> socket" : "socket -> buffer");
    }
    trace_step(p, step, args, n);
}

/* ------------------------------------------------------------- channels */

static int is_socket(int fd)
{
    struct stat sb;
    return fd >= 0 && fstat(fd, &sb) == 0 && S_ISSOCK(sb.st_mode);
}

/* May splice() join this local descriptor to the connection?  Pipes can;
 * regular files can, except in append mode; of the devices, /dev/null
 * (1:3) is the one that matters, for `sock listen > /dev/null`.  A local
 * socket cannot: splice waits on a blocking socket whatever its flags say,
 * and a standard input or output we share with other processes must not
 * be made non-blocking under them, so sockets are copied with
 * MSG_DONTWAIT instead. */
static int splice_capable(int fd, int writing)
{
    struct stat sb;
    if (fstat(fd, &sb) < 0)
        return 0;
    if (S_ISFIFO(sb.st_mode))
        return 1;
    if (S_ISREG(sb.st_mode))
        return !writing || !(fcntl(fd, F_GETFL) & O_APPEND);
    return writing && S_ISCHR(sb.st_mode) && major(sb.st_rdev) == 1 && minor(sb.st_rdev) == 3;
}

/* Our pipe, as large as the system lets us make it (one splice moves at
 * most a pipe's worth).  Returns 0, or -1 when there is no pipe to be had:
 * the channel then copies. */
static int chan_open_pipe(struct chan *c)
{
    int fds[2];
    if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) < 0)
        return -1;
    c->pipe_r = fds[0];
    c->pipe_w = fds[1];
    int size = fcntl(c->pipe_w, F_SETPIPE_SZ, PIPE_WANTED);
    if (size < 0)
        size = fcntl(c->pipe_w, F_GETPIPE_SZ);
    c->cap = size > 0 ? (size_t)size : 65536;
    return 0;
}

static int chan_init(struct chan *c, int src, int dst, int local_fd, int local_writes)
{
    struct stat sb;
    *c = (struct chan){.src = src, .dst = dst, .src_open = src >= 0, .pipe_r = -1, .pipe_w = -1};
    c->src_sock = is_socket(src);
    c->dst_sock = is_socket(dst);
    if (local_fd < 0)
        c->mode = CHAN_COPY; /* no input at all: nothing will be taken */
    else if (!local_writes && fstat(local_fd, &sb) == 0 && S_ISREG(sb.st_mode))
        c->mode = CHAN_SENDFILE;
    else if (splice_capable(local_fd, local_writes) && chan_open_pipe(c) == 0)
        c->mode = CHAN_SPLICE;
    else
        c->mode = CHAN_COPY;
    /* Splice mode keeps a small buffer for the urgent-data detour. */
    size_t size = c->mode == CHAN_COPY ? BUF_SIZE : c->mode == CHAN_SPLICE ? URGENT_STEP : 0;
    if (src >= 0 && size && !(c->buf = malloc(size)))
        return -1;
    return 0;
}

static void chan_free(struct chan *c)
{
    free(c->buf);
    if (c->pipe_r >= 0)
        close(c->pipe_r);
    if (c->pipe_w >= 0)
        close(c->pipe_w);
}

/* Bytes taken from the source, not yet given to the destination. */
static size_t chan_pending(const struct chan *c)
{
    return c->mode == CHAN_SPLICE ? c->fill : c->len - c->off;
}

/* The source is worth reading: open, and there is room for what it has. */
static int chan_wants_input(const struct chan *c)
{
    if (!c->src_open || c->mode == CHAN_SENDFILE)
        return 0;
    return c->mode == CHAN_SPLICE ? c->fill < c->cap && !c->pipe_full : c->len == 0;
}

/* The destination is worth waiting for. */
static int chan_wants_output(const struct chan *c)
{
    return chan_pending(c) > 0 || (c->mode == CHAN_SENDFILE && c->src_open);
}

/* Stop a direction: nothing more is taken, and what is pending is dropped
 * (its destination is gone). */
static void chan_stop(struct chan *c)
{
    c->src_open = 0;
    c->len = c->off = 0;
    c->fill = 0;
}

static ssize_t raw_read(const struct chan *c, void *buf, size_t len)
{
    return c->src_sock ? recv(c->src, buf, len, MSG_DONTWAIT) : read(c->src, buf, len);
}

/* A splice from a TCP socket stops at urgent (out-of-band) data and will
 * not move past it: it answers "nothing yet" with the socket readable, or
 * "end of stream" before the real end.  recv() skips the urgent byte as
 * TCP without SO_OOBINLINE wants, so one step goes through the buffer and
 * into our pipe instead (the pipe is empty then, so it takes it all). */
static ssize_t chan_take_detour(struct chan *c)
{
    ssize_t n = raw_read(c, c->buf, URGENT_STEP);
    if (n <= 0)
        return n < 0 ? -errno : 0;
    ssize_t w = write(c->pipe_w, c->buf, (size_t)n);
    if (w != n)
        return w < 0 ? -errno : -EIO;
    return n;
}

/* Take from the source.  Returns the bytes taken, 0 at end of stream, or
 * -errno (-EAGAIN when there was nothing after all). */
static ssize_t chan_take(struct chan *c)
{
    ssize_t n;
    if (c->mode == CHAN_SPLICE) {
        n = splice(c->src, NULL, c->pipe_w, NULL, c->cap - c->fill,
                   SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
        if (c->src_sock && c->fill == 0 && (n == 0 || (n < 0 && errno == EAGAIN)))
            n = chan_take_detour(c);
        else if (n < 0)
            n = -errno;
        /* A pipe holds a fixed number of pages, and a splice from a socket
         * may leave each one part full: the pipe can then be full with
         * fewer than cap bytes in it.  The source stays readable, so
         * waiting for it again would wake at once and spin; wait for the
         * destination to drain the pipe instead. */
        if (n == -EAGAIN && c->fill > 0)
            c->pipe_full = 1;
    } else {
        n = raw_read(c, c->buf, BUF_SIZE);
        if (n < 0)
            n = -errno;
    }
    if (n < 0)
        return n;
    if (n == 0)
        c->src_open = 0;
    else if (c->mode == CHAN_SPLICE)
        c->fill += (size_t)n;
    else
        c->len = (size_t)n, c->off = 0;
    return n;
}

/* Some files that are regular to fstat() cannot be sent by sendfile (those
 * of /proc, for one): before the first byte, fall back to copying. */
static int chan_sendfile_fallback(struct chan *c, int err)
{
    if (c->moved || (err != EINVAL && err != ENOSYS) || !(c->buf = malloc(BUF_SIZE)))
        return 0;
    c->mode = CHAN_COPY;
    return 1;
}

/* Give to the destination what it takes.  Returns the bytes given, or
 * -errno.  A sendfile channel reads its file here; end of file ends it. */
static ssize_t chan_give(struct chan *c)
{
    ssize_t n;
    if (c->mode == CHAN_SENDFILE) {
        n = sendfile(c->dst, c->src, NULL, SENDFILE_CHUNK);
        if (n < 0 && chan_sendfile_fallback(c, errno))
            return -EAGAIN;
        if (n == 0)
            c->src_open = 0;
    } else if (c->mode == CHAN_SPLICE) {
        n = splice(c->pipe_r, NULL, c->dst, NULL, c->fill, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
    } else if (c->dst_sock) {
        n = send(c->dst, c->buf + c->off, c->len - c->off, MSG_DONTWAIT | MSG_NOSIGNAL);
    } else {
        n = write(c->dst, c->buf + c->off, c->len - c->off);
    }
    if (n < 0)
        return -errno;
    c->moved += (unsigned long long)n;
    if (c->mode == CHAN_SPLICE && n > 0) {
        c->fill -= (size_t)n;
        c->pipe_full = 0;
    } else if (c->mode == CHAN_COPY && (c->off += (size_t)n) == c->len) {
        c->len = c->off = 0;
    }
    return n;
}

static int transient(ssize_t n)
{
    return n == -EINTR || n == -EAGAIN;
}

/* ------------------------------------------------------------ the loop */

/* The connection failed.  Nothing more can be sent, but what was already
 * received still goes to the output before the failure is reported: a
 * peer that replies and then resets (a server closing with unread data
 * does) must not lose its reply. */
static void net_failed(struct pump *p, const char *what, int err)
{
    if (!p->net_err) {
        p->net_err = err;
        p->net_what = what;
    }
    chan_stop(&p->up);
    p->down.src_open = 0;
}

/* End of input: tell the peer, once everything read has been sent. */
static int maybe_half_close(struct pump *p)
{
    if (p->up.src_open || chan_pending(&p->up) > 0 || p->wr_shut || p->net_err)
        return 0;
    p->wr_shut = 1;
    int rc = sock_shutdown(p->s, SOCK_SHUT_WRITE);
    /* A peer that already reset the connection is reported by recv. */
    if (rc < 0 && rc != -ENOTCONN)
        return fail(p, "shutdown of connection to", rc);
    return 0;
}

static int read_input(struct pump *p)
{
    ssize_t n = chan_take(&p->up);
    if (n < 0)
        return transient(n) ? 0 : local_fail(p, "read from input", (int)-n);
    if (n > 0)
        p->last_moved = tool_now();
    return maybe_half_close(p);
}

static int send_output(struct pump *p)
{
    ssize_t n = chan_give(&p->up);
    if (p->o->trace)
        chan_trace(p, &p->up, 1, n);
    /* A send fails with EPIPE, not ECONNRESET, once the peer's reset has
     * been seen: we never send after our own shutdown, so it is that
     * reset, and a person should read "reset by peer", not "Broken pipe". */
    if (n == -EPIPE)
        n = -ECONNRESET;
    if (n < 0) {
        if (!transient(n))
            net_failed(p, "send to", (int)n);
        return 0;
    }
    p->st->sent += (unsigned long long)n;
    p->last_moved = tool_now();
    return maybe_half_close(p);
}

static int recv_input(struct pump *p)
{
    ssize_t n = chan_take(&p->down);
    if (p->o->trace)
        chan_trace(p, &p->down, 0, n);
    if (n < 0) {
        if (!transient(n))
            net_failed(p, "recv from", (int)n);
        return 0;
    }
    p->st->received += (unsigned long long)n;
    p->last_moved = tool_now();
    return 0;
}

/* The reader of our output went away (`sock connect ... | head`): a normal
 * end for a tool in a pipeline, as for nc.  Nothing more can be shown, so
 * the transfer stops here, quietly. */
static void output_gone(struct pump *p)
{
    p->st->output_gone = 1;
    chan_stop(&p->down);
    chan_stop(&p->up);
}

static int write_output(struct pump *p)
{
    ssize_t n = chan_give(&p->down);
    if (n == -EPIPE) {
        output_gone(p);
        return 0;
    }
    if (n < 0)
        return transient(n) ? 0 : local_fail(p, "write to output", (int)-n);
    p->last_moved = tool_now();
    return 0;
}

/* The progress line, once a second and once at the end, which also
 * finishes it with a newline. */
static void report(struct pump *p, int final)
{
    double t = tool_now();
    if (!p->o->progress || (!final && t - p->last_report < 1.0))
        return;
    p->last_report = t;
    double secs = t - p->started > 1e-6 ? t - p->started : 1e-6;
    char line[160];
    snprintf(line, sizeof line, "sock %s: sent %.1f MiB, received %.1f MiB, %.1f MiB/s",
             p->o->cmd, (double)p->st->sent / 1048576.0, (double)p->st->received / 1048576.0,
             (double)(p->st->sent + p->st->received) / 1048576.0 / secs);
    tool_line_draw(line);
    if (final)
        tool_line_end();
}

/* Ctrl-C or SIGTERM while a progress line is drawn: finish the line, so
 * the shell's prompt starts on a line of its own, then die of the signal
 * as the process would have without us (the exit status says so). */
static void on_stop_signal(int sig)
{
    tool_line_end_signal();
    signal(sig, SIG_DFL);
    raise(sig);
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

/* Done when the peer has closed and all it sent is written out, and our
 * input is exhausted and sent, or is a terminal nobody will close.  After
 * a failure of the connection, done once what it delivered is written. */
static int finished(const struct pump *p)
{
    int down_done = !p->down.src_open && chan_pending(&p->down) == 0;
    int up_done = !p->up.src_open && chan_pending(&p->up) == 0;
    return down_done && (up_done || p->in_tty || p->net_err);
}

/* How long poll may wait: until the next progress line, or until --timeout
 * would run out since bytes last moved; -1 for ever. */
static int poll_wait(const struct pump *p, double now)
{
    double wait = -1;
    if (p->o->progress)
        wait = 1.0 - (now - p->last_report);
    if (p->o->idle_ms >= 0) {
        double idle_left = p->o->idle_ms / 1000.0 - (now - p->last_moved);
        if (wait < 0 || idle_left < wait)
            wait = idle_left;
    }
    return wait < 0 ? (p->o->progress || p->o->idle_ms >= 0 ? 0 : -1) : (int)(wait * 1000) + 1;
}

static int step(struct pump *p)
{
    struct pollfd pf[3];
    int n = 0, i_in = -1, i_sock = -1, i_out = -1;
    short sock_ev = 0;
    if (chan_wants_input(&p->up))
        pf[i_in = n++] = (struct pollfd){.fd = p->up.src, .events = POLLIN};
    if (chan_wants_output(&p->up))
        sock_ev |= POLLOUT;
    if (chan_wants_input(&p->down))
        sock_ev |= POLLIN;
    if (sock_ev)
        pf[i_sock = n++] = (struct pollfd){.fd = p->sfd, .events = sock_ev};
    if (chan_wants_output(&p->down))
        pf[i_out = n++] = (struct pollfd){.fd = p->down.dst, .events = POLLOUT};
    if (n == 0)
        return 0;
    int r = poll(pf, (nfds_t)n, poll_wait(p, tool_now()));
    if (r < 0)
        return errno == EINTR ? 0 : local_fail(p, "poll", errno);
    int rc = 0;
    if (r > 0 && i_in >= 0 && pf[i_in].revents)
        rc = read_input(p);
    if (r > 0 && !rc && i_sock >= 0 && (pf[i_sock].revents & (POLLOUT | POLLERR)) &&
        (sock_ev & POLLOUT))
        rc = send_output(p);
    if (r > 0 && !rc && i_sock >= 0 && (pf[i_sock].revents & (POLLIN | POLLHUP | POLLERR)) &&
        (sock_ev & POLLIN))
        rc = recv_input(p);
    if (r > 0 && !rc && i_out >= 0 && pf[i_out].revents)
        rc = write_output(p);
    report(p, 0);
    if (!rc && p->o->idle_ms >= 0 && tool_now() - p->last_moved >= p->o->idle_ms / 1000.0) {
        tool_err(p->o->cmd, "no data moved for %d ms (--timeout)", p->o->idle_ms);
        return EXIT_NET;
    }
    return rc;
}

int pump_run(sock_t *s, int in_fd, int out_fd, const struct pump_opts *o, struct pump_stats *st)
{
    struct pump p = {
        .s = s,
        .sfd = sock_fd(s),
        .in_tty = in_fd >= 0 && isatty(in_fd),
        .o = o,
        .st = st,
        .started = tool_now(),
    };
    p.last_moved = p.started;
    memset(st, 0, sizeof *st);
    int rc = EXIT_OK;
    if (chan_init(&p.up, in_fd, p.sfd, in_fd, 0) < 0 ||
        chan_init(&p.down, p.sfd, out_fd, out_fd, 1) < 0) {
        rc = local_fail(&p, "buffers", ENOMEM);
        goto out;
    }
    /* The socket is non-blocking for the loop, whatever --timeout said:
     * poll() does the waiting here. */
    int fl = fcntl(p.sfd, F_GETFL);
    if (fl < 0 || fcntl(p.sfd, F_SETFL, fl | O_NONBLOCK) < 0) {
        rc = local_fail(&p, "socket flags", errno);
        goto out;
    }
    if (o->progress)
        stop_signals(on_stop_signal);
    rc = maybe_half_close(&p);
    while (!rc && !finished(&p))
        rc = step(&p);
    report(&p, 1);
    if (o->progress)
        stop_signals(SIG_DFL);
    if (!rc && p.net_err)
        rc = fail(&p, p.net_what, p.net_err);
out:
    chan_free(&p.up);
    chan_free(&p.down);
    return rc;
}
