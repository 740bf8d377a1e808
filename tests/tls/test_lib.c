/*
 * test_lib.c - libsock-tls between two handles of this process: the
 * defaults verify, every bad certificate fails with its words and sends
 * nothing, the calls of sock.h work unchanged on the TLS stream (the *_all
 * and framing calls, half-close with close_notify both ways, truncation,
 * timeout, shutdown wake, non-blocking mode), ALPN, client certificates,
 * the trace, bad arguments.  Every connection test runs on 127.0.0.1 and
 * ::1, with the server named by name ("localhost") and by address.
 */
#include "tls_util.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

TestSuite(tls, .init = tls_setup, .fini = tls_teardown);

/* ------------------------------------------------------ a working stream */

static void echo_body(struct server *srv, sock_t *conn)
{
    (void)srv;
    char buf[4096];
    ssize_t n;
    while ((n = sock_recv(conn, buf, sizeof buf)) > 0)
        if (sock_send_all(conn, buf, (size_t)n, NULL) < 0)
            return;
    /* The client's close_notify: a clean end (0), then a reply after it. */
    if (n == 0) {
        sock_send_all(conn, "bye", 3, NULL);
        sock_shutdown(conn, SOCK_SHUT_WRITE);
    }
}

static void talk(const char *host, const char *name)
{
    sock_tls_config_t *scfg = server_config(certs.server, certs.server_key);
    sock_tls_config_t *ccfg = client_config(certs.ca);
    struct server srv = {0};
    server_start(&srv, host, scfg, echo_body);
    sock_t c;
    client_connect(&c, host, srv.port, 10000);
    expect_ok(&c, sock_tls_connect(&c, ccfg, name));
    cr_assert_str_eq(sock_tls_version(&c), "TLSv1.3");
    cr_assert_str_eq(sock_tls_peer_subject(&c), "CN=localhost");
    cr_assert(strlen(sock_tls_cipher(&c)) > 0);
    cr_assert_eq(sock_tls_verified(&c), 1);
    /* The calls of sock.h, unchanged. */
    expect_ok(&c, sock_send_all(&c, "hello\n", 6, NULL));
    char buf[64];
    expect_ok(&c, sock_recv_all(&c, buf, 6, NULL));
    cr_assert_arr_eq(buf, "hello\n", 6);
    expect_ok(&c, sock_send_msg(&c, SOCK_U16BE, "framed", 6, NULL));
    char rbuf[256], out[64];
    sock_reader_t r;
    sock_reader_init(&r, &c, rbuf, sizeof rbuf);
    size_t len;
    expect_ok(&c, sock_read_msg(&r, SOCK_U16BE, out, sizeof out, &len));
    cr_assert_eq(len, 6u);
    cr_assert_arr_eq(out, "framed", 6);
    /* Half-close: our close_notify ends the server's reading with 0, and
     * its reply still arrives, then its close_notify is our clean end. */
    expect_ok(&c, sock_shutdown(&c, SOCK_SHUT_WRITE));
    expect_ok(&c, sock_read_exact(&r, out, 3, &len));
    cr_assert_arr_eq(out, "bye", 3);
    expect_code(&c, sock_read_line(&r, out, sizeof out, &len), SOCK_END);
    sock_close(&c);
    server_join(&srv, 10000);
    cr_assert_eq(srv.rc, 0, "server: %s", srv.error);
    sock_tls_config_free(scfg);
    sock_tls_config_free(ccfg);
}

FAMILY_TEST(tls, verified_by_name_with_half_close, .timeout = 20)
{
    talk(host, "localhost");
}

FAMILY_TEST(tls, verified_by_address, .timeout = 20)
{
    talk(host, host);
}

/* Bracketed IPv6, as people write it with a port. */
Test(tls, verified_by_bracketed_address, .timeout = 20)
{
    talk("::1", "[::1]");
}

/* The configuration may go before its connections do. */
FAMILY_TEST(tls, config_freed_while_connected, .timeout = 20)
{
    sock_tls_config_t *scfg = server_config(certs.server, certs.server_key);
    sock_tls_config_t *ccfg = client_config(certs.ca);
    struct server srv = {0};
    server_start(&srv, host, scfg, echo_body);
    sock_t c;
    client_connect(&c, host, srv.port, 10000);
    expect_ok(&c, sock_tls_connect(&c, ccfg, "localhost"));
    sock_tls_config_free(ccfg);
    expect_ok(&c, sock_send_all(&c, "x", 1, NULL));
    char b;
    expect_ok(&c, sock_recv_all(&c, &b, 1, NULL));
    expect_ok(&c, sock_shutdown(&c, SOCK_SHUT_WRITE));
    sock_close(&c);
    server_join(&srv, 10000);
    sock_tls_config_free(scfg);
}

/* -------------------------------------------- bad certificates, in words */

/* Connect with ccfg to a server presenting cert/key; the handshake must
 * fail with SOCK_ETLS and words containing want, and the client must send
 * nothing after: not before the failure (no application byte exists yet)
 * and not after it (the handle keeps failing). */
static void refused(const char *host, const char *name, sock_tls_config_t *ccfg, const char *cert,
                    const char *key, const char *want)
{
    sock_tls_config_t *scfg = server_config(cert, key);
    struct server srv = {0};
    server_start(&srv, host, scfg, NULL);
    sock_t c;
    client_connect(&c, host, srv.port, 10000);
    expect_code(&c, sock_tls_connect(&c, ccfg, name), SOCK_ETLS);
    cr_assert(strstr(sock_error(&c), want), "error \"%s\" does not say \"%s\"", sock_error(&c),
              want);
    /* A careless program that sends anyway sends nothing. */
    expect_code(&c, sock_send(&c, "secret", 6), SOCK_ETLS);
    char b;
    expect_code(&c, sock_recv(&c, &b, 1), SOCK_ETLS);
    cr_assert_eq(sock_tls_version(&c), NULL);
    sock_close(&c);
    server_join(&srv, 10000);
    cr_assert_lt(srv.rc, 0, "the server's handshake succeeded");
    cr_assert_eq(srv.raw_after_failure, 0u, "the client sent %zu bytes after the failure",
                 srv.raw_after_failure);
    cr_assert_eq(srv.saw_secret, 0);
    sock_tls_config_free(scfg);
}

FAMILY_TEST(tls, self_signed_refused, .timeout = 20)
{
    sock_tls_config_t *ccfg = client_config(certs.ca);
    refused(host, "localhost", ccfg, certs.self, certs.self_key,
            "certificate verify failed for 'localhost': self-signed certificate");
    sock_tls_config_free(ccfg);
}

FAMILY_TEST(tls, expired_refused, .timeout = 20)
{
    sock_tls_config_t *ccfg = client_config(certs.ca);
    refused(host, "localhost", ccfg, certs.expired, certs.expired_key,
            "certificate verify failed for 'localhost': certificate expired on 2020-01-01 "
            "00:00:00 UTC");
    sock_tls_config_free(ccfg);
}

FAMILY_TEST(tls, wrong_name_refused, .timeout = 20)
{
    sock_tls_config_t *ccfg = client_config(certs.ca);
    refused(host, "localhost", ccfg, certs.wrong, certs.wrong_key,
            "host name mismatch: certificate is for 'a.test', not 'localhost'");
    sock_tls_config_free(ccfg);
}

FAMILY_TEST(tls, wrong_address_refused, .timeout = 20)
{
    sock_tls_config_t *ccfg = client_config(certs.ca);
    char want[96];
    snprintf(want, sizeof want, "IP address mismatch: certificate is for 'a.test', not '%s'", host);
    refused(host, host, ccfg, certs.wrong, certs.wrong_key, want);
    sock_tls_config_free(ccfg);
}

FAMILY_TEST(tls, untrusted_issuer_refused, .timeout = 20)
{
    sock_tls_config_t *ccfg = client_config(certs.ca);
    refused(host, "localhost", ccfg, certs.other, certs.other_key,
            "certificate verify failed for 'localhost': issuer 'CN=untrusted CA' is not a "
            "trusted CA");
    sock_tls_config_free(ccfg);
}

/* The defaults (NULL: the system's CAs) do not know the test CA. */
FAMILY_TEST(tls, defaults_refuse_a_private_ca, .timeout = 20)
{
    refused(host, "localhost", NULL, certs.server, certs.server_key,
            "certificate verify failed for 'localhost': issuer 'CN=sock test CA' is not a "
            "trusted CA");
}

/* The named, explicit way out. */
FAMILY_TEST(tls, insecure_accepts_anything_and_says_so, .timeout = 20)
{
    sock_tls_config_t *scfg = server_config(certs.self, certs.self_key);
    sock_tls_config_t *ccfg = client_config(NULL);
    expect_ok(NULL, sock_tls_config_set_insecure(ccfg, 1));
    struct server srv = {0};
    server_start(&srv, host, scfg, echo_body);
    sock_t c;
    client_connect(&c, host, srv.port, 10000);
    expect_ok(&c, sock_tls_connect(&c, ccfg, "b.test"));
    cr_assert_eq(sock_tls_verified(&c), 0);
    expect_ok(&c, sock_shutdown(&c, SOCK_SHUT_WRITE));
    sock_close(&c);
    server_join(&srv, 10000);
    sock_tls_config_free(scfg);
    sock_tls_config_free(ccfg);
}

/* ------------------------------------------------------ the system's CAs */

/* Make the file at path a copy of the file at from. */
static void copy_file(const char *from, const char *path)
{
    FILE *in = fopen(from, "rb");
    cr_assert(in, "%s: %s", from, strerror(errno));
    FILE *out = fopen(path, "wb");
    cr_assert(out, "%s: %s", path, strerror(errno));
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0)
        cr_assert_eq(fwrite(buf, 1, n, out), n);
    fclose(in);
    cr_assert_eq(fclose(out), 0);
}

/* A configuration without CAs of its own reads the system's when its first
 * connection needs them, not when it is made: a program that replaces them
 * (sock_tls_config_set_ca) never pays for parsing the system's bundle.
 * SSL_CERT_FILE stands for that bundle here (OpenSSL reads it in place of
 * the system's): it trusts nobody of ours when the configuration is made,
 * the test CA when it is used, so only a late read verifies. */
FAMILY_TEST(tls, system_cas_read_at_first_use, .timeout = 20)
{
    char bundle[CERT_PATHLEN + 16];
    snprintf(bundle, sizeof bundle, "%s/bundle.pem", certs.dir);
    copy_file(certs.self, bundle);
    cr_assert_eq(setenv("SSL_CERT_FILE", bundle, 1), 0);
    sock_tls_config_t *ccfg = client_config(NULL);
    copy_file(certs.ca, bundle);
    for (int i = 0; i < 2; i++) {
        /* The second connection shares the store of the first. */
        sock_tls_config_t *scfg = server_config(certs.server, certs.server_key);
        struct server srv = {0};
        server_start(&srv, host, scfg, echo_body);
        sock_t c;
        client_connect(&c, host, srv.port, 10000);
        /* Once (expect_ok would call it again to print it). */
        int rc = sock_tls_connect(&c, ccfg, "localhost");
        expect_ok(&c, rc);
        cr_assert_eq(sock_tls_verified(&c), 1);
        expect_ok(&c, sock_shutdown(&c, SOCK_SHUT_WRITE));
        sock_close(&c);
        server_join(&srv, 10000);
        cr_assert_eq(srv.rc, 0, "server: %s", srv.error);
        sock_tls_config_free(scfg);
    }
    sock_tls_config_free(ccfg);
    unlink(bundle);
}
