/*
 * test_timeouts.c - every blocking call bounded by sock_set_timeout, never
 * ending before the limit (reliability scenarios 12, 24-27).
 *
 * Only "not earlier than the limit" is asserted about time; the upper bounds
 * are hang guards, many times the limit, because the machine is shared.
 */
#include "util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define LIMIT_MS 300
#define HANG_GUARD_MS 8000

/* Assert that a call that took elapsed ms timed out properly. */
#define expect_timed_out(s, rc, elapsed)                                         \
    do {                                                                         \
        expect_code(s, rc, -ETIMEDOUT);                                          \
        cr_assert_geq(elapsed, LIMIT_MS, "timed out after %lld ms, limit %d ms", \
                      (long long)(elapsed), LIMIT_MS);                           \
        cr_assert_lt(elapsed, HANG_GUARD_MS, "took %lld ms", (long long)(elapsed)); \
        cr_assert_str_neq(sock_error(s), "", "the timeout is explained");        \
    } while (0)

FAMILY_TEST(timeouts, recv_not_earlier_than_limit, .timeout = 15)
{
    sock_t c, s;
    pair_on(host, &c, &s);
    expect_ok(&s, sock_set_timeout(&s, LIMIT_MS));
    char buf[8];
    int64_t t0 = now_ms();
    ssize_t n = sock_recv(&s, buf, sizeof buf);
    expect_timed_out(&s, n, now_ms() - t0);
    size_t got = 99;
    t0 = now_ms();
    int rc = sock_recv_all(&s, buf, sizeof buf, &got);
    expect_timed_out(&s, rc, now_ms() - t0);
    cr_assert_eq(got, 0);
    /* The connection is still usable after a timeout. */
    expect_ok(&c, sock_send_all(&c, "late", 4, NULL));
    expect_ok(&s, sock_recv_all(&s, buf, 4, NULL));
    cr_assert_arr_eq(buf, "late", 4);
    sock_close(&c);
    sock_close(&s);
}

FAMILY_TEST(timeouts, accept_not_earlier_than_limit, .timeout = 15)
{
    sock_t a, p;
    char port[8];
    listener_on(&a, host, port);
    expect_ok(&a, sock_set_timeout(&a, LIMIT_MS));
    int64_t t0 = now_ms();
    int rc = sock_accept(&a, &p);
    expect_timed_out(&a, rc, now_ms() - t0);
    cr_assert_eq(sock_fd(&p), -1);
    /* Still an acceptor afterwards. */
    sock_t c;
    sock_init(&c);
    expect_ok(&c, sock_connect(&c, host, port));
    expect_ok(&a, sock_accept(&a, &p));
    sock_close(&p);
    sock_close(&c);
    sock_close(&a);
}

FAMILY_TEST(timeouts, accepted_socket_inherits_timeout, .timeout = 15)
{
    sock_t a, c, s;
    char port[8];
    listener_on(&a, host, port);
    expect_ok(&a, sock_set_timeout(&a, LIMIT_MS));
    sock_init(&c);
    expect_ok(&c, sock_connect(&c, host, port));
    expect_ok(&a, sock_accept(&a, &s));
    char b;
    int64_t t0 = now_ms();
    ssize_t n = sock_recv(&s, &b, 1);
    expect_timed_out(&s, n, now_ms() - t0);
    sock_close(&c);
    sock_close(&s);
    sock_close(&a);
}

/* A peer that never reads: the send buffer stays full and send_all ends at
 * its deadline, saying how much went out; a later single send times out
 * too. */
FAMILY_TEST(timeouts, send_with_full_buffer, .timeout = 20)
{
    sock_t c, s;
    pair_on(host, &c, &s);
    expect_ok(&c, sock_set_timeout(&c, LIMIT_MS));
    const size_t len = 64u << 20;
    char *buf = calloc(1, len);
    cr_assert_not_null(buf);
    size_t sent = 0;
    int64_t t0 = now_ms();
    int rc = sock_send_all(&c, buf, len, &sent);
    expect_timed_out(&c, rc, now_ms() - t0);
    cr_assert(sent > 0 && sent < len, "*sent = %zu", sent);
    /* The kernel may still grow the buffer a little (autotuning), so a
     * single send is tried until the buffer is really full. */
    ssize_t n = 1;
    int64_t elapsed = 0;
    for (int i = 0; i < 1000 && n > 0; i++) {
        t0 = now_ms();
        n = sock_send(&c, buf, 65536);
        elapsed = now_ms() - t0;
    }
    expect_timed_out(&c, n, elapsed);
    /* Closing does not wait for the unread data to drain. */
    t0 = now_ms();
    expect_ok(&c, sock_close(&c));
    cr_assert_lt(now_ms() - t0, HANG_GUARD_MS);
    free(buf);
    sock_close(&s);
}

/* The timeout bounds a whole recv_all, not each recv inside it: a peer
 * trickling a byte every 20 ms must not keep it alive past the limit. */
struct trickle {
    sock_t *s;
    int count;
    int finished;
};

static void *trickle_thread(void *arg)
{
    struct trickle *t = arg;
    for (int i = 0; i < t->count; i++) {
        if (sock_send(t->s, "t", 1) != 1)
            break;
        sleep_ms(20);
    }
    __atomic_store_n(&t->finished, 1, __ATOMIC_RELEASE);
    return NULL;
}

FAMILY_TEST(timeouts, whole_recv_all_is_bounded, .timeout = 20)
{
    sock_t c, s;
    pair_on(host, &c, &s);
    expect_ok(&c, sock_set_nodelay(&c, 1));
    expect_ok(&s, sock_set_timeout(&s, LIMIT_MS));
    struct trickle tr = {.s = &c, .count = 400}; /* about 8 s of bytes */
    pthread_t t = spawn(trickle_thread, &tr);
    char buf[1000];
    size_t got = 0;
    int64_t t0 = now_ms();
    int rc = sock_recv_all(&s, buf, sizeof buf, &got);
    int64_t elapsed = now_ms() - t0;
    int trickling = !__atomic_load_n(&tr.finished, __ATOMIC_ACQUIRE);
    expect_code(&s, rc, -ETIMEDOUT);
    cr_assert_geq(elapsed, LIMIT_MS);
    cr_assert(trickling, "recv_all outlived the whole trickle (%lld ms): the clock restarted",
              (long long)elapsed);
    cr_assert(got > 0 && got < sizeof buf, "*received = %zu", got);
    sock_shutdown(&s, SOCK_SHUT_READ_WRITE);
    sock_shutdown(&c, SOCK_SHUT_READ_WRITE);
    join_within(t, 15000);
    sock_close(&c);
    sock_close(&s);
}

FAMILY_TEST(timeouts, zero_never_waits, .timeout = 10)
{
    sock_t a, c, s, p;
    pair_with_acceptor(host, &a, &c, &s);
    expect_ok(&s, sock_set_timeout(&s, 0));
    expect_ok(&a, sock_set_timeout(&a, 0));
    char b;
    int64_t t0 = now_ms();
    expect_code(&s, sock_recv(&s, &b, 1), -ETIMEDOUT);
    expect_code(&a, sock_accept(&a, &p), -ETIMEDOUT);
    cr_assert_lt(now_ms() - t0, HANG_GUARD_MS);
    /* Data already there is returned without waiting. */
    expect_ok(&c, sock_send_all(&c, "d", 1, NULL));
    ssize_t n = -1;
    for (int i = 0; i < 500 && (n = sock_recv(&s, &b, 1)) == -ETIMEDOUT; i++)
        sleep_ms(2);
    cr_assert_eq(n, 1);
    cr_assert_eq(b, 'd');
    sock_close(&c);
    sock_close(&s);
    sock_close(&a);
}

/* Back to -1 after a finite timeout: the socket blocks again and works. */
FAMILY_TEST(timeouts, back_to_forever, .timeout = 10)
{
    sock_t c, s;
    pair_on(host, &c, &s);
    expect_ok(&s, sock_set_timeout(&s, LIMIT_MS));
    expect_ok(&s, sock_set_timeout(&s, -1));
    struct trickle tr = {.s = &c, .count = 3};
    pthread_t t = spawn(trickle_thread, &tr);
    char buf[3];
    expect_ok(&s, sock_recv_all(&s, buf, 3, NULL));
    join_within(t, 5000);
    sock_close(&c);
    sock_close(&s);
}

/* Connect to an address that never answers: a port whose SYNs are
 * dropped inside a network namespace of the test's own. */
FAMILY_TEST(timeouts, connect_to_silent_address, .timeout = 20)
{
    enter_blackhole_netns();
    int fds = count_fds();
    sock_t c;
    sock_init(&c);
    expect_ok(&c, sock_set_timeout(&c, LIMIT_MS));
    int64_t t0 = now_ms();
    int rc = sock_connect(&c, host, BLACKHOLE_PORT);
    expect_timed_out(&c, rc, now_ms() - t0);
    cr_assert(strstr(sock_error(&c), host) != NULL, "error names the address: %s",
              sock_error(&c));
    cr_assert_eq(sock_fd(&c), -1);
    cr_assert_eq(count_fds(), fds, "the failed connect left a descriptor open");
    sock_close(&c);

    /* With an explicit bind first, the bound socket survives the timeout. */
    sock_init(&c);
    expect_ok(&c, sock_set_timeout(&c, LIMIT_MS));
    expect_ok(&c, sock_bind(&c, host, "0"));
    t0 = now_ms();
    rc = sock_connect(&c, host, BLACKHOLE_PORT);
    expect_timed_out(&c, rc, now_ms() - t0);
    sock_close(&c);
    cr_assert_eq(count_fds(), fds);
}
