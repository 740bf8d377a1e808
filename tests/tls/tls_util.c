/*
 * tls_util.c - see tls_util.h.
 */
#include "tls_util.h"

#include <errno.h>
#include <stdio.h>
#include <sys/socket.h>
#include <string.h>
#include <unistd.h>

struct certs certs;

void tls_setup(void)
{
    certs_make(&certs);
}

void tls_teardown(void)
{
    certs_remove(&certs);
}

sock_tls_config_t *client_config(const char *ca)
{
    sock_tls_config_t *cfg;
    cr_assert_eq(sock_tls_config_new(&cfg), 0);
    if (ca)
        cr_assert_eq(sock_tls_config_set_ca(cfg, ca, NULL), 0, "%s", sock_tls_config_error(cfg));
    return cfg;
}

sock_tls_config_t *server_config(const char *cert, const char *key)
{
    sock_tls_config_t *cfg;
    cr_assert_eq(sock_tls_config_new(&cfg), 0);
    cr_assert_eq(sock_tls_config_set_cert(cfg, cert, key), 0, "%s", sock_tls_config_error(cfg));
    return cfg;
}

static void *server_main(void *arg)
{
    struct server *srv = arg;
    sock_t conn;
    if (sock_accept(&srv->acceptor, &conn) < 0) {
        srv->rc = -1000;
        snprintf(srv->error, sizeof srv->error, "accept: %s", sock_error(&srv->acceptor));
        return NULL;
    }
    if (srv->timeout_ms >= 0)
        sock_set_timeout(&conn, srv->timeout_ms);
    srv->rc = srv->cfg ? sock_tls_accept(&conn, srv->cfg) : 0;
    snprintf(srv->error, sizeof srv->error, "%s", sock_error(&conn));
    if (srv->rc == 0 && srv->body) {
        srv->body(srv, &conn);
    } else if (srv->rc < 0) {
        /* What the client sent after the failure, straight from the
         * socket: a client must send nothing once the handshake failed. */
        char buf[4096];
        ssize_t n;
        int fd = sock_fd(&conn);
        while ((n = recv(fd, buf, sizeof buf, 0)) > 0) {
            srv->raw_after_failure += (size_t)n;
            if (memmem(buf, (size_t)n, "secret", 6))
                srv->saw_secret = 1;
        }
    }
    sock_close(&conn);
    return NULL;
}

void server_start(struct server *srv, const char *host, const sock_tls_config_t *cfg,
                  void (*body)(struct server *, sock_t *))
{
    srv->cfg = cfg;
    srv->body = body;
    if (!srv->timeout_ms)
        srv->timeout_ms = 10000;
    listener_on(&srv->acceptor, host, srv->port);
    /* A client that never comes must not leave the thread behind. */
    sock_set_timeout(&srv->acceptor, srv->timeout_ms);
    srv->thread = spawn(server_main, srv);
}

void server_join(struct server *srv, int ms)
{
    join_within(srv->thread, ms);
    sock_close(&srv->acceptor);
}

void client_connect(sock_t *c, const char *host, const char *port, int timeout_ms)
{
    sock_init(c);
    if (timeout_ms >= 0)
        expect_ok(c, sock_set_timeout(c, timeout_ms));
    expect_ok(c, sock_connect(c, host, port));
}
