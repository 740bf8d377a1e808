/*
 * test_errors.c - failures and their words: refused, in use, not available,
 * unresolvable, reset, broken pipe, self-connect, misuse (reliability
 * scenarios 4, 7, 17-23).
 */
#include "util.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

/* Assert that text contains needle. */
#define expect_in(text, needle)                                                       \
    cr_assert(strstr((text), (needle)) != NULL, "\"%s\" does not mention \"%s\"", (text), \
              (needle))

FAMILY_TEST(errors, refused_at_once_naming_host_and_port, .timeout = 15)
{
    char port[8];
    closed_port(host, port);
    sock_t c;
    sock_init(&c);
    /* With a long timeout, -ECONNREFUSED rather than -ETIMEDOUT shows the
     * refusal came at once. */
    expect_ok(&c, sock_set_timeout(&c, 10000));
    expect_code(&c, sock_connect(&c, host, port), -ECONNREFUSED);
    const char *e = sock_error(&c);
    expect_in(e, "connect");
    expect_in(e, host);
    expect_in(e, port);
    expect_in(e, sock_strerror(-ECONNREFUSED));
    cr_assert_eq(sock_fd(&c), -1, "a failed connect leaves no descriptor");
    sock_close(&c);
}

/* A name with several addresses: every one is tried and named. */
Test(errors, localhost_every_address_tried_and_named, .timeout = 15)
{
    char port[8];
    closed_port("127.0.0.1", port);
    sock_t c;
    sock_init(&c);
    sock_addr_t addrs[8];
    int n = sock_resolve(&c, "localhost", port, 0, addrs, 8);
    cr_assert_gt(n, 0, "resolve localhost: %s", sock_error(&c));
    int rc = sock_connect(&c, "localhost", port);
    cr_assert(rc == -ECONNREFUSED || rc == -EADDRNOTAVAIL || rc == -ENETUNREACH,
              "connect localhost:%s = %d (%s)", port, rc, sock_error(&c));
    const char *e = sock_error(&c);
    expect_in(e, "connect");
    expect_in(e, "localhost");
    expect_in(e, port);
    for (int i = 0; i < n && i < 8; i++)
        expect_in(e, addrs[i].text);
    sock_close(&c);
}

FAMILY_TEST(errors, address_in_use, .timeout = 10)
{
    sock_t a, b;
    char port[8];
    listener_on(&a, host, port);
    sock_init(&b);
    /* SO_REUSEADDR does not let a second socket take a listening port. */
    int rc = sock_bind(&b, host, port);
    if (rc == 0)
        rc = sock_listen(&b, 4);
    expect_code(&b, rc, -EADDRINUSE);
    expect_in(sock_error(&b), port);
    sock_close(&b);
    sock_close(&a);
}

Test(errors, address_not_available, .timeout = 10)
{
    /* Documentation addresses that are on no interface of this machine:
     * binding them sends nothing anywhere. */
    const char *hosts[] = {"192.0.2.1", "2001:db8::1"};
    for (int i = 0; i < 2; i++) {
        sock_t s;
        sock_init(&s);
        expect_code(&s, sock_bind(&s, hosts[i], "0"), -EADDRNOTAVAIL);
        expect_in(sock_error(&s), "bind");
        expect_in(sock_error(&s), hosts[i]);
        cr_assert_eq(sock_fd(&s), -1);
        sock_close(&s);
    }
}

FAMILY_TEST(errors, bad_ports_are_einval, .timeout = 10)
{
    const char *bad[] = {"99999", "-1", "65536"};
    for (int i = 0; i < 3; i++) {
        sock_t s;
        sock_init(&s);
        expect_code(&s, sock_bind(&s, host, bad[i]), -EINVAL);
        cr_assert_str_neq(sock_error(&s), "");
        sock_close(&s);
        sock_init(&s);
        expect_code(&s, sock_connect(&s, host, bad[i]), -EINVAL);
        cr_assert_str_neq(sock_error(&s), "");
        sock_close(&s);
    }
}

Test(errors, unresolvable_names, .timeout = 15)
{
    /* example.invalid is no literal and not in /etc/hosts. */
    enter_offline_netns();
    sock_t s;
    sock_init(&s);
    expect_code(&s, sock_connect(&s, "example.invalid", "80"), SOCK_ERESOLVE);
    expect_in(sock_error(&s), "example.invalid");
    cr_assert_eq(sock_fd(&s), -1);
    sock_close(&s);
    sock_init(&s);
    expect_code(&s, sock_bind(&s, "example.invalid", "0"), SOCK_ERESOLVE);
    expect_in(sock_error(&s), "example.invalid");
    sock_close(&s);
    sock_init(&s);
    expect_code(&s, sock_connect(&s, "127.0.0.1", "no-such-service-here"), SOCK_ERESOLVE);
    expect_in(sock_error(&s), "no-such-service-here");
    sock_close(&s);
}

FAMILY_TEST(errors, linger_zero_peer_is_reset_not_eof, .timeout = 10)
{
    for (int use_all = 0; use_all < 2; use_all++) {
        sock_t c, s;
        pair_on(host, &c, &s);
        expect_ok(&s, sock_abort(&s));
        char buf[16];
        size_t got = 99;
        if (use_all) {
            expect_code(&c, sock_recv_all(&c, buf, sizeof buf, &got), -ECONNRESET);
            cr_assert_eq(got, 0);
        } else {
            expect_code(&c, sock_recv(&c, buf, sizeof buf), -ECONNRESET);
        }
        expect_in(sock_error(&c), sock_strerror(-ECONNRESET));
        /* The peer can still be named after the reset. */
        char peer[SOCK_ADDRSTRLEN];
        expect_ok(&c, sock_peer_addr(&c, peer, sizeof peer));
        expect_in(peer, host);
        sock_close(&c);
    }
}

/* Closing with unread data makes the system reset the connection. */
FAMILY_TEST(errors, close_with_unread_data_resets_peer, .timeout = 10)
{
    sock_t c, s;
    pair_on(host, &c, &s);
    expect_ok(&c, sock_send_all(&c, "unread", 6, NULL));
    /* The bytes must be in the server's queue before it closes. */
    struct pollfd pfd = {.fd = sock_fd(&s), .events = POLLIN};
    cr_assert_eq(poll(&pfd, 1, 5000), 1, "the data never reached the server");
    expect_ok(&s, sock_close(&s));
    char b;
    expect_code(&c, sock_recv(&c, &b, 1), -ECONNRESET);
    sock_close(&c);
}

/* Sending to a peer that has gone: -EPIPE or -ECONNRESET, in every run,
 * with SIGPIPE at its default disposition (which would kill us). */
FAMILY_TEST(errors, write_after_peer_closed_never_sigpipe, .timeout = 20)
{
    signal(SIGPIPE, SIG_DFL);
    for (int round = 0; round < 40; round++) {
        sock_t c, s;
        pair_on(host, &c, &s);
        if (round % 2)
            expect_ok(&s, sock_abort(&s));
        else
            expect_ok(&s, sock_close(&s));
        long long rc = 1;
        for (int i = 0; i < 1000 && rc > 0; i++) {
            rc = sock_send(&c, "data", 4);
            if (rc > 0)
                sleep_ms(1);
        }
        cr_assert(rc == -EPIPE || rc == -ECONNRESET,
                  "round %d: send to a gone peer gave %lld (%s)", round, rc, sock_error(&c));
        size_t sent = 99;
        int all = sock_send_all(&c, "more", 4, &sent);
        cr_assert(all == -EPIPE || all == -ECONNRESET, "send_all after the failure: %d", all);
        cr_assert_eq(sent, 0);
        sock_close(&c);
    }
}

/* A client that resets before it is accepted does not make accept fail:
 * the loop goes on to the next client. */
FAMILY_TEST(errors, accept_skips_aborted_connection, .timeout = 10)
{
    sock_t a;
    char port[8];
    listener_on(&a, host, port);
    sock_t gone, good;
    sock_init(&gone);
    expect_ok(&gone, sock_connect(&gone, host, port));
    expect_ok(&gone, sock_abort(&gone));
    sock_init(&good);
    expect_ok(&good, sock_connect(&good, host, port));
    expect_ok(&good, sock_send_all(&good, "G", 1, NULL));
    int found = 0;
    for (int i = 0; i < 2 && !found; i++) {
        sock_t p;
        expect_ok(&a, sock_accept(&a, &p));
        char b = 0;
        ssize_t n = sock_recv(&p, &b, 1);
        found = n == 1 && b == 'G';
        if (!found)
            cr_assert(n == -ECONNRESET || n == 0, "the aborted client read as %zd", n);
        sock_close(&p);
    }
    cr_assert(found, "the good client was never accepted");
    sock_close(&good);
    sock_close(&gone);
    sock_close(&a);
}

/* Go's self-connect check, made certain: a socket bound to a free port and
 * connecting to that very port meets itself (TCP simultaneous open) unless
 * the library refuses it. */
FAMILY_TEST(errors, self_connect_is_refused, .timeout = 15)
{
    char port[8];
    closed_port(host, port);
    sock_t c;
    sock_init(&c);
    expect_ok(&c, sock_bind(&c, host, port));
    int rc = sock_connect(&c, host, port);
    cr_assert_lt(rc, 0, "a socket was connected to itself on %s port %s", host, port);
    expect_code(&c, rc, -ECONNREFUSED);
    sock_close(&c);

    /* And the probabilistic form: dial just-closed ephemeral ports many
     * times; a connection, if any, must not be to ourselves. */
    int64_t end = now_ms() + 4000;
    for (int i = 0; i < 500 && now_ms() < end; i++) {
        closed_port(host, port);
        sock_init(&c);
        rc = sock_connect(&c, host, port);
        if (rc == 0) {
            char l[SOCK_ADDRSTRLEN], p[SOCK_ADDRSTRLEN];
            sock_local_addr(&c, l, sizeof l);
            sock_peer_addr(&c, p, sizeof p);
            cr_assert_str_neq(l, p, "dial %d: connected to itself", i);
        } else {
            expect_code(&c, rc, -ECONNREFUSED);
        }
        sock_close(&c);
    }
}

FAMILY_TEST(errors, lifecycle_misuse, .timeout = 10)
{
    sock_t a, c, s, p;
    pair_with_acceptor(host, &a, &c, &s);
    char port[8];
    port_text(&a, port);
    expect_code(&c, sock_connect(&c, host, port), -EINVAL); /* already connected */
    expect_code(&a, sock_connect(&a, host, port), -EINVAL); /* listening */
    expect_code(&a, sock_bind(&a, host, "0"), -EINVAL);     /* already bound */
    expect_code(&c, sock_bind(&c, host, "0"), -EINVAL);     /* connected */
    expect_code(&c, sock_listen(&c, 4), -EINVAL);           /* connected */
    expect_code(&c, sock_accept(&c, &p), -EINVAL);          /* not listening */
    cr_assert_eq(sock_fd(&p), -1);

    sock_t fresh, bound;
    sock_init(&fresh);
    expect_code(&fresh, sock_listen(&fresh, 4), -EINVAL); /* not bound */
    expect_code(&fresh, sock_accept(&fresh, &p), -EINVAL);
    cr_assert_str_neq(sock_error(&fresh), "");
    sock_init(&bound);
    expect_ok(&bound, sock_bind(&bound, host, "0"));
    expect_code(&bound, sock_accept(&bound, &p), -EINVAL); /* bound, not listening */

    /* Every step on a closed handle. */
    sock_close(&bound);
    expect_code(&bound, sock_bind(&bound, host, "0"), SOCK_ECLOSED);
    expect_code(&bound, sock_listen(&bound, 4), SOCK_ECLOSED);
    expect_code(&bound, sock_connect(&bound, host, port), SOCK_ECLOSED);
    expect_code(&bound, sock_accept(&bound, &p), SOCK_ECLOSED);
    /* The connection itself survived every misuse above. */
    expect_ok(&c, sock_send_all(&c, "ok", 2, NULL));
    char buf[2];
    expect_ok(&s, sock_recv_all(&s, buf, 2, NULL));
    sock_close(&fresh);
    sock_close(&c);
    sock_close(&s);
    sock_close(&a);
}

Test(errors, null_arguments_are_einval, .timeout = 5)
{
    char buf[SOCK_ADDRSTRLEN];
    size_t n = 99;
    sock_t s;
    sock_init(&s);
    sock_init(NULL);
    cr_assert_eq(sock_bind(NULL, "127.0.0.1", "0"), -EINVAL);
    cr_assert_eq(sock_listen(NULL, 1), -EINVAL);
    cr_assert_eq(sock_accept(NULL, &s), -EINVAL);
    cr_assert_eq(sock_accept(&s, NULL), -EINVAL);
    cr_assert_eq(sock_connect(NULL, "127.0.0.1", "1"), -EINVAL);
    cr_assert_eq(sock_send(NULL, "x", 1), -EINVAL);
    cr_assert_eq(sock_recv(NULL, buf, 1), -EINVAL);
    cr_assert_eq(sock_send_all(NULL, "x", 1, &n), -EINVAL);
    cr_assert_eq(n, 0);
    cr_assert_eq(sock_recv_all(NULL, buf, 1, &n), -EINVAL);
    cr_assert_eq(sock_shutdown(NULL, SOCK_SHUT_WRITE), -EINVAL);
    cr_assert_eq(sock_close(NULL), -EINVAL);
    cr_assert_eq(sock_set_timeout(NULL, 1), -EINVAL);
    cr_assert_eq(sock_set_family(NULL, AF_INET), -EINVAL);
    cr_assert_eq(sock_local_addr(NULL, buf, sizeof buf), -EINVAL);
    cr_assert_eq(sock_local_addr(&s, NULL, 10), -EINVAL);
    cr_assert_eq(sock_fd(NULL), -1);
    cr_assert_not_null(sock_error(NULL));
    cr_assert_eq(sock_split_hostport(NULL, buf, sizeof buf, buf, sizeof buf), -EINVAL);
}

Test(errors, bad_option_values, .timeout = 5)
{
    sock_t s;
    sock_init(&s);
    cr_assert_str_eq(sock_error(&s), "");
    expect_code(&s, sock_set_timeout(&s, -2), -EINVAL);
    cr_assert_str_neq(sock_error(&s), "", "a bad timeout is explained");
    expect_code(&s, sock_set_family(&s, 12345), -EINVAL);
    cr_assert_str_neq(sock_error(&s), "");
    expect_ok(&s, sock_set_timeout(&s, 0));
    expect_ok(&s, sock_set_timeout(&s, -1));
    expect_ok(&s, sock_set_family(&s, AF_INET6));
    expect_ok(&s, sock_set_family(&s, AF_UNSPEC));
    sock_close(&s);
}

/* sock_set_family restricts names: a literal of the other family is
 * -EAFNOSUPPORT, with the reason in words. */
Test(errors, family_restriction, .timeout = 10)
{
    sock_t a4, a6;
    char p4[8], p6[8];
    listener_on(&a4, "127.0.0.1", p4);
    listener_on(&a6, "::1", p6);
    sock_t c;
    sock_init(&c);
    expect_ok(&c, sock_set_family(&c, AF_INET));
    expect_code(&c, sock_connect(&c, "::1", p6), -EAFNOSUPPORT);
    cr_assert_str_neq(sock_error(&c), "");
    sock_close(&c);
    sock_init(&c);
    expect_ok(&c, sock_set_family(&c, AF_INET6));
    expect_code(&c, sock_connect(&c, "127.0.0.1", p4), -EAFNOSUPPORT);
    sock_close(&c);
    /* The right family still connects. */
    sock_init(&c);
    expect_ok(&c, sock_set_family(&c, AF_INET6));
    expect_ok(&c, sock_connect(&c, "::1", p6));
    sock_close(&c);
    sock_close(&a4);
    sock_close(&a6);
}

/* The error text is kept until the next failure, and each side of a
 * connection keeps its own. */
FAMILY_TEST(errors, error_text_lifetime, .timeout = 10)
{
    sock_t c, s;
    pair_on(host, &c, &s);
    cr_assert_str_eq(sock_error(&c), "", "no failure yet");
    char b;
    expect_code(&c, sock_send(&c, &b, 0), -EINVAL);
    char first[SOCK_ERRLEN];
    snprintf(first, sizeof first, "%s", sock_error(&c));
    cr_assert_str_neq(first, "");
    /* Successful calls leave the last failure's text alone. */
    expect_ok(&c, sock_send_all(&c, "x", 1, NULL));
    expect_ok(&s, sock_recv_all(&s, &b, 1, NULL));
    cr_assert_str_eq(sock_error(&c), first);
    cr_assert_str_eq(sock_error(&s), "", "the other socket has no failure");
    sock_close(&c);
    sock_close(&s);
}

/* The error the system holds for a connection, taken once: an event loop
 * told of a reset after the end of stream can still say it. */
FAMILY_TEST(errors, take_error_after_end_of_stream, .timeout = 10)
{
    sock_t c, s;
    pair_on(host, &c, &s);
    expect_ok(&s, sock_shutdown(&s, SOCK_SHUT_WRITE));
    char b;
    cr_assert_eq(sock_recv(&c, &b, 1), 0, "end of stream");
    cr_assert_eq(sock_take_error(&c), 0, "no error yet");
    expect_ok(&s, sock_abort(&s));
    struct pollfd pfd = {.fd = sock_fd(&c), .events = POLLIN};
    cr_assert_eq(poll(&pfd, 1, 5000), 1);
    sleep_ms(20);
    /* Linux files a reset in CLOSE_WAIT (after the peer's FIN) as EPIPE,
     * elsewhere as ECONNRESET. */
    int err = sock_take_error(&c);
    cr_assert(err == -EPIPE || err == -ECONNRESET, "the reset after the end of stream: %d", err);
    cr_assert_eq(sock_take_error(&c), 0, "taken once");
    cr_assert_neq(sock_id(&c), sock_id(&s));
    sock_close(&c);
    cr_assert_eq(sock_take_error(&c), -ENOTCONN);
}
