/*
 * tls.h - the TLS options of the tool's commands (--tls, --ca, --cert,
 * --key, --servername, --alpn, --insecure), on libsock-tls.
 *
 * One struct tool_tls is one TLS role of a command: the client of `sock
 * connect --tls` and of a relay's --tls-connect side, the server of `sock
 * listen --tls` and of a relay's --tls-listen side.  The parse step
 * (tool_tls_option, tool_tls_check) touches no file and needs no
 * OpenSSL, so the fuzzer of the command lines runs it; the files are read
 * by tool_tls_setup().  A tool built without OpenSSL's headers parses the
 * options and refuses them at setup with a message saying so.
 */
#ifndef SOCK_TOOL_TLS_H
#define SOCK_TOOL_TLS_H

#include "sock.h"

#include <getopt.h>

struct sock_tls_config;

struct tool_tls {
    int on;                   /* TLS is wanted in this role */
    int server;               /* the role: 1 server, 0 client */
    int insecure;             /* --insecure */
    const char *ca;           /* --ca FILE (into argv), or NULL */
    const char *cert, *key;   /* --cert FILE, --key FILE, or NULL */
    const char *servername;   /* --servername NAME, or NULL: the host */
    const char *alpn;         /* --alpn LIST, or NULL */
    struct sock_tls_config *cfg; /* made by tool_tls_setup() */
};

/* The codes of the long options in TOOL_TLS_LONGOPTS, past any letter. */
enum {
    TOOL_TLS_OPT_TLS = 0x1100,
    TOOL_TLS_OPT_CA,
    TOOL_TLS_OPT_CERT,
    TOOL_TLS_OPT_KEY,
    TOOL_TLS_OPT_SERVERNAME,
    TOOL_TLS_OPT_ALPN,
    TOOL_TLS_OPT_INSECURE,
};

/* The entries of a command's struct option table (put before its NULL
 * entry): --tls, --ca, --cert, --key, --servername, --alpn, --insecure. */
#define TOOL_TLS_LONGOPTS                                                   \
    {"tls", no_argument, NULL, TOOL_TLS_OPT_TLS},                           \
    {"ca", required_argument, NULL, TOOL_TLS_OPT_CA},                       \
    {"cert", required_argument, NULL, TOOL_TLS_OPT_CERT},                   \
    {"key", required_argument, NULL, TOOL_TLS_OPT_KEY},                     \
    {"servername", required_argument, NULL, TOOL_TLS_OPT_SERVERNAME},       \
    {"alpn", required_argument, NULL, TOOL_TLS_OPT_ALPN},                   \
    {"insecure", no_argument, NULL, TOOL_TLS_OPT_INSECURE}

/* Take option ch (with its value arg) into t if it is one of
 * TOOL_TLS_LONGOPTS.  Returns 1 when it was (then 0 or EXIT_USAGE is in
 * *rc: an empty file name or list is refused with a line naming it), 0
 * when ch is not a TLS option. */
int tool_tls_option(const char *cmd, int ch, const char *arg, struct tool_tls *t, int *rc);

/* The options that only make sense together, for the role t->server:
 * every TLS option needs TLS on (named: "--ca needs --tls"), a server
 * needs --cert and --key, a client's --cert needs --key (and the other
 * way), a server has no --servername or --insecure, and --insecure with
 * --ca is a contradiction.  on_name is the option that turns TLS on
 * ("--tls", "--tls-connect").  Returns 0, or EXIT_USAGE after one line. */
int tool_tls_check(const char *cmd, const struct tool_tls *t, const char *on_name);

/* Read the files and make t->cfg (nothing when TLS is off).  Returns 0,
 * EXIT_USAGE after one line naming the file and what is wrong with it (or
 * that this sock was built without TLS), or EXIT_NET when OpenSSL cannot
 * start. */
int tool_tls_setup(const char *cmd, struct tool_tls *t);

/* Free t->cfg.  Connections made with it keep working. */
void tool_tls_free(struct tool_tls *t);

/* The name a client verifies and sends: --servername, else host (the
 * target as given: a name, or an IP address checked against the
 * certificate's addresses). */
const char *tool_tls_name(const struct tool_tls *t, const char *host);

/* The handshake of t's role on the connected s, blocking within the
 * socket's timeout (--timeout).  host is the target as given (a client's
 * name to verify).  With verbose, one line on stderr says what was agreed
 * ("tls: TLSv1.3, TLS_AES_256_GCM_SHA384, verified CN=localhost").  An
 * --insecure client always gets a warning line.  Returns 0 (nothing done
 * when TLS is off), or EXIT_NET after printing the library's text ("tls
 * handshake with ...: certificate verify failed ..."). */
int tool_tls_handshake(const char *cmd, struct tool_tls *t, sock_t *s, const char *host,
                       int verbose);

/* Non-blocking: start (first 1) or go on with t's handshake on s.  Returns
 * 0 when complete, -EAGAIN (wait for sock_want-style readiness given in
 * *want), or a negative code with the text in sock_error(s). */
int tool_tls_step(struct tool_tls *t, sock_t *s, const char *host, int first, unsigned *want);

/* After a complete handshake of the role server (1) or client (0):
 * "TLSv1.3, TLS_AES_256_GCM_SHA384, verified CN=localhost" (or "not
 * verified: SUBJECT", "no client certificate", ", alpn h2") into buf. */
void tool_tls_describe(const sock_t *s, int server, char *buf, size_t len);

/* A one-line warning on stderr that cmd's --insecure client did not
 * verify the server. */
void tool_tls_warn_insecure(const char *cmd);

#endif
