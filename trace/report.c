/*
 * trace/report.c - records, filled in and sent to `sock trace`.
 *
 * A record is one SOCK_SEQPACKET message, sent with MSG_NOSIGNAL so that a
 * parent gone away can never raise SIGPIPE in the program; if the record
 * socket fails, tracing stops quietly and the program runs on.
 */
#include "trace.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

int trace_out_fd = -1;
int trace_data_bytes = TRACE_DATA_PREVIEW;

static __thread int cached_tid;
static int cached_pid;

int trace_tid(void)
{
    if (!cached_tid)
        cached_tid = (int)syscall(SYS_gettid);
    return cached_tid;
}

void trace_report_forked(void)
{
    cached_tid = 0;
    cached_pid = 0;
}

static int trace_pid(void)
{
    if (!cached_pid)
        cached_pid = (int)getpid();
    return cached_pid;
}

void trace_rec_init(struct trace_rec *r, int op, int fd)
{
    memset(r, 0, offsetof(struct trace_rec, data));
    r->op = (uint16_t)op;
    r->pid = trace_pid();
    r->tid = trace_tid();
    r->fd = fd;
    r->fd2 = -1;
    r->state = -1;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    r->t = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void trace_rec_sockinfo(struct trace_rec *r, int fd, int addrs)
{
    int saved = errno;
    struct tcp_info ti;
    socklen_t len = sizeof ti;
    if (trace_real_getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) == 0) {
        r->state = ti.tcpi_state;
        r->have |= TRH_STATE;
    }
    if (addrs) {
        len = sizeof r->local;
        if (getsockname(fd, (struct sockaddr *)&r->local, &len) == 0)
            r->have |= TRH_LOCAL;
        len = sizeof r->peer;
        if (getpeername(fd, (struct sockaddr *)&r->peer, &len) == 0)
            r->have |= TRH_PEER;
    }
    errno = saved;
}

void trace_rec_data(struct trace_rec *r, const struct iovec *iov, int iovcnt, size_t n)
{
    size_t want = n < (size_t)trace_data_bytes ? n : (size_t)trace_data_bytes;
    size_t got = 0;
    for (int i = 0; i < iovcnt && got < want; i++) {
        size_t k = iov[i].iov_len < want - got ? iov[i].iov_len : want - got;
        if (k)
            memcpy(r->data + got, iov[i].iov_base, k);
        got += k;
    }
    r->ndata = (uint16_t)got;
}

void trace_emit(struct trace_rec *r)
{
    int fd = __atomic_load_n(&trace_out_fd, __ATOMIC_RELAXED);
    if (fd < 0)
        return;
    int saved = errno;
    ssize_t n;
    do
        n = trace_real_send(fd, r, TRACE_REC_SIZE(r), MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        __atomic_store_n(&trace_out_fd, -1, __ATOMIC_RELAXED);
    errno = saved;
}

void trace_emit_diag(int diag, int fd, int a1, int64_t asked, int64_t ret, int other_tid)
{
    struct trace_rec r;
    trace_rec_init(&r, TR_DIAG, fd);
    r.diag = (uint16_t)diag;
    r.a1 = a1;
    r.asked = asked;
    r.ret = ret;
    r.fd2 = other_tid;
    if (fd >= 0)
        trace_rec_sockinfo(&r, fd, 1);
    trace_emit(&r);
}
