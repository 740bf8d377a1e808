/*
 * error.c - codes, their texts, and the per-socket failure detail.
 */
#include "internal.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

SOCK_API const char *sock_strerror(int code)
{
    switch (code) {
    case 0:
        return "Success";
    case SOCK_EOF:
        return "End of stream: the peer closed the connection before all the data arrived";
    case SOCK_ERESOLVE:
        return "Name could not be resolved";
    case SOCK_ECLOSED:
        return "Socket was shut down or closed locally";
    case SOCK_END:
        return "End of stream between messages: the peer sent no more";
    case SOCK_ETLS:
        return "Security layer (TLS) failure";
    case SOCK_ETRUNCATED:
        return "The peer ended the stream without closing TLS: the data may be cut short";
    default:
        break;
    }
    /* glibc's strerror() returns a constant string for every errno it knows
     * and a per-thread buffer for unknown numbers, so this is thread-safe
     * here; the texts of distinct errno values are distinct. */
    if (code == INT_MIN)
        return "Unknown error code"; /* -INT_MIN does not exist */
    return strerror(code < 0 ? -code : code);
}

/* Every extension block, so that none is ever unreachable (see internal.h). */
static struct sock__ext *all_ext;
static pthread_mutex_t all_ext_lock = PTHREAD_MUTEX_INITIALIZER;

struct sock__ext *sock__ext(sock_t *s)
{
    struct sock__ext *ext = __atomic_load_n(&s->priv_ext, __ATOMIC_ACQUIRE);
    if (ext)
        return ext;
    struct sock__ext *fresh = calloc(1, sizeof *fresh);
    if (!fresh)
        return NULL;
    fresh->unix_mode = -1;
    fresh->attempt_delay_ms = SOCK__DELAY_UNSET;
    struct sock__ext *expected = NULL;
    if (!__atomic_compare_exchange_n(&s->priv_ext, &expected, fresh, 0, __ATOMIC_ACQ_REL,
                                     __ATOMIC_ACQUIRE)) {
        free(fresh); /* another thread of the same socket was first */
        return expected;
    }
    pthread_mutex_lock(&all_ext_lock);
    fresh->next = all_ext;
    if (all_ext)
        all_ext->prev = fresh;
    all_ext = fresh;
    pthread_mutex_unlock(&all_ext_lock);
    return fresh;
}

void sock__ext_free(sock_t *s)
{
    struct sock__ext *ext = __atomic_exchange_n(&s->priv_ext, NULL, __ATOMIC_ACQ_REL);
    if (!ext)
        return;
    pthread_mutex_lock(&all_ext_lock);
    if (ext->prev)
        ext->prev->next = ext->next;
    else
        all_ext = ext->next;
    if (ext->next)
        ext->next->prev = ext->prev;
    pthread_mutex_unlock(&all_ext_lock);
    free(ext->unix_path);
    free(ext);
}

SOCK_API const char *sock_error(const sock_t *s)
{
    if (!s)
        return "invalid argument: NULL socket";
    const struct sock__ext *ext = __atomic_load_n(&s->priv_ext, __ATOMIC_ACQUIRE);
    if (!ext)
        return (sock__flags(s) & SOCK__ERR_LOST) ? "(the failure's text was lost: out of memory)"
                                                 : "";
    int slot = __atomic_load_n(&ext->err_slot, __ATOMIC_ACQUIRE);
    return ext->err[slot >= 0 && slot < 3 ? slot : 0];
}

/* Mark a truncated message with "..." so that a reader knows text is
 * missing rather than trusting a cut-off address list. */
static void mark_truncated(char *buf, size_t size, int wanted)
{
    if (wanted >= 0 && (size_t)wanted >= size && size > 4)
        memcpy(buf + size - 4, "...", 4);
}

static int fail_va(sock_t *s, int side, int code, int with_reason, const char *fmt, va_list ap)
{
    struct sock__ext *ext = sock__ext(s);
    if (!ext) {
        sock__set_flags(s, SOCK__ERR_LOST);
        return code;
    }
    char *buf = ext->err[side];
    int n = vsnprintf(buf, SOCK_ERRLEN, fmt, ap);
    if (n < 0)
        buf[0] = '\0', n = 0;
    if (with_reason && (size_t)n < SOCK_ERRLEN)
        n += snprintf(buf + n, SOCK_ERRLEN - (size_t)n, ": %s", sock_strerror(code));
    mark_truncated(buf, SOCK_ERRLEN, n);
    __atomic_store_n(&ext->err_slot, side, __ATOMIC_RELEASE);
    return code;
}

int sock__fail(sock_t *s, int side, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fail_va(s, side, code, 1, fmt, ap);
    va_end(ap);
    return code;
}

int sock__failf(sock_t *s, int side, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fail_va(s, side, code, 0, fmt, ap);
    va_end(ap);
    return code;
}

int sock__fail_unusable(sock_t *s, int side, const char *step)
{
    if (sock__flags(s) & SOCK__CLOSED)
        return sock__fail(s, side, SOCK_ECLOSED, "%s: socket already closed", step);
    return sock__fail(s, side, -ENOTCONN, "%s: socket is not connected", step);
}

int sock__side_has_error(const sock_t *s, int side)
{
    const struct sock__ext *ext = __atomic_load_n(&s->priv_ext, __ATOMIC_ACQUIRE);
    return ext && ext->err[side][0] != '\0';
}

void sock__attempt_add(struct sock__attempts *a, const char *addr, int code)
{
    size_t room = sizeof a->text - a->len;
    int n = snprintf(a->text + a->len, room, "%s%s %s", a->count ? "; " : "", addr,
                     sock_strerror(code));
    if (n < 0)
        n = 0;
    if ((size_t)n >= room) {
        mark_truncated(a->text, sizeof a->text, (int)sizeof a->text);
        a->len = sizeof a->text - 1;
    } else {
        a->len += (size_t)n;
    }
    a->count++;
    a->last_code = code;
    snprintf(a->last_addr, sizeof a->last_addr, "%s", addr);
}

int sock__attempt_fail(sock_t *s, const struct sock__attempts *a, const char *step,
                       const char *host, const char *service)
{
    char target[SOCK_ERRLEN / 2];
    sock__format_target(host, service, target, sizeof target);
    return sock__attempt_fail_target(s, a, step, target);
}

int sock__attempt_fail_target(sock_t *s, const struct sock__attempts *a, const char *step,
                              const char *target)
{
    /* With a single attempt at the very address the caller wrote, naming
     * it twice ("connect 127.0.0.1:80: 127.0.0.1:80 Connection refused")
     * only adds noise. */
    if (a->count == 1 && strcmp(a->last_addr, target) == 0)
        return sock__fail(s, SOCK__SIDE_SEND, a->last_code, "%s %s", step, target);
    return sock__failf(s, SOCK__SIDE_SEND, a->last_code, "%s %s: %s", step, target, a->text);
}
