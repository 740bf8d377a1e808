/*
 * bench.c - libsock against the same loops written on raw system calls.
 *
 * Four figures, each measured for the library and for raw system calls in
 * the same run, over loopback:
 *
 *   throughput   bulk transfer in 1 MiB chunks     target lib/raw >= 0.97
 *   rtt          1-byte ping-pong, TCP_NODELAY     target lib/raw <= 1.03
 *   connect      connect + accept + close cycles   target lib/raw >= 0.95
 *   loop         the rtt ping-pong through an      target lib/raw <= 1.03
 *                event loop: non-blocking calls
 *                and the poller vs epoll
 *
 * The machine this runs on is small and shared (2 cores, other people's
 * builds), so one measurement means little.  Each figure runs in rounds; a
 * round runs the library and the raw loop once each, alternating which goes
 * first (AB BA AB ...), so that a noisy neighbour, a warm cache or a
 * growing TIME_WAIT table hurts both alike.  We report the median of each
 * side and the ratio of the medians, and the range of the per-round ratios
 * so a reader sees how noisy the run was.  One untimed warm-up run of each
 * side comes first (socket buffer auto-tuning, page faults on the buffers).
 *
 * Fairness: both sides of a figure use the same connected sockets (made
 * with the library; the raw loops use sock_fd()), the same buffers, the same
 * socket options, the same flags on each system call as the library uses
 * (MSG_NOSIGNAL on send, MSG_WAITALL in the receive-exactly loop), and the
 * same thread layout.  Nothing is timed that only one side does: listeners,
 * buffers and threads are set up before the clock starts.  What is timed on
 * the library side is all the library's own work, e.g. sock_connect()
 * resolving its host string.
 *
 * The peer of the throughput and ping-pong figures is a thread of this
 * process rather than a forked process: the same for both sides, started
 * before the clock, and it needs no control channel to tell it which loop
 * (library or raw) to run and for how long.  The connect figure runs both
 * ends in one thread, see conn_run().
 */
#include "bench.h"

#include "sock.h"
#include "../tools/util.h"

#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#define CHUNK (1u << 20)
#define MAX_ROUNDS 99
/* A run that takes longer than this is stuck (a peer gone), not slow. */
#define RUN_LIMIT_S 120

enum { FIG_THROUGHPUT, FIG_RTT, FIG_CONNECT, FIG_LOOP, FIG_COUNT };

struct config {
    int rounds;
    long work[FIG_COUNT]; /* per run: MiB, round trips, connect cycles, round trips */
    const char *host;
    unsigned only; /* bit mask of the figures to run */
};

/* What the runs of one figure share. */
struct ctx {
    const struct config *cfg;
    sock_t cli, srv, acep;
    char port[8];
    struct sockaddr_storage addr; /* the acceptor's address, for raw connect */
    socklen_t addrlen;
    char *out, *in; /* CHUNK bytes each */
    /* The loop figure: each end's poller (library side) and epoll set (raw
     * side), made before the rounds. */
    sock_poller_t *poll_cli, *poll_srv;
    int ep_cli, ep_srv;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, const char *why)
{
    fprintf(stderr, "bench: %s: %s\n", what, why);
    exit(1);
}

/* ---- watchdog ------------------------------------------------------------- */

/* Every wait of the benchmark is bounded: if a peer thread dies the other
 * end would block in recv() for ever, so a watchdog thread ends the process
 * with a message when a run overstays RUN_LIMIT_S. */
static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stop;
    const char *what; /* the run in progress, NULL between runs */
    double deadline;
} dog = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, NULL, 0};

static void *watchdog(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&dog.mu);
    while (!dog.stop) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += 1;
        pthread_cond_timedwait(&dog.cv, &dog.mu, &ts);
        if (dog.what && now_s() > dog.deadline) {
            fprintf(stderr, "bench: %s: no result after %d s, giving up (peer stuck?)\n",
                    dog.what, RUN_LIMIT_S);
            _exit(1);
        }
    }
    pthread_mutex_unlock(&dog.mu);
    return NULL;
}

static void dog_arm(const char *what)
{
    pthread_mutex_lock(&dog.mu);
    dog.what = what;
    dog.deadline = now_s() + RUN_LIMIT_S;
    pthread_mutex_unlock(&dog.mu);
}

static void dog_stop(pthread_t t)
{
    pthread_mutex_lock(&dog.mu);
    dog.stop = 1;
    pthread_cond_signal(&dog.cv);
    pthread_mutex_unlock(&dog.mu);
    pthread_join(t, NULL);
    dog.stop = 0, dog.what = NULL;
}

static void start_thread(pthread_t *t, void *(*fn)(void *), void *arg)
{
    int rc = pthread_create(t, NULL, fn, arg);
    if (rc)
        die("pthread_create", strerror(rc));
}

/* ---- set-up shared by both sides ----------------------------------------- */

/* A listening libsock acceptor on the configured host, port chosen by the
 * system, and its address for the raw connect loop. */
static void listen_any(struct ctx *c)
{
    sock_init(&c->acep);
    if (sock_bind(&c->acep, c->cfg->host, "0") < 0 || sock_listen(&c->acep, -1) < 0)
        die("listen", sock_error(&c->acep));
    snprintf(c->port, sizeof c->port, "%d", sock_local_port(&c->acep));
    c->addrlen = sizeof c->addr;
    if (getsockname(sock_fd(&c->acep), (struct sockaddr *)&c->addr, &c->addrlen) < 0)
        die("getsockname", strerror(errno));
}

/* A connected pair (cli, srv), made with the library; the raw runs use the
 * same descriptors through sock_fd(). */
static void make_pair(struct ctx *c)
{
    listen_any(c);
    sock_init(&c->cli);
    if (sock_connect(&c->cli, c->cfg->host, c->port) < 0)
        die("connect", sock_error(&c->cli));
    if (sock_accept(&c->acep, &c->srv) < 0)
        die("accept", sock_error(&c->acep));
    sock_close(&c->acep);
}

static void close_pair(struct ctx *c)
{
    sock_close(&c->cli);
    sock_close(&c->srv);
}

static void pair_nodelay(struct ctx *c)
{
    make_pair(c);
    if (sock_set_nodelay(&c->cli, 1) < 0 || sock_set_nodelay(&c->srv, 1) < 0)
        die("TCP_NODELAY", sock_error(&c->cli));
}

static void close_acceptor(struct ctx *c)
{
    sock_close(&c->acep);
}

/* ---- raw loops: what a careful programmer writes by hand ------------------ */

static int raw_send_all(int fd, const char *p, size_t len)
{
    while (len) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        p += n, len -= (size_t)n;
    }
    return 0;
}

static int raw_recv_all(int fd, char *p, size_t len)
{
    while (len) {
        ssize_t n = recv(fd, p, len, MSG_WAITALL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n == 0 ? SOCK_EOF : -errno;
        p += n, len -= (size_t)n;
    }
    return 0;
}

/* ---- throughput ----------------------------------------------------------- */

struct bulk {
    struct ctx *c;
    int raw;
    long mib;
    int rc;
};

static void *bulk_receiver(void *arg)
{
    struct bulk *b = arg;
    for (long i = 0; i < b->mib && b->rc == 0; i++)
        b->rc = b->raw ? raw_recv_all(sock_fd(&b->c->srv), b->c->in, CHUNK)
                       : sock_recv_all(&b->c->srv, b->c->in, CHUNK, NULL);
    return NULL;
}

/* One run: MiB/s of mib chunks sent by cli and fully received by srv.  The
 * receiver thread is started before the clock (it just blocks in recv); the
 * clock stops when it has everything. */
static double bulk_run(struct ctx *c, int raw, long mib)
{
    struct bulk rx = {.c = c, .raw = raw, .mib = mib, .rc = 0};
    pthread_t t;
    start_thread(&t, bulk_receiver, &rx);
    int rc = 0;
    double t0 = now_s();
    for (long i = 0; i < mib && rc == 0; i++)
        rc = raw ? raw_send_all(sock_fd(&c->cli), c->out, CHUNK)
                 : sock_send_all(&c->cli, c->out, CHUNK, NULL);
    pthread_join(t, NULL);
    double dt = now_s() - t0;
    if (rc < 0 || rx.rc < 0)
        die("throughput", sock_strerror(rc < 0 ? rc : rx.rc));
    return (double)mib / dt;
}

/* ---- round trip ----------------------------------------------------------- */

struct echo {
    struct ctx *c;
    int raw;
    long count;
};

static void *pong(void *arg)
{
    struct echo *e = arg;
    sock_t *s = &e->c->srv;
    int fd = sock_fd(s);
    char b;
    for (long i = 0; i < e->count; i++) {
        int ok = e->raw ? recv(fd, &b, 1, 0) == 1 && send(fd, &b, 1, MSG_NOSIGNAL) == 1
                        : sock_recv(s, &b, 1) == 1 && sock_send(s, &b, 1) == 1;
        if (!ok) {
            /* Wake the pinging side, which would otherwise wait for ever. */
            shutdown(fd, SHUT_RDWR);
            break;
        }
    }
    return NULL;
}

/* One run: microseconds per 1-byte round trip. */
static double rtt_run(struct ctx *c, int raw, long count)
{
    struct echo e = {.c = c, .raw = raw, .count = count};
    pthread_t t;
    start_thread(&t, pong, &e);
    sock_t *s = &c->cli;
    int fd = sock_fd(s);
    char b = 'x';
    double t0 = now_s();
    for (long i = 0; i < count; i++) {
        int ok = raw ? send(fd, &b, 1, MSG_NOSIGNAL) == 1 && recv(fd, &b, 1, 0) == 1
                     : sock_send(s, &b, 1) == 1 && sock_recv(s, &b, 1) == 1;
        if (!ok)
            die("ping-pong", raw ? "send/recv failed or the echo thread stopped" : sock_error(s));
    }
    double dt = now_s() - t0;
    pthread_join(t, NULL);
    return dt / (double)count * 1e6;
}

/* ---- event loop: the round trip through readiness ------------------------ */

/* The rtt ping-pong as an event loop runs it: both ends non-blocking, and
 * each waits for its socket to be readable before it receives, through
 * the library's poller (sock_set_nonblocking, sock_poller_wait, sock_recv,
 * sock_send) or through epoll (epoll_wait, recv, send with MSG_NOSIGNAL).
 * A round trip is then two waits, two receives and two sends, and the
 * difference between the sides is the library's cost per event.
 *
 * Each end registers its socket for the run only (before the clock), so
 * that no wake-up of one side's set is paid while the other side runs.
 * The raw set asks for EPOLLIN | EPOLLRDHUP, as the poller does. */

struct loop_end {
    sock_t *s;
    sock_poller_t *poller;
    int ep;
    int raw;
};

static int loop_watch(const struct loop_end *e, int on)
{
    if (!e->raw)
        return on ? sock_poller_add(e->poller, e->s, SOCK_READABLE, e->s)
                  : sock_poller_remove(e->poller, e->s);
    struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.ptr = e->s};
    return epoll_ctl(e->ep, on ? EPOLL_CTL_ADD : EPOLL_CTL_DEL, sock_fd(e->s), &ev) < 0 ? -errno
                                                                                      : 0;
}

/* Wait until readable, then receive one byte: 1, or 0 when the
 * connection ended or failed. */
static int loop_recv(const struct loop_end *e, char *b)
{
    for (;;) {
        ssize_t n;
        if (e->raw) {
            struct epoll_event ev[8];
            if (epoll_wait(e->ep, ev, 8, -1) < 0 && errno != EINTR)
                return 0;
            n = recv(sock_fd(e->s), b, 1, 0);
            if (n < 0 && (errno == EAGAIN || errno == EINTR))
                continue;
        } else {
            sock_event_t ev[8];
            if (sock_poller_wait(e->poller, ev, 8, -1) < 0)
                return 0;
            n = sock_recv(e->s, b, 1);
            if (n == -EAGAIN)
                continue;
        }
        return n == 1;
    }
}

/* Send one byte; the socket's buffer is empty in a ping-pong, so it never
 * has to wait.  1, or 0 on a failure. */
static int loop_send(const struct loop_end *e, const char *b)
{
    return e->raw ? send(sock_fd(e->s), b, 1, MSG_NOSIGNAL) == 1 : sock_send(e->s, b, 1) == 1;
}

struct loop_pong {
    struct loop_end end;
    long count;
    int ready; /* 1 once watched, -1 when that failed */
};

static void *loop_ponger(void *arg)
{
    struct loop_pong *p = arg;
    int rc = loop_watch(&p->end, 1);
    __atomic_store_n(&p->ready, rc == 0 ? 1 : -1, __ATOMIC_RELEASE);
    char b;
    for (long i = 0; rc == 0 && i < p->count; i++) {
        if (!loop_recv(&p->end, &b) || !loop_send(&p->end, &b)) {
            /* Wake the pinging side, which would otherwise wait for ever. */
            shutdown(sock_fd(p->end.s), SHUT_RDWR);
            break;
        }
    }
    loop_watch(&p->end, 0);
    return NULL;
}

static void loop_setup(struct ctx *c)
{
    pair_nodelay(c);
    if (sock_set_nonblocking(&c->cli, 1) < 0 || sock_set_nonblocking(&c->srv, 1) < 0)
        die("non-blocking mode", sock_error(&c->cli));
    int rc = sock_poller_open(&c->poll_cli);
    if (rc == 0)
        rc = sock_poller_open(&c->poll_srv);
    if (rc < 0)
        die("poller", sock_strerror(rc));
    c->ep_cli = epoll_create1(EPOLL_CLOEXEC);
    c->ep_srv = epoll_create1(EPOLL_CLOEXEC);
    if (c->ep_cli < 0 || c->ep_srv < 0)
        die("epoll_create1", strerror(errno));
}

static void loop_teardown(struct ctx *c)
{
    sock_poller_close(c->poll_cli);
    sock_poller_close(c->poll_srv);
    close(c->ep_cli);
    close(c->ep_srv);
    close_pair(c);
}

/* One run: microseconds per 1-byte round trip through the event loop. */
static double loop_run(struct ctx *c, int raw, long count)
{
    struct loop_end ping = {.s = &c->cli, .poller = c->poll_cli, .ep = c->ep_cli, .raw = raw};
    struct loop_pong pong = {
        .end = {.s = &c->srv, .poller = c->poll_srv, .ep = c->ep_srv, .raw = raw},
        .count = count};
    if (loop_watch(&ping, 1) < 0)
        die("loop", "cannot watch the pinging socket");
    pthread_t t;
    start_thread(&t, loop_ponger, &pong);
    /* The clock starts once both ends are watched. */
    while (__atomic_load_n(&pong.ready, __ATOMIC_ACQUIRE) == 0)
        sched_yield();
    if (pong.ready < 0)
        die("loop", "cannot watch the answering socket");
    char b = 'x';
    double t0 = now_s();
    for (long i = 0; i < count; i++)
        if (!loop_send(&ping, &b) || !loop_recv(&ping, &b))
            die("event-loop ping-pong",
                raw ? "send/recv failed or the echo thread stopped" : sock_error(&c->cli));
    double dt = now_s() - t0;
    pthread_join(t, NULL);
    loop_watch(&ping, 0);
    return dt / (double)count * 1e6;
}

/* ---- connect / accept / close --------------------------------------------- */

/* One run: cycles per second of connect, accept, close.
 *
 * Both ends run in this one thread, on purpose: over loopback the handshake
 * is done by the time connect() returns and the connection waits in the
 * acceptor's queue, so accept() never blocks.  The cycle is then pure CPU
 * work of the calls being compared.  A server thread would add two thread
 * wake-ups per cycle, which cost the same on both sides, add a lot of
 * noise on two shared cores, and hide the library's overhead behind them.
 *
 * The server side closes first, so TIME_WAIT stays with the acceptor's
 * port and the client's ephemeral ports are never used up. */
static double conn_run(struct ctx *c, int raw, long cycles)
{
    int lfd = sock_fd(&c->acep);
    double t0 = now_s();
    for (long i = 0; i < cycles; i++) {
        if (raw) {
            /* What the library does: a close-on-exec TCP socket, connect,
             * accept4 keeping the peer's address, close both. */
            int fd = socket(c->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, IPPROTO_TCP);
            if (fd < 0 || connect(fd, (struct sockaddr *)&c->addr, c->addrlen) < 0)
                die("raw connect", strerror(errno));
            struct sockaddr_storage peer;
            socklen_t len = sizeof peer;
            int a = accept4(lfd, (struct sockaddr *)&peer, &len, SOCK_CLOEXEC);
            if (a < 0)
                die("raw accept", strerror(errno));
            close(a);
            close(fd);
        } else {
            sock_t cli, srv;
            sock_init(&cli);
            if (sock_connect(&cli, c->cfg->host, c->port) < 0)
                die("connect", sock_error(&cli));
            if (sock_accept(&c->acep, &srv) < 0)
                die("accept", sock_error(&c->acep));
            sock_close(&srv);
            sock_close(&cli);
        }
    }
    return (double)cycles / (now_s() - t0);
}

/* ---- the figures ------------------------------------------------------------ */

struct figure {
    const char *name;
    const char *unit;
    const char *fmt; /* printf format of one value */
    double target;
    int higher_is_better; /* lib/raw must be >= target; else <= target */
    void (*setup)(struct ctx *);
    double (*run)(struct ctx *, int raw, long work);
    void (*teardown)(struct ctx *);
};

static const struct figure figures[FIG_COUNT] = {
    [FIG_THROUGHPUT] = {"throughput", "MiB/s", "%.1f", 0.97, 1, make_pair, bulk_run, close_pair},
    [FIG_RTT] = {"rtt", "us", "%.2f", 1.03, 0, pair_nodelay, rtt_run, close_pair},
    [FIG_CONNECT] = {"connect", "conn/s", "%.0f", 0.95, 1, listen_any, conn_run, close_acceptor},
    [FIG_LOOP] = {"loop", "us", "%.2f", 1.03, 0, loop_setup, loop_run, loop_teardown},
};

struct result {
    double lib, raw, ratio, ratio_min, ratio_max;
    int pass;
};

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* The one worker behind every figure: set up, warm up, interleaved rounds,
 * medians. */
static struct result measure(const struct figure *f, const struct config *cfg, char *out,
                             char *in)
{
    struct ctx c = {.cfg = cfg, .out = out, .in = in};
    long work = cfg->work[f - figures];
    double lib[MAX_ROUNDS], raw[MAX_ROUNDS], ratio[MAX_ROUNDS];
    f->setup(&c);
    dog_arm(f->name);
    long warm = work / 4 > 0 ? work / 4 : 1;
    f->run(&c, 0, warm);
    f->run(&c, 1, warm);
    for (int r = 0; r < cfg->rounds; r++) {
        for (int k = 0; k < 2; k++) {
            int is_raw = (r + k) % 2; /* alternate who goes first */
            dog_arm(f->name);
            (is_raw ? raw : lib)[r] = f->run(&c, is_raw, work);
        }
        ratio[r] = lib[r] / raw[r];
    }
    dog_arm(NULL);
    f->teardown(&c);
    struct result res;
    res.lib = median(lib, cfg->rounds);
    res.raw = median(raw, cfg->rounds);
    res.ratio = res.lib / res.raw;
    qsort(ratio, (size_t)cfg->rounds, sizeof *ratio, cmp_double);
    res.ratio_min = ratio[0], res.ratio_max = ratio[cfg->rounds - 1];
    res.pass = f->higher_is_better ? res.ratio >= f->target : res.ratio <= f->target;
    return res;
}

/* ---- reporting ------------------------------------------------------------ */

static void print_context(const struct config *cfg)
{
    struct utsname u;
    char load[64] = "?";
    FILE *f = fopen("/proc/loadavg", "re");
    if (f) {
        if (!fgets(load, sizeof load, f))
            strcpy(load, "?");
        fclose(f);
        load[strcspn(load, "\n")] = 0;
    }
    if (uname(&u) < 0)
        strcpy(u.release, "?");
    printf("libsock vs raw system calls over %s: median of %d interleaved rounds\n"
           "(Linux %s, %ld CPUs online, load average %s)\n\n",
           cfg->host, cfg->rounds, u.release, sysconf(_SC_NPROCESSORS_ONLN), load);
    printf("%-11s %-20s %-20s %8s %-10s %-6s %s\n", "figure", "library", "raw", "lib/raw",
           "target", "result", "per-round lib/raw");
    fflush(stdout);
}

static void value_text(char *buf, size_t len, const struct figure *f, double v)
{
    int n = snprintf(buf, len, f->fmt, v);
    if (n > 0 && (size_t)n < len)
        snprintf(buf + n, len - (size_t)n, " %s", f->unit);
}

static void print_row(const struct figure *f, const struct result *r)
{
    char lib[32], raw[32], target[16];
    value_text(lib, sizeof lib, f, r->lib);
    value_text(raw, sizeof raw, f, r->raw);
    snprintf(target, sizeof target, "%s %.2f", f->higher_is_better ? ">=" : "<=", f->target);
    printf("%-11s %-20s %-20s %8.3f %-10s %-6s %.3f..%.3f\n", f->name, lib, raw, r->ratio, target,
           r->pass ? "PASS" : "MISS", r->ratio_min, r->ratio_max);
    fflush(stdout);
}

/* One line per figure for scripts: key=value, fixed order. */
static void print_machine_line(const struct figure *f, const struct result *r,
                               const struct config *cfg)
{
    printf("bench: %s lib=%.3f raw=%.3f ratio=%.4f target=%s%.2f %s unit=%s rounds=%d "
           "work=%ld host=%s round_ratio_min=%.4f round_ratio_max=%.4f\n",
           f->name, r->lib, r->raw, r->ratio, f->higher_is_better ? ">=" : "<=", f->target,
           r->pass ? "pass" : "miss", f->unit, cfg->rounds, cfg->work[f - figures], cfg->host,
           r->ratio_min, r->ratio_max);
}

/* ---- arguments ---------------------------------------------------------------- */

static void usage(FILE *f)
{
    fprintf(f,
            "usage: sock bench [--quick] [--rounds N] [--only LIST] [--host H]\n"
            "                  [--mib N] [--pings N] [--cycles N]\n"
            "       sock bench echo-load HOST PORT [--clients N] [--size B] [--seconds S]\n"
            "       sock bench free-port [HOST]\n"
            "\n"
            "Measures libsock against the same loops on raw system calls, over loopback,\n"
            "in interleaved rounds, and prints the median of each with the ratio lib/raw:\n"
            "  throughput  1 MiB chunks, send_all/recv_all vs send/recv   target >= 0.97\n"
            "  rtt         1-byte ping-pong round trip, TCP_NODELAY       target <= 1.03\n"
            "  connect     connect + accept + close rate                  target >= 0.95\n"
            "  loop        the rtt ping-pong in an event loop: non-blocking\n"
            "              calls and the poller vs recv/send and epoll    target <= 1.03\n"
            "\n"
            "  --quick       a few seconds instead of about half a minute\n"
            "  --rounds N    interleaved lib/raw rounds per figure, 1-%d (default 21)\n"
            "  --only LIST   throughput, rtt, connect, loop, or a comma-separated list\n"
            "  --host H      loopback address to use (default 127.0.0.1; ::1 works)\n"
            "  --mib N       MiB per throughput run (default 1024)\n"
            "  --pings N     round trips per rtt and per loop run (default 10000)\n"
            "  --cycles N    connections per connect run (default 1500)\n"
            "                (--mib, --pings and --cycles set how long each run lasts)\n"
            "\n"
            "echo-load: N clients (default 100) ping-pong B-byte messages (default 512)\n"
            "with an echo server for S seconds (default 5), check every echoed byte, and\n"
            "print requests per second.  free-port: print a port that was free just now\n"
            "(for peers that cannot listen on port 0).\n"
            "\n"
            "Exit status: 0 when every figure meets its target, 3 when one misses,\n"
            "2 on bad arguments, 1 on a network error.\n",
            MAX_ROUNDS);
}

/* The tool's one number parser and message style (tools/util.c). */
static int parse_long(const char *opt, const char *text, long lo, long hi, const char *unit,
                      long *out)
{
    return tool_parse_number("bench", opt, text, lo, hi, unit, out);
}

static int parse_only(const char *text, unsigned *mask)
{
    char buf[128];
    if (strlen(text) >= sizeof buf) {
        fprintf(stderr, "sock bench: --only: list too long\n");
        return 2;
    }
    strcpy(buf, text);
    *mask = 0;
    char *save = NULL;
    for (char *w = strtok_r(buf, ",", &save); w; w = strtok_r(NULL, ",", &save)) {
        int found = 0;
        for (int i = 0; i < FIG_COUNT; i++)
            if (strcmp(w, figures[i].name) == 0)
                *mask |= 1u << i, found = 1;
        if (!found) {
            fprintf(stderr, "sock bench: --only '%s': throughput, rtt, connect or loop\n", w);
            return 2;
        }
    }
    if (!*mask) {
        fprintf(stderr, "sock bench: --only: empty list\n");
        return 2;
    }
    return 0;
}

/* Returns 0 to go on, -1 when help was printed, 2 on a usage error. */
static int parse_args(int argc, char **argv, struct config *c)
{
    enum { O_QUICK = 256, O_ROUNDS, O_ONLY, O_HOST, O_MIB, O_PINGS, O_CYCLES };
    static const struct option opts[] = {
        {"quick", no_argument, NULL, O_QUICK},   {"rounds", required_argument, NULL, O_ROUNDS},
        {"only", required_argument, NULL, O_ONLY}, {"host", required_argument, NULL, O_HOST},
        {"mib", required_argument, NULL, O_MIB},   {"pings", required_argument, NULL, O_PINGS},
        {"cycles", required_argument, NULL, O_CYCLES}, {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    /* About 30 s in all on this machine: long runs and many rounds, since
     * throughput on two shared cores varies by 10 % from run to run.  The
     * connect runs are short because every cycle leaves a TIME_WAIT entry
     * for 60 s: 21 rounds x 2 x 1500 stays well under the kernel's table
     * (net.ipv4.tcp_max_tw_buckets, 131072 here), which, once full, would
     * change what a cycle costs in the middle of the measurement. */
    *c = (struct config){.rounds = 21,
                         .work = {[FIG_THROUGHPUT] = 1024, [FIG_RTT] = 10000, [FIG_CONNECT] = 1500,
                                  [FIG_LOOP] = 10000},
                         .host = "127.0.0.1",
                         .only = (1u << FIG_COUNT) - 1};
    /* Explicit sizes win over --quick, whatever their order. */
    long explicit_work[FIG_COUNT] = {0, 0, 0, 0};
    long rounds = 0;
    /* 0, not 1: glibc then also forgets the state of an earlier getopt in
     * this process (the sock tool's, with its "+" mode).  getopt itself
     * names a missing argument or an unknown option. */
    optind = 0;
    opterr = 1;
    int ch, rc = 0;
    while (rc == 0 && (ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (ch) {
        case O_QUICK:
            c->rounds = 5;
            c->work[FIG_THROUGHPUT] = 256, c->work[FIG_RTT] = 5000, c->work[FIG_CONNECT] = 1000;
            c->work[FIG_LOOP] = 5000;
            break;
        case O_ROUNDS:
            rc = parse_long("--rounds", optarg, 1, MAX_ROUNDS, "rounds", &rounds);
            break;
        case O_ONLY:
            rc = parse_only(optarg, &c->only);
            break;
        case O_HOST:
            c->host = optarg;
            break;
        case O_MIB:
            rc = parse_long("--mib", optarg, 1, 1L << 20, "MiB", &explicit_work[FIG_THROUGHPUT]);
            break;
        case O_PINGS:
            rc = parse_long("--pings", optarg, 1, 100000000, "round trips", &explicit_work[FIG_RTT]);
            explicit_work[FIG_LOOP] = explicit_work[FIG_RTT];
            break;
        case O_CYCLES:
            rc = parse_long("--cycles", optarg, 1, 1000000, "connect cycles", &explicit_work[FIG_CONNECT]);
            break;
        case 'h':
            usage(stdout);
            return -1;
        default:
            fprintf(stderr, "sock bench: try 'sock bench --help'\n");
            return 2;
        }
    }
    if (rc)
        return rc;
    if (optind < argc) {
        fprintf(stderr, "sock bench: unexpected argument '%s' (try 'sock bench --help')\n",
                argv[optind]);
        return 2;
    }
    if (rounds)
        c->rounds = (int)rounds;
    for (int i = 0; i < FIG_COUNT; i++)
        if (explicit_work[i])
            c->work[i] = explicit_work[i];
    return 0;
}

/* ---- free-port -------------------------------------------------------------- */

/* Print a port the system considered free a moment ago, for peers (iperf3)
 * that cannot be told to listen on port 0.  The caller must retry when the
 * port was taken in between. */
static int free_port(int argc, char **argv)
{
    if (argc > 2) {
        fprintf(stderr, "sock bench free-port: unexpected argument '%s'\n", argv[2]);
        return 2;
    }
    sock_t s;
    sock_init(&s);
    if (sock_bind(&s, argc == 2 ? argv[1] : "127.0.0.1", "0") < 0) {
        fprintf(stderr, "sock bench free-port: %s\n", sock_error(&s));
        return 1;
    }
    printf("%d\n", sock_local_port(&s));
    sock_close(&s);
    return 0;
}

/* ---- main ------------------------------------------------------------------ */

int bench_main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "echo-load") == 0)
        return bench_echo_load(argc - 1, argv + 1);
    if (argc > 1 && strcmp(argv[1], "free-port") == 0)
        return free_port(argc - 1, argv + 1);

    struct config cfg;
    int rc = parse_args(argc, argv, &cfg);
    if (rc)
        return rc < 0 ? 0 : rc;
    char *out = malloc(CHUNK), *in = malloc(CHUNK);
    if (!out || !in)
        die("buffers", "out of memory");
    memset(out, 'x', CHUNK);
    memset(in, 0, CHUNK);

    pthread_t dog_thread;
    start_thread(&dog_thread, watchdog, NULL);
    print_context(&cfg);
    struct result res[FIG_COUNT];
    int all_pass = 1;
    for (int i = 0; i < FIG_COUNT; i++) {
        if (!(cfg.only & (1u << i)))
            continue;
        res[i] = measure(&figures[i], &cfg, out, in);
        print_row(&figures[i], &res[i]);
        all_pass &= res[i].pass;
    }
    printf("\n");
    for (int i = 0; i < FIG_COUNT; i++)
        if (cfg.only & (1u << i))
            print_machine_line(&figures[i], &res[i], &cfg);
    fflush(stdout);
    dog_stop(dog_thread);
    free(out);
    free(in);
    return all_pass ? 0 : 3;
}
