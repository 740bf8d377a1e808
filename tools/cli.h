/*
 * cli.h - what the subcommands of the `sock` tool share.
 *
 * tools/main.c parses the global options (--trace, --timeout, -4/-6,
 * --progress) into a struct cli_opts with tool_parse_globals() and
 * dispatches to one cmd_* function per subcommand.  Each cmd_* receives the
 * subcommand's own arguments (argv[0] is the subcommand's name, the global
 * options already taken out), parses them with its cli_parse_* function,
 * prints its own --help, and returns the process exit status.
 *
 * The parse functions are separate from the commands so that a fuzzer (or
 * a test) can call them alone.  Each of them: takes argc/argv (argv[0] the
 * command's name) and the global options; fills its struct of parsed
 * arguments; returns 0, or EXIT_USAGE after printing one line on stderr;
 * prints nothing else (help is a flag, printed by the command); opens no
 * socket and touches no file (service names are looked up later); keeps no
 * state between calls (getopt is reset inside, with optind = 0); never
 * modifies argv.  The strings it stores point into argv or into the
 * struct itself.
 */
#ifndef SOCK_CLI_H
#define SOCK_CLI_H

#include "tls.h"

/* Exit statuses, the same for every subcommand. */
#define EXIT_OK 0     /* a clean end, also when the reader of standard output went away */
#define EXIT_NET 1    /* a network error (the library's error text printed) */
#define EXIT_USAGE 2  /* bad arguments: unknown option, bad port, ... */

/* The longest --timeout: a day, in milliseconds. */
#define CLI_TIMEOUT_MAX 86400000L

struct cli_opts {
    int trace;       /* --trace: the library's step trace on stderr */
    int timeout_ms;  /* --timeout MS (1 to CLI_TIMEOUT_MAX), -1 when not given */
    int family;      /* AF_UNSPEC, or AF_INET (-4) / AF_INET6 (-6) */
    int progress;    /* --progress: 1 on, 0 off, -1 auto (see main.c) */
    int numeric;     /* -n: numeric hosts and ports only, no name service at all */
};

/* ------------------------------------------------------------------------
 * The global options: main.c.
 * ------------------------------------------------------------------------ */

enum cli_action {
    CLI_RUN,      /* run the command in argv[0] */
    CLI_HELP,     /* -h/--help before the command: the tool's usage */
    CLI_VERSION,  /* -V/--version */
};

struct cli_command_line {
    struct cli_opts opts;
    enum cli_action action;
    int argc;     /* the command's words (argv[0] its name); 0 unless CLI_RUN */
    char **argv;  /* the words array given to tool_parse_globals, NULL-terminated */
};

/* Split a whole command line (argv[0] the program) into the global options
 * and the command's words.  The global options may come before COMMAND,
 * or after it as words of their own (--trace, --timeout MS,
 * --timeout=MS, -4, -6, -n, --progress, --no-progress), up to a "--" word,
 * which ends them (and is passed on).  After COMMAND only the exact words
 * count, so a command's own option that starts the same way is never
 * taken.  words must have room for argc + 1 pointers; it receives the
 * command's words (pointers into argv).  Returns 0, or EXIT_USAGE after
 * one line on stderr (an unknown or bad global option, no COMMAND).  The
 * command name is not checked here. */
int tool_parse_globals(int argc, char **argv, char **words, struct cli_command_line *cl);

/* ------------------------------------------------------------------------
 * One parse function per command (see the top of this file).
 * ------------------------------------------------------------------------ */

#define CLI_HOST_MAX 256
#define CLI_PORT_MAX 64

/* The longest path of a Unix socket (-U): sun_path less its NUL, the
 * library's limit too; an abstract "@name" counts its '@'. */
#define CLI_UNIX_PATH_MAX 107

/* connect [-v] [-s ADDR] [-p PORT] [--exec CMD | TLS options] HOST PORT | HOST:PORT
 * connect [-v] [--exec CMD | TLS options] -U PATH
 * With -U, host is "unix:PATH" and port is "". */
struct connect_args {
    int help;
    int verbose;       /* -v: "connected to ADDR from ADDR" on stderr */
    int is_unix;       /* -U */
    const char *exec;  /* --exec CMD (points into argv), or NULL */
    struct tool_tls tls; /* --tls, --ca, --cert/--key, --servername, --alpn, --insecure */
    char host[CLI_HOST_MAX], port[CLI_PORT_MAX];
    char src_host[CLI_HOST_MAX];  /* -s, "" when not given */
    char src_port[CLI_PORT_MAX];  /* -p, "" when not given */
};
int cli_parse_connect(const struct cli_opts *o, int argc, char **argv, struct connect_args *a);

/* listen [-k] [-v] [--exec CMD | TLS options] [HOST] PORT | -U PATH */
struct listen_args {
    int help;
    int keep;          /* -k */
    int verbose;       /* -v: "connection from ADDR" per client on stderr */
    int is_unix;       /* -U: host is "unix:PATH", port "" */
    const char *exec;  /* --exec CMD (points into argv), or NULL */
    struct tool_tls tls; /* --tls --cert --key [--ca] [--alpn] */
    char host[CLI_HOST_MAX], port[CLI_PORT_MAX];  /* host "" is every local address */
};
int cli_parse_listen(const struct cli_opts *o, int argc, char **argv, struct listen_args *a);

/* echo [--idle-timeout MS] [--backlog N] [-v] [HOST] PORT | -U PATH;
 * --timeout is a usage error here (it names --idle-timeout). */
struct echo_args {
    int help;
    int is_unix;   /* -U: host is "unix:PATH", port "" */
    int idle_ms;   /* --idle-timeout, -1 never */
    int backlog;   /* --backlog, -1 the system's maximum */
    int verbose;   /* -v */
    char host[CLI_HOST_MAX], port[CLI_PORT_MAX];
};
int cli_parse_echo(const struct cli_opts *o, int argc, char **argv, struct echo_args *a);

/* relay [-k] [-q] [--max-chunk N] [--delay MS] [--dump PREFIX | -o] [--buffer N[:M]]
 *       [--sockbuf SND[:RCV]] [--frame KIND] [--reset-after|--close-after|--stall-after DIR:N]
 *       [--tls-listen --cert FILE --key FILE] [--tls-connect [--ca FILE | --insecure]
 *       [--servername NAME] [--alpn LIST]]
 *       [-U PATH] [[HOST:]LISTEN_PORT | unix:PATH] (HOST PORT | HOST:PORT | unix:PATH)
 * A Unix side has its "unix:PATH" as host and "0" as port. */
struct relay_args {
    int help;
    int keep;        /* -k */
    int quiet;       /* -q */
    long max_chunk;  /* bytes per write, 1 to 65536 */
    long delay_ms;   /* between two writes of one direction, 0 to 60000 */
    int dump;        /* --dump or -o: the tiburoncin dump files */
    const char *dump_prefix;  /* --dump's PREFIX (into argv); NULL with -o */
    long buffer[2];  /* --buffer: the relay's buffer c>s and s>c, 0 the default */
    long sockbuf[2]; /* --sockbuf: SO_SNDBUF and SO_RCVBUF, 0 the system's */
    int frame;       /* --frame: RELAY_FRAME_* (relay.c), 0 none */
    int fault[2];    /* per direction (c>s, s>c): FWD_FAULT_* (forward.h), 0 none */
    long fault_at[2];
    char lhost[CLI_HOST_MAX], lport[CLI_PORT_MAX];  /* where to listen */
    char thost[CLI_HOST_MAX], tport[CLI_PORT_MAX];  /* the target */
    /* --tls-listen (with --cert, --key): the clients speak TLS to the
     * relay; --tls-connect (with --ca or --insecure, --servername,
     * --alpn): the relay speaks TLS to the target. */
    struct tool_tls tls_in, tls_out;
};
int cli_parse_relay(const struct cli_opts *o, int argc, char **argv, struct relay_args *a);

/* resolve [--passive] HOST [SERVICE]; --timeout is a usage error here. */
struct resolve_args {
    int help;
    int passive;
    const char *host;     /* points into argv */
    const char *service;  /* argv's, or "0" when left out */
};
int cli_parse_resolve(const struct cli_opts *o, int argc, char **argv, struct resolve_args *a);

/* ------------------------------------------------------------------------
 * The commands.
 * ------------------------------------------------------------------------ */

int cmd_connect(const struct cli_opts *o, int argc, char **argv);
int cmd_listen(const struct cli_opts *o, int argc, char **argv);
int cmd_echo(const struct cli_opts *o, int argc, char **argv);
int cmd_relay(const struct cli_opts *o, int argc, char **argv);
int cmd_resolve(const struct cli_opts *o, int argc, char **argv);
int cmd_bench(const struct cli_opts *o, int argc, char **argv);
int cmd_demo(const struct cli_opts *o, int argc, char **argv);
int cmd_trace(const struct cli_opts *o, int argc, char **argv);  /* tools/trace/ */

#endif
