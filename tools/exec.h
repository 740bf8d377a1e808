/*
 * exec.h - `--exec CMD` of connect and listen: a command run through
 * /bin/sh -c with a connection as its standard input and output, as
 * `ncat -e` and socat's EXEC do.
 */
#ifndef SOCK_TOOL_EXEC_H
#define SOCK_TOOL_EXEC_H

#include "sock.h"

#include <sys/types.h>

/* Start command with the connection s as its standard input and standard
 * output; its standard error is the tool's.  The child gets no other
 * descriptor of the tool (the library's and the tool's are all
 * close-on-exec), an empty signal mask and SIGPIPE at its default.  The
 * descriptor is made blocking first (a --timeout makes it non-blocking),
 * since the command reads and writes it as an ordinary file; the tool
 * must not use s for I/O afterwards, only close its copy.  Returns the
 * child's pid, or -1 after printing why it could not start. */
pid_t exec_start(const char *cmd, const char *command, sock_t *s);

/* How the child with wait status `status` ended, said on stderr when it
 * failed (a status other than 0, a signal) or, with verbose, always;
 * client (may be NULL) names the connection.  Returns the tool's exit
 * status for it: the command's own status, or 128 + N when signal N
 * ended it (the shell's convention). */
int exec_report(const char *cmd, const char *command, pid_t pid, const char *client, int status,
                int verbose);

/* Wait for the child (EINTR retried), then exec_report() it. */
int exec_wait(const char *cmd, const char *command, pid_t pid, const char *client, int verbose);

#endif
