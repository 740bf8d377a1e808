/*
 * test_signals.c - EINTR is retried and timeouts hold across retries, with
 * SIGALRM every 30 ms from setitimer and a handler installed WITHOUT
 * SA_RESTART; the library leaves signal handling alone (reliability
 * scenarios 28-29).
 *
 * Helper threads block SIGALRM (see spawn), so the signals land in the
 * thread that is inside the library call under test.
 */
#include "util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define PERIOD_MS 30
#define LIMIT_MS 500
#define HANG_GUARD_MS 8000

struct late_client {
    const char *host;
    const char *port;
    int delay_ms;
    int rc;
};

/* Connect after a delay and send one byte, so that the test's accept (and
 * then recv) has to sit through several signals first. */
static void *late_client_thread(void *arg)
{
    struct late_client *l = arg;
    sleep_ms(l->delay_ms);
    sock_t c;
    sock_init(&c);
    l->rc = sock_connect(&c, l->host, l->port);
    if (l->rc == 0) {
        sleep_ms(l->delay_ms);
        l->rc = sock_send_all(&c, "!", 1, NULL);
    }
    /* Wait for the test to read before closing, so no reset races it. */
    char b;
    if (l->rc == 0)
        sock_recv(&c, &b, 1);
    sock_close(&c);
    return NULL;
}

FAMILY_TEST(signals, blocking_accept_and_recv_retry_eintr, .timeout = 15)
{
    sock_t a, s;
    char port[8];
    listener_on(&a, host, port);
    struct late_client l = {.host = host, .port = port, .delay_ms = 300};
    pthread_t t = spawn(late_client_thread, &l);
    alarms_start(PERIOD_MS);
    int rc = sock_accept(&a, &s);
    int during_accept = alarms_seen;
    char b = 0;
    ssize_t n = rc == 0 ? sock_recv(&s, &b, 1) : -1;
    int during_both = alarms_seen;
    alarms_stop();
    expect_ok(&a, rc);
    cr_assert_gt(during_accept, 0, "no signal arrived during accept: the test proves nothing");
    cr_assert_eq(n, 1, "sock_recv under signals: %zd (%s)", n, sock_error(&s));
    cr_assert_eq(b, '!');
    cr_assert_gt(during_both, during_accept, "no signal arrived during recv");
    sock_close(&s);
    join_within(t, 5000);
    expect_ok(&a, l.rc);
    sock_close(&a);
}

FAMILY_TEST(signals, recv_timeout_holds_across_eintr, .timeout = 15)
{
    sock_t c, s;
    pair_on(host, &c, &s);
    expect_ok(&s, sock_set_timeout(&s, LIMIT_MS));
    char buf[4];
    alarms_start(PERIOD_MS);
    int64_t t0 = now_ms();
    ssize_t n = sock_recv(&s, buf, sizeof buf);
    int64_t e1 = now_ms() - t0;
    t0 = now_ms();
    int rc = sock_recv_all(&s, buf, sizeof buf, NULL);
    int64_t e2 = now_ms() - t0;
    int seen = alarms_seen;
    alarms_stop();
    expect_code(&s, n, -ETIMEDOUT);
    expect_code(&s, rc, -ETIMEDOUT);
    cr_assert_geq(e1, LIMIT_MS, "recv timed out early: %lld ms", (long long)e1);
    cr_assert_geq(e2, LIMIT_MS, "recv_all timed out early: %lld ms", (long long)e2);
    /* A clock restarted at each EINTR would never expire with signals
     * every 30 ms; the hang guard catches that. */
    cr_assert_lt(e1, HANG_GUARD_MS);
    cr_assert_lt(e2, HANG_GUARD_MS);
    cr_assert_geq(seen, 4, "only %d signals arrived", seen);
    sock_close(&c);
    sock_close(&s);
}

FAMILY_TEST(signals, accept_timeout_holds_across_eintr, .timeout = 15)
{
    sock_t a, p;
    char port[8];
    listener_on(&a, host, port);
    expect_ok(&a, sock_set_timeout(&a, LIMIT_MS));
    alarms_start(PERIOD_MS);
    int64_t t0 = now_ms();
    int rc = sock_accept(&a, &p);
    int64_t elapsed = now_ms() - t0;
    int seen = alarms_seen;
    alarms_stop();
    expect_code(&a, rc, -ETIMEDOUT);
    cr_assert_geq(elapsed, LIMIT_MS);
    cr_assert_lt(elapsed, HANG_GUARD_MS);
    cr_assert_geq(seen, 4);
    sock_close(&a);
}

FAMILY_TEST(signals, send_timeout_holds_across_eintr, .timeout = 20)
{
    sock_t c, s;
    pair_on(host, &c, &s);
    expect_ok(&c, sock_set_timeout(&c, LIMIT_MS));
    const size_t len = 64u << 20;
    char *buf = calloc(1, len);
    cr_assert_not_null(buf);
    size_t sent = 0;
    alarms_start(PERIOD_MS);
    int64_t t0 = now_ms();
    int rc = sock_send_all(&c, buf, len, &sent);
    int64_t elapsed = now_ms() - t0;
    alarms_stop();
    expect_code(&c, rc, -ETIMEDOUT);
    cr_assert_geq(elapsed, LIMIT_MS);
    cr_assert_lt(elapsed, HANG_GUARD_MS);
    cr_assert(sent > 0 && sent < len);
    free(buf);
    sock_close(&c);
    sock_close(&s);
}

/* 16 MiB each way under signals, with small buffers so that the calls
 * block (and are interrupted) many times; every byte arrives intact. */
struct feeder {
    sock_t *s;
    size_t len;
    int rc;
};

static void *feeder_thread(void *arg)
{
    struct feeder *f = arg;
    static __thread unsigned char buf[65536];
    size_t done = 0;
    f->rc = 0;
    while (done < f->len && f->rc == 0) {
        size_t n = f->len - done < sizeof buf ? f->len - done : sizeof buf;
        fill_pattern(buf, n, done);
        f->rc = sock_send_all(f->s, buf, n, NULL);
        done += n;
    }
    return NULL;
}

FAMILY_TEST(signals, send_all_16_mib_under_sigalrm, .timeout = 30 * SOCK_TEST_TIME_SCALE)
{
    sock_t c, s;
    pair_on(host, &c, &s);
    shrink_buffers(&c, 32768);
    shrink_buffers(&s, 32768);
    const size_t len = 16u << 20;
    unsigned char *buf = malloc(len);
    cr_assert_not_null(buf);
    fill_pattern(buf, len, 0);
    struct drain d = {.s = &s, .chunk = 8192, .delay_ms = 100};
    pthread_t t = spawn(drain_thread, &d);
    alarms_start(PERIOD_MS);
    size_t sent = 0;
    int rc = sock_send_all(&c, buf, len, &sent);
    int seen = alarms_seen;
    alarms_stop();
    expect_ok(&c, rc);
    cr_assert_eq(sent, len);
    cr_assert_gt(seen, 0, "no signal arrived during the transfer");
    expect_ok(&c, sock_shutdown(&c, SOCK_SHUT_WRITE));
    join_within(t, 20000 * SOCK_TEST_TIME_SCALE);
    cr_assert_eq(d.last, 0);
    cr_assert_eq(d.total, len);
    cr_assert_eq(d.first_bad, SIZE_MAX, "corrupt byte at %zu", d.first_bad);
    free(buf);
    sock_close(&c);
    sock_close(&s);
}

FAMILY_TEST(signals, recv_all_16_mib_under_sigalrm, .timeout = 30 * SOCK_TEST_TIME_SCALE)
{
    sock_t c, s;
    pair_on(host, &c, &s);
    shrink_buffers(&c, 32768);
    shrink_buffers(&s, 32768);
    const size_t len = 16u << 20;
    unsigned char *buf = malloc(len);
    cr_assert_not_null(buf);
    struct feeder f = {.s = &c, .len = len};
    alarms_start(PERIOD_MS);
    pthread_t t = spawn(feeder_thread, &f);
    size_t got = 0;
    int rc = sock_recv_all(&s, buf, len, &got);
    int seen = alarms_seen;
    alarms_stop();
    expect_ok(&s, rc);
    cr_assert_eq(got, len);
    cr_assert_eq(check_pattern(buf, len, 0), len, "corrupt data");
    cr_assert_gt(seen, 0);
    join_within(t, 20000 * SOCK_TEST_TIME_SCALE);
    expect_ok(&c, f.rc);
    free(buf);
    sock_close(&c);
    sock_close(&s);
}

/* Connect to a silent address, interrupted every 30 ms: still -ETIMEDOUT,
 * and not before the limit. */
FAMILY_TEST(signals, connect_timeout_holds_across_eintr, .timeout = 20)
{
    enter_blackhole_netns();
    sock_t c;
    sock_init(&c);
    expect_ok(&c, sock_set_timeout(&c, LIMIT_MS));
    alarms_start(PERIOD_MS);
    int64_t t0 = now_ms();
    int rc = sock_connect(&c, host, BLACKHOLE_PORT);
    int64_t elapsed = now_ms() - t0;
    int seen = alarms_seen;
    alarms_stop();
    expect_code(&c, rc, -ETIMEDOUT);
    cr_assert_geq(elapsed, LIMIT_MS);
    cr_assert_lt(elapsed, HANG_GUARD_MS);
    cr_assert_geq(seen, 4);
    sock_close(&c);
}

/* The library never changes the process's signal dispositions or mask,
 * even on the paths that would raise SIGPIPE. */
FAMILY_TEST(signals, library_leaves_signal_handling_alone, .timeout = 10)
{
    signal(SIGPIPE, SIG_DFL);
    sigset_t mask_before, mask_after;
    pthread_sigmask(SIG_SETMASK, NULL, &mask_before);
    struct sigaction pipe_before, pipe_after;
    sigaction(SIGPIPE, NULL, &pipe_before);

    sock_t c, s;
    pair_on(host, &c, &s);
    expect_ok(&s, sock_abort(&s));
    long long rc = 1;
    for (int i = 0; i < 1000 && rc > 0; i++)
        rc = sock_send(&c, "x", 1);
    cr_assert(rc == -EPIPE || rc == -ECONNRESET, "send to a reset peer: %lld", rc);
    sock_close(&c);

    sigaction(SIGPIPE, NULL, &pipe_after);
    pthread_sigmask(SIG_SETMASK, NULL, &mask_after);
    cr_assert(pipe_after.sa_handler == SIG_DFL, "SIGPIPE disposition changed");
    cr_assert_eq(pipe_after.sa_flags, pipe_before.sa_flags);
    for (int sig = 1; sig < NSIG; sig++)
        cr_assert_eq(sigismember(&mask_after, sig), sigismember(&mask_before, sig),
                     "signal %d's blocking changed", sig);
}
