/*
 * resolve.c - `sock resolve HOST [SERVICE]`: every address the library
 * would try, in order.
 */
#include "cli.h"
#include "util.h"

#include <getopt.h>
#include <stdio.h>

#define MAX_ADDRS 64

static void usage(FILE *f)
{
    fprintf(f,
            "usage: sock [global options] resolve [--passive] HOST [SERVICE]\n"
            "\n"
            "Print every address the library would try for HOST and SERVICE (default 0),\n"
            "in order, with its family: what 'sock connect' tries, or with --passive what\n"
            "'sock listen' binds (HOST '*' is every local address).  -4/-6 restrict the\n"
            "family as they do for connect.\n"
            "\n"
            "Exit status: 0 when the name resolves, 1 when the resolver fails, 2 on a\n"
            "usage error (bad port, missing HOST).\n");
}

int cmd_resolve(const struct cli_opts *o, int argc, char **argv)
{
    static const struct option opts[] = {{"passive", no_argument, NULL, 'p'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    int ch, passive = 0;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "+ph", opts, NULL)) != -1) {
        if (ch == 'p') {
            passive = 1;
            continue;
        }
        if (ch == 'h') {
            usage(stdout);
            return EXIT_OK;
        }
        return tool_bad_option("resolve", argc, argv);
    }
    argc -= optind, argv += optind;
    if (argc < 1 || argc > 2) {
        tool_err("resolve", argc < 1 ? "missing HOST (see 'sock resolve --help')"
                                     : "unexpected argument (see 'sock resolve --help')");
        return EXIT_USAGE;
    }
    sock_t s;
    int rc = tool_prepare("resolve", o, &s);
    if (rc)
        return rc;
    sock_addr_t addrs[MAX_ADDRS];
    const char *service = argc == 2 ? argv[1] : "0";
    int n = sock_resolve(&s, argv[0], service, passive, addrs, MAX_ADDRS);
    if (n < 0) {
        tool_err("resolve", "%s", sock_error(&s));
        return tool_status(n);
    }
    printf("%s %s: %d address%s, tried in this order by %s:\n", argv[0], service, n,
           n == 1 ? "" : "es", passive ? "bind" : "connect");
    for (int i = 0; i < n && i < MAX_ADDRS; i++)
        printf("  %2d  %-5s %s\n", i + 1, addrs[i].family == AF_INET6 ? "IPv6" : "IPv4",
               addrs[i].text);
    if (n > MAX_ADDRS)
        printf("  ... and %d more\n", n - MAX_ADDRS);
    return EXIT_OK;
}
