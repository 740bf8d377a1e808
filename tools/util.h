/*
 * util.h - small helpers shared by the subcommands of the `sock` tool.
 *
 * Every message that shows a person's input goes through tool_quote(), and
 * every number option through tool_parse_number(), so that bad input is
 * named the same way everywhere.
 */
#ifndef SOCK_TOOL_UTIL_H
#define SOCK_TOOL_UTIL_H

#include "cli.h"
#include "sock.h"

#include <getopt.h>

/* The most characters of a person's input that a message repeats. */
#define TOOL_QUOTE_CHARS 40

/* Print "sock CMD: message" (cmd NULL: "sock: message") on stderr,
 * printf-style, one line: control characters in the text, also those of
 * the library's error text, are escaped.  A progress line being drawn is
 * ended first, so the message has its own. */
void tool_err(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* text in single quotes, fit for a one-line message: control characters
 * and other bytes outside printable ASCII escaped (\n, \t, \xNN), and cut
 * after TOOL_QUOTE_CHARS characters with "..." after it.  The result lives
 * in one of 4 static buffers: valid until the fourth call after this one
 * (enough for one message; the tool is single-threaded where it prints). */
const char *tool_quote(const char *text);

/* Parse text, the value of option name ("--timeout") of command cmd, as a
 * whole decimal number from min to max.  unit names what it counts
 * ("milliseconds", "bytes", ...).  Returns 0 with *out set, or EXIT_USAGE
 * after one line such as
 *   sock echo: --backlog '0': a number of connections from 1 to 65535 */
int tool_parse_number(const char *cmd, const char *name, const char *text, long min, long max,
                      const char *unit, long *out);

/* Ditto for a decimal fraction ("0.5"), with the same message. */
int tool_parse_decimal(const char *cmd, const char *name, const char *text, double min,
                       double max, const char *unit, double *out);

/* getopt_long() in "+" mode (options before the first operand) with the
 * tool's messages: returns the next option as getopt_long does, -1 at the
 * end, or '?' after printing one line that names the bad option exactly:
 * the letter of a combined short option ("-kx": '-x'), the long option as
 * written (unknown, ambiguous with its candidates, missing or unwanted
 * value), or a negative number taken for an option (an invalid port).
 * The caller resets getopt (optind = 0) before its first call, and returns
 * EXIT_USAGE on '?'.  shortopts is given without the leading "+:". */
int tool_getopt(const char *cmd, int argc, char **argv, const char *shortopts,
                const struct option *longopts);

/* Turn the positional arguments [HOST] PORT, or a single HOST:PORT, into
 * host and port: the one parser of every command.  need_host: HOST is
 * required (connect, a relay target); otherwise it may be left out or
 * empty (":8080": every local address).  The rules: PORT is a number 0 to
 * 65535 or a service name, and never empty ("host:" and "host ''" are
 * errors); an IPv6 address with a port is written in brackets, and the
 * brackets are never empty; in the two-argument form HOST is a bare name
 * or address (no brackets, no ":PORT").  Returns 0, or EXIT_USAGE after
 * printing a one-line error naming the culprit. */
int tool_host_port(const char *cmd, int argc, char **argv, int need_host, char *host,
                   size_t hostlen, char *port, size_t portlen);

/* A PORT that tool_host_port() accepted can be turned into a number here:
 * a number, or a service name in the system's services database (no DNS
 * lookup).  For a relay, whose target is only connected to when a client
 * arrives.  Returns 0, or EXIT_USAGE after printing what was wrong. */
int tool_check_service(const char *cmd, const char *port);

/* A port option's value (connect -p): a number 0 to 65535 or a service
 * name, by the rules of tool_host_port(), copied into buf.  Returns 0, or
 * EXIT_USAGE after one line naming the option. */
int tool_parse_port(const char *cmd, const char *name, const char *text, char *buf, size_t len);

/* An address option's value (connect -s): a name or an IP address, an
 * IPv6 one maybe in brackets (removed), never empty and never a Unix
 * socket's name.  Returns 0 with it in buf, or EXIT_USAGE after one line. */
int tool_parse_host(const char *cmd, const char *name, const char *text, char *buf, size_t len);

/* -U PATH: host becomes "unix:PATH" (the library's name of a Unix socket;
 * "@name" is the abstract namespace).  PATH must be non-empty, at most
 * CLI_UNIX_PATH_MAX bytes (never cut short), and with -4/-6 it makes no
 * sense.  Returns 0, or EXIT_USAGE after one line saying what was wrong. */
int tool_unix_host(const char *cmd, const struct cli_opts *o, const char *path, char *host,
                   size_t hostlen);

/* The HOST and PORT given as words (not by -U): host is never a Unix
 * socket's "unix:" name (-U is the way to one), and with -n (o->numeric)
 * host must be a numeric address (or "") and port a number.  what names
 * the value ("HOST", "-s").  No lookup is made to decide.  Returns 0, or
 * EXIT_USAGE after one line (naming -n for -n's rule). */
int tool_check_numeric(const char *cmd, const struct cli_opts *o, const char *what,
                       const char *host, const char *port);

/* Apply the global options (--timeout, -4/-6, -n) to a new handle. */
int tool_prepare(const char *cmd, const struct cli_opts *o, sock_t *s);

/* The listener of listen, echo and relay: a new handle with -4/-6 applied
 * (and --timeout on its accepts when bound_accept), bound to host (every
 * local address when empty) and port, listening with backlog (-1: the
 * library's default); then "listening on ADDR" on stderr with the real
 * port.  Returns 0, or the exit status after printing the library's error
 * (acep is then closed). */
int tool_listen(const char *cmd, const struct cli_opts *o, const char *host, const char *port,
                int backlog, int bound_accept, sock_t *acep);

/* The exit status for a library failure: EXIT_USAGE when the input was
 * bad (an invalid port or address), EXIT_NET otherwise. */
int tool_status(int code);

/* Seconds of CLOCK_MONOTONIC: for durations and deadlines only. */
double tool_now(void);

/* Install the step trace on stderr (--trace). */
void tool_trace_on(void);

/* The progress line on stderr: tool_line_draw() replaces it with text (on
 * a terminal in place, with \r and an erase to the end of the line;
 * elsewhere one line per call); tool_line_end() finishes it with a newline
 * if one is open.  tool_line_end_signal() does the same from a signal
 * handler (one write(), nothing else). */
void tool_line_draw(const char *text);
void tool_line_end(void);
void tool_line_end_signal(void);

/* Standard output at the end of a command: flush it and report a failure
 * (a full disk, an I/O error) in one line.  A reader that went away
 * (EPIPE) is a normal end for a pipeline tool and is not reported.
 * Returns 0, or EXIT_NET after the message. */
int tool_stdout_close(void);

/* Handle SIGINT and SIGTERM with handler (SIG_DFL: as before), without
 * SA_RESTART, so that a wait returns to look at the flag it set. */
void tool_on_stop_signals(void (*handler)(int));

#endif
