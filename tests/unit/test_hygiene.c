/*
 * test_hygiene.c - descriptors: close-on-exec everywhere, none leaked on
 * failure paths, and accept out of descriptors does not spin (reliability
 * scenarios 30, 31, 35 scaled down, 45).
 */
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

static void expect_cloexec(const sock_t *s, const char *what)
{
    int fd = sock_fd(s);
    cr_assert_geq(fd, 0, "%s has no descriptor", what);
    int fl = fcntl(fd, F_GETFD);
    cr_assert_geq(fl, 0);
    cr_assert(fl & FD_CLOEXEC, "%s: descriptor %d is not close-on-exec", what, fd);
}

static void expect_nonblocking(const sock_t *s, const char *what)
{
    int fl = fcntl(sock_fd(s), F_GETFL);
    cr_assert(fl >= 0 && (fl & O_NONBLOCK), "%s: a finite timeout must make it non-blocking",
              what);
}

/* Bound, listening, connected, explicitly-bound-then-connected and
 * accepted sockets, with and without a timeout (which changes the flags
 * the descriptors are made with). */
FAMILY_TEST(hygiene, cloexec_on_every_descriptor, .timeout = 10)
{
    for (int timed = 0; timed < 2; timed++) {
        sock_t a, c, b, s1, s2;
        char port[8];
        sock_init(&a);
        if (timed)
            expect_ok(&a, sock_set_timeout(&a, 5000));
        expect_ok(&a, sock_bind(&a, host, "0"));
        expect_cloexec(&a, "bound");
        expect_ok(&a, sock_listen(&a, 4));
        expect_cloexec(&a, "listening");
        port_text(&a, port);
        sock_init(&c);
        if (timed)
            expect_ok(&c, sock_set_timeout(&c, 5000));
        expect_ok(&c, sock_connect(&c, host, port));
        expect_cloexec(&c, "connected");
        sock_init(&b);
        if (timed)
            expect_ok(&b, sock_set_timeout(&b, 5000));
        expect_ok(&b, sock_bind(&b, host, "0"));
        expect_ok(&b, sock_connect(&b, host, port));
        expect_cloexec(&b, "bound then connected");
        expect_ok(&a, sock_accept(&a, &s1));
        expect_cloexec(&s1, "accepted");
        expect_ok(&a, sock_accept(&a, &s2));
        expect_cloexec(&s2, "accepted");
        if (timed) {
            expect_nonblocking(&a, "acceptor");
            expect_nonblocking(&c, "client");
            expect_nonblocking(&s1, "accepted (inherits the timeout)");
        }
        sock_close(&s1);
        sock_close(&s2);
        sock_close(&b);
        sock_close(&c);
        sock_close(&a);
    }
}

/* 1,000 rounds of every kind of failed bind and connect: not one
 * descriptor more at the end. */
FAMILY_TEST(hygiene, no_fd_leak_over_1000_failed_binds_and_connects, .timeout = 60)
{
    const char *absent = is_v6(host) ? "2001:db8::1" : "192.0.2.1";
    sock_t busy;
    char busy_port[8], gone[8];
    listener_on(&busy, host, busy_port);
    closed_port(host, gone);
    int before = count_fds();
    int failures = 0;
    for (int i = 0; i < 1000; i++) {
        sock_t s;
        sock_init(&s);
        failures += sock_bind(&s, host, busy_port) == -EADDRINUSE;
        sock_close(&s);
        sock_init(&s);
        failures += sock_bind(&s, absent, "0") == -EADDRNOTAVAIL;
        sock_close(&s);
        sock_init(&s);
        failures += sock_bind(&s, host, "99999") == -EINVAL;
        sock_close(&s);
        sock_init(&s);
        failures += sock_connect(&s, host, gone) == -ECONNREFUSED;
        sock_close(&s);
        /* A failed connect after an explicit bind keeps the bound socket,
         * which close must release. */
        sock_init(&s);
        failures += sock_bind(&s, host, "0") == 0;
        failures += sock_connect(&s, host, gone) == -ECONNREFUSED;
        sock_close(&s);
        sock_init(&s);
        failures += sock_connect(&s, host, "-1") == -EINVAL;
        sock_close(&s);
        /* A handle that is never closed after a failed connect must not
         * hold a descriptor either. */
        sock_init(&s);
        failures += sock_connect(&s, host, gone) == -ECONNREFUSED;
        failures += sock_fd(&s) == -1;
    }
    int after = count_fds();
    cr_assert_eq(failures, 9000, "%d of 9000 calls failed the expected way", failures);
    cr_assert_eq(after, before, "%d descriptors before, %d after", before, after);
    sock_close(&busy);
}

FAMILY_TEST(hygiene, no_fd_leak_over_failed_accepts, .timeout = 20)
{
    sock_t a;
    char port[8];
    listener_on(&a, host, port);
    expect_ok(&a, sock_set_timeout(&a, 0));
    int before = count_fds();
    for (int i = 0; i < 1000; i++) {
        sock_t p;
        cr_assert_eq(sock_accept(&a, &p), -ETIMEDOUT);
        cr_assert_eq(sock_fd(&p), -1);
    }
    sock_close(&a);
    for (int i = 0; i < 1000; i++) {
        sock_t p;
        cr_assert_eq(sock_accept(&a, &p), SOCK_ECLOSED);
    }
    cr_assert_eq(count_fds(), before - 1, "only the acceptor's descriptor went away");
}

FAMILY_TEST(hygiene, no_fd_growth_over_1000_connect_close_cycles, .timeout = 60)
{
    sock_t a;
    char port[8];
    listener_on(&a, host, port);
    int before = count_fds();
    for (int i = 0; i < 1000; i++) {
        sock_t c, s;
        sock_init(&c);
        expect_ok(&c, sock_connect(&c, host, port));
        expect_ok(&a, sock_accept(&a, &s));
        /* Abort one side so that 1,000 TIME_WAITs do not pile up. */
        expect_ok(&c, sock_abort(&c));
        expect_ok(&s, sock_close(&s));
    }
    cr_assert_eq(count_fds(), before);
    sock_close(&a);
}

/* Out of descriptors: accept reports -EMFILE at once (no spinning), the
 * client stays queued, and serving resumes once a descriptor is free. */
FAMILY_TEST(hygiene, accept_out_of_descriptors, .timeout = 20)
{
    sock_t a, c;
    char port[8];
    listener_on(&a, host, port);
    sock_init(&c);
    expect_ok(&c, sock_connect(&c, host, port));
    expect_ok(&c, sock_send_all(&c, "q", 1, NULL));

    struct rlimit old, low;
    cr_assert_eq(getrlimit(RLIMIT_NOFILE, &old), 0);
    enum { MAX_FILL = 4096 };
    static int fill[MAX_FILL];
    int filled = 0;
    low = old;
    low.rlim_cur = 256;
    cr_assert_eq(setrlimit(RLIMIT_NOFILE, &low), 0);
    /* Take every descriptor left; no assertion until they are given back,
     * since reporting one may itself need a descriptor. */
    while (filled < MAX_FILL) {
        int fd = fcntl(sock_fd(&a), F_DUPFD_CLOEXEC, 0);
        if (fd < 0)
            break;
        fill[filled++] = fd;
    }
    int dup_errno = errno;
    sock_t p;
    int full_rc = sock_accept(&a, &p);
    int full_fd = sock_fd(&p);
    close(fill[--filled]);
    int rc = sock_accept(&a, &p);
    while (filled > 0)
        close(fill[--filled]);
    setrlimit(RLIMIT_NOFILE, &old);

    cr_assert_eq(dup_errno, EMFILE, "filling descriptors stopped with %d", dup_errno);
    expect_code(&a, full_rc, -EMFILE);
    cr_assert_eq(full_fd, -1);
    expect_ok(&a, rc);
    char b = 0;
    expect_ok(&p, sock_recv_all(&p, &b, 1, NULL));
    cr_assert_eq(b, 'q', "the queued client was served after the shortage");
    sock_close(&p);
    sock_close(&c);
    sock_close(&a);
}

/* A server keeps a handle per connection: a handle that never failed is
 * small (the error texts are allocated at the first failure only), and
 * sock_close gives that block back. */
FAMILY_TEST(hygiene, handle_is_small_and_close_frees_its_texts, .timeout = 10)
{
    cr_assert_leq(sizeof(sock_t), 64u, "sock_t is %zu bytes", sizeof(sock_t));
    char gone[8];
    closed_port(host, gone);
    for (int i = 0; i < 1000; i++) {
        sock_t c;
        sock_init(&c);
        cr_assert_null(c.priv_ext);
        expect_code(&c, sock_connect(&c, host, gone), -ECONNREFUSED);
        cr_assert_not_null(c.priv_ext, "a failure has its text");
        cr_assert(strstr(sock_error(&c), gone) != NULL);
        expect_ok(&c, sock_close(&c));
        cr_assert_null(c.priv_ext, "sock_close kept the error block");
        cr_assert_str_eq(sock_error(&c), "");
    }
}
