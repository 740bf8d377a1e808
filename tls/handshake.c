/*
 * handshake.c - TLS as a step of the lifecycle: the client's and the
 * server's handshake on a connected handle, and what it agreed.
 *
 * The handshake is a step of its own, with libsock's rules for waiting:
 * one deadline of the socket's timeout (sock_timeout) for the whole
 * handshake, -EAGAIN at once in non-blocking mode (sock_is_nonblocking),
 * and the shutdown wake (a SHUT_READ makes the descriptor readable; the
 * layer's read then says it was our own doing, and the handshake ends with
 * SOCK_ECLOSED).  It waits with poll() on sock_fd(s) for what OpenSSL
 * asks, so the trace shows the handshake alone.  Installing the layer before
 * the handshake also means that a handle never carries clear text once TLS
 * was asked for: a failed handshake leaves the layer in place, failing
 * every call.
 */
#include "internal.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static struct tls__conn *conn_of(const sock_t *s)
{
    return s ? sock_transport_ctx(s, &tls__transport) : NULL;
}

static void trace_handshake(sock_t *s, struct tls__conn *c, int rc)
{
    char args[160];
    const char *who = c->server ? "server" : c->name;
    if (rc == 0)
        tls__textf(args, sizeof args, "\"%s\", %s, %s, %s%s%s", who, c->version, c->cipher,
                 *c->subject ? c->subject : "no peer certificate",
                 *c->alpn ? ", alpn " : "", c->alpn);
    else
        tls__textf(args, sizeof args, "\"%s\"", who);
    if (rc == 0 && !c->server && !c->verified)
        strncat(args, ", UNVERIFIED", sizeof args - strlen(args) - 1);
    sock_trace_step(s, "tls_handshake", rc, args);
}

/* Finish a handshake that ended with rc (not -EAGAIN): its text and its
 * trace line. */
static int finish(sock_t *s, struct tls__conn *c, int rc)
{
    char peer[SOCK_ADDRSTRLEN] = "?";
    sock_peer_addr(s, peer, sizeof peer);
    if (c->state == TLS__OPEN) {
        rc = 0;
    } else if (rc == -ETIMEDOUT) {
        rc = sock_set_error(s, rc, "tls handshake with %s: not complete within the timeout (%d ms)",
                            peer, sock_timeout(s));
    } else if (rc == SOCK_ECLOSED) {
        rc = sock_set_error(s, rc, "tls handshake with %s: the socket was shut down locally",
                            peer);
    } else if (c->state == TLS__FAILED) {
        rc = sock_set_error(s, c->failed_code, "tls handshake with %s: %s", peer, c->error);
    } else if (rc >= 0) {
        /* The stream ended before the handshake did, in our own read. */
        rc = sock_set_error(s, SOCK_ETLS, "tls handshake with %s: the peer closed the connection",
                            peer);
    } else {
        char why[SOCK_ERRLEN];
        snprintf(why, sizeof why, "%s", sock_error(s));
        rc = sock_set_error(s, rc, "tls handshake with %s: %s", peer, why);
    }
    trace_handshake(s, c, rc);
    return rc;
}

/* Milliseconds of CLOCK_MONOTONIC. */
static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* One step of the handshake under the connection's lock (a send of
 * another thread in non-blocking mode may step it too): 1 complete, 0 our
 * own read shutdown, -EAGAIN with *want, or the failure's code. */
static int step(struct tls__conn *c, unsigned *want)
{
    pthread_mutex_lock(&c->lock);
    int rc = c->state == TLS__OPEN     ? 1
             : c->state == TLS__FAILED ? c->failed_code
                                       : tls__handshake_step(c);
    *want = c->want;
    pthread_mutex_unlock(&c->lock);
    return rc;
}

/* Step the handshake within libsock's waits (see the top of the file). */
static int drive(sock_t *s, struct tls__conn *c)
{
    int timeout = sock_timeout(s);
    long long deadline = timeout >= 0 ? now_ms() + timeout : -1;
    for (;;) {
        unsigned want = 0;
        int rc = step(c, &want);
        if (rc == 1)
            return finish(s, c, 0);
        if (rc == 0)
            return finish(s, c, SOCK_ECLOSED);
        if (rc != -EAGAIN)
            return finish(s, c, rc);
        if (sock_is_nonblocking(s))
            return -EAGAIN;
        long long left = deadline < 0 ? -1 : deadline - now_ms();
        if (deadline >= 0 && left <= 0)
            return finish(s, c, -ETIMEDOUT);
        struct pollfd p = {.fd = sock_fd(s), .events = want == SOCK_WRITABLE ? POLLOUT : POLLIN};
        int n = poll(&p, 1, left < 0 ? -1 : left > INT_MAX ? INT_MAX : (int)left);
        if (n < 0 && errno != EINTR)
            return finish(s, c, sock_set_error(s, -errno, "poll: %s", strerror(errno)));
    }
}

static int start(sock_t *s, const sock_tls_config_t *cfg, const char *name, int server)
{
    if (!s)
        return -EINVAL;
    const char *step = server ? "tls accept" : "tls connect";
    if (conn_of(s))
        return sock_set_error(s, -EALREADY, "%s: the socket already has TLS", step);
    if (sock_fd(s) < 0)
        return sock_set_error(s, -ENOTCONN, "%s: the socket is not connected (connect or accept first)",
                              step);
    int code = 0;
    if (!cfg) {
        if (server)
            return sock_set_error(s, -EINVAL, "tls accept: a server needs a configuration with "
                                              "its certificate (sock_tls_config_set_cert)");
        cfg = tls__default_config(&code);
        if (!cfg)
            return sock_set_error(s, code, "tls connect: OpenSSL could not start");
    }
    if (server && !cfg->has_cert)
        return sock_set_error(s, -EINVAL, "tls accept: the configuration has no certificate "
                                          "(sock_tls_config_set_cert)");
    if (!server && !name && !cfg->insecure)
        return sock_set_error(s, -EINVAL, "tls connect: a server name to verify is needed "
                                          "(or the insecure option)");
    char err[TLS__ERRLEN];
    struct tls__conn *c = tls__conn_new(cfg, sock_fd(s), server, name, &code, err, sizeof err);
    if (!c)
        return sock_set_error(s, code, "%s: %s", step, err);
    int rc = sock_set_transport(s, &tls__transport, c);
    if (rc < 0) {
        tls__conn_free(c);
        return rc;
    }
    return drive(s, c);
}

SOCK_TLS_API int sock_tls_connect(sock_t *s, const sock_tls_config_t *cfg, const char *server_name)
{
    return start(s, cfg, server_name, 0);
}

SOCK_TLS_API int sock_tls_accept(sock_t *s, const sock_tls_config_t *cfg)
{
    return start(s, cfg, NULL, 1);
}

SOCK_TLS_API int sock_tls_handshake(sock_t *s)
{
    struct tls__conn *c = conn_of(s);
    if (!c)
        return s ? sock_set_error(s, -EINVAL, "tls handshake: the socket has no TLS") : -EINVAL;
    if (c->state == TLS__FAILED)
        return c->failed_code;
    return drive(s, c);
}

SOCK_TLS_API unsigned sock_tls_want(const sock_t *s)
{
    struct tls__conn *c = conn_of(s);
    return c ? c->want : 0;
}

static const struct tls__conn *open_conn(const sock_t *s)
{
    const struct tls__conn *c = conn_of(s);
    return c && c->state == TLS__OPEN ? c : NULL;
}

SOCK_TLS_API const char *sock_tls_version(const sock_t *s)
{
    const struct tls__conn *c = open_conn(s);
    return c ? c->version : NULL;
}

SOCK_TLS_API const char *sock_tls_cipher(const sock_t *s)
{
    const struct tls__conn *c = open_conn(s);
    return c ? c->cipher : NULL;
}

SOCK_TLS_API const char *sock_tls_alpn(const sock_t *s)
{
    const struct tls__conn *c = open_conn(s);
    return c ? c->alpn : NULL;
}

SOCK_TLS_API const char *sock_tls_peer_subject(const sock_t *s)
{
    const struct tls__conn *c = open_conn(s);
    return c ? c->subject : NULL;
}

SOCK_TLS_API int sock_tls_verified(const sock_t *s)
{
    const struct tls__conn *c = open_conn(s);
    return c ? c->verified : -EINVAL;
}
