/*
 * io.c - send and receive: some bytes, or exactly N.
 *
 * The fast path is one system call: with no timeout the descriptor is
 * blocking and send()/recv() are called directly; poll() only enters when
 * a finite timeout makes the descriptor non-blocking and it would block.
 * MSG_NOSIGNAL on every send is what keeps SIGPIPE away without touching
 * the process's signal handling.
 */
#include "internal.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdint.h>



/* Arguments and state shared by the four public calls. */
int sock__check_io(sock_t *s, int side, const char *step, const void *buf, size_t len,
                   int zero_ok)
{
    if (!buf && len)
        return sock__fail(s, side, -EINVAL, "%s: buffer is NULL", step);
    if (len == 0 && !zero_ok)
        return sock__fail(s, side, -EINVAL, "%s: length is 0", step);
    if (len > SSIZE_MAX)
        return sock__fail(s, side, -EINVAL, "%s: length %zu is too large", step, len);
    int flags = sock__flags(s);
    if (!(flags & SOCK__CONNECTED) || (flags & SOCK__CLOSED) || s->priv_fd < 0)
        return sock__fail_unusable(s, side, step);
    /* After our own shutdown of a direction the kernel would still hand
     * out data that was pending (or that the peer sends later), and a send
     * would fail with EPIPE as if the peer were gone: the caller asked for
     * that direction to end, so say so. */
    if (flags & (side == SOCK__SIDE_SEND ? SOCK__SHUT_WR : SOCK__SHUT_RD))
        return sock__io_fail(s, side, step, SOCK_ECLOSED, 0, 0);
    return 0;
}

/* Record why a transfer failed, naming the peer and, for the *_all calls,
 * how far it got. */
int sock__io_fail(sock_t *s, int side, const char *step, int code, size_t done, size_t len)
{
    /* A layer's failure (SOCK_ETLS) was told in the layer's own words
     * (sock_set_error, from this side's hook): keep them.  Only this
     * side's buffer is looked at: the other may be being written by
     * another thread. */
    if (code == SOCK_ETLS && (sock__flags(s) & SOCK__TRANSPORT) && sock__side_has_error(s, side))
        return code;
    char peer[SOCK_ADDRSTRLEN] = "?";
    sock_peer_addr(s, peer, sizeof peer);
    const char *dir = side == SOCK__SIDE_SEND ? "to" : "from";
    char ctx[96] = "";
    if (len)
        snprintf(ctx, sizeof ctx, " after %zu of %zu bytes", done, len);
    if (code == SOCK_ECLOSED)
        return sock__failf(s, side, code, "%s %s %s: the %s side was shut down or closed locally%s",
                           step, dir, peer, side == SOCK__SIDE_SEND ? "write" : "read", ctx);
    if (code == SOCK_EOF)
        return sock__failf(s, side, code, "%s %s %s: the peer closed the connection%s", step, dir,
                           peer, ctx);
    if (code == -ETIMEDOUT)
        return sock__failf(s, side, code, "%s %s %s: timed out after %d ms%s", step, dir, peer,
                           s->priv_timeout_ms, ctx);
    return sock__failf(s, side, code, "%s %s %s: %s%s", step, dir, peer, sock_strerror(code), ctx);
}

/* One send() that moves at least one byte, waiting within the deadline.
 * Returns the count or a negative code. */
/* Wait for what a transport or the socket asked for, within the
 * deadline; in non-blocking mode, say -EAGAIN instead. */
static int wait_for(sock_t *s, unsigned want, int64_t deadline)
{
    if (sock__flags(s) & SOCK__NONBLOCK)
        return -EAGAIN;
    return sock__wait(s->priv_fd, want == SOCK_READABLE ? POLLIN : POLLOUT, deadline);
}

/* The transport's loop: the same waits, the same meaning of codes. */
static ssize_t transport_some(sock_t *s, char *buf, size_t len, int64_t deadline, int sending)
{
    for (;;) {
        unsigned want = sending ? SOCK_WRITABLE : SOCK_READABLE;
        ssize_t n = sending ? sock__transport_send(s, buf, len, &want)
                            : sock__transport_recv(s, buf, len, &want);
        if (n > 0)
            return n;
        if (n == 0)
            return sending ? -EIO : (sock__flags(s) & SOCK__SHUT_RD) ? SOCK_ECLOSED : 0;
        if (n == -EINTR)
            continue;
        if (n == -EAGAIN) {
            int rc = wait_for(s, want, deadline);
            if (rc < 0)
                return rc;
            continue;
        }
        if (n == -EPIPE && sending && (sock__flags(s) & SOCK__SHUT_WR))
            return SOCK_ECLOSED;
        /* Our own read shutdown woke a receive inside the layer: whatever
         * the layer makes of it, the caller asked for it. */
        if (!sending && (sock__flags(s) & SOCK__SHUT_RD))
            return SOCK_ECLOSED;
        return n;
    }
}

ssize_t sock__transport_try(sock_t *s, void *buf, size_t len, int sending)
{
    for (;;) {
        unsigned want = 0;
        ssize_t n = sending ? sock__transport_send(s, buf, len, &want)
                            : sock__transport_recv(s, buf, len, &want);
        if (n == -EINTR)
            continue;
        if (n == 0 && !sending && (sock__flags(s) & SOCK__SHUT_RD))
            return SOCK_ECLOSED;
        if (n == -EPIPE && sending && (sock__flags(s) & SOCK__SHUT_WR))
            return SOCK_ECLOSED;
        return n;
    }
}

ssize_t sock__send_some(sock_t *s, const char *buf, size_t len, int64_t deadline)
{
    if (sock__flags(s) & SOCK__TRANSPORT)
        return transport_some(s, (char *)buf, len, deadline, 1);
    for (;;) {
        ssize_t n = send(s->priv_fd, buf, len, MSG_NOSIGNAL);
        if (n >= 0)
            return n;
        int e = errno;
        if (e == EINTR)
            continue;
        if (e == EAGAIN || e == EWOULDBLOCK) {
            if (sock__flags(s) & SOCK__NONBLOCK)
                return -EAGAIN;
            int rc = sock__wait(s->priv_fd, POLLOUT, deadline);
            if (rc < 0)
                return rc;
            continue;
        }
        /* EPIPE after our own shutdown(WRITE) is not the peer's doing. */
        if (e == EPIPE && (sock__flags(s) & SOCK__SHUT_WR))
            return SOCK_ECLOSED;
        return -e;
    }
}

/* One recv() that returns at least one byte or end of stream, waiting
 * within the deadline.  waitall asks the kernel to fill the whole buffer
 * in one call where it can (blocking sockets only). */
ssize_t sock__recv_some(sock_t *s, char *buf, size_t len, int64_t deadline, int waitall)
{
    if (sock__flags(s) & SOCK__TRANSPORT)
        return transport_some(s, buf, len, deadline, 0);
    for (;;) {
        ssize_t n = recv(s->priv_fd, buf, len, waitall);
        if (n > 0)
            return n;
        if (n == 0)
            return (sock__flags(s) & SOCK__SHUT_RD) ? SOCK_ECLOSED : 0;
        int e = errno;
        if (e == EINTR)
            continue;
        if (e == EAGAIN || e == EWOULDBLOCK) {
            if (sock__flags(s) & SOCK__NONBLOCK)
                return -EAGAIN;
            int rc = sock__wait(s->priv_fd, POLLIN, deadline);
            if (rc < 0)
                return rc;
            continue;
        }
        return -e;
    }
}

int64_t sock__deadline_of(const sock_t *s)
{
    /* No clock read at all when there is no timeout, or when the caller's
     * own loop keeps time (non-blocking mode). */
    if (s->priv_timeout_ms < 0 || (sock__flags(s) & SOCK__NONBLOCK))
        return -1;
    return sock__deadline(s->priv_timeout_ms);
}

SOCK_API ssize_t sock_send(sock_t *s, const void *buf, size_t len)
{
    if (!s)
        return -EINVAL;
    ssize_t n = sock__check_io(s, SOCK__SIDE_SEND, "send", buf, len, 0);
    if (n == 0) {
        n = sock__send_some(s, buf, len, sock__deadline_of(s));
        if (n < 0 && n != -EAGAIN)
            sock__io_fail(s, SOCK__SIDE_SEND, "send", (int)n, 0, 0);
    }
    SOCK__TRACE(s, "send", n, NULL, "%zu bytes", len);
    return n;
}

SOCK_API ssize_t sock_recv(sock_t *s, void *buf, size_t len)
{
    if (!s)
        return -EINVAL;
    ssize_t n = sock__check_io(s, SOCK__SIDE_RECV, "recv", buf, len, 0);
    if (n == 0) {
        n = sock__recv_some(s, buf, len, sock__deadline_of(s), 0);
        if (n < 0 && n != -EAGAIN)
            sock__io_fail(s, SOCK__SIDE_RECV, "recv", (int)n, 0, 0);
    }
    SOCK__TRACE(s, "recv", n, NULL, "%zu bytes", len);
    return n;
}

static int send_all(sock_t *s, const char *buf, size_t len, size_t *done)
{
    int rc = sock__check_io(s, SOCK__SIDE_SEND, "send_all", buf, len, 1);
    if (rc < 0)
        return rc;
    int64_t deadline = sock__deadline_of(s);
    while (*done < len) {
        ssize_t n = sock__send_some(s, buf + *done, len - *done, deadline);
        if (n == -EAGAIN)
            return (int)n; /* non-blocking: *done tells how far it got */
        if (n < 0)
            return sock__io_fail(s, SOCK__SIDE_SEND, "send_all", (int)n, *done, len);
        *done += (size_t)n;
    }
    return 0;
}

static int recv_all(sock_t *s, char *buf, size_t len, size_t *done)
{
    int rc = sock__check_io(s, SOCK__SIDE_RECV, "recv_all", buf, len, 1);
    if (rc < 0)
        return rc;
    int64_t deadline = sock__deadline_of(s);
    int waitall = sock__wants_nonblock(s) ? 0 : MSG_WAITALL;
    while (*done < len) {
        ssize_t n = sock__recv_some(s, buf + *done, len - *done, deadline, waitall);
        if (n == -EAGAIN)
            return (int)n; /* non-blocking: *done tells how far it got */
        if (n <= 0)
            return sock__io_fail(s, SOCK__SIDE_RECV, "recv_all", n == 0 ? SOCK_EOF : (int)n, *done,
                           len);
        *done += (size_t)n;
    }
    return 0;
}

SOCK_API int sock_send_all(sock_t *s, const void *buf, size_t len, size_t *sent)
{
    size_t done = 0;
    int rc = s ? send_all(s, buf, len, &done) : -EINVAL;
    if (sent)
        *sent = done;
    if (s)
        SOCK__TRACE(s, "send_all", rc, NULL, "%zu bytes; sent %zu", len, done);
    return rc;
}

SOCK_API int sock_recv_all(sock_t *s, void *buf, size_t len, size_t *received)
{
    size_t done = 0;
    int rc = s ? recv_all(s, buf, len, &done) : -EINVAL;
    if (received)
        *received = done;
    if (s)
        SOCK__TRACE(s, "recv_all", rc, NULL, "%zu bytes; received %zu", len, done);
    return rc;
}
