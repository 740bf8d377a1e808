/*
 * wait.c - waiting for a descriptor with an absolute deadline.
 *
 * Timeouts are implemented with poll() and a deadline fixed when the public
 * call starts, not with SO_RCVTIMEO/SO_SNDTIMEO: those restart on every
 * syscall, so a signal every 100 ms or a trickle of bytes would stretch a
 * 1-second timeout forever, and they do not apply to connect().
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <time.h>

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t sock__deadline(int timeout_ms)
{
    if (timeout_ms < 0)
        return -1;
    return now_ns() + (int64_t)timeout_ms * 1000000;
}

int sock__ms_left(int64_t deadline)
{
    if (deadline < 0)
        return -1;
    int64_t left = deadline - now_ns();
    if (left <= 0)
        return 0;
    /* Round up: a wait must not give up before the deadline. */
    int64_t left_ms = (left + 999999) / 1000000;
    return left_ms > 1000000000 ? 1000000000 : (int)left_ms;
}

int sock__wait(int fd, short events, int64_t deadline)
{
    for (;;) {
        int ms = sock__ms_left(deadline);
        if (ms == 0)
            return -ETIMEDOUT;
        struct pollfd pfd = {.fd = fd, .events = events};
        int r = poll(&pfd, 1, ms);
        if (r > 0)
            return 0;
        if (r < 0 && errno != EINTR)
            return -errno;
        /* r == 0 (time out) or EINTR: loop; the deadline check above
         * decides whether time is really up. */
    }
}

int sock__set_nonblock(int fd, int on)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0)
        return -errno;
    int want = on ? fl | O_NONBLOCK : fl & ~O_NONBLOCK;
    if (want != fl && fcntl(fd, F_SETFL, want) < 0)
        return -errno;
    return 0;
}

/* ---- SIGPIPE ------------------------------------------------------------ */

/* splice() into a socket, or into a pipe whose reader is gone, raises
 * SIGPIPE (MSG_NOSIGNAL cannot be passed to it), and the library never
 * touches the process's signal handling.  So SIGPIPE is blocked in the
 * calling thread around such a splice, and one that the splice caused is
 * taken back before the mask is restored: the caller sees -EPIPE.  Two
 * system calls in the common case; a SIGPIPE that was pending before stays
 * pending. */
void sock__sigpipe_block(struct sock__sigpipe_guard *g)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &set, &g->old);
}

void sock__sigpipe_restore(struct sock__sigpipe_guard *g, int caused)
{
    /* If SIGPIPE was blocked already, one pending now may be the
     * caller's own: leave it. */
    if (caused && !sigismember(&g->old, SIGPIPE)) {
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, SIGPIPE);
        const struct timespec now = {0, 0};
        while (sigtimedwait(&set, NULL, &now) < 0 && errno == EINTR) {
        }
    }
    pthread_sigmask(SIG_SETMASK, &g->old, NULL);
}
