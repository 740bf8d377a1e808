/*
 * util.c - helpers shared by the libsock unit tests (see util.h).
 */
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

const char *const loopbacks[2] = {"127.0.0.1", "::1"};

void port_text(const sock_t *s, char port[8])
{
    int p = sock_local_port(s);
    cr_assert_gt(p, 0, "sock_local_port: %d (%s)", p, sock_strerror(p));
    snprintf(port, 8, "%d", p);
}

void listener_on(sock_t *acceptor, const char *host, char port[8])
{
    sock_init(acceptor);
    expect_ok(acceptor, sock_bind(acceptor, host, "0"));
    expect_ok(acceptor, sock_listen(acceptor, 16));
    port_text(acceptor, port);
}

void pair_with_acceptor(const char *host, sock_t *acceptor, sock_t *client, sock_t *server)
{
    char port[8];
    listener_on(acceptor, host, port);
    sock_init(client);
    expect_ok(client, sock_connect(client, host, port));
    expect_ok(acceptor, sock_accept(acceptor, server));
}

void pair_on(const char *host, sock_t *client, sock_t *server)
{
    sock_t acceptor;
    pair_with_acceptor(host, &acceptor, client, server);
    expect_ok(&acceptor, sock_close(&acceptor));
}

void closed_port(const char *host, char port[8])
{
    sock_t s;
    sock_init(&s);
    expect_ok(&s, sock_bind(&s, host, "0"));
    port_text(&s, port);
    expect_ok(&s, sock_close(&s));
}

int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void sleep_ms(int ms)
{
    /* Signals may cut a sleep short; sleep the rest so that helper pauses
     * mean what they say. */
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    cr_assert_not_null(d, "opendir /proc/self/fd: %s", strerror(errno));
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n - 1; /* the directory's own descriptor */
}

void fill_pattern(void *buf, size_t len, uint64_t offset)
{
    unsigned char *p = buf;
    for (size_t i = 0; i < len; i++)
        p[i] = pattern_byte(offset + i);
}

size_t check_pattern(const void *buf, size_t len, uint64_t offset)
{
    const unsigned char *p = buf;
    for (size_t i = 0; i < len; i++)
        if (p[i] != pattern_byte(offset + i))
            return i;
    return len;
}

pthread_t spawn(void *(*fn)(void *), void *arg)
{
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGALRM);
    pthread_sigmask(SIG_BLOCK, &block, &old);
    pthread_t t;
    int rc = pthread_create(&t, NULL, fn, arg);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    cr_assert_eq(rc, 0, "pthread_create: %s", strerror(rc));
    return t;
}

void join_within(pthread_t t, int ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L)
        ts.tv_sec++, ts.tv_nsec -= 1000000000L;
    int rc = pthread_timedjoin_np(t, NULL, &ts);
    cr_assert_eq(rc, 0, "a helper thread did not end within %d ms: %s", ms, strerror(rc));
}

void shrink_buffers(const sock_t *s, int bytes)
{
    int fd = sock_fd(s);
    cr_assert_geq(fd, 0);
    cr_assert_eq(setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bytes, sizeof bytes), 0, "SO_SNDBUF: %s",
                 strerror(errno));
    cr_assert_eq(setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof bytes), 0, "SO_RCVBUF: %s",
                 strerror(errno));
}

volatile sig_atomic_t alarms_seen;

static void on_alarm(int sig)
{
    (void)sig;
    alarms_seen++;
}

void alarms_start(int period_ms)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; /* no SA_RESTART: every blocking call sees EINTR */
    cr_assert_eq(sigaction(SIGALRM, &sa, NULL), 0);
    struct itimerval it = {{period_ms / 1000, (period_ms % 1000) * 1000},
                           {period_ms / 1000, (period_ms % 1000) * 1000}};
    cr_assert_eq(setitimer(ITIMER_REAL, &it, NULL), 0, "setitimer: %s", strerror(errno));
}

void alarms_stop(void)
{
    struct itimerval off;
    memset(&off, 0, sizeof off);
    setitimer(ITIMER_REAL, &off, NULL);
    signal(SIGALRM, SIG_IGN);
}

int is_v6(const char *host)
{
    return strchr(host, ':') != NULL;
}

void *drain_thread(void *arg)
{
    struct drain *d = arg;
    static __thread unsigned char buf[1 << 16];
    size_t chunk = d->chunk && d->chunk <= sizeof buf ? d->chunk : sizeof buf;
    d->total = 0;
    d->first_bad = SIZE_MAX;
    if (d->delay_ms)
        sleep_ms(d->delay_ms);
    for (;;) {
        ssize_t n = sock_recv(d->s, buf, chunk);
        d->last = n;
        if (n <= 0)
            break;
        size_t bad = check_pattern(buf, (size_t)n, d->total);
        if (bad < (size_t)n && d->first_bad == SIZE_MAX)
            d->first_bad = d->total + bad;
        d->total += (size_t)n;
    }
    return NULL;
}

void enter_blackhole_netns(void)
{
    if (unshare(CLONE_NEWNET) < 0)
        cr_skip_test("unshare(CLONE_NEWNET): %s (needs root)", strerror(errno));
    loopback_up();
    int rc = system("nft -f - >/dev/null 2>&1 <<'NFT'\n"
                    "table inet unit_blackhole {\n"
                    "  chain input {\n"
                    "    type filter hook input priority 0;\n"
                    "    tcp dport " BLACKHOLE_PORT " drop\n"
                    "  }\n"
                    "}\n"
                    "NFT\n");
    if (rc != 0)
        cr_skip_test("nft could not install the drop rule (status %d)", rc);
}
