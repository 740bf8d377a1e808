/*
 * trace/report.c - records, filled in and sent to `sock trace`.
 *
 * Records go out as SOCK_SEQPACKET messages, sent with MSG_NOSIGNAL so that
 * a parent gone away can never raise SIGPIPE in the program; if the record
 * socket fails, tracing stops quietly and the program runs on.
 *
 * A data step that moved its bytes (the bulk of any run) is not sent on its
 * own: its record joins its thread's batch, and the batch goes out in one
 * message with the next record that is sent at once (a lifecycle step, a
 * failed or partial data step, a diagnosis), when it is nearly full, before
 * the thread may wait for long (trace_flush from the wrappers of blocking
 * calls), at fork, exec and exit.  So a data step costs no system call
 * but the program's own; the records of one thread stay in order.
 */
#include "trace.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/mman.h>
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

/* The records a thread holds back.  busy is set while the thread changes
 * it, so that a wrapper called from a signal handler that interrupted it
 * sends its record alone instead of corrupting the batch. */
struct batch {
    size_t len;
    int busy;
    uint8_t buf[TRACE_BATCH_MAX];
};

static __thread struct batch *my_batch;
static pthread_key_t batch_key;
static int batch_key_ok;

/* Send len bytes as one message; on failure, stop tracing.  Keeps errno. */
static void send_message(const void *buf, size_t len)
{
    int fd = __atomic_load_n(&trace_out_fd, __ATOMIC_RELAXED);
    if (fd < 0 || len == 0)
        return;
    int saved = errno;
    ssize_t n;
    do
        n = trace_real_send(fd, buf, len, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        __atomic_store_n(&trace_out_fd, -1, __ATOMIC_RELAXED);
    errno = saved;
}

static void batch_send(struct batch *b)
{
    if (b->len) {
        send_message(b->buf, b->len);
        b->len = 0;
    }
}

/* A thread ends: what it held goes out, and its batch is freed. */
static void batch_end(void *arg)
{
    struct batch *b = arg;
    if (my_batch == b)
        my_batch = NULL;
    batch_send(b);
    munmap(b, sizeof *b);
}

void trace_report_init(void)
{
    batch_key_ok = pthread_key_create(&batch_key, batch_end) == 0;
}

/* The thread's batch, made on its first data step (mmap rather than
 * malloc: the program's allocator is its own business).  NULL when not
 * tracing, or when there is no memory: records then go out one by one. */
static struct batch *batch_get(void)
{
    if (my_batch || !batch_key_ok || __atomic_load_n(&trace_out_fd, __ATOMIC_RELAXED) < 0)
        return my_batch;
    int saved = errno;
    void *m = mmap(NULL, sizeof(struct batch), PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m != MAP_FAILED) {
        my_batch = m;
        pthread_setspecific(batch_key, m);
    }
    errno = saved;
    return my_batch;
}

void trace_flush(void)
{
    struct batch *b = my_batch;
    if (b && b->len && !b->busy) {
        b->busy = 1;
        batch_send(b);
        b->busy = 0;
    }
}

int trace_pending(void)
{
    return my_batch && my_batch->len;
}

void trace_report_forked(void)
{
    cached_tid = 0;
    cached_pid = 0;
    /* The batch was sent before fork; a copy must never go out twice. */
    if (my_batch)
        my_batch->len = 0;
}

/* Add r to the thread's batch; send the batch now if now, or if another
 * record might no longer fit. */
static void batch_add(struct trace_rec *r, int now)
{
    struct batch *b = batch_get();
    if (!b || b->busy) {
        send_message(r, TRACE_REC_SIZE(r));
        return;
    }
    b->busy = 1;
    size_t size = TRACE_REC_SIZE(r), wire = TRACE_REC_WIRE(r);
    if (b->len + wire > sizeof b->buf)
        batch_send(b);
    memcpy(b->buf + b->len, r, size);
    memset(b->buf + b->len + size, 0, wire - size);
    b->len += wire;
    if (now || sizeof b->buf - b->len < sizeof *r)
        batch_send(b);
    b->busy = 0;
}

void trace_emit(struct trace_rec *r)
{
    if (__atomic_load_n(&trace_out_fd, __ATOMIC_RELAXED) >= 0)
        batch_add(r, 1);
}

void trace_emit_data(struct trace_rec *r)
{
    if (__atomic_load_n(&trace_out_fd, __ATOMIC_RELAXED) >= 0)
        batch_add(r, 0);
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
