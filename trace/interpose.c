/*
 * trace/interpose.c - the wrappers LD_PRELOAD puts in front of libc.
 *
 * Each wrapper calls the real function (found with dlsym(RTLD_NEXT)),
 * keeps its return value and errno, and only then looks at what happened:
 * the descriptor's TCP state (TCP_INFO), its addresses, the data, and the
 * checks of diagnose.c.  Descriptors that are not TCP sockets go straight
 * through.  A data step that moved its bytes is kept cheap, as it is most
 * of a run: no TCP_INFO, no addresses, no lock, its record held back in the
 * thread's batch (report.c); the calls that may wait for long (accept,
 * connect, a recv with nothing to read, poll, sleep, wait ...) send the
 * batch first, so that the story is current whenever the program waits.  Calls that only say "would block" (EAGAIN on a non-blocking
 * socket) are checked but not recorded: a poll loop would drown the story.
 */
#include "trace.h"

#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define EXPORT __attribute__((visibility("default")))

/* glibc declares the address arguments as transparent unions in GNU mode;
 * the wrappers take the same types and pass the plain pointer on. */
#define SA(u) ((u).__sockaddr__)

static int (*real_socket)(int, int, int);
static int (*real_bind)(int, const struct sockaddr *, socklen_t);
static int (*real_listen)(int, int);
static int (*real_accept)(int, struct sockaddr *, socklen_t *);
static int (*real_accept4)(int, struct sockaddr *, socklen_t *, int);
static int (*real_connect)(int, const struct sockaddr *, socklen_t);
ssize_t (*trace_real_send)(int, const void *, size_t, int);
static ssize_t (*real_sendto)(int, const void *, size_t, int, const struct sockaddr *, socklen_t);
static ssize_t (*real_sendmsg)(int, const struct msghdr *, int);
static ssize_t (*real_write)(int, const void *, size_t);
static ssize_t (*real_writev)(int, const struct iovec *, int);
static ssize_t (*real_recv)(int, void *, size_t, int);
static ssize_t (*real_recvfrom)(int, void *, size_t, int, struct sockaddr *, socklen_t *);
static ssize_t (*real_recvmsg)(int, struct msghdr *, int);
static ssize_t (*real_read)(int, void *, size_t);
static ssize_t (*real_readv)(int, const struct iovec *, int);
static int (*real_shutdown)(int, int);
static int (*real_close)(int);
static int (*real_setsockopt)(int, int, int, const void *, socklen_t);
int (*trace_real_getsockopt)(int, int, int, void *, socklen_t *);
static int (*real_getaddrinfo)(const char *, const char *, const struct addrinfo *,
                               struct addrinfo **);
static pid_t (*real_fork)(void);
static void (*real__exit)(int);
static void (*real__Exit)(int);
static int (*real_poll)(struct pollfd *, nfds_t, int);
static int (*real_ppoll)(struct pollfd *, nfds_t, const struct timespec *, const sigset_t *);
static int (*real_select)(int, fd_set *, fd_set *, fd_set *, struct timeval *);
static int (*real_pselect)(int, fd_set *, fd_set *, fd_set *, const struct timespec *,
                           const sigset_t *);
static int (*real_epoll_wait)(int, struct epoll_event *, int, int);
static int (*real_epoll_pwait)(int, struct epoll_event *, int, int, const sigset_t *);
static int (*real_nanosleep)(const struct timespec *, struct timespec *);
static int (*real_clock_nanosleep)(clockid_t, int, const struct timespec *, struct timespec *);
static unsigned (*real_sleep)(unsigned);
static int (*real_usleep)(useconds_t);
static int (*real_pause)(void);
static pid_t (*real_wait)(int *);
static pid_t (*real_waitpid)(pid_t, int *, int);
static int (*real_execve)(const char *, char *const[], char *const[]);
static int (*real_dup2)(int, int);
static int (*real_dup3)(int, int, int);

static pthread_once_t once = PTHREAD_ONCE_INIT;

#define RESOLVE(name) (*(void **)&real_##name = dlsym(RTLD_NEXT, #name))

static void atfork_prepare(void) { pthread_mutex_lock(&trace_lock); }
static void atfork_parent(void) { pthread_mutex_unlock(&trace_lock); }
static void atfork_child(void) { pthread_mutex_unlock(&trace_lock); }

static void init(void)
{
    int saved = errno;
    RESOLVE(socket); RESOLVE(bind); RESOLVE(listen); RESOLVE(accept); RESOLVE(accept4);
    RESOLVE(connect); RESOLVE(sendto); RESOLVE(sendmsg); RESOLVE(write);
    RESOLVE(writev); RESOLVE(recv); RESOLVE(recvfrom); RESOLVE(recvmsg); RESOLVE(read);
    RESOLVE(readv); RESOLVE(shutdown); RESOLVE(close); RESOLVE(setsockopt);
    RESOLVE(getaddrinfo); RESOLVE(fork); RESOLVE(execve); RESOLVE(dup2); RESOLVE(dup3);
    RESOLVE(_exit); RESOLVE(_Exit); RESOLVE(poll); RESOLVE(ppoll); RESOLVE(select);
    RESOLVE(pselect); RESOLVE(epoll_wait); RESOLVE(epoll_pwait); RESOLVE(nanosleep);
    RESOLVE(clock_nanosleep); RESOLVE(sleep); RESOLVE(usleep); RESOLVE(pause); RESOLVE(wait);
    RESOLVE(waitpid);
    trace_report_init();
    *(void **)&trace_real_send = dlsym(RTLD_NEXT, "send");
    *(void **)&trace_real_getsockopt = dlsym(RTLD_NEXT, "getsockopt");
    pthread_atfork(atfork_prepare, atfork_parent, atfork_child);

    /* The record socket: only a SOCK_SEQPACKET socket at the number the
     * parent gave is ours; anything else means we are not under `sock
     * trace` (or the program closed it), and nothing is recorded. */
    const char *env = getenv(TRACE_ENV_FD);
    if (env && *env) {
        char *end;
        long fd = strtol(env, &end, 10);
        int type = 0;
        socklen_t len = sizeof type;
        if (*end == '\0' && fd > 2 && fd < 1 << 20 && trace_real_getsockopt &&
            trace_real_getsockopt((int)fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0 &&
            type == SOCK_SEQPACKET)
            trace_out_fd = (int)fd;
    }
    env = getenv(TRACE_ENV_DATA);
    if (env && *env) {
        long n = strtol(env, NULL, 10);
        trace_data_bytes = n < 0 ? 0 : n > TRACE_DATA_MAX ? TRACE_DATA_MAX : (int)n;
    }
    errno = saved;
}

#define INIT() pthread_once(&once, init)

/* A descriptor number the program now uses for something else than what
 * we knew: forget it, and stop tracing if it was our record socket. */
static void fd_replaced(int fd)
{
    if (fd >= 0 && fd == __atomic_load_n(&trace_out_fd, __ATOMIC_RELAXED))
        __atomic_store_n(&trace_out_fd, -1, __ATOMIC_RELAXED);
    trace_fd_reset(fd);
}

static void set_kind(int fd, int kind)
{
    struct fd_state *st = trace_fd(fd);
    if (st)
        __atomic_store_n(&st->kind, kind, __ATOMIC_RELAXED);
}

static void copy_addr(struct sockaddr_storage *dst, const struct sockaddr *src, socklen_t len)
{
    if (!src)
        return;
    if (len > sizeof *dst)
        len = sizeof *dst;
    memcpy(dst, src, len);
}

static void rec_result(struct trace_rec *r, long long ret, int err)
{
    r->ret = ret;
    r->err = ret < 0 ? err : 0;
}

static void set_call(struct trace_rec *r, const char *call)
{
    snprintf(r->call, sizeof r->call, "%s", call);
}

static int would_block(ssize_t n, int err)
{
    return n < 0 && (err == EAGAIN || err == EWOULDBLOCK);
}

/* ------------------------------------------------------------ lifecycle */

__attribute__((constructor)) static void trace_start(void)
{
    INIT();
    struct trace_rec r;
    trace_rec_init(&r, TR_START, -1);
    r.a1 = (int)getppid();
    r.a2 = 1; /* a new program (exec), not a fork */
    snprintf(r.text, sizeof r.text, "%s", program_invocation_name);
    trace_emit(&r);
}

__attribute__((destructor)) static void trace_end(void)
{
    trace_diag_exit();
    struct trace_rec r;
    trace_rec_init(&r, TR_EXIT, -1);
    trace_emit(&r);
}

EXPORT int socket(int domain, int type, int protocol)
{
    INIT();
    int fd = real_socket(domain, type, protocol);
    int err = errno;
    if (fd < 0)
        return fd;
    fd_replaced(fd);
    int tcp = (domain == AF_INET || domain == AF_INET6) && (type & 0xf) == SOCK_STREAM &&
              (protocol == 0 || protocol == IPPROTO_TCP);
    set_kind(fd, tcp ? FK_TCP : FK_OTHER);
    if (tcp) {
        struct trace_rec r;
        trace_rec_init(&r, TR_SOCKET, fd);
        r.a1 = domain;
        r.a2 = type;
        rec_result(&r, fd, err);
        trace_emit(&r);
    }
    errno = err;
    return fd;
}

EXPORT int bind(int fd, __CONST_SOCKADDR_ARG addr, socklen_t len)
{
    INIT();
    int rc = real_bind(fd, SA(addr), len);
    int err = errno;
    if (!trace_is_tcp(fd))
        return rc;
    struct trace_rec r;
    trace_rec_init(&r, TR_BIND, fd);
    rec_result(&r, rc, err);
    trace_rec_sockinfo(&r, fd, 1);
    /* peer holds the address asked for: the port before the kernel's choice. */
    copy_addr(&r.peer, SA(addr), len);
    r.have |= TRH_PEER;
    struct fd_state *st = trace_fd(fd);
    pthread_mutex_lock(&trace_lock);
    if (st->reuseaddr)
        r.have |= TRH_REUSEADDR;
    pthread_mutex_unlock(&trace_lock);
    trace_emit(&r);
    errno = err;
    return rc;
}

EXPORT int listen(int fd, int backlog)
{
    INIT();
    int rc = real_listen(fd, backlog);
    int err = errno;
    if (!trace_is_tcp(fd))
        return rc;
    struct trace_rec r;
    trace_rec_init(&r, TR_LISTEN, fd);
    rec_result(&r, rc, err);
    r.asked = backlog;
    trace_rec_sockinfo(&r, fd, 1);
    trace_emit(&r);
    errno = err;
    return rc;
}

static int accept_common(const char *call, int fd, struct sockaddr *addr, socklen_t *len,
                         int flags, int four)
{
    INIT();
    if (!trace_is_tcp(fd))
        return four ? real_accept4(fd, addr, len, flags) : real_accept(fd, addr, len);
    trace_flush();
    trace_diag_enter(fd, IO_ACCEPT);
    int nfd = four ? real_accept4(fd, addr, len, flags) : real_accept(fd, addr, len);
    int err = errno;
    trace_diag_leave(fd, IO_ACCEPT);
    if (nfd >= 0) {
        fd_replaced(nfd);
        set_kind(nfd, FK_TCP);
    }
    if (!would_block(nfd, err)) {
        struct trace_rec r;
        trace_rec_init(&r, TR_ACCEPT, fd);
        set_call(&r, call);
        rec_result(&r, nfd, err);
        r.fd2 = nfd;
        r.flags = flags;
        if (nfd >= 0)
            trace_rec_sockinfo(&r, nfd, 1);
        trace_emit(&r);
    }
    errno = err;
    return nfd;
}

EXPORT int accept(int fd, __SOCKADDR_ARG addr, socklen_t *len)
{
    return accept_common("accept", fd, SA(addr), len, 0, 0);
}

EXPORT int accept4(int fd, __SOCKADDR_ARG addr, socklen_t *len, int flags)
{
    return accept_common("accept4", fd, SA(addr), len, flags, 1);
}

EXPORT int connect(int fd, __CONST_SOCKADDR_ARG addr, socklen_t len)
{
    INIT();
    trace_flush();
    int rc = real_connect(fd, SA(addr), len);
    int err = errno;
    if (!trace_is_tcp(fd))
        return rc;
    struct trace_rec r;
    trace_rec_init(&r, TR_CONNECT, fd);
    rec_result(&r, rc, err);
    trace_rec_sockinfo(&r, fd, 1);
    copy_addr(&r.peer, SA(addr), len);
    r.have |= TRH_PEER;
    trace_emit(&r);
    errno = err;
    return rc;
}

/* ----------------------------------------------------------------- data */

static size_t iov_total(const struct iovec *iov, int iovcnt)
{
    size_t n = 0;
    for (int i = 0; iov && i < iovcnt; i++)
        n += iov[i].iov_len;
    return n;
}

/* The record of a data step.  A plain one (every byte asked for moved, or
 * some bytes received) is held back without TCP_INFO; an end of stream, a
 * failure or a partial send carries the socket's state and goes at once. */
static void data_record(int op, int fd, const char *call, const struct iovec *iov, int iovcnt,
                        size_t total, int flags, ssize_t n, int err)
{
    struct trace_rec r;
    trace_rec_init(&r, op, fd);
    set_call(&r, call);
    rec_result(&r, n, err);
    r.asked = (int64_t)total;
    r.flags = flags;
    if (n > 0)
        trace_rec_data(&r, iov, iovcnt, (size_t)n);
    int plain = n > 0 && (op == TR_RECV || (size_t)n == total);
    if (plain) {
        trace_emit_data(&r);
    } else {
        trace_rec_sockinfo(&r, fd, 0);
        trace_emit(&r);
    }
}

/* After a send of any kind: the checks, then the record. */
static void sent(int fd, const char *call, const struct iovec *iov, int iovcnt, int flags,
                 ssize_t n, int err)
{
    size_t total = iov_total(iov, iovcnt);
    trace_diag_send(fd, iov, iovcnt, total, n, err);
    if (!would_block(n, err))
        data_record(TR_SEND, fd, call, iov, iovcnt, total, flags, n, err);
}

static void received(int fd, const char *call, const struct iovec *iov, int iovcnt, int flags,
                     ssize_t n, int err)
{
    size_t total = iov_total(iov, iovcnt);
    trace_diag_recv(fd, total, n);
    if (!would_block(n, err))
        data_record(TR_RECV, fd, call, iov, iovcnt, total, flags, n, err);
}

EXPORT ssize_t send(int fd, const void *buf, size_t len, int flags)
{
    INIT();
    if (!trace_is_tcp(fd))
        return trace_real_send(fd, buf, len, flags);
    trace_diag_enter(fd, IO_SEND);
    ssize_t n = trace_real_send(fd, buf, len, flags);
    int err = errno;
    trace_diag_leave(fd, IO_SEND);
    struct iovec iov = {(void *)buf, len};
    sent(fd, "send", &iov, 1, flags, n, err);
    errno = err;
    return n;
}

EXPORT ssize_t sendto(int fd, const void *buf, size_t len, int flags, __CONST_SOCKADDR_ARG to,
                      socklen_t tolen)
{
    INIT();
    if (!trace_is_tcp(fd))
        return real_sendto(fd, buf, len, flags, SA(to), tolen);
    trace_diag_enter(fd, IO_SEND);
    ssize_t n = real_sendto(fd, buf, len, flags, SA(to), tolen);
    int err = errno;
    trace_diag_leave(fd, IO_SEND);
    struct iovec iov = {(void *)buf, len};
    sent(fd, "sendto", &iov, 1, flags, n, err);
    errno = err;
    return n;
}

EXPORT ssize_t sendmsg(int fd, const struct msghdr *msg, int flags)
{
    INIT();
    if (!trace_is_tcp(fd) || !msg)
        return real_sendmsg(fd, msg, flags);
    trace_diag_enter(fd, IO_SEND);
    ssize_t n = real_sendmsg(fd, msg, flags);
    int err = errno;
    trace_diag_leave(fd, IO_SEND);
    sent(fd, "sendmsg", msg->msg_iov, (int)msg->msg_iovlen, flags, n, err);
    errno = err;
    return n;
}

EXPORT ssize_t write(int fd, const void *buf, size_t len)
{
    INIT();
    if (!trace_is_tcp(fd))
        return real_write(fd, buf, len);
    trace_diag_enter(fd, IO_SEND);
    ssize_t n = real_write(fd, buf, len);
    int err = errno;
    trace_diag_leave(fd, IO_SEND);
    struct iovec iov = {(void *)buf, len};
    sent(fd, "write", &iov, 1, 0, n, err);
    errno = err;
    return n;
}

EXPORT ssize_t writev(int fd, const struct iovec *iov, int iovcnt)
{
    INIT();
    if (!trace_is_tcp(fd))
        return real_writev(fd, iov, iovcnt);
    trace_diag_enter(fd, IO_SEND);
    ssize_t n = real_writev(fd, iov, iovcnt);
    int err = errno;
    trace_diag_leave(fd, IO_SEND);
    if (iovcnt >= 0)
        sent(fd, "writev", iov, iovcnt, 0, n, err);
    errno = err;
    return n;
}

/* One of the receiving calls, with its arguments. */
enum rkind { RK_RECV, RK_RECVFROM, RK_RECVMSG, RK_READ, RK_READV };
struct rcall {
    enum rkind kind;
    const char *name;
    int fd, flags;
    void *buf;
    size_t len;
    struct sockaddr *from;
    socklen_t *fromlen;
    struct msghdr *msg;
    const struct iovec *iov;
    int iovcnt;
};

/* Make the call; with dontwait, as a try that must not wait (read and
 * readv become recv and recvmsg, the same on a TCP socket). */
static ssize_t rcall_do(const struct rcall *c, int dontwait)
{
    int f = c->flags | (dontwait ? MSG_DONTWAIT : 0);
    struct msghdr m = {.msg_iov = (struct iovec *)c->iov, .msg_iovlen = (size_t)c->iovcnt};
    switch (c->kind) {
    case RK_RECV:
        return real_recv(c->fd, c->buf, c->len, f);
    case RK_RECVFROM:
        return real_recvfrom(c->fd, c->buf, c->len, f, c->from, c->fromlen);
    case RK_RECVMSG:
        return real_recvmsg(c->fd, c->msg, f);
    case RK_READ:
        return dontwait ? real_recv(c->fd, c->buf, c->len, f) : real_read(c->fd, c->buf, c->len);
    case RK_READV:
        return dontwait ? real_recvmsg(c->fd, &m, f) : real_readv(c->fd, c->iov, c->iovcnt);
    }
    return -1;
}

/* Whether a waiting call is tried without waiting first.  A thread whose
 * try found nothing (a ping-pong: the answer is never there yet) skips the
 * next tries and sends its batch at once: a try that fails is one more
 * system call for nothing.  It tries again after TRY_SKIP calls, so that a
 * bulk transfer, where data is nearly always there, keeps trying. */
#define TRY_SKIP 8
static __thread int try_skip;

static int try_first(void)
{
    if (try_skip > 0) {
        try_skip--;
        return 0;
    }
    return 1;
}

static void try_missed(void)
{
    try_skip = TRY_SKIP;
}

/* A receiving call on a TCP socket.  With records held back, the data is
 * first asked for without waiting: if it is there (bulk transfers), that
 * was the call; if not, the records go out before the program waits.
 * MSG_WAITALL is never tried that way (a try would return less). */
static ssize_t recv_traced(const struct rcall *c)
{
    trace_diag_enter(c->fd, IO_RECV);
    ssize_t n;
    if (!trace_pending() || (c->flags & MSG_DONTWAIT)) {
        n = rcall_do(c, 0);
    } else if ((c->flags & MSG_WAITALL) || !try_first()) {
        trace_flush();
        n = rcall_do(c, 0);
    } else {
        n = rcall_do(c, 1);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            try_missed();
            trace_flush();
            n = rcall_do(c, 0);
        }
    }
    int err = errno;
    trace_diag_leave(c->fd, IO_RECV);
    if (c->kind == RK_RECVMSG) {
        received(c->fd, c->name, c->msg->msg_iov, (int)c->msg->msg_iovlen, c->flags, n, err);
    } else if (c->kind == RK_READV) {
        if (c->iovcnt >= 0)
            received(c->fd, c->name, c->iov, c->iovcnt, 0, n, err);
    } else {
        struct iovec iov = {c->buf, c->len};
        received(c->fd, c->name, &iov, 1, c->flags, n, err);
    }
    errno = err;
    return n;
}

EXPORT ssize_t recv(int fd, void *buf, size_t len, int flags)
{
    INIT();
    if (!trace_is_tcp(fd))
        return real_recv(fd, buf, len, flags);
    struct rcall c = {.kind = RK_RECV, .name = "recv", .fd = fd, .flags = flags, .buf = buf,
                      .len = len};
    return recv_traced(&c);
}

EXPORT ssize_t recvfrom(int fd, void *buf, size_t len, int flags, __SOCKADDR_ARG from,
                        socklen_t *fromlen)
{
    INIT();
    if (!trace_is_tcp(fd))
        return real_recvfrom(fd, buf, len, flags, SA(from), fromlen);
    struct rcall c = {.kind = RK_RECVFROM, .name = "recvfrom", .fd = fd, .flags = flags,
                      .buf = buf, .len = len, .from = SA(from), .fromlen = fromlen};
    return recv_traced(&c);
}

EXPORT ssize_t recvmsg(int fd, struct msghdr *msg, int flags)
{
    INIT();
    if (!trace_is_tcp(fd) || !msg)
        return real_recvmsg(fd, msg, flags);
    struct rcall c = {.kind = RK_RECVMSG, .name = "recvmsg", .fd = fd, .flags = flags,
                      .msg = msg};
    return recv_traced(&c);
}

EXPORT ssize_t read(int fd, void *buf, size_t len)
{
    INIT();
    if (!trace_is_tcp(fd))
        return real_read(fd, buf, len);
    struct rcall c = {.kind = RK_READ, .name = "read", .fd = fd, .buf = buf, .len = len};
    return recv_traced(&c);
}

EXPORT ssize_t readv(int fd, const struct iovec *iov, int iovcnt)
{
    INIT();
    if (!trace_is_tcp(fd))
        return real_readv(fd, iov, iovcnt);
    struct rcall c = {.kind = RK_READV, .name = "readv", .fd = fd, .iov = iov,
                      .iovcnt = iovcnt};
    return recv_traced(&c);
}

/* ------------------------------------------------------ waiting calls */

/* The calls that may wait for long send the records held back first (the
 * story is then current while the program waits).  poll and epoll_wait are
 * tried without waiting first, as a receive is: a loop that always finds
 * something ready (a bulk transfer) never sends a batch early. */

EXPORT int poll(struct pollfd *fds, nfds_t n, int timeout)
{
    INIT();
    if (timeout != 0 && trace_pending()) {
        if (try_first()) {
            int rc = real_poll(fds, n, 0);
            if (rc != 0)
                return rc;
            try_missed();
        }
        trace_flush();
    }
    return real_poll(fds, n, timeout);
}

EXPORT int epoll_wait(int ep, struct epoll_event *ev, int max, int timeout)
{
    INIT();
    if (timeout != 0 && trace_pending()) {
        if (try_first()) {
            int rc = real_epoll_wait(ep, ev, max, 0);
            if (rc != 0)
                return rc;
            try_missed();
        }
        trace_flush();
    }
    return real_epoll_wait(ep, ev, max, timeout);
}

EXPORT int ppoll(struct pollfd *fds, nfds_t n, const struct timespec *t, const sigset_t *mask)
{
    INIT();
    trace_flush();
    return real_ppoll(fds, n, t, mask);
}

EXPORT int select(int n, fd_set *r, fd_set *w, fd_set *e, struct timeval *t)
{
    INIT();
    trace_flush();
    return real_select(n, r, w, e, t);
}

EXPORT int pselect(int n, fd_set *r, fd_set *w, fd_set *e, const struct timespec *t,
                   const sigset_t *mask)
{
    INIT();
    trace_flush();
    return real_pselect(n, r, w, e, t, mask);
}

EXPORT int epoll_pwait(int ep, struct epoll_event *ev, int max, int timeout,
                       const sigset_t *mask)
{
    INIT();
    trace_flush();
    return real_epoll_pwait(ep, ev, max, timeout, mask);
}

EXPORT int nanosleep(const struct timespec *t, struct timespec *rem)
{
    INIT();
    trace_flush();
    return real_nanosleep(t, rem);
}

EXPORT int clock_nanosleep(clockid_t clock, int flags, const struct timespec *t,
                           struct timespec *rem)
{
    INIT();
    trace_flush();
    return real_clock_nanosleep(clock, flags, t, rem);
}

EXPORT unsigned sleep(unsigned s)
{
    INIT();
    trace_flush();
    return real_sleep(s);
}

EXPORT int usleep(useconds_t us)
{
    INIT();
    trace_flush();
    return real_usleep(us);
}

EXPORT int pause(void)
{
    INIT();
    trace_flush();
    return real_pause();
}

EXPORT pid_t wait(int *status)
{
    INIT();
    trace_flush();
    return real_wait(status);
}

EXPORT pid_t waitpid(pid_t pid, int *status, int options)
{
    INIT();
    trace_flush();
    return real_waitpid(pid, status, options);
}

/* _exit runs no destructor: what the thread held goes out here. */
static __attribute__((noreturn)) void exit_now(void (*real)(int), int status)
{
    INIT();
    trace_flush();
    if (real)
        real(status);
    syscall(SYS_exit_group, status);
    __builtin_unreachable();
}

EXPORT void _exit(int status) { exit_now(real__exit, status); }
EXPORT void _Exit(int status) { exit_now(real__Exit, status); }

/* ------------------------------------------------------------- the end */

EXPORT int shutdown(int fd, int how)
{
    INIT();
    int rc = real_shutdown(fd, how);
    int err = errno;
    if (!trace_is_tcp(fd))
        return rc;
    if (rc == 0 && (how == SHUT_RD || how == SHUT_RDWR)) {
        pthread_mutex_lock(&trace_lock);
        trace_fd(fd)->shut_rd = 1;
        pthread_mutex_unlock(&trace_lock);
    }
    struct trace_rec r;
    trace_rec_init(&r, TR_SHUTDOWN, fd);
    rec_result(&r, rc, err);
    r.a1 = how;
    trace_rec_sockinfo(&r, fd, 1);
    trace_emit(&r);
    errno = err;
    return rc;
}

EXPORT int close(int fd)
{
    INIT();
    struct fd_state *st = trace_fd(fd);
    if (fd >= 0 && fd == __atomic_load_n(&trace_out_fd, __ATOMIC_RELAXED))
        __atomic_store_n(&trace_out_fd, -1, __ATOMIC_RELAXED);
    if (!st || __atomic_load_n(&st->kind, __ATOMIC_RELAXED) != FK_TCP) {
        if (st)
            trace_fd_reset(fd);
        return real_close(fd);
    }
    /* What the socket was, read before it goes: the parent asks the kernel
     * afterwards what became of this 4-tuple (TIME_WAIT ...). */
    struct trace_rec r;
    trace_rec_init(&r, TR_CLOSE, fd);
    trace_rec_sockinfo(&r, fd, 1);
    r.unread = trace_diag_close(fd);
    trace_fd_reset(fd);
    int rc = real_close(fd);
    int err = errno;
    rec_result(&r, rc, err);
    trace_emit(&r);
    errno = err;
    return rc;
}

/* The options the course meets. */
static int option_shown(int level, int name)
{
    return (level == SOL_SOCKET && (name == SO_REUSEADDR || name == SO_REUSEPORT ||
                                    name == SO_LINGER || name == SO_SNDBUF ||
                                    name == SO_RCVBUF || name == SO_KEEPALIVE)) ||
           (level == IPPROTO_TCP && name == TCP_NODELAY) ||
           (level == IPPROTO_IPV6 && name == IPV6_V6ONLY);
}

/* The option's value as one number: SO_LINGER is on * 65536 + seconds. */
static int64_t option_value(int name, const void *val, socklen_t len)
{
    if (!val)
        return 0;
    if (name == SO_LINGER && len >= (socklen_t)sizeof(struct linger)) {
        const struct linger *l = val;
        return (int64_t)(l->l_onoff != 0) * 65536 + l->l_linger;
    }
    int v = 0;
    memcpy(&v, val, len < sizeof v ? len : sizeof v);
    return v;
}

static void option_record(int op, int fd, int level, int name, int64_t value, int rc, int err)
{
    struct trace_rec r;
    trace_rec_init(&r, op, fd);
    rec_result(&r, rc, err);
    r.a1 = level;
    r.a2 = name;
    r.asked = value;
    trace_rec_sockinfo(&r, fd, 0);
    trace_emit(&r);
}

EXPORT int setsockopt(int fd, int level, int name, const void *val, socklen_t len)
{
    INIT();
    int rc = real_setsockopt(fd, level, name, val, len);
    int err = errno;
    if (!option_shown(level, name) || !trace_is_tcp(fd))
        return rc;
    int64_t value = option_value(name, val, len);
    if (rc == 0 && level == SOL_SOCKET) {
        pthread_mutex_lock(&trace_lock);
        struct fd_state *st = trace_fd(fd);
        if (name == SO_REUSEADDR)
            st->reuseaddr = value != 0;
        if (name == SO_LINGER)
            st->linger0 = value == 65536;
        pthread_mutex_unlock(&trace_lock);
    }
    option_record(TR_SETSOCKOPT, fd, level, name, value, rc, err);
    errno = err;
    return rc;
}

EXPORT int getsockopt(int fd, int level, int name, void *val, socklen_t *len)
{
    INIT();
    int rc = trace_real_getsockopt(fd, level, name, val, len);
    int err = errno;
    if (!option_shown(level, name) || !trace_is_tcp(fd))
        return rc;
    option_record(TR_GETSOCKOPT, fd, level, name,
                  rc == 0 && len ? option_value(name, val, *len) : 0, rc, err);
    errno = err;
    return rc;
}

/* "host:port" of an address, IPv6 in brackets. */
static void addr_text(const struct sockaddr *sa, char *buf, size_t len)
{
    char host[INET6_ADDRSTRLEN] = "?";
    int port = 0;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const void *)sa;
        inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
        port = ntohs(in->sin_port);
        snprintf(buf, len, "%s:%d", host, port);
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const void *)sa;
        inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
        port = ntohs(in6->sin6_port);
        snprintf(buf, len, "[%s]:%d", host, port);
    } else {
        snprintf(buf, len, "(family %d)", sa->sa_family);
    }
}

EXPORT int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
                       struct addrinfo **res)
{
    INIT();
    int rc = real_getaddrinfo(node, service, hints, res);
    int err = errno;
    struct trace_rec r;
    trace_rec_init(&r, TR_GETADDRINFO, -1);
    r.ret = rc;
    r.err = rc == EAI_SYSTEM ? err : 0;
    /* text: node, service, then the TCP addresses found, one line each. */
    size_t used = (size_t)snprintf(r.text, sizeof r.text, "%s\n%s", node ? node : "(null)",
                                   service ? service : "(null)");
    int shown = 0;
    for (const struct addrinfo *ai = rc == 0 && res ? *res : NULL; ai && shown < 4;
         ai = ai->ai_next) {
        if (ai->ai_socktype != 0 && ai->ai_socktype != SOCK_STREAM)
            continue;
        char a[INET6_ADDRSTRLEN + 10];
        addr_text(ai->ai_addr, a, sizeof a);
        if (used + strlen(a) + 2 >= sizeof r.text)
            break;
        used += (size_t)snprintf(r.text + used, sizeof r.text - used, "\n%s", a);
        shown++;
    }
    trace_emit(&r);
    errno = err;
    return rc;
}

/* ------------------------------------------------------------ processes */

EXPORT pid_t fork(void)
{
    INIT();
    int ppid = (int)getpid();
    trace_flush();
    pid_t pid = real_fork();
    int err = errno;
    if (pid == 0) {
        trace_report_forked();
        trace_mark_all_shared(1);
        struct trace_rec r;
        trace_rec_init(&r, TR_START, -1);
        r.a1 = ppid;
        r.a2 = 0;
        snprintf(r.text, sizeof r.text, "%s", program_invocation_name);
        trace_emit(&r);
    } else {
        if (pid > 0) {
            pthread_mutex_lock(&trace_lock);
            trace_mark_all_shared(0);
            pthread_mutex_unlock(&trace_lock);
        }
        struct trace_rec r;
        trace_rec_init(&r, TR_FORK, -1);
        rec_result(&r, pid, err);
        r.fd2 = (int)pid;
        trace_emit(&r);
    }
    errno = err;
    return pid;
}

EXPORT int execve(const char *path, char *const argv[], char *const envp[])
{
    INIT();
    struct trace_rec r;
    trace_rec_init(&r, TR_EXEC, -1);
    /* path may be NULL in a buggy program: execve then fails with EFAULT. */
    const char *p = path;
    snprintf(r.text, sizeof r.text, "%s", p ? p : "");
    trace_emit(&r); /* after the records held back: exec loses the batch */
    return real_execve(path, argv, envp);
}

EXPORT int dup2(int oldfd, int newfd)
{
    INIT();
    int rc = real_dup2(oldfd, newfd);
    int err = errno;
    if (rc >= 0 && oldfd != newfd)
        fd_replaced(newfd);
    errno = err;
    return rc;
}

EXPORT int dup3(int oldfd, int newfd, int flags)
{
    INIT();
    int rc = real_dup3(oldfd, newfd, flags);
    int err = errno;
    if (rc >= 0)
        fd_replaced(newfd);
    errno = err;
    return rc;
}
