/*
 * forward.h - the one two-way forwarding engine of the tool: `sock
 * connect` and `sock listen` (a connection and the standard streams) and
 * `sock relay` (two connections, many sessions on one poller).
 *
 * A session joins two sides, A and B.  A side is a connection (a sock_t)
 * or a pair of foreign descriptors (standard input and output).  Each
 * direction (A->B and B->A) moves its bytes on its own:
 *
 *   - through a sock_pipe_t (splice: the bytes never enter user memory),
 *     opened at the direction's first byte;
 *   - from a regular file to a connection with sock_sendfile();
 *   - through a copy buffer of FWD_BUF_BYTES, allocated while bytes are in
 *     flight, where a hook must see the bytes (a hexdump, --max-chunk,
 *     --delay), where the library cannot be used without waiting (a
 *     foreign socket as standard input or output), or where a connection
 *     has a layer (TLS: its bytes must pass through user memory).
 *
 * A layered connection may hold received bytes that the poller cannot see
 * (sock_pending): the engine reads them on at once, without waiting, as
 * long as the direction has room, and waits for what the layer asks
 * (sock_want), which may be the other readiness than the direction's.
 *
 * A direction reads only while it has room, so a destination that does not
 * read stops the reading from its source: a session holds at most its two
 * pipes (kernel memory) or two copy buffers.  End of stream is passed on
 * (a shutdown of writing, once everything before it was delivered) while
 * the other direction goes on.  A failure of a connection (a reset) is
 * passed on after the bytes that side sent before it were delivered: the
 * other side, when it is a connection and hooks->pass_failures is set, is
 * aborted.  The session is finished when both directions have ended, or
 * when a failure has been passed on.
 *
 * The engine registers the session's descriptors with the caller's poller,
 * level-triggered, each with a struct fwd_end as its pointer, and keeps
 * their interest in step with what each direction can do.  The caller
 * waits and gives every event whose pointer is an end (kind FWD_KIND_END)
 * to fwd_event().  Descriptors the poller refuses (a regular file,
 * /dev/null) are always ready: while fwd_has_ready() the caller must not
 * sleep, and calls fwd_run().  fwd_run() also makes the writes held back by
 * --delay once they are due (fwd_next_due()).
 */
#ifndef SOCK_TOOL_FORWARD_H
#define SOCK_TOOL_FORWARD_H

#include "sock.h"

#include <stddef.h>

/* The copy buffer of one direction, and the most a hook sees at once. */
#define FWD_BUF_BYTES 65536

/* The first member of every pointer the tool registers with a poller, so
 * that one loop can tell ends from its own registrations. */
#define FWD_KIND_END 0x46574400

enum { FWD_A = 0, FWD_B = 1 };           /* sides; direction d reads side d */
enum { FWD_OP_READ, FWD_OP_WRITE, FWD_OP_SHUTDOWN, FWD_OP_EVENT };

struct fwd;

/* One descriptor of a side, as the poller knows it. */
struct fwd_end {
    int kind;              /* FWD_KIND_END */
    struct fwd *f;
    int side;
    int fd;                /* -1: none */
    unsigned interest;     /* what it is registered for (or would be) */
    unsigned char watched; /* in the poller */
    unsigned char always;  /* the poller refused it: always ready */
    unsigned char hung_up; /* hung up with nothing wanted: left out of the poller */
    unsigned char on_fill, on_drain; /* the readiness its fill / drain waits for now */
};

/* One direction: from side `d` to side `1 - d`. */
struct fwd_dir {
    int mode;                  /* FWD_PIPE, FWD_COPY, FWD_SENDFILE (forward.c) */
    sock_pipe_t pipe;
    unsigned char pipe_open;
    unsigned char pipe_full;   /* the last fill found no room (see forward.c) */
    unsigned char src_done;    /* nothing more will be read */
    unsigned char eof_passed;  /* end of stream given to the destination */
    unsigned char shut_pending; /* ... but its shutdown found no room yet (a layer's) */
    unsigned char foreign_src, foreign_dst; /* a socket of someone else's (see forward.c) */
    unsigned char adaptive;    /* copy while messages are small, splice once bulk */
    unsigned char full_reads;  /* copy reads in a row that filled the buffer */
    /* A layer (TLS) under the source or destination waits for the other
     * readiness than the direction's (sock_want): a receive that must
     * first send, a send that must first receive. */
    unsigned char src_crossed, dst_crossed;
    char *buf;                 /* copy buffer, or the urgent-data detour */
    size_t off, len;           /* buf[off, len) is still to be written */
    unsigned long long moved;  /* bytes delivered: the offset of the next */
    unsigned char fault_done;  /* the scripted fault was carried out */
    double next_write;         /* with --delay: the earliest next write */
};

struct fwd_side {
    sock_t *s;             /* the connection, or NULL: the descriptors below */
    int in_fd, out_fd;     /* without s: read here, write there; in_fd -1: no input */
    int failed;            /* the errno of its failure, 0 if none */
    int fail_op;           /* FWD_OP_*: which call failed */
    struct fwd_end in, out; /* a connection has one descriptor: `in` */
};

/* What a user of the engine adds.  All fields are optional. */
struct fwd_hooks {
    size_t max_chunk;      /* bytes per write (copy mode), 0: as many as taken */
    int delay_ms;          /* pause between two writes of one direction (copy mode) */
    int see_bytes;         /* on_data wanted: copy mode */
    int pass_failures;     /* a failed side's failure aborts the other connection */
    int trace;             /* --trace: one line per data step on a connection */
    /* The copy buffer of each direction (copy mode): 0 is FWD_BUF_BYTES.
     * A size here means copy mode for that direction. */
    size_t buf_bytes[2];
    /* A scripted fault per direction (FWD_FAULT_*, 0 none), once exactly
     * fault_at[d] bytes of it were delivered: the direction takes no byte
     * beyond them, so the fault falls on that offset.  Copy mode. */
    int fault[2];
    unsigned long long fault_at[2];
    /* n bytes were just written in direction d, at offset f->dir[d].moved. */
    void (*on_data)(struct fwd *f, int d, const char *p, size_t n);
    /* Direction d has ended: everything was delivered, and end of stream
     * is being passed on (the destination, if a connection, is shut down
     * for writing right after). */
    void (*on_eof)(struct fwd *f, int d);
    /* Side x failed with errno err; the failure has been passed on (the
     * other connection aborted) and the session is over. */
    void (*on_failed)(struct fwd *f, int x, int err);
    /* Direction d reached its scripted fault, about to be carried out:
     * FWD_FAULT_RESET aborts both connections and ends the session,
     * FWD_FAULT_CLOSE passes end of stream on (on_eof follows) and reads
     * the source no more, FWD_FAULT_STALL reads the source no more. */
    void (*on_fault)(struct fwd *f, int d, int fault);
};

enum { FWD_FAULT_NONE, FWD_FAULT_RESET, FWD_FAULT_CLOSE, FWD_FAULT_STALL };

struct fwd {
    struct fwd_side side[2];
    struct fwd_dir dir[2];
    const struct fwd_hooks *h;
    sock_poller_t *poller;
    void *user;            /* the caller's */
    int a_endless;         /* side A's input never ends (a terminal): done when B->A is */
    double last_moved;     /* when bytes last moved (or a delayed write becomes due) */
    int over;              /* finished by a failure, an abort, or a local error */
    int fail_side;         /* the side whose failure ended it, -1 none */
    int local_err;         /* a descriptor of a side without connection failed */
    const char *local_what;
    int output_gone;       /* side A's output went away (EPIPE): a quiet end */
};

/* Start forwarding between f->side[A] and f->side[B] (filled in by the
 * caller: s, or in_fd/out_fd; the rest zero), registering their
 * descriptors with p.  A connection is made non-blocking.  Returns 0 or
 * -errno (nothing is left registered then; call fwd_stop() anyway). */
int fwd_start(struct fwd *f, sock_poller_t *p, const struct fwd_hooks *h);

/* One event of the poller for end e. */
void fwd_event(struct fwd_end *e, unsigned events);

/* An always-ready descriptor has work: do not sleep. */
int fwd_has_ready(const struct fwd *f);

/* Serve the always-ready descriptors and the delayed writes now due. */
void fwd_run(struct fwd *f);

/* When the next write held back by --delay is due (tool_now() seconds), or
 * -1 when none is waiting. */
double fwd_next_due(const struct fwd *f);

/* Bytes direction d has taken from its source and not yet delivered (in
 * its pipe or copy buffer).  Inside on_data, the n bytes being reported
 * still count. */
size_t fwd_pending(const struct fwd *f, int d);

/* Both directions ended, or the session is over. */
int fwd_finished(const struct fwd *f);

/* Abort both connections (a reset each) and end the session. */
void fwd_abort(struct fwd *f);

/* At most max pipes open at once in this process (-1, the default: no
 * limit); a direction that finds none copies through its buffer instead.
 * A relay of thousands of clients keeps descriptors for its connections
 * this way: each pipe takes two. */
void fwd_set_pipe_limit(long max);

/* Release the pipes and buffers and leave the poller (the connections stay
 * open: they are the caller's). */
void fwd_stop(struct fwd *f);

#endif
