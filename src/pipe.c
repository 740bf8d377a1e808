/*
 * pipe.c - a kernel pipe that carries a stream from one descriptor to
 * another without the bytes passing through user memory (splice), the
 * building block of every zero-copy transfer: the blocking ones of
 * transfer.c, and a forwarding loop's own, non-blocking ones.
 *
 * The bytes in flight live in the pipe between a fill and a drain, so a
 * loop can stop when either side would block and go on later.  Where the
 * kernel cannot splice (a terminal, a file opened with O_APPEND) the bytes
 * are copied instead, through a small buffer of the pipe's own that also
 * keeps what an output did not take.
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* The pipe's size: large, so that one splice moves a lot.  The system may
 * refuse it (pipe-max-size), and the default then serves. */
#define PIPE_BYTES (1 << 20)
/* The copy buffer, for descriptors the kernel cannot splice. */
#define COPY_BYTES 65536

enum { COPY_IN = 1, COPY_OUT = 2 };

/* ---- the pipe ----------------------------------------------------------- */

SOCK_API int sock_pipe_open(sock_pipe_t *p)
{
    if (!p)
        return -EINVAL;
    memset(p, 0, sizeof *p);
    p->priv_fd[0] = p->priv_fd[1] = -1;
    if (pipe2(p->priv_fd, O_CLOEXEC | O_NONBLOCK) < 0) {
        int e = errno;
        p->priv_fd[0] = p->priv_fd[1] = -1;
        return -e;
    }
    fcntl(p->priv_fd[1], F_SETPIPE_SZ, PIPE_BYTES);
    int cap = fcntl(p->priv_fd[1], F_GETPIPE_SZ);
    p->priv_cap = cap > 0 ? (size_t)cap : 4096;
    return 0;
}

SOCK_API void sock_pipe_close(sock_pipe_t *p)
{
    if (!p)
        return;
    for (int i = 0; i < 2; i++)
        if (p->priv_fd[i] >= 0)
            close(p->priv_fd[i]);
    free(p->priv_buf);
    memset(p, 0, sizeof *p);
    p->priv_fd[0] = p->priv_fd[1] = -1;
}

SOCK_API size_t sock_pipe_held(const sock_pipe_t *p)
{
    return p ? p->priv_held + (p->priv_buf_len - p->priv_buf_off) : 0;
}

SOCK_API size_t sock_pipe_room(const sock_pipe_t *p)
{
    return p && p->priv_cap > p->priv_held ? p->priv_cap - p->priv_held : 0;
}

/* One non-blocking splice, retried while interrupted.  The library retries
 * EINTR (sock.h), and here it matters more than anywhere: an interrupted
 * splice moved nothing, and a caller told -EINTR takes it for "nothing
 * now" and waits for a readiness it was already given.  With an
 * edge-triggered socket (the tool's, once it only writes) that readiness
 * is not reported again, and the bytes in the pipe are never sent (the
 * stress test faults/short_writes_pipe_input hung so).  Each retry needs
 * a signal of its own, so the loop ends as soon as the signals stop. */
static ssize_t splice_some(int from, int to, size_t len)
{
    ssize_t n;
    do
        n = splice(from, NULL, to, NULL, len, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
    while (n < 0 && errno == EINTR);
    return n;
}

/* The copy buffer, allocated the first time a descriptor needs it. */
static int copy_buffer(sock_pipe_t *p)
{
    if (!p->priv_buf && !(p->priv_buf = malloc(COPY_BYTES)))
        return -ENOMEM;
    return 0;
}

/* Read from fd into the pipe, by copy.  The pipe has room for want bytes,
 * so writing them into it cannot be short. */
static ssize_t fill_by_copy(sock_pipe_t *p, int fd, size_t want, sock_t *s)
{
    /* The pipe's own buffer belongs to the drain side (bytes an output
     * did not take); a fill copies through the stack. */
    char buf[16384];
    size_t room = want < sizeof buf ? want : sizeof buf;
    /* A handle with a layer reads through it, and a plain socket, without
     * waiting; anything else as it is. */
    ssize_t n = s && (sock__flags(s) & SOCK__TRANSPORT) ? sock__transport_try(s, buf, room, 0)
                : s                                  ? recv(fd, buf, room, MSG_DONTWAIT)
                                                     : read(fd, buf, room);
    if (s && (sock__flags(s) & SOCK__TRANSPORT) && n <= 0)
        return n;
    if (n <= 0)
        return n < 0 ? -errno : 0;
    ssize_t w = write(p->priv_fd[1], buf, (size_t)n);
    return w < 0 ? -errno : w;
}

/* One fill: up to max bytes from fd into the pipe.  s: the handle fd is
 * the socket of, NULL for another descriptor (a socket keeps its end of
 * stream and reset; a handle with a layer is read through it). */
static ssize_t fill(sock_pipe_t *p, int fd, size_t max, sock_t *s)
{
    size_t room = sock_pipe_room(p);
    size_t want = max < room ? max : room;
    if (want == 0)
        return -EAGAIN; /* full: drain first */
    ssize_t n;
    if (s && (sock__flags(s) & SOCK__TRANSPORT))
        p->priv_copy |= COPY_IN; /* the layer must see every byte */
    if (!(p->priv_copy & COPY_IN)) {
        n = splice_some(fd, p->priv_fd[1], want);
        if (n < 0 && errno == EINVAL) {
            p->priv_copy |= COPY_IN; /* e.g. a terminal: copy it */
            n = fill_by_copy(p, fd, want, s);
        } else if (n < 0) {
            n = -errno;
        }
    } else {
        n = fill_by_copy(p, fd, want, s);
    }
    if (n > 0)
        p->priv_held += (size_t)n;
    return n == -EWOULDBLOCK ? -EAGAIN : n;
}

/* Write what the copy buffer holds to fd.  Returns bytes written (> 0),
 * 0 when the buffer is empty, or -errno. */
static ssize_t flush_buffer(sock_pipe_t *p, int fd, sock_t *s)
{
    size_t len = p->priv_buf_len - p->priv_buf_off;
    if (len == 0)
        return 0;
    const char *from = p->priv_buf + p->priv_buf_off;
    ssize_t n;
    if (s && (sock__flags(s) & SOCK__TRANSPORT)) {
        n = sock__transport_try(s, (void *)from, len, 1);
        if (n < 0)
            return n;
    } else {
        n = s ? send(fd, from, len, MSG_NOSIGNAL | MSG_DONTWAIT) : write(fd, from, len);
        if (n < 0)
            return errno == EWOULDBLOCK ? -EAGAIN : -errno;
    }
    p->priv_buf_off += (size_t)n;
    if (p->priv_buf_off == p->priv_buf_len)
        p->priv_buf_off = p->priv_buf_len = 0;
    return n;
}

/* Drain by copy: the pipe's bytes into the buffer, the buffer to fd. */
static ssize_t drain_by_copy(sock_pipe_t *p, int fd, sock_t *s)
{
    int rc = copy_buffer(p);
    if (rc < 0)
        return rc;
    if (p->priv_buf_len == 0 && p->priv_held > 0) {
        size_t want = p->priv_held < COPY_BYTES ? p->priv_held : COPY_BYTES;
        ssize_t n = read(p->priv_fd[0], p->priv_buf, want);
        if (n <= 0)
            return n < 0 ? -errno : -EIO;
        p->priv_held -= (size_t)n;
        p->priv_buf_len = (size_t)n;
    }
    ssize_t n = flush_buffer(p, fd, s);
    return n == 0 ? -EAGAIN : n;
}

/* One drain: what the pipe holds into fd, as much as fd takes now. */
static ssize_t drain(sock_pipe_t *p, int fd, sock_t *s)
{
    if (sock_pipe_held(p) == 0)
        return -EAGAIN; /* empty: fill first */
    ssize_t n;
    if (s && (sock__flags(s) & SOCK__TRANSPORT))
        p->priv_copy |= COPY_OUT; /* the layer must see every byte */
    if (!(p->priv_copy & COPY_OUT)) {
        struct sock__sigpipe_guard g;
        sock__sigpipe_block(&g);
        /* No SPLICE_F_MORE: it corks the socket until more comes, and in
         * a conversation (a request, then its answer) nothing more comes
         * for a while: each reply would wait for TCP's cork timer. */
        n = splice_some(p->priv_fd[0], fd, p->priv_held);
        int e = n < 0 ? errno : 0;
        sock__sigpipe_restore(&g, e == EPIPE);
        if (n < 0 && e == EINVAL) {
            p->priv_copy |= COPY_OUT; /* e.g. an O_APPEND file: copy it */
            return drain_by_copy(p, fd, s);
        }
        if (n < 0)
            return e == EWOULDBLOCK ? -EAGAIN : -e;
        p->priv_held -= (size_t)n;
        return n;
    }
    /* Copying: the buffer's bytes go first, they are older. */
    n = drain_by_copy(p, fd, s);
    return n;
}

SOCK_API ssize_t sock_pipe_fill_fd(sock_pipe_t *p, int fd, size_t max)
{
    if (!p || p->priv_fd[0] < 0 || fd < 0)
        return -EINVAL;
    return fill(p, fd, max, NULL);
}

SOCK_API ssize_t sock_pipe_drain_fd(sock_pipe_t *p, int fd)
{
    if (!p || p->priv_fd[0] < 0 || fd < 0)
        return -EINVAL;
    return drain(p, fd, NULL);
}

/* Record why a socket side of a pipe failed, naming the peer. */
static void pipe_fail(sock_t *s, int side, int code)
{
    char peer[SOCK_ADDRSTRLEN] = "?";
    sock_peer_addr(s, peer, sizeof peer);
    sock__fail(s, side, code, "%s %s %s", side == SOCK__SIDE_SEND ? "send" : "recv",
               side == SOCK__SIDE_SEND ? "to" : "from", peer);
}

SOCK_API ssize_t sock_pipe_fill(sock_pipe_t *p, sock_t *s, size_t max)
{
    if (!p || !s || p->priv_fd[0] < 0)
        return -EINVAL;
    int flags = sock__flags(s);
    if (!(flags & SOCK__CONNECTED) || (flags & SOCK__CLOSED) || s->priv_fd < 0)
        return sock__fail_unusable(s, SOCK__SIDE_RECV, "pipe_fill");
    if (flags & SOCK__SHUT_RD)
        return SOCK_ECLOSED;
    ssize_t n = fill(p, s->priv_fd, max, s);
    if (n == 0 && (sock__flags(s) & SOCK__SHUT_RD))
        n = SOCK_ECLOSED;
    if (n < 0 && n != -EAGAIN && n != SOCK_ECLOSED)
        pipe_fail(s, SOCK__SIDE_RECV, (int)n);
    SOCK__TRACE(s, "pipe_fill", n, NULL, "%zu bytes", max);
    return n;
}

SOCK_API ssize_t sock_pipe_drain(sock_pipe_t *p, sock_t *s)
{
    if (!p || !s || p->priv_fd[0] < 0)
        return -EINVAL;
    int flags = sock__flags(s);
    if (!(flags & SOCK__CONNECTED) || (flags & SOCK__CLOSED) || s->priv_fd < 0)
        return sock__fail_unusable(s, SOCK__SIDE_SEND, "pipe_drain");
    if (flags & SOCK__SHUT_WR)
        return SOCK_ECLOSED;
    size_t held = sock_pipe_held(p);
    ssize_t n = drain(p, s->priv_fd, s);
    if (n < 0 && n != -EAGAIN)
        pipe_fail(s, SOCK__SIDE_SEND, (int)n);
    SOCK__TRACE(s, "pipe_drain", n, NULL, "%zu bytes", held);
    return n;
}
