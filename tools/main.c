/*
 * main.c - the `sock` command: global options, then one subcommand.
 */
#include "cli.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SOCK_TOOL_VERSION "0.1.0"

struct command {
    const char *name;
    int (*run)(const struct cli_opts *, int, char **);
    const char *summary;
};

static const struct command commands[] = {
    {"demo", cmd_demo, "the deck's script on a real connection, step by step"},
    {"connect", cmd_connect, "connect to HOST PORT; stdin to the socket, the socket to stdout"},
    {"listen", cmd_listen, "accept a client on [HOST] PORT and do the same (-k: one after another)"},
    {"relay", cmd_relay, "forward a client to HOST PORT and show both directions as a hexdump"},
    {"echo", cmd_echo, "echo server for many clients at once on [HOST] PORT (epoll)"},
    {"resolve", cmd_resolve, "every address the library would try for HOST [SERVICE]"},
    {"bench", cmd_bench, "libsock against raw system calls over loopback"},
};
#define N_COMMANDS (sizeof commands / sizeof commands[0])

static void usage(FILE *f)
{
    fprintf(f,
            "usage: sock [global options] COMMAND [ARGS]\n"
            "\n"
            "TCP sockets, step by step: move bytes like nc, serve, and see each step of a\n"
            "connection the way the course slides draw it.\n"
            "\n"
            "commands:\n");
    for (size_t i = 0; i < N_COMMANDS; i++)
        fprintf(f, "  %-9s %s\n", commands[i].name, commands[i].summary);
    fprintf(f,
            "\n"
            "global options:\n"
            "  --trace          print every step of the library (bind, connect, ...) on stderr\n"
            "  --timeout MS     bound connect/accept, and give up after MS without data\n"
            "  -4, -6           IPv4 only, IPv6 only\n"
            "  --progress       bytes and rate on stderr (default when stderr is a terminal)\n"
            "  --no-progress    never print progress\n"
            "  -h, --help       this text ('sock help COMMAND' or 'sock COMMAND --help')\n"
            "  -V, --version    the version\n"
            "\n"
            "Exit status: 0 on a clean end, 1 on a network error, 2 on a usage error.\n");
}

static const struct command *find(const char *name)
{
    for (size_t i = 0; i < N_COMMANDS; i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

static int parse_timeout(const char *arg, int *ms)
{
    char *end;
    long v = strtol(arg, &end, 10);
    if (!*arg || *end || v < 0 || v > 86400000)
        return -1;
    *ms = (int)v;
    return 0;
}

/* A closed standard input or output would be the number the next socket
 * gets, and the connection would then be its own input or output.  Like
 * most tools, put /dev/null there first. */
static void standard_fds_open(void)
{
    for (int fd = 0; fd <= 2; fd++)
        if (fcntl(fd, F_GETFD) < 0 && errno == EBADF) {
            int nul = open("/dev/null", O_RDWR | O_CLOEXEC);
            if (nul >= 0 && nul != fd) {
                dup2(nul, fd); /* dup2 leaves fd open across exec, as stdio should be */
                close(nul);
            } else if (nul == fd) {
                fcntl(fd, F_SETFD, 0);
            }
        }
}

int main(int argc, char **argv)
{
    /* A write to a closed pipe or connection must be an error we report,
     * not a silent death (the library itself never needs this). */
    signal(SIGPIPE, SIG_IGN);
    standard_fds_open();

    static const struct option opts[] = {
        {"trace", no_argument, NULL, 't'},     {"timeout", required_argument, NULL, 'T'},
        {"progress", no_argument, NULL, 'p'},  {"no-progress", no_argument, NULL, 'P'},
        {"help", no_argument, NULL, 'h'},      {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    struct cli_opts o = {.trace = 0, .timeout_ms = -1, .family = AF_UNSPEC, .progress = -1};
    int ch;
    opterr = 0;
    while ((ch = getopt_long(argc, argv, "+46hV", opts, NULL)) != -1) {
        switch (ch) {
        case 't':
            o.trace = 1;
            break;
        case 'T':
            if (parse_timeout(optarg, &o.timeout_ms) < 0) {
                fprintf(stderr, "sock: --timeout '%s': a number of milliseconds (0 to 86400000)\n",
                        optarg);
                return EXIT_USAGE;
            }
            break;
        case '4':
            o.family = AF_INET;
            break;
        case '6':
            o.family = AF_INET6;
            break;
        case 'p':
            o.progress = 1;
            break;
        case 'P':
            o.progress = 0;
            break;
        case 'h':
            usage(stdout);
            return EXIT_OK;
        case 'V':
            printf("sock %s (libsock %d.%d)\n", SOCK_TOOL_VERSION, SOCK_VERSION_MAJOR,
                   SOCK_VERSION_MINOR);
            return EXIT_OK;
        default:
            if (optopt == 'T' || (optind > 0 && strcmp(argv[optind - 1], "--timeout") == 0))
                fprintf(stderr, "sock: --timeout needs a number of milliseconds\n");
            else
                fprintf(stderr, "sock: unknown option '%s' (see 'sock --help')\n",
                        argv[optind - 1]);
            return EXIT_USAGE;
        }
    }
    if (optind >= argc) {
        fprintf(stderr, "sock: missing COMMAND (see 'sock --help')\n");
        return EXIT_USAGE;
    }
    const char *name = argv[optind];
    if (strcmp(name, "help") == 0) {
        if (optind + 1 >= argc) {
            usage(stdout);
            return EXIT_OK;
        }
        const struct command *c = find(argv[optind + 1]);
        if (!c) {
            fprintf(stderr, "sock: unknown command '%s' (see 'sock --help')\n", argv[optind + 1]);
            return EXIT_USAGE;
        }
        char *hargv[] = {(char *)c->name, "--help", NULL};
        return c->run(&o, 2, hargv);
    }
    const struct command *c = find(name);
    if (!c) {
        fprintf(stderr, "sock: unknown command '%s' (see 'sock --help')\n", name);
        return EXIT_USAGE;
    }
    if (o.progress < 0)
        o.progress = isatty(STDERR_FILENO);
    if (o.trace)
        tool_trace_on();
    /* Subcommands print their own one-line errors for bad options. */
    return c->run(&o, argc - optind, argv + optind);
}
