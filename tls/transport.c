/*
 * transport.c - the layer under the handle: OpenSSL's SSL over the
 * handle's descriptor, as a sock_transport_t (see "Layers" in sock.h).
 *
 * OpenSSL talks to the descriptor through a BIO of our own rather than its
 * socket BIO: ours sends with MSG_NOSIGNAL (libsock never raises SIGPIPE)
 * and never waits (MSG_DONTWAIT: libsock does the waiting, with the
 * socket's timeout and the shutdown wake), and it keeps what it saw - the
 * peer's first bytes, an end of stream, the system's error - so that a
 * failure can be told in words.
 */
#include "internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* ---------------------------------------------------------------- the BIO */

/* Did the peer really end its stream?  recv() also returns 0 after our
 * own shutdown(SHUT_RD) (another thread waking a reader), and that is no
 * truncation: then the connection has received no FIN and is still
 * ESTABLISHED (or FIN_WAIT after our own write shutdown).  A descriptor
 * that is no TCP socket cannot tell, and counts as the peer's end. */
static int peer_ended(int fd)
{
    struct tcp_info ti;
    socklen_t len = sizeof ti;
    if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) < 0)
        return 1;
    return !(ti.tcpi_state == TCP_ESTABLISHED || ti.tcpi_state == TCP_FIN_WAIT1 ||
             ti.tcpi_state == TCP_FIN_WAIT2);
}


static void keep_start(unsigned char *dst, size_t *have, const void *src, size_t n)
{
    size_t room = TLS__PEEKLEN - *have;
    size_t k = n < room ? n : room;
    memcpy(dst + *have, src, k);
    *have += k;
}

static int bio_write(BIO *b, const char *buf, int len)
{
    struct tls__conn *c = BIO_get_data(b);
    BIO_clear_retry_flags(b);
    ssize_t n = send(c->fd, buf, (size_t)len, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n >= 0) {
        if (c->state == TLS__HANDSHAKE)
            keep_start(c->sent_start, &c->sent_len, buf, (size_t)n);
        return (int)n;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
        BIO_set_retry_write(b);
    else
        c->sys_errno = errno;
    return -1;
}

static int bio_read(BIO *b, char *buf, int len)
{
    struct tls__conn *c = BIO_get_data(b);
    BIO_clear_retry_flags(b);
    ssize_t n = recv(c->fd, buf, (size_t)len, MSG_DONTWAIT);
    if (n > 0) {
        if (c->state == TLS__HANDSHAKE)
            keep_start(c->peek, &c->peek_len, buf, (size_t)n);
        return (int)n;
    }
    if (n == 0) {
        /* Our own read shutdown must not reach OpenSSL as an end of
         * stream: it would answer it with an alert to the peer and give
         * up the connection.  It is a wait that ends (see io_error). */
        if (!peer_ended(c->fd)) {
            c->local_shut = 1;
            BIO_set_retry_read(b);
            return -1;
        }
        c->eof = 1;
        return 0;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
        BIO_set_retry_read(b);
    else
        c->sys_errno = errno;
    return -1;
}

static long bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
    (void)num, (void)ptr;
    struct tls__conn *c = BIO_get_data(b);
    switch (cmd) {
    case BIO_CTRL_FLUSH:
        return 1; /* nothing is buffered here */
    case BIO_CTRL_EOF:
        /* OpenSSL asks this to tell a peer's end of stream (truncation
         * unless close_notify came first) from a failed read. */
        return c && c->eof;
    default:
        return 0;
    }
}

static BIO_METHOD *bio_method;
static pthread_once_t bio_once = PTHREAD_ONCE_INIT;

static void make_bio_method(void)
{
    BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "sock");
    if (m && BIO_meth_set_write(m, bio_write) && BIO_meth_set_read(m, bio_read) &&
        BIO_meth_set_ctrl(m, bio_ctrl))
        bio_method = m;
    else
        BIO_meth_free(m);
}

/* -------------------------------------------------------- the connection */

static int is_ip_literal(const char *name, char *out, size_t len)
{
    /* "[::1]" is how people write an IPv6 host with a port; accept it. */
    size_t n = strlen(name);
    if (n >= 2 && name[0] == '[' && name[n - 1] == ']') {
        if (n - 2 >= len)
            return 0;
        memcpy(out, name + 1, n - 2);
        out[n - 2] = '\0';
    } else {
        if (n >= len)
            return 0;
        memcpy(out, name, n + 1);
    }
    unsigned char tmp[sizeof(struct in6_addr)];
    return inet_pton(AF_INET, out, tmp) == 1 || inet_pton(AF_INET6, out, tmp) == 1;
}

/* A name that can be a DNS name: what SNI and the check accept. */
static int valid_name(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > 253)
        return 0;
    for (const char *p = name; *p; p++)
        if (*p <= ' ' || *p >= 127 || *p == '/' || *p == '\\')
            return 0;
    return 1;
}

/* Nagle's algorithm off (TCP_NODELAY), for the whole connection.  TLS
 * writes bytes the application did not: a flight of handshake messages in
 * several writes, the client's Finished just before the application's
 * first request, the server's session tickets just before its first reply.
 * With Nagle, the application's next small write then waits for the
 * peer's ACK of those, which the peer delays: 40 ms per exchange on
 * loopback.  Each TLS write is a whole record already, so there is little
 * left for Nagle to coalesce; a program may turn it back on after the
 * handshake (sock_set_nodelay(s, 0)). */
static void nodelay(int fd)
{
    int on = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on); /* not TCP: no matter */
}

struct tls__conn *tls__conn_new(const sock_tls_config_t *cfg, int fd, int server,
                                const char *name, int *code, char *err, size_t errlen)
{
    pthread_once(&bio_once, make_bio_method);
    char ip[64];
    int is_ip = 0;
    if (!server && name) {
        is_ip = is_ip_literal(name, ip, sizeof ip);
        if (!is_ip && !valid_name(name)) {
            *code = -EINVAL;
            snprintf(err, errlen, "server name '%.64s' is no host name or IP address", name);
            return NULL;
        }
    }
    *code = tls__config_trust(cfg, err, errlen);
    if (*code < 0)
        return NULL;
    struct tls__conn *c = calloc(1, sizeof *c);
    if (!c || !bio_method) {
        free(c);
        *code = -ENOMEM;
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&c->lock, NULL);
    c->fd = fd;
    c->server = server;
    c->alert = -1;
    c->state = TLS__HANDSHAKE;
    c->cfg = cfg;
    tls__config_ref(cfg);
    ERR_clear_error();
    BIO *bio = NULL;
    c->ssl = SSL_new(cfg->ctx);
    if (!c->ssl || !(bio = BIO_new(bio_method)))
        goto fail;
    BIO_set_data(bio, c);
    BIO_set_init(bio, 1);
    SSL_set_bio(c->ssl, bio, bio); /* one reference, owned by the SSL */
    SSL_set_app_data(c->ssl, c);
    SSL_set_info_callback(c->ssl, tls__info_cb);
    if (server) {
        SSL_set_accept_state(c->ssl);
        int mode = cfg->verify_client ? SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT
                                      : SSL_VERIFY_NONE;
        SSL_set_verify(c->ssl, mode, cfg->verify_client ? tls__verify_cb : NULL);
    } else {
        SSL_set_connect_state(c->ssl);
        if (name)
            snprintf(c->name, sizeof c->name, "%s", name);
        if (!cfg->insecure) {
            SSL_set_verify(c->ssl, SSL_VERIFY_PEER, tls__verify_cb);
            SSL_set_hostflags(c->ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
            if (is_ip ? !X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl), ip)
                      : !SSL_set1_host(c->ssl, name))
                goto fail;
        } else {
            SSL_set_verify(c->ssl, SSL_VERIFY_NONE, NULL);
        }
        /* SNI carries host names only (RFC 6066), never addresses. */
        if (name && !is_ip && !SSL_set_tlsext_host_name(c->ssl, name))
            goto fail;
    }
    nodelay(fd);
    return c;
fail:
    *code = -ENOMEM;
    snprintf(err, errlen, "setting up TLS: %s", *tls__openssl_reason() ? tls__openssl_reason()
                                                                       : "out of memory");
    if (!c->ssl || !bio)
        BIO_free(bio);
    tls__conn_free(c);
    return NULL;
}

void tls__conn_free(struct tls__conn *c)
{
    if (!c)
        return;
    SSL_free(c->ssl);
    tls__config_unref(c->cfg);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

/* ---------------------------------------------------------- the handshake */

static void handshake_done(struct tls__conn *c)
{
    c->state = TLS__OPEN;
    c->version = SSL_get_version(c->ssl);
    c->cipher = SSL_get_cipher_name(c->ssl);
    const unsigned char *proto = NULL;
    unsigned plen = 0;
    SSL_get0_alpn_selected(c->ssl, &proto, &plen);
    if (plen >= sizeof c->alpn)
        plen = sizeof c->alpn - 1;
    if (proto)
        memcpy(c->alpn, proto, plen);
    c->alpn[plen] = '\0';
    X509 *peer = SSL_get0_peer_certificate(c->ssl);
    if (peer)
        tls__name_text(X509_get_subject_name(peer), c->subject, sizeof c->subject);
    c->verified = c->server ? (c->cfg->verify_client && peer != NULL) : !c->cfg->insecure;
}

int tls__handshake_step(struct tls__conn *c)
{
    ERR_clear_error();
    int r = SSL_do_handshake(c->ssl);
    if (r == 1) {
        handshake_done(c);
        return 1;
    }
    switch (SSL_get_error(c->ssl, r)) {
    case SSL_ERROR_WANT_READ:
        if (c->local_shut) {
            c->local_shut = 0;
            return 0; /* our own read shutdown: libsock says SOCK_ECLOSED */
        }
        c->want = SOCK_READABLE;
        return -EAGAIN;
    case SSL_ERROR_WANT_WRITE:
        c->want = SOCK_WRITABLE;
        return -EAGAIN;
    default:
        c->state = TLS__FAILED;
        c->failed_code = tls__explain_handshake(c);
        return c->failed_code;
    }
}

/* --------------------------------------------------------- the transport */

/* A failed SSL_read/SSL_write/SSL_shutdown after the handshake, as a code:
 * -EAGAIN with the wait, 0 for close_notify, SOCK_ETRUNCATED for an end
 * without it, -errno for the system's failures, SOCK_ETLS for the rest
 * (which leave the connection unusable). */
static int io_error(struct tls__conn *c, int r, unsigned *want)
{
    int e = SSL_get_error(c->ssl, r);
    switch (e) {
    case SSL_ERROR_WANT_READ:
        if (c->local_shut) {
            c->local_shut = 0;
            return 0; /* libsock says SOCK_ECLOSED */
        }
        *want = c->want = SOCK_READABLE;
        return -EAGAIN;
    case SSL_ERROR_WANT_WRITE:
        *want = c->want = SOCK_WRITABLE;
        return -EAGAIN;
    case SSL_ERROR_ZERO_RETURN:
        return 0;
    default:
        break;
    }
    int code;
    if (c->eof) {
        code = SOCK_ETRUNCATED;
        tls__textf(c->error, sizeof c->error, "the peer ended the stream without TLS close_notify");
    } else if (c->sys_errno) {
        code = -c->sys_errno;
        tls__textf(c->error, sizeof c->error, "%s", strerror(c->sys_errno));
    } else {
        code = SOCK_ETLS;
        const char *why = tls__openssl_reason();
        if (c->alert >= 0)
            tls__textf(c->error, sizeof c->error, "the peer sent alert '%s'",
                     SSL_alert_desc_string_long(c->alert));
        else
            tls__textf(c->error, sizeof c->error, "%s", *why ? why : "protocol error");
    }
    ERR_clear_error();
    c->state = TLS__FAILED;
    c->failed_code = code;
    return code;
}

/* Before any application byte moves, the handshake must be complete (in
 * non-blocking mode a send or recv may come first; it then drives the
 * handshake).  Returns 1 when open, or the code to return. */
static int ready(struct tls__conn *c, unsigned *want)
{
    if (c->state == TLS__OPEN)
        return 1;
    if (c->state == TLS__FAILED)
        return c->failed_code;
    int rc = tls__handshake_step(c);
    if (rc == -EAGAIN)
        *want = c->want;
    return rc;
}

static ssize_t tls_send(void *ctx, int fd, const void *buf, size_t len, unsigned *want)
{
    (void)fd;
    struct tls__conn *c = ctx;
    pthread_mutex_lock(&c->lock);
    ssize_t rc = ready(c, want);
    if (rc == 1) {
        size_t done = 0;
        ERR_clear_error();
        int r = SSL_write_ex(c->ssl, buf, len, &done);
        rc = r == 1 ? (ssize_t)done : io_error(c, r, want);
        if (rc == 0)
            rc = -EPIPE; /* cannot send after the peer's close_notify */
    }
    pthread_mutex_unlock(&c->lock);
    return rc;
}

static ssize_t tls_recv(void *ctx, int fd, void *buf, size_t len, unsigned *want)
{
    (void)fd;
    struct tls__conn *c = ctx;
    pthread_mutex_lock(&c->lock);
    ssize_t rc = ready(c, want);
    if (rc == 1) {
        size_t got = 0;
        ERR_clear_error();
        int r = SSL_read_ex(c->ssl, buf, len, &got);
        rc = r == 1 ? (ssize_t)got : io_error(c, r, want);
    }
    pthread_mutex_unlock(&c->lock);
    return rc;
}

static size_t tls_pending(void *ctx)
{
    struct tls__conn *c = ctx;
    pthread_mutex_lock(&c->lock);
    int n = c->state == TLS__OPEN ? SSL_pending(c->ssl) : 0;
    pthread_mutex_unlock(&c->lock);
    return n > 0 ? (size_t)n : 0;
}

static int tls_shutdown(void *ctx, int fd, unsigned *want)
{
    (void)fd;
    struct tls__conn *c = ctx;
    pthread_mutex_lock(&c->lock);
    int rc = 0;
    /* Without a complete handshake there is no TLS stream to end. */
    if (c->state == TLS__OPEN && !c->sent_close) {
        ERR_clear_error();
        int r = SSL_shutdown(c->ssl);
        if (r >= 0) {
            c->sent_close = 1;
        } else {
            rc = io_error(c, r, want);
            if (rc == 0)
                c->sent_close = 1;
        }
    }
    pthread_mutex_unlock(&c->lock);
    return rc;
}

static void tls_release(void *ctx)
{
    tls__conn_free(ctx);
}

const sock_transport_t tls__transport = {
    .name = "tls",
    .send = tls_send,
    .recv = tls_recv,
    .pending = tls_pending,
    .shutdown = tls_shutdown,
    .release = tls_release,
};
