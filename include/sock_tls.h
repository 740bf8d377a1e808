/*
 * sock_tls.h - TLS on a libsock handle, correct by default (libsock-tls).
 *
 * A separate library on OpenSSL 3 (link with `pkg-config --libs sock-tls`),
 * so that libsock itself stays on libc and pthreads.  TLS is one more step
 * in the lifecycle of sock.h, after the connection is made:
 *
 *   client                                   server
 *   sock_connect(&cli, "example.test", "443") sock_accept(&acep, &srv)
 *   sock_tls_connect(&cli, NULL, "example.test")
 *                                            sock_tls_accept(&srv, cfg)
 *   then sock_send, sock_recv, the *_all and framing calls, sock_pipe_t,
 *   timeouts, the shutdown wake, non-blocking mode and the poller, all
 *   unchanged, on the secured stream (a transport under the handle, see
 *   "Layers" in sock.h).
 *
 * Defaults that cannot be got wrong: a client verifies the server's
 * certificate against the system's CAs and checks that it is for the name
 * (or IP address) asked for; it sends that name as SNI; TLS 1.2 is the
 * oldest version spoken.  Turning verification off is one explicitly named
 * option (sock_tls_config_set_insecure).
 *
 * Error convention: that of sock.h.  0 (or a documented non-negative value)
 * on success, a negative code on failure: SOCK_ETLS for a TLS failure (the
 * handshake, a certificate, a peer that does not speak TLS), with the
 * reason in sock_error() in words a person can act on, e.g.
 *   "tls handshake with 127.0.0.1:4433: certificate verify failed for
 *    'localhost': self-signed certificate",
 *   "... host name mismatch: certificate is for 'a.test', not 'b.test'",
 *   "... certificate verify failed for 'localhost': certificate expired on
 *    2020-01-01 00:00:00 UTC",
 *   "... peer does not speak TLS (got 'HTTP/1.1 400 Bad Request')";
 * SOCK_ETRUNCATED when the peer's stream ends without TLS's close_notify
 * (what arrived may be cut short: never reported as a clean end), and the
 * codes of sock.h (-ETIMEDOUT, -ECONNRESET, SOCK_ECLOSED, -EAGAIN, -EINVAL,
 * -ENOMEM).  The library never prints.
 *
 * No application byte is sent before the peer's certificate is verified:
 * the handshake completes inside sock_tls_connect()/sock_tls_accept() (in
 * non-blocking mode, before sock_tls_handshake() returns 0), and a handle
 * whose handshake failed keeps failing every send and receive with
 * SOCK_ETLS, so that a program ignoring the error cannot send in clear.
 *
 * The layer turns Nagle's algorithm off (TCP_NODELAY): TLS writes bytes of
 * its own (handshake messages, session tickets) just before the
 * application's first small writes, which Nagle would then hold back for
 * the peer's delayed ACK, 40 ms per exchange.  sock_set_nodelay(s, 0)
 * after the handshake turns it back on.
 *
 * Threads: as sock.h, one thread may send while another receives on one
 * handle (OpenSSL's connection state is shared by both directions, so the
 * library serialises them inside).  A configuration may be shared by any
 * number of connections and threads once it is set up: do not change it
 * while handshakes use it.
 */
#ifndef SOCK_TLS_H
#define SOCK_TLS_H

#include "sock.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SOCK_TLS_VERSION_MAJOR 0
#define SOCK_TLS_VERSION_MINOR 1

/* ------------------------------------------------------------------------
 * Configuration: one object for many connections.
 *
 * A fresh configuration holds the defaults above.  Each setter returns 0,
 * or a negative code (-EINVAL for a bad argument, SOCK_ETLS when OpenSSL
 * refuses a file, -ENOMEM) with the reason in sock_tls_config_error().
 * ------------------------------------------------------------------------ */

typedef struct sock_tls_config sock_tls_config_t;

/* Create a configuration with the defaults in *out.  Returns 0, -ENOMEM or
 * SOCK_ETLS (OpenSSL could not start); *out is NULL on failure.  The
 * system's CAs are read once, by the configuration's first connection, and
 * never if sock_tls_config_set_ca() replaces them before. */
int sock_tls_config_new(sock_tls_config_t **out);

/* Release it.  Connections made with it keep working (each holds what it
 * needs).  NULL is harmless. */
void sock_tls_config_free(sock_tls_config_t *cfg);

/* What the last failing setter of cfg said, e.g. "CA file 'ca.pem': no
 * certificate in it"; "" when none failed.  Never NULL. */
const char *sock_tls_config_error(const sock_tls_config_t *cfg);

/* Trust the certificates of a PEM file and/or an OpenSSL hashed directory
 * (either may be NULL, not both) instead of the system's CAs, as curl's
 * --cacert does: a private CA is then the only one trusted. */
int sock_tls_config_set_ca(sock_tls_config_t *cfg, const char *file, const char *dir);

/* The certificate (PEM, the chain after it) and its private key that this
 * side presents: required for a server, optional for a client (a client
 * certificate, sent when the server asks).  The key must match the
 * certificate. */
int sock_tls_config_set_cert(sock_tls_config_t *cfg, const char *cert_file,
                             const char *key_file);

/* Application protocols (ALPN) as a comma-separated list in order of
 * preference, e.g. "h2,http/1.1"; NULL or "" offers none.  A client offers
 * them; a server picks its first one the client offers, and refuses a
 * client that offers only others (with the list of both in sock_error()). */
int sock_tls_config_set_alpn(sock_tls_config_t *cfg, const char *protocols);

/* A server asks every client for a certificate and verifies it (against
 * the CAs of sock_tls_config_set_ca, else the system's); a client without
 * one is refused.  Off by default. */
int sock_tls_config_set_verify_client(sock_tls_config_t *cfg, int on);

/* DANGER, explicitly named: a client accepts any certificate for any name
 * (on, 1), as `curl --insecure` does; the handshake still encrypts, but
 * anyone in the path can read and change the traffic.  The trace marks such
 * connections "UNVERIFIED".  Off (0) by default. */
int sock_tls_config_set_insecure(sock_tls_config_t *cfg, int on);

/* ------------------------------------------------------------------------
 * The handshake: a step after connect or accept.
 * ------------------------------------------------------------------------ */

/* Client handshake on the connected handle s, with cfg (NULL: the
 * defaults, the system's CAs) for the server server_name: a DNS name
 * ("example.test"), which is sent as SNI and must be in the certificate,
 * or an IP address ("127.0.0.1", "::1", "[::1]"), which must be among the
 * certificate's IP addresses (and is not sent: SNI carries names only).
 * server_name may be NULL only with the insecure option.  The handshake
 * completes inside the call, within the socket's timeout (sock_set_timeout;
 * -ETIMEDOUT when the peer does not answer in time), and a
 * sock_shutdown(SOCK_SHUT_READ) from another thread ends it with
 * SOCK_ECLOSED.  Returns 0, SOCK_ETLS (the reason in sock_error(), also
 * for a peer that closed the connection during the handshake),
 * -ECONNRESET or -EPIPE (the peer reset it), -ETIMEDOUT, SOCK_ECLOSED,
 * -EINVAL (bad arguments), -EALREADY (s already has TLS), -ENOTCONN, -ENOMEM,
 * or in non-blocking mode -EAGAIN: see sock_tls_handshake(). */
int sock_tls_connect(sock_t *s, const sock_tls_config_t *cfg, const char *server_name);

/* Server handshake on s, a handle from sock_accept(), presenting cfg's
 * certificate (cfg is required: -EINVAL without a certificate).  Returns as
 * sock_tls_connect(). */
int sock_tls_accept(sock_t *s, const sock_tls_config_t *cfg);

/* Non-blocking mode: go on with a handshake that returned -EAGAIN once
 * sock_fd(s) is ready for what sock_tls_want(s) says (SOCK_READABLE or
 * SOCK_WRITABLE; a TLS handshake may need either).  Returns 0 when the
 * handshake is complete (also when it already was), -EAGAIN again, or the
 * final failure as sock_tls_connect() does; -EINVAL when s has no TLS. */
int sock_tls_handshake(sock_t *s);

/* What the last -EAGAIN of s's TLS layer waits for: SOCK_READABLE or
 * SOCK_WRITABLE; 0 when s has no TLS or waits for nothing. */
unsigned sock_tls_want(const sock_t *s);

/* ------------------------------------------------------------------------
 * Inspection, after a complete handshake.  Each string stays valid until
 * sock_close(s); each is NULL when s has no complete handshake.
 * ------------------------------------------------------------------------ */

/* The protocol version: "TLSv1.2" or "TLSv1.3". */
const char *sock_tls_version(const sock_t *s);

/* The cipher suite, in OpenSSL's naming: "TLS_AES_256_GCM_SHA384". */
const char *sock_tls_cipher(const sock_t *s);

/* The application protocol agreed by ALPN, or "" when none was. */
const char *sock_tls_alpn(const sock_t *s);

/* The subject of the peer's certificate, RFC 2253 style ("CN=localhost"),
 * or "" when the peer sent none (a client without a certificate). */
const char *sock_tls_peer_subject(const sock_t *s);

/* 1 when the peer's certificate was verified (and its name, for a client),
 * 0 when it was not (the insecure option, or a server that did not ask for
 * a client certificate), negative (-EINVAL) when s has no complete
 * handshake. */
int sock_tls_verified(const sock_t *s);

#ifdef __cplusplus
}
#endif

#endif /* SOCK_TLS_H */
