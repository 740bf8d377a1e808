/*
 * tls.c - the TLS options of the tool's commands; see tls.h.
 *
 * The library does the work and holds the defaults (verification against
 * the system's CAs, the name checked, SNI, TLS 1.2 at least); this file
 * turns options into a configuration and failures into lines for people.
 * Built with SOCK_TOOL_TLS when OpenSSL's headers were there (the tool is
 * then linked with libsock-tls); without it, TLS options are refused at
 * setup, with the reason.
 */
#include "tls.h"

#include "cli.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#ifdef SOCK_TOOL_TLS
#include "sock_tls.h"
#endif

/* The name of each option, for messages, by its code. */
static const char *opt_name(int ch)
{
    switch (ch) {
    case TOOL_TLS_OPT_CA:
        return "--ca";
    case TOOL_TLS_OPT_CERT:
        return "--cert";
    case TOOL_TLS_OPT_KEY:
        return "--key";
    case TOOL_TLS_OPT_SERVERNAME:
        return "--servername";
    case TOOL_TLS_OPT_ALPN:
        return "--alpn";
    case TOOL_TLS_OPT_INSECURE:
        return "--insecure";
    default:
        return "--tls";
    }
}

int tool_tls_option(const char *cmd, int ch, const char *arg, struct tool_tls *t, int *rc)
{
    const char **slot = NULL;
    *rc = 0;
    switch (ch) {
    case TOOL_TLS_OPT_TLS:
        t->on = 1;
        return 1;
    case TOOL_TLS_OPT_INSECURE:
        t->insecure = 1;
        return 1;
    case TOOL_TLS_OPT_CA:
        slot = &t->ca;
        break;
    case TOOL_TLS_OPT_CERT:
        slot = &t->cert;
        break;
    case TOOL_TLS_OPT_KEY:
        slot = &t->key;
        break;
    case TOOL_TLS_OPT_SERVERNAME:
        slot = &t->servername;
        break;
    case TOOL_TLS_OPT_ALPN:
        slot = &t->alpn;
        break;
    default:
        return 0;
    }
    if (!arg || !*arg) {
        tool_err(cmd, "%s needs a value (it is empty)", opt_name(ch));
        *rc = EXIT_USAGE;
        return 1;
    }
    *slot = arg;
    return 1;
}

/* The first option given of t's, by code, or 0. */
static int first_given(const struct tool_tls *t)
{
    if (t->ca)
        return TOOL_TLS_OPT_CA;
    if (t->cert)
        return TOOL_TLS_OPT_CERT;
    if (t->key)
        return TOOL_TLS_OPT_KEY;
    if (t->servername)
        return TOOL_TLS_OPT_SERVERNAME;
    if (t->alpn)
        return TOOL_TLS_OPT_ALPN;
    if (t->insecure)
        return TOOL_TLS_OPT_INSECURE;
    return 0;
}

int tool_tls_check(const char *cmd, const struct tool_tls *t, const char *on_name)
{
    int given = first_given(t);
    const char *why = NULL;
    if (!t->on && given) {
        tool_err(cmd, "%s needs %s", opt_name(given), on_name);
        return EXIT_USAGE;
    }
    if (!t->on)
        return 0;
    if (t->server && (!t->cert || !t->key))
        why = "a TLS server needs its certificate and key: --cert FILE --key FILE";
    else if (t->server && t->servername)
        why = "--servername is what a client asks for: a server has none";
    else if (t->server && t->insecure)
        why = "--insecure turns off a client's check of the server: a server has none";
    else if (!t->server && (!t->cert != !t->key))
        why = "a client certificate needs both --cert FILE and --key FILE";
    else if (t->insecure && t->ca)
        why = "--insecure checks no certificate, so --ca would not be used: give one of them";
    if (why) {
        tool_err(cmd, "%s", why);
        return EXIT_USAGE;
    }
    return 0;
}

const char *tool_tls_name(const struct tool_tls *t, const char *host)
{
    return t->servername ? t->servername : host;
}

void tool_tls_warn_insecure(const char *cmd)
{
    tool_err(cmd, "warning: --insecure: the server's certificate was not verified; anyone in "
                  "the path can read and change this connection");
}

#ifdef SOCK_TOOL_TLS

/* A setter's failure, in one line with the file it was about. */
static int setup_failed(const char *cmd, struct tool_tls *t, int code)
{
    tool_err(cmd, "%s", code == -ENOMEM ? "out of memory" : sock_tls_config_error(t->cfg));
    tool_tls_free(t);
    return EXIT_USAGE;
}

int tool_tls_setup(const char *cmd, struct tool_tls *t)
{
    if (!t->on || t->cfg)
        return 0;
    int code = sock_tls_config_new(&t->cfg);
    if (code < 0) {
        tool_err(cmd, "TLS cannot start: %s", sock_strerror(code));
        return EXIT_NET;
    }
    if (t->ca && (code = sock_tls_config_set_ca(t->cfg, t->ca, NULL)) < 0)
        return setup_failed(cmd, t, code);
    /* A server's --ca names whom it trusts to sign its clients: it then
     * asks each one for a certificate. */
    if (t->ca && t->server && (code = sock_tls_config_set_verify_client(t->cfg, 1)) < 0)
        return setup_failed(cmd, t, code);
    if (t->cert && (code = sock_tls_config_set_cert(t->cfg, t->cert, t->key)) < 0)
        return setup_failed(cmd, t, code);
    if (t->alpn && (code = sock_tls_config_set_alpn(t->cfg, t->alpn)) < 0)
        return setup_failed(cmd, t, code);
    if (t->insecure && (code = sock_tls_config_set_insecure(t->cfg, 1)) < 0)
        return setup_failed(cmd, t, code);
    return 0;
}

void tool_tls_free(struct tool_tls *t)
{
    sock_tls_config_free(t->cfg);
    t->cfg = NULL;
}

int tool_tls_step(struct tool_tls *t, sock_t *s, const char *host, int first, unsigned *want)
{
    int rc;
    if (!first)
        rc = sock_tls_handshake(s);
    else if (t->server)
        rc = sock_tls_accept(s, t->cfg);
    else
        rc = sock_tls_connect(s, t->cfg, tool_tls_name(t, host));
    if (rc == -EAGAIN)
        *want = sock_tls_want(s);
    return rc;
}

void tool_tls_describe(const sock_t *s, int server, char *buf, size_t len)
{
    const char *none = server ? "no client certificate" : "no certificate";
    const char *subject = sock_tls_peer_subject(s);
    int verified = sock_tls_verified(s);
    const char *alpn = sock_tls_alpn(s);
    snprintf(buf, len, "%s, %s, %s%s%s%s", sock_tls_version(s) ? sock_tls_version(s) : "?",
             sock_tls_cipher(s) ? sock_tls_cipher(s) : "?",
             subject && *subject ? (verified == 1 ? "verified " : "not verified: ")
                                 : none,
             subject ? subject : "", alpn && *alpn ? ", alpn " : "", alpn ? alpn : "");
}

#else

int tool_tls_setup(const char *cmd, struct tool_tls *t)
{
    if (!t->on)
        return 0;
    tool_err(cmd, "TLS: this sock was built without it (OpenSSL's headers, Debian's "
                  "libssl-dev, were not installed when it was built)");
    return EXIT_USAGE;
}

void tool_tls_free(struct tool_tls *t)
{
    t->cfg = NULL;
}

int tool_tls_step(struct tool_tls *t, sock_t *s, const char *host, int first, unsigned *want)
{
    (void)t, (void)s, (void)host, (void)first, (void)want;
    return -ENOTSUP;
}

void tool_tls_describe(const sock_t *s, int server, char *buf, size_t len)
{
    (void)s, (void)server;
    snprintf(buf, len, "no TLS");
}

#endif

int tool_tls_handshake(const char *cmd, struct tool_tls *t, sock_t *s, const char *host,
                       int verbose)
{
    if (!t->on)
        return 0;
    unsigned want = 0;
    int rc = tool_tls_step(t, s, host, 1, &want);
    if (rc < 0) {
        tool_err(cmd, "%s", sock_error(s));
        return EXIT_NET;
    }
    if (!t->server && t->insecure)
        tool_tls_warn_insecure(cmd);
    if (verbose) {
        char what[300];
        tool_tls_describe(s, t->server, what, sizeof what);
        tool_line_end();
        fprintf(stderr, "tls: %s\n", what);
        fflush(stderr);
    }
    return 0;
}
