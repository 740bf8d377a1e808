/*
 * trace/record.h - what the interposer (libsocktrace.so) tells `sock trace`.
 *
 * Each socket step of the traced program becomes one record, sent as one
 * message on a SOCK_SEQPACKET socket that the parent `sock trace` created
 * and left open in the program (its number is in $SOCK_TRACE_FD).  One
 * message per record keeps the records of several threads and processes
 * whole and in the order the kernel saw them.  Both sides are built from
 * this one header, so the layout is not a file format: it only has to
 * agree with itself.
 */
#ifndef SOCK_TRACE_RECORD_H
#define SOCK_TRACE_RECORD_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* The environment the parent sets for the program. */
#define TRACE_ENV_FD "SOCK_TRACE_FD"       /* the record socket's number */
#define TRACE_ENV_DATA "SOCK_TRACE_DATA"   /* bytes of data to copy per call */

/* Most bytes of data a record carries (-x asks for this much). */
#define TRACE_DATA_MAX 1024
/* Bytes of data copied by default: the preview of a data step. */
#define TRACE_DATA_PREVIEW 24

enum trace_op {
    TR_START = 1,  /* a process begins under the trace (text: program) */
    TR_EXIT,       /* it calls exit(): ret is the status given */
    TR_FORK,       /* fork() in the parent: fd2 is the child's pid */
    TR_EXEC,       /* execve(): text is the path; sent before the call */
    TR_SOCKET,     /* a1 family, a2 type */
    TR_BIND,
    TR_LISTEN,     /* asked: the backlog */
    TR_ACCEPT,     /* fd the acceptor, fd2 the new descriptor */
    TR_CONNECT,
    TR_SEND,       /* call names which one; asked: bytes offered */
    TR_RECV,       /* asked: room offered */
    TR_SHUTDOWN,   /* a1: how */
    TR_CLOSE,      /* unread: bytes left in the receive queue */
    TR_SETSOCKOPT, /* a1 level, a2 option, asked: the value (SO_LINGER: on*65536+secs) */
    TR_GETSOCKOPT,
    TR_GETADDRINFO,/* text: node, service and the addresses found */
    TR_DIAG,       /* a mistake seen inside the process: diag says which */
};

/* The course's mistakes, numbered as in the issue. */
enum trace_diag {
    DG_NONE = 0,
    DG_PARTIAL_SEND = 1,   /* asked: bytes the first send was given, ret: moved */
    DG_SIGPIPE = 2,        /* (the parent sees this one) */
    DG_UNREAD_CLOSE = 3,   /* unread: bytes left */
    DG_ADDRINUSE = 4,      /* (the parent classifies this one) */
    DG_LEFT_OPEN = 5,      /* (the parent sees this one) */
    DG_CLOSE_BLOCKED = 6,  /* fd2: the thread blocked; a1 1 accept, 2 recv */
    DG_RECV_AFTER_EOF = 7, /* asked: how many times recv returned 0 */
    DG_CONCURRENT = 8,     /* fd2: the other thread; a1 1 send, 2 recv */
    DG_COUNT
};

/* Where a partial-send diagnosis was seen (in a1 of a DG_PARTIAL_SEND). */
enum { DG_AT_SEND = 0, DG_AT_CLOSE = 1, DG_AT_EXIT = 2 };

/* Bits of have. */
#define TRH_LOCAL 1u   /* local holds the socket's own address */
#define TRH_PEER 2u    /* peer holds the other end's (or the asked) address */
#define TRH_STATE 4u   /* state holds tcpi_state read right after the call */
#define TRH_NONBLOCK 8u
#define TRH_REUSEADDR 16u  /* SO_REUSEADDR had been set on the socket */

struct trace_rec {
    uint16_t op;          /* enum trace_op */
    uint16_t diag;        /* enum trace_diag, for TR_DIAG */
    uint32_t have;        /* TRH_* */
    int32_t pid, tid;
    int32_t fd, fd2;
    int32_t err;          /* errno after the call, 0 on success */
    int32_t a1, a2;
    int32_t state;        /* tcpi_state, when TRH_STATE */
    int32_t unread;
    int32_t flags;        /* the call's flags argument (MSG_*) */
    int64_t ret;          /* what the call returned */
    int64_t asked;
    double t;             /* CLOCK_MONOTONIC seconds */
    char call[12];        /* "send", "write", "accept4", ... */
    char text[240];
    struct sockaddr_storage local, peer;
    uint16_t ndata;       /* bytes of data[] used */
    uint8_t data[TRACE_DATA_MAX];
};

/* The bytes of a record that carry something (the data array is cut at
 * ndata). */
#define TRACE_REC_SIZE(r) (offsetof(struct trace_rec, data) + (r)->ndata)

/* One message may carry several records one after the other (a batch of
 * data steps, then the step that sent it): each takes TRACE_REC_WIRE bytes,
 * its size rounded up so that the next one starts aligned.  A message is
 * never longer than TRACE_BATCH_MAX. */
#define TRACE_REC_WIRE(r) ((TRACE_REC_SIZE(r) + 7u) & ~(size_t)7u)
#define TRACE_BATCH_MAX 65536

#endif
