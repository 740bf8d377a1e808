/*
 * tls-bench - the libsock-tls side of part 5 of `make bench` (bench/run.py):
 * bulk throughput and handshakes per second, against openssl s_server,
 * s_client, s_time and socat OPENSSL on the same machine.
 *
 *   tls-bench serve CERT KEY COUNT       accept COUNT connections (0: until
 *                                        killed) on 127.0.0.1, port chosen by
 *                                        the system ("listening on ..."), read
 *                                        each to its end, close_notify back
 *   tls-bench send PORT CA MIB           send MIB MiB, end with close_notify,
 *                                        wait for the server's end
 *   tls-bench handshakes PORT CA SECONDS full handshakes one after another
 *                                        for SECONDS: "N handshakes in S s",
 *                                        with one configuration (its CA store
 *                                        loaded once); each connection is
 *                                        closed as soon as its handshake is
 *                                        complete, as openssl s_time closes
 *                                        its own: no close_notify, no wait for
 *                                        the server's session tickets or its
 *                                        close_notify, so that both count the
 *                                        same work
 *
 * The client verifies the server as every client of the library does (CA,
 * name "localhost").  The negotiated version and cipher go to stderr.
 */
#include "sock_tls.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int fail(sock_t *s, const char *what)
{
    fprintf(stderr, "tls-bench: %s: %s\n", what, sock_error(s));
    return 1;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int serve(const char *cert, const char *key, long count)
{
    sock_tls_config_t *cfg;
    if (sock_tls_config_new(&cfg) || sock_tls_config_set_cert(cfg, cert, key)) {
        fprintf(stderr, "tls-bench: %s\n", cfg ? sock_tls_config_error(cfg) : "no memory");
        return 1;
    }
    sock_t acep;
    sock_init(&acep);
    if (sock_bind(&acep, "127.0.0.1", "0") || sock_listen(&acep, -1))
        return fail(&acep, "listen");
    char addr[SOCK_ADDRSTRLEN];
    sock_local_addr(&acep, addr, sizeof addr);
    fprintf(stderr, "listening on %s\n", addr);
    static char buf[1 << 18];
    for (long i = 0; count == 0 || i < count; i++) {
        sock_t srv;
        if (sock_accept(&acep, &srv) < 0)
            return fail(&acep, "accept");
        sock_set_timeout(&srv, 60000);
        if (sock_tls_accept(&srv, cfg) == 0) {
            ssize_t n;
            while ((n = sock_recv(&srv, buf, sizeof buf)) > 0)
                ;
            if (n < 0 && count)
                return fail(&srv, "recv");
            sock_shutdown(&srv, SOCK_SHUT_WRITE);
        } else if (count) {
            return fail(&srv, "handshake");
        }
        sock_close(&srv);
    }
    sock_close(&acep);
    sock_tls_config_free(cfg);
    return 0;
}

static int client(sock_t *c, const char *port, const sock_tls_config_t *cfg, int quiet)
{
    sock_init(c);
    sock_set_timeout(c, 60000);
    if (sock_connect(c, "127.0.0.1", port) < 0)
        return fail(c, "connect");
    if (sock_tls_connect(c, cfg, "localhost") < 0)
        return fail(c, "handshake");
    if (!quiet)
        fprintf(stderr, "tls-bench: %s %s\n", sock_tls_version(c), sock_tls_cipher(c));
    return 0;
}

static int send_mib(const char *port, const sock_tls_config_t *cfg, long mib)
{
    sock_t c;
    if (client(&c, port, cfg, 0))
        return 1;
    static char buf[1 << 20];
    for (long i = 0; i < mib; i++)
        if (sock_send_all(&c, buf, sizeof buf, NULL) < 0)
            return fail(&c, "send");
    if (sock_shutdown(&c, SOCK_SHUT_WRITE) < 0)
        return fail(&c, "shutdown");
    char b;
    ssize_t n = sock_recv(&c, &b, 1);
    if (n != 0)
        return fail(&c, "the server's end");
    sock_close(&c);
    return 0;
}

static int handshakes(const char *port, const sock_tls_config_t *cfg, double secs)
{
    long count = 0;
    double t0 = now(), t;
    do {
        sock_t c;
        if (client(&c, port, cfg, count > 0))
            return 1;
        sock_close(&c);
        count++;
        t = now();
    } while (t - t0 < secs);
    printf("%ld handshakes in %.3f s\n", count, t - t0);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 5 && strcmp(argv[1], "serve") == 0)
        return serve(argv[2], argv[3], atol(argv[4]));
    if (argc != 5 || (strcmp(argv[1], "send") && strcmp(argv[1], "handshakes"))) {
        fprintf(stderr, "usage: tls-bench serve CERT KEY COUNT | send PORT CA MIB | "
                        "handshakes PORT CA SECONDS\n");
        return 2;
    }
    sock_tls_config_t *cfg;
    if (sock_tls_config_new(&cfg) || sock_tls_config_set_ca(cfg, argv[3], NULL)) {
        fprintf(stderr, "tls-bench: %s\n", cfg ? sock_tls_config_error(cfg) : "no memory");
        return 1;
    }
    int rc = argv[1][0] == 's' ? send_mib(argv[2], cfg, atol(argv[4]))
                               : handshakes(argv[2], cfg, atof(argv[4]));
    sock_tls_config_free(cfg);
    return rc;
}
