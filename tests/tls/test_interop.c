/*
 * test_interop.c - libsock-tls against other TLS stacks, over 127.0.0.1
 * and ::1, with the certificates of the run: openssl s_server and
 * s_client, curl, Python's ssl module and socat OPENSSL, each in the role
 * the other side does not take.
 *
 * With Python, 64 MiB each way with SHA-256 checksums, and the half-close
 * with close_notify both ways: one side sends its 64 MiB and ends them
 * with close_notify, and only after the other side has read up to that
 * close_notify (a clean end, not a cut) does it send its own 64 MiB back,
 * which the first side must still read.  Both orders, both roles.
 *
 * Every child is killed by the .fini, also after a failed assertion.
 */
#include "../tool/harness.h"
#include "tls_util.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static proc_t child = {.pid = -1};

static void interop_setup(void)
{
    tls_setup();
}

static void interop_teardown(void)
{
    if (child.pid > 0)
        proc_kill(&child);
    tls_teardown();
}

TestSuite(interop, .init = interop_setup, .fini = interop_teardown);

static void need(const char *cmd)
{
    cr_assert(have_command(cmd), "%s is not installed (scripts/ensure-deps test)", cmd);
}

/* The address a peer program is given for host, and the port as text. */
static const char *bracketed(const char *host)
{
    return is_v6(host) ? "[::1]" : "127.0.0.1";
}

/* --------------------------------------------- 64 MiB each way, Python */

#define BULK (64u << 20)

struct digest {
    EVP_MD_CTX *md;
    size_t n;
};

static void digest_start(struct digest *d)
{
    d->md = EVP_MD_CTX_new();
    d->n = 0;
    cr_assert(d->md && EVP_DigestInit_ex(d->md, EVP_sha256(), NULL));
}

static void digest_add(struct digest *d, const void *p, size_t n)
{
    EVP_DigestUpdate(d->md, p, n);
    d->n += n;
}

static void digest_end(struct digest *d, char hex[65])
{
    unsigned char h[32];
    unsigned len = 0;
    EVP_DigestFinal_ex(d->md, h, &len);
    EVP_MD_CTX_free(d->md);
    for (unsigned i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", h[i]);
}

static void send_bulk(sock_t *s, char hex[65])
{
    struct digest d;
    digest_start(&d);
    char *buf = malloc(1 << 16);
    uint64_t x = 0x9e3779b97f4a7c15u;
    for (size_t off = 0; off < BULK; off += 1 << 16) {
        for (size_t i = 0; i < (1 << 16); i += 8) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            memcpy(buf + i, &x, 8);
        }
        digest_add(&d, buf, 1 << 16);
        expect_ok(s, sock_send_all(s, buf, 1 << 16, NULL));
    }
    free(buf);
    digest_end(&d, hex);
    /* close_notify, then the peer may still talk. */
    expect_ok(s, sock_shutdown(s, SOCK_SHUT_WRITE));
}

static size_t recv_bulk(sock_t *s, char hex[65])
{
    struct digest d;
    digest_start(&d);
    char *buf = malloc(1 << 16);
    ssize_t n;
    while ((n = sock_recv(s, buf, 1 << 16)) > 0)
        digest_add(&d, buf, (size_t)n);
    free(buf);
    digest_end(&d, hex);
    expect_code(s, n, 0); /* the peer's close_notify: never SOCK_ETRUNCATED */
    return d.n;
}

/* Run our side of the exchange on a connected TLS handle, then compare
 * with what the Python peer printed. */
static void exchange(sock_t *s, int sock_first)
{
    char sent[65], got[65];
    size_t n;
    if (sock_first) {
        send_bulk(s, sent);
        n = recv_bulk(s, got);
    } else {
        n = recv_bulk(s, got);
        send_bulk(s, sent);
    }
    sock_close(s);
    size_t len;
    char *out = proc_read_all(child.out, &len, 60000);
    char *err = proc_read_all(child.err, &len, 5000);
    int status = proc_wait(&child, 10000);
    child.pid = -1;
    cr_assert_eq(status, 0, "python peer exited %d: %s", status, err ? err : "");
    char want[200];
    snprintf(want, sizeof want, "received %s %u", sent, BULK);
    cr_assert(out && strstr(out, want), "python got other bytes than we sent: %s", out);
    snprintf(want, sizeof want, "sent %s %zu", got, n);
    cr_assert(strstr(out, want), "we got other bytes than python sent (%zu, %s): %s", n, got, out);
    cr_assert_eq(n, BULK);
    free(out);
    free(err);
}

static void python_server(const char *host, int sock_first)
{
    need("python3");
    char size[16];
    snprintf(size, sizeof size, "%u", BULK);
    char *argv[] = {"python3", "tests/tls/peer.py", "server", (char *)host, certs.server,
                    certs.server_key, sock_first ? "sock" : "peer", size, NULL};
    cr_assert_eq(proc_start(&child, argv), 0);
    char text[256] = "";
    cr_assert(proc_wait_for(child.out, "listening on", text, sizeof text, 10000),
              "python server did not start: %s", text);
    char port[8];
    snprintf(port, sizeof port, "%d", parse_listening_port(text));
    sock_tls_config_t *ccfg = client_config(certs.ca);
    sock_t c;
    client_connect(&c, host, port, 30000);
    expect_ok(&c, sock_tls_connect(&c, ccfg, "localhost"));
    exchange(&c, sock_first);
    sock_tls_config_free(ccfg);
}

static void python_client(const char *host, int sock_first)
{
    need("python3");
    sock_tls_config_t *scfg = server_config(certs.server, certs.server_key);
    sock_t acceptor, s;
    char port[8], size[16];
    listener_on(&acceptor, host, port);
    snprintf(size, sizeof size, "%u", BULK);
    char *argv[] = {"python3", "tests/tls/peer.py", "client", (char *)host, port, certs.ca,
                    sock_first ? "peer" : "sock", size, NULL};
    /* For the client, FIRST says who sends first from its own view. */
    argv[6] = sock_first ? "sock" : "peer";
    cr_assert_eq(proc_start(&child, argv), 0);
    expect_ok(&acceptor, sock_set_timeout(&acceptor, 30000));
    expect_ok(&acceptor, sock_accept(&acceptor, &s));
    sock_close(&acceptor);
    expect_ok(&s, sock_tls_accept(&s, scfg));
    exchange(&s, sock_first);
    sock_tls_config_free(scfg);
}

FAMILY_TEST(interop, python_server_sock_closes_first, .timeout = 90 * SOCK_TEST_TIME_SCALE)
{
    python_server(host, 1);
}

FAMILY_TEST(interop, python_server_closes_first, .timeout = 90 * SOCK_TEST_TIME_SCALE)
{
    python_server(host, 0);
}

FAMILY_TEST(interop, python_client_sock_closes_first, .timeout = 90 * SOCK_TEST_TIME_SCALE)
{
    python_client(host, 1);
}

FAMILY_TEST(interop, python_client_closes_first, .timeout = 90 * SOCK_TEST_TIME_SCALE)
{
    python_client(host, 0);
}

/* ------------------------------------------------------------- openssl */

/* Read s until text arrives (or the stream ends); fail otherwise. */
static void recv_until(sock_t *s, const char *text)
{
    char buf[1024];
    size_t have = 0;
    while (have < sizeof buf - 1) {
        ssize_t n = sock_recv(s, buf + have, sizeof buf - 1 - have);
        cr_assert_gt(n, 0, "stream ended (%zd: %s) before '%s'", n, sock_error(s), text);
        have += (size_t)n;
        buf[have] = '\0';
        if (strstr(buf, text))
            return;
    }
    cr_assert_fail("no '%s' in '%s'", text, buf);
}

static void write_child(const char *text)
{
    cr_assert_eq(write(child.in, text, strlen(text)), (ssize_t)strlen(text));
}

FAMILY_TEST(interop, openssl_s_server, .timeout = 30)
{
    need("openssl");
    char accept[32];
    snprintf(accept, sizeof accept, "%s:0", bracketed(host));
    char *argv[] = {"openssl", "s_server", "-accept", accept, "-cert", certs.server, "-key",
                    certs.server_key, "-naccept", "1", NULL};
    cr_assert_eq(proc_start(&child, argv), 0);
    char text[8192] = "";
    cr_assert(proc_wait_for(child.out, "ACCEPT", text, sizeof text, 10000), "%s", text);
    char port[8];
    const char *colon = strrchr(strstr(text, "ACCEPT"), ':');
    cr_assert(colon);
    snprintf(port, sizeof port, "%d", atoi(colon + 1));
    sock_tls_config_t *ccfg = client_config(certs.ca);
    sock_t c;
    client_connect(&c, host, port, 10000);
    expect_ok(&c, sock_tls_connect(&c, ccfg, "localhost"));
    cr_assert_eq(sock_tls_verified(&c), 1);
    expect_ok(&c, sock_send_all(&c, "hello from sock\n", 16, NULL));
    text[0] = '\0';
    cr_assert(proc_wait_for(child.out, "hello from sock", text, sizeof text, 10000), "%s", text);
    write_child("hello from s_server\n");
    recv_until(&c, "hello from s_server\n");
    /* Our close_notify ends s_server's session ("DONE"). */
    expect_ok(&c, sock_shutdown(&c, SOCK_SHUT_WRITE));
    text[0] = '\0';
    cr_assert(proc_wait_for(child.out, "DONE", text, sizeof text, 10000), "%s", text);
    sock_close(&c);
    proc_kill(&child);
    child.pid = -1;
    sock_tls_config_free(ccfg);
}

/* s_client verifies us as a careful person would by hand. */
static void s_client_case(const char *host, const char *cert, const char *key, int good)
{
    need("openssl");
    sock_tls_config_t *scfg = server_config(cert, key);
    sock_t acceptor, s;
    char port[8], connect[48];
    listener_on(&acceptor, host, port);
    snprintf(connect, sizeof connect, "%s:%s", bracketed(host), port);
    char *argv[] = {"openssl", "s_client", "-connect", connect, "-CAfile", certs.ca,
                    "-verify_return_error", "-servername", "localhost", "-verify_hostname",
                    "localhost", "-quiet", NULL};
    cr_assert_eq(proc_start(&child, argv), 0);
    expect_ok(&acceptor, sock_set_timeout(&acceptor, 10000));
    expect_ok(&acceptor, sock_accept(&acceptor, &s));
    sock_close(&acceptor);
    expect_ok(&s, sock_set_timeout(&s, 10000));
    int rc = sock_tls_accept(&s, scfg);
    if (good) {
        expect_ok(&s, rc);
        write_child("hello from s_client\n");
        recv_until(&s, "hello from s_client\n");
        expect_ok(&s, sock_send_all(&s, "hello from sock\n", 16, NULL));
        expect_ok(&s, sock_shutdown(&s, SOCK_SHUT_WRITE));
        char text[8192] = "";
        cr_assert(proc_wait_for(child.out, "hello from sock", text, sizeof text, 10000), "%s", text);
    } else {
        /* TLS 1.3: the client's verdict arrives after our side is done. */
        if (rc == 0) {
            char b;
            rc = (int)sock_recv(&s, &b, 1);
        }
        expect_code(&s, rc, SOCK_ETLS);
        cr_assert(strstr(sock_error(&s), "the peer refused the handshake with alert") ||
                      strstr(sock_error(&s), "the peer sent alert"),
                  "%s", sock_error(&s));
    }
    sock_close(&s);
    int status = proc_wait(&child, 10000);
    child.pid = -1;
    if (good)
        cr_assert_eq(status, 0, "s_client exited %d", status);
    else
        cr_assert_neq(status, 0, "s_client accepted a self-signed certificate");
    sock_tls_config_free(scfg);
}

FAMILY_TEST(interop, openssl_s_client, .timeout = 30)
{
    s_client_case(host, certs.server, certs.server_key, 1);
}

FAMILY_TEST(interop, openssl_s_client_refuses_self_signed, .timeout = 30)
{
    s_client_case(host, certs.self, certs.self_key, 0);
}

/* ---------------------------------------------------------------- curl */

static void http_body(struct server *srv, sock_t *conn)
{
    (void)srv;
    char rbuf[2048], line[1024];
    size_t len;
    sock_reader_t r;
    sock_reader_init(&r, conn, rbuf, sizeof rbuf);
    while (sock_read_line(&r, line, sizeof line, &len) == 0 && len > 0)
        ;
    const char *reply = "HTTP/1.1 200 OK\r\nContent-Length: 14\r\nConnection: close\r\n\r\n"
                        "hello over tls";
    sock_send_all(conn, reply, strlen(reply), NULL);
    sock_shutdown(conn, SOCK_SHUT_WRITE);
    sock_recv(conn, line, sizeof line);
}

FAMILY_TEST(interop, curl_https, .timeout = 30)
{
    need("curl");
    sock_tls_config_t *scfg = server_config(certs.server, certs.server_key);
    expect_ok(NULL, sock_tls_config_set_alpn(scfg, "http/1.1"));
    struct server srv = {0};
    server_start(&srv, host, scfg, http_body);
    char url[64];
    snprintf(url, sizeof url, "https://%s:%s/", bracketed(host), srv.port);
    char *argv[] = {"curl", "-sS", "--max-time", "10", "--cacert", certs.ca, url, NULL};
    char *out = NULL, *err = NULL;
    size_t olen;
    int status = proc_run(argv, NULL, 0, &out, &olen, &err, 20000);
    server_join(&srv, 10000);
    cr_assert_eq(status, 0, "curl exited %d: %s", status, err);
    cr_assert_str_eq(out, "hello over tls");
    cr_assert_eq(srv.rc, 0, "%s", srv.error);
    free(out);
    free(err);
    sock_tls_config_free(scfg);
}

/* --------------------------------------------------------------- socat */

static void reply_after_close_notify(struct server *srv, sock_t *conn)
{
    (void)srv;
    char buf[256];
    size_t have = 0;
    ssize_t n;
    while ((n = sock_recv(conn, buf + have, sizeof buf - 1 - have)) > 0)
        have += (size_t)n;
    srv->raw_after_failure = n == 0 && have == 17 && memcmp(buf, "hello from socat\n", 17) == 0
                                 ? 0 : 1;
    sock_send_all(conn, "hello from sock\n", 16, NULL);
    sock_shutdown(conn, SOCK_SHUT_WRITE);
}

FAMILY_TEST(interop, socat_openssl_client, .timeout = 30)
{
    need("socat");
    sock_tls_config_t *scfg = server_config(certs.server, certs.server_key);
    struct server srv = {0};
    server_start(&srv, host, scfg, reply_after_close_notify);
    char addr[256];
    snprintf(addr, sizeof addr, "OPENSSL:%s:%s,cafile=%s,commonname=localhost,pf=%s", bracketed(host),
             srv.port, certs.ca, is_v6(host) ? "ip6" : "ip4");
    char *argv[] = {"socat", "-t", "5", "-", addr, NULL};
    char *out = NULL, *err = NULL;
    size_t olen;
    int status = proc_run(argv, "hello from socat\n", 17, &out, &olen, &err, 20000);
    server_join(&srv, 10000);
    cr_assert_eq(srv.rc, 0, "%s", srv.error);
    cr_assert_eq(srv.raw_after_failure, 0u, "socat's line did not end with its close_notify");
    cr_assert_eq(status, 0, "socat exited %d: %s", status, err);
    cr_assert_str_eq(out, "hello from sock\n");
    free(out);
    free(err);
    sock_tls_config_free(scfg);
}

FAMILY_TEST(interop, socat_openssl_server, .timeout = 30)
{
    need("socat");
    char addr[512];
    snprintf(addr, sizeof addr, "OPENSSL-LISTEN:0,bind=%s,cert=%s,key=%s,verify=0,pf=%s", host,
             certs.server, certs.server_key, is_v6(host) ? "ip6" : "ip4");
    char *argv[] = {"socat", "-d", "-d", "-t", "5", addr, "-", NULL};
    cr_assert_eq(proc_start(&child, argv), 0);
    char text[8192] = "";
    cr_assert(proc_wait_for(child.err, "listening on", text, sizeof text, 10000), "%s", text);
    char port[8];
    snprintf(port, sizeof port, "%d", parse_listening_port(text));
    sock_tls_config_t *ccfg = client_config(certs.ca);
    sock_t c;
    client_connect(&c, host, port, 10000);
    expect_ok(&c, sock_tls_connect(&c, ccfg, "localhost"));
    write_child("hello from socat\n");
    close(child.in);
    child.in = -1;
    /* socat ends its stdin's stream with close_notify: a clean end. */
    char buf[64];
    size_t got;
    expect_ok(&c, sock_recv_all(&c, buf, 17, &got));
    cr_assert_arr_eq(buf, "hello from socat\n", 17);
    expect_code(&c, sock_recv(&c, buf, sizeof buf), 0);
    expect_ok(&c, sock_send_all(&c, "hello from sock\n", 16, NULL));
    expect_ok(&c, sock_shutdown(&c, SOCK_SHUT_WRITE));
    cr_assert(proc_wait_for(child.out, "hello from sock", text, sizeof text, 10000), "%s", text);
    sock_close(&c);
    cr_assert_eq(proc_wait(&child, 10000), 0);
    child.pid = -1;
    sock_tls_config_free(ccfg);
}
