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
 *      repeated (scenario 37 of reliability.md).
 * Loopback only, ephemeral ports, every loop bounded.
 */
#include "sock.h"

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
        r->accepted++;
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
        sleep_ms(20);
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

int main(void)
{
    const char *hosts[] = {"127.0.0.1", "::1"};
    for (int h = 0; h < 2; h++) {
        wake_accept(hosts[h]);
        full_duplex(hosts[h]);
        stop_each_other(hosts[h]);
        printf("threads %s: %s\n", hosts[h], failures ? "FAILED" : "ok");
    }
    return failures ? 1 : 0;
}
