/*
 * main.c - the `sock` command: global options, then one subcommand.
 */
#include "cli.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
    {"trace", cmd_trace, "run -- PROGRAM and show its socket steps and the course's mistakes"},
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
            "global options (before COMMAND, or after it as words of their own):\n"
            "  --trace          print every step of the library (bind, connect, ...) and\n"
            "                   of the data (send, recv, splice, sendfile) on stderr\n"
            "  --timeout MS     1 to 86400000 milliseconds: connect and relay bound their\n"
            "                   connect and end after MS without data; listen bounds the\n"
            "                   wait for its client (not with -k: a keep-open server waits\n"
            "                   for ever) and ends a client idle for MS; echo and resolve\n"
            "                   take none (echo: --idle-timeout)\n"
            "  -4, -6           IPv4 only, IPv6 only\n"
            "  -n               numeric hosts and ports only: no name service at all (not\n"
            "                   even /etc/hosts); a name is a usage error, as with nc -n\n"
            "  --progress       bytes and rate on stderr, on a line of their own (default:\n"
            "                   on when stderr is a terminal and stdin and stdout are not)\n"
            "  --no-progress    never print progress\n"
            "  -h, --help       this text ('sock help COMMAND' or 'sock COMMAND --help')\n"
            "  -V, --version    the version\n"
            "\n"
            "Exit status: 0 on a clean end, 1 on a network error (or when standard output\n"
            "cannot be written), 2 on a usage error.  A reader of standard output that goes\n"
            "away (sock ... | head) is a normal end: status 0, no message.\n");
}

static const struct command *find(const char *name)
{
    for (size_t i = 0; i < N_COMMANDS; i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
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

/* Progress is for a person watching a transfer they are not taking part
 * in: with a terminal on standard input or output, the line would land in
 * the middle of what they type or read.  So by default it is on only when
 * neither is a terminal and standard error is. */
static int progress_default(void)
{
    return !isatty(STDIN_FILENO) && !isatty(STDOUT_FILENO) && isatty(STDERR_FILENO);
}

static int run(const struct cli_command_line *cl)
{
    struct cli_opts o = cl->opts;
    if (cl->action == CLI_HELP) {
        usage(stdout);
        return EXIT_OK;
    }
    if (cl->action == CLI_VERSION) {
        /* The tool's version (VERSION, from the Makefile) and the
         * library's it runs with: the same number in one build. */
        printf("sock %s (libsock %s)\n", SOCK_BUILD_VERSION, sock_version());
        return EXIT_OK;
    }
    const char *name = cl->argv[0];
    if (strcmp(name, "help") == 0) {
        if (cl->argc < 2) {
            usage(stdout);
            return EXIT_OK;
        }
        const struct command *c = find(cl->argv[1]);
        if (!c) {
            tool_err(NULL, "unknown command %s (see 'sock --help')", tool_quote(cl->argv[1]));
            return EXIT_USAGE;
        }
        char *hargv[] = {(char *)c->name, "--help", NULL};
        return c->run(&o, 2, hargv);
    }
    const struct command *c = find(name);
    if (!c) {
        tool_err(NULL, "unknown command %s (see 'sock --help')", tool_quote(name));
        return EXIT_USAGE;
    }
    if (o.progress < 0)
        o.progress = progress_default();
    if (o.trace)
        tool_trace_on();
    /* Subcommands print their own one-line errors for bad options. */
    return c->run(&o, cl->argc, cl->argv);
}

int main(int argc, char **argv)
{
    /* A write to a closed pipe or connection must be an error we report,
     * not a silent death (the library itself never needs this). */
    signal(SIGPIPE, SIG_IGN);
    standard_fds_open();

    char **words = calloc((size_t)argc + 1, sizeof *words);
    if (!words) {
        fprintf(stderr, "sock: out of memory\n");
        return EXIT_NET;
    }
    struct cli_command_line cl;
    int rc = tool_parse_globals(argc, argv, words, &cl);
    if (rc == 0)
        rc = run(&cl);
    free(words);
    /* Every command's output, the demo's and bench's included, is checked
     * here once: a full disk must not pass for success. */
    int out = tool_stdout_close();
    return rc ? rc : out;
}
