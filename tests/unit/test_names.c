/*
 * test_names.c - host and port strings, resolution, address texts, error
 * texts and codes (reliability scenario 40 and the header's contracts).
 */
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

struct split_case {
    const char *text;
    const char *host;
    const char *port;
};

Test(names, split_hostport_valid, .timeout = 5)
{
    static const struct split_case ok[] = {
        {"127.0.0.1:80", "127.0.0.1", "80"},
        {"[::1]:80", "::1", "80"},
        {"[::1%lo]:http", "::1%lo", "http"},
        {"[fe80::1%lo]:http", "fe80::1%lo", "http"},
        {":80", "", "80"},
        {"127.0.0.1:", "127.0.0.1", ""},
        {"host:", "host", ""},
        {"localhost:8080", "localhost", "8080"},
        {"[::]:0", "::", "0"},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        char host[64] = "junk", port[16] = "junk";
        int rc = sock_split_hostport(ok[i].text, host, sizeof host, port, sizeof port);
        cr_assert_eq(rc, 0, "split \"%s\" = %d (%s)", ok[i].text, rc, sock_strerror(rc));
        cr_assert_str_eq(host, ok[i].host, "host of \"%s\"", ok[i].text);
        cr_assert_str_eq(port, ok[i].port, "port of \"%s\"", ok[i].text);
    }
}

Test(names, split_hostport_invalid, .timeout = 5)
{
    static const char *const bad[] = {
        "[::1]", "::1", "[foo]:[bar]baz", "foo]bar:baz", "host", "", "[::1", "[::1]80",
        "::1:80",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char host[64], port[16];
        int rc = sock_split_hostport(bad[i], host, sizeof host, port, sizeof port);
        cr_assert_eq(rc, -EINVAL, "split \"%s\" = %d, want -EINVAL", bad[i], rc);
    }
}

Test(names, split_hostport_buffers_too_small, .timeout = 5)
{
    char host[4], port[3];
    cr_assert_eq(sock_split_hostport("localhost:80", host, sizeof host, port, sizeof port),
                 -EINVAL, "host does not fit");
    cr_assert_eq(sock_split_hostport("a:8080", host, sizeof host, port, sizeof port), -EINVAL,
                 "port does not fit");
    /* Exactly fitting is fine: 3 chars + NUL, 2 chars + NUL. */
    cr_assert_eq(sock_split_hostport("abc:80", host, sizeof host, port, sizeof port), 0);
    cr_assert_str_eq(host, "abc");
    cr_assert_str_eq(port, "80");
}

Test(names, resolve_numeric, .timeout = 5)
{
    int fds = count_fds();
    sock_t s;
    sock_init(&s);
    sock_addr_t out[4];
    cr_assert_eq(sock_resolve(&s, "127.0.0.1", "80", 0, out, 4), 1);
    cr_assert_eq(out[0].family, AF_INET);
    cr_assert_str_eq(out[0].text, "127.0.0.1:80");
    cr_assert_eq(sock_resolve(&s, "::1", "8080", 0, out, 4), 1);
    cr_assert_eq(out[0].family, AF_INET6);
    cr_assert_str_eq(out[0].text, "[::1]:8080");
    cr_assert_eq(sock_resolve(&s, "[::1]", "8080", 0, out, 4), 1, "brackets are accepted");
    cr_assert_str_eq(out[0].text, "[::1]:8080");
    cr_assert_eq(sock_resolve(&s, "127.0.0.1", "http", 0, out, 4), 1, "a service name");
    cr_assert_str_eq(out[0].text, "127.0.0.1:80");
    cr_assert_eq(sock_resolve(&s, "localhost", "65535", 0, out, 4) > 0, 1, "%s", sock_error(&s));
    cr_assert_eq(sock_fd(&s), -1, "resolve creates no descriptor");
    cr_assert_eq(count_fds(), fds);
    sock_close(&s);
}

Test(names, resolve_with_zone, .timeout = 5)
{
    sock_t s;
    sock_init(&s);
    sock_addr_t out[2];
    int n = sock_resolve(&s, "fe80::1%lo", "80", 0, out, 2);
    cr_assert_eq(n, 1, "fe80::1%%lo: %d (%s)", n, sock_error(&s));
    cr_assert_eq(out[0].family, AF_INET6);
    cr_assert(strstr(out[0].text, "fe80::1") != NULL, "text %s", out[0].text);
    cr_assert(strstr(out[0].text, ":80") != NULL, "text %s", out[0].text);
    sock_close(&s);
}

Test(names, resolve_passive_and_families, .timeout = 5)
{
    sock_t s;
    sock_init(&s);
    sock_addr_t out[8];
    int n = sock_resolve(&s, NULL, "0", 1, out, 8);
    cr_assert_gt(n, 0, "passive wildcard: %s", sock_error(&s));
    sock_close(&s);

    sock_init(&s);
    expect_ok(&s, sock_set_family(&s, AF_INET));
    n = sock_resolve(&s, NULL, "80", 1, out, 8);
    cr_assert_gt(n, 0);
    for (int i = 0; i < n && i < 8; i++)
        cr_assert_eq(out[i].family, AF_INET, "%s is not IPv4", out[i].text);
    cr_assert_lt(sock_resolve(&s, "::1", "80", 0, out, 8), 0, "IPv6 literal with AF_INET");
    cr_assert_str_neq(sock_error(&s), "");
    sock_close(&s);

    sock_init(&s);
    expect_ok(&s, sock_set_family(&s, AF_INET6));
    n = sock_resolve(&s, NULL, "80", 1, out, 8);
    cr_assert_gt(n, 0);
    for (int i = 0; i < n && i < 8; i++)
        cr_assert_eq(out[i].family, AF_INET6, "%s is not IPv6", out[i].text);
    cr_assert_lt(sock_resolve(&s, "127.0.0.1", "80", 0, out, 8), 0, "IPv4 literal with AF_INET6");
    sock_close(&s);
}

/* max smaller than the count: the count is still returned, and nothing is
 * written past max. */
Test(names, resolve_respects_max, .timeout = 5)
{
    sock_t s;
    sock_init(&s);
    sock_addr_t out[3];
    memset(out, 0x5a, sizeof out);
    int n = sock_resolve(&s, NULL, "80", 1, out, 0);
    cr_assert_gt(n, 0, "with max 0 the count is still returned");
    unsigned char *raw = (unsigned char *)out;
    for (size_t i = 0; i < sizeof out; i++)
        cr_assert_eq(raw[i], 0x5a, "byte %zu written with max 0", i);
    n = sock_resolve(&s, "127.0.0.1", "80", 0, out, 1);
    cr_assert_eq(n, 1);
    raw = (unsigned char *)&out[1];
    for (size_t i = 0; i < 2 * sizeof out[0]; i++)
        cr_assert_eq(raw[i], 0x5a, "byte past max written");
    sock_close(&s);
}

Test(names, resolve_failures, .timeout = 10)
{
    /* example.invalid is no literal and not in /etc/hosts. */
    enter_offline_netns();
    sock_t s;
    sock_init(&s);
    sock_addr_t out[2];
    cr_assert_eq(sock_resolve(&s, "example.invalid", "80", 0, out, 2), SOCK_ERESOLVE);
    cr_assert(strstr(sock_error(&s), "example.invalid") != NULL, "%s", sock_error(&s));
    cr_assert_eq(sock_resolve(&s, "127.0.0.1", "no-such-service-here", 0, out, 2),
                 SOCK_ERESOLVE);
    static const char *const ports[] = {"99999", "-1", "65536"};
    for (int i = 0; i < 3; i++) {
        int rc = sock_resolve(&s, "127.0.0.1", ports[i], 0, out, 2);
        cr_assert_eq(rc, -EINVAL, "port %s: %d (%s)", ports[i], rc, sock_error(&s));
        cr_assert(strstr(sock_error(&s), ports[i]) != NULL, "the error names port %s: %s",
                  ports[i], sock_error(&s));
    }
    cr_assert_eq(sock_fd(&s), -1);
    sock_close(&s);
}

/* A port number is plain digits in range, however it is padded or signed:
 * the resolver would otherwise keep the low 16 bits (" 70000" is 4464). */
Test(names, padded_and_signed_ports_are_refused, .timeout = 10)
{
    enter_offline_netns();
    static const char *const bad[] = {" 70000", "\t70000", " +80", "+80", " 80", "80 ",
                                      "8 0",    "\n80",    "80\n", "0x50", "-0",  "\00180"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        for (int passive = 0; passive < 2; passive++) {
            sock_t s;
            sock_init(&s);
            sock_addr_t out[2];
            int rc = sock_resolve(&s, "127.0.0.1", bad[i], passive, out, 2);
            cr_expect_eq(rc, -EINVAL, "resolve port \"%s\" (passive %d): %d %s", bad[i],
                         passive, rc, rc > 0 ? out[0].text : sock_error(&s));
            sock_close(&s);
        }
        sock_t s;
        sock_init(&s);
        expect_code(&s, sock_bind(&s, "127.0.0.1", bad[i]), -EINVAL);
        cr_expect_eq(sock_fd(&s), -1);
        sock_close(&s);
        sock_init(&s);
        expect_code(&s, sock_connect(&s, "::1", bad[i]), -EINVAL);
        sock_close(&s);
    }
    /* Plain digits still work, leading zeros included. */
    sock_t s;
    sock_init(&s);
    sock_addr_t out[1];
    cr_assert_eq(sock_resolve(&s, "127.0.0.1", "0080", 0, out, 1), 1, "%s", sock_error(&s));
    cr_assert_str_eq(out[0].text, "127.0.0.1:80");
    cr_assert_eq(sock_resolve(&s, "127.0.0.1", "65535", 0, out, 1), 1, "%s", sock_error(&s));
    sock_close(&s);
}

/* Every code has a text of its own. */
Test(names, strerror_texts_are_distinct, .timeout = 10)
{
    enum { N = 5 + 133 };
    const char *texts[N];
    int codes[N];
    int k = 0;
    codes[k++] = 0;
    codes[k++] = SOCK_EOF;
    codes[k++] = SOCK_ERESOLVE;
    codes[k++] = SOCK_ECLOSED;
    codes[k++] = SOCK_END;
    for (int e = 1; e <= 133; e++)
        codes[k++] = -e;
    for (int i = 0; i < N; i++) {
        texts[i] = sock_strerror(codes[i]);
        cr_assert_not_null(texts[i], "sock_strerror(%d) is NULL", codes[i]);
        cr_assert_neq(texts[i][0], '\0', "sock_strerror(%d) is empty", codes[i]);
    }
    static char copies[N][128];
    for (int i = 0; i < N; i++)
        snprintf(copies[i], sizeof copies[i], "%s", sock_strerror(codes[i]));
    for (int i = 0; i < N; i++)
        for (int j = i + 1; j < N; j++)
            cr_assert_str_neq(copies[i], copies[j], "codes %d and %d share the text \"%s\"",
                              codes[i], codes[j], copies[i]);
    /* Positive values are errno values. */
    cr_assert_str_eq(sock_strerror(ECONNREFUSED), sock_strerror(-ECONNREFUSED));
    /* Unknown codes get a generic text, never NULL. */
    cr_assert_not_null(sock_strerror(-99999));
    cr_assert_not_null(sock_strerror(123456789));
}

/* The most negative int is a code like any other: a generic text, no
 * undefined behaviour (UBSan checks the negation in the ASan build). */
Test(names, strerror_of_int_min, .timeout = 5)
{
    const char *t = sock_strerror(-2147483647 - 1);
    cr_assert_not_null(t);
    cr_assert_neq(t[0], '\0');
}

Test(names, own_codes_are_negative_and_outside_errno, .timeout = 5)
{
    static const int own[] = {SOCK_EOF, SOCK_ERESOLVE, SOCK_ECLOSED, SOCK_END};
    for (int i = 0; i < 4; i++) {
        cr_assert_lt(own[i], -4095, "code %d may collide with an -errno", own[i]);
        for (int j = i + 1; j < 4; j++)
            cr_assert_neq(own[i], own[j]);
    }
    cr_assert_eq(SOCK_SHUT_READ, SHUT_RD);
    cr_assert_eq(SOCK_SHUT_WRITE, SHUT_WR);
    cr_assert_eq(SOCK_SHUT_READ_WRITE, SHUT_RDWR);
}

FAMILY_TEST(names, address_text_buffers, .timeout = 10)
{
    sock_t c, s;
    pair_on(host, &c, &s);
    char full[SOCK_ADDRSTRLEN];
    expect_ok(&c, sock_local_addr(&c, full, sizeof full));
    size_t need = strlen(full) + 1;
    char small[SOCK_ADDRSTRLEN];
    cr_assert_eq(sock_local_addr(&c, small, need - 1), -ENOSPC, "one byte short");
    cr_assert_eq(sock_peer_addr(&c, small, need - 1), -ENOSPC);
    expect_ok(&c, sock_local_addr(&c, small, need));
    cr_assert_str_eq(small, full);
    cr_assert_eq(sock_local_addr(&c, small, 0), -EINVAL);
    /* Acceptors have no peer. */
    sock_t a;
    char port[8];
    listener_on(&a, host, port);
    cr_assert_eq(sock_peer_addr(&a, small, sizeof small), -ENOTCONN);
    /* IPv6 with a zone still fits SOCK_ADDRSTRLEN. */
    sock_addr_t out[1];
    sock_t r;
    sock_init(&r);
    cr_assert_eq(sock_resolve(&r, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "65535", 0, out, 1),
                 1, "%s", sock_error(&r));
    cr_assert_str_eq(out[0].text, "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535");
    sock_close(&a);
    sock_close(&c);
    sock_close(&s);
}

/* Connecting by the bracketed and the name form of the address works. */
FAMILY_TEST(names, connect_by_other_spellings, .timeout = 10)
{
    sock_t a;
    char port[8];
    listener_on(&a, host, port);
    char spelled[64];
    snprintf(spelled, sizeof spelled, is_v6(host) ? "[%s]" : "%s", host);
    sock_t c, s;
    sock_init(&c);
    expect_ok(&c, sock_connect(&c, spelled, port));
    expect_ok(&a, sock_accept(&a, &s));
    sock_close(&c);
    sock_close(&s);
    if (!is_v6(host)) {
        sock_init(&c);
        expect_ok(&c, sock_connect(&c, "localhost", port));
        expect_ok(&a, sock_accept(&a, &s));
        sock_close(&c);
        sock_close(&s);
    }
    sock_close(&a);
}

/* Numbers only: no name service at all, not even /etc/hosts. */
Test(names, numeric_only_refuses_names, .timeout = 10)
{
    sock_t s;
    sock_init(&s);
    expect_ok(&s, sock_set_numeric_only(&s, 1));
    sock_addr_t out[2];
    cr_assert_eq(sock_resolve(&s, "localhost", "80", 0, out, 2), -EINVAL, "%s", sock_error(&s));
    cr_assert(strstr(sock_error(&s), "numeric") != NULL, "%s", sock_error(&s));
    cr_assert_eq(sock_resolve(&s, "127.0.0.1", "http", 0, out, 2), -EINVAL);
    cr_assert_eq(sock_resolve(&s, "::1", "80", 0, out, 2), 1);
    cr_assert_eq(sock_resolve(&s, "fe80::1%lo", "80", 0, out, 2), 1, "%s", sock_error(&s));
    expect_ok(&s, sock_set_numeric_only(&s, 0));
    cr_assert_eq(sock_resolve(&s, "localhost", "80", 0, out, 2) > 0, 1);
    sock_close(&s);
}
