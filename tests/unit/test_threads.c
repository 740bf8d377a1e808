/*
 * test_threads.c - waking blocked calls from another thread, one thread
 * sending while another receives, and sockets in many threads
 * (reliability scenarios 15 and 37, and the header's thread rules).
 */
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A thread blocked in sock_accept or sock_recv; `started` tells the test
 * it is about to block. */
struct blocked {
    sock_t *s;
    int started;
    int done;
    long long rc;
    int use_all;
};

static void *accept_thread(void *arg)
{
    struct blocked *b = arg;
    sock_t peer;
    __atomic_store_n(&b->started, 1, __ATOMIC_RELEASE);
    b->rc = sock_accept(b->s, &peer);
    if (b->rc == 0)
        sock_close(&peer);
    __atomic_store_n(&b->done, 1, __ATOMIC_RELEASE);
    return NULL;
}

static void *recv_thread(void *arg)
{
    struct blocked *b = arg;
    char buf[64];
    __atomic_store_n(&b->started, 1, __ATOMIC_RELEASE);
    b->rc = b->use_all ? sock_recv_all(b->s, buf, sizeof buf, NULL)
                       : sock_recv(b->s, buf, sizeof buf);
    __atomic_store_n(&b->done, 1, __ATOMIC_RELEASE);
    return NULL;
}

/* Start fn on b and give it time to block (not a measured threshold: if it
 * has not blocked yet, the call must still see the shutdown). */
static pthread_t start_blocked(void *(*fn)(void *), struct blocked *b)
{
    pthread_t t = spawn(fn, b);
    for (int i = 0; i < 1000 && !__atomic_load_n(&b->started, __ATOMIC_ACQUIRE); i++)
        sleep_ms(1);
    sleep_ms(100);
    cr_assert_eq(__atomic_load_n(&b->done, __ATOMIC_ACQUIRE), 0,
                 "the call returned %lld before anything woke it", b->rc);
    return t;
}

static void wake_accept(const char *host, int timeout_ms, int how)
{
    sock_t a;
    char port[8];
    listener_on(&a, host, port);
    if (timeout_ms)
        expect_ok(&a, sock_set_timeout(&a, timeout_ms));
    struct blocked b = {.s = &a};
    pthread_t t = start_blocked(accept_thread, &b);
    expect_ok(&a, sock_shutdown(&a, how));
    join_within(t, 5000);
    expect_code(&a, b.rc, SOCK_ECLOSED);
    expect_ok(&a, sock_close(&a));
    /* The closed acceptor refuses further accepts. */
    sock_t p;
    expect_code(&a, sock_accept(&a, &p), SOCK_ECLOSED);
}

FAMILY_TEST(threads, shutdown_wakes_blocked_accept, .timeout = 10)
{
    wake_accept(host, 0, SOCK_SHUT_READ_WRITE);
}

FAMILY_TEST(threads, shutdown_read_wakes_blocked_accept, .timeout = 10)
{
    wake_accept(host, 0, SOCK_SHUT_READ);
}

/* An acceptor has no write direction of its own: every how stops it. */
FAMILY_TEST(threads, shutdown_write_wakes_blocked_accept, .timeout = 10)
{
    wake_accept(host, 0, SOCK_SHUT_WRITE);
}

FAMILY_TEST(threads, shutdown_wakes_accept_with_timeout, .timeout = 10)
{
    wake_accept(host, 8000, SOCK_SHUT_READ_WRITE);
}

FAMILY_TEST(threads, accept_after_acceptor_shutdown_is_eclosed, .timeout = 10)
{
    sock_t a;
    char port[8];
    listener_on(&a, host, port);
    /* Even with a client waiting, a shut-down acceptor accepts no more. */
    sock_t c, p;
    sock_init(&c);
    expect_ok(&c, sock_connect(&c, host, port));
    expect_ok(&a, sock_shutdown(&a, SOCK_SHUT_READ_WRITE));
    expect_code(&a, sock_accept(&a, &p), SOCK_ECLOSED);
    cr_assert_str_neq(sock_error(&a), "");
    sock_close(&c);
    sock_close(&a);
}

static void wake_recv(const char *host, int timeout_ms, int use_all)
{
    sock_t c, s;
    pair_on(host, &c, &s);
    if (timeout_ms)
        expect_ok(&s, sock_set_timeout(&s, timeout_ms));
    struct blocked b = {.s = &s, .use_all = use_all};
    pthread_t t = start_blocked(recv_thread, &b);
    expect_ok(&s, sock_shutdown(&s, SOCK_SHUT_READ));
    join_within(t, 5000);
    /* The header: a recv woken by SOCK_SHUT_READ returns SOCK_ECLOSED. */
    expect_code(&s, b.rc, SOCK_ECLOSED);
    char x;
    expect_code(&s, sock_recv(&s, &x, 1), SOCK_ECLOSED);
    /* The write side still works after the read side was shut. */
    expect_ok(&s, sock_send_all(&s, "w", 1, NULL));
    expect_ok(&c, sock_recv_all(&c, &x, 1, NULL));
    cr_assert_eq(x, 'w');
    sock_close(&c);
    sock_close(&s);
}

FAMILY_TEST(threads, shutdown_read_wakes_blocked_recv, .timeout = 10)
{
    wake_recv(host, 0, 0);
}

FAMILY_TEST(threads, shutdown_read_wakes_recv_with_timeout, .timeout = 10)
{
    wake_recv(host, 8000, 0);
}

FAMILY_TEST(threads, shutdown_read_wakes_blocked_recv_all, .timeout = 10)
{
    wake_recv(host, 0, 1);
}

/* One thread sends while another receives on the same socket; the server
 * echoes, so every byte crosses the client socket in both directions. */
struct echo {
    sock_t *s;
    int rc;
};

static void *echo_thread(void *arg)
{
    struct echo *e = arg;
    static __thread char buf[32768];
    ssize_t n;
    e->rc = 0;
    while ((n = sock_recv(e->s, buf, sizeof buf)) > 0) {
        int rc = sock_send_all(e->s, buf, (size_t)n, NULL);
        if (rc < 0) {
            e->rc = rc;
            return NULL;
        }
    }
    e->rc = n < 0 ? (int)n : sock_shutdown(e->s, SOCK_SHUT_WRITE);
    return NULL;
}

struct pump {
    sock_t *s;
    size_t len;
    int rc;
};

static void *pump_thread(void *arg)
{
    struct pump *p = arg;
    static __thread unsigned char buf[65536];
    size_t done = 0;
    p->rc = 0;
    while (done < p->len && p->rc == 0) {
        size_t n = p->len - done < sizeof buf ? p->len - done : sizeof buf;
        fill_pattern(buf, n, done);
        p->rc = sock_send_all(p->s, buf, n, NULL);
        done += n;
    }
    if (p->rc == 0)
        p->rc = sock_shutdown(p->s, SOCK_SHUT_WRITE);
    return NULL;
}

FAMILY_TEST(threads, one_sends_while_another_receives, .timeout = 30)
{
    sock_t c, s;
    pair_on(host, &c, &s);
    struct echo e = {.s = &s};
    struct pump p = {.s = &c, .len = 16u << 20};
    pthread_t te = spawn(echo_thread, &e);
    pthread_t tp = spawn(pump_thread, &p);
    struct drain d = {.s = &c, .chunk = 3000};
    drain_thread(&d);
    join_within(tp, 20000);
    join_within(te, 20000);
    expect_ok(&c, p.rc);
    expect_ok(&s, e.rc);
    cr_assert_eq(d.last, 0, "the receiving thread ended with %zd", d.last);
    cr_assert_eq(d.total, p.len, "echoed %zu of %zu bytes", d.total, p.len);
    cr_assert_eq(d.first_bad, SIZE_MAX, "corrupt byte at %zu", d.first_bad);
    sock_close(&c);
    sock_close(&s);
}

/* Distinct sockets in distinct threads: each thread runs its own
 * listener, client and server. */
struct worker {
    const char *host;
    int failures;
};

static void *pingpong_worker(void *arg)
{
    struct worker *w = arg;
    for (int round = 0; round < 20; round++) {
        sock_t a, c, s;
        char port[8];
        sock_init(&a);
        if (sock_bind(&a, w->host, "0") < 0 || sock_listen(&a, 4) < 0) {
            w->failures++;
            sock_close(&a);
            continue;
        }
        snprintf(port, sizeof port, "%d", sock_local_port(&a));
        sock_init(&c);
        if (sock_connect(&c, w->host, port) < 0 || sock_accept(&a, &s) < 0) {
            w->failures++;
            sock_close(&c);
            sock_close(&a);
            continue;
        }
        for (int i = 0; i < 50; i++) {
            unsigned char b = (unsigned char)i, got = 0;
            if (sock_send_all(&c, &b, 1, NULL) < 0 || sock_recv_all(&s, &got, 1, NULL) < 0 ||
                got != b || sock_send_all(&s, &b, 1, NULL) < 0 ||
                sock_recv_all(&c, &got, 1, NULL) < 0 || got != b) {
                w->failures++;
                break;
            }
        }
        sock_close(&c);
        sock_close(&s);
        sock_close(&a);
    }
    return NULL;
}

FAMILY_TEST(threads, distinct_sockets_in_distinct_threads, .timeout = 30)
{
    enum { N = 4 };
    struct worker w[N];
    pthread_t t[N];
    for (int i = 0; i < N; i++) {
        w[i] = (struct worker){.host = host};
        t[i] = spawn(pingpong_worker, &w[i]);
    }
    for (int i = 0; i < N; i++) {
        join_within(t[i], 25000);
        cr_assert_eq(w[i].failures, 0, "thread %d had %d failed rounds", i, w[i].failures);
    }
}
