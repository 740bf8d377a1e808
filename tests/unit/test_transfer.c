/*
 * test_transfer.c - zero-copy transfers: a file to a socket (sendfile and
 * its copy fallback), any descriptor to a socket and back (splice through
 * a pipe, and the copy where the kernel refuses), partial counts, end of
 * input, a reader that goes away without SIGPIPE.
 */
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <unistd.h>

/* A temporary file of len pattern bytes, open for reading. */
static int pattern_file(size_t len)
{
    char path[] = "/tmp/sock-transfer-XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    unlink(path);
    unsigned char *buf = malloc(len ? len : 1);
    cr_assert_not_null(buf);
    fill_pattern(buf, len, 0);
    cr_assert_eq(write(fd, buf, len), (ssize_t)len);
    free(buf);
    cr_assert_eq(lseek(fd, 0, SEEK_SET), 0);
    return fd;
}

FAMILY_TEST(transfer, sendfile_whole_file_and_offsets, .timeout = 15)
{
    enum { LEN = 3 << 20 };
    int fd = pattern_file(LEN);
    sock_t c, s;
    pair_on(host, &c, &s);
    struct drain d = {.s = &s, .chunk = 65536};
    pthread_t t = spawn(drain_thread, &d);
    off_t off = 1000;
    size_t sent = 0;
    expect_ok(&c, sock_sendfile(&c, fd, &off, LEN - 1000 - 5000, &sent));
    cr_assert_eq(sent, (size_t)LEN - 6000);
    cr_assert_eq(off, LEN - 5000, "the offset is advanced past what was sent");
    cr_assert_eq(lseek(fd, 0, SEEK_CUR), 0, "with an offset, the file's own stays");
    /* To the end, from the file's own position. */
    cr_assert_eq(lseek(fd, LEN - 5000, SEEK_SET), LEN - 5000);
    expect_ok(&c, sock_sendfile(&c, fd, NULL, SOCK_TO_END, &sent));
    cr_assert_eq(sent, 5000u);
    cr_assert_eq(lseek(fd, 0, SEEK_CUR), LEN, "without one, the file's position advances");
    /* Asking for more than the file holds is SOCK_EOF, with the count. */
    off = LEN - 10;
    expect_code(&c, sock_sendfile(&c, fd, &off, 100, &sent), SOCK_EOF);
    cr_assert_eq(sent, 10u);
    cr_assert(strstr(sock_error(&c), "file ended") != NULL, "%s", sock_error(&c));
    expect_ok(&c, sock_shutdown(&c, SOCK_SHUT_WRITE));
    join_within(t, 10000);
    cr_assert_eq(d.total, (size_t)LEN - 6000 + 5000 + 10);
    close(fd);
    sock_close(&c);
    sock_close(&s);
}

/* /proc files refuse sendfile: the copy fallback sends them whole. */
FAMILY_TEST(transfer, sendfile_falls_back_to_copy, .timeout = 10)
{
    int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
    cr_assert_geq(fd, 0);
    sock_t c, s;
    pair_on(host, &c, &s);
    size_t sent = 0;
    expect_ok(&c, sock_sendfile(&c, fd, NULL, SOCK_TO_END, &sent));
    cr_assert_gt(sent, 0u, "nothing sent from /proc/self/maps");
    expect_ok(&c, sock_shutdown(&c, SOCK_SHUT_WRITE));
    char *buf = malloc(sent + 1);
    size_t got = 0;
    expect_code(&s, sock_recv_all(&s, buf, sent + 1, &got), SOCK_EOF);
    cr_assert_eq(got, sent);
    cr_assert(memmem(buf, got, "[stack]", 7) != NULL, "not the maps file");
    free(buf);
    close(fd);
    sock_close(&c);
    sock_close(&s);
}

struct feeder {
    int fd;
    size_t len;
};

static void *feed_pipe(void *arg)
{
    struct feeder *f = arg;
    unsigned char buf[8192];
    size_t done = 0;
    while (done < f->len) {
        size_t n = f->len - done < sizeof buf ? f->len - done : sizeof buf;
        fill_pattern(buf, n, done);
        ssize_t w = write(f->fd, buf, n);
        if (w <= 0)
            break;
        done += (size_t)w;
    }
    close(f->fd);
    return NULL;
}

struct collector {
    int fd;
    unsigned char *buf;
    size_t len, got;
};

static void *collect_pipe(void *arg)
{
    struct collector *c = arg;
    while (c->got < c->len) {
        ssize_t n = read(c->fd, c->buf + c->got, c->len - c->got);
        if (n <= 0)
            break;
        c->got += (size_t)n;
    }
    return NULL;
}

struct receiver {
    sock_t *s;
    int fd;
    int rc;
    size_t moved;
};

static void *recv_side(void *arg)
{
    struct receiver *r = arg;
    r->rc = sock_recv_into(r->s, r->fd, SOCK_TO_END, &r->moved);
    return NULL;
}

/* A pipe to the socket and the socket into a pipe: every byte, in order. */
FAMILY_TEST(transfer, pipe_to_socket_to_pipe, .timeout = 20)
{
    enum { LEN = 8 << 20 };
    sock_t c, s;
    pair_on(host, &c, &s);
    int in[2], out[2];
    cr_assert_eq(pipe(in), 0);
    cr_assert_eq(pipe(out), 0);
    struct feeder f = {.fd = in[1], .len = LEN};
    pthread_t tf = spawn(feed_pipe, &f);
    /* The receiver: socket -> out pipe, read back and checked here. */
    struct receiver r = {.s = &s, .fd = out[1]};
    pthread_t tr = spawn(recv_side, &r);
    struct collector col = {.fd = out[0], .buf = malloc(LEN), .len = LEN};
    cr_assert_not_null(col.buf);
    pthread_t tc = spawn(collect_pipe, &col);
    size_t moved = 0;
    expect_ok(&c, sock_send_from(&c, in[0], SOCK_TO_END, &moved));
    cr_assert_eq(moved, (size_t)LEN);
    expect_ok(&c, sock_shutdown(&c, SOCK_SHUT_WRITE));
    join_within(tf, 10000);
    join_within(tr, 10000);
    close(out[1]); /* the collector then sees the end */
    join_within(tc, 10000);
    unsigned char *buf = col.buf;
    size_t got = col.got;
    cr_assert_eq(r.rc, 0, "recv_into: %d %s", r.rc, sock_error(&s));
    cr_assert_eq(r.moved, (size_t)LEN);
    cr_assert_eq(got, (size_t)LEN);
    cr_assert_eq(check_pattern(buf, LEN, 0), (size_t)LEN, "bytes out of order");
    free(buf);
    close(in[0]), close(out[0]);
    sock_close(&c);
    sock_close(&s);
}

/* Into a file opened with O_APPEND (splice refuses it: the copy takes
 * over), exactly len bytes, then SOCK_EOF when the peer ends first. */
FAMILY_TEST(transfer, recv_into_append_file_and_eof, .timeout = 10)
{
    char path[] = "/tmp/sock-append-XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    int app = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
    unlink(path);
    cr_assert_geq(app, 0);
    sock_t c, s;
    pair_on(host, &c, &s);
    unsigned char msg[100000];
    fill_pattern(msg, sizeof msg, 0);
    expect_ok(&c, sock_send_all(&c, msg, sizeof msg, NULL));
    size_t moved = 0;
    expect_ok(&s, sock_recv_into(&s, app, 60000, &moved));
    cr_assert_eq(moved, 60000u);
    expect_ok(&c, sock_shutdown(&c, SOCK_SHUT_WRITE));
    expect_code(&s, sock_recv_into(&s, app, 60000, &moved), SOCK_EOF);
    cr_assert_eq(moved, 40000u);
    unsigned char back[sizeof msg];
    cr_assert_eq(pread(fd, back, sizeof back, 0), (ssize_t)sizeof back);
    cr_assert_eq(check_pattern(back, sizeof back, 0), sizeof back);
    close(fd), close(app);
    sock_close(&c);
    sock_close(&s);
}

/* A pipe whose reader has gone: -EPIPE, and the process is not killed
 * even with SIGPIPE at its default disposition. */
FAMILY_TEST(transfer, reader_gone_is_epipe_not_sigpipe, .timeout = 10)
{
    signal(SIGPIPE, SIG_DFL);
    sock_t c, s;
    pair_on(host, &c, &s);
    int out[2];
    cr_assert_eq(pipe(out), 0);
    close(out[0]);
    expect_ok(&c, sock_send_all(&c, "data", 4, NULL));
    size_t moved = 99;
    expect_code(&s, sock_recv_into(&s, out[1], 4, &moved), -EPIPE);
    cr_assert_eq(moved, 0u);
    sigset_t pending;
    sigpending(&pending);
    cr_assert(!sigismember(&pending, SIGPIPE), "a SIGPIPE was left pending");
    close(out[1]);
    sock_close(&c);
    sock_close(&s);
}

FAMILY_TEST(transfer, timeout_bounds_a_stalled_input, .timeout = 10)
{
    sock_t c, s;
    pair_on(host, &c, &s);
    expect_ok(&c, sock_set_timeout(&c, 200));
    int in[2];
    cr_assert_eq(pipe(in), 0);
    cr_assert_eq(write(in[1], "abc", 3), 3);
    size_t moved = 0;
    int64_t t0 = now_ms();
    expect_code(&c, sock_send_from(&c, in[0], 10, &moved), -ETIMEDOUT);
    cr_assert_geq(now_ms() - t0, 200);
    cr_assert_eq(moved, 3u, "the bytes that came are counted");
    expect_ok(&c, sock_set_nonblocking(&c, 1));
    expect_code(&c, sock_send_from(&c, in[0], 10, &moved), -EINVAL);
    close(in[0]), close(in[1]);
    sock_close(&c);
    sock_close(&s);
}

/* A forwarding loop of one's own: client -> (a, through a sock_pipe_t) ->
 * b -> reader, every socket non-blocking, the reader slower than the
 * writer so that both would-block paths are met; every byte in order,
 * then the end of stream passed on. */
FAMILY_TEST(transfer, pipe_forwards_without_blocking, .timeout = 20)
{
    enum { LEN = 4 << 20 };
    sock_t c, a, b, r;
    pair_on(host, &c, &a);
    pair_on(host, &b, &r);
    shrink_buffers(&b, 65536);
    shrink_buffers(&r, 65536);
    expect_ok(&a, sock_set_nonblocking(&a, 1));
    expect_ok(&b, sock_set_nonblocking(&b, 1));
    struct drain d = {.s = &r, .chunk = 4096};
    pthread_t t = spawn(drain_thread, &d);
    struct feeder_sock {
        sock_t *s;
    };
    unsigned char *src = malloc(LEN);
    fill_pattern(src, LEN, 0);
    sock_pipe_t p;
    cr_assert_eq(sock_pipe_open(&p), 0);
    size_t fed = 0, forwarded = 0;
    int fill_blocked = 0, drain_blocked = 0, ended = 0;
    for (int spins = 0; spins < 1000000 && !(ended && sock_pipe_held(&p) == 0); spins++) {
        if (fed < LEN) {
            ssize_t n = sock_send(&c, src + fed, LEN - fed < 65536 ? LEN - fed : 65536);
            cr_assert_gt(n, 0, "%s", sock_error(&c));
            fed += (size_t)n;
            if (fed == LEN)
                expect_ok(&c, sock_shutdown(&c, SOCK_SHUT_WRITE));
        }
        if (!ended) {
            ssize_t n = sock_pipe_fill(&p, &a, SIZE_MAX);
            if (n == 0)
                ended = 1;
            else if (n == -EAGAIN)
                fill_blocked++;
            else
                cr_assert_gt(n, 0, "fill: %zd %s", n, sock_error(&a));
        }
        ssize_t n = sock_pipe_drain(&p, &b);
        if (n == -EAGAIN)
            drain_blocked++;
        else
            cr_assert_gt(n, 0, "drain: %zd %s", n, sock_error(&b));
        if (n > 0)
            forwarded += (size_t)n;
        if (n == -EAGAIN && sock_pipe_held(&p) > 0) {
            struct pollfd pfd = {.fd = sock_fd(&b), .events = POLLOUT};
            poll(&pfd, 1, 100);
        }
    }
    cr_assert(ended, "the end of stream never came through");
    cr_assert_eq(forwarded, (size_t)LEN);
    cr_assert_gt(drain_blocked, 0, "the slow reader never made the drain wait");
    expect_ok(&b, sock_shutdown(&b, SOCK_SHUT_WRITE));
    join_within(t, 10000);
    cr_assert_eq(d.total, (size_t)LEN);
    cr_assert_eq(d.first_bad, SIZE_MAX, "bytes out of order at %zu", d.first_bad);
    (void)fill_blocked;
    sock_pipe_close(&p);
    sock_pipe_close(&p); /* harmless twice */
    free(src);
    sock_close(&c), sock_close(&a), sock_close(&b), sock_close(&r);
}

/* A reset on the input side is a reset, never an end of stream. */
FAMILY_TEST(transfer, pipe_fill_reports_reset, .timeout = 10)
{
    sock_t c, s;
    pair_on(host, &c, &s);
    sock_pipe_t p;
    cr_assert_eq(sock_pipe_open(&p), 0);
    expect_ok(&c, sock_abort(&c));
    struct pollfd pfd = {.fd = sock_fd(&s), .events = POLLIN};
    cr_assert_eq(poll(&pfd, 1, 5000), 1);
    cr_assert_eq(sock_pipe_fill(&p, &s, 100), -ECONNRESET);
    cr_assert(strstr(sock_error(&s), sock_strerror(-ECONNRESET)) != NULL, "%s",
              sock_error(&s));
    cr_assert_eq(sock_pipe_drain(&p, &s), -EAGAIN, "an empty pipe has nothing to drain");
    sock_pipe_close(&p);
    sock_close(&s);
}

/* sendfile into a connection the peer has reset: an error, never a
 * SIGPIPE (sendfile takes no MSG_NOSIGNAL). */
FAMILY_TEST(transfer, sendfile_to_a_reset_peer_is_no_sigpipe, .timeout = 10)
{
    signal(SIGPIPE, SIG_DFL);
    int fd = pattern_file(1 << 20);
    sock_t c, s;
    pair_on(host, &c, &s);
    expect_ok(&s, sock_close(&s));
    /* The first byte draws the reset; then the pending error is EPIPE. */
    sock_send(&c, "x", 1);
    sleep_ms(50);
    size_t sent = 0;
    int rc = sock_sendfile(&c, fd, NULL, 1 << 20, &sent);
    cr_assert(rc == -EPIPE || rc == -ECONNRESET, "sendfile: %d %s", rc, sock_error(&c));
    rc = sock_sendfile(&c, fd, NULL, 1 << 20, &sent);
    cr_assert(rc == -EPIPE || rc == -ECONNRESET, "sendfile again: %d", rc);
    close(fd);
    sock_close(&c);
}

/* A short message drained into a socket goes out at once: not corked
 * until more comes (SPLICE_F_MORE held each reply of a conversation for
 * TCP's 200 ms cork timer: sock relay -q did 2.5 round trips a second). */
FAMILY_TEST(transfer, pipe_drain_does_not_cork_a_short_message, .timeout = 10)
{
    sock_t c, a, b, r;
    pair_on(host, &c, &a);
    pair_on(host, &b, &r);
    expect_ok(&a, sock_set_nonblocking(&a, 1));
    sock_pipe_t p;
    cr_assert_eq(sock_pipe_open(&p), 0);
    for (int i = 0; i < 5; i++) {
        expect_ok(&c, sock_send_all(&c, "request\n", 8, NULL));
        struct pollfd pfd = {.fd = sock_fd(&a), .events = POLLIN};
        cr_assert_eq(poll(&pfd, 1, 5000), 1);
        cr_assert_eq(sock_pipe_fill(&p, &a, 100), 8);
        cr_assert_eq(sock_pipe_drain(&p, &b), 8);
        int unsent = -1;
        cr_assert_eq(ioctl(sock_fd(&b), SIOCOUTQNSD, &unsent), 0);
        cr_assert_eq(unsent, 0, "round %d: %d bytes held back (corked)", i, unsent);
        char buf[8];
        expect_ok(&r, sock_recv_all(&r, buf, 8, NULL));
    }
    sock_pipe_close(&p);
    sock_close(&c), sock_close(&a), sock_close(&b), sock_close(&r);
}
