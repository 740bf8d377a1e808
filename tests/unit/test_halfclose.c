/*
 * test_halfclose.c - shutdown of one direction, of both, twice, after a
 * reset, and its misuse (reliability scenarios 14 and 16).
 */
#include "util.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>

FAMILY_TEST(halfclose, write_shutdown_peer_reads_eof_and_replies, .timeout = 10)
{
    sock_t c, s;
    pair_on(host, &c, &s);
    expect_ok(&c, sock_send_all(&c, "question", 8, NULL));
    expect_ok(&c, sock_shutdown(&c, SOCK_SHUT_WRITE));
    char buf[16];
    expect_ok(&s, sock_recv_all(&s, buf, 8, NULL));
    cr_assert_arr_eq(buf, "question", 8);
    cr_assert_eq(sock_recv(&s, buf, sizeof buf), 0, "server sees end of stream after the FIN");
    /* The other direction still works. */
    expect_ok(&s, sock_send_all(&s, "answer", 6, NULL));
    expect_ok(&s, sock_close(&s));
    expect_ok(&c, sock_recv_all(&c, buf, 6, NULL));
    cr_assert_arr_eq(buf, "answer", 6);
    cr_assert_eq(sock_recv(&c, buf, sizeof buf), 0);
    sock_close(&c);
}

/* Data sent just before the FIN is all delivered before end of stream. */
FAMILY_TEST(halfclose, data_before_fin_arrives_whole, .timeout = 15)
{
    sock_t c, s;
    pair_on(host, &c, &s);
    struct drain d = {.s = &s, .chunk = 4096};
    pthread_t t = spawn(drain_thread, &d);
    const size_t len = 2u << 20;
    unsigned char *buf = malloc(len);
    cr_assert_not_null(buf);
    fill_pattern(buf, len, 0);
    expect_ok(&c, sock_send_all(&c, buf, len, NULL));
    expect_ok(&c, sock_shutdown(&c, SOCK_SHUT_WRITE));
    join_within(t, 10000);
    cr_assert_eq(d.last, 0);
    cr_assert_eq(d.total, len);
    cr_assert_eq(d.first_bad, SIZE_MAX);
    free(buf);
    sock_close(&c);
    sock_close(&s);
}

FAMILY_TEST(halfclose, send_after_own_write_shutdown_is_eclosed, .timeout = 10)
{
    sock_t c, s;
    pair_on(host, &c, &s);
    expect_ok(&c, sock_shutdown(&c, SOCK_SHUT_WRITE));
    size_t n = 99;
    expect_code(&c, sock_send(&c, "x", 1), SOCK_ECLOSED);
    expect_code(&c, sock_send_all(&c, "xy", 2, &n), SOCK_ECLOSED);
    cr_assert_eq(n, 0);
    cr_assert_str_neq(sock_error(&c), "");
    /* Receiving is unaffected. */
    expect_ok(&s, sock_send_all(&s, "z", 1, NULL));
    char b;
    expect_ok(&c, sock_recv_all(&c, &b, 1, NULL));
    cr_assert_eq(b, 'z');
    sock_close(&c);
    sock_close(&s);
}

FAMILY_TEST(halfclose, recv_after_own_read_shutdown_is_eclosed, .timeout = 10)
{
    sock_t c, s;
    pair_on(host, &c, &s);
    expect_ok(&c, sock_shutdown(&c, SOCK_SHUT_READ));
    char b;
    size_t n = 99;
    expect_code(&c, sock_recv(&c, &b, 1), SOCK_ECLOSED);
    expect_code(&c, sock_recv_all(&c, &b, 1, &n), SOCK_ECLOSED);
    cr_assert_eq(n, 0);
    /* Sending is unaffected. */
    expect_ok(&c, sock_send_all(&c, "q", 1, NULL));
    expect_ok(&s, sock_recv_all(&s, &b, 1, NULL));
    cr_assert_eq(b, 'q');
    sock_close(&c);
    sock_close(&s);
}

/* Data that was pending at our own SHUT_READ, and data the peer sends
 * after it, is never handed out: the read side is closed. */
FAMILY_TEST(halfclose, recv_after_own_read_shutdown_returns_no_data, .timeout = 10)
{
    sock_t c, s;
    pair_on(host, &c, &s);
    expect_ok(&s, sock_send_all(&s, "pending", 7, NULL));
    /* The bytes must be queued at the client before it shuts down. */
    struct pollfd pfd = {.fd = sock_fd(&c), .events = POLLIN};
    cr_assert_eq(poll(&pfd, 1, 5000), 1, "the data never reached the client");
    expect_ok(&c, sock_shutdown(&c, SOCK_SHUT_READ));
    char buf[16];
    size_t n = 99;
    expect_code(&c, sock_recv(&c, buf, sizeof buf), SOCK_ECLOSED);
    expect_code(&c, sock_recv_all(&c, buf, 3, &n), SOCK_ECLOSED);
    cr_assert_eq(n, 0);
    expect_ok(&s, sock_send_all(&s, "later", 5, NULL));
    sleep_ms(50);
    expect_code(&c, sock_recv(&c, buf, sizeof buf), SOCK_ECLOSED);
    sock_close(&c);
    sock_close(&s);
}

FAMILY_TEST(halfclose, shutdown_twice_is_harmless, .timeout = 10)
{
    static const int hows[] = {SOCK_SHUT_READ, SOCK_SHUT_WRITE, SOCK_SHUT_READ_WRITE};
    for (int h = 0; h < 3; h++) {
        sock_t c, s;
        pair_on(host, &c, &s);
        expect_ok(&c, sock_shutdown(&c, hows[h]));
        expect_ok(&c, sock_shutdown(&c, hows[h]));
        expect_ok(&c, sock_shutdown(&c, SOCK_SHUT_READ_WRITE));
        expect_ok(&c, sock_shutdown(&c, SOCK_SHUT_READ_WRITE));
        sock_close(&c);
        sock_close(&s);
    }
}

struct shutter {
    sock_t *s;
    volatile int *go;
    int rc;
};

static void *shut_both(void *arg)
{
    struct shutter *w = arg;
    for (int i = 0; i < 100000000 && !__atomic_load_n(w->go, __ATOMIC_ACQUIRE); i++)
        ;
    w->rc = sock_shutdown(w->s, SOCK_SHUT_READ_WRITE);
    return NULL;
}

/* Both ends shut down at the same moment, each from its own thread. */
FAMILY_TEST(halfclose, both_sides_at_once, .timeout = 10 * SOCK_TEST_TIME_SCALE)
{
    for (int round = 0; round < 20; round++) {
        sock_t c, s;
        pair_on(host, &c, &s);
        volatile int go = 0;
        struct shutter a = {.s = &c, .go = &go}, b = {.s = &s, .go = &go};
        pthread_t ta = spawn(shut_both, &a), tb = spawn(shut_both, &b);
        __atomic_store_n(&go, 1, __ATOMIC_RELEASE);
        join_within(ta, 5000);
        join_within(tb, 5000);
        expect_ok(&c, a.rc);
        expect_ok(&s, b.rc);
        expect_ok(&c, sock_close(&c));
        expect_ok(&s, sock_close(&s));
    }
}

FAMILY_TEST(halfclose, shutdown_after_reset_is_enotconn, .timeout = 10)
{
    sock_t c, s;
    pair_on(host, &c, &s);
    expect_ok(&c, sock_abort(&c));
    char b;
    expect_code(&s, sock_recv(&s, &b, 1), -ECONNRESET);
    expect_code(&s, sock_shutdown(&s, SOCK_SHUT_WRITE), -ENOTCONN);
    cr_assert_str_neq(sock_error(&s), "");
    expect_ok(&s, sock_close(&s));
}

FAMILY_TEST(halfclose, shutdown_misuse, .timeout = 10)
{
    sock_t fresh, bound;
    sock_init(&fresh);
    expect_code(&fresh, sock_shutdown(&fresh, SOCK_SHUT_WRITE), -ENOTCONN);
    sock_init(&bound);
    expect_ok(&bound, sock_bind(&bound, host, "0"));
    expect_code(&bound, sock_shutdown(&bound, SOCK_SHUT_READ_WRITE), -ENOTCONN);
    sock_close(&bound);
    expect_code(&bound, sock_shutdown(&bound, SOCK_SHUT_READ_WRITE), SOCK_ECLOSED);

    sock_t c, s;
    pair_on(host, &c, &s);
    static const int bad[] = {-1, 3, 7, 1000};
    for (int i = 0; i < 4; i++) {
        expect_code(&c, sock_shutdown(&c, bad[i]), -EINVAL);
        cr_assert_str_neq(sock_error(&c), "", "an unknown how is explained");
    }
    /* The rejected calls shut nothing down. */
    expect_ok(&c, sock_send_all(&c, "ok", 2, NULL));
    char buf[2];
    expect_ok(&s, sock_recv_all(&s, buf, 2, NULL));
    expect_ok(&s, sock_send_all(&s, "ok", 2, NULL));
    expect_ok(&c, sock_recv_all(&c, buf, 2, NULL));
    sock_close(&c);
    expect_code(&c, sock_shutdown(&c, SOCK_SHUT_WRITE), SOCK_ECLOSED);
    sock_close(&s);
}
