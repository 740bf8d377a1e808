/*
 * cli.h - what the subcommands of the `sock` tool share.
 *
 * tools/main.c parses the global options (--trace, --timeout, -4/-6,
 * --progress) into a struct cli_opts and dispatches to one cmd_* function
 * per subcommand.  Each cmd_* receives the subcommand's own arguments
 * (argv[0] is the subcommand's name), parses its options with getopt_long,
 * prints its own --help, and returns the process exit status.
 */
#ifndef SOCK_CLI_H
#define SOCK_CLI_H

/* Exit statuses, the same for every subcommand. */
#define EXIT_OK 0     /* a clean end */
#define EXIT_NET 1    /* a network error (the library's error text printed) */
#define EXIT_USAGE 2  /* bad arguments: unknown option, bad port, ... */

struct cli_opts {
    int trace;       /* --trace: the library's step trace on stderr */
    int timeout_ms;  /* --timeout MS, -1 when not given */
    int family;      /* AF_UNSPEC, or AF_INET (-4) / AF_INET6 (-6) */
    int progress;    /* --progress: 1 on, 0 off, -1 auto (on if stderr is a tty) */
};

int cmd_connect(const struct cli_opts *o, int argc, char **argv);
int cmd_listen(const struct cli_opts *o, int argc, char **argv);
int cmd_echo(const struct cli_opts *o, int argc, char **argv);
int cmd_relay(const struct cli_opts *o, int argc, char **argv);
int cmd_resolve(const struct cli_opts *o, int argc, char **argv);
int cmd_bench(const struct cli_opts *o, int argc, char **argv);
int cmd_demo(const struct cli_opts *o, int argc, char **argv);

#endif
