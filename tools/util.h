/*
 * util.h - small helpers shared by the subcommands of the `sock` tool.
 */
#ifndef SOCK_TOOL_UTIL_H
#define SOCK_TOOL_UTIL_H

#include "cli.h"
#include "sock.h"

/* Print "sock CMD: message" on stderr (printf-style), one line. */
void tool_err(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Turn the positional arguments [HOST] PORT, or a single HOST:PORT, into
 * host and port.  need_host: HOST is required (connect); otherwise it may be
 * left out (listen: every local address).  Returns 0, or EXIT_USAGE after
 * printing a one-line error naming the culprit. */
int tool_host_port(const char *cmd, int argc, char **argv, int need_host, char *host,
                   size_t hostlen, char *port, size_t portlen);

/* Apply the global options (--timeout, -4/-6) to a new handle. */
int tool_prepare(const char *cmd, const struct cli_opts *o, sock_t *s);

/* The exit status for a library failure: EXIT_USAGE when the input was
 * bad (an invalid port or address), EXIT_NET otherwise. */
int tool_status(int code);

/* After getopt_long() returned '?': print one line naming the bad option
 * and return EXIT_USAGE (the subcommands leave opterr at 0). */
int tool_bad_option(const char *cmd, int argc, char **argv);

/* Seconds of CLOCK_MONOTONIC: for durations and deadlines only. */
double tool_now(void);

/* Install the step trace on stderr (--trace). */
void tool_trace_on(void);

#endif
