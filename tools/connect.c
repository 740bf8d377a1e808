/*
 * connect.c - `sock connect HOST PORT`: stdin to the socket, the socket to
 * stdout, like nc; end of stdin half-closes.  -U for a Unix socket, -s/-p
 * for the source address, --exec to hand the connection to a command.
 */
#include "cli.h"
#include "exec.h"
#include "pump.h"
#include "util.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void usage(FILE *f)
{
    fprintf(f,
            "usage: sock [global options] connect [-v] [-s ADDR] [-p PORT] [--exec CMD] HOST PORT\n"
            "       sock [global options] connect [-v] [-s ADDR] [-p PORT] [--exec CMD] HOST:PORT\n"
            "       sock [global options] connect [-v] [--exec CMD] -U PATH\n"
            "       sock [global options] connect --tls [--ca FILE | --insecure] [--servername NAME]\n"
            "                 [--alpn LIST] [--cert FILE --key FILE] [-v] [-s ADDR] [-p PORT] HOST PORT\n"
            "\n"
            "Connect to HOST PORT (the addresses of HOST raced as RFC 8305's Happy Eyeballs\n"
            "does: IPv6 first, the next one 250 ms later), copy standard input to the\n"
            "connection and the connection to standard output.  End of input half-closes\n"
            "the connection (shutdown write); the reply is still printed until the peer\n"
            "closes.  IPv6 literals: ::1 8080, or [::1]:8080.  PORT is never empty.\n"
            "--timeout MS bounds the connect (name resolution included) and ends the\n"
            "connection after MS without data in either direction (status 1).  When the\n"
            "reader of standard output goes away (sock connect ... | head), sock ends\n"
            "quietly with status 0.\n"
            "\n"
            "  -U PATH          a Unix stream socket at PATH instead (@NAME: Linux's\n"
            "                   abstract namespace, no file), as nc -U\n"
            "  -s ADDR          bind to the local address ADDR before connecting (its\n"
            "                   family is then the only one tried)\n"
            "  -p PORT          bind to the local port PORT before connecting (with -s, or\n"
            "                   on every address of the target's family)\n"
            "  -v, --verbose    'connected to ADDR from ADDR' on standard error\n"
            "  --exec CMD       run CMD (through /bin/sh -c) with the connection as its\n"
            "                   standard input and output instead of copying; its standard\n"
            "                   error is sock's; sock waits for it and exits with its status\n"
            "                   (128+N when signal N ended it; 127: not found)\n"
            "\n"
            "TLS (as openssl s_client -verify_return_error does):\n"
            "  --tls            speak TLS: the server's certificate is verified against the\n"
            "                   system's CAs and must be for HOST (a name, sent as SNI, or\n"
            "                   an IP address); TLS 1.2 at least; nothing is sent before\n"
            "                   that; a failed check ends with status 1 and the reason.\n"
            "                   End of input sends TLS's close_notify; a server that cuts\n"
            "                   the stream without one is reported (status 1)\n"
            "  --ca FILE        trust only the CA certificates of FILE (PEM)\n"
            "  --servername NAME  verify (and send as SNI) NAME instead of HOST\n"
            "  --alpn LIST      offer these application protocols (h2,http/1.1)\n"
            "  --cert FILE --key FILE  a client certificate, when the server asks\n"
            "  --insecure       DANGER: accept any certificate for any name (a warning is\n"
            "                   printed); the traffic is encrypted but not authenticated\n"
            "  -v               also 'tls: VERSION, CIPHER, verified SUBJECT'\n"
            "\n"
            "Exit status: 0 on a clean end, 1 on a network error, 2 on a usage error; with\n"
            "--exec, once connected, the command's.\n");
}

/* The options that only make sense together, and -n's rule. */
static int check_combination(const struct cli_opts *o, const struct connect_args *a)
{
    if (a->is_unix && (a->src_host[0] || a->src_port[0])) {
        tool_err("connect", "-s and -p bind an IP address: they do not go with -U");
        return EXIT_USAGE;
    }
    if (a->exec && a->tls.on) {
        tool_err("connect", "--exec hands the command the raw connection: it does not go with "
                            "--tls");
        return EXIT_USAGE;
    }
    if (a->is_unix && a->tls.on && !a->tls.servername && !a->tls.insecure) {
        tool_err("connect", "--tls over -U: give the name to verify with --servername NAME");
        return EXIT_USAGE;
    }
    int rc = a->is_unix ? 0 : tool_check_numeric("connect", o, "HOST", a->host, a->port);
    if (rc == 0)
        rc = tool_check_numeric("connect", o, "-s", a->src_host, a->src_port);
    return rc ? rc : tool_tls_check("connect", &a->tls, "--tls");
}

int cli_parse_connect(const struct cli_opts *o, int argc, char **argv, struct connect_args *a)
{
    static const struct option opts[] = {{"help", no_argument, NULL, 'h'},
                                         {"verbose", no_argument, NULL, 'v'},
                                         {"exec", required_argument, NULL, 'e'},
                                         TOOL_TLS_LONGOPTS,
                                         {NULL, 0, NULL, 0}};
    *a = (struct connect_args){.help = 0};
    const char *unix_path = NULL;
    int ch, rc;
    optind = 0;
    while ((ch = tool_getopt("connect", argc, argv, "hvs:p:U:", opts)) != -1) {
        if (tool_tls_option("connect", ch, optarg, &a->tls, &rc)) {
            if (rc)
                return rc;
            continue;
        }
        switch (ch) {
        case 'h':
            a->help = 1;
            return 0;
        case 'v':
            a->verbose = 1;
            break;
        case 'e':
            if (!*optarg) {
                tool_err("connect", "--exec needs a command (it is empty)");
                return EXIT_USAGE;
            }
            a->exec = optarg;
            break;
        case 's':
            if ((rc = tool_parse_host("connect", "-s", optarg, a->src_host, sizeof a->src_host)))
                return rc;
            break;
        case 'p':
            if ((rc = tool_parse_port("connect", "-p", optarg, a->src_port, sizeof a->src_port)))
                return rc;
            break;
        case 'U':
            unix_path = optarg;
            break;
        default:
            return EXIT_USAGE;
        }
    }
    if (unix_path) {
        if (optind < argc) {
            tool_err("connect", "unexpected argument %s: -U PATH takes no HOST or PORT",
                     tool_quote(argv[optind]));
            return EXIT_USAGE;
        }
        a->is_unix = 1;
        rc = tool_unix_host("connect", o, unix_path, a->host, sizeof a->host);
    } else {
        rc = tool_host_port("connect", argc - optind, argv + optind, 1, a->host, sizeof a->host,
                            a->port, sizeof a->port);
    }
    return rc ? rc : check_combination(o, a);
}

/* -s/-p: bind before connect, the seed's second path.  Without -s the
 * wildcard of the target's family is bound: the library keeps a bound
 * socket's family, so a dual-stack "::" could not reach an IPv4 target. */
static int bind_source(sock_t *s, const struct connect_args *a)
{
    const char *host = a->src_host;
    if (!*host) {
        sock_addr_t first;
        int n = sock_resolve(s, a->host, a->port, 0, &first, 1);
        if (n < 0) {
            tool_err("connect", "%s", sock_error(s));
            return tool_status(n);
        }
        host = first.family == AF_INET6 ? "::" : "0.0.0.0";
    }
    int code = sock_bind(s, host, a->src_port[0] ? a->src_port : "0");
    if (code < 0) {
        tool_err("connect", "-s/-p: %s", sock_error(s));
        return tool_status(code);
    }
    return 0;
}

int cmd_connect(const struct cli_opts *o, int argc, char **argv)
{
    struct connect_args a;
    int rc = cli_parse_connect(o, argc, argv, &a);
    if (rc || a.help) {
        if (a.help)
            usage(stdout);
        return rc;
    }
    /* The TLS files are read before anything goes on the network. */
    if ((rc = tool_tls_setup("connect", &a.tls)) != 0)
        return rc;
    sock_t s;
    if ((rc = tool_prepare("connect", o, &s)) != 0) {
        tool_tls_free(&a.tls);
        return rc;
    }
    if ((a.src_host[0] || a.src_port[0]) && (rc = bind_source(&s, &a)) != 0)
        goto out;
    int code = sock_connect(&s, a.host, a.port);
    if (code < 0) {
        tool_err("connect", "%s", sock_error(&s));
        rc = tool_status(code);
        goto out;
    }
    char peer[SOCK_ADDRSTRLEN] = "?", local[SOCK_ADDRSTRLEN] = "?";
    sock_peer_addr(&s, peer, sizeof peer);
    if (a.verbose) {
        sock_local_addr(&s, local, sizeof local);
        tool_line_end();
        fprintf(stderr, "connected to %s from %s\n", peer, local);
        fflush(stderr);
    }
    if ((rc = tool_tls_handshake("connect", &a.tls, &s, a.host, a.verbose)) != 0)
        goto out;
    if (a.exec) {
        pid_t pid = exec_start("connect", a.exec, &s);
        /* The command holds the connection now; our copy goes. */
        sock_close(&s);
        return pid < 0 ? EXIT_NET : exec_wait("connect", a.exec, pid, peer, a.verbose);
    }
    struct pump_opts po = {.cmd = "connect", .idle_ms = o->timeout_ms, .progress = o->progress,
                           .trace = o->trace};
    struct pump_stats st;
    rc = pump_run(&s, STDIN_FILENO, STDOUT_FILENO, &po, &st);
out:
    sock_close(&s);
    tool_tls_free(&a.tls);
    return rc;
}
