/*
 * pump.h - move bytes both ways between local descriptors and a
 * connection, as `sock connect` and `sock listen` do.
 */
#ifndef SOCK_TOOL_PUMP_H
#define SOCK_TOOL_PUMP_H

#include "sock.h"

struct pump_opts {
    const char *cmd;  /* subcommand name, for messages */
    int idle_ms;      /* give up after this long without progress; -1 never */
    int progress;     /* print bytes and rate on stderr once a second */
    int trace;        /* --trace: one trace line per system call that moved data */
};

struct pump_stats {
    unsigned long long sent;      /* in_fd -> connection */
    unsigned long long received;  /* connection -> out_fd */
    int output_gone;              /* out_fd's reader went away (EPIPE): a quiet end */
};

/* Copy in_fd to the connection and the connection to out_fd until the peer
 * has closed its side and in_fd is exhausted (or, when in_fd is a terminal,
 * until the peer has closed).  End of in_fd half-closes the connection
 * (shutdown write), so the peer sees end of stream and can still reply.
 * The forwarding engine (forward.h) moves the bytes: a regular file is
 * sent with sendfile(); a pipe, regular file, terminal or /dev/null on
 * either side is joined to the connection through a sock_pipe_t (splice,
 * or the library's copy where the kernel refuses); a foreign socket goes
 * through a 64 KiB buffer.
 * When the connection fails (a reset), what it delivered before is still
 * written to out_fd, then the failure is reported.  idle_ms counts from
 * the last byte moved in either direction.  When out_fd's reader goes away
 * (EPIPE: `sock connect ... | head`), the transfer ends quietly with
 * EXIT_OK and st->output_gone set, as a pipeline tool's does.  With
 * progress on, SIGINT and SIGTERM first finish the progress line, then
 * end the process as they would have.  Returns EXIT_OK, or EXIT_NET after
 * printing what failed (a reset, a write error, a truncated transfer). */
int pump_run(sock_t *s, int in_fd, int out_fd, const struct pump_opts *o, struct pump_stats *st);

#endif
