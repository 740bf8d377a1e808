/*
 * trace.c - the step-by-step trace: one line per lifecycle step.
 */
#include "internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int sock__trace_on;
static sock_trace_fn trace_fn;
static void *trace_user;

/* Events may be built by programs too (a tool reporting its own steps),
 * so a field left NULL reads as empty rather than crashing printf. */
static const char *or_empty(const char *text)
{
    return text ? text : "";
}

SOCK_API int sock_trace_format(const sock_trace_event_t *ev, char *buf, size_t len)
{
    if (!ev)
        return -EINVAL;
    /* Like snprintf, a NULL buffer of length 0 only measures; it must then
     * never be offset (arithmetic on NULL is undefined). */
    if (!buf)
        len = 0;
    char created[32] = "";
    if (ev->created)
        snprintf(created, sizeof created, " -> sock#%u", ev->created->priv_id);
    int n = snprintf(buf, len, "sock: sock#%u %s(%s) = %lld%s", ev->id, or_empty(ev->step),
                     or_empty(ev->args), ev->result, created);
    if (n < 0)
        return n;
    /* Append the addresses and the error only when there is something to
     * say, so that the common line stays short. */
    const char *extra[][2] = {{"fd", NULL}, {"local", ev->local}, {"peer", ev->peer},
                              {"error", ev->error}};
    char fd[16];
    snprintf(fd, sizeof fd, "%d", ev->fd);
    extra[0][1] = ev->fd >= 0 ? fd : "";
    for (size_t i = 0; i < sizeof extra / sizeof extra[0]; i++) {
        if (!extra[i][1] || !*extra[i][1])
            continue;
        size_t used = (size_t)n < len ? (size_t)n : len;
        int k = snprintf(len ? buf + used : NULL, len - used, "  %s %s", extra[i][0], extra[i][1]);
        if (k < 0)
            return k;
        n += k;
    }
    return n;
}

/* The SOCK_TRACE=1 callback: one write() per line, so lines from several
 * threads or processes never interleave. */
SOCK_API void sock_trace_to_stderr(const sock_trace_event_t *ev, void *user)
{
    (void)user;
    char line[1024];
    int n = sock_trace_format(ev, line, sizeof line - 1);
    if (n < 0)
        return;
    if ((size_t)n > sizeof line - 2)
        n = (int)sizeof line - 2;
    line[n++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, (size_t)n);
    (void)w;
}

/* Read SOCK_TRACE once, when the library is loaded, so that the hot path
 * never calls getenv(). */
__attribute__((constructor)) static void trace_from_env(void)
{
    const char *v = getenv("SOCK_TRACE");
    if (v && *v && strcmp(v, "0") != 0) {
        trace_fn = sock_trace_to_stderr;
        __atomic_store_n(&sock__trace_on, 1, __ATOMIC_RELEASE);
    }
}

SOCK_API void sock_set_trace(sock_trace_fn fn, void *user)
{
    trace_fn = fn;
    trace_user = user;
    __atomic_store_n(&sock__trace_on, fn != NULL, __ATOMIC_RELEASE);
}

void sock__trace(const sock_t *s, const char *step, long long result, const sock_t *created,
                 const char *fmt, ...)
{
    sock_trace_fn fn = trace_fn;
    if (!fn)
        return;
    char args[160], local[SOCK_ADDRSTRLEN] = "", peer[SOCK_ADDRSTRLEN] = "";
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    /* For accept, the addresses that matter are the new connection's. */
    const sock_t *where = created ? created : s;
    sock_local_addr(where, local, sizeof local);
    sock_peer_addr(where, peer, sizeof peer);
    sock_trace_event_t ev = {
        .sock = s,
        .id = s->priv_id,
        .fd = created ? created->priv_fd : s->priv_fd,
        .step = step,
        .args = args,
        .result = result,
        .local = local,
        .peer = peer,
        .created = created,
        /* Would-block and "under way" are no failures and have no text. */
        .error = result < 0 && result != -EAGAIN && result != -EINPROGRESS ? sock_error(s) : "",
    };
    fn(&ev, trace_user);
}
