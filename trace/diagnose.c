/*
 * trace/diagnose.c - the course's mistakes that only the process can see.
 *
 * Each check runs at the step where the mistake happens and sends a
 * TR_DIAG record; the parent words it.  A check that could fire on a
 * correct program is not here: every rule below needs the mistake itself
 * to have happened (bytes really left unsent, a thread really inside
 * accept, two calls really overlapping), never a guess about intent.
 */
#include "trace.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/sockios.h>
#include <string.h>
#include <sys/ioctl.h>

/* Diagnoses found under the lock, sent after it is released (sending may
 * block on the parent). */
struct found {
    int n;
    struct { int diag, a1, tid; int64_t asked, ret; } d[4];
};

static void found_add(struct found *f, int diag, int a1, int64_t asked, int64_t ret, int tid)
{
    if (f->n < 4) {
        f->d[f->n].diag = diag;
        f->d[f->n].a1 = a1;
        f->d[f->n].asked = asked;
        f->d[f->n].ret = ret;
        f->d[f->n].tid = tid;
        f->n++;
    }
}

static void found_emit(const struct found *f, int fd)
{
    for (int i = 0; i < f->n; i++)
        trace_emit_diag(f->d[i].diag, fd, f->d[i].a1, f->d[i].asked, f->d[i].ret, f->d[i].tid);
}

/* Do the first bytes of iov repeat the bytes the last partial send left
 * behind?  Then this send continues it, from the same buffer or a copy. */
static int continues(const struct fd_state *st, const struct iovec *iov, int iovcnt, size_t total)
{
    size_t want = (size_t)st->pend_n < total ? (size_t)st->pend_n : total;
    size_t got = 0;
    for (int i = 0; i < iovcnt && got < want; i++) {
        size_t k = iov[i].iov_len < want - got ? iov[i].iov_len : want - got;
        if (k && memcmp(st->pend_bytes + got, iov[i].iov_base, k) != 0)
            return 0;
        got += k;
    }
    return 1;
}

/* Keep the bytes of iov from offset skip on: the part not sent. */
static void keep_tail(struct fd_state *st, const struct iovec *iov, int iovcnt, size_t skip)
{
    st->pend_n = 0;
    for (int i = 0; i < iovcnt && st->pend_n < TRACE_PEND_BYTES; i++) {
        size_t len = iov[i].iov_len;
        if (skip >= len) {
            skip -= len;
            continue;
        }
        size_t k = len - skip;
        if (k > (size_t)(TRACE_PEND_BYTES - st->pend_n))
            k = (size_t)(TRACE_PEND_BYTES - st->pend_n);
        memcpy(st->pend_bytes + st->pend_n, (const char *)iov[i].iov_base + skip, k);
        st->pend_n += (int)k;
        skip = 0;
    }
}

static int is_retry(int err)
{
    return err == EAGAIN || err == EWOULDBLOCK || err == EINTR;
}

void trace_diag_send(int fd, const struct iovec *iov, int iovcnt, size_t total, ssize_t n,
                     int err)
{
    struct fd_state *st = trace_fd(fd);
    struct found f = {0};
    if (!st || total == 0)
        return;
    /* The common case, a send that moved everything with nothing pending,
     * changes nothing: no lock.  pend_left only changes under the lock, and
     * only a second thread sending at once (itself a mistake) could race. */
    if (n >= 0 && (size_t)n == total && __atomic_load_n(&st->pend_left, __ATOMIC_RELAXED) == 0)
        return;
    pthread_mutex_lock(&trace_lock);
    int continuing = 0;
    if (st->pend_left > 0) {
        if (n < 0 && !is_retry(err)) {
            /* The connection broke: another story than a lost tail. */
            __atomic_store_n(&st->pend_left, 0, __ATOMIC_RELAXED);
        } else if (continues(st, iov, iovcnt, total)) {
            continuing = 1;
        } else {
            if (!st->reported[DG_PARTIAL_SEND]++)
                found_add(&f, DG_PARTIAL_SEND, DG_AT_SEND, st->pend_asked,
                          st->pend_asked - st->pend_left, 0);
            __atomic_store_n(&st->pend_left, 0, __ATOMIC_RELAXED);
        }
    }
    if (n >= 0 && (size_t)n < total) {
        if (!continuing)
            st->pend_asked = (int64_t)total;
        __atomic_store_n(&st->pend_left, (int64_t)(total - (size_t)n), __ATOMIC_RELAXED);
        keep_tail(st, iov, iovcnt, (size_t)n);
    } else if (n >= 0) {
        __atomic_store_n(&st->pend_left, 0, __ATOMIC_RELAXED);
    }
    pthread_mutex_unlock(&trace_lock);
    found_emit(&f, fd);
}

void trace_diag_recv(int fd, size_t asked, ssize_t n)
{
    struct fd_state *st = trace_fd(fd);
    struct found f = {0};
    if (!st || asked == 0 || n != 0)
        return;
    pthread_mutex_lock(&trace_lock);
    if (++st->zeros == TRACE_EOF_REPEATS && !st->reported[DG_RECV_AFTER_EOF]++)
        found_add(&f, DG_RECV_AFTER_EOF, 0, st->zeros, 0, 0);
    pthread_mutex_unlock(&trace_lock);
    found_emit(&f, fd);
}

void trace_diag_enter(int fd, int dir)
{
    struct fd_state *st = trace_fd(fd);
    if (!st)
        return;
    int me = trace_tid();
    int before = atomic_fetch_add(&st->inside[dir], 1);
    int other = atomic_exchange(&st->inside_tid[dir], me);
    /* Two threads in accept at once is a normal pre-threaded server; two
     * sending (or two receiving) mix their bytes. */
    if (dir == IO_ACCEPT || before == 0 || other == me || other == 0)
        return;
    struct found f = {0};
    pthread_mutex_lock(&trace_lock);
    if (!st->reported[DG_CONCURRENT]++)
        found_add(&f, DG_CONCURRENT, dir == IO_SEND ? 1 : 2, 0, 0, other);
    pthread_mutex_unlock(&trace_lock);
    found_emit(&f, fd);
}

void trace_diag_leave(int fd, int dir)
{
    struct fd_state *st = trace_fd(fd);
    if (st)
        atomic_fetch_sub(&st->inside[dir], 1);
}

/* Bytes received and not read on fd, 0 if none or unknown. */
static int unread_bytes(int fd)
{
    int n = 0, saved = errno;
    if (ioctl(fd, SIOCINQ, &n) != 0 || n < 0)
        n = 0;
    errno = saved;
    return n;
}

/* The checks of a socket that goes away (closed, or left at exit). */
static int check_end(int fd, struct fd_state *st, int at, struct found *f)
{
    int me = trace_tid(), unread = 0;
    if (at == DG_AT_CLOSE && !st->shut_rd) {
        static const int dirs[] = {IO_ACCEPT, IO_RECV};
        for (int i = 0; i < 2; i++) {
            int d = dirs[i];
            int tid = atomic_load(&st->inside_tid[d]);
            if (atomic_load(&st->inside[d]) > 0 && tid != me &&
                !st->reported[DG_CLOSE_BLOCKED]++)
                found_add(f, DG_CLOSE_BLOCKED, d == IO_ACCEPT ? 1 : 2, 0, 0, tid);
        }
    }
    if (st->pend_left > 0 && !st->reported[DG_PARTIAL_SEND]++)
        found_add(f, DG_PARTIAL_SEND, at, st->pend_asked, st->pend_asked - st->pend_left, 0);
    /* A descriptor another process also holds does not reset anything
     * when this one closes it; SO_LINGER 0 asks for the reset. */
    if (!st->shared && !st->linger0) {
        unread = unread_bytes(fd);
        if (unread > 0 && !st->reported[DG_UNREAD_CLOSE]++)
            found_add(f, DG_UNREAD_CLOSE, at, unread, 0, 0);
    }
    return unread;
}

int trace_diag_close(int fd)
{
    struct fd_state *st = trace_fd(fd);
    struct found f = {0};
    if (!st)
        return 0;
    pthread_mutex_lock(&trace_lock);
    int unread = check_end(fd, st, DG_AT_CLOSE, &f);
    pthread_mutex_unlock(&trace_lock);
    found_emit(&f, fd);
    return unread;
}

void trace_diag_exit(void)
{
    for (int fd = 0; fd < TRACE_MAX_FD; fd++) {
        struct fd_state *st = trace_fd(fd);
        if (__atomic_load_n(&st->kind, __ATOMIC_RELAXED) != FK_TCP || fd == trace_out_fd)
            continue;
        int saved = errno;
        int open = fcntl(fd, F_GETFD) >= 0;
        errno = saved;
        if (!open)
            continue;
        struct found f = {0};
        pthread_mutex_lock(&trace_lock);
        check_end(fd, st, DG_AT_EXIT, &f);
        found_add(&f, DG_LEFT_OPEN, 0, 0, 0, 0);
        pthread_mutex_unlock(&trace_lock);
        found_emit(&f, fd);
    }
}
