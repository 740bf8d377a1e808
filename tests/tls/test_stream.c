/*
 * test_stream.c - the TLS stream under sock.h's rules: a cut without
 * close_notify is SOCK_ETRUNCATED, never a clean end; a silent peer ends
 * the handshake at the timeout; a shutdown from another thread wakes a
 * blocked reader with SOCK_ECLOSED; non-blocking handshake and reads; a
 * plain-TCP peer named as such, in both roles; 64 MiB each way; ALPN;
 * client certificates; the trace; bad arguments; many handshakes without
 * growth.
 */
#include "tls_util.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

TestSuite(stream, .init = tls_setup, .fini = tls_teardown);

static sock_tls_config_t *scfg, *ccfg;

static void configs(void)
{
    scfg = server_config(certs.server, certs.server_key);
    ccfg = client_config(certs.ca);
}

static void configs_free(void)
{
    sock_tls_config_free(scfg);
    sock_tls_config_free(ccfg);
}

/* A TLS client connected to a server running body. */
static void tls_pair(const char *host, struct server *srv, sock_t *c,
                     void (*body)(struct server *, sock_t *))
{
    server_start(srv, host, scfg, body);
    client_connect(c, host, srv->port, 10000);
    expect_ok(c, sock_tls_connect(c, ccfg, "localhost"));
}

/* ---------------------------------------------------------- truncation */

static void cut_body(struct server *srv, sock_t *conn)
{
    (void)srv;
    sock_send_all(conn, "partial", 7, NULL);
    /* End the TCP stream under TLS's feet: FIN without close_notify. */
    shutdown(sock_fd(conn), SHUT_WR);
    char b;
    sock_recv(conn, &b, 1);
}

FAMILY_TEST(stream, cut_without_close_notify_is_truncation, .timeout = 20)
{
    configs();
    struct server srv = {0};
    sock_t c;
    tls_pair(host, &srv, &c, cut_body);
    char buf[16];
    expect_ok(&c, sock_recv_all(&c, buf, 7, NULL));
    cr_assert_arr_eq(buf, "partial", 7);
    expect_code(&c, sock_recv(&c, buf, sizeof buf), SOCK_ETRUNCATED);
    sock_close(&c);
    server_join(&srv, 10000);
    configs_free();
}

/* The framing calls see the same: a cut between messages is no SOCK_END. */
FAMILY_TEST(stream, cut_between_messages_is_not_the_end, .timeout = 20)
{
    configs();
    struct server srv = {0};
    sock_t c;
    tls_pair(host, &srv, &c, cut_body);
    char rbuf[64], out[64];
    size_t len;
    sock_reader_t r;
    sock_reader_init(&r, &c, rbuf, sizeof rbuf);
    expect_ok(&c, sock_read_exact(&r, out, 7, &len));
    expect_code(&c, sock_read_line(&r, out, sizeof out, &len), SOCK_ETRUNCATED);
    sock_close(&c);
    server_join(&srv, 10000);
    configs_free();
}

/* ------------------------------------------------- timeout, shutdown wake */

/* A server that accepts and never says a word. */
static void *silent_main(void *arg)
{
    sock_t *acceptor = arg, conn;
    if (sock_accept(acceptor, &conn) == 0) {
        char buf[4096];
        while (sock_recv(&conn, buf, sizeof buf) > 0)
            ; /* until the client gives up */
        sock_close(&conn);
    }
    return NULL;
}

FAMILY_TEST(stream, silent_peer_ends_at_the_timeout, .timeout = 20)
{
    sock_t acceptor, c;
    char port[8];
    listener_on(&acceptor, host, port);
    pthread_t t = spawn(silent_main, &acceptor);
    client_connect(&c, host, port, 300);
    int64_t t0 = now_ms();
    int rc = sock_tls_connect(&c, NULL, "localhost");
    expect_code(&c, rc, -ETIMEDOUT);
    cr_assert_geq(now_ms() - t0, 300, "gave up before the timeout");
    cr_assert(strstr(sock_error(&c), "not complete within the timeout"), "%s", sock_error(&c));
    sock_close(&c);
    join_within(t, 10000);
    sock_close(&acceptor);
}

struct reader {
    sock_t *s;
    ssize_t rc;
};

static void *reader_main(void *arg)
{
    struct reader *r = arg;
    char b;
    r->rc = sock_recv(r->s, &b, 1);
    return NULL;
}

static void quiet_body(struct server *srv, sock_t *conn)
{
    (void)srv;
    char b;
    sock_recv(conn, &b, 1); /* until the client goes */
}

FAMILY_TEST(stream, shutdown_wakes_a_blocked_reader, .timeout = 20)
{
    configs();
    struct server srv = {0};
    sock_t c;
    tls_pair(host, &srv, &c, quiet_body);
    struct reader r = {.s = &c, .rc = 1};
    pthread_t t = spawn(reader_main, &r);
    sleep_ms(100); /* let it block; the result does not depend on it */
    expect_ok(&c, sock_shutdown(&c, SOCK_SHUT_READ));
    join_within(t, 5000);
    expect_code(&c, r.rc, SOCK_ECLOSED);
    sock_close(&c);
    server_join(&srv, 10000);
    configs_free();
}

/* ----------------------------------------------------------- non-blocking */

static void hello_body(struct server *srv, sock_t *conn)
{
    (void)srv;
    sleep_ms(50);
    sock_send_all(conn, "hello", 5, NULL);
    char b;
    sock_recv(conn, &b, 1);
}

/* Wait for what the layer asked for, bounded. */
static void wait_want(sock_t *c, unsigned want)
{
    struct pollfd p = {.fd = sock_fd(c), .events = want == SOCK_WRITABLE ? POLLOUT : POLLIN};
    cr_assert_eq(poll(&p, 1, 5000), 1, "not ready within 5 s");
}

FAMILY_TEST(stream, nonblocking_handshake_and_reads, .timeout = 20)
{
    configs();
    struct server srv = {0};
    server_start(&srv, host, scfg, hello_body);
    sock_t c;
    client_connect(&c, host, srv.port, -1);
    expect_ok(&c, sock_set_nonblocking(&c, 1));
    int rc = sock_tls_connect(&c, ccfg, "localhost");
    int rounds = 0;
    while (rc == -EAGAIN && rounds++ < 100) {
        unsigned want = sock_tls_want(&c);
        cr_assert(want == SOCK_READABLE || want == SOCK_WRITABLE, "want %u", want);
        wait_want(&c, want);
        rc = sock_tls_handshake(&c);
    }
    expect_ok(&c, rc);
    /* (It may finish in one call, when the server's whole flight is in
     * before the client's first read: no count of rounds is asserted.) */
    expect_ok(&c, sock_tls_handshake(&c)); /* done is done */
    char buf[8];
    ssize_t n = sock_recv(&c, buf, sizeof buf);
    for (rounds = 0; n == -EAGAIN && rounds < 100; rounds++) {
        wait_want(&c, SOCK_READABLE);
        n = sock_recv(&c, buf, sizeof buf);
    }
    expect_code(&c, n, 5);
    cr_assert_arr_eq(buf, "hello", 5);
    sock_close(&c);
    server_join(&srv, 10000);
    configs_free();
}

/* ------------------------------------------------- peers that are no TLS */

static void *http_main(void *arg)
{
    sock_t *acceptor = arg, conn;
    if (sock_accept(acceptor, &conn) == 0) {
        char buf[512];
        sock_recv(&conn, buf, sizeof buf);
        const char *reply = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n";
        sock_send_all(&conn, reply, strlen(reply), NULL);
        sock_shutdown(&conn, SOCK_SHUT_WRITE);
        sock_recv(&conn, buf, sizeof buf);
        sock_close(&conn);
    }
    return NULL;
}

FAMILY_TEST(stream, plain_server_on_a_tls_port_is_named, .timeout = 20)
{
    sock_t acceptor, c;
    char port[8];
    listener_on(&acceptor, host, port);
    pthread_t t = spawn(http_main, &acceptor);
    client_connect(&c, host, port, 10000);
    expect_code(&c, sock_tls_connect(&c, NULL, "localhost"), SOCK_ETLS);
    cr_assert(strstr(sock_error(&c), "peer does not speak TLS (got 'HTTP/1.1 400 Bad Request')"),
              "%s", sock_error(&c));
    sock_close(&c);
    join_within(t, 10000);
    sock_close(&acceptor);
}

FAMILY_TEST(stream, plain_client_on_a_tls_port_is_named, .timeout = 20)
{
    configs();
    struct server srv = {0};
    server_start(&srv, host, scfg, NULL);
    sock_t c;
    client_connect(&c, host, srv.port, 10000);
    const char *req = "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";
    expect_ok(&c, sock_send_all(&c, req, strlen(req), NULL));
    sock_shutdown(&c, SOCK_SHUT_WRITE);
    char buf[256];
    while (sock_recv(&c, buf, sizeof buf) > 0)
        ;
    sock_close(&c);
    server_join(&srv, 10000);
    cr_assert_eq(srv.rc, SOCK_ETLS, "%d %s", srv.rc, srv.error);
    cr_assert(strstr(srv.error, "peer does not speak TLS (got 'GET / HTTP/1.1')"), "%s", srv.error);
    configs_free();
}

/* An echo server sends our ClientHello back. */
static void *echo_main(void *arg)
{
    sock_t *acceptor = arg, conn;
    if (sock_accept(acceptor, &conn) == 0) {
        char buf[4096];
        ssize_t n;
        while ((n = sock_recv(&conn, buf, sizeof buf)) > 0)
            if (sock_send_all(&conn, buf, (size_t)n, NULL) < 0)
                break;
        sock_close(&conn);
    }
    return NULL;
}

FAMILY_TEST(stream, echo_server_is_named, .timeout = 20)
{
    sock_t acceptor, c;
    char port[8];
    listener_on(&acceptor, host, port);
    pthread_t t = spawn(echo_main, &acceptor);
    client_connect(&c, host, port, 10000);
    expect_code(&c, sock_tls_connect(&c, NULL, "localhost"), SOCK_ETLS);
    cr_assert(strstr(sock_error(&c), "peer does not speak TLS (it sent our own hello back"), "%s",
              sock_error(&c));
    sock_close(&c);
    join_within(t, 10000);
    sock_close(&acceptor);
}

/* A peer that closes at once. */
static void *closer_main(void *arg)
{
    sock_t *acceptor = arg, conn;
    if (sock_accept(acceptor, &conn) == 0)
        sock_close(&conn);
    return NULL;
}

FAMILY_TEST(stream, peer_closing_at_once_is_named, .timeout = 20)
{
    sock_t acceptor, c;
    char port[8];
    listener_on(&acceptor, host, port);
    pthread_t t = spawn(closer_main, &acceptor);
    client_connect(&c, host, port, 10000);
    join_within(t, 10000);
    int rc = sock_tls_connect(&c, NULL, "localhost");
    cr_assert(rc == SOCK_ETLS || rc == -ECONNRESET || rc == -EPIPE, "rc %d: %s", rc,
              sock_error(&c));
    cr_assert(strstr(sock_error(&c), "tls handshake with "), "%s", sock_error(&c));
    sock_close(&c);
    sock_close(&acceptor);
}

/* ----------------------------------------------------- 64 MiB each way */

#define BULK (64u << 20)

static void bulk_body(struct server *srv, sock_t *conn)
{
    (void)srv;
    /* Read all of the client's, check it, then send as much back. */
    char *buf = malloc(1 << 16);
    size_t got = 0, bad = SIZE_MAX;
    ssize_t n;
    while ((n = sock_recv(conn, buf, 1 << 16)) > 0) {
        size_t k = check_pattern(buf, (size_t)n, got);
        if (k < (size_t)n && bad == SIZE_MAX)
            bad = got + k;
        got += (size_t)n;
    }
    srv->raw_after_failure = n == 0 && got == BULK && bad == SIZE_MAX ? 0 : 1;
    for (size_t off = 0; off < BULK && n == 0; off += 1 << 16) {
        fill_pattern(buf, 1 << 16, off);
        if (sock_send_all(conn, buf, 1 << 16, NULL) < 0)
            break;
    }
    sock_shutdown(conn, SOCK_SHUT_WRITE);
    free(buf);
}

FAMILY_TEST(stream, bulk_64_mib_each_way, .timeout = 60 * SOCK_TEST_TIME_SCALE)
{
    configs();
    struct server srv = {0};
    sock_t c;
    tls_pair(host, &srv, &c, bulk_body);
    char *buf = malloc(1 << 16);
    for (size_t off = 0; off < BULK; off += 1 << 16) {
        fill_pattern(buf, 1 << 16, off);
        expect_ok(&c, sock_send_all(&c, buf, 1 << 16, NULL));
    }
    expect_ok(&c, sock_shutdown(&c, SOCK_SHUT_WRITE));
    size_t got = 0;
    ssize_t n;
    while ((n = sock_recv(&c, buf, 1 << 16)) > 0) {
        cr_assert_eq(check_pattern(buf, (size_t)n, got), (size_t)n, "bad byte near %zu", got);
        got += (size_t)n;
    }
    expect_code(&c, n, 0);
    cr_assert_eq(got, BULK);
    free(buf);
    sock_close(&c);
    server_join(&srv, 30000);
    cr_assert_eq(srv.raw_after_failure, 0u, "the server did not get the 64 MiB intact");
    configs_free();
}

/* --------------------------------------------------------------- ALPN */

static void alpn_case(const char *host, const char *offer, const char *accept, const char *agreed,
                      const char *error)
{
    configs();
    expect_ok(NULL, sock_tls_config_set_alpn(ccfg, offer));
    expect_ok(NULL, sock_tls_config_set_alpn(scfg, accept));
    struct server srv = {0};
    server_start(&srv, host, scfg, quiet_body);
    sock_t c;
    client_connect(&c, host, srv.port, 10000);
    int rc = sock_tls_connect(&c, ccfg, "localhost");
    if (agreed) {
        expect_ok(&c, rc);
        cr_assert_str_eq(sock_tls_alpn(&c), agreed);
    } else {
        expect_code(&c, rc, SOCK_ETLS);
        cr_assert(strstr(sock_error(&c), error), "%s", sock_error(&c));
    }
    sock_close(&c);
    server_join(&srv, 10000);
    configs_free();
}

FAMILY_TEST(stream, alpn_agreed, .timeout = 20)
{
    alpn_case(host, "h2,http/1.1", "http/1.1,h2", "http/1.1", NULL);
}

FAMILY_TEST(stream, alpn_nothing_in_common, .timeout = 20)
{
    alpn_case(host, "h2", "imap", NULL, "no ALPN protocol in common");
}

Test(stream, alpn_bad_lists, .timeout = 5)
{
    sock_tls_config_t *cfg = client_config(NULL);
    cr_assert_eq(sock_tls_config_set_alpn(cfg, "h2,,x"), -EINVAL);
    cr_assert(strstr(sock_tls_config_error(cfg), "each protocol needs 1 to 255 bytes"));
    cr_assert_eq(sock_tls_config_set_alpn(cfg, "h2,"), -EINVAL);
    expect_ok(NULL, sock_tls_config_set_alpn(cfg, ""));
    sock_tls_config_free(cfg);
}

/* --------------------------------------------------- client certificates */

static void client_cert_case(const char *host, int with_cert)
{
    configs();
    expect_ok(NULL, sock_tls_config_set_ca(scfg, certs.ca, NULL));
    expect_ok(NULL, sock_tls_config_set_verify_client(scfg, 1));
    if (with_cert)
        cr_assert_eq(sock_tls_config_set_cert(ccfg, certs.client, certs.client_key), 0);
    struct server srv = {0};
    server_start(&srv, host, scfg, quiet_body);
    sock_t c;
    client_connect(&c, host, srv.port, 10000);
    int rc = sock_tls_connect(&c, ccfg, "localhost");
    if (rc == 0) {
        /* TLS 1.3: the server's verdict on our certificate comes after our
         * handshake is complete, with the first read. */
        char b;
        sock_send_all(&c, "x", 1, NULL);
        rc = (int)sock_recv(&c, &b, 1);
        if (rc == 0 || rc == SOCK_ETRUNCATED || rc == -ECONNRESET)
            rc = with_cert ? 0 : SOCK_ETLS;
    }
    sock_close(&c);
    server_join(&srv, 10000);
    if (with_cert) {
        cr_assert_eq(srv.rc, 0, "%s", srv.error);
    } else {
        cr_assert_eq(srv.rc, SOCK_ETLS, "%s", srv.error);
        cr_assert(strstr(srv.error, "peer did not return a certificate") ||
                      strstr(srv.error, "certificate"),
                  "%s", srv.error);
        cr_assert_neq(rc, 0);
    }
    configs_free();
}

FAMILY_TEST(stream, client_certificate_verified, .timeout = 20)
{
    client_cert_case(host, 1);
}

FAMILY_TEST(stream, client_without_certificate_refused, .timeout = 20)
{
    client_cert_case(host, 0);
}

/* ----------------------------------------------------------- the trace */

static char trace_line[512];
static char trace_steps[512]; /* every step's name of the client's, in order */

/* The server's thread traces too: only the client's handle (user) counts. */
static void keep_tls_step(const sock_trace_event_t *ev, void *user)
{
    if (ev->sock != user)
        return;
    size_t used = strlen(trace_steps);
    snprintf(trace_steps + used, sizeof trace_steps - used, "%s ", ev->step);
    if (strcmp(ev->step, "tls_handshake") == 0)
        sock_trace_format(ev, trace_line, sizeof trace_line);
}

FAMILY_TEST(stream, trace_shows_the_handshake, .timeout = 20)
{
    configs();
    struct server srv = {0};
    server_start(&srv, host, scfg, quiet_body);
    sock_t c;
    client_connect(&c, host, srv.port, 10000);
    sock_set_trace(keep_tls_step, &c);
    expect_ok(&c, sock_tls_connect(&c, ccfg, "localhost"));
    sock_set_trace(NULL, NULL);
    cr_assert(strstr(trace_line, "tls_handshake(\"localhost\", TLSv1.3, TLS_"), "%s", trace_line);
    cr_assert(strstr(trace_line, "CN=localhost) = 0"), "%s", trace_line);
    /* The handshake is its own step: no recv of the library's shows up
     * for it (the layer waits on the descriptor itself). */
    cr_assert_str_eq(trace_steps, "set_transport tls_handshake ", "%s", trace_steps);
    sock_close(&c);
    server_join(&srv, 10000);
    configs_free();
}

/* ------------------------------------------------------- bad arguments */

Test(stream, bad_arguments, .timeout = 10)
{
    configs();
    sock_tls_config_t *cfg = client_config(NULL);
    cr_assert_eq(sock_tls_config_set_ca(cfg, "/nonexistent/ca.pem", NULL), SOCK_ETLS);
    cr_assert_str_eq(sock_tls_config_error(cfg),
                     "CA file '/nonexistent/ca.pem': No such file or directory");
    cr_assert_eq(sock_tls_config_set_ca(cfg, NULL, NULL), -EINVAL);
    cr_assert_eq(sock_tls_config_set_cert(cfg, certs.server, certs.self_key), SOCK_ETLS);
    cr_assert(strstr(sock_tls_config_error(cfg), "does not match certificate"), "%s",
              sock_tls_config_error(cfg));
    cr_assert_eq(sock_tls_config_set_cert(cfg, certs.ca, "/nonexistent.key"), SOCK_ETLS);
    cr_assert(strstr(sock_tls_config_error(cfg), "No such file or directory"), "%s",
              sock_tls_config_error(cfg));
    cr_assert_eq(sock_tls_config_new(NULL), -EINVAL);
    sock_tls_config_free(NULL);
    sock_tls_config_free(cfg);

    sock_t s;
    sock_init(&s);
    expect_code(&s, sock_tls_connect(&s, NULL, "localhost"), -ENOTCONN);
    expect_code(&s, sock_tls_handshake(&s), -EINVAL);
    cr_assert_eq(sock_tls_want(&s), 0u);
    cr_assert_eq(sock_tls_version(&s), NULL);
    cr_assert_eq(sock_tls_verified(&s), -EINVAL);
    cr_assert_eq(sock_tls_connect(NULL, NULL, "x"), -EINVAL);

    struct server srv = {0};
    server_start(&srv, "127.0.0.1", scfg, quiet_body);
    client_connect(&s, "127.0.0.1", srv.port, 10000);
    expect_code(&s, sock_tls_accept(&s, NULL), -EINVAL);
    expect_code(&s, sock_tls_accept(&s, ccfg), -EINVAL); /* no certificate */
    cr_assert(strstr(sock_error(&s), "no certificate"), "%s", sock_error(&s));
    expect_code(&s, sock_tls_connect(&s, ccfg, NULL), -EINVAL);
    expect_code(&s, sock_tls_connect(&s, ccfg, "bad name"), -EINVAL);
    cr_assert(strstr(sock_error(&s), "'bad name' is no host name"), "%s", sock_error(&s));
    expect_ok(&s, sock_tls_connect(&s, ccfg, "localhost"));
    expect_code(&s, sock_tls_connect(&s, ccfg, "localhost"), -EALREADY);
    sock_close(&s);
    server_join(&srv, 10000);
    configs_free();
}

/* ------------------------------------------- many handshakes, no growth */

static void many_body(struct server *srv, sock_t *conn)
{
    (void)srv;
    char b;
    if (sock_recv(conn, &b, 1) == 1 && sock_send_all(conn, &b, 1, NULL) == 0)
        sock_recv(conn, &b, 1); /* the client's close_notify */
}

/* Served one after another on one thread: accept, handshake, echo a byte. */
struct many {
    sock_t acceptor;
    int count;
    int failures;
};

static void *many_main(void *arg)
{
    struct many *m = arg;
    for (int i = 0; i < m->count; i++) {
        sock_t conn;
        if (sock_accept(&m->acceptor, &conn) < 0) {
            m->failures++;
            continue;
        }
        sock_set_timeout(&conn, 10000);
        if (sock_tls_accept(&conn, scfg) == 0)
            many_body(NULL, &conn);
        else
            m->failures++;
        sock_close(&conn);
    }
    return NULL;
}

/* 1,000 in make test; SOCK_TLS_HANDSHAKES=10000 for the long run. */
static int handshakes(void)
{
    const char *v = getenv("SOCK_TLS_HANDSHAKES");
    int n = v ? atoi(v) : 0;
    return n > 0 && n <= 1000000 ? n : 1000;
}

Test(stream, many_handshakes_leave_nothing_behind, .timeout = 600 * SOCK_TEST_TIME_SCALE)
{
    configs();
    struct many m = {.count = handshakes()};
    char port[8];
    listener_on(&m.acceptor, "127.0.0.1", port);
    int fds = count_fds();
    pthread_t t = spawn(many_main, &m);
    for (int i = 0; i < m.count; i++) {
        sock_t c;
        client_connect(&c, "127.0.0.1", port, 10000);
        expect_ok(&c, sock_tls_connect(&c, ccfg, "localhost"));
        expect_ok(&c, sock_send_all(&c, "k", 1, NULL));
        char b;
        expect_ok(&c, sock_recv_all(&c, &b, 1, NULL));
        expect_ok(&c, sock_shutdown(&c, SOCK_SHUT_WRITE));
        sock_close(&c);
    }
    join_within(t, 30000);
    cr_assert_eq(m.failures, 0);
    sock_close(&m.acceptor);
    cr_assert_eq(count_fds(), fds - 1, "descriptors left behind");
    configs_free();
    /* Leaks: ASan's leak check at exit of this test's process. */
}

/* ------------------------------ a forwarding loop: poller and sock_pipe_t */

/* A TLS client on a thread: handshake, len bytes of the pattern, close_notify. */
struct sender {
    sock_t *c;
    size_t len;
    int rc;
};

static void *sender_main(void *arg)
{
    struct sender *sd = arg;
    sd->rc = sock_tls_connect(sd->c, ccfg, "localhost");
    char *buf = malloc(1 << 16);
    for (size_t off = 0; off < sd->len && sd->rc == 0; off += 1 << 16) {
        fill_pattern(buf, 1 << 16, off);
        sd->rc = sock_send_all(sd->c, buf, 1 << 16, NULL);
    }
    if (sd->rc == 0)
        sd->rc = sock_shutdown(sd->c, SOCK_SHUT_WRITE);
    free(buf);
    return NULL;
}

/* What a relay does with a TLS side: non-blocking, a poller, a pipe filled
 * a little at a time (1000 bytes, less than a record), so that bytes stay
 * inside the layer where the poller cannot see them: sock_pending() says
 * so, and the loop takes them before it waits. */
FAMILY_TEST(stream, relay_loop_with_poller_and_pipe, .timeout = 60)
{
    configs();
    sock_t acceptor, c, s, d, e;
    char port[8];
    listener_on(&acceptor, host, port);
    client_connect(&c, host, port, 10000);
    expect_ok(&acceptor, sock_accept(&acceptor, &s));
    sock_close(&acceptor);
    struct sender sd = {.c = &c, .len = 4u << 20};
    pthread_t t = spawn(sender_main, &sd);
    expect_ok(&s, sock_set_timeout(&s, 10000));
    expect_ok(&s, sock_tls_accept(&s, scfg));
    expect_ok(&s, sock_set_nonblocking(&s, 1));
    pair_on(host, &d, &e);
    struct drain dr = {.s = &e, .chunk = 1 << 16};
    pthread_t rt = spawn(drain_thread, &dr);
    sock_poller_t *p;
    cr_assert_eq(sock_poller_open(&p), 0);
    cr_assert_eq(sock_poller_add(p, &s, SOCK_READABLE, &s), 0);
    sock_pipe_t pipe;
    cr_assert_eq(sock_pipe_open(&pipe), 0);
    int ended = 0, took_pending = 0;
    for (int rounds = 0; !ended && rounds < 1000000; rounds++) {
        if (sock_pending(&s) == 0) {
            sock_event_t ev[4];
            cr_assert_geq(sock_poller_wait(p, ev, 4, 10000), 1, "no event within 10 s");
        } else {
            took_pending++;
        }
        ssize_t n = sock_pipe_fill(&pipe, &s, 1000);
        if (n == 0)
            ended = 1;
        else
            cr_assert(n > 0 || n == -EAGAIN, "fill: %zd %s", n, sock_error(&s));
        while (sock_pipe_held(&pipe) > 0)
            cr_assert_gt(sock_pipe_drain(&pipe, &d), 0, "%s", sock_error(&d));
    }
    cr_assert(ended);
    cr_assert_gt(took_pending, 0, "never had bytes inside the layer: the case is not tested");
    expect_ok(&d, sock_shutdown(&d, SOCK_SHUT_WRITE));
    join_within(rt, 20000);
    join_within(t, 20000);
    cr_assert_eq(sd.rc, 0, "client: %s", sock_error(&c));
    cr_assert_eq(dr.total, 4u << 20);
    cr_assert_eq(dr.first_bad, SIZE_MAX, "bad byte at %zu", dr.first_bad);
    sock_pipe_close(&pipe);
    sock_poller_close(p);
    sock_close(&c), sock_close(&s), sock_close(&d), sock_close(&e);
    configs_free();
}
