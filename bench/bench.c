/*
 * bench.c - libsock against the same loops written on raw system calls.
 *
 * Three figures, each measured for the library and for raw syscalls in the
 * same run, interleaved (lib then raw, raw then lib, ...) so that a noisy
 * neighbour or a warm-up hurts both alike; the median of the rounds is
 * reported with the ratio:
 *
 *   throughput   bulk transfer in 1 MiB chunks     target lib/raw >= 0.97
 *   round trip   1-byte ping-pong, TCP_NODELAY     target lib/raw <= 1.03
 *   connect      connect + accept + close cycles   target lib/raw >= 0.95
 *
 * Both sides of a measurement do the same work: the same buffer sizes, the
 * same socket options, the same thread layout (the peer runs in a thread of
 * this process, which is the same for both), and nothing is timed that only
 * one side does (listener set-up happens outside the timed region).
 * Loopback only, ephemeral ports only.
 */
#include "bench.h"

#include "sock.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define CHUNK (1u << 20)

struct config {
    int rounds;
    long bulk_mib;   /* per run */
    long pingpongs;  /* round trips per run */
    long cycles;     /* connect cycles per run */
    const char *host;
    const char *only;
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

/* A listening libsock acceptor on host, port chosen by the system. */
static void listen_any(sock_t *acep, const char *host, char *port, size_t len)
{
    sock_init(acep);
    if (sock_bind(acep, host, "0") < 0 || sock_listen(acep, -1) < 0)
        die("listen", sock_error(acep));
    snprintf(port, len, "%d", sock_local_port(acep));
}

/* A connected pair (client, server), made with the library; the raw runs
 * use the same descriptors through sock_fd() so both share the set-up. */
static void make_pair(const char *host, sock_t *cli, sock_t *srv)
{
    sock_t acep;
    char port[8];
    listen_any(&acep, host, port, sizeof port);
    sock_init(cli);
    if (sock_connect(cli, host, port) < 0)
        die("connect", sock_error(cli));
    if (sock_accept(&acep, srv) < 0)
        die("accept", sock_error(&acep));
    sock_close(&acep);
}

/* ---- throughput ----------------------------------------------------------- */

struct bulk {
    sock_t *s;
    int raw;
    long long bytes;
    int rc;
};

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
            return n == 0 ? -EPIPE : -errno;
        p += n, len -= (size_t)n;
    }
    return 0;
}

static void *bulk_receiver(void *arg)
{
    struct bulk *b = arg;
    char *buf = malloc(CHUNK);
    if (!buf) {
        b->rc = -ENOMEM;
        return NULL;
    }
    for (long long got = 0; got < b->bytes; got += CHUNK) {
        b->rc = b->raw ? raw_recv_all(sock_fd(b->s), buf, CHUNK)
                       : sock_recv_all(b->s, buf, CHUNK, NULL);
        if (b->rc < 0)
            break;
    }
    free(buf);
    return NULL;
}

/* One run: MiB/s of bytes sent by cli and fully received by srv. */
static double bulk_run(sock_t *cli, sock_t *srv, long mib, int raw, const char *chunk)
{
    struct bulk rx = {.s = srv, .raw = raw, .bytes = (long long)mib * CHUNK, .rc = 0};
    pthread_t t;
    double t0 = now_s();
    pthread_create(&t, NULL, bulk_receiver, &rx);
    int rc = 0;
    for (long i = 0; i < mib && rc == 0; i++)
        rc = raw ? raw_send_all(sock_fd(cli), chunk, CHUNK) : sock_send_all(cli, chunk, CHUNK, NULL);
    pthread_join(t, NULL);
    double dt = now_s() - t0;
    if (rc < 0 || rx.rc < 0)
        die("bulk transfer", sock_strerror(rc < 0 ? rc : rx.rc));
    return (double)mib / dt;
}

/* ---- round trip ----------------------------------------------------------- */

struct echo {
    sock_t *s;
    long count;
    int raw;
};

static void *pong(void *arg)
{
    struct echo *e = arg;
    char b;
    for (long i = 0; i < e->count; i++) {
        if (e->raw) {
            if (recv(sock_fd(e->s), &b, 1, 0) != 1 || send(sock_fd(e->s), &b, 1, MSG_NOSIGNAL) != 1)
                break;
        } else if (sock_recv(e->s, &b, 1) != 1 || sock_send(e->s, &b, 1) != 1) {
            break;
        }
    }
    return NULL;
}

/* One run: microseconds per 1-byte round trip. */
static double rtt_run(sock_t *cli, sock_t *srv, long count, int raw)
{
    struct echo e = {.s = srv, .count = count, .raw = raw};
    pthread_t t;
    pthread_create(&t, NULL, pong, &e);
    char b = 'x';
    double t0 = now_s();
    for (long i = 0; i < count; i++) {
        if (raw) {
            if (send(sock_fd(cli), &b, 1, MSG_NOSIGNAL) != 1 || recv(sock_fd(cli), &b, 1, 0) != 1)
                die("ping-pong", "raw send/recv failed");
        } else if (sock_send(cli, &b, 1) != 1 || sock_recv(cli, &b, 1) != 1) {
            die("ping-pong", sock_error(cli));
        }
    }
    double dt = now_s() - t0;
    pthread_join(t, NULL);
    return dt / (double)count * 1e6;
}

/* ---- connect / accept / close --------------------------------------------- */

/* One run: cycles per second of connect, accept, close (server side first,
 * so TIME_WAIT stays with the listener's port and the client's ephemeral
 * ports are not used up), both ends in this thread: the same for both. */
static double conn_run(sock_t *acep, const char *host, const char *port, long cycles, int raw)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    memset(&ss, 0, sizeof ss);
    if (getsockname(sock_fd(acep), (struct sockaddr *)&ss, &sl) < 0)
        die("getsockname", strerror(errno));
    int lfd = sock_fd(acep);
    double t0 = now_s();
    for (long i = 0; i < cycles; i++) {
        if (raw) {
            /* What the library does: a close-on-exec TCP socket, connect,
             * accept4 with the peer's address, close both. */
            int c = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, IPPROTO_TCP);
            if (c < 0 || connect(c, (struct sockaddr *)&ss, sl) < 0)
                die("raw connect", strerror(errno));
            struct sockaddr_storage peer;
            socklen_t pl = sizeof peer;
            int a = accept4(lfd, (struct sockaddr *)&peer, &pl, SOCK_CLOEXEC);
            if (a < 0)
                die("raw accept", strerror(errno));
            close(a);
            close(c);
        } else {
            sock_t cli, srv;
            sock_init(&cli);
            if (sock_connect(&cli, host, port) < 0)
                die("connect", sock_error(&cli));
            if (sock_accept(acep, &srv) < 0)
                die("accept", sock_error(acep));
            sock_close(&srv);
            sock_close(&cli);
        }
    }
    return (double)cycles / (now_s() - t0);
}

/* ---- reporting ------------------------------------------------------------ */

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

/* higher_is_better: the ratio is lib/raw and must be >= target; else it
 * must be <= target. */
static int report(const char *name, const char *unit, double *lib, double *raw, int n,
                  double target, int higher_is_better)
{
    double ml = median(lib, n), mr = median(raw, n), ratio = ml / mr;
    int pass = higher_is_better ? ratio >= target : ratio <= target;
    printf("%-11s lib %10.2f %-8s raw %10.2f %-8s lib/raw %.3f  target %s %.2f  %s\n", name, ml,
           unit, mr, unit, ratio, higher_is_better ? ">=" : "<=", target, pass ? "PASS" : "MISS");
    printf("bench: %s lib=%.3f raw=%.3f ratio=%.4f target=%s%.2f %s\n", name, ml, mr, ratio,
           higher_is_better ? ">=" : "<=", target, pass ? "pass" : "miss");
    fflush(stdout);
    return pass;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: sock bench [--quick] [--rounds N] [--only throughput|rtt|connect] [--host H]\n"
            "\n"
            "Measures libsock against the same loops on raw system calls, over loopback,\n"
            "interleaved, and prints the median of each with the ratio lib/raw:\n"
            "  throughput  1 MiB chunks                   target >= 0.97\n"
            "  rtt         1-byte ping-pong round trip    target <= 1.03\n"
            "  connect     connect + accept + close rate  target >= 0.95\n"
            "\n"
            "  --quick     a few seconds instead of about a minute\n"
            "  --rounds N  interleaved lib/raw rounds per figure (default 9)\n"
            "  --host H    loopback address to use (default 127.0.0.1; ::1 works)\n"
            "Exit status: 0 when every figure meets its target, 3 when one misses,\n"
            "2 on bad arguments, 1 on a network error.\n");
}

static int parse_args(int argc, char **argv, struct config *c)
{
    static const struct option opts[] = {
        {"quick", no_argument, NULL, 'q'},  {"rounds", required_argument, NULL, 'r'},
        {"only", required_argument, NULL, 'o'}, {"host", required_argument, NULL, 'H'},
        {"help", no_argument, NULL, 'h'},   {NULL, 0, NULL, 0},
    };
    *c = (struct config){.rounds = 9, .bulk_mib = 512, .pingpongs = 20000, .cycles = 2000,
                         .host = "127.0.0.1", .only = NULL};
    optind = 1;
    int ch;
    while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (ch) {
        case 'q':
            c->rounds = 5, c->bulk_mib = 128, c->pingpongs = 4000, c->cycles = 500;
            break;
        case 'r': {
            char *end;
            long v = strtol(optarg, &end, 10);
            if (*end || v < 1 || v > 99) {
                fprintf(stderr, "sock bench: --rounds '%s': a number from 1 to 99\n", optarg);
                return 2;
            }
            c->rounds = (int)v;
            break;
        }
        case 'o':
            if (strcmp(optarg, "throughput") && strcmp(optarg, "rtt") && strcmp(optarg, "connect")) {
                fprintf(stderr, "sock bench: --only '%s': throughput, rtt or connect\n", optarg);
                return 2;
            }
            c->only = optarg;
            break;
        case 'H':
            c->host = optarg;
            break;
        case 'h':
            usage(stdout);
            return -1;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "sock bench: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    return 0;
}

static int wanted(const struct config *c, const char *name)
{
    return !c->only || strcmp(c->only, name) == 0;
}

int bench_main(int argc, char **argv)
{
    struct config c;
    int rc = parse_args(argc, argv, &c);
    if (rc)
        return rc < 0 ? 0 : rc;
    double lib[99], raw[99];
    int all_pass = 1;
    printf("libsock vs raw system calls over %s: median of %d interleaved rounds\n", c.host,
           c.rounds);

    if (wanted(&c, "throughput")) {
        sock_t cli, srv;
        make_pair(c.host, &cli, &srv);
        char *chunk = malloc(CHUNK);
        if (!chunk)
            die("throughput", "out of memory");
        memset(chunk, 'x', CHUNK);
        for (int r = 0; r < c.rounds; r++) {
            for (int k = 0; k < 2; k++) {
                int is_raw = (r + k) % 2; /* alternate who goes first */
                (is_raw ? raw : lib)[r] = bulk_run(&cli, &srv, c.bulk_mib, is_raw, chunk);
            }
        }
        free(chunk);
        sock_close(&cli);
        sock_close(&srv);
        all_pass &= report("throughput", "MiB/s", lib, raw, c.rounds, 0.97, 1);
    }
    if (wanted(&c, "rtt")) {
        sock_t cli, srv;
        make_pair(c.host, &cli, &srv);
        sock_set_nodelay(&cli, 1);
        sock_set_nodelay(&srv, 1);
        for (int r = 0; r < c.rounds; r++) {
            for (int k = 0; k < 2; k++) {
                int is_raw = (r + k) % 2;
                (is_raw ? raw : lib)[r] = rtt_run(&cli, &srv, c.pingpongs, is_raw);
            }
        }
        sock_close(&cli);
        sock_close(&srv);
        all_pass &= report("rtt", "us", lib, raw, c.rounds, 1.03, 0);
    }
    if (wanted(&c, "connect")) {
        sock_t acep;
        char port[8];
        listen_any(&acep, c.host, port, sizeof port);
        for (int r = 0; r < c.rounds; r++) {
            for (int k = 0; k < 2; k++) {
                int is_raw = (r + k) % 2;
                (is_raw ? raw : lib)[r] = conn_run(&acep, c.host, port, c.cycles, is_raw);
            }
        }
        sock_close(&acep);
        all_pass &= report("connect", "conn/s", lib, raw, c.rounds, 0.95, 1);
    }
    return all_pass ? 0 : 3;
}
