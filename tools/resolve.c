/*
 * resolve.c - `sock resolve HOST [SERVICE]`: every address the library
 * would try, in order.
 */
#include "cli.h"
#include "util.h"

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
            "family as they do for connect (before or after 'resolve').  SERVICE, when\n"
            "given, is never empty.  --timeout does not apply (the system resolver's own\n"
            "timeouts do): it is a usage error here.\n"
            "\n"
            "Exit status: 0 when the name resolves, 1 when the resolver fails, 2 on a\n"
            "usage error (bad port, missing HOST).\n");
}

int cli_parse_resolve(const struct cli_opts *o, int argc, char **argv, struct resolve_args *a)
{
    static const struct option opts[] = {{"passive", no_argument, NULL, 'p'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    *a = (struct resolve_args){.service = "0"};
    int ch;
    optind = 0;
    while ((ch = tool_getopt("resolve", argc, argv, "ph", opts)) != -1) {
        if (ch == 'p') {
            a->passive = 1;
        } else if (ch == 'h') {
            a->help = 1;
            return 0;
        } else {
            return EXIT_USAGE;
        }
    }
    /* The system's resolver has its own timeouts; ours would mean nothing. */
    if (o->timeout_ms >= 0) {
        tool_err("resolve", "--timeout does not apply to resolve (see 'sock resolve --help')");
        return EXIT_USAGE;
    }
    argc -= optind, argv += optind;
    if (argc < 1 || argc > 2) {
        if (argc < 1)
            tool_err("resolve", "missing HOST (see 'sock resolve --help')");
        else
            tool_err("resolve", "unexpected argument %s (see 'sock resolve --help')",
                     tool_quote(argv[2]));
        return EXIT_USAGE;
    }
    a->host = argv[0];
    if (argc == 2 && !*argv[1]) {
        tool_err("resolve", "empty SERVICE: leave it out for 0, or give a port or a name");
        return EXIT_USAGE;
    }
    if (argc == 2)
        a->service = argv[1];
    return 0;
}

int cmd_resolve(const struct cli_opts *o, int argc, char **argv)
{
    struct resolve_args a;
    int rc = cli_parse_resolve(o, argc, argv, &a);
    if (rc || a.help) {
        if (a.help)
            usage(stdout);
        return rc;
    }
    sock_t s;
    if ((rc = tool_prepare("resolve", o, &s)) != 0)
        return rc;
    sock_addr_t addrs[MAX_ADDRS];
    int n = sock_resolve(&s, a.host, a.service, a.passive, addrs, MAX_ADDRS);
    if (n < 0) {
        tool_err("resolve", "%s", sock_error(&s));
        sock_close(&s);
        return tool_status(n);
    }
    sock_close(&s);
    printf("%s %s: %d address%s, tried in this order by %s:\n", a.host, a.service, n,
           n == 1 ? "" : "es", a.passive ? "bind" : "connect");
    for (int i = 0; i < n && i < MAX_ADDRS; i++)
        printf("  %2d  %-5s %s\n", i + 1, addrs[i].family == AF_INET6 ? "IPv6" : "IPv4",
               addrs[i].text);
    if (n > MAX_ADDRS)
        printf("  ... and %d more\n", n - MAX_ADDRS);
    return EXIT_OK;
}
