/*
 * errors.c - OpenSSL's failures in words a person can act on.
 *
 * OpenSSL reports a failed handshake as a queue of library errors ("tls
 * alert unknown ca", "certificate verify failed") and keeps only the code
 * of a verification failure.  What a person needs is which certificate,
 * for which name, and why: the verify callback notes that while the
 * certificate is at hand, the info callback notes the peer's alert, and
 * the BIO keeps the peer's first bytes, so that a peer that speaks another
 * protocol is named as such.
 */
#include "internal.h"

#include <errno.h>
#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

void tls__textf(char *buf, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, len, fmt, ap);
    va_end(ap);
    if (n >= 0 && (size_t)n >= len && len > 4)
        memcpy(buf + len - 4, "...", 4);
}

const char *tls__openssl_reason(void)
{
    unsigned long e = ERR_peek_error();
    const char *r = e ? ERR_reason_error_string(e) : NULL;
    return r ? r : "";
}

void tls__name_text(const X509_NAME *name, char *buf, size_t len)
{
    buf[0] = '\0';
    BIO *mem = BIO_new(BIO_s_mem());
    if (!mem)
        return;
    if (X509_NAME_print_ex(mem, name, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) >= 0) {
        int n = BIO_read(mem, buf, (int)len - 1);
        buf[n > 0 ? n : 0] = '\0';
    }
    BIO_free(mem);
}

/* "2020-01-01 00:00:00 UTC" */
static void time_text(const ASN1_TIME *t, char *buf, size_t len)
{
    struct tm tm;
    if (t && ASN1_TIME_to_tm(t, &tm))
        strftime(buf, len, "%Y-%m-%d %H:%M:%S UTC", &tm);
    else
        snprintf(buf, len, "(unknown date)");
}

/* The names a certificate is for: its DNS and IP subject alternative
 * names, else its common name (what browsers no longer accept, but what a
 * person reads). */
static void cert_names(X509 *cert, char *buf, size_t len)
{
    buf[0] = '\0';
    size_t used = 0;
    GENERAL_NAMES *sans = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
    for (int i = 0; sans && i < sk_GENERAL_NAME_num(sans); i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(sans, i);
        char one[64] = "";
        if (g->type == GEN_DNS) {
            snprintf(one, sizeof one, "%.*s", ASN1_STRING_length(g->d.dNSName),
                     (const char *)ASN1_STRING_get0_data(g->d.dNSName));
        } else if (g->type == GEN_IPADD) {
            const unsigned char *a = ASN1_STRING_get0_data(g->d.iPAddress);
            int n = ASN1_STRING_length(g->d.iPAddress);
            if (n == 4 || n == 16)
                inet_ntop(n == 4 ? AF_INET : AF_INET6, a, one, sizeof one);
        }
        if (!*one || used + strlen(one) + 5 >= len)
            continue;
        used += (size_t)snprintf(buf + used, len - used, "%s'%s'", used ? ", " : "", one);
    }
    GENERAL_NAMES_free(sans);
    if (used)
        return;
    char cn[64];
    if (X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn, sizeof cn) > 0)
        snprintf(buf, len, "'%s' (common name only, no alternative names)", cn);
    else
        snprintf(buf, len, "no name at all");
}

int tls__verify_cb(int ok, X509_STORE_CTX *store)
{
    if (ok)
        return ok;
    SSL *ssl = X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx());
    struct tls__conn *c = ssl ? SSL_get_app_data(ssl) : NULL;
    if (!c || c->vfail.err)
        return ok; /* the first failure is the one to tell */
    struct tls__verify_fail *v = &c->vfail;
    v->err = X509_STORE_CTX_get_error(store);
    v->depth = X509_STORE_CTX_get_error_depth(store);
    X509 *cert = X509_STORE_CTX_get_current_cert(store);
    if (cert) {
        tls__name_text(X509_get_subject_name(cert), v->subject, sizeof v->subject);
        tls__name_text(X509_get_issuer_name(cert), v->issuer, sizeof v->issuer);
        cert_names(cert, v->names, sizeof v->names);
        time_text(X509_get0_notAfter(cert), v->not_after, sizeof v->not_after);
        time_text(X509_get0_notBefore(cert), v->not_before, sizeof v->not_before);
    }
    return ok;
}

void tls__info_cb(const SSL *ssl, int where, int ret)
{
    if ((where & SSL_CB_READ_ALERT) == SSL_CB_READ_ALERT) {
        struct tls__conn *c = SSL_get_app_data(ssl);
        /* A warning close_notify is the orderly end, not a refusal. */
        if (c && c->alert < 0 && (ret & 0xff) != SSL_AD_CLOSE_NOTIFY)
            c->alert = ret & 0xff;
    }
}

/* Bytes as a person can read them: up to the first line's end, non-printable
 * ones as \xNN, at most about 40 characters. */
static void printable(const unsigned char *b, size_t n, char *out, size_t len)
{
    size_t o = 0;
    for (size_t i = 0; i < n && o + 5 < len && o < 40; i++) {
        if (b[i] == '\r' || b[i] == '\n')
            break;
        if (b[i] >= ' ' && b[i] < 127 && b[i] != '\'' && b[i] != '\\')
            out[o++] = (char)b[i];
        else
            o += (size_t)snprintf(out + o, len - o, "\\x%02x", b[i]);
    }
    if (o < 40 && o + 4 < len && n > 0 && (b[0] == '\r' || b[0] == '\n'))
        o += (size_t)snprintf(out + o, len - o, "\\x%02x", b[0]);
    out[o] = '\0';
}

/* Does what the peer sent start like a TLS record: a content type of
 * 20..23 (change cipher spec, alert, handshake, data) and version 3.x? */
static int looks_like_tls(const struct tls__conn *c)
{
    return c->peek_len < 2 || (c->peek[0] >= 20 && c->peek[0] <= 23 && c->peek[1] == 3);
}

static const char *alert_hint(int alert)
{
    switch (alert) {
    case SSL_AD_BAD_CERTIFICATE:
    case SSL_AD_UNKNOWN_CA:
    case SSL_AD_CERTIFICATE_UNKNOWN:
    case SSL_AD_UNSUPPORTED_CERTIFICATE:
        return " (it does not accept our certificate)";
    case SSL_AD_CERTIFICATE_EXPIRED:
        return " (our certificate has expired)";
    case SSL_AD_HANDSHAKE_FAILURE:
        return " (no cipher, group or signature in common?)";
    case SSL_AD_PROTOCOL_VERSION:
        return " (no TLS version in common: we speak TLS 1.2 and 1.3)";
    case SSL_AD_NO_APPLICATION_PROTOCOL:
        return " (no ALPN protocol in common)";
    case SSL_AD_UNRECOGNIZED_NAME:
        return " (it has no certificate for the name we asked)";
    case TLS13_AD_CERTIFICATE_REQUIRED:
        return " (it requires a client certificate)";
    default:
        return "";
    }
}

static int explain_verify(struct tls__conn *c)
{
    const struct tls__verify_fail *v = &c->vfail;
    char what[300];
    switch (v->err) {
    case X509_V_ERR_HOSTNAME_MISMATCH:
        tls__textf(c->error, sizeof c->error, "host name mismatch: certificate is for %s, not '%s'",
                 v->names, c->name);
        return SOCK_ETLS;
    case X509_V_ERR_IP_ADDRESS_MISMATCH:
        tls__textf(c->error, sizeof c->error, "IP address mismatch: certificate is for %s, not '%s'",
                 v->names, c->name);
        return SOCK_ETLS;
    case X509_V_ERR_CERT_HAS_EXPIRED:
        snprintf(what, sizeof what, "certificate expired on %s", v->not_after);
        break;
    case X509_V_ERR_CERT_NOT_YET_VALID:
        snprintf(what, sizeof what, "certificate is not valid before %s", v->not_before);
        break;
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
        snprintf(what, sizeof what, "issuer '%s' is not a trusted CA", v->issuer);
        break;
    default:
        snprintf(what, sizeof what, "%s", X509_verify_cert_error_string(v->err));
        break;
    }
    char whom[300];
    if (c->server)
        snprintf(whom, sizeof whom, "the client's certificate");
    else
        snprintf(whom, sizeof whom, "'%s'", c->name);
    if (v->depth > 0)
        tls__textf(c->error, sizeof c->error, "certificate verify failed for %s: %s (of the issuer '%s')",
                 whom, what, v->subject);
    else
        tls__textf(c->error, sizeof c->error, "certificate verify failed for %s: %s", whom, what);
    return SOCK_ETLS;
}

int tls__explain_handshake(struct tls__conn *c)
{
    int code = SOCK_ETLS;
    char got[200];
    if (c->vfail.err) {
        code = explain_verify(c);
    } else if (!looks_like_tls(c)) {
        /* OpenSSL stopped at the 5 bytes of a record header; the rest of
         * the peer's first words are what names its protocol.  The
         * connection is lost anyway, so they may be consumed. */
        ssize_t n = recv(c->fd, c->peek + c->peek_len, TLS__PEEKLEN - c->peek_len, MSG_DONTWAIT);
        if (n > 0)
            c->peek_len += (size_t)n;
        printable(c->peek, c->peek_len, got, sizeof got);
        tls__textf(c->error, sizeof c->error, "peer does not speak TLS (got '%s')", got);
    } else if (c->peek_len >= 2 && c->sent_len >= c->peek_len &&
               memcmp(c->peek, c->sent_start, c->peek_len) == 0 && !c->server) {
        tls__textf(c->error, sizeof c->error,
                 "peer does not speak TLS (it sent our own hello back: an echo server?)");
    } else if (c->alert >= 0) {
        tls__textf(c->error, sizeof c->error, "the peer refused the handshake with alert '%s'%s",
                 SSL_alert_desc_string_long(c->alert), alert_hint(c->alert));
    } else if (c->sys_errno == EPIPE || c->sys_errno == ECONNRESET) {
        code = -c->sys_errno;
        tls__textf(c->error, sizeof c->error, "the peer closed the connection during the handshake (%s)",
                   strerror(c->sys_errno));
    } else if (c->sys_errno) {
        code = -c->sys_errno;
        tls__textf(c->error, sizeof c->error, "%s", strerror(c->sys_errno));
    } else if (c->eof) {
        tls__textf(c->error, sizeof c->error, "the peer closed the connection during the handshake%s",
                 c->peek_len ? "" : " (before it sent anything: no TLS there?)");
    } else {
        const char *why = tls__openssl_reason();
        unsigned long e = ERR_peek_error();
        if (ERR_GET_REASON(e) == SSL_R_UNSUPPORTED_PROTOCOL)
            tls__textf(c->error, sizeof c->error,
                     "the peer speaks only TLS versions older than 1.2 (too old to be safe)");
        else if (ERR_GET_REASON(e) == SSL_R_NO_SHARED_CIPHER)
            tls__textf(c->error, sizeof c->error, "no cipher in common with the peer");
        else
            tls__textf(c->error, sizeof c->error, "%s", *why ? why : "protocol error");
    }
    ERR_clear_error();
    return code;
}
