/*
 * config.c - the configuration object: OpenSSL's SSL_CTX with defaults that
 * cannot be got wrong (system CAs, verification on, TLS 1.2 minimum), and
 * the few things a program changes.
 */
#include "internal.h"

#include <errno.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Record why a setter failed, in the configuration, and return code. */
__attribute__((format(printf, 3, 4))) static int config_fail(sock_tls_config_t *cfg, int code,
                                                             const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cfg->error, sizeof cfg->error, fmt, ap);
    va_end(ap);
    ERR_clear_error();
    return code;
}

/* ALPN's choice on the server side: our first protocol the client offers;
 * none in common ends the handshake, as RFC 7301 asks. */
static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                       const unsigned char *in, unsigned inlen, void *arg)
{
    (void)ssl;
    const sock_tls_config_t *cfg = arg;
    if (!cfg->alpn_len)
        return SSL_TLSEXT_ERR_NOACK;
    for (size_t i = 0; i < cfg->alpn_len; i += 1u + cfg->alpn[i]) {
        for (unsigned j = 0; j < inlen; j += 1u + in[j]) {
            if (in[j] == cfg->alpn[i] && j + 1u + in[j] <= inlen &&
                memcmp(in + j + 1, cfg->alpn + i + 1, in[j]) == 0) {
                *out = in + j + 1;
                *outlen = in[j];
                return SSL_TLSEXT_ERR_OK;
            }
        }
    }
    return SSL_TLSEXT_ERR_ALERT_FATAL;
}

SOCK_TLS_API int sock_tls_config_new(sock_tls_config_t **out)
{
    if (!out)
        return -EINVAL;
    *out = NULL;
    sock_tls_config_t *cfg = calloc(1, sizeof *cfg);
    if (!cfg)
        return -ENOMEM;
    /* One context for both roles: each connection sets its own. */
    cfg->ctx = SSL_CTX_new(TLS_method());
    if (!cfg->ctx)
        goto fail;
    if (!SSL_CTX_set_min_proto_version(cfg->ctx, TLS1_2_VERSION))
        goto fail;
    /* Renegotiation (TLS 1.2) is a source of attacks and of reads needed
     * by a write; nobody needs it. */
    SSL_CTX_set_options(cfg->ctx, SSL_OP_NO_RENEGOTIATION);
    /* A send may stop after any record and be called again with the same
     * bytes from another address (sock_send_all's continuation). */
    SSL_CTX_set_mode(cfg->ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    /* There is no resumption API here, so a server keeps no session cache
     * (its memory would grow with every client); tickets still work. */
    SSL_CTX_set_session_cache_mode(cfg->ctx, SSL_SESS_CACHE_OFF);
    /* The system's CAs come later, with the first connection
     * (tls__config_trust), unless the program sets its own first. */
    SSL_CTX_set_alpn_select_cb(cfg->ctx, alpn_select, cfg);
    pthread_mutex_init(&cfg->trust_lock, NULL);
    cfg->refs = 1;
    *out = cfg;
    return 0;
fail:
    ERR_clear_error();
    SSL_CTX_free(cfg->ctx);
    free(cfg);
    return SOCK_ETLS;
}

void tls__config_ref(const sock_tls_config_t *cfg)
{
    __atomic_add_fetch(&((sock_tls_config_t *)cfg)->refs, 1, __ATOMIC_RELAXED);
}

void tls__config_unref(const sock_tls_config_t *cfg)
{
    sock_tls_config_t *c = (sock_tls_config_t *)cfg;
    if (__atomic_sub_fetch(&c->refs, 1, __ATOMIC_ACQ_REL) != 0)
        return;
    SSL_CTX_free(c->ctx);
    pthread_mutex_destroy(&c->trust_lock);
    free(c);
}

/* Parsing the system's bundle (Debian: about 140 certificates) takes some
 * 25 ms, more than a whole handshake: a configuration that gets its own
 * CAs (sock_tls_config_set_ca) right after sock_tls_config_new must not
 * pay it, so the load waits for the first connection.  Every connection
 * of the configuration comes here, both roles (a server's store also
 * completes its own chain), so that the store is complete before any of
 * them reads it, and is never changed while one does; they all share it. */
int tls__config_trust(const sock_tls_config_t *cfg, char *err, size_t errlen)
{
    sock_tls_config_t *c = (sock_tls_config_t *)cfg;
    if (__atomic_load_n(&c->trust_ready, __ATOMIC_ACQUIRE))
        return 0;
    int rc = 0;
    pthread_mutex_lock(&c->trust_lock);
    if (!c->trust_ready) {
        ERR_clear_error();
        if (SSL_CTX_set_default_verify_paths(c->ctx)) {
            __atomic_store_n(&c->trust_ready, 1, __ATOMIC_RELEASE);
        } else {
            const char *why = tls__openssl_reason();
            snprintf(err, errlen, "loading the system's CA certificates: %s",
                     *why ? why : "failed");
            rc = SOCK_ETLS;
        }
        ERR_clear_error();
    }
    pthread_mutex_unlock(&c->trust_lock);
    return rc;
}

SOCK_TLS_API void sock_tls_config_free(sock_tls_config_t *cfg)
{
    if (cfg)
        tls__config_unref(cfg);
}

SOCK_TLS_API const char *sock_tls_config_error(const sock_tls_config_t *cfg)
{
    return cfg ? cfg->error : "invalid argument: NULL configuration";
}

/* The process-wide default, made once; it lives as long as the process. */
static sock_tls_config_t *default_cfg;
static int default_code;
static pthread_once_t default_once = PTHREAD_ONCE_INIT;

static void make_default(void)
{
    default_code = sock_tls_config_new(&default_cfg);
}

const sock_tls_config_t *tls__default_config(int *code)
{
    pthread_once(&default_once, make_default);
    *code = default_code;
    return default_cfg;
}

/* The reason of a failed file load: the system's (missing file) if there
 * is one, else OpenSSL's. */
static const char *load_reason(const char *path)
{
    FILE *f = path ? fopen(path, "r") : NULL;
    if (path && !f)
        return strerror(errno);
    if (f)
        fclose(f);
    const char *r = tls__openssl_reason();
    return *r ? r : "not usable";
}

SOCK_TLS_API int sock_tls_config_set_ca(sock_tls_config_t *cfg, const char *file, const char *dir)
{
    if (!cfg)
        return -EINVAL;
    if (!file && !dir)
        return config_fail(cfg, -EINVAL, "set_ca: give a CA file, a CA directory or both");
    /* A fresh store, so that the system's CAs are no longer trusted (nor
     * loaded: see tls__config_trust). */
    X509_STORE *store = X509_STORE_new();
    if (!store)
        return config_fail(cfg, -ENOMEM, "set_ca: out of memory");
    pthread_mutex_lock(&cfg->trust_lock);
    SSL_CTX_set_cert_store(cfg->ctx, store);
    __atomic_store_n(&cfg->trust_ready, 1, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&cfg->trust_lock);
    if (file && !X509_STORE_load_file(store, file))
        return config_fail(cfg, SOCK_ETLS, "CA file '%s': %s", file, load_reason(file));
    if (dir && !X509_STORE_load_path(store, dir))
        return config_fail(cfg, SOCK_ETLS, "CA directory '%s': %s", dir, load_reason(dir));
    ERR_clear_error();
    return 0;
}

SOCK_TLS_API int sock_tls_config_set_cert(sock_tls_config_t *cfg, const char *cert_file,
                                          const char *key_file)
{
    if (!cfg)
        return -EINVAL;
    if (!cert_file || !key_file)
        return config_fail(cfg, -EINVAL, "set_cert: both a certificate file and a key file are needed");
    if (SSL_CTX_use_certificate_chain_file(cfg->ctx, cert_file) != 1)
        return config_fail(cfg, SOCK_ETLS, "certificate file '%s': %s", cert_file,
                           load_reason(cert_file));
    if (SSL_CTX_use_PrivateKey_file(cfg->ctx, key_file, SSL_FILETYPE_PEM) != 1) {
        if (ERR_GET_REASON(ERR_peek_error()) != X509_R_KEY_VALUES_MISMATCH)
            return config_fail(cfg, SOCK_ETLS, "key file '%s': %s", key_file,
                               load_reason(key_file));
        return config_fail(cfg, SOCK_ETLS, "key file '%s' does not match certificate '%s'",
                           key_file, cert_file);
    }
    if (SSL_CTX_check_private_key(cfg->ctx) != 1)
        return config_fail(cfg, SOCK_ETLS, "key file '%s' does not match certificate '%s'",
                           key_file, cert_file);
    cfg->has_cert = 1;
    return 0;
}

SOCK_TLS_API int sock_tls_config_set_alpn(sock_tls_config_t *cfg, const char *protocols)
{
    if (!cfg)
        return -EINVAL;
    unsigned char wire[sizeof cfg->alpn];
    size_t len = 0;
    const char *p = protocols ? protocols : "";
    while (*p) {
        size_t n = strcspn(p, ",");
        if (n == 0 || n > 255)
            return config_fail(cfg, -EINVAL, "alpn '%s': each protocol needs 1 to 255 bytes",
                               protocols);
        if (len + 1 + n > sizeof wire)
            return config_fail(cfg, -EINVAL, "alpn '%s': the list is longer than %zu bytes",
                               protocols, sizeof wire);
        wire[len] = (unsigned char)n;
        memcpy(wire + len + 1, p, n);
        len += 1 + n;
        p += n;
        if (*p == ',' && !*++p)
            return config_fail(cfg, -EINVAL, "alpn '%s': empty protocol after ','", protocols);
    }
    /* OpenSSL's set_alpn_protos returns 0 on success, unlike its other calls. */
    if (SSL_CTX_set_alpn_protos(cfg->ctx, len ? wire : NULL, (unsigned)len) != 0)
        return config_fail(cfg, -ENOMEM, "alpn: out of memory");
    memcpy(cfg->alpn, wire, len);
    cfg->alpn_len = len;
    return 0;
}

SOCK_TLS_API int sock_tls_config_set_verify_client(sock_tls_config_t *cfg, int on)
{
    if (!cfg)
        return -EINVAL;
    cfg->verify_client = on != 0;
    return 0;
}

SOCK_TLS_API int sock_tls_config_set_insecure(sock_tls_config_t *cfg, int on)
{
    if (!cfg)
        return -EINVAL;
    cfg->insecure = on != 0;
    return 0;
}
