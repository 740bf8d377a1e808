/*
 * threads.c - the library's thread scenarios as one plain program, for
 * ThreadSanitizer.
 *
 * Criterion cannot start under TSan (its process arena fails to map:
 * Criterion issue #274), so `make tsan` builds this driver with
 * -fsanitize=thread and runs it; any data race makes TSan stop it with a
 * report (halt_on_error=1), and any broken expectation makes it exit 1.
 * The same scenarios are asserted one by one in tests/unit/test_threads.c.
 *
 *   1. shutdown of an acceptor from another thread wakes a blocked accept;
 *   2. one thread sends while another receives on the same socket;
 *   3. several threads each stop a server that another thread runs,
 *      repeated (scenario 37 of reliability.md);
 *   4. an event loop on the poller, serving non-blocking clients, stopped
 *      by sock_poller_wake() from another thread, repeated; a failing
 *      client's error text is written by the loop while another thread
 *      reads the loop's counters only after the wake.
 * Loopback only, ephemeral ports, every loop bounded.
 */
#include "sock.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int failures;

#define CHECK(cond, ...)                                                       \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                      \
            fputc('\n', stderr);                                               \
            __atomic_add_fetch(&failures, 1, __ATOMIC_RELAXED);                \
        }                                                                      \
    } while (0)

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

static void listen_on(sock_t *acep, const char *host, char *port, size_t len)
{
    sock_init(acep);
    int rc = sock_bind(acep, host, "0");
    CHECK(rc == 0, "bind: %s", sock_error(acep));
    rc = sock_listen(acep, 16);
    CHECK(rc == 0, "listen: %s", sock_error(acep));
    snprintf(port, len, "%d", sock_local_port(acep));
}

/* ---- 1. waking a blocked accept ------------------------------------------ */

struct acceptor_run {
    sock_t acep;
    int accepted;
    int result;
};

static void *accept_loop(void *arg)
{
    struct acceptor_run *r = arg;
    /* Bounded: the test connects at most a few clients. */
    for (int i = 0; i < 100; i++) {
        sock_t peer;
        int rc = sock_accept(&r->acep, &peer);
        if (rc < 0) {
            r->result = rc;
            return NULL;
        }
        __atomic_add_fetch(&r->accepted, 1, __ATOMIC_RELEASE);
        sock_close(&peer);
    }
    r->result = 0;
    return NULL;
}

static void wake_accept(const char *host)
{
    for (int round = 0; round < 10; round++) {
        struct acceptor_run r = {.accepted = 0, .result = 1};
        char port[8];
        listen_on(&r.acep, host, port, sizeof port);
        pthread_t t;
        pthread_create(&t, NULL, accept_loop, &r);
        for (int i = 0; i < 3; i++) {
            sock_t cli;
            sock_init(&cli);
            CHECK(sock_connect(&cli, host, port) == 0, "connect: %s", sock_error(&cli));
            sock_close(&cli);
        }
        /* Wait (bounded) until the acceptor took the three: on a loaded
         * machine 20 ms was not always enough, and a shutdown drops
         * connections still queued. */
        for (int i = 0; i < 500 && __atomic_load_n(&r.accepted, __ATOMIC_ACQUIRE) < 3; i++)
            sleep_ms(10);
        CHECK(sock_shutdown(&r.acep, SOCK_SHUT_READ_WRITE) == 0, "shutdown: %s",
              sock_error(&r.acep));
        pthread_join(t, NULL);
        CHECK(r.result == SOCK_ECLOSED, "accept returned %d, not SOCK_ECLOSED", r.result);
        CHECK(r.accepted == 3, "accepted %d of 3 clients", r.accepted);
        CHECK(sock_close(&r.acep) == 0, "close after wake");
    }
}

/* ---- 2. one thread sends, another receives -------------------------------- */

#define DUPLEX_BYTES (4u << 20)

struct duplex {
    sock_t *s;
    unsigned char *buf;
    int rc;
};

static void *sender(void *arg)
{
    struct duplex *d = arg;
    d->rc = sock_send_all(d->s, d->buf, DUPLEX_BYTES, NULL);
    if (d->rc == 0)
        d->rc = sock_shutdown(d->s, SOCK_SHUT_WRITE);
    return NULL;
}

static void *echoer(void *arg)
{
    sock_t *srv = arg;
    static __thread char chunk[65536];
    for (;;) {
        ssize_t n = sock_recv(srv, chunk, sizeof chunk);
        if (n <= 0)
            break;
        if (sock_send_all(srv, chunk, (size_t)n, NULL) < 0)
            break;
    }
    sock_shutdown(srv, SOCK_SHUT_WRITE);
    return NULL;
}

static void full_duplex(const char *host)
{
    sock_t acep, cli, srv;
    char port[8];
    listen_on(&acep, host, port, sizeof port);
    sock_init(&cli);
    CHECK(sock_connect(&cli, host, port) == 0, "connect: %s", sock_error(&cli));
    CHECK(sock_accept(&acep, &srv) == 0, "accept: %s", sock_error(&acep));

    unsigned char *out = malloc(DUPLEX_BYTES), *in = malloc(DUPLEX_BYTES);
    CHECK(out && in, "out of memory");
    if (!out || !in)
        goto done;
    for (size_t i = 0; i < DUPLEX_BYTES; i++)
        out[i] = (unsigned char)(i * 7 + (i >> 11));

    pthread_t ts, te;
    struct duplex d = {.s = &cli, .buf = out, .rc = 1};
    pthread_create(&te, NULL, echoer, &srv);
    pthread_create(&ts, NULL, sender, &d);
    size_t got = 0;
    int rc = sock_recv_all(&cli, in, DUPLEX_BYTES, &got);
    pthread_join(ts, NULL);
    pthread_join(te, NULL);
    CHECK(d.rc == 0, "sender: %s", sock_error(&cli));
    CHECK(rc == 0 && got == DUPLEX_BYTES, "received %zu of %u: %s", got, DUPLEX_BYTES,
          sock_error(&cli));
    CHECK(memcmp(in, out, DUPLEX_BYTES) == 0, "echoed bytes differ");
done:
    free(out);
    free(in);
    sock_close(&cli);
    sock_close(&srv);
    sock_close(&acep);
}

/* ---- 3. threads stopping each other's servers ----------------------------- */

#define SERVERS 4

static struct acceptor_run servers[SERVERS];
static int ready[SERVERS];

static void *run_server(void *arg)
{
    struct acceptor_run *r = arg;
    accept_loop(r);
    return NULL;
}

/* Thread i stops the server of thread (i + 1) % SERVERS. */
static void *stopper(void *arg)
{
    int i = (int)(long)arg, victim = (i + 1) % SERVERS;
    for (int spin = 0; spin < 1000 && !__atomic_load_n(&ready[victim], __ATOMIC_ACQUIRE); spin++)
        sleep_ms(1);
    sleep_ms(5);
    CHECK(sock_shutdown(&servers[victim].acep, SOCK_SHUT_READ_WRITE) == 0, "stop %d: %s", victim,
          sock_error(&servers[victim].acep));
    return NULL;
}

static void stop_each_other(const char *host)
{
    for (int round = 0; round < 5; round++) {
        pthread_t srv[SERVERS], stop[SERVERS];
        char port[8];
        for (int i = 0; i < SERVERS; i++) {
            servers[i] = (struct acceptor_run){.accepted = 0, .result = 1};
            listen_on(&servers[i].acep, host, port, sizeof port);
            __atomic_store_n(&ready[i], 0, __ATOMIC_RELEASE);
            pthread_create(&srv[i], NULL, run_server, &servers[i]);
            __atomic_store_n(&ready[i], 1, __ATOMIC_RELEASE);
        }
        for (int i = 0; i < SERVERS; i++)
            pthread_create(&stop[i], NULL, stopper, (void *)(long)i);
        /* Server i is stopped by thread i - 1: join every stopper before
         * closing any acceptor (close must not race with shutdown). */
        for (int i = 0; i < SERVERS; i++)
            pthread_join(stop[i], NULL);
        for (int i = 0; i < SERVERS; i++) {
            pthread_join(srv[i], NULL);
            CHECK(servers[i].result == SOCK_ECLOSED, "server %d ended with %d", i,
                  servers[i].result);
            sock_close(&servers[i].acep);
        }
    }
}

/* ---- 4. an event loop woken from another thread ------------------------- */

struct loop {
    sock_poller_t *p;
    sock_t acep;
    int stop;         /* set by the stopper before it wakes the loop */
    int served;       /* bytes echoed, read by the main thread after join */
};

static void *event_loop(void *arg)
{
    struct loop *l = arg;
    sock_t clients[8];
    int n_clients = 0;
    while (!__atomic_load_n(&l->stop, __ATOMIC_ACQUIRE)) {
        sock_event_t ev[16];
        int n = sock_poller_wait(l->p, ev, 16, 5000);
        CHECK(n >= 0, "poller_wait: %s", sock_strerror(n));
        for (int i = 0; i < n; i++) {
            if (ev[i].user == &l->acep) {
                while (n_clients < 8 && sock_accept(&l->acep, &clients[n_clients]) == 0) {
                    sock_poller_add(l->p, &clients[n_clients], SOCK_READABLE, &clients[n_clients]);
                    n_clients++;
                }
                continue;
            }
            sock_t *c = ev[i].user;
            char buf[256];
            ssize_t got = sock_recv(c, buf, sizeof buf);
            if (got > 0 && sock_send_all(c, buf, (size_t)got, NULL) == 0)
                l->served += (int)got;
            else if (got != -EAGAIN)
                sock_poller_remove(l->p, c);
        }
    }
    for (int i = 0; i < n_clients; i++)
        sock_close(&clients[i]);
    return NULL;
}

static void *loop_stopper(void *arg)
{
    struct loop *l = arg;
    sleep_ms(20);
    __atomic_store_n(&l->stop, 1, __ATOMIC_RELEASE);
    int rc = sock_poller_wake(l->p);
    CHECK(rc == 0, "wake: %s", sock_strerror(rc));
    return NULL;
}

static void wake_loop(const char *host)
{
    for (int round = 0; round < 10; round++) {
        struct loop l = {.stop = 0};
        char port[16];
        listen_on(&l.acep, host, port, sizeof port);
        sock_set_nonblocking(&l.acep, 1);
        CHECK(sock_poller_open(&l.p) == 0, "poller_open");
        sock_poller_add(l.p, &l.acep, SOCK_READABLE, &l.acep);
        pthread_t loop_t, stop_t;
        pthread_create(&loop_t, NULL, event_loop, &l);
        sock_t c;
        sock_init(&c);
        CHECK(sock_connect(&c, host, port) == 0, "connect: %s", sock_error(&c));
        char back[5];
        CHECK(sock_send_all(&c, "hello", 5, NULL) == 0, "send: %s", sock_error(&c));
        CHECK(sock_recv_all(&c, back, 5, NULL) == 0, "echo: %s", sock_error(&c));
        pthread_create(&stop_t, NULL, loop_stopper, &l);
        pthread_join(stop_t, NULL);
        pthread_join(loop_t, NULL);
        CHECK(l.served == 5, "served %d bytes", l.served);
        sock_close(&c);
        sock_poller_close(l.p);
        sock_close(&l.acep);
    }
}

int main(void)
{
    const char *hosts[] = {"127.0.0.1", "::1"};
    for (int h = 0; h < 2; h++) {
        wake_accept(hosts[h]);
        full_duplex(hosts[h]);
        stop_each_other(hosts[h]);
        wake_loop(hosts[h]);
        printf("threads %s: %s\n", hosts[h], failures ? "FAILED" : "ok");
    }
    return failures ? 1 : 0;
}
