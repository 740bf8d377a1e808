/*
 * handshake.c - TLS as a step of the lifecycle: the client's and the
 * server's handshake on a connected handle, and what it agreed.
 *
 * The handshake runs through libsock itself: the layer is installed first
 * and one sock_recv() drives it (the layer's recv hook steps the handshake
 * and reports 0 when it is complete), so that it gets exactly libsock's
 * waits: one deadline of the socket's timeout for the whole handshake, the
 * shutdown wake, -EAGAIN in non-blocking mode.  Installing the layer before
 * the handshake also means that a handle never carries clear text once TLS
 * was asked for: a failed handshake leaves the layer in place, failing
 * every call.
 */
#include "internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

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
        char why[SOCK_ERRLEN];
        snprintf(why, sizeof why, "%s", sock_error(s));
        rc = sock_set_error(s, rc, "tls handshake with %s: not complete within the timeout (%s)",
                            peer, why);
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

/* Step the handshake within libsock's waits (see the top of the file). */
static int drive(sock_t *s, struct tls__conn *c)
{
    pthread_mutex_lock(&c->lock);
    int open = c->state == TLS__OPEN;
    c->driving = !open;
    pthread_mutex_unlock(&c->lock);
    if (open)
        return 0;
    char byte;
    ssize_t n = sock_recv(s, &byte, 1);
    /* A send of another thread may step the handshake too (non-blocking
     * mode): read its state under the lock. */
    pthread_mutex_lock(&c->lock);
    c->driving = 0;
    enum tls__state state = c->state;
    pthread_mutex_unlock(&c->lock);
    if (n == -EAGAIN && state == TLS__HANDSHAKE)
        return -EAGAIN;
    return finish(s, c, (int)n);
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
