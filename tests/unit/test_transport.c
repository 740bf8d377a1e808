/*
 * test_transport.c - a layer under the handle: every call of the library
 * goes through it (send, recv, the *_all calls, the framing calls, the
 * zero-copy calls, which copy then, sock_pipe_t), its waits are honoured
 * (a send that needs the socket readable), its shutdown runs before the
 * socket's, it is released exactly once, and non-blocking mode passes
 * -EAGAIN through; a layer's failure texts (sock_set_error) land in the
 * buffer of the side whose hook failed.
 *
 * The main layer here is a toy: every byte XOR 0x5a on the wire, so a raw
 * reader of the socket sees other bytes than the layer's user; the second
 * one fails every call in its own words.
 */
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct toy {
    int releases;
    int shutdowns;
    int want_readable_once; /* the next send asks for readable first */
};

static ssize_t toy_send(void *ctx, int fd, const void *buf, size_t len, unsigned *want)
{
    struct toy *t = ctx;
    if (t->want_readable_once) {
        t->want_readable_once = 0;
        *want = SOCK_READABLE;
        return -EAGAIN;
    }
    unsigned char tmp[4096];
    size_t n = len < sizeof tmp ? len : sizeof tmp;
    for (size_t i = 0; i < n; i++)
        tmp[i] = ((const unsigned char *)buf)[i] ^ 0x5a;
    ssize_t k = send(fd, tmp, n, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (k < 0) {
        *want = SOCK_WRITABLE;
        return -errno;
    }
    return k;
}

static ssize_t toy_recv(void *ctx, int fd, void *buf, size_t len, unsigned *want)
{
    (void)ctx;
    ssize_t k = recv(fd, buf, len, MSG_DONTWAIT);
    if (k < 0) {
        *want = SOCK_READABLE;
        return -errno;
    }
    for (ssize_t i = 0; i < k; i++)
        ((unsigned char *)buf)[i] ^= 0x5a;
    return k;
}

static int toy_shutdown(void *ctx, int fd, unsigned *want)
{
    struct toy *t = ctx;
    (void)fd, (void)want;
    t->shutdowns++;
    return 0;
}

static void toy_release(void *ctx)
{
    ((struct toy *)ctx)->releases++;
}

static const sock_transport_t toy_transport = {
    .name = "toy", .send = toy_send, .recv = toy_recv, .shutdown = toy_shutdown,
    .release = toy_release};

FAMILY_TEST(transport, every_call_goes_through_the_layer, .timeout = 20)
{
    sock_t c, s;
    pair_on(host, &c, &s);
    static struct toy tc, ts;
    memset(&tc, 0, sizeof tc), memset(&ts, 0, sizeof ts);
    expect_ok(&c, sock_set_transport(&c, &toy_transport, &tc));
    expect_ok(&s, sock_set_transport(&s, &toy_transport, &ts));
    cr_assert_eq(sock_transport_ctx(&c, &toy_transport), &tc);
    /* send/recv and the _all calls */
    expect_ok(&c, sock_send_all(&c, "hello", 5, NULL));
    char buf[64];
    expect_ok(&s, sock_recv_all(&s, buf, 5, NULL));
    cr_assert_arr_eq(buf, "hello", 5);
    /* a send that must wait for readable first: met by data from s */
    tc.want_readable_once = 1;
    expect_ok(&s, sock_send_all(&s, "r", 1, NULL));
    expect_ok(&c, sock_send_all(&c, "after", 5, NULL));
    expect_ok(&c, sock_recv_all(&c, buf, 1, NULL));
    expect_ok(&s, sock_recv_all(&s, buf, 5, NULL));
    cr_assert_arr_eq(buf, "after", 5);
    /* the framing calls */
    expect_ok(&c, sock_send_msg(&c, SOCK_U16BE, "framed", 6, NULL));
    expect_ok(&c, sock_send_all(&c, "a line\n", 7, NULL));
    char rbuf[256], out[64];
    sock_reader_t r;
    sock_reader_init(&r, &s, rbuf, sizeof rbuf);
    size_t len;
    expect_ok(&s, sock_read_msg(&r, SOCK_U16BE, out, sizeof out, &len));
    cr_assert_eq(len, 6u);
    cr_assert_arr_eq(out, "framed", 6);
    expect_ok(&s, sock_read_line(&r, out, sizeof out, &len));
    cr_assert_str_eq(out, "a line");
    /* the zero-copy calls copy through the layer */
    char path[] = "/tmp/sock-transport-XXXXXX";
    int fd = mkstemp(path);
    unlink(path);
    cr_assert_eq(write(fd, "from a file", 11), 11);
    off_t off = 0;
    expect_ok(&c, sock_sendfile(&c, fd, &off, 11, NULL));
    expect_ok(&s, sock_recv_all(&s, buf, 11, NULL));
    cr_assert_arr_eq(buf, "from a file", 11);
    close(fd);
    /* shutdown: the layer's first, once */
    expect_ok(&c, sock_shutdown(&c, SOCK_SHUT_WRITE));
    expect_ok(&c, sock_shutdown(&c, SOCK_SHUT_WRITE));
    cr_assert_eq(tc.shutdowns, 1);
    cr_assert_eq(sock_recv(&s, buf, sizeof buf), 0, "end of stream through the layer");
    expect_ok(&c, sock_close(&c));
    expect_ok(&s, sock_close(&s));
    cr_assert_eq(tc.releases, 1);
    cr_assert_eq(ts.releases, 1);
}

/* What the wire carries is the layer's, not the user's bytes. */
FAMILY_TEST(transport, the_wire_carries_the_layers_bytes, .timeout = 10)
{
    sock_t c, s;
    pair_on(host, &c, &s);
    static struct toy tc;
    memset(&tc, 0, sizeof tc);
    expect_ok(&c, sock_set_transport(&c, &toy_transport, &tc));
    expect_ok(&c, sock_send_all(&c, "abc", 3, NULL));
    unsigned char raw[3];
    expect_ok(&s, sock_recv_all(&s, raw, 3, NULL));
    cr_assert(raw[0] == ('a' ^ 0x5a) && raw[1] == ('b' ^ 0x5a) && raw[2] == ('c' ^ 0x5a));
    /* Taken away: plain again, and released. */
    expect_ok(&c, sock_set_transport(&c, NULL, NULL));
    cr_assert_eq(tc.releases, 1);
    expect_ok(&c, sock_send_all(&c, "d", 1, NULL));
    expect_ok(&s, sock_recv_all(&s, raw, 1, NULL));
    cr_assert_eq(raw[0], 'd');
    sock_close(&c), sock_close(&s);
    cr_assert_eq(tc.releases, 1, "released twice");
}

/* Non-blocking: the layer's -EAGAIN reaches the caller, costs no text; a
 * sock_pipe_t forwards through it. */
FAMILY_TEST(transport, nonblocking_and_pipe, .timeout = 10)
{
    sock_t c, s, d, e;
    pair_on(host, &c, &s);
    pair_on(host, &d, &e);
    static struct toy tc, ts;
    memset(&tc, 0, sizeof tc), memset(&ts, 0, sizeof ts);
    expect_ok(&c, sock_set_transport(&c, &toy_transport, &tc));
    expect_ok(&s, sock_set_transport(&s, &toy_transport, &ts));
    expect_ok(&s, sock_set_nonblocking(&s, 1));
    char b;
    expect_code(&s, sock_recv(&s, &b, 1), -EAGAIN);
    cr_assert_str_eq(sock_error(&s), "");
    /* c -(layer)-> s, piped to d (plain) -> e */
    expect_ok(&c, sock_send_all(&c, "piped", 5, NULL));
    struct pollfd pfd = {.fd = sock_fd(&s), .events = POLLIN};
    cr_assert_eq(poll(&pfd, 1, 5000), 1);
    sock_pipe_t p;
    cr_assert_eq(sock_pipe_open(&p), 0);
    cr_assert_eq(sock_pipe_fill(&p, &s, 100), 5);
    cr_assert_eq(sock_pipe_drain(&p, &d), 5);
    char buf[8];
    expect_ok(&e, sock_recv_all(&e, buf, 5, NULL));
    cr_assert_arr_eq(buf, "piped", 5, "the pipe did not read through the layer");
    sock_pipe_close(&p);
    sock_close(&c), sock_close(&s), sock_close(&d), sock_close(&e);
}

/* sock_want: what an -EAGAIN waits for.  A plain socket's directions
 * wait for their natural readiness; a layer's send that needs the socket
 * readable says so, for that direction only, until another -EAGAIN. */
FAMILY_TEST(transport, want_says_what_an_eagain_waits_for, .timeout = 10)
{
    sock_t c, s;
    pair_on(host, &c, &s);
    cr_assert_eq(sock_want(&c, 0), SOCK_READABLE);
    cr_assert_eq(sock_want(&c, 1), SOCK_WRITABLE);
    cr_assert_eq(sock_want(NULL, 1), SOCK_WRITABLE);
    cr_assert_null(sock_transport_name(&c));
    cr_assert_null(sock_transport_name(NULL));
    static struct toy tc;
    memset(&tc, 0, sizeof tc);
    expect_ok(&c, sock_set_transport(&c, &toy_transport, &tc));
    cr_assert_str_eq(sock_transport_name(&c), "toy");
    expect_ok(&c, sock_set_nonblocking(&c, 1));
    tc.want_readable_once = 1;
    expect_code(&c, sock_send(&c, "x", 1), -EAGAIN);
    cr_assert_eq(sock_want(&c, 1), SOCK_READABLE, "the layer's send asked for readable");
    cr_assert_eq(sock_want(&c, 0), SOCK_READABLE);
    char b;
    expect_code(&c, sock_recv(&c, &b, 1), -EAGAIN);
    cr_assert_eq(sock_want(&c, 0), SOCK_READABLE);
    /* Fill the socket (s reads nothing) until the layer's send waits for
     * room: then it is writable that is wanted again. */
    static char chunk[65536];
    ssize_t n = 1;
    for (int i = 0; i < 10000 && n > 0; i++)
        n = sock_send(&c, chunk, sizeof chunk);
    expect_code(&c, n, -EAGAIN);
    cr_assert_eq(sock_want(&c, 1), SOCK_WRITABLE);
    sock_close(&c), sock_close(&s);
}

/* What a layer reads of the handle to wait as the library would. */
Test(transport, timeout_and_mode_are_readable, .timeout = 5)
{
    sock_t s;
    sock_init(&s);
    cr_assert_eq(sock_timeout(&s), -1);
    cr_assert_eq(sock_is_nonblocking(&s), 0);
    expect_ok(&s, sock_set_timeout(&s, 250));
    cr_assert_eq(sock_timeout(&s), 250);
    /* A timeout makes the descriptor O_NONBLOCK, but not the mode. */
    cr_assert_eq(sock_is_nonblocking(&s), 0);
    expect_ok(&s, sock_set_nonblocking(&s, 1));
    cr_assert_eq(sock_is_nonblocking(&s), 1);
    expect_ok(&s, sock_set_nonblocking(&s, 0));
    cr_assert_eq(sock_is_nonblocking(&s), 0);
    cr_assert_eq(sock_timeout(NULL), -1);
    cr_assert_eq(sock_is_nonblocking(NULL), 0);
    sock_close(&s);
}

Test(transport, bad_arguments, .timeout = 5)
{
    sock_t s;
    sock_init(&s);
    expect_code(&s, sock_set_transport(&s, &toy_transport, NULL), -ENOTCONN);
    cr_assert_eq(sock_pending(&s), 0u);
    cr_assert_eq(sock_set_error(&s, -EPROTO, "layer said %d", 7), -EPROTO);
    cr_assert_str_eq(sock_error(&s), "layer said 7");
    sock_close(&s);
}

/* ---------------------------------------------------------------- a layer's words, per side */

/* A layer whose every call fails in its own words (sock_set_error), as
 * TLS does for a bad record.  The recv hook first says it is running
 * (in_recv), then waits for the test's go before it fails, so that a send
 * can fail while the receive is inside its hook, in a fixed order. */
struct failing {
    sock_t *s;
    sem_t in_recv, go;
};

static ssize_t failing_send(void *ctx, int fd, const void *buf, size_t len, unsigned *want)
{
    struct failing *f = ctx;
    (void)fd, (void)buf, (void)len, (void)want;
    return sock_set_error(f->s, SOCK_ETLS, "layer: the send failed");
}

/* Wait for sem at most 5 s: a test that goes wrong fails, never hangs. */
static int wait_sem(sem_t *sem)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += 5;
    int rc;
    while ((rc = sem_timedwait(sem, &ts)) < 0 && errno == EINTR)
        ;
    return rc;
}

static ssize_t failing_recv(void *ctx, int fd, void *buf, size_t len, unsigned *want)
{
    struct failing *f = ctx;
    (void)fd, (void)buf, (void)len, (void)want;
    sem_post(&f->in_recv);
    if (wait_sem(&f->go) < 0)
        return sock_set_error(f->s, -ETIMEDOUT, "layer: no go within 5 s");
    return sock_set_error(f->s, SOCK_ETLS, "layer: the receive failed");
}

static int failing_shutdown(void *ctx, int fd, unsigned *want)
{
    struct failing *f = ctx;
    (void)fd, (void)want;
    return sock_set_error(f->s, SOCK_ETLS, "layer: the shutdown failed");
}

static const sock_transport_t failing_transport = {
    .name = "failing", .send = failing_send, .recv = failing_recv, .shutdown = failing_shutdown};

struct receiver {
    sock_t *s;
    ssize_t rc;
    char text[SOCK_ERRLEN];
};

static void *receive_once(void *arg)
{
    struct receiver *r = arg;
    char b;
    r->rc = sock_recv(r->s, &b, 1);
    snprintf(r->text, sizeof r->text, "%s", sock_error(r->s));
    return NULL;
}

/* One thread receives while another sends, and the layer fails both from
 * its hooks: each side's text is recorded in that side's buffer.  The
 * sender's text therefore stays what its send failed with (sock_error's
 * contract: valid until the next failing call of the same kind), even
 * after the receive failed later; a layer that wrote the send side's
 * buffer from the recv hook would replace it with the receive's words
 * (and, unordered, two threads would write one buffer at once). */
Test(transport, layer_errors_go_to_the_side_of_the_hook, .timeout = 20)
{
    sock_t c, s;
    pair_on("127.0.0.1", &c, &s);
    static struct failing f;
    f.s = &c;
    cr_assert_eq(sem_init(&f.in_recv, 0, 0), 0);
    cr_assert_eq(sem_init(&f.go, 0, 0), 0);
    expect_ok(&c, sock_set_transport(&c, &failing_transport, &f));

    struct receiver r = {.s = &c};
    pthread_t t = spawn(receive_once, &r);
    cr_assert_eq(wait_sem(&f.in_recv), 0, "the receiving thread never reached the recv hook");
    /* The receive is inside its hook: this thread's send fails now. */
    cr_assert_eq(sock_send(&c, "x", 1), SOCK_ETLS);
    const char *mine = sock_error(&c);
    cr_assert_str_eq(mine, "layer: the send failed");
    sem_post(&f.go);
    join_within(t, 5000);

    cr_assert_eq(r.rc, SOCK_ETLS, "the receive returned %zd", r.rc);
    cr_expect_str_eq(r.text, "layer: the receive failed", "the receiving thread read '%s'", r.text);
    cr_expect_str_eq(mine, "layer: the send failed",
                     "the send side's text became '%s' when the receive failed", mine);
    /* The last failure is still the one sock_error() names. */
    cr_expect_str_eq(sock_error(&c), "layer: the receive failed");
    sock_close(&c), sock_close(&s);
    sem_destroy(&f.in_recv), sem_destroy(&f.go);
}

/* The shutdown hook's words go to the shutdown side's buffer, and a
 * sock_set_error() outside any hook to the send side's, as before. */
Test(transport, layer_errors_of_shutdown_and_outside_hooks, .timeout = 10)
{
    sock_t c, s;
    pair_on("127.0.0.1", &c, &s);
    static struct failing f;
    f.s = &c;
    expect_ok(&c, sock_set_transport(&c, &failing_transport, &f));
    cr_assert_eq(sock_send(&c, "x", 1), SOCK_ETLS);
    const char *sent = sock_error(&c);
    cr_assert_eq(sock_shutdown(&c, SOCK_SHUT_WRITE), SOCK_ETLS);
    cr_expect_str_eq(sock_error(&c), "layer: the shutdown failed");
    cr_expect_str_eq(sent, "layer: the send failed",
                     "the send side's text became '%s' when the shutdown failed", sent);
    /* Outside a hook: the send side's buffer, which the shutdown's text
     * does not share. */
    const char *shut = sock_error(&c);
    cr_assert_eq(sock_set_error(&c, -EPROTO, "layer: outside any hook"), -EPROTO);
    cr_expect_str_eq(sock_error(&c), "layer: outside any hook");
    cr_expect_str_eq(shut, "layer: the shutdown failed");
    cr_expect_str_eq(sent, "layer: outside any hook");
    sock_close(&c), sock_close(&s);
}

/* A layer that fails its receive without a word of its own. */
static ssize_t mute_recv(void *ctx, int fd, void *buf, size_t len, unsigned *want)
{
    (void)ctx, (void)fd, (void)buf, (void)len, (void)want;
    return SOCK_ETLS;
}

static const sock_transport_t mute_recv_transport = {
    .name = "mute", .send = failing_send, .recv = mute_recv};

/* The library keeps a layer's words only when the layer said them for the
 * side that failed: a silent receive failure gets the library's own text,
 * never the send side's older one (nor does looking for it read the
 * buffer a sending thread may be writing). */
Test(transport, silent_layer_failure_gets_the_librarys_words, .timeout = 10)
{
    sock_t c, s;
    pair_on("127.0.0.1", &c, &s);
    static struct failing f;
    f.s = &c;
    expect_ok(&c, sock_set_transport(&c, &mute_recv_transport, &f));
    cr_assert_eq(sock_send(&c, "x", 1), SOCK_ETLS);
    cr_assert_str_eq(sock_error(&c), "layer: the send failed");
    char b;
    cr_assert_eq(sock_recv(&c, &b, 1), SOCK_ETLS);
    cr_expect(strncmp(sock_error(&c), "recv from 127.0.0.1:", 20) == 0 &&
                  strstr(sock_error(&c), sock_strerror(SOCK_ETLS)) != NULL,
              "the silent receive failure reads '%s'", sock_error(&c));
    sock_close(&c), sock_close(&s);
}
