/*
 * transfer.c - moving bytes between a socket and another descriptor
 * without copying them through user memory: sendfile(2) from a file,
 * splice(2) through a pipe of our own for anything else, and a plain copy
 * where the kernel refuses both.
 *
 * The rules are those of sock_send_all/sock_recv_all: exactly the bytes
 * asked for, or a failure that says how many moved; one deadline for the
 * whole call; EINTR retried; no SIGPIPE (see sigpipe_block below).
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <sys/sendfile.h>
#include <unistd.h>

/* Bytes per copy when the kernel cannot splice or sendfile. */
#define COPY_CHUNK 65536
/* One sendfile/splice call moves at most this (the kernel's own cap is
 * about 2 GiB). */
#define MAX_STEP ((size_t)1 << 30)

static size_t min_size(size_t a, size_t b)
{
    return a < b ? a : b;
}

/* The state checks of the send side or the receive side, as check_io does
 * for send/recv, with fd checked too. */
static int check_transfer(sock_t *s, int side, const char *step, int fd)
{
    int flags = sock__flags(s);
    if (!(flags & SOCK__CONNECTED) || (flags & SOCK__CLOSED) || s->priv_fd < 0)
        return sock__fail_unusable(s, side, step);
    if (fd < 0)
        return sock__fail(s, side, -EBADF, "%s: descriptor %d", step, fd);
    if (flags & (side == SOCK__SIDE_SEND ? SOCK__SHUT_WR : SOCK__SHUT_RD))
        return sock__failf(s, side, SOCK_ECLOSED, "%s: the %s side was shut down locally", step,
                           side == SOCK__SIDE_SEND ? "write" : "read");
    return 0;
}

static int64_t transfer_deadline(const sock_t *s)
{
    if (s->priv_timeout_ms < 0 || (sock__flags(s) & SOCK__NONBLOCK))
        return -1;
    return sock__deadline(s->priv_timeout_ms);
}

/* Record a failure "<step> to/from <peer>: <reason> after N of M bytes". */
static int transfer_fail(sock_t *s, int side, const char *step, int code, size_t done,
                         size_t len)
{
    char peer[SOCK_ADDRSTRLEN] = "?", total[32] = "";
    sock_peer_addr(s, peer, sizeof peer);
    if (len != SOCK_TO_END)
        snprintf(total, sizeof total, " of %zu", len);
    const char *reason = code == SOCK_EOF && side == SOCK__SIDE_SEND ? "the input ended"
                         : code == SOCK_EOF      ? "the peer closed the connection"
                         : code == -ETIMEDOUT   ? "timed out"
                                                : sock_strerror(code);
    return sock__failf(s, side, code, "%s %s %s: %s after %zu%s bytes", step,
                       side == SOCK__SIDE_SEND ? "to" : "from", peer, reason, done, total);
}

/* ---- a file to the socket --------------------------------------------- */

/* One pread and one send, for files the kernel will not sendfile (/proc,
 * some file systems).  Only what the socket took counts and advances *pos,
 * so a caller resumes exactly there (the rest is read again).  Returns
 * bytes sent (> 0), 0 at the file's end, or -errno. */
static ssize_t copy_file_step(sock_t *s, int fd, off_t *pos, size_t want, int64_t deadline)
{
    char buf[COPY_CHUNK];
    if (*pos < 0) {
        /* No position to read again from (a pipe under a layer): what is
         * read must all go, waiting within the deadline. */
        ssize_t n = read(fd, buf, min_size(want, sizeof buf));
        if (n <= 0)
            return n < 0 ? -errno : 0;
        for (ssize_t sent = 0; sent < n;) {
            ssize_t k = sock__send_some(s, buf + sent, (size_t)(n - sent), deadline);
            if (k < 0)
                return sent ? sent : k;
            sent += k;
        }
        return n;
    }
    ssize_t n = pread(fd, buf, min_size(want, sizeof buf), *pos);
    if (n <= 0)
        return n < 0 ? -errno : 0;
    /* Through the handle's own send: its transport, if it has one. */
    ssize_t k = sock__send_some(s, buf, (size_t)n, deadline);
    if (k < 0)
        return k;
    *pos += k;
    return k;
}

/* One step of a file transfer: sendfile, or the copy once the kernel has
 * refused this file (*copying).  Returns as copy_file_step. */
static ssize_t sendfile_step(sock_t *s, int fd, off_t *pos, size_t want, int *copying,
                             int64_t deadline)
{
    /* A layer (TLS) must see every byte: no sendfile under it. */
    if (!*copying && (sock__flags(s) & SOCK__TRANSPORT))
        *copying = 1;
    if (!*copying) {
        struct sock__sigpipe_guard g;
        sock__sigpipe_block(&g);
        ssize_t n = sendfile(s->priv_fd, fd, *pos >= 0 ? pos : NULL, want);
        int e = n < 0 ? errno : 0;
        sock__sigpipe_restore(&g, e == EPIPE);
        if (n >= 0)
            return n;
        if ((e != EINVAL && e != ENOSYS && e != EOPNOTSUPP) || *pos < 0)
            return -e;
        *copying = 1;
    }
    return copy_file_step(s, fd, pos, want, deadline);
}

static int sendfile_all(sock_t *s, int fd, off_t *offset, size_t len, size_t *done)
{
    int rc = check_transfer(s, SOCK__SIDE_SEND, "sendfile", fd);
    if (rc < 0)
        return rc;
    if ((sock__flags(s) & (SOCK__TRANSPORT | SOCK__NONBLOCK)) == (SOCK__TRANSPORT | SOCK__NONBLOCK) &&
        lseek(fd, 0, SEEK_CUR) < 0 && !offset)
        return sock__fail(s, SOCK__SIDE_SEND, -EINVAL,
                          "sendfile: a non-blocking handle with a layer needs a file it can "
                          "read again (use sock_send)");
    int64_t deadline = transfer_deadline(s);
    int nonblocking = sock__flags(s) & SOCK__NONBLOCK;
    /* Work on a position of our own (the caller's, or the file's), so
     * that the copy fallback can use pread; -1 for a descriptor without
     * one (a pipe), which only sendfile itself can read. */
    off_t pos = offset ? *offset : lseek(fd, 0, SEEK_CUR);
    int copying = 0, ended = 0;
    while (*done < len) {
        ssize_t n = sendfile_step(s, fd, &pos, min_size(len - *done, MAX_STEP), &copying, deadline);
        if (n > 0) {
            *done += (size_t)n;
            continue;
        }
        if (n == 0) {
            ended = 1;
            break;
        }
        if (n == -EINTR)
            continue;
        if (n == -EAGAIN && !nonblocking) {
            rc = sock__wait(s->priv_fd, POLLOUT, deadline);
            if (rc < 0)
                break;
            continue;
        }
        rc = n == -EPIPE && (sock__flags(s) & SOCK__SHUT_WR) ? SOCK_ECLOSED : (int)n;
        break;
    }
    if (offset && pos >= 0)
        *offset = pos;
    else if (pos >= 0)
        lseek(fd, pos, SEEK_SET); /* a sendfile with a position leaves the file's own alone */
    if (rc == -EAGAIN)
        return rc; /* non-blocking: *done tells how far it got */
    if (rc < 0)
        return transfer_fail(s, SOCK__SIDE_SEND, "sendfile", rc, *done, len);
    if (ended && len != SOCK_TO_END)
        return sock__failf(s, SOCK__SIDE_SEND, SOCK_EOF,
                           "sendfile: the file ended after %zu of %zu bytes", *done, len);
    return 0;
}

SOCK_API int sock_sendfile(sock_t *s, int fd, off_t *offset, size_t len, size_t *sent)
{
    size_t done = 0;
    int rc = s ? sendfile_all(s, fd, offset, len, &done) : -EINVAL;
    if (sent)
        *sent = done;
    if (s)
        SOCK__TRACE(s, "sendfile", rc, NULL, "fd %d, %zu bytes; sent %zu", fd, len, done);
    return rc;
}

/* ---- any descriptor to or from the socket, through a pipe ------------- */

/* One transfer: bytes from `in` to `out`, one of which is the socket. */
struct mover {
    sock_t *s;
    int fd;          /* the other descriptor */
    int to_sock;     /* fd -> socket (else socket -> fd) */
    sock_pipe_t pipe;
    int in_ended;
};

static ssize_t mover_fill(struct mover *m, size_t want)
{
    return m->to_sock ? sock_pipe_fill_fd(&m->pipe, m->fd, want)
                      : sock_pipe_fill(&m->pipe, m->s, want);
}

static ssize_t mover_drain(struct mover *m)
{
    return m->to_sock ? sock_pipe_drain(&m->pipe, m->s) : sock_pipe_drain_fd(&m->pipe, m->fd);
}

/* With a deadline, the caller's descriptor, which may block (a pipe, a
 * terminal), is asked first whether it is ready, so that no read or write
 * on it outlives the deadline; the socket is non-blocking then anyway. */
static int ready_now(int fd, short events, int64_t deadline)
{
    if (deadline < 0)
        return 1;
    struct pollfd pfd = {.fd = fd, .events = events};
    return poll(&pfd, 1, 0) != 0;
}

/* Run m until len bytes reached the output, or the input ended.  Returns
 * 0, SOCK_EOF (the input ended first, len not SOCK_TO_END), or a code;
 * *done counts the bytes written to the output. */
static int move_all(struct mover *m, size_t len, int64_t deadline, size_t *done)
{
    int in_fd = m->to_sock ? m->fd : m->s->priv_fd;
    int out_fd = m->to_sock ? m->s->priv_fd : m->fd;
    while (*done < len) {
        int progressed = 0;
        size_t held = sock_pipe_held(&m->pipe);
        size_t want = min_size(len - *done - held, MAX_STEP);
        int may_fill = !m->in_ended && want > 0 && sock_pipe_room(&m->pipe) > 0;
        if (may_fill && (!m->to_sock || ready_now(in_fd, POLLIN, deadline))) {
            ssize_t n = mover_fill(m, want);
            if (n > 0)
                progressed = 1;
            else if (n == 0)
                m->in_ended = 1, progressed = 1;
            else if (n != -EAGAIN && n != -EINTR)
                return (int)n;
        }
        if (sock_pipe_held(&m->pipe) > 0 && (m->to_sock || ready_now(out_fd, POLLOUT, deadline))) {
            ssize_t n = mover_drain(m);
            if (n > 0)
                *done += (size_t)n, progressed = 1;
            else if (n != -EAGAIN && n != -EINTR)
                return (int)n;
        }
        if (m->in_ended && sock_pipe_held(&m->pipe) == 0)
            return len == SOCK_TO_END ? 0 : SOCK_EOF;
        if (progressed)
            continue;
        /* Nothing moved: wait for whichever side can go on. */
        struct pollfd pfd[2];
        nfds_t k = 0;
        if (may_fill)
            pfd[k++] = (struct pollfd){.fd = in_fd, .events = POLLIN};
        if (sock_pipe_held(&m->pipe) > 0)
            pfd[k++] = (struct pollfd){.fd = out_fd, .events = POLLOUT};
        int ms = sock__ms_left(deadline);
        if (ms == 0)
            return -ETIMEDOUT;
        if (poll(pfd, k, ms) < 0 && errno != EINTR)
            return -errno;
    }
    return 0;
}

static int transfer(sock_t *s, int fd, int to_sock, size_t len, size_t *done)
{
    int side = to_sock ? SOCK__SIDE_SEND : SOCK__SIDE_RECV;
    const char *step = to_sock ? "send_from" : "recv_into";
    int rc = check_transfer(s, side, step, fd);
    if (rc < 0)
        return rc;
    if (sock__flags(s) & SOCK__NONBLOCK)
        return sock__fail(s, side, -EINVAL,
                          "%s: not available in non-blocking mode (use a sock_pipe_t: the bytes "
                          "in flight need somewhere to wait)",
                          step);
    struct mover m = {.s = s, .fd = fd, .to_sock = to_sock};
    rc = sock_pipe_open(&m.pipe);
    if (rc < 0)
        return sock__fail(s, side, rc, "%s: pipe", step);
    rc = move_all(&m, len, transfer_deadline(s), done);
    sock_pipe_close(&m.pipe);
    if (rc == -EPIPE && to_sock && (sock__flags(s) & SOCK__SHUT_WR))
        rc = SOCK_ECLOSED;
    return rc < 0 ? transfer_fail(s, side, step, rc, *done, len) : 0;
}

SOCK_API int sock_send_from(sock_t *s, int fd, size_t len, size_t *moved)
{
    size_t done = 0;
    int rc = s ? transfer(s, fd, 1, len, &done) : -EINVAL;
    if (moved)
        *moved = done;
    if (s)
        SOCK__TRACE(s, "send_from", rc, NULL, "fd %d, %zu bytes; moved %zu", fd, len, done);
    return rc;
}

SOCK_API int sock_recv_into(sock_t *s, int fd, size_t len, size_t *moved)
{
    size_t done = 0;
    int rc = s ? transfer(s, fd, 0, len, &done) : -EINVAL;
    if (moved)
        *moved = done;
    if (s)
        SOCK__TRACE(s, "recv_into", rc, NULL, "fd %d, %zu bytes; moved %zu", fd, len, done);
    return rc;
}
