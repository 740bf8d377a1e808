/*
 * trace/trace.h - the parts of libsocktrace.so, the interposer behind
 * `sock trace`.
 *
 *   interpose.c   the LD_PRELOAD wrappers: each calls the real function
 *                 (dlsym(RTLD_NEXT)), then records what happened
 *   state.c       what we know of each descriptor: TCP or not, options,
 *                 a pending partial send, end-of-stream count, the
 *                 threads inside a call on it
 *   diagnose.c    the course's mistakes that only the process itself can
 *                 see (partial send, unread data at close, close under a
 *                 blocked thread, recv after end of stream, two threads at
 *                 once, sockets left at exit)
 *   report.c      filling and sending records to the parent
 *
 * The library must not change the program's behaviour: every wrapper
 * returns what the real call returned with errno as it left it, opens no
 * descriptor the program could see, and installs no signal handler.
 * Everything here is private to the library (hidden visibility); only the
 * wrapped libc names are exported.
 */
#ifndef SOCK_TRACE_TRACE_H
#define SOCK_TRACE_TRACE_H

#include "record.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

/* Descriptors above this are passed through untraced. */
#define TRACE_MAX_FD 8192
/* Bytes of a pending partial send kept to recognise its continuation. */
#define TRACE_PEND_BYTES 32
/* recv returning 0 this many times on one socket is a loop that missed the
 * end of stream. */
#define TRACE_EOF_REPEATS 3

enum fd_kind { FK_UNKNOWN = 0, FK_TCP, FK_OTHER };
enum io_dir { IO_SEND = 0, IO_RECV = 1, IO_ACCEPT = 2, IO_DIRS };

struct fd_state {
    /* Guarded by trace_lock. */
    int kind;
    int reuseaddr;        /* SO_REUSEADDR set to non-zero */
    int linger0;          /* SO_LINGER on with 0 seconds: a wanted reset */
    int shut_rd;          /* shutdown(SHUT_RD or SHUT_RDWR) done */
    int shared;           /* a fork() happened while it was open */
    int64_t pend_asked;   /* a partial send: bytes the send was given */
    int64_t pend_left;    /* ... and bytes still to go (0: none pending) */
    uint8_t pend_bytes[TRACE_PEND_BYTES];
    int pend_n;
    int zeros;            /* recv calls that returned 0 */
    int reported[DG_COUNT];
    /* Threads inside a call on this descriptor, per direction: read and
     * written without the lock, so that a blocked call holds nothing. */
    atomic_int inside[IO_DIRS];
    atomic_int inside_tid[IO_DIRS];
};

extern pthread_mutex_t trace_lock;

/* The state of fd, or NULL if fd is out of range. */
struct fd_state *trace_fd(int fd);
/* Forget fd (closed, or replaced by dup2). */
void trace_fd_reset(int fd);
/* 1 if fd is a TCP socket we trace (probing an unknown descriptor once). */
int trace_is_tcp(int fd);
/* After fork: every open traced socket is now shared by two processes.
 * In the child (child 1), no other thread exists any more: nobody is
 * inside a call. */
void trace_mark_all_shared(int child);

/* report.c */
extern int trace_out_fd;        /* the record socket, -1 when not tracing */
extern int trace_data_bytes;    /* bytes of data to copy per data call */
int trace_tid(void);
/* After fork() in the child: its pid and its one thread's id are new. */
void trace_report_forked(void);
/* Zero a record and fill its op, pid, tid, time and fd. */
void trace_rec_init(struct trace_rec *r, int op, int fd);
/* Add the socket's TCP state and, if addrs, its local and peer addresses. */
void trace_rec_sockinfo(struct trace_rec *r, int fd, int addrs);
/* Copy up to trace_data_bytes of the data in iov (n bytes in all). */
void trace_rec_data(struct trace_rec *r, const struct iovec *iov, int iovcnt, size_t n);
/* Send the record to the parent now, after the records the thread held
 * back.  Keeps errno. */
void trace_emit(struct trace_rec *r);
/* Hold the record of a data step back, to go with the next message. */
void trace_emit_data(struct trace_rec *r);
/* Send what the thread holds back now (before it may wait for long). */
void trace_flush(void);
/* 1 if the thread holds records back. */
int trace_pending(void);
/* Once, before any record. */
void trace_report_init(void);
void trace_emit_diag(int diag, int fd, int a1, int64_t asked, int64_t ret, int other_tid);

/* diagnose.c */
/* A send on fd is about to happen / has happened (iov: its data). */
void trace_diag_send(int fd, const struct iovec *iov, int iovcnt, size_t total, ssize_t n,
                     int err);
void trace_diag_recv(int fd, size_t asked, ssize_t n);
/* Entering and leaving a call of direction dir on fd. */
void trace_diag_enter(int fd, int dir);
void trace_diag_leave(int fd, int dir);
/* close(fd) is about to happen: returns the bytes left unread (or 0). */
int trace_diag_close(int fd);
/* The process is exiting. */
void trace_diag_exit(void);

/* The real libc functions (interpose.c). */
extern ssize_t (*trace_real_send)(int, const void *, size_t, int);
extern int (*trace_real_getsockopt)(int, int, int, void *, socklen_t *);

#endif
