/*
 * poller.c - readiness of many descriptors at once: epoll behind a small
 * interface in the style of mio, so that a kqueue port stays possible.
 *
 * The poller does not own what it watches: it keeps no table of its own,
 * only the kernel's interest list, with the caller's pointer as the data
 * of each entry.  So it costs nothing per registration in user memory, and
 * a server's per-connection memory is what the server itself keeps.
 */
#include "internal.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

struct sock_poller {
    int ep;     /* the epoll set */
    int wake;   /* eventfd that sock_poller_wake() writes */
};

/* The wake descriptor's entry carries this pointer, which no caller's
 * pointer can equal. */
static char wake_tag;

SOCK_API int sock_poller_open(sock_poller_t **out)
{
    if (!out)
        return -EINVAL;
    *out = NULL;
    sock_poller_t *p = calloc(1, sizeof *p);
    if (!p)
        return -ENOMEM;
    p->ep = epoll_create1(EPOLL_CLOEXEC);
    p->wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &wake_tag};
    if (p->ep < 0 || p->wake < 0 || epoll_ctl(p->ep, EPOLL_CTL_ADD, p->wake, &ev) < 0) {
        int e = errno;
        sock_poller_close(p);
        return -e;
    }
    *out = p;
    return 0;
}

void sock_poller_close(sock_poller_t *p)
{
    if (!p)
        return;
    if (p->ep >= 0)
        close(p->ep);
    if (p->wake >= 0)
        close(p->wake);
    free(p);
}

/* Our interest bits to epoll's.  EPOLLRDHUP (the peer's FIN) only with
 * reading: it stays set once the peer has ended its stream, so a
 * level-triggered wait for room to write would report it at every wait and
 * spin while the peer, half-closed, takes nothing.  A full hang-up and an
 * error are always reported (epoll does so whatever is asked). */
static uint32_t to_epoll(unsigned events)
{
    uint32_t e = 0;
    if (events & SOCK_READABLE)
        e |= EPOLLIN | EPOLLRDHUP;
    if (events & SOCK_WRITABLE)
        e |= EPOLLOUT;
    if (events & SOCK_EDGE)
        e |= EPOLLET;
    if (events & SOCK_ONESHOT)
        e |= EPOLLONESHOT;
    return e;
}

static unsigned from_epoll(uint32_t e)
{
    unsigned r = 0;
    if (e & (EPOLLIN | EPOLLPRI))
        r |= SOCK_READABLE;
    if (e & EPOLLOUT)
        r |= SOCK_WRITABLE;
    /* A hang-up or an error is reported with both directions ready, so
     * that a caller that only reads or only writes learns it from the
     * result of its next call (0, -ECONNRESET, -EPIPE). */
    if (e & (EPOLLHUP | EPOLLRDHUP))
        r |= SOCK_HUP | SOCK_READABLE;
    if (e & EPOLLERR)
        r |= SOCK_ERROR | SOCK_READABLE | SOCK_WRITABLE;
    return r;
}

static int ctl(sock_poller_t *p, int op, int fd, unsigned events, void *user)
{
    if (!p || fd < 0)
        return fd < 0 ? -EBADF : -EINVAL;
    if (op != EPOLL_CTL_DEL && (events & ~SOCK__POLL_INTEREST))
        return -EINVAL;
    struct epoll_event ev = {.events = to_epoll(events), .data.ptr = user};
    return epoll_ctl(p->ep, op, fd, &ev) < 0 ? -errno : 0;
}

SOCK_API int sock_poller_add_fd(sock_poller_t *p, int fd, unsigned events, void *user)
{
    return ctl(p, EPOLL_CTL_ADD, fd, events, user);
}

SOCK_API int sock_poller_modify_fd(sock_poller_t *p, int fd, unsigned events, void *user)
{
    return ctl(p, EPOLL_CTL_MOD, fd, events, user);
}

SOCK_API int sock_poller_remove_fd(sock_poller_t *p, int fd)
{
    return ctl(p, EPOLL_CTL_DEL, fd, 0, NULL);
}

/* The interest as the trace writes it. */
static const char *interest_text(unsigned events)
{
    static const char *const names[] = {"none", "readable", "writable", "readable|writable"};
    return names[events & (SOCK_READABLE | SOCK_WRITABLE)];
}

/* The sock_t forms: the descriptor's, plus a trace step. */
static int ctl_sock(sock_poller_t *p, int op, const sock_t *s, unsigned events, void *user)
{
    if (!s)
        return -EINVAL;
    int rc = ctl(p, op, s->priv_fd, events, user);
    static const char *const steps[] = {[EPOLL_CTL_ADD] = "poller_add",
                                        [EPOLL_CTL_DEL] = "poller_remove",
                                        [EPOLL_CTL_MOD] = "poller_modify"};
    SOCK__TRACE(s, steps[op], rc, NULL, "%s%s", interest_text(events),
                events & SOCK_EDGE ? "|edge" : "");
    return rc;
}

SOCK_API int sock_poller_add(sock_poller_t *p, const sock_t *s, unsigned events, void *user)
{
    return ctl_sock(p, EPOLL_CTL_ADD, s, events, user);
}

SOCK_API int sock_poller_modify(sock_poller_t *p, const sock_t *s, unsigned events, void *user)
{
    return ctl_sock(p, EPOLL_CTL_MOD, s, events, user);
}

SOCK_API int sock_poller_remove(sock_poller_t *p, const sock_t *s)
{
    return ctl_sock(p, EPOLL_CTL_DEL, s, 0, NULL);
}

/* Up to this many kernel events per wait; a caller asking for more gets
 * them over several waits, in turn. */
#define POLLER_BATCH 256

SOCK_API int sock_poller_wait(sock_poller_t *p, sock_event_t *events, int max, int timeout_ms)
{
    if (!p || !events || max <= 0)
        return -EINVAL;
    struct epoll_event ev[POLLER_BATCH];
    int want = max < POLLER_BATCH ? max : POLLER_BATCH;
    /* EINTR is retried with the time that is left, as everywhere in the
     * library; a signal handler that must end the wait calls
     * sock_poller_wake() (async-signal-safe). */
    int64_t deadline = sock__deadline(timeout_ms);
    int n;
    for (;;) {
        n = epoll_wait(p->ep, ev, want, sock__ms_left(deadline));
        if (n >= 0 || errno != EINTR)
            break;
    }
    if (n < 0)
        return -errno;
    int out = 0;
    for (int i = 0; i < n; i++) {
        if (ev[i].data.ptr == &wake_tag) {
            uint64_t count;
            ssize_t r = read(p->wake, &count, sizeof count); /* reset the wake-up */
            (void)r;
            continue;
        }
        events[out].user = ev[i].data.ptr;
        events[out].events = from_epoll(ev[i].events);
        out++;
    }
    return out;
}

SOCK_API int sock_poller_wake(sock_poller_t *p)
{
    if (!p)
        return -EINVAL;
    uint64_t one = 1;
    /* EAGAIN means the counter is already non-zero: a wake-up is pending,
     * which is all we want. */
    if (write(p->wake, &one, sizeof one) < 0 && errno != EAGAIN)
        return -errno;
    return 0;
}
