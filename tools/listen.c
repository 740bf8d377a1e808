/*
 * listen.c - `sock listen [HOST] PORT`: accept a connection and copy stdin
 * to it and it to stdout; -k serves one client after another.
 */
#include "cli.h"
#include "pump.h"
#include "util.h"

#include <getopt.h>
#include <stdio.h>
#include <unistd.h>

static void usage(FILE *f)
{
    fprintf(f,
            "usage: sock [global options] listen [-k] [HOST] PORT\n"
            "\n"
            "Listen on HOST PORT (every local address, IPv4 and IPv6, when HOST is left\n"
            "out; PORT 0 lets the system choose), print 'listening on ADDR' on standard\n"
            "error with the real port, accept one client and copy standard input to it and\n"
            "it to standard output, as 'sock connect' does.\n"
            "\n"
            "  -k, --keep-open   serve one client after another (standard input goes to\n"
            "                    the first client only)\n"
            "\n"
            "Exit status: 0 on a clean end, 1 on a network error, 2 on a usage error.\n");
}

int cmd_listen(const struct cli_opts *o, int argc, char **argv)
{
    static const struct option opts[] = {{"keep-open", no_argument, NULL, 'k'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    int ch, keep = 0;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "+kh", opts, NULL)) != -1) {
        if (ch == 'k') {
            keep = 1;
            continue;
        }
        if (ch == 'h') {
            usage(stdout);
            return EXIT_OK;
        }
        return tool_bad_option("listen", argc, argv);
    }
    char host[256], port[64];
    int rc = tool_host_port("listen", argc - optind, argv + optind, 0, host, sizeof host, port,
                            sizeof port);
    if (rc)
        return rc;
    sock_t acep;
    if ((rc = tool_prepare("listen", o, &acep)) != 0)
        return rc;
    int code = sock_bind(&acep, host[0] ? host : NULL, port);
    if (code == 0)
        code = sock_listen(&acep, -1);
    if (code < 0) {
        tool_err("listen", "%s", sock_error(&acep));
        sock_close(&acep);
        return tool_status(code);
    }
    char addr[SOCK_ADDRSTRLEN];
    sock_local_addr(&acep, addr, sizeof addr);
    fprintf(stderr, "listening on %s\n", addr);
    fflush(stderr);

    int in_fd = STDIN_FILENO;
    do {
        sock_t peer;
        code = sock_accept(&acep, &peer);
        if (code < 0) {
            tool_err("listen", "%s", sock_error(&acep));
            rc = EXIT_NET;
            break;
        }
        struct pump_opts po = {.cmd = "listen", .idle_ms = o->timeout_ms, .progress = o->progress};
        struct pump_stats st;
        rc = pump_run(&peer, in_fd, STDOUT_FILENO, &po, &st);
        sock_close(&peer);
        /* With -k one client's failure (already reported) ends only that
         * client. */
        if (keep)
            rc = EXIT_OK;
        /* Standard input can only be read once: later clients get none. */
        in_fd = -1;
    } while (keep);
    sock_close(&acep);
    return rc;
}
