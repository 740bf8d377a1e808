/*
 * connect.c - `sock connect HOST PORT`: stdin to the socket, the socket to
 * stdout, like nc; end of stdin half-closes.
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
            "usage: sock [global options] connect HOST PORT\n"
            "       sock [global options] connect HOST:PORT\n"
            "\n"
            "Connect to HOST PORT (every address of HOST is tried in order), copy standard\n"
            "input to the connection and the connection to standard output.  End of input\n"
            "half-closes the connection (shutdown write); the reply is still printed until\n"
            "the peer closes.  IPv6 literals: ::1 8080, or [::1]:8080.\n"
            "\n"
            "Exit status: 0 on a clean end, 1 on a network error, 2 on a usage error.\n");
}

int cmd_connect(const struct cli_opts *o, int argc, char **argv)
{
    static const struct option opts[] = {{"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    int ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
        if (ch == 'h') {
            usage(stdout);
            return EXIT_OK;
        }
        return tool_bad_option("connect", argc, argv);
    }
    char host[256], port[64];
    int rc = tool_host_port("connect", argc - optind, argv + optind, 1, host, sizeof host, port,
                            sizeof port);
    if (rc)
        return rc;
    sock_t s;
    if ((rc = tool_prepare("connect", o, &s)) != 0)
        return rc;
    int code = sock_connect(&s, host, port);
    if (code < 0) {
        tool_err("connect", "%s", sock_error(&s));
        return tool_status(code);
    }
    struct pump_opts po = {.cmd = "connect", .idle_ms = o->timeout_ms, .progress = o->progress};
    struct pump_stats st;
    rc = pump_run(&s, STDIN_FILENO, STDOUT_FILENO, &po, &st);
    sock_close(&s);
    return rc;
}
