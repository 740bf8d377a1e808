/*
 * echo_load.c - `sock bench echo-load HOST PORT`: the load generator of the
 * echo comparison (sock echo vs socat fork vs a raw epoll echo).
 *
 * N clients each keep one B-byte request in flight: send it, wait for all B
 * bytes to come back, compare them with what was sent, send the next.  The
 * content of every request is different (derived from the client and the
 * request number), so an echo server that mixes up clients, drops,
 * repeats or reorders bytes is caught, not measured.
 *
 * It is written on raw system calls with one epoll loop in one thread, on
 * purpose: the generator must be the same for every server compared, and
 * must cost as little as possible, since it shares the machine's two cores
 * with the server under test.
 *
 * Timeline: connect every client (bounded), a warm-up during which replies
 * are checked but not counted (so that socat's fork per connection, for
 * instance, is not part of its figure), the measured window, then a drain
 * in which the requests still in flight must come back intact (bounded).
 */
#include "bench.h"
#include "../tools/util.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define CONNECT_LIMIT_S 10.0
#define DRAIN_LIMIT_S 5.0
#define MAX_EVENTS 256

struct load_opts {
    const char *host, *port;
    long clients, size;
    double seconds, warmup;
};

struct client {
    int fd;
    unsigned id;
    uint32_t seq;   /* number of the request in flight */
    size_t sent;    /* bytes of it sent so far */
    size_t got;     /* bytes of its reply received so far */
    int busy;       /* a request is in flight */
    int connected;
    unsigned char *out, *in;
};

struct load {
    struct load_opts o;
    struct client *cl;
    int ep;
    long connected, busy;
    long long counted;   /* replies completed inside the measured window */
    long long verified;  /* every reply checked, warm-up and drain included */
    int stop_sending;    /* the window is over: no new requests */
    double win_start, win_end;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Say what went wrong, on one line; returns 1 (the exit status). */
__attribute__((format(printf, 1, 2))) static int fail(const char *fmt, ...)
{
    char line[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    fprintf(stderr, "echo-load: %s\n", line);
    return 1;
}

/* The content of request seq of client id: xorshift32 from a seed made of
 * both, so that no two requests in the run are alike. */
static void fill(unsigned char *p, size_t n, unsigned id, uint32_t seq)
{
    uint32_t x = (id + 1) * 2654435761u ^ (seq + 1) * 40503u;
    if (!x)
        x = 1;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13, x ^= x >> 17, x ^= x << 5;
        p[i] = (unsigned char)x;
    }
}

static int watch(struct load *l, struct client *c, int op, uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.ptr = c};
    if (epoll_ctl(l->ep, op, c->fd, &ev) < 0)
        return fail("epoll_ctl for client %u: %s", c->id, strerror(errno));
    return 0;
}

/* Send what is left of the request in flight; wait for writability only
 * when the socket buffer is full (never on loopback with small requests). */
static int push(struct load *l, struct client *c)
{
    size_t size = (size_t)l->o.size;
    while (c->sent < size) {
        ssize_t n = send(c->fd, c->out + c->sent, size - c->sent, MSG_NOSIGNAL);
        if (n > 0) {
            c->sent += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return watch(l, c, EPOLL_CTL_MOD, EPOLLIN | EPOLLOUT);
        return fail("client %u: send: %s", c->id, strerror(errno));
    }
    return watch(l, c, EPOLL_CTL_MOD, EPOLLIN);
}

static int start_request(struct load *l, struct client *c)
{
    fill(c->out, (size_t)l->o.size, c->id, c->seq);
    c->sent = c->got = 0;
    c->busy = 1;
    l->busy++;
    return push(l, c);
}

/* A whole reply arrived: check it, count it, send the next request. */
static int finish_request(struct load *l, struct client *c)
{
    size_t size = (size_t)l->o.size;
    if (memcmp(c->in, c->out, size) != 0) {
        size_t i = 0;
        while (c->in[i] == c->out[i])
            i++;
        char what[96];
        snprintf(what, sizeof what, "request %u, byte %zu: sent 0x%02x, echoed 0x%02x", c->seq,
                 i, c->out[i], c->in[i]);
        return fail("client %u: wrong echo: %s", c->id, what);
    }
    l->verified++;
    c->busy = 0;
    l->busy--;
    double t = now_s();
    if (t >= l->win_start && t < l->win_end)
        l->counted++;
    if (l->stop_sending)
        return 0;
    c->seq++;
    return start_request(l, c);
}

static int on_readable(struct load *l, struct client *c)
{
    size_t size = (size_t)l->o.size;
    if (!c->busy) {
        /* Nothing asked: any byte now is one the server made up. */
        char b;
        ssize_t n = recv(c->fd, &b, 1, MSG_DONTWAIT);
        if (n > 0)
            return fail("client %u: the server sent bytes that were not asked for", c->id);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return 0;
        return fail("client %u: connection ended while idle: %s", c->id,
                    n == 0 ? "closed by the server" : strerror(errno));
    }
    for (;;) {
        ssize_t n = recv(c->fd, c->in + c->got, size - c->got, 0);
        if (n > 0) {
            c->got += (size_t)n;
            if (c->got == size)
                return finish_request(l, c);
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return 0;
        char what[96];
        snprintf(what, sizeof what, "%s after %zu of %zu bytes of request %u",
                 n == 0 ? "the server closed the connection" : strerror(errno), c->got, size,
                 c->seq);
        return fail("client %u: %s", c->id, what);
    }
}

/* ---- connecting ----------------------------------------------------------- */

static int resolve(const struct load_opts *o, struct addrinfo **ai)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_protocol = IPPROTO_TCP};
    int rc = getaddrinfo(o->host, o->port, &hints, ai);
    if (rc) {
        fprintf(stderr, "echo-load: %s %s: %s\n", o->host, o->port, gai_strerror(rc));
        return 1;
    }
    return 0;
}

/* Start a non-blocking connect for every client, then wait (bounded) until
 * all have finished: a server with a short backlog (socat's default is 5)
 * may take a SYN retransmission to let everyone in. */
static int connect_all(struct load *l, const struct addrinfo *ai)
{
    for (long i = 0; i < l->o.clients; i++) {
        struct client *c = &l->cl[i];
        c->fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
        if (c->fd < 0)
            return fail("client %ld: socket: %s", i, strerror(errno));
        if (connect(c->fd, ai->ai_addr, ai->ai_addrlen) < 0 && errno != EINPROGRESS)
            return fail("client %ld: connect: %s", i, strerror(errno));
        if (watch(l, c, EPOLL_CTL_ADD, EPOLLOUT))
            return 1;
    }
    double deadline = now_s() + CONNECT_LIMIT_S;
    struct epoll_event ev[MAX_EVENTS];
    while (l->connected < l->o.clients) {
        double left = deadline - now_s();
        if (left <= 0) {
            return fail("connect: only %ld of %ld clients connected after %.0f s", l->connected,
                        l->o.clients, CONNECT_LIMIT_S);
        }
        int n = epoll_wait(l->ep, ev, MAX_EVENTS, (int)(left * 1000) + 1);
        if (n < 0 && errno != EINTR)
            return fail("epoll_wait: %s", strerror(errno));
        for (int k = 0; k < n; k++) {
            struct client *c = ev[k].data.ptr;
            int err = 0;
            socklen_t len = sizeof err;
            if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
                err = errno;
            if (err)
                return fail("client %u: connect: %s", c->id, strerror(err));
            if (c->connected)
                continue;
            c->connected = 1;
            l->connected++;
            int one = 1;
            setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            if (watch(l, c, EPOLL_CTL_MOD, EPOLLIN))
                return 1;
        }
    }
    return 0;
}

/* ---- the loop --------------------------------------------------------------- */

static int on_event(struct load *l, const struct epoll_event *ev)
{
    struct client *c = ev->data.ptr;
    if ((ev->events & EPOLLOUT) && c->busy && c->sent < (size_t)l->o.size && push(l, c))
        return 1;
    if (ev->events & (EPOLLIN | EPOLLHUP | EPOLLERR))
        return on_readable(l, c);
    return 0;
}

/* Serve events until `until` (the end of the window), or while requests
 * are in flight when draining. */
static int run_until(struct load *l, double until, int draining)
{
    struct epoll_event ev[MAX_EVENTS];
    for (;;) {
        double left = until - now_s();
        if (left <= 0 || (draining && l->busy == 0))
            return 0;
        int n = epoll_wait(l->ep, ev, MAX_EVENTS, (int)(left * 1000) + 1);
        if (n < 0 && errno != EINTR)
            return fail("epoll_wait: %s", strerror(errno));
        for (int k = 0; k < n; k++)
            if (on_event(l, &ev[k]))
                return 1;
    }
}

static int run_load(struct load *l)
{
    struct addrinfo *ai;
    if (resolve(&l->o, &ai))
        return 1;
    int rc = connect_all(l, ai);
    freeaddrinfo(ai);
    if (rc)
        return rc;
    double t0 = now_s();
    l->win_start = t0 + l->o.warmup;
    l->win_end = l->win_start + l->o.seconds;
    for (long i = 0; i < l->o.clients && rc == 0; i++)
        rc = start_request(l, &l->cl[i]);
    if (rc || (rc = run_until(l, l->win_end, 0)) != 0)
        return rc;
    l->stop_sending = 1;
    if ((rc = run_until(l, now_s() + DRAIN_LIMIT_S, 1)) != 0)
        return rc;
    if (l->busy) {
        return fail("no complete reply to %ld requests within %.0f s after the end", l->busy,
                    DRAIN_LIMIT_S);
    }
    /* A last look for bytes nobody asked for. */
    for (long i = 0; i < l->o.clients; i++)
        if (on_readable(l, &l->cl[i]))
            return 1;
    return 0;
}

/* ---- arguments and report --------------------------------------------------- */

/* The tool's one number parser and message style (tools/util.c). */
static int parse_num(const char *opt, const char *text, double lo, double hi, const char *unit,
                     double *out)
{
    return tool_parse_decimal("bench echo-load", opt, text, lo, hi, unit, out);
}

static int parse_load_args(int argc, char **argv, struct load_opts *o)
{
    enum { O_CLIENTS = 256, O_SIZE, O_SECONDS, O_WARMUP };
    static const struct option opts[] = {
        {"clients", required_argument, NULL, O_CLIENTS},
        {"size", required_argument, NULL, O_SIZE},
        {"seconds", required_argument, NULL, O_SECONDS},
        {"warmup", required_argument, NULL, O_WARMUP},
        {NULL, 0, NULL, 0},
    };
    *o = (struct load_opts){.clients = 100, .size = 512, .seconds = 5, .warmup = 0.5};
    int ch, rc = 0;
    /* 0, not 1: glibc then also forgets the state of an earlier getopt in
     * this process (the sock tool's, with its "+" mode).  getopt itself
     * names a missing argument or an unknown option. */
    optind = 0;
    opterr = 1;
    while (rc == 0 && (ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (ch) {
        case O_CLIENTS:
            rc = tool_parse_number("bench echo-load", "--clients", optarg, 1, 10000, "clients",
                                   &o->clients);
            break;
        case O_SIZE:
            rc = tool_parse_number("bench echo-load", "--size", optarg, 1, 1 << 20, "bytes",
                                   &o->size);
            break;
        case O_SECONDS:
            rc = parse_num("--seconds", optarg, 0.1, 600, "seconds", &o->seconds);
            break;
        case O_WARMUP:
            rc = parse_num("--warmup", optarg, 0, 60, "seconds", &o->warmup);
            break;
        default:
            fprintf(stderr, "sock bench echo-load: try 'sock bench --help'\n");
            return 2;
        }
    }
    if (rc)
        return rc;
    if (argc - optind != 2) {
        fprintf(stderr, "sock bench echo-load: expected HOST PORT, got %d argument%s\n",
                argc - optind, argc - optind == 1 ? "" : "s");
        return 2;
    }
    o->host = argv[optind];
    o->port = argv[optind + 1];
    return 0;
}

int bench_echo_load(int argc, char **argv)
{
    struct load l = {.ep = -1};
    int rc = parse_load_args(argc, argv, &l.o);
    if (rc)
        return rc;
    l.cl = calloc((size_t)l.o.clients, sizeof *l.cl);
    unsigned char *bufs = malloc((size_t)l.o.clients * 2 * (size_t)l.o.size);
    l.ep = epoll_create1(EPOLL_CLOEXEC);
    if (!l.cl || !bufs || l.ep < 0) {
        fprintf(stderr, "echo-load: set-up: %s\n", strerror(l.ep < 0 ? errno : ENOMEM));
        rc = 1;
    } else {
        for (long i = 0; i < l.o.clients; i++) {
            l.cl[i] = (struct client){.fd = -1, .id = (unsigned)i};
            l.cl[i].out = bufs + (size_t)i * 2 * (size_t)l.o.size;
            l.cl[i].in = l.cl[i].out + l.o.size;
        }
        rc = run_load(&l);
    }
    for (long i = 0; l.cl && i < l.o.clients; i++)
        if (l.cl[i].fd >= 0)
            close(l.cl[i].fd);
    if (l.ep >= 0)
        close(l.ep);
    free(bufs);
    free(l.cl);
    if (rc)
        return rc;
    double rps = (double)l.counted / l.o.seconds;
    printf("echo-load: %ld clients x %ld bytes, %.1f s: %lld requests, %.0f requests/s, "
           "%lld replies checked, every byte as sent\n",
           l.o.clients, l.o.size, l.o.seconds, l.counted, rps, l.verified);
    printf("bench: echo-load host=%s port=%s clients=%ld size=%ld seconds=%.2f requests=%lld "
           "rps=%.1f verified=%lld errors=0\n",
           l.o.host, l.o.port, l.o.clients, l.o.size, l.o.seconds, l.counted, rps, l.verified);
    return 0;
}
