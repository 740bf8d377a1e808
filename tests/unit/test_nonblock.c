/*
 * test_nonblock.c - non-blocking use of a handle: would-block at the cost
 * of the system call, end of stream, reset, our own shutdown, accept and
 * EMFILE, the outcome of a connect over several addresses.
 */
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

static void nonblocking_pair(const char *host, sock_t *c, sock_t *s)
{
    pair_on(host, c, s);
    expect_ok(c, sock_set_nonblocking(c, 1));
    expect_ok(s, sock_set_nonblocking(s, 1));
    cr_assert(fcntl(sock_fd(c), F_GETFL) & O_NONBLOCK);
}

static int wait_fd(int fd, short events)
{
    struct pollfd pfd = {.fd = fd, .events = events};
    return poll(&pfd, 1, 5000);
}

/* Would-block is -EAGAIN with no text and nothing allocated; data, end of
 * stream and our own shutdown keep their meaning. */
FAMILY_TEST(nonblock, recv_would_block_then_data_then_eof, .timeout = 10)
{
    sock_t c, s;
    nonblocking_pair(host, &c, &s);
    char buf[16];
    size_t got = 99;
    expect_code(&c, sock_recv(&c, buf, sizeof buf), -EAGAIN);
    expect_code(&c, sock_recv_all(&c, buf, 4, &got), -EAGAIN);
    cr_assert_eq(got, 0);
    cr_assert_str_eq(sock_error(&c), "", "a would-block wrote text: %s", sock_error(&c));
    cr_assert_null(c.priv_ext, "a would-block allocated the error block");
    expect_ok(&s, sock_send_all(&s, "ab", 2, NULL));
    cr_assert_eq(wait_fd(sock_fd(&c), POLLIN), 1);
    /* recv_all of 4 takes the 2 there are and says so. */
    expect_code(&c, sock_recv_all(&c, buf, 4, &got), -EAGAIN);
    cr_assert_eq(got, 2);
    cr_assert_arr_eq(buf, "ab", 2);
    expect_ok(&s, sock_shutdown(&s, SOCK_SHUT_WRITE));
    cr_assert_eq(wait_fd(sock_fd(&c), POLLIN), 1);
    cr_assert_eq(sock_recv(&c, buf, sizeof buf), 0, "end of stream is 0");
    expect_ok(&c, sock_shutdown(&c, SOCK_SHUT_READ));
    expect_code(&c, sock_recv(&c, buf, sizeof buf), SOCK_ECLOSED);
    sock_close(&c);
    sock_close(&s);
}

FAMILY_TEST(nonblock, reset_is_not_eof, .timeout = 10)
{
    sock_t c, s;
    nonblocking_pair(host, &c, &s);
    expect_ok(&s, sock_abort(&s));
    cr_assert_eq(wait_fd(sock_fd(&c), POLLIN), 1);
    char b;
    expect_code(&c, sock_recv(&c, &b, 1), -ECONNRESET);
    cr_assert_str_neq(sock_error(&c), "", "a real failure has its text");
    sock_close(&c);
}

/* Sending into a full window: -EAGAIN with the partial count, then the
 * rest once the peer reads; every byte arrives in order. */
FAMILY_TEST(nonblock, send_all_partial_then_rest, .timeout = 15)
{
    sock_t c, s;
    nonblocking_pair(host, &c, &s);
    /* Small enough buffers for the window to fill, large enough not to
     * crawl through delayed acknowledgements. */
    shrink_buffers(&c, 65536);
    shrink_buffers(&s, 65536);
    enum { LEN = 4 << 20 };
    unsigned char *out = malloc(LEN), *in = malloc(LEN);
    cr_assert(out && in);
    fill_pattern(out, LEN, 0);
    size_t sent_total = 0, recv_total = 0;
    int would_block = 0;
    for (int round = 0; round < 100000 && recv_total < LEN; round++) {
        if (sent_total < LEN) {
            size_t sent = 0;
            int rc = sock_send_all(&c, out + sent_total, LEN - sent_total, &sent);
            cr_assert(rc == 0 || rc == -EAGAIN, "send_all: %d %s", rc, sock_error(&c));
            would_block += rc == -EAGAIN;
            sent_total += sent;
        }
        ssize_t n = sock_recv(&s, in + recv_total, LEN - recv_total);
        cr_assert(n > 0 || n == -EAGAIN, "recv: %zd %s", n, sock_error(&s));
        if (n > 0) {
            recv_total += (size_t)n;
            continue;
        }
        /* One thread plays both sides: wait until either can go on. */
        struct pollfd pfd[2] = {{.fd = sock_fd(&s), .events = POLLIN},
                                {.fd = sock_fd(&c), .events = POLLOUT}};
        cr_assert_gt(poll(pfd, sent_total < LEN ? 2 : 1, 5000), 0, "neither side can move");
    }
    cr_assert_eq(recv_total, (size_t)LEN);
    cr_assert_gt(would_block, 0, "the window never filled");
    cr_assert_eq(check_pattern(in, LEN, 0), (size_t)LEN, "bytes out of order");
    cr_assert_null(c.priv_ext, "would-blocks allocated the error block");
    free(out), free(in);
    sock_close(&c);
    sock_close(&s);
}

FAMILY_TEST(nonblock, accept_would_block_and_inherits_mode, .timeout = 10)
{
    sock_t a, c, p;
    char port[8];
    listener_on(&a, host, port);
    expect_ok(&a, sock_set_nonblocking(&a, 1));
    expect_code(&a, sock_accept(&a, &p), -EAGAIN);
    cr_assert_null(a.priv_ext);
    cr_assert_eq(sock_fd(&p), -1);
    sock_init(&c);
    expect_ok(&c, sock_connect(&c, host, port));
    cr_assert_eq(wait_fd(sock_fd(&a), POLLIN), 1);
    expect_ok(&a, sock_accept(&a, &p));
    char b;
    expect_code(&p, sock_recv(&p, &b, 1), -EAGAIN);
    cr_assert(fcntl(sock_fd(&p), F_GETFL) & O_NONBLOCK, "the accepted socket is non-blocking");
    /* The acceptor's shutdown still says SOCK_ECLOSED. */
    expect_ok(&a, sock_shutdown(&a, SOCK_SHUT_READ_WRITE));
    expect_code(&a, sock_accept(&a, &p), SOCK_ECLOSED);
    sock_close(&p);
    sock_close(&c);
    sock_close(&a);
}

FAMILY_TEST(nonblock, accept_out_of_descriptors_is_emfile, .timeout = 20)
{
    sock_t a, c;
    char port[8];
    listener_on(&a, host, port);
    expect_ok(&a, sock_set_nonblocking(&a, 1));
    sock_init(&c);
    expect_ok(&c, sock_connect(&c, host, port));
    cr_assert_eq(wait_fd(sock_fd(&a), POLLIN), 1);
    struct rlimit old, low;
    cr_assert_eq(getrlimit(RLIMIT_NOFILE, &old), 0);
    low = old;
    low.rlim_cur = 256;
    cr_assert_eq(setrlimit(RLIMIT_NOFILE, &low), 0);
    static int fill[4096];
    int filled = 0;
    while (filled < 4096) {
        int fd = fcntl(sock_fd(&a), F_DUPFD_CLOEXEC, 0);
        if (fd < 0)
            break;
        fill[filled++] = fd;
    }
    sock_t p;
    int full_rc = sock_accept(&a, &p);
    close(fill[--filled]);
    int rc = sock_accept(&a, &p);
    while (filled > 0)
        close(fill[--filled]);
    setrlimit(RLIMIT_NOFILE, &old);
    expect_code(&a, full_rc, -EMFILE);
    expect_ok(&a, rc);
    sock_close(&p);
    sock_close(&c);
    sock_close(&a);
}

/* Wait for the outcome of a non-blocking connect, as a loop would. */
static int finish_connect(sock_t *c, int *fd_changed)
{
    int fd = sock_fd(c);
    int rc = -EINPROGRESS;
    for (int i = 0; i < 50 && rc == -EINPROGRESS; i++) {
        cr_assert_eq(wait_fd(sock_fd(c), POLLOUT), 1, "connect: never writable");
        rc = sock_connect_finish(c);
        if (rc == -EINPROGRESS && sock_fd(c) != fd)
            *fd_changed = 1;
    }
    return rc;
}

FAMILY_TEST(nonblock, connect_outcome_success_and_refusal, .timeout = 10)
{
    sock_t a, c;
    char port[8], gone[8];
    listener_on(&a, host, port);
    sock_init(&c);
    expect_ok(&c, sock_set_nonblocking(&c, 1));
    int rc = sock_connect(&c, host, port);
    cr_assert(rc == 0 || rc == -EINPROGRESS, "%d %s", rc, sock_error(&c));
    int changed = 0;
    if (rc == -EINPROGRESS)
        rc = finish_connect(&c, &changed);
    expect_ok(&c, rc);
    char peer[SOCK_ADDRSTRLEN];
    expect_ok(&c, sock_peer_addr(&c, peer, sizeof peer));
    cr_assert(strstr(peer, port) != NULL, "%s", peer);
    expect_ok(&c, sock_connect_finish(&c)); /* connected: 0 again */
    sock_close(&c);

    closed_port(host, gone);
    sock_init(&c);
    expect_ok(&c, sock_set_nonblocking(&c, 1));
    rc = sock_connect(&c, host, gone);
    if (rc == -EINPROGRESS)
        rc = finish_connect(&c, &changed);
    expect_code(&c, rc, -ECONNREFUSED);
    cr_assert(strstr(sock_error(&c), gone) != NULL, "%s", sock_error(&c));
    cr_assert_eq(sock_fd(&c), -1, "a failed connect leaves no descriptor");
    sock_close(&c);
    sock_close(&a);
}

/* "localhost" is ::1 and 127.0.0.1 (both in /etc/hosts): with a server on
 * one family only, the other address is refused first and the connect
 * goes on to the next address on the same descriptor, which a poller may
 * be watching. */
FAMILY_TEST(nonblock, connect_tries_every_address_on_one_descriptor, .timeout = 10)
{
    sock_t a, c;
    char port[8];
    listener_on(&a, host, port);
    sock_addr_t addrs[4];
    sock_init(&c);
    int n = sock_resolve(&c, "localhost", port, 0, addrs, 4);
    cr_assert_geq(n, 1, "%s", sock_error(&c));
    expect_ok(&c, sock_set_nonblocking(&c, 1));
    int rc = sock_connect(&c, "localhost", port);
    int fd = sock_fd(&c);
    int changed = 0;
    if (rc == -EINPROGRESS)
        rc = finish_connect(&c, &changed);
    int found = 0;
    for (int i = 0; i < n; i++)
        found |= strstr(addrs[i].text, host) != NULL;
    if (!found)
        cr_skip_test("localhost has no %s address here", host);
    expect_ok(&c, rc);
    cr_assert_eq(sock_fd(&c), fd, "the descriptor changed between attempts");
    cr_assert_eq(changed, 0);
    char peer[SOCK_ADDRSTRLEN];
    expect_ok(&c, sock_peer_addr(&c, peer, sizeof peer));
    cr_assert(strstr(peer, host) != NULL, "connected to %s, the server is on %s", peer, host);
    sock_t s;
    expect_ok(&a, sock_set_nonblocking(&a, 1));
    cr_assert_eq(wait_fd(sock_fd(&a), POLLIN), 1);
    expect_ok(&a, sock_accept(&a, &s));
    expect_ok(&c, sock_send_all(&c, "x", 1, NULL));
    cr_assert_eq(wait_fd(sock_fd(&s), POLLIN), 1);
    char b;
    cr_assert_eq(sock_recv(&s, &b, 1), 1);
    sock_close(&s);
    sock_close(&c);
    sock_close(&a);
}

Test(nonblock, connect_finish_without_connect_is_einval, .timeout = 5)
{
    sock_t c;
    sock_init(&c);
    expect_code(&c, sock_connect_finish(&c), -EINVAL);
    sock_close(&c);
    expect_code(&c, sock_connect_finish(&c), SOCK_ECLOSED);
}

/* After the failed attempt's error was taken (sock_take_error), finishing
 * the connect must not say "in progress" for ever. */
FAMILY_TEST(nonblock, connect_finish_after_the_error_was_taken, .timeout = 10)
{
    char gone[8];
    closed_port(host, gone);
    sock_t c;
    sock_init(&c);
    expect_ok(&c, sock_set_nonblocking(&c, 1));
    int rc = sock_connect(&c, host, gone);
    if (rc == -EINPROGRESS) {
        cr_assert_eq(wait_fd(sock_fd(&c), POLLOUT), 1);
        sock_take_error(&c);
        rc = sock_connect_finish(&c);
    }
    cr_assert(rc < 0 && rc != -EINPROGRESS, "connect_finish: %d", rc);
    sock_close(&c);
}
