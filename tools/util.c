/*
 * util.c - helpers shared by the subcommands; see util.h.
 */
#include "util.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

void tool_err(const char *cmd, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    fprintf(stderr, "sock %s: %s\n", cmd, line);
}

/* A port is a number 0..65535 or a service name (a letter first, then
 * letters, digits, '-' or '_').  Anything starting with a digit or a sign
 * must be a number in range: "99999" and "-1" are mistakes, not names. */
static int valid_port(const char *p)
{
    if (!*p)
        return 0;
    if ((*p >= '0' && *p <= '9') || *p == '-' || *p == '+') {
        char *end;
        errno = 0;
        long v = strtol(p, &end, 10);
        return *p != '-' && *p != '+' && *end == '\0' && errno == 0 && v >= 0 && v <= 65535;
    }
    for (const char *q = p; *q; q++)
        if (!(*q >= 'a' && *q <= 'z') && !(*q >= 'A' && *q <= 'Z') && !(*q >= '0' && *q <= '9') &&
            *q != '-' && *q != '_')
            return 0;
    return 1;
}

int tool_host_port(const char *cmd, int argc, char **argv, int need_host, char *host,
                   size_t hostlen, char *port, size_t portlen)
{
    if (argc == 0) {
        tool_err(cmd, "missing %s (see 'sock %s --help')", need_host ? "HOST and PORT" : "PORT",
                 cmd);
        return EXIT_USAGE;
    }
    if (argc > 2) {
        tool_err(cmd, "unexpected argument '%s' (see 'sock %s --help')", argv[2], cmd);
        return EXIT_USAGE;
    }
    if (argc == 2) {
        if (strlen(argv[0]) >= hostlen || strlen(argv[1]) >= portlen) {
            int bad = strlen(argv[0]) >= hostlen ? 0 : 1;
            tool_err(cmd, "%s '%.40s...' is too long (%zu characters at most)",
                     bad ? "PORT" : "HOST", argv[bad], (bad ? portlen : hostlen) - 1);
            return EXIT_USAGE;
        }
        strcpy(host, argv[0]);
        strcpy(port, argv[1]);
    } else if (strchr(argv[0], ':') || argv[0][0] == '[') {
        if (sock_split_hostport(argv[0], host, hostlen, port, portlen) < 0) {
            tool_err(cmd,
                     "invalid address '%s': write HOST PORT, HOST:PORT or [IPv6]:PORT "
                     "(e.g. [::1]:8080)",
                     argv[0]);
            return EXIT_USAGE;
        }
        if (!*port)
            strcpy(port, "0");
    } else if (!need_host) {
        host[0] = '\0';
        if (strlen(argv[0]) >= portlen) {
            tool_err(cmd, "PORT '%.40s...' is too long (%zu characters at most)", argv[0],
                     portlen - 1);
            return EXIT_USAGE;
        }
        strcpy(port, argv[0]);
    } else {
        tool_err(cmd, "missing PORT after '%s' (write HOST PORT or HOST:PORT)", argv[0]);
        return EXIT_USAGE;
    }
    if (need_host && !*host) {
        tool_err(cmd, "missing HOST in '%s'", argv[0]);
        return EXIT_USAGE;
    }
    if (!valid_port(port)) {
        tool_err(cmd, "invalid port '%s': a number from 0 to 65535 or a service name", port);
        return EXIT_USAGE;
    }
    return 0;
}

int tool_prepare(const char *cmd, const struct cli_opts *o, sock_t *s)
{
    sock_init(s);
    if ((o->family != AF_UNSPEC && sock_set_family(s, o->family) < 0) ||
        (o->timeout_ms >= 0 && sock_set_timeout(s, o->timeout_ms) < 0)) {
        tool_err(cmd, "%s", sock_error(s));
        return EXIT_USAGE;
    }
    return 0;
}

int tool_status(int code)
{
    return code == -EINVAL || code == -EAFNOSUPPORT ? EXIT_USAGE : EXIT_NET;
}

void tool_trace_on(void)
{
    sock_set_trace(sock_trace_to_stderr, NULL);
}

int tool_bad_option(const char *cmd, int argc, char **argv)
{
    const char *opt = optind > 0 && optind <= argc ? argv[optind - 1] : "?";
    if (optopt && strchr("T", optopt) == NULL && opt[0] == '-' && opt[1] != '-' && opt[1])
        tool_err(cmd, "unknown option '-%c' (see 'sock %s --help')", optopt, cmd);
    else
        tool_err(cmd, "unknown option or missing value: '%s' (see 'sock %s --help')", opt, cmd);
    return EXIT_USAGE;
}

double tool_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}
