/*
 * test_lifecycle.c - the seed's steps in order: init, bind, listen, accept,
 * connect, send/recv, close (reliability scenarios 1-7).
 */
#include "util.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The address text libsock writes for host and a port. */
static void addr_text(const char *host, int port, char *buf, size_t len)
{
    snprintf(buf, len, is_v6(host) ? "[%s]:%d" : "%s:%d", host, port);
}

FAMILY_TEST(lifecycle, echo_ping_pong, .timeout = 15)
{
    sock_t c, s;
    pair_on(host, &c, &s);
    char buf[64];
    for (int i = 0; i < 100; i++) {
        char msg[32];
        int n = snprintf(msg, sizeof msg, "ping %d", i);
        expect_ok(&c, sock_send_all(&c, msg, (size_t)n, NULL));
        expect_ok(&s, sock_recv_all(&s, buf, (size_t)n, NULL));
        cr_assert_arr_eq(buf, msg, (size_t)n, "server got other bytes than sent on %s", host);
        buf[0] = 'P';
        expect_ok(&s, sock_send_all(&s, buf, (size_t)n, NULL));
        expect_ok(&c, sock_recv_all(&c, buf, (size_t)n, NULL));
        msg[0] = 'P';
        cr_assert_arr_eq(buf, msg, (size_t)n, "client got other bytes than echoed on %s", host);
    }
    expect_ok(&c, sock_close(&c));
    expect_ok(&s, sock_close(&s));
}

FAMILY_TEST(lifecycle, addresses_agree_both_sides, .timeout = 10)
{
    sock_t a, c, s;
    pair_with_acceptor(host, &a, &c, &s);
    char al[SOCK_ADDRSTRLEN], cl[SOCK_ADDRSTRLEN], cp[SOCK_ADDRSTRLEN], sl[SOCK_ADDRSTRLEN],
        sp[SOCK_ADDRSTRLEN], want[SOCK_ADDRSTRLEN];
    expect_ok(&a, sock_local_addr(&a, al, sizeof al));
    expect_ok(&c, sock_local_addr(&c, cl, sizeof cl));
    expect_ok(&c, sock_peer_addr(&c, cp, sizeof cp));
    expect_ok(&s, sock_local_addr(&s, sl, sizeof sl));
    expect_ok(&s, sock_peer_addr(&s, sp, sizeof sp));
    /* Port "0" became a real port, shown in the documented format. */
    addr_text(host, sock_local_port(&a), want, sizeof want);
    cr_assert_str_eq(al, want, "acceptor address");
    cr_assert_str_eq(cp, al, "client's peer is the acceptor's address");
    cr_assert_str_eq(sl, al, "server side's local address is the acceptor's");
    cr_assert_str_eq(sp, cl, "server's peer is the client's local address");
    addr_text(host, sock_local_port(&c), want, sizeof want);
    cr_assert_str_eq(cl, want, "client address format");
    cr_assert_eq(sock_local_port(&s), sock_local_port(&a));
    cr_assert_neq(sock_local_port(&c), sock_local_port(&a));
    sock_close(&c);
    sock_close(&s);
    sock_close(&a);
}

Test(lifecycle, init_creates_no_descriptor, .timeout = 5)
{
    int before = count_fds();
    sock_t s;
    sock_init(&s);
    cr_assert_eq(sock_fd(&s), -1, "sock_init must not create a descriptor");
    cr_assert_eq(count_fds(), before);
    char buf[SOCK_ADDRSTRLEN];
    cr_assert_eq(sock_local_addr(&s, buf, sizeof buf), -ENOTCONN);
    cr_assert_eq(sock_peer_addr(&s, buf, sizeof buf), -ENOTCONN);
    cr_assert_lt(sock_local_port(&s), 0);
    cr_assert_str_eq(sock_error(&s), "", "a fresh handle has no failure");
    expect_ok(&s, sock_close(&s));
}

FAMILY_TEST(lifecycle, bind_port_zero_gets_a_port, .timeout = 5)
{
    sock_t s;
    sock_init(&s);
    expect_ok(&s, sock_bind(&s, host, "0"));
    cr_assert_geq(sock_fd(&s), 0, "bind creates the descriptor");
    int port = sock_local_port(&s);
    cr_assert(port > 0 && port <= 65535, "port %d", port);
    char buf[SOCK_ADDRSTRLEN], want[SOCK_ADDRSTRLEN];
    expect_ok(&s, sock_local_addr(&s, buf, sizeof buf));
    addr_text(host, port, want, sizeof want);
    cr_assert_str_eq(buf, want);
    cr_assert_eq(sock_peer_addr(&s, buf, sizeof buf), -ENOTCONN, "a bound socket has no peer");
    expect_ok(&s, sock_close(&s));
    cr_assert_eq(sock_fd(&s), -1, "sock_fd after close");
}

/* Does /proc/net/tcp{,6} show a connection in TIME_WAIT on local port? */
static int time_wait_on(int port, int v6)
{
    FILE *f = fopen(v6 ? "/proc/net/tcp6" : "/proc/net/tcp", "r");
    if (!f)
        return 0;
    char line[512];
    int found = 0;
    while (!found && fgets(line, sizeof line, f)) {
        char local[64];
        unsigned st;
        if (sscanf(line, " %*d: %63s %*s %x", local, &st) != 2)
            continue;
        char *colon = strrchr(local, ':');
        if (colon && (int)strtol(colon + 1, NULL, 16) == port && st == 0x06)
            found = 1;
    }
    fclose(f);
    return found;
}

FAMILY_TEST(lifecycle, relisten_at_once_during_time_wait, .timeout = 15)
{
    sock_t a, c, s;
    pair_with_acceptor(host, &a, &c, &s);
    char port[8];
    port_text(&a, port);
    /* The server closes first, so its side of the connection (on the
     * listening port) goes through TIME_WAIT once the client closes too. */
    expect_ok(&s, sock_close(&s));
    char b;
    cr_assert_eq(sock_recv(&c, &b, 1), 0, "client sees end of stream");
    expect_ok(&c, sock_close(&c));
    expect_ok(&a, sock_close(&a));
    int seen = 0;
    for (int i = 0; i < 200 && !seen; i++) {
        seen = time_wait_on(atoi(port), is_v6(host));
        if (!seen)
            sleep_ms(10);
    }
    cr_assert(seen, "no TIME_WAIT on port %s: the test proves nothing", port);

    /* Control: a plain socket without SO_REUSEADDR cannot bind there now. */
    int raw = socket(is_v6(host) ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    cr_assert_geq(raw, 0);
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    socklen_t sl;
    if (is_v6(host)) {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
        in6->sin6_family = AF_INET6;
        in6->sin6_addr = in6addr_loopback;
        in6->sin6_port = htons((uint16_t)atoi(port));
        sl = sizeof *in6;
    } else {
        struct sockaddr_in *in4 = (struct sockaddr_in *)&ss;
        in4->sin_family = AF_INET;
        in4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        in4->sin_port = htons((uint16_t)atoi(port));
        sl = sizeof *in4;
    }
    int raw_rc = bind(raw, (struct sockaddr *)&ss, sl);
    int raw_errno = errno;
    close(raw);
    cr_assert_eq(raw_rc, -1, "control: bind without SO_REUSEADDR should meet TIME_WAIT");
    cr_assert_eq(raw_errno, EADDRINUSE);

    sock_t again;
    sock_init(&again);
    expect_ok(&again, sock_bind(&again, host, port));
    expect_ok(&again, sock_listen(&again, 4));
    sock_t c2, s2;
    sock_init(&c2);
    expect_ok(&c2, sock_connect(&c2, host, port));
    expect_ok(&again, sock_accept(&again, &s2));
    sock_close(&c2);
    sock_close(&s2);
    sock_close(&again);
}

FAMILY_TEST(lifecycle, connect_to_closed_listener_fails, .timeout = 10)
{
    sock_t a;
    char port[8];
    listener_on(&a, host, port);
    expect_ok(&a, sock_close(&a));
    sock_t c;
    sock_init(&c);
    expect_code(&c, sock_connect(&c, host, port), -ECONNREFUSED);
    sock_close(&c);
}

FAMILY_TEST(lifecycle, accept_on_closed_acceptor_fails, .timeout = 10)
{
    sock_t a, p;
    char port[8];
    listener_on(&a, host, port);
    expect_ok(&a, sock_close(&a));
    expect_code(&a, sock_accept(&a, &p), SOCK_ECLOSED);
    cr_assert_eq(sock_fd(&p), -1, "a failed accept leaves peer without descriptor");
    expect_ok(&p, sock_close(&p));
}

FAMILY_TEST(lifecycle, close_twice_is_harmless, .timeout = 10)
{
    sock_t c, s;
    pair_on(host, &c, &s);
    expect_ok(&c, sock_close(&c));
    expect_ok(&c, sock_close(&c));
    expect_ok(&s, sock_abort(&s));
    expect_ok(&s, sock_close(&s));
    expect_ok(&s, sock_abort(&s));
    sock_t never;
    sock_init(&never);
    expect_ok(&never, sock_close(&never));
    expect_ok(&never, sock_close(&never));
}

FAMILY_TEST(lifecycle, closed_handle_can_be_reinitialised, .timeout = 10)
{
    sock_t c, s;
    pair_on(host, &c, &s);
    sock_close(&s);
    sock_close(&c);
    sock_t a;
    char port[8];
    listener_on(&a, host, port);
    sock_init(&c); /* the same handle, reused after close */
    expect_ok(&c, sock_connect(&c, host, port));
    expect_ok(&a, sock_accept(&a, &s));
    expect_ok(&c, sock_send_all(&c, "x", 1, NULL));
    char b;
    expect_ok(&s, sock_recv_all(&s, &b, 1, NULL));
    sock_close(&c);
    sock_close(&s);
    sock_close(&a);
}

/* The wildcard spellings NULL, "" and "*" all bind every address, and one
 * socket takes clients of both families. */
Test(lifecycle, dual_stack_wildcard_accepts_both_families, .timeout = 15)
{
    const char *wildcards[] = {NULL, "", "*"};
    for (size_t w = 0; w < 3; w++) {
        sock_t a;
        sock_init(&a);
        expect_ok(&a, sock_bind(&a, wildcards[w], "0"));
        expect_ok(&a, sock_listen(&a, 8));
        char port[8];
        port_text(&a, port);
        for (int f = 0; f < 2; f++) {
            sock_t c, s;
            sock_init(&c);
            expect_ok(&c, sock_connect(&c, loopbacks[f], port));
            expect_ok(&a, sock_accept(&a, &s));
            char peer[SOCK_ADDRSTRLEN];
            expect_ok(&s, sock_peer_addr(&s, peer, sizeof peer));
            cr_assert(strstr(peer, loopbacks[f]) != NULL,
                      "wildcard %s: a client from %s is seen as %s",
                      wildcards[w] ? wildcards[w] : "NULL", loopbacks[f], peer);
            expect_ok(&c, sock_send_all(&c, "hi", 2, NULL));
            char buf[2];
            expect_ok(&s, sock_recv_all(&s, buf, 2, NULL));
            sock_close(&c);
            sock_close(&s);
        }
        sock_close(&a);
    }
}

/* An explicit IPv6 address binds IPv6 only: an IPv4 client on the same
 * port is not taken by it. */
Test(lifecycle, explicit_v6_bind_is_v6_only, .timeout = 10)
{
    sock_t a;
    char port[8];
    listener_on(&a, "::1", port);
    sock_t c;
    sock_init(&c);
    expect_code(&c, sock_connect(&c, "127.0.0.1", port), -ECONNREFUSED);
    sock_close(&c);
    sock_close(&a);
}

FAMILY_TEST(lifecycle, explicit_bind_before_connect_is_honoured, .timeout = 10)
{
    sock_t a;
    char port[8];
    listener_on(&a, host, port);
    sock_t c;
    sock_init(&c);
    expect_ok(&c, sock_bind(&c, host, "0"));
    int bound = sock_local_port(&c);
    cr_assert_gt(bound, 0);
    int fd = sock_fd(&c);
    expect_ok(&c, sock_connect(&c, host, port));
    cr_assert_eq(sock_fd(&c), fd, "connect keeps the bound descriptor");
    cr_assert_eq(sock_local_port(&c), bound, "connect kept the bound port");
    sock_t s;
    expect_ok(&a, sock_accept(&a, &s));
    char peer[SOCK_ADDRSTRLEN], want[SOCK_ADDRSTRLEN];
    expect_ok(&s, sock_peer_addr(&s, peer, sizeof peer));
    addr_text(host, bound, want, sizeof want);
    cr_assert_str_eq(peer, want, "the server sees the port the client bound");
    sock_close(&c);
    sock_close(&s);
    sock_close(&a);
}

/* After binding one family, a literal of the other family cannot be
 * connected to from that socket. */
FAMILY_TEST(lifecycle, bound_family_limits_connect, .timeout = 10)
{
    const char *other = is_v6(host) ? "127.0.0.1" : "::1";
    sock_t a;
    char port[8];
    listener_on(&a, other, port);
    sock_t c;
    sock_init(&c);
    expect_ok(&c, sock_bind(&c, host, "0"));
    expect_code(&c, sock_connect(&c, other, port), -EAFNOSUPPORT);
    sock_close(&c);
    sock_close(&a);
}

FAMILY_TEST(lifecycle, acceptor_stays_usable, .timeout = 10)
{
    sock_t a;
    char port[8];
    listener_on(&a, host, port);
    for (int i = 0; i < 5; i++) {
        sock_t c, s;
        sock_init(&c);
        expect_ok(&c, sock_connect(&c, host, port));
        expect_ok(&a, sock_accept(&a, &s));
        unsigned char b = (unsigned char)i;
        expect_ok(&s, sock_send_all(&s, &b, 1, NULL));
        unsigned char got = 0xff;
        expect_ok(&c, sock_recv_all(&c, &got, 1, NULL));
        cr_assert_eq(got, b);
        sock_close(&s);
        sock_close(&c);
    }
    /* The seed's last slide: shut the acceptor down, then close it. */
    expect_ok(&a, sock_shutdown(&a, SOCK_SHUT_READ_WRITE));
    expect_ok(&a, sock_close(&a));
}

FAMILY_TEST(lifecycle, nodelay_needs_descriptor, .timeout = 10)
{
    sock_t x;
    sock_init(&x);
    expect_code(&x, sock_set_nodelay(&x, 1), -ENOTCONN);
    sock_t c, s;
    pair_on(host, &c, &s);
    expect_ok(&c, sock_set_nodelay(&c, 1));
    expect_ok(&c, sock_set_nodelay(&c, 0));
    sock_close(&c);
    sock_close(&s);
}

/* ---- the contract at its edges ----------------------------------------- */

/* With sock_set_family(AF_INET6) a wildcard bind is IPv6 only: an IPv4
 * client is refused, an IPv6 client served. */
Test(lifecycle, family_v6_wildcard_bind_is_v6_only, .timeout = 10)
{
    sock_t a;
    sock_init(&a);
    expect_ok(&a, sock_set_family(&a, AF_INET6));
    expect_ok(&a, sock_bind(&a, NULL, "0"));
    expect_ok(&a, sock_listen(&a, 8));
    char port[8];
    port_text(&a, port);
    sock_t c;
    sock_init(&c);
    expect_code(&c, sock_connect(&c, "127.0.0.1", port), -ECONNREFUSED);
    sock_close(&c);
    sock_init(&c);
    expect_ok(&c, sock_connect(&c, "::1", port));
    sock_t s;
    expect_ok(&a, sock_accept(&a, &s));
    sock_close(&s);
    sock_close(&c);
    sock_close(&a);
}

/* After close the handle names no peer, as it names no local address. */
FAMILY_TEST(lifecycle, closed_handle_has_no_addresses, .timeout = 10)
{
    sock_t c, s;
    pair_on(host, &c, &s);
    char buf[SOCK_ADDRSTRLEN];
    expect_ok(&c, sock_peer_addr(&c, buf, sizeof buf));
    expect_ok(&c, sock_close(&c));
    cr_assert_eq(sock_peer_addr(&c, buf, sizeof buf), -ENOTCONN, "peer after close: %s", buf);
    cr_assert_str_eq(buf, "");
    cr_assert_eq(sock_local_addr(&c, buf, sizeof buf), -ENOTCONN);
    expect_ok(&s, sock_abort(&s));
    cr_assert_eq(sock_peer_addr(&s, buf, sizeof buf), -ENOTCONN, "peer after abort: %s", buf);
}

/* A socket bound to host:P connecting to the unspecified address at port P
 * reaches itself (simultaneous open), whatever the address as written:
 * that connection is refused. */
FAMILY_TEST(lifecycle, self_connect_through_unspecified_address_is_refused, .timeout = 10)
{
    const char *unspecified = is_v6(host) ? "::" : "0.0.0.0";
    for (int round = 0; round < 3; round++) {
        sock_t c;
        sock_init(&c);
        expect_ok(&c, sock_bind(&c, host, "0"));
        char port[8];
        port_text(&c, port);
        expect_code(&c, sock_connect(&c, unspecified, port), -ECONNREFUSED);
        /* Nothing of the refused connection is left: the handle connects
         * to a real server next, and the server sees its bound address. */
        sock_t a, s;
        char aport[8];
        listener_on(&a, host, aport);
        expect_ok(&c, sock_connect(&c, host, aport));
        expect_ok(&a, sock_accept(&a, &s));
        char peer[SOCK_ADDRSTRLEN], local[SOCK_ADDRSTRLEN];
        expect_ok(&s, sock_peer_addr(&s, peer, sizeof peer));
        expect_ok(&c, sock_local_addr(&c, local, sizeof local));
        cr_assert_str_eq(peer, local);
        sock_close(&s);
        sock_close(&a);
        sock_close(&c);
    }
}

/* With an implicit bind the kernel may pick the destination port as our
 * own: in a namespace whose ephemeral range is that one port and the next,
 * connects to the unspecified address (and to the loopback) of that port
 * meet themselves within a few tries.  None may succeed. */
FAMILY_TEST(lifecycle, implicit_self_connect_is_always_refused, .timeout = 20)
{
    enter_offline_netns();
    FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "we");
    cr_assert(f, "ip_local_port_range: %s", strerror(errno));
    fprintf(f, "40000 40001\n");
    cr_assert_eq(fclose(f), 0);
    const char *targets[] = {is_v6(host) ? "::" : "0.0.0.0", host};
    for (int t = 0; t < 2; t++) {
        for (int i = 0; i < 200; i++) {
            sock_t c;
            sock_init(&c);
            int rc = sock_connect(&c, targets[t], "40000");
            char local[SOCK_ADDRSTRLEN] = "", peer[SOCK_ADDRSTRLEN] = "";
            sock_local_addr(&c, local, sizeof local);
            sock_peer_addr(&c, peer, sizeof peer);
            cr_assert_neq(rc, 0, "connect %s:40000 succeeded: %s -> %s", targets[t], local, peer);
            cr_assert_eq(sock_fd(&c), -1, "a refused connect left a descriptor");
            sock_close(&c);
        }
    }
}

/* A connect of a bound socket that timed out must not go on in the
 * background: the next connect of the handle, to another server, is a
 * connection to that server, truthfully named. */
FAMILY_TEST(lifecycle, bound_connect_after_timeout_reaches_the_new_server, .timeout = 20)
{
    enter_blackhole_netns();
    sock_t a;
    char port[8];
    listener_on(&a, host, port);
    sock_t c;
    sock_init(&c);
    expect_ok(&c, sock_bind(&c, host, "0"));
    int fd = sock_fd(&c);
    expect_ok(&c, sock_set_timeout(&c, 300));
    expect_code(&c, sock_connect(&c, host, BLACKHOLE_PORT), -ETIMEDOUT);
    expect_ok(&c, sock_connect(&c, host, port));
    cr_assert_eq(sock_fd(&c), fd, "the descriptor stays the same");
    sock_t s;
    expect_ok(&a, sock_accept(&a, &s));
    /* The kernel's view, not only the handle's. */
    struct sockaddr_storage kpeer;
    socklen_t len = sizeof kpeer;
    cr_assert_eq(getpeername(sock_fd(&c), (struct sockaddr *)&kpeer, &len), 0);
    int kport = ntohs(kpeer.ss_family == AF_INET ? ((struct sockaddr_in *)&kpeer)->sin_port
                                                 : ((struct sockaddr_in6 *)&kpeer)->sin6_port);
    cr_assert_eq(kport, atoi(port), "connected to port %d, not the server's %s", kport, port);
    char peer[SOCK_ADDRSTRLEN], local[SOCK_ADDRSTRLEN];
    expect_ok(&c, sock_peer_addr(&c, peer, sizeof peer));
    cr_assert(strstr(peer, port) != NULL, "peer %s", peer);
    expect_ok(&c, sock_send_all(&c, "x", 1, NULL));
    char b = 0;
    expect_ok(&s, sock_recv_all(&s, &b, 1, NULL));
    cr_assert_eq(b, 'x');
    expect_ok(&s, sock_peer_addr(&s, peer, sizeof peer));
    expect_ok(&c, sock_local_addr(&c, local, sizeof local));
    cr_assert_str_eq(peer, local, "the server sees the client's address");
    sock_close(&s);
    sock_close(&c);
    sock_close(&a);
}

/* The same after a refused attempt, with an explicit port: the bound port
 * is kept across attempts. */
FAMILY_TEST(lifecycle, bound_connect_after_refusal_keeps_its_port, .timeout = 10)
{
    sock_t a;
    char port[8], gone[8];
    listener_on(&a, host, port);
    closed_port(host, gone);
    char mine[8];
    for (int i = 0; i < 10; i++) {
        closed_port(host, mine);
        if (strcmp(mine, gone) != 0)
            break;
    }
    sock_t c;
    sock_init(&c);
    expect_ok(&c, sock_bind(&c, host, mine));
    expect_code(&c, sock_connect(&c, host, gone), -ECONNREFUSED);
    expect_ok(&c, sock_connect(&c, host, port));
    cr_assert_eq(sock_local_port(&c), atoi(mine));
    sock_t s;
    expect_ok(&a, sock_accept(&a, &s));
    sock_close(&s);
    sock_close(&c);
    sock_close(&a);
}
