/*
 * listen.c - `sock listen [HOST] PORT`: accept a connection and copy stdin
 * to it and it to stdout; -k serves one client after another.
 */
#include "cli.h"
#include "pump.h"
#include "util.h"

#include <errno.h>
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
            "  -k, --keep-open   serve one client after another, as nc -k does (standard\n"
            "                    input goes to the first client only; the next client is\n"
            "                    accepted when the one before has ended)\n"
            "\n"
            "--timeout MS ends the wait for the client after MS (status 1) and a client\n"
            "that sends and takes nothing for MS; with -k it only ends idle clients (the\n"
            "server waits for the next client for ever).\n"
            "\n"
            "Exit status: 0 on a clean end, 1 on a network error, 2 on a usage error.\n");
}

int cli_parse_listen(const struct cli_opts *o, int argc, char **argv, struct listen_args *a)
{
    static const struct option opts[] = {{"keep-open", no_argument, NULL, 'k'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    (void)o;
    *a = (struct listen_args){.keep = 0};
    int ch;
    optind = 0;
    while ((ch = tool_getopt("listen", argc, argv, "kh", opts)) != -1) {
        if (ch == 'k') {
            a->keep = 1;
        } else if (ch == 'h') {
            a->help = 1;
            return 0;
        } else {
            return EXIT_USAGE;
        }
    }
    return tool_host_port("listen", argc - optind, argv + optind, 0, a->host, sizeof a->host,
                          a->port, sizeof a->port);
}

int cmd_listen(const struct cli_opts *o, int argc, char **argv)
{
    struct listen_args a;
    int rc = cli_parse_listen(o, argc, argv, &a);
    if (rc || a.help) {
        if (a.help)
            usage(stdout);
        return rc;
    }
    /* --timeout bounds the wait for the one client; a keep-open server
     * waits for its next client for ever, and the timeout ends only a
     * client that stays idle. */
    sock_t acep;
    if ((rc = tool_listen("listen", o, a.host, a.port, -1, !a.keep, &acep)) != 0)
        return rc;
    int in_fd = STDIN_FILENO;
    do {
        sock_t peer;
        int code = sock_accept(&acep, &peer);
        if (code < 0) {
            if (code == -ETIMEDOUT)
                tool_err("listen", "no client within %d ms (--timeout)", o->timeout_ms);
            else
                tool_err("listen", "%s", sock_error(&acep));
            rc = EXIT_NET;
            break;
        }
        struct pump_opts po = {.cmd = "listen", .idle_ms = o->timeout_ms,
                               .progress = o->progress, .trace = o->trace};
        struct pump_stats st;
        rc = pump_run(&peer, in_fd, STDOUT_FILENO, &po, &st);
        sock_close(&peer);
        /* With -k one client's failure (already reported) ends only that
         * client; but a reader of standard output that went away ends the
         * server, since no later client could be shown either. */
        if (!a.keep || st.output_gone)
            break;
        rc = EXIT_OK;
        /* Standard input can only be read once: later clients get none. */
        in_fd = -1;
    } while (a.keep);
    sock_close(&acep);
    return rc;
}
