/*
 * test_io.c - sending and receiving: partial transfers, exact reassembly,
 * byte counts on failure, bulk data (reliability scenarios 8-13).
 */
#include "util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* A sender thread: send_all of len pattern bytes in chunks, then
 * (optionally) half-close. */
struct sender {
    sock_t *s;
    size_t len;
    size_t chunk;
    int shut_after;
    int rc;        /* out: first failing code, or 0 */
    size_t sent;   /* out: bytes handed to the system */
    uint64_t sum;  /* out: FNV-1a of the bytes sent */
};

static uint64_t fnv1a(uint64_t h, const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 1099511628211ull;
    return h;
}

#define FNV_START 14695981039346656037ull

static void *sender_thread(void *arg)
{
    struct sender *w = arg;
    size_t chunk = w->chunk ? w->chunk : (1u << 20);
    unsigned char *buf = malloc(chunk);
    w->rc = 0;
    w->sent = 0;
    w->sum = FNV_START;
    while (buf && w->sent < w->len && w->rc == 0) {
        size_t n = w->len - w->sent < chunk ? w->len - w->sent : chunk;
        fill_pattern(buf, n, w->sent);
        w->sum = fnv1a(w->sum, buf, n);
        size_t done = 0;
        w->rc = sock_send_all(w->s, buf, n, &done);
        w->sent += done;
    }
    if (w->rc == 0 && w->shut_after)
        w->rc = sock_shutdown(w->s, SOCK_SHUT_WRITE);
    free(buf);
    return NULL;
}

FAMILY_TEST(io, recv_smaller_than_message, .timeout = 10)
{
    sock_t c, s;
    pair_on(host, &c, &s);
    enum { LEN = 10000 };
    static unsigned char msg[LEN], got[LEN];
    fill_pattern(msg, LEN, 0);
    expect_ok(&c, sock_send_all(&c, msg, LEN, NULL));
    size_t have = 0;
    for (int calls = 0; have < LEN && calls < 2 * LEN; calls++) {
        ssize_t n = sock_recv(&s, got + have, LEN - have < 7 ? LEN - have : 7);
        cr_assert(n > 0 && n <= 7, "sock_recv with a 7-byte buffer returned %zd (%s)", n,
                  sock_error(&s));
        have += (size_t)n;
    }
    cr_assert_eq(have, LEN);
    cr_assert_arr_eq(got, msg, LEN, "reassembled bytes differ");
    sock_close(&c);
    sock_close(&s);
}

/* The same stream read with buffers of 1, 1000, 2000, 2001 and 3000 bytes,
 * first with sock_recv (some) and then with sock_recv_all (exact). */
FAMILY_TEST(io, read_buffer_sizes_1_1000_2000_2001_3000, .timeout = 15)
{
    sock_t c, s;
    pair_on(host, &c, &s);
    const size_t total = 400000;
    struct sender w = {.s = &c, .len = total, .chunk = 4096, .shut_after = 1};
    pthread_t t = spawn(sender_thread, &w);
    static const size_t sizes[] = {1, 1000, 2000, 2001, 3000};
    static unsigned char buf[3000];
    size_t have = 0;
    int i = 0;
    while (have < total / 2) {
        size_t want = sizes[i++ % 5];
        ssize_t n = sock_recv(&s, buf, want);
        cr_assert(n > 0 && (size_t)n <= want, "sock_recv(%zu) = %zd: %s", want, n,
                  sock_error(&s));
        cr_assert_eq(check_pattern(buf, (size_t)n, have), (size_t)n, "bad byte near %zu", have);
        have += (size_t)n;
    }
    while (have < total) {
        size_t want = sizes[i++ % 5];
        if (want > total - have)
            want = total - have;
        size_t got = 0;
        expect_ok(&s, sock_recv_all(&s, buf, want, &got));
        cr_assert_eq(got, want, "recv_all stored %zu of %zu", got, want);
        cr_assert_eq(check_pattern(buf, want, have), want, "bad byte near %zu", have);
        have += want;
    }
    cr_assert_eq(sock_recv(&s, buf, 1), 0, "end of stream after exactly %zu bytes", total);
    join_within(t, 10000);
    expect_ok(&c, w.rc);
    sock_close(&c);
    sock_close(&s);
}

/* Small kernel buffers force short writes: sock_send takes some of a large
 * buffer, and sock_send_all loops until all went out. */
FAMILY_TEST(io, short_writes_with_small_buffers, .timeout = 20)
{
    sock_t c, s;
    pair_on(host, &c, &s);
    /* Not smaller: with a window of a few KiB, loopback TCP crawls along
     * at one segment per delayed ACK (about 200 ms). */
    shrink_buffers(&c, 16384);
    shrink_buffers(&s, 16384);
    /* A finite timeout makes the descriptor non-blocking, where send()
     * takes only what fits. */
    expect_ok(&c, sock_set_timeout(&c, 10000));
    const size_t big = 1 << 20;
    unsigned char *buf = malloc(big);
    cr_assert_not_null(buf);
    fill_pattern(buf, big, 0);
    ssize_t n = sock_send(&c, buf, big);
    cr_assert(n > 0 && (size_t)n < big,
              "sock_send of 1 MiB into a 16 KiB buffer returned %zd: expected a short send", n);

    /* Send the rest with send_all while a reader drains slowly. */
    struct drain d = {.s = &s, .chunk = 1000};
    pthread_t t = spawn(drain_thread, &d);
    size_t sent = 0;
    expect_ok(&c, sock_send_all(&c, buf + n, big - (size_t)n, &sent));
    cr_assert_eq(sent, big - (size_t)n, "*sent after success");
    expect_ok(&c, sock_shutdown(&c, SOCK_SHUT_WRITE));
    join_within(t, 15000);
    cr_assert_eq(d.last, 0, "reader ended with %zd, not end of stream", d.last);
    cr_assert_eq(d.total, big, "reader got %zu bytes of %zu", d.total, big);
    cr_assert_eq(d.first_bad, SIZE_MAX, "corrupt byte at %zu", d.first_bad);
    free(buf);
    sock_close(&c);
    sock_close(&s);
}

/* A send_all that times out half way says exactly how many bytes went out:
 * the peer, reading everything afterwards, gets that many and no more. */
FAMILY_TEST(io, send_all_failing_half_way_counts_exactly, .timeout = 20)
{
    sock_t c, s;
    pair_on(host, &c, &s);
    shrink_buffers(&c, 8192);
    shrink_buffers(&s, 8192);
    expect_ok(&c, sock_set_timeout(&c, 300));
    const size_t len = 8u << 20;
    unsigned char *buf = malloc(len);
    cr_assert_not_null(buf);
    fill_pattern(buf, len, 0);
    size_t sent = 12345;
    int rc = sock_send_all(&c, buf, len, &sent);
    expect_code(&c, rc, -ETIMEDOUT);
    cr_assert(sent > 0 && sent < len, "*sent = %zu of %zu", sent, len);
    cr_assert(strstr(sock_error(&c), "send") != NULL, "sock_error names the step: %s",
              sock_error(&c));
    expect_ok(&c, sock_shutdown(&c, SOCK_SHUT_WRITE));
    struct drain d = {.s = &s, .chunk = 65536};
    drain_thread(&d);
    cr_assert_eq(d.last, 0);
    cr_assert_eq(d.total, sent, "peer received %zu bytes, send_all reported %zu", d.total, sent);
    cr_assert_eq(d.first_bad, SIZE_MAX, "corrupt byte at %zu", d.first_bad);
    free(buf);
    sock_close(&c);
    sock_close(&s);
}

FAMILY_TEST(io, zero_and_invalid_lengths, .timeout = 10)
{
    sock_t c, s;
    pair_on(host, &c, &s);
    char b = 'x';
    expect_code(&c, sock_send(&c, &b, 0), -EINVAL);
    expect_code(&c, sock_send(&c, NULL, 1), -EINVAL);
    expect_code(&s, sock_recv(&s, &b, 0), -EINVAL);
    expect_code(&s, sock_recv(&s, NULL, 1), -EINVAL);
    expect_code(&c, sock_send(&c, &b, (size_t)-1), -EINVAL);
    size_t n = 99;
    expect_ok(&c, sock_send_all(&c, &b, 0, &n));
    cr_assert_eq(n, 0);
    n = 99;
    expect_ok(&s, sock_recv_all(&s, &b, 0, &n));
    cr_assert_eq(n, 0);
    n = 99;
    expect_code(&c, sock_send_all(&c, NULL, 5, &n), -EINVAL);
    cr_assert_eq(n, 0, "*sent on failure");
    n = 99;
    expect_code(&s, sock_recv_all(&s, NULL, 5, &n), -EINVAL);
    cr_assert_eq(n, 0, "*received on failure");
    cr_assert_str_neq(sock_error(&s), "", "the failure is explained");
    /* The connection is still fine after the rejected calls. */
    expect_ok(&c, sock_send_all(&c, "ok", 2, NULL));
    char got[2];
    expect_ok(&s, sock_recv_all(&s, got, 2, NULL));
    cr_assert_arr_eq(got, "ok", 2);
    sock_close(&c);
    sock_close(&s);
}

/* 100+ MB with a checksum, then half-close: the receiver sees end of stream
 * exactly after the last byte and can still answer. */
FAMILY_TEST(io, bulk_101_mib_checksum_half_close_eof, .timeout = 60)
{
    sock_t c, s;
    pair_on(host, &c, &s);
    const size_t total = 101u << 20;
    struct sender w = {.s = &c, .len = total, .chunk = 1u << 20, .shut_after = 1};
    pthread_t t = spawn(sender_thread, &w);
    unsigned char *buf = malloc(1 << 16);
    cr_assert_not_null(buf);
    uint64_t sum = FNV_START;
    size_t have = 0;
    ssize_t n;
    while ((n = sock_recv(&s, buf, 1 << 16)) > 0) {
        sum = fnv1a(sum, buf, (size_t)n);
        have += (size_t)n;
    }
    cr_assert_eq(n, 0, "the transfer ended with %zd (%s), not end of stream", n, sock_error(&s));
    join_within(t, 30000);
    expect_ok(&c, w.rc);
    cr_assert_eq(have, total, "received %zu of %zu bytes", have, total);
    cr_assert_eq(sum, w.sum, "checksum differs");
    /* The half-closed client still hears the server's answer. */
    expect_ok(&s, sock_send_all(&s, &sum, sizeof sum, NULL));
    expect_ok(&s, sock_close(&s));
    uint64_t echoed = 0;
    expect_ok(&c, sock_recv_all(&c, &echoed, sizeof echoed, NULL));
    cr_assert_eq(echoed, w.sum);
    cr_assert_eq(sock_recv(&c, buf, 1), 0, "end of stream after the answer");
    free(buf);
    sock_close(&c);
}

FAMILY_TEST(io, recv_all_short_by_eof_reports_received, .timeout = 10)
{
    sock_t c, s;
    pair_on(host, &c, &s);
    unsigned char msg[100], got[200];
    fill_pattern(msg, sizeof msg, 0);
    expect_ok(&s, sock_send_all(&s, msg, sizeof msg, NULL));
    expect_ok(&s, sock_close(&s));
    size_t received = 0;
    expect_code(&c, sock_recv_all(&c, got, sizeof got, &received), SOCK_EOF);
    cr_assert_eq(received, sizeof msg, "*received on SOCK_EOF");
    cr_assert_arr_eq(got, msg, sizeof msg);
    cr_assert_str_neq(sock_error(&c), "");
    /* End of stream stays end of stream. */
    cr_assert_eq(sock_recv(&c, got, sizeof got), 0);
    cr_assert_eq(sock_recv(&c, got, sizeof got), 0);
    sock_close(&c);
}

Test(io, unconnected_handles_refuse_io, .timeout = 10)
{
    char b = 'x';
    size_t n = 99;
    sock_t fresh;
    sock_init(&fresh);
    expect_code(&fresh, sock_send(&fresh, &b, 1), -ENOTCONN);
    expect_code(&fresh, sock_recv(&fresh, &b, 1), -ENOTCONN);
    expect_code(&fresh, sock_send_all(&fresh, &b, 1, &n), -ENOTCONN);
    cr_assert_eq(n, 0);
    expect_code(&fresh, sock_recv_all(&fresh, &b, 1, &n), -ENOTCONN);
    cr_assert_str_neq(sock_error(&fresh), "");
    for (int f = 0; f < 2; f++) {
        sock_t bound, listening;
        char port[8];
        sock_init(&bound);
        expect_ok(&bound, sock_bind(&bound, loopbacks[f], "0"));
        expect_code(&bound, sock_send(&bound, &b, 1), -ENOTCONN);
        expect_code(&bound, sock_recv(&bound, &b, 1), -ENOTCONN);
        listener_on(&listening, loopbacks[f], port);
        expect_code(&listening, sock_send(&listening, &b, 1), -ENOTCONN);
        expect_code(&listening, sock_recv(&listening, &b, 1), -ENOTCONN);
        sock_close(&bound);
        sock_close(&listening);
    }
}

FAMILY_TEST(io, closed_handle_refuses_io, .timeout = 10)
{
    sock_t c, s;
    pair_on(host, &c, &s);
    expect_ok(&c, sock_close(&c));
    char b = 'x';
    size_t n = 99;
    expect_code(&c, sock_send(&c, &b, 1), SOCK_ECLOSED);
    expect_code(&c, sock_recv(&c, &b, 1), SOCK_ECLOSED);
    expect_code(&c, sock_send_all(&c, &b, 1, &n), SOCK_ECLOSED);
    cr_assert_eq(n, 0);
    expect_code(&c, sock_recv_all(&c, &b, 1, &n), SOCK_ECLOSED);
    cr_assert_eq(n, 0);
    sock_close(&s);
}
