/*
 * test_frame.c - messages on a stream (reliability scenarios 43 and 44):
 * lines, delimiters, length prefixes and integers, against every split of
 * the stream (chunks of 1, 2, 3, 7, 4096 bytes and random ones), end of
 * stream at every offset, lengths at and over the limit, a 16 MiB line,
 * timeouts and a shutdown wake.
 *
 * Splits are made deterministic: the writer sends one chunk, waits until
 * the reader's socket holds it, and the reader, non-blocking, takes what
 * it can before the next chunk; so a message is met split exactly where
 * the chunks cut it.
 */
#include "util.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

/* A connected pair, the reader's side non-blocking, with its reader. */
struct rig {
    sock_t c, s;
    sock_reader_t r;
    unsigned char buf[8192];
};

static void rig_open(struct rig *g, const char *host, size_t cap)
{
    pair_on(host, &g->c, &g->s);
    expect_ok(&g->c, sock_set_nodelay(&g->c, 1));
    expect_ok(&g->s, sock_set_nonblocking(&g->s, 1));
    cr_assert_eq(sock_reader_init(&g->r, &g->s, g->buf, cap), 0);
}

static void rig_close(struct rig *g)
{
    sock_close(&g->c);
    sock_close(&g->s);
}

/* Unread bytes in the reader's socket. */
static int queued(const sock_t *s)
{
    int n = 0;
    ioctl(sock_fd(s), FIONREAD, &n);
    return n;
}

/* Send len bytes and wait until the reader's socket holds them all. */
static void feed(struct rig *g, const void *data, size_t len)
{
    int before = queued(&g->s);
    expect_ok(&g->c, sock_send_all(&g->c, data, len, NULL));
    for (int i = 0; i < 5000 && queued(&g->s) < before + (int)len; i++)
        sleep_ms(1);
}

/* The chunk sizes every stream is cut into; 0 stands for random sizes. */
static const size_t chunkings[] = {1, 2, 3, 7, 4096, 0};

static size_t chunk_at(size_t chunking, unsigned *seed)
{
    if (chunking)
        return chunking;
    *seed = *seed * 1103515245u + 12345u;
    return 1 + (*seed >> 16) % 61;
}

/* What a test expects back: a list of messages. */
struct msg {
    const unsigned char *bytes;
    size_t len;
};

/* A stream of lines of every length 0..299, some ending in CRLF. */
static size_t make_lines(unsigned char *out, struct msg *msgs, int n)
{
    size_t at = 0;
    for (int i = 0; i < n; i++) {
        size_t len = (size_t)(i * 37) % 300;
        msgs[i].bytes = out + at;
        msgs[i].len = len;
        for (size_t k = 0; k < len; k++)
            out[at++] = (unsigned char)('a' + (i + k) % 26);
        if (i % 3 == 0)
            out[at++] = '\r';
        out[at++] = '\n';
    }
    return at;
}

FAMILY_TEST(frame, lines_across_every_split, .timeout = 30)
{
    enum { N = 120 };
    static unsigned char stream[N * 302];
    struct msg want[N];
    size_t total = make_lines(stream, want, N);
    for (size_t c = 0; c < sizeof chunkings / sizeof chunkings[0]; c++) {
        struct rig g;
        rig_open(&g, host, sizeof g.buf);
        unsigned seed = 7;
        int got_n = 0;
        char line[512];
        for (size_t at = 0; at < total || got_n < N;) {
            if (at < total) {
                size_t k = chunk_at(chunkings[c], &seed);
                if (k > total - at)
                    k = total - at;
                feed(&g, stream + at, k);
                at += k;
            }
            for (;;) {
                size_t len = 0;
                int rc = sock_read_line(&g.r, line, sizeof line, &len);
                if (rc == -EAGAIN)
                    break;
                expect_ok(&g.s, rc);
                cr_assert_lt(got_n, N);
                cr_assert_eq(len, want[got_n].len, "chunks of %zu: line %d is %zu bytes, want %zu",
                             chunkings[c], got_n, len, want[got_n].len);
                cr_assert_arr_eq(line, want[got_n].bytes, len, "line %d differs", got_n);
                cr_assert_eq(line[len], '\0');
                got_n++;
            }
            cr_assert(at < total || got_n == N, "all sent, %d of %d lines read", got_n, N);
        }
        expect_ok(&g.c, sock_shutdown(&g.c, SOCK_SHUT_WRITE));
        struct pollfd pfd = {.fd = sock_fd(&g.s), .events = POLLIN};
        poll(&pfd, 1, 5000);
        size_t len = 99;
        expect_code(&g.s, sock_read_line(&g.r, line, sizeof line, &len), SOCK_END);
        cr_assert_eq(len, 0u);
        rig_close(&g);
    }
}

/* A four-byte delimiter straddling every chunk boundary, and a message
 * that holds a partial delimiter ("\r\n\r" then something else). */
FAMILY_TEST(frame, multibyte_delimiter_straddles_chunks, .timeout = 30)
{
    static const char stream[] = "GET / HTTP/1.0\r\nHost: a\r\n\r\n"
                                 "odd\r\n\rx\r\n\r\n"
                                 "\r\n\r\n"
                                 "last";
    static const char *const want[] = {"GET / HTTP/1.0\r\nHost: a", "odd\r\n\rx", ""};
    for (size_t c = 0; c < sizeof chunkings / sizeof chunkings[0]; c++) {
        struct rig g;
        rig_open(&g, host, sizeof g.buf);
        unsigned seed = 3;
        int got_n = 0;
        size_t total = sizeof stream - 1;
        char msg[128];
        for (size_t at = 0; at < total;) {
            size_t k = chunk_at(chunkings[c], &seed);
            if (k > total - at)
                k = total - at;
            feed(&g, stream + at, k);
            at += k;
            for (;;) {
                size_t len = 0;
                int rc = sock_read_until(&g.r, "\r\n\r\n", 4, msg, sizeof msg, &len);
                if (rc == -EAGAIN)
                    break;
                expect_ok(&g.s, rc);
                cr_assert_lt(got_n, 3);
                cr_assert_eq(len, strlen(want[got_n]));
                cr_assert_str_eq(msg, want[got_n], "chunks of %zu, message %d", chunkings[c], got_n);
                got_n++;
            }
        }
        cr_assert_eq(got_n, 3);
        /* "last" has no delimiter: at the end of stream it is SOCK_EOF. */
        expect_ok(&g.c, sock_shutdown(&g.c, SOCK_SHUT_WRITE));
        struct pollfd pfd = {.fd = sock_fd(&g.s), .events = POLLIN};
        poll(&pfd, 1, 5000);
        size_t len = 0;
        expect_code(&g.s, sock_read_until(&g.r, "\r\n\r\n", 4, msg, sizeof msg, &len), SOCK_EOF);
        cr_assert_eq(len, 4u);
        cr_assert_str_eq(msg, "last");
        rig_close(&g);
    }
}

static const int prefixes[] = {SOCK_U8, SOCK_U16BE, SOCK_U32BE, SOCK_U16LE, SOCK_U32LE};
static const size_t prefix_len[] = {1, 2, 4, 2, 4};

FAMILY_TEST(frame, prefixed_messages_across_every_split, .timeout = 60)
{
    static const size_t lens[] = {0, 1, 2, 255, 0, 300, 5000, 77};
    static unsigned char body[5000];
    fill_pattern(body, sizeof body, 0);
    for (size_t p = 0; p < 5; p++) {
        for (size_t c = 0; c < sizeof chunkings / sizeof chunkings[0]; c++) {
            struct rig g;
            rig_open(&g, host, sizeof g.buf);
            /* Build the stream with sock_send_msg's own encoding: sent on
             * a second pair, read raw, then fed in chunks. */
            sock_t a, b;
            pair_on(host, &a, &b);
            size_t total = 0;
            for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
                if (prefixes[p] == SOCK_U8 && lens[i] > 255) {
                    expect_code(&a, sock_send_msg(&a, prefixes[p], body, lens[i], NULL), -EMSGSIZE);
                    continue;
                }
                expect_ok(&a, sock_send_msg(&a, prefixes[p], body, lens[i], NULL));
                total += prefix_len[p] + lens[i];
            }
            static unsigned char stream[6 * 5100];
            expect_ok(&b, sock_recv_all(&b, stream, total, NULL));
            sock_close(&a), sock_close(&b);
            unsigned seed = 11;
            size_t next = 0;
            static unsigned char out[5000];
            for (size_t at = 0; at < total;) {
                size_t k = chunk_at(chunkings[c], &seed);
                if (k > total - at)
                    k = total - at;
                feed(&g, stream + at, k);
                at += k;
                for (;;) {
                    size_t len = 0;
                    int rc = sock_read_msg(&g.r, prefixes[p], out, sizeof out, &len);
                    if (rc == -EAGAIN)
                        break;
                    expect_ok(&g.s, rc);
                    while (prefixes[p] == SOCK_U8 && lens[next] > 255)
                        next++;
                    cr_assert_eq(len, lens[next], "prefix %zu, chunks of %zu: message %zu is %zu",
                                 p, chunkings[c], next, len);
                    cr_assert_arr_eq(out, body, len);
                    next++;
                }
            }
            while (next < sizeof lens / sizeof lens[0] && prefixes[p] == SOCK_U8 && lens[next] > 255)
                next++;
            cr_assert_eq(next, sizeof lens / sizeof lens[0], "prefix %zu: %zu messages read", p,
                         next);
            rig_close(&g);
        }
    }
}

/* One u16be message of 10 bytes, the stream cut at every offset. */
FAMILY_TEST(frame, end_of_stream_at_every_offset, .timeout = 30)
{
    static const unsigned char frame[] = {0, 10, 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j'};
    for (size_t cut = 0; cut <= sizeof frame; cut++) {
        struct rig g;
        rig_open(&g, host, sizeof g.buf);
        if (cut)
            feed(&g, frame, cut);
        expect_ok(&g.c, sock_shutdown(&g.c, SOCK_SHUT_WRITE));
        struct pollfd pfd = {.fd = sock_fd(&g.s), .events = POLLIN};
        poll(&pfd, 1, 5000);
        unsigned char out[16];
        size_t len = 99;
        int rc = sock_read_msg(&g.r, SOCK_U16BE, out, sizeof out, &len);
        if (cut == 0) {
            expect_code(&g.s, rc, SOCK_END);
        } else if (cut < 2) {
            expect_code(&g.s, rc, SOCK_EOF);
            cr_assert_eq(len, 0u);
        } else if (cut < sizeof frame) {
            expect_code(&g.s, rc, SOCK_EOF);
            cr_assert_eq(len, cut - 2, "cut at %zu: %zu bytes stored", cut, len);
            cr_assert_arr_eq(out, frame + 2, len);
        } else {
            expect_ok(&g.s, rc);
            cr_assert_eq(len, 10u);
            expect_code(&g.s, sock_read_msg(&g.r, SOCK_U16BE, out, sizeof out, &len), SOCK_END);
        }
        rig_close(&g);
    }
}

/* Scenario 44: lengths 0, the limit, the limit + 1 (refused, skipped, the
 * stream goes on), 2^32 - 1 (refused, named as a likely byte-order
 * mistake), and 2^64 - 1 as an integer. */
FAMILY_TEST(frame, lengths_at_and_over_the_limit, .timeout = 20)
{
    struct rig g;
    rig_open(&g, host, sizeof g.buf);
    expect_ok(&g.s, sock_set_nonblocking(&g.s, 0));
    enum { LIMIT = 1000 };
    static unsigned char body[LIMIT + 1], out[LIMIT];
    fill_pattern(body, sizeof body, 0);
    expect_ok(&g.c, sock_send_msg(&g.c, SOCK_U32BE, body, 0, NULL));
    expect_ok(&g.c, sock_send_msg(&g.c, SOCK_U32BE, body, LIMIT, NULL));
    expect_ok(&g.c, sock_send_msg(&g.c, SOCK_U32BE, body, LIMIT + 1, NULL));
    expect_ok(&g.c, sock_send_msg(&g.c, SOCK_U32BE, "after", 5, NULL));
    expect_ok(&g.c, sock_send_u32(&g.c, 0xffffffffu));
    size_t len = 99;
    expect_ok(&g.s, sock_read_msg(&g.r, SOCK_U32BE, out, LIMIT, &len));
    cr_assert_eq(len, 0u);
    expect_ok(&g.s, sock_read_msg(&g.r, SOCK_U32BE, out, LIMIT, &len));
    cr_assert_eq(len, (size_t)LIMIT);
    cr_assert_arr_eq(out, body, LIMIT);
    expect_code(&g.s, sock_read_msg(&g.r, SOCK_U32BE, out, LIMIT, &len), -EMSGSIZE);
    cr_assert_eq(len, (size_t)LIMIT + 1, "the refused message's length");
    expect_ok(&g.s, sock_read_skip(&g.r, len, NULL));
    expect_ok(&g.s, sock_read_msg(&g.r, SOCK_U32BE, out, LIMIT, &len));
    cr_assert_eq(len, 5u, "the stream goes on after the skipped message");
    cr_assert_arr_eq(out, "after", 5);
    expect_code(&g.s, sock_read_msg(&g.r, SOCK_U32BE, out, LIMIT, &len), -EMSGSIZE);
    cr_assert_eq(len, (size_t)0xffffffffu);
    cr_assert(strstr(sock_error(&g.s), "byte order") != NULL, "%s", sock_error(&g.s));
    rig_close(&g);

    rig_open(&g, host, sizeof g.buf);
    expect_ok(&g.c, sock_send_u64(&g.c, UINT64_MAX));
    expect_ok(&g.c, sock_send_u64(&g.c, 0x0102030405060708ull));
    expect_ok(&g.c, sock_send_u16(&g.c, 0xbeef));
    expect_ok(&g.c, sock_send_u32(&g.c, 0xdeadbeefu));
    expect_ok(&g.c, sock_send_msg(&g.c, SOCK_U16LE, "le", 2, NULL));
    unsigned char raw[8 + 8 + 2 + 4 + 4];
    expect_ok(&g.s, sock_set_nonblocking(&g.s, 0));
    size_t got = 0;
    expect_ok(&g.s, sock_read_exact(&g.r, raw, sizeof raw, &got));
    static const unsigned char want[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                         1, 2, 3, 4, 5, 6, 7, 8, 0xbe, 0xef,
                                         0xde, 0xad, 0xbe, 0xef, 2, 0, 'l', 'e'};
    cr_assert_arr_eq(raw, want, sizeof want, "the bytes on the wire, in network order");
    rig_close(&g);
}

/* Integers split byte by byte. */
FAMILY_TEST(frame, integers_byte_by_byte, .timeout = 20)
{
    struct rig g;
    rig_open(&g, host, sizeof g.buf);
    static const unsigned char bytes[] = {0x7f, 0x12, 0x34, 0x89, 0xab, 0xcd, 0xef,
                                          0, 0, 0, 0, 0, 0, 1, 0};
    uint8_t a = 0;
    uint16_t b = 0;
    uint32_t c = 0;
    uint64_t d = 0;
    int stage = 0;
    for (size_t i = 0; i < sizeof bytes; i++) {
        feed(&g, bytes + i, 1);
        int rc;
        do {
            rc = stage == 0   ? sock_read_u8(&g.r, &a)
                 : stage == 1 ? sock_read_u16(&g.r, &b)
                 : stage == 2 ? sock_read_u32(&g.r, &c)
                              : sock_read_u64(&g.r, &d);
            if (rc == 0)
                stage++;
        } while (rc == 0 && stage < 4);
        cr_assert(rc == 0 || rc == -EAGAIN, "stage %d: %d %s", stage, rc, sock_error(&g.s));
    }
    cr_assert_eq(stage, 4);
    cr_assert_eq(a, 0x7f);
    cr_assert_eq(b, 0x1234);
    cr_assert_eq(c, 0x89abcdefu);
    cr_assert_eq(d, 0x100u);
    rig_close(&g);
}

struct flood {
    sock_t *s;
    size_t len;
};

static void *flood_no_newline(void *arg)
{
    struct flood *f = arg;
    char chunk[65536];
    memset(chunk, 'x', sizeof chunk);
    for (size_t sent = 0; sent < f->len; sent += sizeof chunk)
        if (sock_send_all(f->s, chunk, sizeof chunk, NULL) < 0)
            break;
    return NULL;
}

/* Scenario 43: a 16 MiB line with no newline is refused once the reader's
 * buffer is full, not buffered. */
FAMILY_TEST(frame, unbounded_line_is_refused, .timeout = 20)
{
    struct rig g;
    rig_open(&g, host, 4096);
    expect_ok(&g.s, sock_set_nonblocking(&g.s, 0));
    struct flood f = {.s = &g.c, .len = 16u << 20};
    pthread_t t = spawn(flood_no_newline, &f);
    char line[65536];
    size_t len = 0;
    expect_code(&g.s, sock_read_line(&g.r, line, sizeof line, &len), -EMSGSIZE);
    cr_assert_leq(len, 4096u, "more than the reader's buffer was taken: %zu", len);
    cr_assert_gt(len, 0u);
    sock_close(&g.s); /* the writer then fails and ends */
    join_within(t, 10000);
    sock_close(&g.c);
}

/* A line half sent: the timeout ends the call, the half stays in the
 * reader, and the whole line comes out once the rest arrives. */
FAMILY_TEST(frame, timeout_keeps_the_partial_message, .timeout = 20)
{
    struct rig g;
    rig_open(&g, host, sizeof g.buf);
    expect_ok(&g.s, sock_set_nonblocking(&g.s, 0));
    expect_ok(&g.s, sock_set_timeout(&g.s, 200));
    feed(&g, "hal", 3);
    char line[64];
    size_t len = 0;
    int64_t t0 = now_ms();
    expect_code(&g.s, sock_read_line(&g.r, line, sizeof line, &len), -ETIMEDOUT);
    cr_assert_geq(now_ms() - t0, 200);
    cr_assert_eq(sock_reader_buffered(&g.r), 3u);
    feed(&g, "f\n", 2);
    expect_ok(&g.s, sock_read_line(&g.r, line, sizeof line, &len));
    cr_assert_str_eq(line, "half");
    rig_close(&g);
}

struct shutter {
    sock_t *s;
};

static void *shut_read_later(void *arg)
{
    struct shutter *sh = arg;
    sleep_ms(100);
    sock_shutdown(sh->s, SOCK_SHUT_READ);
    return NULL;
}

FAMILY_TEST(frame, shutdown_wakes_a_blocked_reader, .timeout = 20)
{
    struct rig g;
    rig_open(&g, host, sizeof g.buf);
    expect_ok(&g.s, sock_set_nonblocking(&g.s, 0));
    struct shutter sh = {.s = &g.s};
    pthread_t t = spawn(shut_read_later, &sh);
    unsigned char out[16];
    size_t len = 0;
    expect_code(&g.s, sock_read_msg(&g.r, SOCK_U16BE, out, sizeof out, &len), SOCK_ECLOSED);
    join_within(t, 5000);
    rig_close(&g);
}

Test(frame, bad_arguments, .timeout = 5)
{
    sock_t s;
    sock_init(&s);
    sock_reader_t r;
    unsigned char buf[16];
    cr_assert_eq(sock_reader_init(&r, &s, buf, 4), -EINVAL, "a buffer under 8 bytes");
    cr_assert_eq(sock_reader_init(&r, NULL, buf, sizeof buf), -EINVAL);
    cr_assert_eq(sock_reader_init(&r, &s, buf, sizeof buf), 0);
    char out[8];
    expect_code(&s, sock_read_line(&r, out, sizeof out, NULL), -ENOTCONN);
    expect_code(&s, sock_send_msg(&s, 99, "x", 1, NULL), -ENOTCONN);
    sock_close(&s);
}

/* A message that fits, with its two-byte delimiter arriving in two parts:
 * no -EMSGSIZE for the half delimiter (found in review). */
FAMILY_TEST(frame, delimiter_arriving_in_parts_at_the_limit, .timeout = 10)
{
    struct rig g;
    rig_open(&g, host, sizeof g.buf);
    char out[6];
    size_t len = 0;
    feed(&g, "hello\r", 6);
    expect_code(&g.s, sock_read_until(&g.r, "\r\n", 2, out, sizeof out, &len), -EAGAIN);
    feed(&g, "\nnext", 5);
    expect_ok(&g.s, sock_read_until(&g.r, "\r\n", 2, out, sizeof out, &len));
    cr_assert_str_eq(out, "hello");
    rig_close(&g);
}

/* A message longer than the reader's buffer, its body cut by a timeout:
 * the next call goes on where the first stopped, no byte lost. */
FAMILY_TEST(frame, long_message_resumes_after_a_timeout, .timeout = 10)
{
    struct rig g;
    rig_open(&g, host, 16);
    expect_ok(&g.s, sock_set_nonblocking(&g.s, 0));
    expect_ok(&g.s, sock_set_timeout(&g.s, 200));
    unsigned char body[100], out[100];
    fill_pattern(body, sizeof body, 0);
    unsigned char head[2] = {0, 100};
    feed(&g, head, 2);
    feed(&g, body, 60);
    size_t len = 0;
    expect_code(&g.s, sock_read_msg(&g.r, SOCK_U16BE, out, sizeof out, &len), -ETIMEDOUT);
    cr_assert_eq(len, 60u);
    feed(&g, body + 60, 40);
    expect_ok(&g.s, sock_read_msg(&g.r, SOCK_U16BE, out, sizeof out, &len));
    cr_assert_eq(len, 100u);
    cr_assert_arr_eq(out, body, 100);
    rig_close(&g);
}
