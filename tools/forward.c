/*
 * forward.c - the two-way forwarding engine; see forward.h.
 *
 * Each direction has a source (a connection or a descriptor) and a
 * destination, and between them what was taken and not yet given: bytes in
 * a kernel pipe, in a copy buffer, or nothing (sendfile reads the file as
 * it sends).  Level-triggered readiness drives it: an end is registered for
 * reading while its direction has room, for writing while its direction
 * holds bytes, and for nothing (hang-ups and errors only, so that a reset
 * is seen at once) otherwise.
 */
#include "forward.h"

#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

enum { FWD_PIPE, FWD_COPY, FWD_SENDFILE };

/* The pipes open in this process, and the most allowed (-1: no limit):
 * see fwd_set_pipe_limit(). */
static long pipes_open, pipes_max = -1;

void fwd_set_pipe_limit(long max)
{
    pipes_max = max;
}

static void pipe_release(struct fwd_dir *dr)
{
    if (dr->pipe_open) {
        sock_pipe_close(&dr->pipe);
        pipes_open--;
    }
    dr->pipe_open = 0;
}

/* A fill that found no room (or changed its mode): not "the source has
 * nothing now", which for a failed source means it has nothing left. */
#define FILL_AGAIN (-100000)

/* One sendfile call sends at most this much, so that the other direction
 * is served in between. */
#define SENDFILE_CHUNK ((size_t)1 << 20)

static int other(int x)
{
    return 1 - x;
}

static int is_socket_fd(int fd)
{
    struct stat sb;
    return fd >= 0 && fstat(fd, &sb) == 0 && S_ISSOCK(sb.st_mode);
}

static int is_regular_fd(int fd)
{
    struct stat sb;
    return fd >= 0 && fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode);
}

/* Where direction d reads and writes when the side has no connection. */
static int src_fd(const struct fwd *f, int d)
{
    return f->side[d].in_fd;
}

static int dst_fd(const struct fwd *f, int d)
{
    return f->side[other(d)].out_fd;
}

static sock_t *src_sock(const struct fwd *f, int d)
{
    return f->side[d].s;
}

static sock_t *dst_sock(const struct fwd *f, int d)
{
    return f->side[other(d)].s;
}

/* Bytes taken from the source and not yet given to the destination. */
static size_t pending(const struct fwd_dir *dr)
{
    size_t held = dr->pipe_open ? sock_pipe_held(&dr->pipe) : 0;
    return held + (dr->len - dr->off);
}

size_t fwd_pending(const struct fwd *f, int d)
{
    return pending(&f->dir[d]);
}

/* The copy buffer's size in direction d. */
static size_t buf_size(const struct fwd *f, int d)
{
    return f->h->buf_bytes[d] ? f->h->buf_bytes[d] : FWD_BUF_BYTES;
}

/* How much direction d may take now, at most want: no byte past its
 * scripted fault, so that the fault falls exactly on its offset. */
static size_t fault_room(const struct fwd *f, int d, size_t want)
{
    const struct fwd_dir *dr = &f->dir[d];
    if (!f->h->fault[d])
        return want;
    unsigned long long taken = dr->moved + pending(dr);
    unsigned long long left = f->h->fault_at[d] > taken ? f->h->fault_at[d] - taken : 0;
    return left < want ? (size_t)left : want;
}

/* ---------------------------------------------------------------- trace */

/* --trace: the library traces its own calls; the data steps of the engine
 * are reported here too, in the library's format, with the path the bytes
 * took (splice through the pipe, sendfile, or the copy buffer), as `sock
 * connect` always showed them.  Only steps that touched a connection. */
static void trace_step(const struct fwd *f, const sock_t *s, const char *step, const char *args,
                       ssize_t n)
{
    if (!f->h->trace || n == -EAGAIN || n == -EINTR || !s)
        return;
    char local[SOCK_ADDRSTRLEN] = "", peer[SOCK_ADDRSTRLEN] = "";
    sock_local_addr(s, local, sizeof local);
    sock_peer_addr(s, peer, sizeof peer);
    sock_trace_event_t ev = {
        .sock = s,
        .id = sock_id(s),
        .fd = sock_fd(s),
        .step = step,
        .args = args,
        .result = n,
        .local = local,
        .peer = peer,
        .error = n < 0 ? sock_strerror((int)n) : "",
    };
    sock_trace_to_stderr(&ev, NULL);
}

/* ---------------------------------------------------------- the ending */

static void pass_eof(struct fwd *f, int d);

/* Side x's failure is passed on once what x sent before it has been
 * delivered: a program that sends a request and resets at once gets its
 * request through on a direct connection, so it must through us too. */
static void maybe_pass_failure(struct fwd *f, int x)
{
    struct fwd_dir *from_x = &f->dir[x];
    if (f->over || !f->side[x].failed || !from_x->src_done || pending(from_x) > 0)
        return;
    f->over = 1;
    f->fail_side = x;
    /* Abort first and tell afterwards, so that whoever reads the news can
     * count on the other program having been reset already. */
    if (f->h->pass_failures && f->side[other(x)].s)
        sock_abort(f->side[other(x)].s);
    if (f->h->on_failed)
        f->h->on_failed(f, x, f->side[x].failed);
}

/* Nothing more goes to side x: what waits for it is dropped, and its
 * source is not read any more. */
static void stop_towards(struct fwd *f, int x)
{
    struct fwd_dir *dr = &f->dir[other(x)];
    dr->src_done = 1;
    pipe_release(dr);
    free(dr->buf);
    dr->buf = NULL;
    dr->off = dr->len = 0;
}

/* The connection of side x failed (errno err) in call op. */
static void side_failed(struct fwd *f, int x, int err, int op)
{
    if (f->over)
        return;
    /* A send fails with EPIPE, not ECONNRESET, once the peer's reset has
     * been seen: we never send after our own shutdown, so it is that
     * reset, and a person should read "reset by peer". */
    if (err == EPIPE || err == 0)
        err = ECONNRESET;
    struct fwd_side *sd = &f->side[x];
    if (!sd->failed) {
        sd->failed = err;
        sd->fail_op = op;
    }
    stop_towards(f, x);
    /* A failed receive means x has nothing more to give.  After a failed
     * send the kernel still hands out what x sent before its reset: x is
     * read on until it has nothing more (see fill_done). */
    if (op == FWD_OP_READ)
        f->dir[x].src_done = 1;
    maybe_pass_failure(f, x);
}

/* A descriptor of a side without connection failed: nothing sensible can
 * go on. */
static void local_failed(struct fwd *f, const char *what, int err)
{
    if (f->over)
        return;
    f->over = 1;
    f->local_err = err;
    f->local_what = what;
}

/* The source of direction d has ended (or failed earlier and has nothing
 * left). */
static void fill_done(struct fwd *f, int d)
{
    f->dir[d].src_done = 1;
    if (f->side[d].failed)
        maybe_pass_failure(f, d);
    else
        pass_eof(f, d);
}

/* End the writing of direction d's destination.  A layer's end (TLS's
 * close_notify) may find no room in a non-blocking socket: -EAGAIN, and
 * nothing done; the shutdown is then pending, tried again once the
 * destination is writable (drain), and the direction has not ended. */
static void shut_destination(struct fwd *f, int d)
{
    int to = other(d);
    int rc = sock_shutdown(f->side[to].s, SOCK_SHUT_WRITE);
    f->dir[d].shut_pending = rc == -EAGAIN;
    /* -ENOTCONN: the other side was reset meanwhile; say so now rather
     * than at its next read. */
    if (rc < 0 && rc != -EAGAIN)
        side_failed(f, to, rc == -ENOTCONN ? ECONNRESET : -rc, FWD_OP_SHUTDOWN);
}

/* Once a source has ended and all it sent is delivered, pass the end of
 * stream on: the other side can still reply (a half-close). */
static void pass_eof(struct fwd *f, int d)
{
    struct fwd_dir *dr = &f->dir[d];
    int to = other(d);
    if (f->over || !dr->src_done || dr->eof_passed || pending(dr) > 0 || f->side[d].failed ||
        f->side[to].failed)
        return;
    dr->eof_passed = 1;
    if (f->h->on_eof)
        f->h->on_eof(f, d);
    if (!f->side[to].s)
        return; /* standard output stays open for whoever else writes to it */
    shut_destination(f, d);
}

/* -------------------------------------------------------------- filling */

static int copy_buffer(struct fwd_dir *dr, size_t size)
{
    if (!dr->buf && !(dr->buf = malloc(size)))
        return -ENOMEM;
    return 0;
}

/* A foreign socket as standard input or output (socat EXEC:, inetd) is
 * read and written here with MSG_DONTWAIT.  The library cannot serve it:
 * sock_pipe_fill_fd/drain_fd splice, and splice waits on a blocking socket
 * whatever its flags say, while a standard stream we share with other
 * processes must not be made non-blocking under them.  (What the library
 * lacks: a never-waiting receive and send on a descriptor it does not own,
 * or that mode for sock_pipe_fill_fd/drain_fd on a socket.) */
static ssize_t foreign_recv(int fd, char *buf, size_t len)
{
    ssize_t n = recv(fd, buf, len, MSG_DONTWAIT);
    return n < 0 ? (errno == EWOULDBLOCK ? -EAGAIN : -errno) : n;
}

static ssize_t foreign_send(int fd, const char *buf, size_t len)
{
    ssize_t n = send(fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL);
    return n < 0 ? (errno == EWOULDBLOCK ? -EAGAIN : -errno) : n;
}

/* A splice from a TCP socket stops at urgent (out-of-band) data and will
 * not move past it: it answers "nothing yet" with the socket readable, or
 * "end of stream" before the real end.  sock_recv() skips the urgent byte
 * as TCP without SO_OOBINLINE wants, so one step goes through a buffer
 * instead; the pipe is empty then, so the buffer's bytes are the newest
 * and go out next.  At a real end this costs one receive more. */
static ssize_t fill_detour(struct fwd_dir *dr, sock_t *s)
{
    char tmp[16384];
    ssize_t n = sock_recv(s, tmp, sizeof tmp);
    if (n <= 0)
        return n;
    if (!(dr->buf = malloc((size_t)n)))
        return -ENOMEM;
    memcpy(dr->buf, tmp, (size_t)n);
    dr->off = 0;
    dr->len = (size_t)n;
    return n;
}

static ssize_t fill_pipe(struct fwd *f, int d)
{
    struct fwd_dir *dr = &f->dir[d];
    if (!dr->pipe_open) {
        int rc = pipes_max >= 0 && pipes_open >= pipes_max ? -EMFILE : sock_pipe_open(&dr->pipe);
        if (rc == 0)
            pipes_open++;
        if (rc < 0) {
            /* Out of descriptors for a pipe: this direction copies
             * instead, through its buffer. */
            dr->mode = FWD_COPY;
            return FILL_AGAIN;
        }
        dr->pipe_open = 1;
    }
    sock_t *s = src_sock(f, d);
    ssize_t n = s ? sock_pipe_fill(&dr->pipe, s, SIZE_MAX)
                  : sock_pipe_fill_fd(&dr->pipe, src_fd(f, d), SIZE_MAX);
    if (s)
        trace_step(f, s, "splice-in", "socket -> pipe", n);
    size_t held = sock_pipe_held(&dr->pipe);
    if (s && held == 0 && (n == 0 || n == -EAGAIN))
        return fill_detour(dr, s);
    /* A pipe holds a fixed number of pages, and a splice from a socket may
     * leave each part full: the pipe can be full with fewer bytes than its
     * size.  The source stays readable, so waiting for it again would wake
     * at once and spin: wait for the destination to drain the pipe.  An
     * end of stream with bytes still in the pipe may be urgent data's
     * false end: it is confirmed once the pipe is empty. */
    if ((n == -EAGAIN || (s && n == 0)) && held > 0) {
        dr->pipe_full = 1;
        return FILL_AGAIN;
    }
    return n;
}

static ssize_t fill_copy(struct fwd *f, int d)
{
    struct fwd_dir *dr = &f->dir[d];
    size_t size = buf_size(f, d);
    int rc = copy_buffer(dr, size);
    if (rc < 0)
        return rc;
    size_t want = fault_room(f, d, size);
    sock_t *s = src_sock(f, d);
    ssize_t n;
    if (s) {
        n = sock_recv(s, dr->buf, want);
        trace_step(f, s, "recv", "socket -> buffer", n);
    } else if (dr->foreign_src) {
        n = foreign_recv(src_fd(f, d), dr->buf, want);
    } else {
        n = read(src_fd(f, d), dr->buf, want);
        if (n < 0)
            n = errno == EWOULDBLOCK ? -EAGAIN : -errno;
    }
    if (n > 0) {
        dr->off = 0;
        dr->len = (size_t)n;
        if (dr->adaptive)
            dr->full_reads = (size_t)n == want && dr->full_reads < 255 ? dr->full_reads + 1 : 0;
    }
    return n;
}

static int fill_wanted(const struct fwd *f, int d)
{
    const struct fwd_dir *dr = &f->dir[d];
    if (f->over || dr->src_done || dr->mode == FWD_SENDFILE)
        return 0;
    if (dr->len > dr->off)
        return 0; /* the buffer (or the detour) goes first */
    if (fault_room(f, d, 1) == 0)
        return 0; /* the scripted fault's offset is reached */
    if (dr->mode == FWD_PIPE)
        return !dr->pipe_full && (!dr->pipe_open || sock_pipe_room(&dr->pipe) > 0);
    return 1;
}

/* Take from the source of direction d what there is room for.  Returns
 * the bytes taken (> 0), or 0. */
static ssize_t fill(struct fwd *f, int d)
{
    if (!fill_wanted(f, d))
        return 0;
    struct fwd_dir *dr = &f->dir[d];
    if (dr->adaptive && dr->mode == FWD_COPY && dr->full_reads >= 4 && dr->off >= dr->len)
        dr->mode = FWD_PIPE; /* a bulk stream: from now on, spliced */
    ssize_t n = dr->mode == FWD_PIPE ? fill_pipe(f, d) : fill_copy(f, d);
    dr->src_crossed = n == -EAGAIN && src_sock(f, d) &&
                      sock_want(src_sock(f, d), 0) == SOCK_WRITABLE;
    if (n == -EAGAIN || n == -EINTR)
        n = f->side[d].failed ? 0 : -EAGAIN; /* a failed side: nothing left */
    if (n == -EAGAIN || n == FILL_AGAIN)
        return 0;
    if (n == 0) {
        fill_done(f, d);
        return 0;
    }
    if (n < 0) {
        if (src_sock(f, d))
            side_failed(f, d, (int)-n, FWD_OP_READ);
        else
            local_failed(f, "read from input", (int)-n);
        return 0;
    }
    f->last_moved = tool_now();
    return n;
}

/* -------------------------------------------------------------- draining */

/* The next write of a copy buffer: at most --max-chunk bytes. */
static ssize_t drain_buffer(struct fwd *f, int d)
{
    struct fwd_dir *dr = &f->dir[d];
    size_t len = dr->len - dr->off;
    if (f->h->max_chunk && len > f->h->max_chunk)
        len = f->h->max_chunk;
    const char *p = dr->buf + dr->off;
    sock_t *s = dst_sock(f, d);
    ssize_t n;
    if (s) {
        n = sock_send(s, p, len);
        trace_step(f, s, "send", "buffer -> socket", n);
    } else if (dr->foreign_dst) {
        n = foreign_send(dst_fd(f, d), p, len);
    } else {
        /* Standard output (a pipe, a file): the urgent-data detour, or a
         * direction that could get no pipe. */
        n = write(dst_fd(f, d), p, len);
        if (n < 0)
            n = errno == EWOULDBLOCK ? -EAGAIN : -errno;
    }
    if (n <= 0)
        return n < 0 ? n : -EAGAIN;
    if (f->h->on_data)
        f->h->on_data(f, d, p, (size_t)n);
    dr->off += (size_t)n;
    if (dr->off == dr->len) {
        /* An idle direction holds no user memory. */
        free(dr->buf);
        dr->buf = NULL;
        dr->off = dr->len = 0;
    }
    return n;
}

static ssize_t drain_pipe(struct fwd *f, int d)
{
    struct fwd_dir *dr = &f->dir[d];
    sock_t *s = dst_sock(f, d);
    ssize_t n = s ? sock_pipe_drain(&dr->pipe, s) : sock_pipe_drain_fd(&dr->pipe, dst_fd(f, d));
    if (s)
        trace_step(f, s, "splice-out", "pipe -> socket", n);
    if (n > 0)
        dr->pipe_full = 0;
    return n;
}

static ssize_t drain_sendfile(struct fwd *f, int d)
{
    struct fwd_dir *dr = &f->dir[d];
    size_t sent = 0;
    sock_t *s = dst_sock(f, d);
    int rc = sock_sendfile(s, src_fd(f, d), NULL, SENDFILE_CHUNK, &sent);
    if (f->h->trace) {
        char args[32];
        snprintf(args, sizeof args, "fd %d -> socket", src_fd(f, d));
        trace_step(f, s, "sendfile", args, sent > 0 ? (ssize_t)sent : rc);
    }
    if (rc == SOCK_EOF)
        dr->src_done = 1; /* the file ended: passed on below */
    else if (rc < 0 && rc != -EAGAIN && sent == 0)
        return rc;
    return sent > 0 ? (ssize_t)sent : (rc == SOCK_EOF ? 0 : -EAGAIN);
}

static int drain_wanted(const struct fwd *f, int d, double now)
{
    const struct fwd_dir *dr = &f->dir[d];
    if (f->over || f->side[other(d)].failed)
        return 0;
    if (dr->shut_pending)
        return 1;
    if (dr->mode == FWD_SENDFILE)
        return !dr->src_done;
    return pending(dr) > 0 && now >= dr->next_write;
}

/* Direction d's scripted fault, once all before its offset is delivered. */
static void fault_check(struct fwd *f, int d)
{
    struct fwd_dir *dr = &f->dir[d];
    int fault = f->h->fault[d];
    if (!fault || dr->fault_done || f->over || dr->moved < f->h->fault_at[d])
        return;
    dr->fault_done = 1;
    if (f->h->on_fault)
        f->h->on_fault(f, d, fault);
    if (fault == FWD_FAULT_RESET) {
        fwd_abort(f);
    } else if (fault == FWD_FAULT_CLOSE) {
        dr->src_done = 1;
        pass_eof(f, d);
    }
    /* FWD_FAULT_STALL: fill_wanted() reads the source no more. */
}

/* Give the destination of direction d what it takes now.  Returns 1 when
 * bytes moved. */
static int drain(struct fwd *f, int d)
{
    struct fwd_dir *dr = &f->dir[d];
    double now = tool_now();
    if (!drain_wanted(f, d, now))
        return 0;
    if (dr->shut_pending) {
        shut_destination(f, d);
        return 0;
    }
    ssize_t n;
    if (dr->mode == FWD_SENDFILE)
        n = drain_sendfile(f, d);
    else if (dr->len > dr->off)
        n = drain_buffer(f, d);
    else
        n = drain_pipe(f, d);
    dr->dst_crossed = n == -EAGAIN && dst_sock(f, d) &&
                      sock_want(dst_sock(f, d), 1) == SOCK_READABLE;
    if (n == -EAGAIN || n == -EINTR || n == 0) {
        pass_eof(f, d); /* a file that ended */
        return 0;
    }
    int to = other(d);
    if (n < 0) {
        if (dst_sock(f, d))
            side_failed(f, to, (int)-n, FWD_OP_WRITE);
        else if (n == -EPIPE) {
            /* The reader of our output went away (`sock connect ... |
             * head`): a normal end for a tool in a pipeline.  Nothing
             * more can be shown, so the session stops here, quietly. */
            f->output_gone = 1;
            f->over = 1;
        } else {
            local_failed(f, "write to output", (int)-n);
        }
        return 0;
    }
    dr->moved += (unsigned long long)n;
    f->last_moved = now;
    if (f->h->delay_ms > 0) {
        dr->next_write = now + f->h->delay_ms / 1000.0;
        /* While --delay holds the rest back, the relay is the one
         * waiting: the idle time starts when the next write may go. */
        if (pending(dr) > 0)
            f->last_moved = dr->next_write;
    }
    fault_check(f, d);
    pass_eof(f, d);
    return 1;
}

/* ----------------------------------------------------------- the poller */

/* What end e wants now. */
/* What end e wants now; e->on_fill and e->on_drain say which readiness
 * stands for which work (a layer may cross them, see forward.h). */
static unsigned end_wants(const struct fwd *f, struct fwd_end *e, double now)
{
    const struct fwd_side *sd = &f->side[e->side];
    e->on_fill = e->on_drain = 0;
    if ((sd->s || e == &sd->in) && fill_wanted(f, e->side))
        e->on_fill = f->dir[e->side].src_crossed ? SOCK_WRITABLE : SOCK_READABLE;
    if ((sd->s || e == &sd->out) && drain_wanted(f, other(e->side), now))
        e->on_drain = f->dir[other(e->side)].dst_crossed ? SOCK_READABLE : SOCK_WRITABLE;
    return (unsigned)(e->on_fill | e->on_drain);
}

/* The library's poller reports a peer's end of stream (EPOLLRDHUP) at
 * every wait, whatever the interest, for as long as it lasts: level
 * triggering would then wake at once for ever, with nothing to read.  So a
 * connection is level-triggered only while it is read (reading then takes
 * that end of stream and stops), and edge-triggered otherwise: reported
 * once per change (room to write, a reset), and written until it takes no
 * more (drain_all). */
static unsigned end_events(const struct fwd *f, const struct fwd_end *e, unsigned want)
{
    return f->side[e->side].s && !(want & SOCK_READABLE) ? want | SOCK_EDGE : want;
}

static int end_register(struct fwd *f, struct fwd_end *e, unsigned want)
{
    const struct fwd_side *sd = &f->side[e->side];
    int rc;
    if (!e->watched)
        rc = sd->s ? sock_poller_add(f->poller, sd->s, want, e)
                   : sock_poller_add_fd(f->poller, e->fd, want, e);
    else
        rc = sd->s ? sock_poller_modify(f->poller, sd->s, want, e)
                   : sock_poller_modify_fd(f->poller, e->fd, want, e);
    if (rc == -EPERM && !sd->s) {
        /* A regular file or /dev/null: epoll refuses what is always ready. */
        e->always = 1;
        return 0;
    }
    if (rc == 0)
        e->watched = 1;
    return rc;
}

static void end_unregister(struct fwd *f, struct fwd_end *e)
{
    if (!e->watched)
        return;
    const struct fwd_side *sd = &f->side[e->side];
    if (sd->s)
        sock_poller_remove(f->poller, sd->s);
    else
        sock_poller_remove_fd(f->poller, e->fd);
    e->watched = 0;
}

/* Keep end e's registration in step with what it wants.  A connection is
 * watched even when it wants nothing, so that a reset is seen at once,
 * until it hangs up (both ways closed: it would only report that again). */
static void end_update(struct fwd *f, struct fwd_end *e, double now)
{
    if (e->fd < 0)
        return;
    unsigned want = 0;
    if (f->over)
        e->on_fill = e->on_drain = 0;
    else
        want = end_wants(f, e, now);
    if (want)
        e->hung_up = 0;
    int keep = want || (f->side[e->side].s && !f->over && !f->side[e->side].failed);
    if (e->always) {
        e->interest = want;
        return;
    }
    if (!keep) {
        end_unregister(f, e);
        e->interest = 0;
        return;
    }
    want = end_events(f, e, want);
    if (e->watched && e->interest == want)
        return;
    int rc = end_register(f, e, want);
    if (rc < 0) {
        if (f->side[e->side].s)
            side_failed(f, e->side, -rc, FWD_OP_EVENT);
        else
            local_failed(f, "poller", -rc);
        return;
    }
    e->interest = want;
}

static void update(struct fwd *f)
{
    double now = tool_now();
    for (int x = 0; x < 2; x++) {
        end_update(f, &f->side[x].in, now);
        if (!f->side[x].s)
            end_update(f, &f->side[x].out, now);
    }
}

/* The error pending on a connection that reported one while we wanted
 * nothing of it (say the client reset after its end of stream, while the
 * server is still thinking): a receive after end of stream answers 0, not
 * the reset.  A report without an error left is taken as a reset. */
static int pending_error(sock_t *s)
{
    int err = sock_take_error(s);
    /* Linux files a reset that comes after the peer's end of stream
     * (CLOSE_WAIT) as EPIPE: it is a reset all the same, and a person
     * reading "Broken pipe" would look for a pipe. */
    return err == -EPIPE || err >= 0 ? ECONNRESET : -err;
}

/* After a move in one direction, what it made possible is tried at once
 * (the destination most likely takes new bytes, the source most likely has
 * more for the room made), which saves a round through the poller. */
/* Drain until the destination takes no more (or nothing is left, or
 * --delay holds the rest): what an edge-triggered end needs, and bounded
 * by what the direction holds. */
static int drain_all(struct fwd *f, int d)
{
    int moved = 0;
    while (drain(f, d))
        moved = 1;
    return moved;
}

/* Fill direction d and drain it again.  A plain source is filled once
 * (the poller reports it again if it has more); a layered one on, for as
 * long as its layer holds bytes the poller cannot see and the destination
 * takes all: bounded by what the layer holds, which it hands out before it
 * reads the socket again. */
static void move(struct fwd *f, int d)
{
    while (fill(f, d) > 0) {
        drain_all(f, d);
        sock_t *s = src_sock(f, d);
        if (!s || !sock_pending(s) || pending(&f->dir[d]) > 0)
            return;
    }
}

static void serve(struct fwd *f, int x, int readable, int writable)
{
    if (readable)
        move(f, x);
    if (writable && (drain_all(f, other(x)) || sock_pending(src_sock(f, other(x)))))
        move(f, other(x));
}

void fwd_event(struct fwd_end *e, unsigned ev)
{
    struct fwd *f = e->f;
    if (f->over)
        return;
    int x = e->side;
    int readable = e->on_fill && (ev & (e->on_fill | SOCK_HUP | SOCK_ERROR));
    int writable = e->on_drain && (ev & (e->on_drain | SOCK_HUP | SOCK_ERROR));
    if (readable || writable) {
        serve(f, x, readable, writable);
    } else if (f->side[x].s && (ev & SOCK_ERROR)) {
        side_failed(f, x, pending_error(f->side[x].s), FWD_OP_EVENT);
    } else if (!f->side[x].s && (ev & (SOCK_HUP | SOCK_ERROR))) {
        /* A standard stream's other end gone, with nothing wanted of it:
         * it is left out of the poller (it would only say so again), and
         * the next real call tells. */
        e->hung_up = 1;
    }
    /* A connection's hang-up alone is no failure (its end of stream, or
     * both directions closed); it is edge-triggered then (end_events). */
    update(f);
}

int fwd_has_ready(const struct fwd *f)
{
    for (int x = 0; x < 2; x++) {
        const struct fwd_side *sd = &f->side[x];
        if (!sd->s && ((sd->in.always && sd->in.interest) || (sd->out.always && sd->out.interest)))
            return !f->over;
    }
    return 0;
}

void fwd_run(struct fwd *f)
{
    if (f->over)
        return;
    for (int x = 0; x < 2 && !f->over; x++) {
        struct fwd_side *sd = &f->side[x];
        if (!sd->s && sd->in.always && sd->in.interest)
            serve(f, x, 1, 0);
        if (!sd->s && sd->out.always && sd->out.interest && !f->over)
            serve(f, x, 0, 1);
    }
    /* Writes held back by --delay that are now due. */
    for (int d = 0; d < 2 && !f->over; d++)
        if (f->dir[d].next_write > 0 && drain(f, d))
            move(f, d);
    update(f);
}

double fwd_next_due(const struct fwd *f)
{
    double due = -1;
    for (int d = 0; d < 2; d++) {
        const struct fwd_dir *dr = &f->dir[d];
        if (!f->over && pending(dr) > 0 && dr->next_write > 0 && (due < 0 || dr->next_write < due))
            due = dr->next_write;
    }
    return due;
}

static int dir_ended(const struct fwd *f, int d)
{
    const struct fwd_dir *dr = &f->dir[d];
    return dr->src_done && pending(dr) == 0 && !dr->shut_pending;
}

int fwd_finished(const struct fwd *f)
{
    return f->over || (dir_ended(f, FWD_B) && (dir_ended(f, FWD_A) || f->a_endless));
}

void fwd_abort(struct fwd *f)
{
    for (int x = 0; x < 2; x++)
        if (f->side[x].s)
            sock_abort(f->side[x].s);
    f->over = 1;
}

/* ------------------------------------------------------------ the start */

static void choose_mode(struct fwd *f, int d)
{
    struct fwd_dir *dr = &f->dir[d];
    const struct fwd_hooks *h = f->h;
    int sfd = src_sock(f, d) ? -1 : src_fd(f, d);
    int dfd = dst_sock(f, d) ? -1 : dst_fd(f, d);
    dr->foreign_src = (unsigned char)is_socket_fd(sfd);
    dr->foreign_dst = (unsigned char)is_socket_fd(dfd);
    /* A layer's bytes pass through user memory anyway: one copy buffer
     * between it and the other side is the shortest way. */
    int layered = sock_transport_name(src_sock(f, d)) || sock_transport_name(dst_sock(f, d));
    if (h->see_bytes || h->max_chunk || h->delay_ms > 0 || h->buf_bytes[d] || h->fault[d] ||
        dr->foreign_src || dr->foreign_dst || layered)
        dr->mode = FWD_COPY;
    else if (sfd >= 0 && dst_sock(f, d) && is_regular_fd(sfd))
        dr->mode = FWD_SENDFILE;
    else if (src_sock(f, d) && dst_sock(f, d)) {
        /* Connection to connection (a relay): a conversation's small
         * messages cost less copied (one recv, one send) than spliced (two
         * splices), and a bulk stream less spliced; so copy until reads
         * keep filling the buffer, then splice. */
        dr->mode = FWD_COPY;
        dr->adaptive = 1;
    } else
        dr->mode = FWD_PIPE;
}

static void end_init(struct fwd *f, struct fwd_end *e, int x, int fd)
{
    *e = (struct fwd_end){.kind = FWD_KIND_END, .f = f, .side = x, .fd = fd};
}

int fwd_start(struct fwd *f, sock_poller_t *p, const struct fwd_hooks *h)
{
    static const struct fwd_hooks none;
    f->h = h ? h : &none;
    f->poller = p;
    f->fail_side = -1;
    f->last_moved = tool_now();
    for (int x = 0; x < 2; x++) {
        struct fwd_side *sd = &f->side[x];
        if (sd->s) {
            end_init(f, &sd->in, x, sock_fd(sd->s));
            end_init(f, &sd->out, x, -1);
            int rc = sock_set_nonblocking(sd->s, 1);
            if (rc < 0)
                return rc;
        } else {
            end_init(f, &sd->in, x, sd->in_fd);
            end_init(f, &sd->out, x, sd->out_fd);
        }
    }
    for (int d = 0; d < 2; d++) {
        f->dir[d] = (struct fwd_dir){.pipe = SOCK_PIPE_UNOPENED};
        choose_mode(f, d);
    }
    /* No input at all (standard input closed for later clients of `listen
     * -k`): its end of stream is passed on at once. */
    for (int d = 0; d < 2; d++)
        if (!src_sock(f, d) && src_fd(f, d) < 0)
            fill_done(f, d);
    /* A fault at offset 0 falls before the first byte. */
    for (int d = 0; d < 2; d++)
        fault_check(f, d);
    update(f);
    return 0;
}

void fwd_stop(struct fwd *f)
{
    for (int x = 0; x < 2; x++) {
        struct fwd_side *sd = &f->side[x];
        end_unregister(f, &sd->in);
        if (!sd->s)
            end_unregister(f, &sd->out);
    }
    for (int d = 0; d < 2; d++) {
        struct fwd_dir *dr = &f->dir[d];
        pipe_release(dr);
        free(dr->buf);
        dr->buf = NULL;
        dr->off = dr->len = 0;
    }
}
