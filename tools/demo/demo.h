/*
 * demo.h - what the parts of `sock demo` share.
 *
 * The demo runs the seed's script with two worker processes (a client and a
 * server) driven step by step by the parent, which also captures the wire,
 * asks each worker what the kernel says about its sockets, and draws it all.
 *
 *   demo.c          options, the script, the parent's loop
 *   worker.c        the two workers: libsock calls on command
 *   kernel.c        TCP_INFO, sock_diag over netlink, the ephemeral range
 *   capture.c       the AF_PACKET capture
 *   packet.c        its IPv4/IPv6/TCP parser, no socket needed (fuzzable)
 *   render.c        the two columns on the terminal
 *   svg.c           the sequence diagram
 *   netns.c         the two network namespaces of --netns
 *   text.c          every sentence in English and Spanish
 */
#ifndef SOCK_DEMO_H
#define SOCK_DEMO_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "sock.h"

enum { DEMO_CLIENT = 0, DEMO_SERVER = 1, DEMO_SIDES = 2 };

/* Sockets per side: the client has cli; the server has acep and srv. */
#define DEMO_SLOTS 2
/* Calls one side makes in one step at most. */
#define DEMO_CALLS 3
/* Segments kept per step; more are counted, not stored. */
#define DEMO_SEGS 64

/* ----------------------------------------------------------------- options */

struct cli_opts;

/* What `sock demo` was asked for. */
struct demo_opts {
    int netns, step, abort_mode, family;
    const char *svg;  /* --svg FILE ("-": standard output), NULL if none */
    int lang_es;      /* Spanish (--lang es, or es_* in the environment) */
    int help;         /* --help: print the usage, do nothing else */
};

/* Parse demo's arguments (argv[0] is "demo") into opt, with the global
 * options o (-4/-6).  No side effect but the one-line usage error on
 * stderr: opens nothing, prints no help (opt->help says it was asked),
 * resets getopt itself.  Returns 0 or EXIT_USAGE. */
int demo_parse_opts(const struct cli_opts *o, int argc, char **argv, struct demo_opts *opt);

/* ------------------------------------------------------------------ kernel */

/* What the kernel says about one socket of a worker, after a step. */
struct demo_sock_info {
    int used;                       /* the slot has been created */
    char name[8];                   /* "cli", "acep", "srv" */
    int fd;                         /* descriptor, -1 if none (yet or any more) */
    int had_fd;                     /* it had one: -1 now means closed */
    char local[SOCK_ADDRSTRLEN];    /* last known local address, "" if none */
    char peer[SOCK_ADDRSTRLEN];     /* last known peer address, "" if none */
    int fd_state;                   /* tcpi_state of the open fd, -1 if no fd */
    int kernel_state;               /* sock_diag state of the 4-tuple, -1 if gone */
    unsigned expires_ms;            /* sock_diag timer (TIME_WAIT's time left) */
    unsigned queue, backlog;        /* a listener's accept queue and backlog */
    int unread;                     /* bytes waiting in the receive buffer, -1 unknown */
    int unsent;                     /* bytes in the send queue not yet acknowledged */
};

/* A TCP state number (TCP_ESTABLISHED ...) as the kernel names it. */
const char *demo_state_name(int state);
/* Fill in fd_state/queue/backlog/unread from the open descriptor. */
void demo_kernel_fd_info(int fd, struct demo_sock_info *si);
/* Look the 4-tuple local/peer up with NETLINK_SOCK_DIAG (as `ss` does).
 * Returns the TCP state, or -1 when the kernel has no such socket; *expires
 * gets its timer in ms.  Returns -2 (with errno) if netlink failed. */
int demo_diag_lookup(const struct sockaddr_storage *local,
                     const struct sockaddr_storage *peer, unsigned *expires);
/* The kernel's ephemeral port range; 0 on success. */
int demo_port_range(int *lo, int *hi);

/* ----------------------------------------------------------------- capture */

/* One TCP segment seen on the wire. */
struct demo_segment {
    double t;             /* seconds since the demo started */
    int from;             /* DEMO_CLIENT or DEMO_SERVER: who sent it */
    uint8_t flags;        /* TH_SYN ... as on the wire */
    uint32_t seq, ack;    /* as on the wire from demo_parse_packet(); relative to
                             each side's initial sequence number after
                             demo_conn_segment() */
    uint32_t len;         /* payload bytes (from the IP header's length) */
    uint16_t win;         /* window field as sent (unscaled) */
    uint16_t mss;         /* MSS option, 0 if none */
    int retrans;          /* 1: its sender had already sent (part of) its
                             sequence range: a retransmission */
    char preview[24];     /* the first payload bytes, printable */
    int family;           /* AF_INET or AF_INET6 */
    uint8_t src[16], dst[16];  /* addresses, 4 or 16 bytes used */
    uint16_t sport, dport;     /* ports, host order */
};

/* Parse one captured packet: buf holds len bytes starting with the IP
 * header (IPv4 or IPv6, no link-layer header: what an AF_PACKET SOCK_DGRAM
 * socket delivers), possibly cut short by the capture's snap length after
 * the TCP header.  IPv6 extension headers (hop-by-hop, routing, fragment,
 * destination options, AH) are skipped, at most 8 of them.
 *
 * Returns 1 and fills *seg (seq and ack as on the wire, from unset) for a
 * TCP segment whose IP and TCP headers, options included, are all within
 * len; 0 for a packet that is well formed but not TCP (another protocol or
 * IP version, ESP, a fragment after the first, too many extension
 * headers); -1 for a truncated or malformed packet (len shorter than a
 * header, IHL or TCP data offset below 5 words or beyond the packet, IP
 * length shorter than the headers).  On 0 and -1 *seg is zeroed.  Reads
 * only buf[0..len-1], never writes outside *seg, keeps no state: safe on
 * any bytes.  buf may be NULL when len is 0. */
int demo_parse_packet(const uint8_t *buf, size_t len, struct demo_segment *seg);

/* One end of the demo's connection, as the capture matches it. */
struct demo_endpoint {
    int family;
    uint8_t addr[16];
    uint16_t port;     /* host order */
    int known;
};

/* What the capture knows of the demo's connection, from segment to segment
 * (zero it to start). */
struct demo_conn {
    struct demo_endpoint srv, cli;
    uint32_t isn[DEMO_SIDES];      /* each side's initial sequence number */
    int have_isn[DEMO_SIDES];
    uint32_t next[DEMO_SIDES];     /* each side's highest sequence number sent + 1 */
    int have_next[DEMO_SIDES];
};

void demo_conn_set_server(struct demo_conn *c, const struct sockaddr_storage *srv);
void demo_conn_set_client(struct demo_conn *c, const struct sockaddr_storage *cli);
/* Relate a parsed segment to the connection: returns 1 if it belongs to it
 * (to or from the server's address and port, and, once the client is set,
 * the client's), then sets from, makes seq/ack relative, and sets retrans
 * when the segment's sequence range (data, SYN, FIN) starts before what its
 * side had already sent.  Returns 0 for another connection's segment. */
int demo_conn_segment(struct demo_conn *c, struct demo_segment *seg);

struct demo_capture;

/* Open a packet socket on interface ifname of the current network
 * namespace.  Returns NULL with errno set (EPERM without CAP_NET_RAW). */
struct demo_capture *demo_capture_open(const char *ifname);
/* Tell the capture the server's address (filtered in the kernel by its
 * port) and, once known, the client's. */
int demo_capture_set_server(struct demo_capture *c, const struct sockaddr_storage *srv);
void demo_capture_set_client(struct demo_capture *c, const struct sockaddr_storage *cli);
/* Read what arrived, waiting until the wire has been quiet for quiet_ms
 * (at most max_ms in all).  Stores up to max segments in out and returns
 * how many were seen in all (which may exceed max). */
int demo_capture_drain(struct demo_capture *c, struct demo_segment *out, int max,
                       int quiet_ms, int max_ms);
/* Segments the kernel dropped before we read them (0 normally). */
unsigned demo_capture_drops(struct demo_capture *c);
void demo_capture_close(struct demo_capture *c);
/* "SYN", "SYN-ACK", "FIN-ACK", "RST", "ACK", "PSH-ACK": the segment's name. */
const char *demo_segment_kind(const struct demo_segment *s, char *buf, size_t len);
/* Seconds since the demo started (the capture's clock). */
double demo_now(void);

/* ------------------------------------------------------------------ worker */

enum demo_op {
    OP_INIT = 1,     /* sock_init(slot) */
    OP_BIND,         /* sock_bind(slot, host, port) */
    OP_LISTEN,       /* sock_listen(slot, n) */
    OP_CONNECT,      /* sock_connect(slot, host, port) */
    OP_ACCEPT,       /* sock_accept(slot, slot2) */
    OP_SEND,         /* sock_send_all(slot, data) */
    OP_SEND_SOME,    /* sock_send(slot, n generated bytes) with a short timeout */
    OP_RECV,         /* sock_recv_all(slot, n bytes) */
    OP_RECV_ONE,     /* sock_recv(slot, n): one call, 0 is end of stream */
    OP_RECV_DRAIN,   /* sock_recv until 0 or an error, counting bytes */
    OP_SHUTDOWN,     /* sock_shutdown(slot, n) */
    OP_CLOSE,        /* sock_close(slot) */
    OP_REPORT,       /* the kernel's view of every slot */
    OP_EXIT
};

struct demo_cmd {
    int op;
    int slot, slot2;
    long n;
    char host[64];
    char port[16];
    char name[8];          /* OP_INIT/OP_ACCEPT: the new socket's name */
    char data[128];        /* OP_SEND */
};

/* What a call returned. */
struct demo_result {
    long long result;          /* the library's return value */
    long long bytes;           /* bytes moved (send/recv) */
    int code;                  /* the failing code, 0 on success */
    int fd;                    /* the descriptor the call used or created */
    int unread_before;         /* OP_CLOSE: bytes left unread when closing */
    char error[SOCK_ERRLEN];   /* sock_error() on failure */
    char data[96];             /* received bytes (start), for the display */
    char local[SOCK_ADDRSTRLEN];
    char peer[SOCK_ADDRSTRLEN];
};

struct demo_report {
    struct demo_sock_info s[DEMO_SLOTS];
};

/* A running worker: its pid and the two pipe ends the parent holds. */
struct demo_worker {
    pid_t pid;
    int cmd_fd;     /* parent writes commands */
    int res_fd;     /* parent reads results */
};

/* Fork a worker that first enters the network namespace netns (NULL: stay)
 * and then obeys commands.  Returns 0 or -errno. */
int demo_worker_start(struct demo_worker *w, const char *netns);
/* Send cmd and wait (at most timeout_ms) for its result; res_len is the
 * size of the reply expected.  Returns 0 or -errno (-ETIMEDOUT, -EPIPE). */
int demo_worker_call(struct demo_worker *w, const struct demo_cmd *cmd,
                     void *res, size_t res_len, int timeout_ms);
/* Send a command without waiting for its result, and collect it later:
 * for steps where both sides act at once. */
int demo_worker_post(struct demo_worker *w, const struct demo_cmd *cmd);
int demo_worker_collect(struct demo_worker *w, void *res, size_t res_len, int timeout_ms);
/* Ask the worker to exit and reap it (killing it if it does not). */
void demo_worker_stop(struct demo_worker *w);

/* ------------------------------------------------------------------- steps */

/* One call of one side, as shown. */
struct demo_call {
    char text[192];      /* cli.connect("127.0.0.1", "39211") */
    char result[320];    /* "→ 0", "→ 10 bytes \"GET /hola\"" */
    int failed;
};

/* Everything a step showed: drawn on the terminal at once and kept for the
 * SVG at the end. */
struct demo_step {
    char label[8];                        /* "4a" */
    const char *title;                    /* what the step is, one line */
    const char *note;                     /* an explanation, or NULL */
    char extra[320];                      /* a note built from the run, or "" */
    struct demo_call calls[DEMO_SIDES][DEMO_CALLS];
    int ncalls[DEMO_SIDES];
    struct demo_report rep[DEMO_SIDES];
    struct demo_segment segs[DEMO_SEGS];
    int nsegs;                            /* seen in all (may exceed DEMO_SEGS) */
};

/* The run as a whole. */
struct demo_run {
    int lang_es;
    int capture_ok;           /* segments are being captured */
    char capture_why[160];    /* why not, when not */
    char ifname[32];
    char host[DEMO_SIDES][64];   /* "127.0.0.1" or "10.1.1.1" / "10.2.2.2" */
    char netns[DEMO_SIDES][64];  /* namespace names with --netns, else "" */
    struct demo_step *steps;
    int nsteps;
};

/* ------------------------------------------------------------------ render */

struct demo_render;

/* How the terminal is drawn: colours only on a tty, box lines and accents
 * only where the locale is UTF-8 (by its character set or, when setlocale
 * fails, by the name in LC_ALL / LC_CTYPE / LANG ending in .UTF-8 or
 * .utf8), every line within demo_render_width(fileno(out)) characters. */
struct demo_render *demo_render_new(FILE *out, const struct demo_run *run);
void demo_render_header(struct demo_render *r);
void demo_render_step(struct demo_render *r, const struct demo_step *st);
/* A paragraph, wrapped; "" is an empty line. */
void demo_render_line(struct demo_render *r, const char *text);
/* text with no newline after it (the --step prompt). */
void demo_render_prompt(struct demo_render *r, const char *text);
/* Flush; then 0 if every write so far succeeded, else the errno of the
 * first that failed. */
int demo_render_error(struct demo_render *r);
void demo_render_free(struct demo_render *r);

/* The narrowest and widest layouts the terminal drawing uses. */
#define DEMO_WIDTH_MIN 60
#define DEMO_WIDTH_MAX 120
/* The width to draw in for output descriptor fd: the terminal's (TIOCGWINSZ)
 * when fd is one, else $COLUMNS when it is a positive number, else 80;
 * then kept within DEMO_WIDTH_MIN..DEMO_WIDTH_MAX. */
int demo_render_width(int fd);

/* Bytes of one wrapped line: DEMO_WIDTH_MAX characters of up to 3 bytes,
 * plus indentation. */
#define DEMO_LINE_BYTES 512
/* Wrap UTF-8 text into lines of at most width characters (code points),
 * breaking only at spaces; continuation lines start with indent spaces
 * (at most width / 2).  Leading spaces of the text are kept.  A word longer
 * than a whole line is the only thing cut.  Returns the number of lines
 * stored (at most max). */
int demo_wrap(const char *text, int width, int indent, char (*lines)[DEMO_LINE_BYTES], int max);

/* Write the run as an SVG sequence diagram.  Returns 0 or -errno. */
int demo_svg_write(FILE *f, const struct demo_run *run);

/* ------------------------------------------------------------------- netns */

/* Create the two namespaces and the veth between them (names derived from
 * our pid), and arrange for their removal on exit, SIGINT and SIGTERM.
 * Returns 0, or -1 after printing why. */
int demo_netns_setup(char cli[64], char srv[64], char *ifname, size_t iflen);
/* Remove them (idempotent).  Safe to call from a signal handler. */
void demo_netns_cleanup(void);
/* Register worker pids for the signal handler to kill before cleaning up. */
void demo_netns_watch(pid_t a, pid_t b);
/* Enter namespace name (from /var/run/netns) in this thread; 0 or -errno. */
int demo_netns_enter(const char *name);
/* Remember the current namespace / go back to it. */
int demo_netns_save(void);
int demo_netns_restore(int saved);
/* Namespaces left by demos killed with SIGKILL: remove those whose pid is
 * gone. */
void demo_netns_reap_stale(void);

/* -------------------------------------------------------------------- text */

enum demo_text {
    T_TITLE, T_SUBTITLE, T_CLIENT, T_SERVER, T_STEP, T_WIRE, T_NO_SEGMENTS,
    T_NO_CAPTURE, T_CAPTURE_ON, T_MORE_SEGMENTS, T_NO_FD_YET, T_FD_CLOSED,
    T_GONE, T_QUEUE, T_UNREAD, T_TW_LEFT, T_KERNEL_KEEPS, T_PRESS_ENTER,
    T_S1, T_S1_NOTE, T_S2, T_S2_NOTE, T_S2_NOTE_NETNS, T_S3, T_S3_NOTE, T_S4A, T_S4A_NOTE,
    T_S4B, T_S4B_NOTE, T_S5A, T_S5A_NOTE, T_S5B, T_S5B_NOTE, T_S6A, T_S6A_NOTE,
    T_S6B, T_S6B_NOTE, T_S7, T_S7_NOTE, T_S7_NOTE_NETNS, T_S8A, T_S8A_NOTE, T_S8B, T_S8B_NOTE,
    T_PORT80, T_PORT80_NETNS, T_AB5A, T_AB5A_NOTE, T_AB5B, T_AB5B_NOTE,
    T_AB6, T_AB6_NOTE, T_AB7, T_AB7_NOTE, T_AB_LOST, T_AB_KEPT,
    T_END, T_END_ABORT, T_SVG_WRITTEN, T_BYTES, T_EOF, T_NETNS_INFO,
    T_DROPS, T_UNSENT, T_RETRANS, T_FROM, T_THEN, T_OF, T_UNTIL_END, T_COUNT
};

/* The text in the run's language. */
const char *demo_text(enum demo_text id);
void demo_text_set_spanish(int on);
/* Spanish asked for by LANG / LC_ALL / LC_MESSAGES (es_*). */
int demo_text_env_spanish(void);

#endif
