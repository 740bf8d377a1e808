/*
 * test_relay.c - `sock relay -q -k` at scale: 10,000 clients at once
 * through one relay to `sock echo`, each with a stream of its own, and not
 * one byte lost, reordered or crossed.
 *
 * The relay holds two connections per client (and, with -q, up to two
 * pipes), the echo server one, and this process one: more than the usual
 * 20,000 descriptors, so the test raises its hard limit (as root) for
 * itself and its children.  The clients are plain non-blocking sockets
 * driven by one epoll loop, as in test_echo.c.
 */
#include "../tool/harness.h"
#include "util.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

static double now_s(void)
{
    return (double)now_ms() / 1000.0;
}

/* Descriptors each process needs for `wave` clients at once: here one a
 * client, in the echo server one, in the relay two plus the pipes it may
 * open (half its descriptors: see fwd_set_pipe_limit in relay.c). */
static long fds_limit(void)
{
    struct rlimit rl;
    cr_assert_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    cr_assert_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
    return rl.rlim_cur == RLIM_INFINITY ? 1L << 20 : (long)rl.rlim_cur;
}

/* A child whose stderr is a pipe to us and whose stdout is /dev/null (the
 * relay's record of 10,000 sessions would otherwise fill a pipe nobody
 * reads); returns its port from "listening on". */
static int start(pid_t *pid, int *err, char *const argv[])
{
    int p[2];
    cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
    int nul = open("/dev/null", O_RDWR | O_CLOEXEC);
    cr_assert_geq(nul, 0);
    *pid = spawn_fds(argv, nul, nul, p[1]);
    close(p[1]);
    close(nul);
    *err = p[0];
    char log[1024] = "";
    cr_assert(proc_wait_for(*err, "listening on", log, sizeof log, 10000), "%s: %s", argv[1], log);
    int port = parse_listening_port(log);
    cr_assert_gt(port, 0, "%s", log);
    return port;
}

static int client_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    cr_assert_geq(fd, 0, "socket: %s", strerror(errno));
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int r;
    do
        r = connect(fd, (struct sockaddr *)&a, sizeof a);
    while (r < 0 && errno == EINTR);
    cr_assert_eq(r, 0, "connect to 127.0.0.1:%d: %s", port, strerror(errno));
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    return fd;
}

static unsigned char stream_byte(long id, uint64_t off)
{
    uint64_t x = (uint64_t)id * 0x9E3779B97F4A7C15ull + off * 0xBF58476D1CE4E5B9ull;
    x ^= x >> 29;
    return (unsigned char)(x ^ (x >> 17));
}

struct flow {
    int fd;
    uint64_t sent, got, want, bad;
};

/* Drive every flow until it has sent `want` bytes and got them back,
 * checking each; at most `seconds`.  Returns the flows not finished. */
static long run_flows(struct flow *f, long n, double seconds)
{
    int ep = epoll_create1(EPOLL_CLOEXEC);
    cr_assert_geq(ep, 0);
    for (long i = 0; i < n; i++) {
        struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.u64 = (uint64_t)i};
        cr_assert_eq(epoll_ctl(ep, EPOLL_CTL_ADD, f[i].fd, &ev), 0);
    }
    long left = n;
    struct epoll_event evs[512];
    double end = now_s() + seconds;
    unsigned char buf[65536];
    while (left > 0 && now_s() < end) {
        int k = epoll_wait(ep, evs, 512, 200);
        for (int e = 0; e < k; e++) {
            long id = (long)evs[e].data.u64;
            struct flow *c = &f[id];
            if ((evs[e].events & EPOLLOUT) && c->sent < c->want) {
                size_t len = c->want - c->sent < 1024 ? (size_t)(c->want - c->sent) : 1024;
                for (size_t j = 0; j < len; j++)
                    buf[j] = stream_byte(id, c->sent + j);
                ssize_t w = send(c->fd, buf, len, MSG_NOSIGNAL);
                if (w > 0)
                    c->sent += (uint64_t)w;
                if (c->sent == c->want) {
                    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = (uint64_t)id};
                    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
                }
            }
            if (evs[e].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
                ssize_t r = recv(c->fd, buf, sizeof buf, 0);
                for (ssize_t j = 0; j < r; j++)
                    c->bad += buf[j] != stream_byte(id, c->got + (uint64_t)j);
                if (r > 0)
                    c->got += (uint64_t)r;
                if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
                    c->bad += c->want - c->got;
                    c->got = c->want;
                }
                if (c->got == c->want) {
                    left--;
                    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
                }
            }
        }
    }
    close(ep);
    return left;
}

/* The number before `label` in the counts line found in log, or -1. */
static long long count_of(const char *log, const char *label)
{
    const char *line = strstr(log, "stopped by");
    const char *at = line ? strstr(line, label) : NULL;
    if (!at)
        return -1;
    const char *p = at;
    while (p > line && p[-1] == ' ')
        p--;
    while (p > line && p[-1] >= '0' && p[-1] <= '9')
        p--;
    return strtoll(p, NULL, 10);
}

Test(relay_scale, ten_thousand_clients_through_relay_to_echo, .timeout = 300,
     .fini = kill_children)
{
    enum { N = 10000, BYTES = 4096 };
    /* All 10,000 at once where the descriptor limit allows it (the relay
     * needs 2 a client and keeps half its limit for pipes); else in waves
     * of as many as fit, each wave all at once. */
    long limit = fds_limit();
    long wave = (limit - 200) / 4;
    if (wave > N)
        wave = N;
    cr_assert_geq(wave, 100, "a descriptor limit of %ld is too small", limit);
    pid_t echo, relay;
    int echo_err, relay_err;
    char *eargv[] = {(char *)sock_bin(), "echo", "127.0.0.1", "0", NULL};
    int eport = start(&echo, &echo_err, eargv);
    char tport[16];
    snprintf(tport, sizeof tport, "%d", eport);
    char *rargv[] = {(char *)sock_bin(), "relay", "-q", "-k", "127.0.0.1:0", "127.0.0.1", tport,
                     NULL};
    int rport = start(&relay, &relay_err, rargv);
    struct flow *f = calloc(N, sizeof *f);
    cr_assert(f);
    double t0 = now_s();
    long left = 0;
    uint64_t bad = 0;
    for (long first = 0; first < N; first += wave) {
        long n = N - first < wave ? N - first : wave;
        for (long i = first; i < first + n; i++)
            f[i] = (struct flow){.fd = client_connect(rport), .want = BYTES};
        left += run_flows(f + first, n, 120);
        for (long i = first; i < first + n; i++) {
            bad += f[i].bad + (f[i].want - f[i].got);
            close(f[i].fd);
        }
        /* The relay frees a wave's descriptors as its sessions end. */
        usleep(300000);
    }
    double xfer_s = now_s() - t0;
    free(f);
    usleep(500000);
    kill(relay, SIGTERM);
    char log[8192] = "";
    proc_wait_for(relay_err, "failed accepts", log, sizeof log, 20000);
    int st = wait_exit(relay, 20000);
    kill(echo, SIGTERM);
    wait_exit(echo, 20000);
    close(relay_err);
    close(echo_err);
    fprintf(stderr,
            "figure: relay 10000 clients to echo, %ld at once: %d bytes each both ways in %.2f s, "
            "%llu bytes lost or wrong; %s",
            wave, BYTES, xfer_s, (unsigned long long)bad, strstr(log, "stopped by") ? strstr(log, "stopped by") : log);
    cr_expect_eq(left, 0, "%ld clients did not get their stream back", left);
    cr_expect_eq(bad, 0, "%llu bytes lost, reordered or crossed", (unsigned long long)bad);
    cr_expect_eq(count_of(log, "clients served"), N, "%s", log);
    cr_expect_eq(count_of(log, "bytes c>s"), (long long)N * BYTES, "%s", log);
    cr_expect_eq(count_of(log, "bytes s>c"), (long long)N * BYTES, "%s", log);
    cr_expect_eq(count_of(log, "resets"), 0, "%s", log);
    cr_expect_eq(st, 0, "sock relay exit %d: %s", st, log);
}
