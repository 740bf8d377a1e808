/*
 * internal.h - what the files of libsock-tls share and users never see.
 *
 * Every name here starts with tls__ (two underscores) so that it is visibly
 * private; in the shared library they are hidden (-fvisibility=hidden) and
 * only the functions marked SOCK_TLS_API are exported.  libsock-tls uses
 * only sock.h's public interface: it is a layer (sock_set_transport), not a
 * part of libsock.
 */
#ifndef SOCK_TLS_INTERNAL_H
#define SOCK_TLS_INTERNAL_H

#include "sock_tls.h"

#include <openssl/ssl.h>
#include <pthread.h>
#include <stddef.h>

#ifdef SOCK_BUILDING_SHARED
#define SOCK_TLS_API __attribute__((visibility("default")))
#else
#define SOCK_TLS_API
#endif

/* Longest text of a TLS failure kept by a connection or a configuration. */
#define TLS__ERRLEN 200
/* Bytes of the peer's first data kept to name a peer that is no TLS. */
#define TLS__PEEKLEN 48

/* ---- config.c ----------------------------------------------------------- */

struct sock_tls_config {
    SSL_CTX *ctx;
    int refs;              /* the owner's and one per connection (atomic) */
    int insecure;          /* sock_tls_config_set_insecure */
    int verify_client;     /* sock_tls_config_set_verify_client */
    int has_cert;          /* a certificate and key were loaded */
    /* The CAs to verify with are in place (atomic): the system's, loaded
     * by the first connection (tls__config_trust), or the program's own
     * (sock_tls_config_set_ca).  The lock makes that load happen once. */
    int trust_ready;
    pthread_mutex_t trust_lock;
    unsigned char alpn[256]; /* ALPN list in wire format (length-prefixed) */
    size_t alpn_len;
    char error[TLS__ERRLEN];
};

/* The process-wide default client configuration (system CAs), created on
 * first use; NULL (with *code set) if OpenSSL could not start. */
const sock_tls_config_t *tls__default_config(int *code);
void tls__config_ref(const sock_tls_config_t *cfg);
/* Load the system's CAs into cfg if it has no CAs of its own yet; once per
 * configuration, before its first connection.  0, or SOCK_ETLS with the
 * reason in err. */
int tls__config_trust(const sock_tls_config_t *cfg, char *err, size_t errlen);
void tls__config_unref(const sock_tls_config_t *cfg);

/* ---- transport.c -------------------------------------------------------- */

enum tls__state { TLS__HANDSHAKE, TLS__OPEN, TLS__FAILED };

/* What a verification failure was about, caught by the verify callback
 * while the certificate is at hand (OpenSSL keeps only the error code). */
struct tls__verify_fail {
    int err;                /* X509_V_ERR_..., 0 when none */
    int depth;              /* 0: the peer's own certificate */
    char subject[128];      /* the failing certificate's subject */
    char issuer[128];       /* and its issuer */
    char names[160];        /* the names it is for: 'a.test', '10.0.0.1' */
    char not_after[40], not_before[40];
};

/* One TLS connection: the state of the layer under a handle. */
struct tls__conn {
    pthread_mutex_t lock;   /* OpenSSL's SSL is one state for both directions */
    SSL *ssl;
    const sock_tls_config_t *cfg; /* a reference, released with the connection */
    int fd;
    int server;
    enum tls__state state;
    int failed_code;        /* TLS__FAILED: what every later call returns */
    unsigned want;          /* what the last -EAGAIN waits for */
    int sent_close;         /* close_notify sent */
    /* What the custom BIO saw on the descriptor. */
    int eof;                /* recv() returned 0: the peer's end */
    int local_shut;         /* recv() returned 0 after our own SHUT_RD */
    int sys_errno;          /* the last real failure of send()/recv() */
    unsigned char peek[TLS__PEEKLEN]; /* the first bytes the peer sent */
    size_t peek_len;
    unsigned char sent_start[TLS__PEEKLEN]; /* the first bytes we sent */
    size_t sent_len;
    int alert;              /* an alert the peer sent (-1: none) */
    struct tls__verify_fail vfail;
    char name[256];         /* the server name asked for (client) */
    char error[TLS__ERRLEN]; /* the failure, in words */
    /* Inspection, filled when the handshake completes. */
    const char *version, *cipher;
    char alpn[64];
    char subject[192];
    int verified;
};

extern const sock_transport_t tls__transport;

/* A connection for fd, client (name may be NULL only if insecure) or
 * server; NULL with *code and text in err on failure. */
struct tls__conn *tls__conn_new(const sock_tls_config_t *cfg, int fd, int server,
                                const char *name, int *code, char *err, size_t errlen);
void tls__conn_free(struct tls__conn *c);

/* One step of the handshake (called with c->lock held): 1 when complete,
 * -EAGAIN with c->want, 0 after our own read shutdown, or the failure's
 * code (c->error says why). */
int tls__handshake_step(struct tls__conn *c);

/* ---- errors.c ----------------------------------------------------------- */

/* Words for a failed handshake of c into c->error, from what OpenSSL's
 * error queue, the verify callback, the peer's alert and the peer's first
 * bytes say; returns the code (SOCK_ETLS, SOCK_ETRUNCATED, -errno). */
int tls__explain_handshake(struct tls__conn *c);

/* The verify callback (SSL_set_verify): records the first failure's
 * details in the connection, changes no verdict. */
int tls__verify_cb(int ok, X509_STORE_CTX *store);

/* The info callback (SSL_set_info_callback): records a received alert. */
void tls__info_cb(const SSL *ssl, int where, int ret);

/* The subject of cert as "CN=localhost, O=x" into buf. */
void tls__name_text(const X509_NAME *name, char *buf, size_t len);

/* printf into buf (len bytes), ending a text that did not fit with "...". */
void tls__textf(char *buf, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* OpenSSL's own reason for the first error in its queue, or "". */
const char *tls__openssl_reason(void);

#endif
