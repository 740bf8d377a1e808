/*
 * tls_util.h - helpers of the TLS tests: the certificates of the run, the
 * configurations made from them, and a server thread that accepts one
 * connection, runs the TLS handshake on it and then a body of the test's.
 */
#ifndef SOCK_TLS_TEST_UTIL_H
#define SOCK_TLS_TEST_UTIL_H

#include "../unit/util.h"
#include "certs.h"
#include "sock_tls.h"

#include <pthread.h>

/* The certificates of this test process (made by tls_setup, the suites'
 * .init, and removed by tls_teardown, their .fini, also after a failed
 * assertion). */
extern struct certs certs;
void tls_setup(void);
void tls_teardown(void);

/* A client configuration trusting ca (NULL: the system's CAs), a server
 * configuration presenting cert/key.  Fail the test on error. */
sock_tls_config_t *client_config(const char *ca);
sock_tls_config_t *server_config(const char *cert, const char *key);

/* One connection served on a thread of its own. */
struct server {
    sock_t acceptor;
    char port[8];
    const sock_tls_config_t *cfg; /* NULL: plain TCP, no handshake */
    void (*body)(struct server *srv, sock_t *conn); /* after the handshake, if it worked */
    void *arg;                    /* for the body */
    int timeout_ms;               /* of the accepted socket, -1 by default */
    pthread_t thread;
    int rc;                       /* the handshake's result */
    char error[SOCK_ERRLEN];      /* and its text */
    size_t raw_after_failure;     /* bytes read from the socket after a failed handshake */
    int saw_secret;               /* ... and whether they held "secret" */
};

/* Listen on host:0, start the thread; srv->port is the port. */
void server_start(struct server *srv, const char *host, const sock_tls_config_t *cfg,
                  void (*body)(struct server *, sock_t *));
/* Join the thread (within ms) and close the acceptor. */
void server_join(struct server *srv, int ms);

/* A connected client handle to host:port, with the timeout ms (-1: none). */
void client_connect(sock_t *c, const char *host, const char *port, int timeout_ms);

#endif
