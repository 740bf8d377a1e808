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
            "the peer closes.  IPv6 literals: ::1 8080, or [::1]:8080.  PORT is never\n"
            "empty.  --timeout MS bounds the connect and ends the connection after MS\n"
            "without data in either direction (status 1).  When the reader of standard\n"
            "output goes away (sock connect ... | head), sock ends quietly with status 0.\n"
            "\n"
            "Exit status: 0 on a clean end, 1 on a network error, 2 on a usage error.\n");
}

int cli_parse_connect(const struct cli_opts *o, int argc, char **argv, struct connect_args *a)
{
    static const struct option opts[] = {{"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    (void)o;
    *a = (struct connect_args){.help = 0};
    int ch;
    optind = 0;
    while ((ch = tool_getopt("connect", argc, argv, "h", opts)) != -1) {
        if (ch != 'h')
            return EXIT_USAGE;
        a->help = 1;
        return 0;
    }
    return tool_host_port("connect", argc - optind, argv + optind, 1, a->host, sizeof a->host,
                          a->port, sizeof a->port);
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
    sock_t s;
    if ((rc = tool_prepare("connect", o, &s)) != 0)
        return rc;
    int code = sock_connect(&s, a.host, a.port);
    if (code < 0) {
        tool_err("connect", "%s", sock_error(&s));
        sock_close(&s);
        return tool_status(code);
    }
    struct pump_opts po = {.cmd = "connect", .idle_ms = o->timeout_ms, .progress = o->progress,
                           .trace = o->trace};
    struct pump_stats st;
    rc = pump_run(&s, STDIN_FILENO, STDOUT_FILENO, &po, &st);
    sock_close(&s);
    return rc;
}
