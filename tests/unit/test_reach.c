/*
 * test_reach.c - reaching a name as a browser would: Happy Eyeballs
 * (RFC 8305) over a dead IPv6 route and a live IPv4 one, IPv6 winning when
 * both work, both reasons when neither does; and name resolution bounded
 * by the timeout against a name server that never answers.
 *
 * Each test runs in network and mount namespaces of its own: loopback up,
 * 2001:db8::1 (the documentation prefix) added to it, nft dropping what
 * should go unanswered, and /etc/hosts or /etc/resolv.conf replaced by
 * bind mounts of the test's own files; all of it vanishes with the test
 * process.
 */
#include "util.h"

#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#define V6 TEST_V6

/* A listener on host:0; its port as text. */
static void listen_on(sock_t *a, const char *host, char port[8])
{
    sock_init(a);
    expect_ok(a, sock_bind(a, host, "0"));
    expect_ok(a, sock_listen(a, 8));
    port_text(a, port);
}

/* "he.test" with both addresses, IPv6 first in the resolver's order. */
static void he_name(void)
{
    replace_etc_file("hosts", "127.0.0.1 localhost\n" V6 " he.test\n127.0.0.1 he.test\n");
    sock_t r;
    sock_init(&r);
    sock_addr_t out[4];
    int n = sock_resolve(&r, "he.test", "80", 0, out, 4);
    cr_assert_eq(n, 2, "he.test: %d addresses (%s)", n, sock_error(&r));
    cr_assert_eq(out[0].family, AF_INET6, "IPv6 first: %s, %s", out[0].text, out[1].text);
    sock_close(&r);
}

/* The IPv6 address drops every SYN; IPv4 answers.  Happy Eyeballs gets
 * through over IPv4 after the attempt delay, long before the timeout;
 * tried one after another, the same connect runs out of time on IPv6. */
Test(reach, dead_ipv6_live_ipv4, .timeout = 30)
{
    enter_private_namespaces();
    he_name();
    sock_t a;
    char port[8];
    listen_on(&a, "127.0.0.1", port);
    char rule[128];
    snprintf(rule, sizeof rule, "ip6 daddr " V6 " tcp dport %s", port);
    drop_tcp_to(rule);
    int fds = count_fds();
    sock_t c;
    sock_init(&c);
    expect_ok(&c, sock_set_timeout(&c, 10000));
    int64_t t0 = now_ms();
    expect_ok(&c, sock_connect(&c, "he.test", port));
    int64_t took = now_ms() - t0;
    cr_assert_lt(took, 5000, "took %lld ms: the IPv6 attempt was waited out", (long long)took);
    char peer[SOCK_ADDRSTRLEN];
    expect_ok(&c, sock_peer_addr(&c, peer, sizeof peer));
    cr_assert(strncmp(peer, "127.0.0.1:", 10) == 0, "won by %s", peer);
    sock_t s;
    expect_ok(&a, sock_accept(&a, &s));
    expect_ok(&c, sock_send_all(&c, "x", 1, NULL));
    char b;
    expect_ok(&s, sock_recv_all(&s, &b, 1, NULL));
    sock_close(&s);
    sock_close(&c);
    /* Without a timeout too (the race needs none), and the winner is then
     * a blocking descriptor, as the handle promises. */
    sock_init(&c);
    expect_ok(&c, sock_connect(&c, "he.test", port));
    cr_assert_eq(fcntl(sock_fd(&c), F_GETFL) & O_NONBLOCK, 0, "the winner is left non-blocking");
    expect_ok(&a, sock_accept(&a, &s));
    sock_close(&s);
    sock_close(&c);
    cr_assert_eq(count_fds(), fds, "an abandoned attempt left a descriptor");

    sock_init(&c);
    expect_ok(&c, sock_set_timeout(&c, 800));
    expect_ok(&c, sock_set_attempt_delay(&c, -1));
    expect_code(&c, sock_connect(&c, "he.test", port), -ETIMEDOUT);
    sock_close(&c);
    sock_close(&a);
}

/* Both work: IPv6 is tried first and wins. */
Test(reach, both_work_ipv6_wins, .timeout = 30)
{
    enter_private_namespaces();
    he_name();
    sock_t a;
    char port[8];
    listen_on(&a, NULL, port); /* dual-stack */
    for (int i = 0; i < 5; i++) {
        sock_t c, s;
        sock_init(&c);
        expect_ok(&c, sock_set_timeout(&c, 5000));
        expect_ok(&c, sock_connect(&c, "he.test", port));
        char peer[SOCK_ADDRSTRLEN];
        expect_ok(&c, sock_peer_addr(&c, peer, sizeof peer));
        cr_assert(strncmp(peer, "[" V6 "]", strlen(V6) + 2) == 0, "round %d won by %s", i, peer);
        expect_ok(&a, sock_accept(&a, &s));
        sock_close(&s);
        sock_close(&c);
    }
    sock_close(&a);
}

/* Neither answers: the timeout, with both addresses and their reasons. */
Test(reach, both_dead_timeout_names_both, .timeout = 30)
{
    enter_private_namespaces();
    he_name();
    sock_t a;
    char port[8];
    listen_on(&a, NULL, port);
    char rule[64];
    snprintf(rule, sizeof rule, "tcp dport %s", port);
    drop_tcp_to(rule);
    int fds = count_fds();
    sock_t c;
    sock_init(&c);
    expect_ok(&c, sock_set_timeout(&c, 600));
    int64_t t0 = now_ms();
    expect_code(&c, sock_connect(&c, "he.test", port), -ETIMEDOUT);
    cr_assert_geq(now_ms() - t0, 600);
    const char *e = sock_error(&c);
    cr_assert(strstr(e, "[" V6 "]") && strstr(e, "127.0.0.1:"), "both addresses: %s", e);
    cr_assert_eq(sock_fd(&c), -1);
    sock_close(&c);
    cr_assert_eq(count_fds(), fds, "an attempt left a descriptor");
    sock_close(&a);
}

/* A name server that never answers: the connect ends at its timeout and
 * says resolution was the step that ran out; repeated, no thread or
 * descriptor is left behind once the abandoned lookups end. */
Test(reach, resolution_bounded_by_the_timeout, .timeout = 60)
{
    enter_private_namespaces();
    replace_etc_file("resolv.conf", "nameserver 127.0.0.1\noptions timeout:5 attempts:3\n");
    struct mute_dns *m = mute_dns_start();
    int threads = count_threads(), fds = count_fds();

    sock_t c;
    sock_init(&c);
    expect_ok(&c, sock_set_timeout(&c, 300));
    int64_t t0 = now_ms();
    expect_code(&c, sock_connect(&c, "never.test", "80"), -ETIMEDOUT);
    int64_t took = now_ms() - t0;
    cr_assert_geq(took, 300);
    cr_assert_lt(took, 3000, "took %lld ms: the resolver's own 5 s x 3 was waited out",
                 (long long)took);
    cr_assert_str_eq(sock_error(&c), "resolve never.test: no answer within 300 ms");
    sock_close(&c);
    cr_assert_gt(mute_dns_queries(m), 0, "no query reached the test's name server");

    for (int i = 0; i < 300; i++) {
        sock_init(&c);
        expect_ok(&c, sock_set_timeout(&c, 10));
        expect_code(&c, sock_connect(&c, "never.test", "80"), -ETIMEDOUT);
        sock_close(&c);
    }
    /* The lookups left behind end within their resolver's bound (1 s). */
    int now = count_threads();
    for (int i = 0; i < 100 && now > threads; i++) {
        sleep_ms(50);
        now = count_threads();
    }
    cr_assert_eq(now, threads, "%d threads left behind", now - threads);
    cr_assert_eq(count_fds(), fds, "descriptors left behind");
    mute_dns_stop(m);
}

/* A non-blocking connect tries every address on one dual-stack descriptor:
 * an IPv6 address after a refused IPv4-mapped one must still be reached
 * (Linux cannot go back from mapped to native on one socket, so the IPv6
 * addresses are tried first). */
Test(reach, nonblocking_connect_reaches_ipv6_after_ipv4, .timeout = 30)
{
    enter_private_namespaces();
    replace_etc_file("hosts", "127.0.0.1 localhost\n127.0.0.1 mix.test\n::1 mix.test\n" V6
                              " mix.test\n");
    sock_t a;
    char port[8];
    listen_on(&a, V6, port);
    sock_t c;
    sock_init(&c);
    expect_ok(&c, sock_set_nonblocking(&c, 1));
    int rc = sock_connect(&c, "mix.test", port);
    for (int i = 0; i < 50 && rc == -EINPROGRESS; i++) {
        struct pollfd pfd = {.fd = sock_fd(&c), .events = POLLOUT};
        cr_assert_eq(poll(&pfd, 1, 2000), 1, "never writable: %s", sock_error(&c));
        rc = sock_connect_finish(&c);
    }
    expect_ok(&c, rc);
    char peer[SOCK_ADDRSTRLEN];
    expect_ok(&c, sock_peer_addr(&c, peer, sizeof peer));
    cr_assert(strncmp(peer, "[" V6 "]", strlen(V6) + 2) == 0, "reached %s", peer);
    sock_close(&c);
    sock_close(&a);
}
