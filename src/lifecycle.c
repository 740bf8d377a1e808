/*
 * lifecycle.c - the seed's steps: socket, bind, listen, accept, shutdown,
 * close; plus the options and inspection of a handle (connect, with its
 * many addresses, is in connect.c).
 */
#include "internal.h"

#include <errno.h>
#include <limits.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static unsigned next_id;

static void init_handle(sock_t *s)
{
    s->priv_fd = -1;
    s->priv_flags = 0;
    s->priv_timeout_ms = -1;
    s->priv_family = AF_UNSPEC;
    s->priv_id = __atomic_add_fetch(&next_id, 1, __ATOMIC_RELAXED);
    s->priv_ext = NULL;
    memset(&s->priv_peer, 0, sizeof s->priv_peer);
}

SOCK_API void sock_init(sock_t *s)
{
    if (!s)
        return;
    init_handle(s);
    SOCK__TRACE(s, "socket", 0, NULL, "%s", "");
}

/* A new TCP descriptor, close-on-exec always, non-blocking exactly when s
 * has a finite timeout (see sock_set_timeout). */
int sock__new_fd(const sock_t *s, int family)
{
    int type = SOCK_STREAM | SOCK_CLOEXEC | (sock__wants_nonblock(s) ? SOCK_NONBLOCK : 0);
    int fd = socket(family, type, family == AF_UNIX ? 0 : IPPROTO_TCP);
    return fd < 0 ? -errno : fd;
}

/* Closing must not clobber the errno a caller is about to report. */
void sock__close_quietly(int fd)
{
    int saved = errno;
    close(fd);
    errno = saved;
}

/* ---- options ------------------------------------------------------------ */

SOCK_API int sock_set_family(sock_t *s, int family)
{
    if (!s)
        return -EINVAL;
    if (family != AF_UNSPEC && family != AF_INET && family != AF_INET6)
        return sock__fail(s, SOCK__SIDE_SEND, -EINVAL,
                          "set_family: family %d is not AF_UNSPEC, AF_INET or AF_INET6", family);
    if (s->priv_fd >= 0)
        return sock__fail(s, SOCK__SIDE_SEND, -EINVAL,
                          "set_family: the socket already exists (call before bind/connect)");
    s->priv_family = family;
    return 0;
}

SOCK_API int sock_set_timeout(sock_t *s, int ms)
{
    if (!s)
        return -EINVAL;
    if (ms < -1)
        return sock__fail(s, SOCK__SIDE_SEND, -EINVAL,
                          "set_timeout: %d ms is not a timeout (-1 waits forever)", ms);
    if (s->priv_fd >= 0) {
        int rc = sock__set_nonblock(s->priv_fd, ms >= 0 || (sock__flags(s) & SOCK__NONBLOCK));
        if (rc < 0)
            return sock__fail(s, SOCK__SIDE_SEND, rc, "set_timeout");
    }
    s->priv_timeout_ms = ms;
    return 0;
}

SOCK_API int sock_timeout(const sock_t *s)
{
    return s ? s->priv_timeout_ms : -1;
}

SOCK_API int sock_is_nonblocking(const sock_t *s)
{
    return s && (sock__flags(s) & SOCK__NONBLOCK) ? 1 : 0;
}

SOCK_API int sock_set_numeric_only(sock_t *s, int on)
{
    if (!s)
        return -EINVAL;
    if (on)
        sock__set_flags(s, SOCK__NUMERIC);
    else
        sock__clear_flags(s, SOCK__NUMERIC);
    return 0;
}

SOCK_API int sock_set_nonblocking(sock_t *s, int on)
{
    if (!s)
        return -EINVAL;
    if (s->priv_fd >= 0) {
        int rc = sock__set_nonblock(s->priv_fd, on || s->priv_timeout_ms >= 0);
        if (rc < 0)
            return sock__fail(s, SOCK__SIDE_SEND, rc, "set_nonblocking");
    }
    if (on)
        sock__set_flags(s, SOCK__NONBLOCK);
    else
        sock__clear_flags(s, SOCK__NONBLOCK);
    return 0;
}

SOCK_API int sock_set_nodelay(sock_t *s, int on)
{
    if (!s)
        return -EINVAL;
    if (s->priv_fd < 0)
        return sock__fail_unusable(s, SOCK__SIDE_SEND, "set_nodelay");
    int v = on ? 1 : 0;
    if (setsockopt(s->priv_fd, IPPROTO_TCP, TCP_NODELAY, &v, sizeof v) < 0)
        return sock__fail(s, SOCK__SIDE_SEND, -errno, "set_nodelay");
    return 0;
}

/* ---- bind, listen ------------------------------------------------------- */

/* Create a descriptor for ai and bind it.  Returns the fd or -errno. */
static int bind_one(const sock_t *s, const struct addrinfo *ai, int dual_stack)
{
    int fd = sock__new_fd(s, ai->ai_family);
    if (fd < 0)
        return fd;
    int on = 1;
    /* SO_REUSEADDR lets a restarted server bind its port while connections
     * of the previous run still sit in TIME_WAIT; it is set before bind()
     * because it only matters there.  Linux still refuses a second socket
     * listening on the same address. */
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) < 0)
        goto fail;
    if (ai->ai_family == AF_INET6) {
        /* Explicit, since the system default differs between systems and
         * sysctl settings: the wildcard is dual-stack unless the caller
         * asked for IPv6 only, a named IPv6 address is IPv6 only. */
        int v6only = dual_stack ? 0 : 1;
        if (setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof v6only) < 0)
            goto fail;
    }
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0)
        goto fail;
    return fd;
fail:;
    int e = errno;
    close(fd);
    return -e;
}

/* ---- Unix socket files ---------------------------------------------------- */

/* The path of a Unix address that names a file, or NULL (abstract). */
static const char *unix_file(const struct addrinfo *ai)
{
    const struct sockaddr_un *un = (const struct sockaddr_un *)ai->ai_addr;
    return ai->ai_family == AF_UNIX && un->sun_path[0] ? un->sun_path : NULL;
}

/* A bind found the path in use: is a server accepting there?  A socket
 * file left by a server that died refuses connections (ECONNREFUSED), and
 * then it is removed so that the bind can be tried again; a live server
 * (the connect succeeds, or its queue is full: EAGAIN) keeps its path.
 * Returns 0 when the stale file was removed, else -EADDRINUSE (or why the
 * file could not be checked). */
/* Is a socket of this network namespace bound to path, as the kernel
 * lists them (/proc/net/unix)?  Asking is free of side effects, where a
 * probing connect would be taken by a one-client server as its client.
 * 1 yes, 0 no, -1 cannot tell. */
static int listed_in_proc(const char *path)
{
    FILE *f = fopen("/proc/net/unix", "re");
    if (!f)
        return -1;
    char line[4096 + 128];
    int found = 0;
    size_t n = strlen(path);
    while (!found && fgets(line, sizeof line, f)) {
        /* "Num RefCount Protocol Flags Type St Inode Path": the path is
         * what follows the seventh field. */
        char *p = line;
        for (int field = 0; field < 7 && p; field++) {
            p += strspn(p, " ");
            p = strchr(p, ' ');
        }
        if (!p)
            continue;
        p += strspn(p, " ");
        found = strncmp(p, path, n) == 0 && (p[n] == '\n' || p[n] == '\0');
    }
    fclose(f);
    return found;
}

static int remove_if_stale(const struct addrinfo *ai)
{
    const char *path = unix_file(ai);
    struct stat st;
    if (!path || lstat(path, &st) < 0 || !S_ISSOCK(st.st_mode))
        return -EADDRINUSE;
    if (listed_in_proc(path) == 1)
        return -EADDRINUSE; /* a live socket holds it */
    /* Not listed here: stale, or held by a server in another network
     * namespace (the path is the file system's): only a connect can
     * tell. */
    int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (probe < 0)
        return -errno;
    int stale = connect(probe, ai->ai_addr, ai->ai_addrlen) < 0 && errno == ECONNREFUSED;
    close(probe);
    if (!stale)
        return -EADDRINUSE;
    return unlink(path) == 0 || errno == ENOENT ? 0 : -errno;
}

/* After a bind created the file: give it the mode asked for, and
 * remember it (device and inode) so that close removes this file and
 * never one a later server put at the same path. */
static int own_unix_file(sock_t *s, int fd, const struct addrinfo *ai)
{
    const char *path = unix_file(ai);
    if (!path)
        return 0;
    struct sock__ext *ext = sock__ext(s);
    if (!ext)
        return -ENOMEM;
    struct stat st;
    if ((ext->unix_mode >= 0 && chmod(path, (mode_t)ext->unix_mode) < 0) || lstat(path, &st) < 0)
        return -errno;
    (void)fd;
    free(ext->unix_path);
    ext->unix_path = strdup(path);
    if (!ext->unix_path)
        return -ENOMEM;
    ext->unix_dev = st.st_dev;
    ext->unix_ino = st.st_ino;
    ext->unix_pid = getpid();
    return 0;
}

static void remove_own_unix_file(sock_t *s)
{
    struct sock__ext *ext = s->priv_ext;
    struct stat st;
    /* A child that inherited the acceptor (a pre-fork server) closing its
     * copy must not take the parent's file away. */
    if (!ext || !ext->unix_path || ext->unix_pid != getpid())
        return;
    int saved = errno;
    if (lstat(ext->unix_path, &st) == 0 && st.st_dev == ext->unix_dev &&
        st.st_ino == ext->unix_ino)
        unlink(ext->unix_path);
    errno = saved;
}

SOCK_API int sock_set_unix_mode(sock_t *s, unsigned mode)
{
    if (!s)
        return -EINVAL;
    if (mode & ~0777u)
        return sock__fail(s, SOCK__SIDE_SEND, -EINVAL,
                          "set_unix_mode: %#o is not a file mode (0 to 0777)", mode);
    struct sock__ext *ext = sock__ext(s);
    if (!ext)
        return -ENOMEM;
    ext->unix_mode = (int)mode;
    return 0;
}

static int do_bind(sock_t *s, const char *host, const char *service)
{
    int flags = sock__flags(s);
    if (flags & SOCK__CLOSED)
        return sock__fail_unusable(s, SOCK__SIDE_SEND, "bind");
    if (s->priv_fd >= 0)
        return sock__fail(s, SOCK__SIDE_SEND, -EINVAL, "bind: socket is already %s",
                          flags & SOCK__CONNECTED ? "connected" : "bound");

    struct sock__addrs addrs;
    int rc = sock__resolve(s, "bind", host, service, 1, s->priv_family,
                           sock__deadline(s->priv_timeout_ms), &addrs);
    if (rc < 0)
        return rc;
    char addr[SOCK_ADDRSTRLEN];
    struct sock__attempts tried = {.len = 0};
    int dual_stack = sock__is_wildcard(host) && s->priv_family != AF_INET6;
    for (struct addrinfo *ai = addrs.list; ai; ai = ai->ai_next) {
        int fd = bind_one(s, ai, dual_stack);
        if (fd == -EADDRINUSE && unix_file(ai)) {
            int stale = remove_if_stale(ai);
            if (stale == 0)
                fd = bind_one(s, ai, dual_stack);
            else if (stale == -EADDRINUSE) {
                sock__addrs_free(&addrs);
                return sock__failf(s, SOCK__SIDE_SEND, -EADDRINUSE,
                                   "bind %s: a server is accepting connections there (its "
                                   "socket file is not taken over)",
                                   host);
            }
        }
        if (fd >= 0 && (rc = own_unix_file(s, fd, ai)) < 0) {
            sock__close_quietly(fd);
            unlink(unix_file(ai));
            fd = rc;
        }
        if (fd >= 0) {
            s->priv_fd = fd;
            s->priv_family = ai->ai_family == AF_UNIX ? AF_UNIX : s->priv_family;
            sock__set_flags(s, SOCK__BOUND);
            sock__addrs_free(&addrs);
            return 0;
        }
        sock__format_addr(ai->ai_addr, addr, sizeof addr);
        /* A wildcard IPv6 socket that the system cannot make (IPv6
         * disabled) is no failure as long as the IPv4 wildcard binds. */
        sock__attempt_add(&tried, addr, fd);
    }
    sock__addrs_free(&addrs);
    return sock__attempt_fail(s, &tried, "bind", host, service);
}

SOCK_API int sock_bind(sock_t *s, const char *host, const char *service)
{
    if (!s)
        return -EINVAL;
    int rc = do_bind(s, host, service);
    SOCK__TRACE(s, "bind", rc, NULL, "\"%s\", \"%s\"", host ? host : "*", service ? service : "");
    return rc;
}

static int do_listen(sock_t *s, int backlog)
{
    int flags = sock__flags(s);
    if (flags & SOCK__CLOSED)
        return sock__fail_unusable(s, SOCK__SIDE_SEND, "listen");
    if (!(flags & SOCK__BOUND) || (flags & SOCK__CONNECTED))
        return sock__fail(s, SOCK__SIDE_SEND, -EINVAL, "listen: socket is %s",
                          flags & SOCK__CONNECTED ? "connected (only a bound socket can listen)"
                                                  : "not bound (call sock_bind first)");
    /* The kernel caps the backlog at net.core.somaxconn, so "as large as
     * allowed" is simply the largest int. */
    if (listen(s->priv_fd, backlog < 0 ? INT_MAX : backlog) < 0) {
        char addr[SOCK_ADDRSTRLEN] = "?";
        sock_local_addr(s, addr, sizeof addr);
        return sock__fail(s, SOCK__SIDE_SEND, -errno, "listen %s", addr);
    }
    sock__set_flags(s, SOCK__LISTENING);
    return 0;
}

/* The queue length the kernel really gives a listener: it caps the
 * backlog at net.core.somaxconn (of the caller's network namespace).  Read
 * only for the trace, so that the trace shows what the kernel got rather
 * than "-1". */
static int kernel_backlog(int backlog)
{
    int max = -1;
    FILE *f = fopen("/proc/sys/net/core/somaxconn", "re");
    if (f) {
        if (fscanf(f, "%d", &max) != 1)
            max = -1;
        fclose(f);
    }
    if (backlog < 0)
        backlog = INT_MAX;
    return max > 0 && backlog > max ? max : backlog;
}

SOCK_API int sock_listen(sock_t *s, int backlog)
{
    if (!s)
        return -EINVAL;
    int rc = do_listen(s, backlog);
    SOCK__TRACE(s, "listen", rc, NULL, "%d", kernel_backlog(backlog));
    return rc;
}

/* ---- accept ------------------------------------------------------------- */

/* accept4() errors that concern one pending connection, not the acceptor:
 * the connection died before we took it, or (Linux) an error already
 * pending on the new socket.  The loop goes on to the next client. */
static int skippable_accept_error(int e)
{
    switch (e) {
    case ECONNABORTED:
    case EPROTO:
    case ENETDOWN:
    case ENOPROTOOPT:
    case EHOSTDOWN:
    case ENONET:
    case EHOSTUNREACH:
    case EOPNOTSUPP:
    case ENETUNREACH:
        return 1;
    default:
        return 0;
    }
}

static int accept_fail(sock_t *a, int code)
{
    char addr[SOCK_ADDRSTRLEN] = "?";
    sock_local_addr(a, addr, sizeof addr);
    if (code == SOCK_ECLOSED)
        return sock__failf(a, SOCK__SIDE_RECV, code, "accept on %s: the acceptor was shut down",
                           addr);
    if (code == -ETIMEDOUT)
        return sock__failf(a, SOCK__SIDE_RECV, code, "accept on %s: no client within %d ms", addr,
                           a->priv_timeout_ms);
    return sock__fail(a, SOCK__SIDE_RECV, code, "accept on %s", addr);
}

static int do_accept(sock_t *a, sock_t *peer)
{
    int flags = sock__flags(a);
    if (flags & (SOCK__CLOSED | SOCK__SHUT_RD))
        return flags & SOCK__CLOSED ? sock__fail_unusable(a, SOCK__SIDE_RECV, "accept")
                                    : accept_fail(a, SOCK_ECLOSED);
    if (!(flags & SOCK__LISTENING))
        return sock__fail(a, SOCK__SIDE_RECV, -EINVAL,
                          "accept: socket is not listening (call sock_listen first)");

    int timeout = a->priv_timeout_ms;
    int nonblocking = flags & SOCK__NONBLOCK;
    int64_t deadline = nonblocking ? -1 : sock__deadline(timeout);
    int nb = sock__wants_nonblock(a) ? SOCK_NONBLOCK : 0;
    struct sockaddr_storage ss;
    for (;;) {
        socklen_t len = sizeof ss;
        int fd = accept4(a->priv_fd, (struct sockaddr *)&ss, &len, SOCK_CLOEXEC | nb);
        if (fd >= 0) {
            peer->priv_fd = fd;
            peer->priv_timeout_ms = timeout;
            peer->priv_family = ss.ss_family;
            /* A Unix peer's address does not fit the handle (and is
             * mostly unnamed): sock_peer_addr asks the kernel instead. */
            if (ss.ss_family != AF_UNIX)
                memcpy(&peer->priv_peer, &ss,
                       len < sizeof peer->priv_peer ? len : sizeof peer->priv_peer);
            sock__set_flags(peer, SOCK__CONNECTED | nonblocking);
            return 0;
        }
        int e = errno;
        /* Whatever woke us, a shutdown from another thread is the reason
         * the caller needs to hear (Linux reports EINVAL for it). */
        if (sock__flags(a) & SOCK__SHUT_RD)
            return accept_fail(a, SOCK_ECLOSED);
        if (e == EINTR || skippable_accept_error(e))
            continue;
        if (e == EAGAIN || e == EWOULDBLOCK) {
            /* Non-blocking mode: no client yet is no failure, and costs
             * no text. */
            if (nonblocking)
                return -EAGAIN;
            int rc = sock__wait(a->priv_fd, POLLIN, deadline);
            if (rc < 0)
                return accept_fail(a, rc);
            continue;
        }
        return accept_fail(a, -e);
    }
}

SOCK_API int sock_accept(sock_t *acceptor, sock_t *peer)
{
    if (!acceptor || !peer)
        return acceptor ? sock__fail(acceptor, SOCK__SIDE_RECV, -EINVAL, "accept: peer is NULL")
                        : -EINVAL;
    init_handle(peer);
    int rc = do_accept(acceptor, peer);
    if (rc < 0)
        sock__set_flags(peer, SOCK__CLOSED);
    SOCK__TRACE(acceptor, "accept", rc, rc == 0 ? peer : NULL, "%s", "");
    return rc;
}

/* ---- shutdown, close ---------------------------------------------------- */

static const char *how_name(int how)
{
    return how == SOCK_SHUT_READ ? "read" : how == SOCK_SHUT_WRITE ? "write" : "read-write";
}

static int do_shutdown(sock_t *s, int how)
{
    if (how != SOCK_SHUT_READ && how != SOCK_SHUT_WRITE && how != SOCK_SHUT_READ_WRITE)
        return sock__fail(s, SOCK__SIDE_CTL, -EINVAL,
                          "shutdown: unknown how %d (use SOCK_SHUT_READ, SOCK_SHUT_WRITE or "
                          "SOCK_SHUT_READ_WRITE)",
                          how);
    int flags = sock__flags(s);
    if ((flags & SOCK__CLOSED) || !(flags & (SOCK__CONNECTED | SOCK__LISTENING)))
        return sock__fail_unusable(s, SOCK__SIDE_CTL, "shutdown");
    /* An acceptor has no stream to end in one direction: any shutdown of
     * it means "stop accepting".  The kernel only stops a listener (and
     * wakes its accept) for the read direction, so ask for both. */
    if (flags & SOCK__LISTENING)
        how = SOCK_SHUT_READ_WRITE;
    int want = (how == SOCK_SHUT_WRITE ? 0 : SOCK__SHUT_RD) |
               (how == SOCK_SHUT_READ ? 0 : SOCK__SHUT_WR);
    if ((flags & want) == want)
        return 0;
    /* A layer ends its own stream first (TLS: close_notify), so that the
     * peer can tell this end from a cut. */
    if ((want & SOCK__SHUT_WR) && !(flags & SOCK__SHUT_WR)) {
        int rc = sock__transport_shutdown(s, sock__deadline_of(s));
        /* Non-blocking: the layer's end is not out yet; nothing is shut
         * down, and the caller calls again when the socket is ready. */
        if (rc == -EAGAIN)
            return rc;
        /* A layer's own words (SOCK_ETLS, set by its shutdown hook in the
         * shutdown side's buffer) are kept. */
        if (rc == SOCK_ETLS && sock__side_has_error(s, SOCK__SIDE_CTL))
            return rc;
        if (rc < 0)
            return sock__fail(s, SOCK__SIDE_CTL, rc, "shutdown(%s): ending the %s layer",
                              how_name(how), s->priv_ext->transport->name);
    }
    /* Publish the flags before the syscall: the thread it wakes checks
     * them to report SOCK_ECLOSED rather than a puzzling EINVAL or EOF. */
    sock__set_flags(s, want);
    if (shutdown(s->priv_fd, how) < 0) {
        int e = errno;
        char peer[SOCK_ADDRSTRLEN] = "?";
        sock_peer_addr(s, peer, sizeof peer);
        if (e == ENOTCONN)
            return sock__failf(s, SOCK__SIDE_CTL, -e,
                               "shutdown(%s) of connection to %s: the connection is already gone "
                               "(reset by the peer)",
                               how_name(how), peer);
        return sock__fail(s, SOCK__SIDE_CTL, -e, "shutdown(%s) of connection to %s", how_name(how),
                          peer);
    }
    return 0;
}

SOCK_API int sock_shutdown(sock_t *s, int how)
{
    if (!s)
        return -EINVAL;
    int rc = do_shutdown(s, how);
    SOCK__TRACE(s, "shutdown", rc, NULL, "\"%s\"",
                how >= SOCK_SHUT_READ && how <= SOCK_SHUT_READ_WRITE ? how_name(how) : "?");
    return rc;
}

/* Close the descriptor, abortively (RST, no TIME_WAIT) when abort is set. */
static int close_handle(sock_t *s, int abort)
{
    int fd = s->priv_fd;
    sock__set_flags(s, SOCK__CLOSED);
    /* The handle's failure texts go with it (see sock_t.priv_ext), and
     * so does a non-blocking connect still under way. */
    sock__connect_abandon(s);
    sock__transport_release(s);
    remove_own_unix_file(s);
    sock__ext_free(s);
    if (fd < 0)
        return 0;
    if (abort) {
        /* SO_LINGER with a zero time makes close() reset the connection
         * and discard unsent data. */
        struct linger lg = {.l_onoff = 1, .l_linger = 0};
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    }
    s->priv_fd = -1;
    /* Never retry close() on EINTR: on Linux the descriptor is released
     * already, and a retry could close a descriptor another thread just
     * opened. */
    if (close(fd) < 0 && errno != EINTR)
        return sock__fail(s, SOCK__SIDE_SEND, -errno, "close");
    return 0;
}

SOCK_API int sock_close(sock_t *s)
{
    if (!s)
        return -EINVAL;
    int fd = s->priv_fd;
    int rc = close_handle(s, 0);
    if (fd >= 0)
        SOCK__TRACE(s, "close", rc, NULL, "%s", "");
    return rc;
}

SOCK_API int sock_abort(sock_t *s)
{
    if (!s)
        return -EINVAL;
    int fd = s->priv_fd;
    int rc = close_handle(s, 1);
    if (fd >= 0)
        SOCK__TRACE(s, "abort", rc, NULL, "%s", "");
    return rc;
}

/* ---- inspection --------------------------------------------------------- */

SOCK_API int sock_fd(const sock_t *s)
{
    return s ? s->priv_fd : -1;
}

SOCK_API unsigned sock_id(const sock_t *s)
{
    return s ? s->priv_id : 0;
}

SOCK_API int sock_take_error(sock_t *s)
{
    if (!s)
        return -EINVAL;
    if (s->priv_fd < 0)
        return -ENOTCONN;
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(s->priv_fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
        return -errno;
    return -err;
}

SOCK_API int sock_local_addr(const sock_t *s, char *buf, size_t len)
{
    if (!s || !buf || !len)
        return -EINVAL;
    buf[0] = '\0';
    if (s->priv_fd < 0)
        return -ENOTCONN;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    memset(&ss, 0, sizeof ss); /* an abstract name ends at the first NUL */
    if (getsockname(s->priv_fd, (struct sockaddr *)&ss, &sl) < 0)
        return -errno;
    return sock__format_addr((struct sockaddr *)&ss, buf, len);
}

SOCK_API int sock_peer_addr(const sock_t *s, char *buf, size_t len)
{
    if (!s || !buf || !len)
        return -EINVAL;
    buf[0] = '\0';
    /* The peer is remembered at connect/accept time, so it can still be
     * named after a reset, when getpeername() no longer works; after
     * close the handle has no connection, like sock_local_addr. */
    int flags = sock__flags(s);
    if (!(flags & SOCK__CONNECTED) || (flags & SOCK__CLOSED))
        return -ENOTCONN;
    if (s->priv_family == AF_UNIX) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        memset(&ss, 0, sizeof ss); /* an abstract name ends at the first NUL */
        if (getpeername(s->priv_fd, (struct sockaddr *)&ss, &sl) < 0)
            return -errno;
        return sock__format_addr((struct sockaddr *)&ss, buf, len);
    }
    return sock__format_addr(&s->priv_peer.sa, buf, len);
}

SOCK_API int sock_local_port(const sock_t *s)
{
    if (!s)
        return -EINVAL;
    if (s->priv_fd < 0)
        return -ENOTCONN;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (getsockname(s->priv_fd, (struct sockaddr *)&ss, &sl) < 0)
        return -errno;
    return sock_addr_port((struct sockaddr *)&ss);
}

SOCK_API int sock_peer_cred(const sock_t *s, pid_t *pid, uid_t *uid, gid_t *gid)
{
    if (!s)
        return -EINVAL;
    int flags = sock__flags(s);
    if (!(flags & SOCK__CONNECTED) || (flags & SOCK__CLOSED) || s->priv_fd < 0)
        return -ENOTCONN;
    if (s->priv_family != AF_UNIX)
        return -EAFNOSUPPORT;
    struct ucred cred;
    socklen_t len = sizeof cred;
    if (getsockopt(s->priv_fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
        return -errno;
    if (pid)
        *pid = cred.pid;
    if (uid)
        *uid = cred.uid;
    if (gid)
        *gid = cred.gid;
    return 0;
}
