/*
 * trace/state.c - what the interposer knows of each descriptor.
 *
 * One entry per descriptor number, in a fixed table: no allocation on the
 * path of a call.  The fields that say what a socket is (TCP, options, a
 * pending send) change under trace_lock; the counters of threads inside a
 * call are atomics, so that a thread blocked in accept or recv holds no
 * lock while it waits.
 */
#include "trace.h"

#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

pthread_mutex_t trace_lock = PTHREAD_MUTEX_INITIALIZER;

static struct fd_state table[TRACE_MAX_FD];

struct fd_state *trace_fd(int fd)
{
    if (fd < 0 || fd >= TRACE_MAX_FD)
        return NULL;
    return &table[fd];
}

void trace_fd_reset(int fd)
{
    struct fd_state *st = trace_fd(fd);
    if (!st)
        return;
    /* The counters of threads inside a call stay: a thread blocked in
     * accept on a descriptor another thread closes is still inside. */
    pthread_mutex_lock(&trace_lock);
    __atomic_store_n(&st->kind, FK_UNKNOWN, __ATOMIC_RELAXED);
    st->reuseaddr = st->linger0 = st->shut_rd = st->shared = 0;
    st->pend_asked = 0;
    __atomic_store_n(&st->pend_left, 0, __ATOMIC_RELAXED);
    st->pend_n = 0;
    st->zeros = 0;
    memset(st->reported, 0, sizeof st->reported);
    pthread_mutex_unlock(&trace_lock);
}

int trace_is_tcp(int fd)
{
    struct fd_state *st = trace_fd(fd);
    if (!st || trace_out_fd < 0 || fd == trace_out_fd)
        return 0;
    int kind = __atomic_load_n(&st->kind, __ATOMIC_RELAXED);
    if (kind != FK_UNKNOWN)
        return kind == FK_TCP;
    /* A descriptor we did not see created (inherited, or from dup): ask
     * once.  Only TCP has protocol IPPROTO_TCP; a file or pipe answers
     * ENOTSOCK. */
    int saved = errno, proto = 0;
    socklen_t len = sizeof proto;
    int tcp = trace_real_getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &proto, &len) == 0 &&
              proto == IPPROTO_TCP;
    errno = saved;
    __atomic_store_n(&st->kind, tcp ? FK_TCP : FK_OTHER, __ATOMIC_RELAXED);
    return tcp;
}

void trace_mark_all_shared(int child)
{
    for (int fd = 0; fd < TRACE_MAX_FD; fd++) {
        if (__atomic_load_n(&table[fd].kind, __ATOMIC_RELAXED) == FK_TCP)
            table[fd].shared = 1;
        if (child)
            for (int d = 0; d < IO_DIRS; d++) {
                atomic_store(&table[fd].inside[d], 0);
                atomic_store(&table[fd].inside_tid[d], 0);
            }
    }
}
