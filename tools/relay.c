/*
 * relay.c - `sock relay [HOST:]LISTEN_PORT HOST PORT`: a man in the middle
 * for many clients at once.
 *
 * The relay accepts clients, connects to the target (the "server") on
 * behalf of each and forwards both directions with the forwarding engine
 * (forward.c), every session on one poller.  Standard output shows what
 * passes, each line labelled with its client's number: every write as a
 * hexdump with its direction, its offset in that direction and the time
 * since that client was accepted, and each half-close and reset as a line
 * when it happens.  --max-chunk and --delay cut the stream into small, slow
 * writes, so that the programs at both ends meet partial reads and writes
 * they would rarely see on loopback.  With -q and neither of those, no hook
 * needs to see the bytes, and the engine splices them from one socket to
 * the other through a kernel pipe.
 *
 * What bounds a session: the engine reads a direction only while it has
 * room, so a client that never reads stops the reading from its target
 * (and the target feels the back-pressure, as on a direct connection).  A
 * session holds its two connections, about 700 bytes of its own, and
 * either two kernel pipes (splice: up to 1 MiB each, pages taken only
 * while bytes are in flight) or two copy buffers of 64 KiB (hexdump,
 * --max-chunk, --delay; allocated only while bytes are in flight).
 */
#include "cli.h"
#include "forward.h"
#include "util.h"

#include <errno.h>
#include <limits.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>

#define BUF_SIZE FWD_BUF_BYTES
#define MAX_DELAY_MS 60000
#define DUMP_WIDTH 16
#define RELAY_EVENTS 256        /* events taken per wait */
#define RELAY_ACCEPT_BURST 64   /* accepts per turn, so clients already in are served too */
#define RELAY_PAUSE_S 0.25      /* retry accept this long after descriptors ran out */
#define RELAY_GRACE_S 2.0       /* on stop, how long sessions get to end by themselves */
#define RELAY_SYNC_S 0.1        /* while a receiver is behind, how often to look again */
#define MAX_BUFFER (1L << 20)   /* --buffer: the most per direction */
#define MAX_SOCKBUF (1L << 26)  /* --sockbuf: 64 MiB (the kernel caps it lower anyway) */
#define FRAME_SHOW 65536        /* --frame: the most of one message held to be shown whole */
#define DUMP_PATH_MAX 4096

/* --frame: how the stream of each direction is cut into messages. */
enum { RELAY_FRAME_NONE, RELAY_FRAME_LINE, RELAY_FRAME_U8, RELAY_FRAME_U16BE, RELAY_FRAME_U32BE,
       RELAY_FRAME_U16LE, RELAY_FRAME_U32LE };
static const char *const frame_name[] = {"", "line", "u8", "u16be", "u32be", "u16le", "u32le"};

/* What the poller's pointers point to: the listener, a connect under way,
 * or an end of a session (FWD_KIND_END). */
enum { TAG_LISTENER = 1, TAG_CONNECT = 2 };

struct relay_opts {
    int keep;          /* -k: many clients, until SIGINT/SIGTERM */
    int quiet;         /* -q: events only, no hexdump */
    long max_chunk;    /* bytes per write, 1..BUF_SIZE */
    long delay_ms;     /* pause between two writes of one direction, 0 none */
    int idle_ms;       /* --timeout: give up after this long without data, -1 never */
    int dump;          /* --dump / -o */
    const char *dump_prefix; /* NULL: -o (tiburoncin's names) */
    int frame;         /* RELAY_FRAME_* */
    long sockbuf[2];   /* SO_SNDBUF, SO_RCVBUF; 0 the system's */
};

/* --frame: the message of one direction being put together. */
struct frame {
    unsigned long long number;  /* messages completed so far */
    unsigned long long start;   /* the stream offset of the message's first byte */
    unsigned long long have;    /* its bytes seen so far */
    unsigned long long need;    /* its whole size (prefix included) once known, else 0 */
    unsigned reads;             /* the writes (the receiver's reads) it came in */
    unsigned char head[4];      /* the length prefix, as it comes */
    char note[160];             /* a doubt about the length ("little-endian sender?") */
    int shown_part;             /* part of it was shown already (longer than FRAME_SHOW) */
    size_t held;                /* bytes of it in buf, not yet shown */
    unsigned long long held_at; /* the stream offset of buf[0] */
    char *buf;                  /* FRAME_SHOW bytes, allocated at the first message */
};

/* A session's life: the client's TLS handshake (--tls-listen), the
 * connect to the target, the target's TLS handshake (--tls-connect), then
 * forwarding.  Until forwarding, one of its connections is watched with
 * connect_tag as the poller's pointer. */
enum { HANDSHAKE_CLIENT, CONNECTING, HANDSHAKE_SERVER, FORWARDING };

/* Without --timeout, how long a TLS session may take to be set up: a
 * client that opens a connection and never finishes its handshake must
 * not hold a session for ever. */
#define RELAY_TLS_SETUP_S 30.0

/* One client: its connection, the one to the target made for it, and the
 * forwarding session between them (side A the client, B the server). */
struct session {
    struct fwd f;
    int connect_tag;           /* TAG_CONNECT: the pointer while setting up */
    int state;
    sock_t *watching;          /* the connection watched with connect_tag, or NULL */
    unsigned watch_want;       /* ... for this */
    int dead;                  /* ended: freed after the current batch of events */
    unsigned number;
    sock_t cli, srv;
    char caddr[SOCK_ADDRSTRLEN], saddr[SOCK_ADDRSTRLEN];
    double started;            /* when accepted: the time of every line */
    double deadline;           /* while connecting: --timeout */
    int rc;
    FILE *dump[2];             /* --dump: AtoB and BtoA, or NULL */
    struct frame fr[2];        /* --frame */
    int behind[2];             /* a "behind" line shown, its "in sync" not yet */
    struct relay *r;
    struct session *prev, *next;
};

struct relay_counts {
    unsigned long long accepted, c2s, s2c, resets, failed_accepts;
    long open_now, peak, cut_off;
};

struct relay {
    struct relay_opts o;
    const struct cli_opts *cli;
    const char *thost, *tport;
    struct fwd_hooks hooks;
    struct tool_tls *tls_in, *tls_out; /* --tls-listen, --tls-connect (on or off) */
    sock_poller_t *poller;
    sock_t acep;
    int listen_tag;            /* TAG_LISTENER */
    int listening;             /* the listener is open */
    int accepting;             /* ... and watched (not paused by EMFILE) */
    double resume_at;          /* when paused: when to try again */
    double accept_deadline;    /* without -k, with --timeout: the wait for the client */
    double next_scan;          /* the earliest --timeout that may run out */
    struct session *head;
    struct session *reap;      /* ended in this batch */
    struct relay_counts n;
    double stop_deadline;
    int rc;                    /* without -k: the one client's status */
    FILE *dump_ready[2];       /* --dump: the next client's files, opened ahead */
    long behind_now;           /* directions shown behind and not yet in sync */
    int dump_failed;           /* a dump file could not be written */
};

/* SIGINT and SIGTERM: the handler notes the signal and wakes the poller
 * (safe in a signal handler); the loop does the rest. */
static sock_poller_t *signal_poller;
static volatile sig_atomic_t stop_signal, stop_again;

static void usage(FILE *f)
{
    fprintf(f,
            "usage: sock [global options] relay [-k] [-q] [--max-chunk N] [--delay MS]\n"
            "                                   [HOST:]LISTEN_PORT HOST PORT\n"
            "       sock [global options] relay [options] [HOST:]LISTEN_PORT HOST:PORT\n"
            "       sock [global options] relay [options] (-U PATH | unix:PATH | [HOST:]LISTEN_PORT)\n"
            "                                   (unix:PATH | HOST PORT | HOST:PORT)\n"
            "\n"
            "A man in the middle: listen on LISTEN_PORT (every local address when HOST is\n"
            "left out; 0 lets the system choose), print 'listening on ADDR' on standard\n"
            "error with the real port, accept clients, connect to HOST PORT for each and\n"
            "forward both directions.  Standard output shows what passes, each line with\n"
            "the seconds since its client was accepted, the client's number (#1, #2...)\n"
            "and the direction (c>s: client to server, s>c: server to client):\n"
            "\n"
            "    0.000731 #1 c>s 00000000  68 6f 6c 61 0a                                    |hola.|\n"
            "    0.000740 #1 c>s B is in sync\n"
            "    0.000902 #1 c>s EOF after 5 bytes: the client half-closed; shutdown write to the server\n"
            "\n"
            "Every write is dumped with its offset in its direction, then, as tiburoncin\n"
            "does, how far its receiver is behind: what the relay holds for it and its\n"
            "send queue (SIOCOUTQ), until 'in sync'.  End of stream from\n"
            "one side becomes a shutdown (write) towards the other; a reset from one side\n"
            "resets (aborts) the other, after what that side sent before it.  Urgent\n"
            "(out-of-band) bytes are not forwarded.  Standard error carries 'listening on'\n"
            "and errors.\n"
            "\n"
            "Without -k the relay serves one client: it stops listening once it is\n"
            "accepted and exits when that client's session ends, with its status.  With\n"
            "-k it serves many clients at once, each with its own connection to the\n"
            "target, on one event loop, until SIGINT or SIGTERM: then it stops accepting,\n"
            "gives the sessions under way %.0f s to end (a second SIGINT: none), resets\n"
            "those still open and prints a line of counts on standard error (clients\n"
            "served, bytes each way, resets, the most at once, those cut off).\n"
            "\n"
            "  -k, --keep-open     serve many clients, at once, until SIGINT/SIGTERM\n"
            "  -q, --quiet         no hexdump: only the events (accept, connect, EOF, reset);\n"
            "                      without --max-chunk and --delay the bytes are spliced\n"
            "                      from socket to socket, never copied\n"
            "      --max-chunk N   forward at most N bytes (1 to 65536) per write\n"
            "      --delay MS      wait MS milliseconds (0 to 60000) between two writes in\n"
            "                      one direction: with --max-chunk, the programs at both\n"
            "                      ends meet partial reads and writes\n"            "      --dump PREFIX   write PREFIX_AtoB.dump and PREFIX_BtoA.dump (A the client,\n"
            "                      B the server) in tiburoncin's format: lowercase hex, 16\n"
            "                      bytes a line; xxd -p -r gives the bytes back.  With -k\n"
            "                      one pair per client, from 0: PREFIX_0_AtoB.dump (#1)...\n"
            "  -o                  tiburoncin's names here: AtoB.dump, BtoA.dump (with -k:\n"
            "                      client_0_AtoB.dump...).  A file that cannot be written\n"
            "                      is an error at start\n"
            "      --buffer N[:M]  the relay's own buffer c>s (and s>c), 1 to 1048576 bytes\n"
            "      --sockbuf SND[:RCV]  SO_SNDBUF/SO_RCVBUF of its sockets, 0 to 67108864\n"
            "                      (0: the system's); far below 64 KiB TCP crawls on loopback\n"
            "      --frame KIND    show messages: line, u8, u16be, u32be, u16le or u32le (a\n"
            "                      length prefix), with the reads each took, and flag a\n"
            "                      length that looks sent in the other byte order\n"
            "      --reset-after DIR:N  after N bytes of DIR (c2s or s2c; also 'c>s', 's>c'),\n"
            "                      reset both sides\n"
            "      --close-after DIR:N  after N bytes, end of stream to DIR's receiver\n"
            "      --stall-after DIR:N  after N bytes, stop reading DIR's sender: its writes\n"
            "                      block once the buffers are full\n"
            "  -U, --unix PATH     listen on the Unix socket PATH (as unix:PATH does); a\n"
            "                      target unix:PATH is a Unix socket too\n"
            "\n"
            "TLS, on either side or both (what passes is shown in clear):\n"
            "      --tls-listen    the clients speak TLS to the relay, which presents\n"
            "                      --cert FILE (PEM, the chain after it) with --key FILE:\n"
            "                      TLS in front of a plain server\n"
            "      --tls-connect   the relay speaks TLS to the target, verified against the\n"
            "                      system's CAs (or --ca FILE) for HOST (or --servername\n"
            "                      NAME, also sent as SNI), offering --alpn LIST: a plain\n"
            "                      client in front of a TLS server.  --insecure: DANGER,\n"
            "                      any certificate is accepted (a warning is printed)\n"
            "                      Each client's handshakes and connect run on the event\n"
            "                      loop, so a slow one holds up no other; the setup is\n"
            "                      bounded by --timeout, else by %.0f s.  A failed handshake\n"
            "                      is reported; a client whose target failed is reset\n"
            "\n"
            "Memory per client is bounded: a client that does not read stops the reading\n"
            "from its server.  A session holds about 1 KiB of the relay's memory, plus,\n"
            "while bytes are in flight, two 64 KiB buffers (hexdump, --max-chunk, --delay)\n"
            "or two kernel pipes of up to 1 MiB (-q); each TLS side adds about 40 KiB\n"
            "(OpenSSL's buffers), in flight or not.  When descriptors run out, accepting\n"
            "pauses until one is free; the soft descriptor limit is raised to the hard one.\n"
            "\n"
            "Global options (before or after 'relay'): -4/-6 apply to both the listening\n"
            "and the connecting side; --timeout MS (1 to 86400000) bounds the wait for the\n"
            "client (not with -k: a keep-open relay waits for ever) and the connect to the\n"
            "target (with TLS, the whole setup: handshakes and connect), and ends a\n"
            "client's session after MS without data.  The target's\n"
            "PORT is checked at start: a number, or a service name the system knows.\n"
            "\n"
            "Exit status: 0 when both directions ended cleanly (with -k: after a stop by a\n"
            "signal), 1 on a network error or a reset (or when the record could not be\n"
            "written), 2 on a usage error.\n",
            RELAY_GRACE_S, RELAY_TLS_SETUP_S);
}

/* ------------------------------------------------------------------------
 * What the relay shows on standard output.
 * ------------------------------------------------------------------------ */

/* Standard output is the record.  When it cannot be written (a closed
 * pipe, a full disk) the relay still relays, since the programs depend on
 * it, but says so once, and the exit status says so at the end. */
static int record_failed;

/* The record is flushed before every wait, so that a person or a test
 * watching it sees each event as it happens, in as few writes as the
 * sessions allow. */
static void record_flush(void)
{
    if (fflush(stdout) == 0 || record_failed)
        return;
    record_failed = errno ? errno : EIO;
    tool_err("relay", "cannot write the record to standard output: %s; still relaying",
             strerror(record_failed));
}

static const char *const dir_tag[2] = {"c>s", "s>c"};
static const char *const side_name[2] = {"client", "server"};

/* One event line of session ss: the time, its number, a tag ("c>s",
 * "s>c" or "---" for the session as a whole) and the text. */
static void event(const struct session *ss, const char *tag, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void event(const struct session *ss, const char *tag, const char *fmt, ...)
{
    va_list ap;
    printf("%12.6f #%u %s ", tool_now() - ss->started, ss->number, tag);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
}

/* One hexdump line of up to DUMP_WIDTH bytes found at offset off. */
static void dump_line(double t, unsigned number, const char *tag, unsigned long long off,
                      const unsigned char *p, size_t n)
{
    char hex[DUMP_WIDTH * 3 + 2], text[DUMP_WIDTH + 1];
    size_t h = 0;
    for (size_t i = 0; i < DUMP_WIDTH; i++) {
        /* An extra space in the middle, as hexdump -C does, to help count. */
        if (i == DUMP_WIDTH / 2)
            hex[h++] = ' ';
        if (i < n)
            snprintf(hex + h, sizeof hex - h, "%02x ", p[i]);
        else
            memcpy(hex + h, "   ", 4);
        h += 3;
        if (i < n)
            text[i] = p[i] >= 0x20 && p[i] < 0x7f ? (char)p[i] : '.';
    }
    text[n] = '\0';
    printf("%12.6f #%u %s %08llx  %s |%s|\n", t, number, tag, off, hex, text);
}

/* n bytes found at stream offset off, as hexdump lines. */
static void dump_bytes(const struct session *ss, int d, unsigned long long off, const char *p,
                       size_t n)
{
    double t = tool_now() - ss->started;
    for (size_t i = 0; i < n; i += DUMP_WIDTH) {
        size_t k = n - i < DUMP_WIDTH ? n - i : DUMP_WIDTH;
        dump_line(t, ss->number, dir_tag[d], off + i, (const unsigned char *)p + i, k);
    }
}

/* ---------------------------------------------------------------- --dump */

/* The dump files of client index k (0 for the first): PREFIX_AtoB.dump
 * and PREFIX_BtoA.dump with one client, PREFIX_k_AtoB.dump with -k; -o
 * gives tiburoncin's names, AtoB.dump (and client_k_AtoB.dump with -k, as
 * the course's graders name them). */
static void dump_path(const struct relay *r, unsigned long long k, int d, char *path, size_t len)
{
    static const char *const base[2] = {"AtoB.dump", "BtoA.dump"};
    const char *prefix = r->o.dump_prefix;
    if (!prefix && !r->o.keep)
        snprintf(path, len, "%s", base[d]);
    else if (!prefix)
        snprintf(path, len, "client_%llu_%s", k, base[d]);
    else if (!r->o.keep)
        snprintf(path, len, "%s_%s", prefix, base[d]);
    else
        snprintf(path, len, "%s_%llu_%s", prefix, k, base[d]);
}

/* Open (create or empty) the pair of client index k.  Returns 0, or -1
 * after saying which file and why. */
static int dump_open(const struct relay *r, unsigned long long k, FILE *out[2])
{
    for (int d = 0; d < 2; d++) {
        char path[DUMP_PATH_MAX];
        dump_path(r, k, d, path, sizeof path);
        out[d] = fopen(path, "w");
        if (!out[d]) {
            tool_err("relay", "--dump: cannot write %s: %s", tool_quote(path), strerror(errno));
            if (d == 1)
                fclose(out[0]);
            out[0] = out[1] = NULL;
            return -1;
        }
    }
    return 0;
}

/* Close a pair; a write that failed on the way (a full disk) is said now. */
static void dump_close(struct relay *r, unsigned long long k, FILE *out[2])
{
    for (int d = 0; d < 2; d++) {
        if (!out[d])
            continue;
        int bad = ferror(out[d]);
        if (fclose(out[d]) != 0 || bad) {
            char path[DUMP_PATH_MAX];
            dump_path(r, k, d, path, sizeof path);
            tool_err("relay", "--dump: writing %s failed: %s", tool_quote(path),
                     strerror(errno ? errno : EIO));
            r->dump_failed = 1;
        }
        out[d] = NULL;
    }
}

/* tiburoncin's format: the bytes as lowercase hex, a newline after every
 * 16th byte of the direction (counted from its start, however the writes
 * fell), none at the end; `xxd -p -r` turns it back into the bytes.  The
 * file is flushed at each write, so that it can be followed live. */
static void dump_write(FILE *out, unsigned long long off, const char *p, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    char line[2 * DUMP_WIDTH + 1];
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        line[k++] = digits[c >> 4];
        line[k++] = digits[c & 15];
        if ((off + i) % DUMP_WIDTH == DUMP_WIDTH - 1)
            line[k++] = '\n';
        if (k >= 2 * DUMP_WIDTH || i + 1 == n) {
            fwrite(line, 1, k, out);
            k = 0;
        }
    }
    fflush(out);
}

/* ------------------------------------------------------- behind / in sync */

/* What the receiver of direction d has not taken yet: what the relay
 * holds (held) and what the kernel holds in the relay's send queue towards
 * it (SIOCOUTQ: sent and not yet acknowledged; TCP only: for a Unix socket
 * the kernel gives memory, not bytes, so only the relay's part counts). */
static unsigned long long behind_bytes(const struct session *ss, int d, size_t held)
{
    const sock_t *to = d == FWD_A ? &ss->srv : &ss->cli;
    const char *peer = d == FWD_A ? ss->saddr : ss->caddr;
    int queued = 0;
    if (strncmp(peer, "unix:", 5) != 0 && ioctl(sock_fd(to), SIOCOUTQ, &queued) < 0)
        queued = 0;
    return held + (unsigned long long)(queued > 0 ? queued : 0);
}

static const char *const receiver_name[2] = {"B", "A"};

/* tiburoncin's lines after each write: "B is N bytes behind" or "B is in
 * sync" (A the client, B the server). */
static void show_behind(struct session *ss, int d, size_t held)
{
    unsigned long long n = behind_bytes(ss, d, held);
    if (n > 0) {
        /* Through TLS the send queue holds records: the count includes
         * their headers and tags, and TLS's own messages. */
        const sock_t *to = d == FWD_A ? &ss->srv : &ss->cli;
        event(ss, dir_tag[d], "%s is %llu bytes behind%s", receiver_name[d], n,
              sock_transport_name(to) ? " (TLS records, with their overhead)" : "");
        if (!ss->behind[d]) {
            ss->behind[d] = 1;
            ss->r->behind_now++;
        }
    } else {
        event(ss, dir_tag[d], "%s is in sync", receiver_name[d]);
        if (ss->behind[d])
            ss->r->behind_now--;
        ss->behind[d] = 0;
    }
}

/* A receiver shown behind is looked at again until it has taken
 * everything: the relay is not told when the kernel's queue drains. */
static void check_behind(struct relay *r)
{
    for (struct session *ss = r->head; ss && r->behind_now > 0; ss = ss->next)
        for (int d = 0; d < 2; d++)
            if (ss->behind[d] && ss->state == FORWARDING &&
                behind_bytes(ss, d, fwd_pending(&ss->f, d)) == 0)
                show_behind(ss, d, 0);
}

static void behind_forget(struct session *ss)
{
    for (int d = 0; d < 2; d++)
        if (ss->behind[d])
            ss->r->behind_now--;
    ss->behind[0] = ss->behind[1] = 0;
}

/* ---------------------------------------------------------------- --frame */

static size_t frame_head_size(int kind)
{
    return kind == RELAY_FRAME_U8 ? 1 : kind == RELAY_FRAME_U16BE || kind == RELAY_FRAME_U16LE ? 2
                                                                                               : 4;
}

static int frame_little(int kind)
{
    return kind == RELAY_FRAME_U16LE || kind == RELAY_FRAME_U32LE;
}

static unsigned long long frame_value(const unsigned char *h, size_t size, int little)
{
    unsigned long long v = 0;
    for (size_t i = 0; i < size; i++)
        v = v << 8 | h[little ? size - 1 - i : i];
    return v;
}

/* The length just read from the prefix, and a doubt about it: a length
 * that is huge in the chosen order and small in the other is the classic
 * endianness bug (htons forgotten, or a struct sent as it sits in memory). */
static void frame_length(struct frame *fr, int kind)
{
    size_t size = frame_head_size(kind);
    int little = frame_little(kind);
    unsigned long long len = frame_value(fr->head, size, little);
    unsigned long long swapped = frame_value(fr->head, size, !little);
    unsigned long long huge = size == 4 ? 1ULL << 20 : 4096;
    fr->need = size + len;
    fr->note[0] = '\0';
    if (size > 1 && len >= huge && swapped < len)
        snprintf(fr->note, sizeof fr->note,
                 "length %llu \xe2\x80\x94 %s sender? (read as %s: %llu)", len,
                 little ? "big-endian" : "little-endian",
                 frame_name[little ? kind - 2 : kind + 2], swapped);
}

/* The held bytes of the message of direction d, as hexdump lines. */
static void frame_show_held(struct session *ss, int d)
{
    struct frame *fr = &ss->fr[d];
    dump_bytes(ss, d, fr->held_at, fr->buf, fr->held);
    fr->held_at += fr->held;
    fr->held = 0;
}

/* The message of direction d is complete (why NULL) or cut short (why
 * says how): its line, then its bytes. */
static void frame_end(struct session *ss, int d, const char *why)
{
    struct frame *fr = &ss->fr[d];
    int kind = ss->r->o.frame;
    char len[64] = "", reads[48], cut[160] = "";
    if (kind != RELAY_FRAME_LINE && fr->need)
        snprintf(len, sizeof len, " (%s length %llu)", frame_name[kind],
                 fr->need - frame_head_size(kind));
    if (fr->reads == 1)
        snprintf(reads, sizeof reads, "in one read");
    else
        snprintf(reads, sizeof reads, "across %u reads", fr->reads);
    if (why && fr->need)
        snprintf(cut, sizeof cut, " of %llu, %s", fr->need, why);
    else if (why)
        snprintf(cut, sizeof cut, ", %s", why);
    event(ss, dir_tag[d], "message %llu%s: %llu bytes%s%s, %s", fr->number + 1,
          fr->shown_part ? " (end)" : "", fr->have, cut, len, reads);
    frame_show_held(ss, d);
    fr->number++;
    fr->start += fr->have;
    fr->have = fr->need = 0;
    fr->reads = 0;
    fr->shown_part = 0;
    fr->note[0] = '\0';
}

/* Whether byte c, just added to the message, ends it. */
static int frame_complete(struct frame *fr, int kind, unsigned char c)
{
    if (kind == RELAY_FRAME_LINE)
        return c == '\n';
    size_t size = frame_head_size(kind);
    if (fr->have <= size) {
        fr->head[fr->have - 1] = c;
        if (fr->have < size)
            return 0;
        frame_length(fr, kind);
    }
    return fr->have == fr->need;
}

/* n bytes written in direction d, at stream offset off: put them into
 * messages, each shown whole when it is complete. */
static void frame_feed(struct session *ss, int d, unsigned long long off, const char *p,
                       size_t n)
{
    struct frame *fr = &ss->fr[d];
    int kind = ss->r->o.frame;
    if (!fr->buf && !(fr->buf = malloc(FRAME_SHOW))) {
        dump_bytes(ss, d, off, p, n); /* no memory: at least every byte is shown */
        return;
    }
    int counted = 0;
    for (size_t i = 0; i < n; i++) {
        if (fr->have == 0) {
            fr->start = fr->held_at = off + i;
            counted = 0;
        }
        if (!counted) {
            fr->reads++;
            counted = 1;
        }
        if (fr->held == FRAME_SHOW) {
            /* Too long to hold: shown in parts, the count at the end. */
            if (!fr->shown_part)
                event(ss, dir_tag[d], "message %llu: longer than %d bytes, shown as it comes",
                      fr->number + 1, FRAME_SHOW);
            fr->shown_part = 1;
            frame_show_held(ss, d);
        }
        fr->buf[fr->held++] = p[i];
        fr->have++;
        int complete = frame_complete(fr, kind, (unsigned char)p[i]);
        /* A doubtful length is said at once: the receiver may now wait
         * for ever for bytes that will never come. */
        if (fr->note[0]) {
            event(ss, dir_tag[d], "message %llu at %08llx: %s", fr->number + 1, fr->start,
                  fr->note);
            fr->note[0] = '\0';
        }
        if (complete)
            frame_end(ss, d, NULL);
    }
}

/* End of stream or the session's end in direction d: a message begun is
 * shown as it is. */
static void frame_flush(struct session *ss, int d, const char *why)
{
    if (ss->r->o.frame && ss->fr[d].have > 0)
        frame_end(ss, d, why);
}

/* ------------------------------------------------------------ the hooks */

/* The engine's hook: n bytes just written in direction d. */
static void on_data(struct fwd *f, int d, const char *p, size_t n)
{
    struct session *ss = f->user;
    unsigned long long off = f->dir[d].moved;
    if (ss->dump[d])
        dump_write(ss->dump[d], off, p, n);
    if (ss->r->o.quiet)
        return;
    if (ss->r->o.frame)
        frame_feed(ss, d, off, p, n);
    else
        dump_bytes(ss, d, off, p, n);
    show_behind(ss, d, fwd_pending(f, d) - n);
}

static void on_eof(struct fwd *f, int d)
{
    struct session *ss = f->user;
    frame_flush(ss, d, "cut short by end of stream");
    if (f->dir[d].fault_done)
        event(ss, dir_tag[d], "EOF after %llu bytes: --close-after; shutdown write to the %s",
              f->dir[d].moved, side_name[1 - d]);
    else
        event(ss, dir_tag[d], "EOF after %llu bytes: the %s half-closed; shutdown write to the %s",
              f->dir[d].moved, side_name[d], side_name[1 - d]);
}

/* A scripted fault is due in direction d. */
static void on_fault(struct fwd *f, int d, int fault)
{
    struct session *ss = f->user;
    unsigned long long n = f->dir[d].moved;
    if (fault == FWD_FAULT_RESET)
        event(ss, dir_tag[d], "RESET after %llu bytes: --reset-after; aborted both sides", n);
    else if (fault == FWD_FAULT_STALL)
        event(ss, dir_tag[d], "STALL after %llu bytes: --stall-after; the %s is read no more", n,
              side_name[d]);
}

/* Side x failed and the engine has aborted the other side. */
static void on_failed(struct fwd *f, int x, int err)
{
    struct session *ss = f->user;
    sock_close(x == FWD_A ? &ss->cli : &ss->srv);
    if (err == ECONNRESET)
        event(ss, dir_tag[x], "RESET: the %s reset the connection (%s); aborted the %s",
              side_name[x], sock_strerror(-err), side_name[1 - x]);
    else
        event(ss, dir_tag[x], "ERROR: the connection to the %s failed (%s); aborted the %s",
              side_name[x], sock_strerror(-err), side_name[1 - x]);
    tool_err("relay", "#%u %s %s: %s (c>s %llu bytes, s>c %llu bytes forwarded)", ss->number,
             side_name[x], x == FWD_A ? ss->caddr : ss->saddr, sock_strerror(-err),
             f->dir[0].moved, f->dir[1].moved);
    ss->r->n.resets++;
    ss->rc = EXIT_NET;
}

/* ------------------------------------------------------------------------
 * Sessions.
 * ------------------------------------------------------------------------ */

static void accepting_resume(struct relay *r);

/* The end of a session: its summary, its connections closed, its memory
 * freed once the current batch of events has been handled (events already
 * taken from the poller may still point into it). */
static void session_end(struct session *ss)
{
    struct relay *r = ss->r;
    if (ss->dead)
        return;
    ss->dead = 1;
    if (ss->state == FORWARDING) {
        for (int d = 0; d < 2; d++)
            frame_flush(ss, d, "cut short by the session's end");
        event(ss, "---", "closed: c>s %llu bytes, s>c %llu bytes", ss->f.dir[0].moved,
              ss->f.dir[1].moved);
        r->n.c2s += ss->f.dir[0].moved;
        r->n.s2c += ss->f.dir[1].moved;
        fwd_stop(&ss->f);
        ss->f.over = 1; /* later events of this batch are ignored */
    }
    sock_close(&ss->cli);
    sock_close(&ss->srv);
    dump_close(r, ss->number - 1, ss->dump);
    behind_forget(ss);
    for (int d = 0; d < 2; d++) {
        free(ss->fr[d].buf);
        ss->fr[d].buf = NULL;
    }
    if (ss->prev)
        ss->prev->next = ss->next;
    else
        r->head = ss->next;
    if (ss->next)
        ss->next->prev = ss->prev;
    ss->next = r->reap;
    r->reap = ss;
    r->n.open_now--;
    if (!r->o.keep)
        r->rc = ss->rc;
    /* A descriptor freed is what lets accepting resume after EMFILE. */
    accepting_resume(r);
}

static void reap(struct relay *r)
{
    while (r->reap) {
        struct session *ss = r->reap;
        r->reap = ss->next;
        free(ss);
    }
}

static void session_check(struct session *ss)
{
    if (!ss->dead && ss->state == FORWARDING && fwd_finished(&ss->f))
        session_end(ss);
}

/* A target that cannot be reached must not leave the client waiting: it is
 * aborted, so its program sees a reset at once, the nearest thing to a
 * refusal it can still be told. */
static void connect_failed(struct session *ss, int code)
{
    sock_abort(&ss->cli);
    event(ss, "---", "connect to the server failed: %s; aborted the client",
          sock_error(&ss->srv));
    tool_err("relay", "#%u %s (client %s aborted)", ss->number, sock_error(&ss->srv), ss->caddr);
    ss->rc = tool_status(code);
    session_end(ss);
}

/* --sockbuf: SO_SNDBUF and SO_RCVBUF of a connection of the relay (the
 * library has no call for them, so the descriptor is set directly; the
 * kernel doubles the value for its bookkeeping and caps it at
 * net.core.wmem_max/rmem_max). */
static void set_sockbuf(const struct relay *r, sock_t *s)
{
    static const int opt[2] = {SO_SNDBUF, SO_RCVBUF};
    for (int i = 0; i < 2; i++) {
        int v = (int)r->o.sockbuf[i];
        if (v > 0 && setsockopt(sock_fd(s), SOL_SOCKET, opt[i], &v, sizeof v) < 0)
            tool_err("relay", "--sockbuf: %s: %s", i ? "SO_RCVBUF" : "SO_SNDBUF",
                     strerror(errno));
    }
}

static void connected(struct session *ss)
{
    struct relay *r = ss->r;
    sock_peer_addr(&ss->srv, ss->saddr, sizeof ss->saddr);
    char local[SOCK_ADDRSTRLEN] = "?";
    sock_local_addr(&ss->srv, local, sizeof local);
    event(ss, "---", "connected to server %s from %s", ss->saddr, local);
    /* Forward each write as its own segment at once: a relay should add no
     * delay of its own, and with --max-chunk each chunk must reach the
     * other program as a separate, small arrival. */
    sock_set_nodelay(&ss->cli, 1);
    sock_set_nodelay(&ss->srv, 1);
    set_sockbuf(r, &ss->srv);
    ss->state = FORWARDING;
    ss->f.side[FWD_A].s = &ss->cli;
    ss->f.side[FWD_B].s = &ss->srv;
    ss->f.user = ss;
    int rc = fwd_start(&ss->f, r->poller, &r->hooks);
    if (rc < 0) {
        tool_err("relay", "#%u cannot watch the connections: %s", ss->number, sock_strerror(rc));
        fwd_abort(&ss->f);
        ss->rc = EXIT_NET;
    }
    if (r->o.idle_ms >= 0 && ss->f.last_moved + r->o.idle_ms / 1000.0 < r->next_scan)
        r->next_scan = ss->f.last_moved + r->o.idle_ms / 1000.0;
    session_check(ss);
}

/* Watch connection c of the session for want (with connect_tag), or stop
 * watching (c NULL).  Returns 0 or the poller's code. */
static int setup_watch(struct session *ss, sock_t *c, unsigned want)
{
    sock_poller_t *p = ss->r->poller;
    int rc = 0;
    if (ss->watching && ss->watching != c) {
        sock_poller_remove(p, ss->watching);
        ss->watching = NULL;
    }
    if (c && ss->watching == c && ss->watch_want != want)
        rc = sock_poller_modify(p, c, want, &ss->connect_tag);
    else if (c && !ss->watching)
        rc = sock_poller_add(p, c, want, &ss->connect_tag);
    if (rc == 0 && c) {
        ss->watching = c;
        ss->watch_want = want;
    }
    return rc;
}

/* A TLS handshake failed (side: the client's or the server's).  A client
 * whose target refused TLS is aborted, as for a failed connect; one that
 * failed its own handshake has been told by it (an alert) and is closed. */
static void handshake_failed(struct session *ss, int side, int code)
{
    sock_t *s = side == FWD_A ? &ss->cli : &ss->srv;
    const char *text = sock_error(s);
    if (side == FWD_B) {
        sock_abort(&ss->cli);
        event(ss, "---", "tls with the server failed: %s; aborted the client", text);
        tool_err("relay", "#%u %s (client %s aborted)", ss->number, text, ss->caddr);
    } else {
        event(ss, "---", "tls with the client failed: %s", text);
        tool_err("relay", "#%u %s", ss->number, text);
    }
    ss->rc = tool_status(code);
    session_end(ss);
}

static void connect_target(struct session *ss);

/* Start (first) or go on with the TLS handshake of one side's connection;
 * once complete, the session's next step. */
static void handshake(struct session *ss, int side, int first)
{
    struct relay *r = ss->r;
    sock_t *s = side == FWD_A ? &ss->cli : &ss->srv;
    struct tool_tls *t = side == FWD_A ? r->tls_in : r->tls_out;
    ss->state = side == FWD_A ? HANDSHAKE_CLIENT : HANDSHAKE_SERVER;
    unsigned want = 0;
    int rc = tool_tls_step(t, s, r->thost, first, &want);
    if (rc == -EAGAIN) {
        if ((rc = setup_watch(ss, s, want ? want : SOCK_READABLE)) == 0)
            return;
        sock_set_error(s, rc, "cannot watch the connection: %s", sock_strerror(rc));
    }
    if (rc < 0) {
        handshake_failed(ss, side, rc);
        return;
    }
    setup_watch(ss, NULL, 0);
    char what[300];
    tool_tls_describe(s, side == FWD_A, what, sizeof what);
    event(ss, "---", "tls with the %s: %s", side_name[side], what);
    if (side == FWD_A)
        connect_target(ss);
    else
        connected(ss);
}

/* The connect to the target is made: TLS with it first, if asked. */
static void target_reached(struct session *ss)
{
    if (ss->r->tls_out->on) {
        handshake(ss, FWD_B, 1);
        return;
    }
    setup_watch(ss, NULL, 0);
    connected(ss);
}

/* The non-blocking connect to the target has news. */
static void on_connect(struct session *ss)
{
    if (ss->dead)
        return;
    int rc = sock_connect_finish(&ss->srv);
    if (rc == -EINPROGRESS)
        return;
    if (rc < 0) {
        connect_failed(ss, rc);
        return;
    }
    target_reached(ss);
}

/* Whichever step of the setup the poller's news is for. */
static void on_setup(struct session *ss)
{
    if (ss->dead)
        return;
    if (ss->state == CONNECTING)
        on_connect(ss);
    else if (ss->state == HANDSHAKE_CLIENT)
        handshake(ss, FWD_A, 0);
    else if (ss->state == HANDSHAKE_SERVER)
        handshake(ss, FWD_B, 0);
}

/* The connect to the target, made for this client. */
static void connect_target(struct session *ss)
{
    struct relay *r = ss->r;
    ss->state = CONNECTING;
    sock_init(&ss->srv);
    int rc = tool_prepare("relay", r->cli, &ss->srv);
    if (rc == 0)
        rc = sock_set_nonblocking(&ss->srv, 1);
    if (rc != 0) {
        ss->rc = EXIT_NET;
        sock_abort(&ss->cli);
        session_end(ss);
        return;
    }
    int code = sock_connect(&ss->srv, r->thost, r->tport);
    if (code == 0) {
        target_reached(ss);
        return;
    }
    if (code == -EINPROGRESS)
        code = setup_watch(ss, &ss->srv, SOCK_WRITABLE);
    if (code < 0)
        connect_failed(ss, code);
}

/* A client just accepted: its session, then its TLS handshake or the
 * connect to the target. */
static void session_begin(struct relay *r, struct session *ss)
{
    ss->r = r;
    ss->connect_tag = TAG_CONNECT;
    ss->number = (unsigned)++r->n.accepted;
    ss->started = tool_now();
    ss->f.fail_side = -1;
    sock_init(&ss->srv);
    ss->next = r->head;
    if (r->head)
        r->head->prev = ss;
    r->head = ss;
    if (++r->n.open_now > r->n.peak)
        r->n.peak = r->n.open_now;
    sock_peer_addr(&ss->cli, ss->caddr, sizeof ss->caddr);
    event(ss, "---", "connection %u: accepted client %s", ss->number, ss->caddr);
    set_sockbuf(r, &ss->cli);
    if (r->o.dump) {
        /* The first client's files were opened at the start, so that a
         * path that cannot be written stops the relay there; later ones
         * are opened now, and a failure leaves that client without. */
        if (r->dump_ready[0]) {
            ss->dump[0] = r->dump_ready[0], ss->dump[1] = r->dump_ready[1];
            r->dump_ready[0] = r->dump_ready[1] = NULL;
        } else if (dump_open(r, ss->number - 1, ss->dump) < 0) {
            r->dump_failed = 1;
            event(ss, "---", "no dump for this client (see standard error)");
        }
    }
    /* --timeout bounds the whole setup; TLS sessions get a bound anyway. */
    int tls = r->tls_in->on || r->tls_out->on;
    ss->deadline = r->cli->timeout_ms >= 0 ? ss->started + r->cli->timeout_ms / 1000.0
                   : tls                   ? ss->started + RELAY_TLS_SETUP_S
                                           : -1;
    if (ss->deadline >= 0 && ss->deadline < r->next_scan)
        r->next_scan = ss->deadline;
    if (!r->tls_in->on) {
        connect_target(ss);
        return;
    }
    int rc = sock_set_nonblocking(&ss->cli, 1);
    if (rc < 0) {
        handshake_failed(ss, FWD_A, rc);
        return;
    }
    handshake(ss, FWD_A, 1);
}

static void idle_timeout(struct session *ss)
{
    fwd_abort(&ss->f);
    event(ss, "---", "TIMEOUT: no data for %d ms; aborted both sides", ss->r->o.idle_ms);
    tool_err("relay", "#%u no data moved for %d ms (--timeout)", ss->number, ss->r->o.idle_ms);
    ss->rc = EXIT_NET;
    session_end(ss);
}

/* A session's setup (the handshakes, the connect) took too long: the
 * client is aborted, told no more than a refused one. */
static void setup_timeout(struct session *ss)
{
    struct relay *r = ss->r;
    static const char *const step[] = {"tls with the client", "connect to the server",
                                       "tls with the server"};
    int ms = r->cli->timeout_ms >= 0 ? r->cli->timeout_ms : (int)(RELAY_TLS_SETUP_S * 1000);
    sock_close(&ss->srv);
    sock_abort(&ss->cli);
    event(ss, "---", "%s timed out after %d ms; aborted the client", step[ss->state], ms);
    if (ss->state == CONNECTING && !r->tls_in->on)
        tool_err("relay", "#%u connect %s:%s: timed out after %d ms (client %s aborted)",
                 ss->number, r->thost, r->tport, ms, ss->caddr);
    else if (ss->state == CONNECTING)
        tool_err("relay", "#%u connect %s:%s: not connected when the setup's %d ms ran out "
                          "(client %s aborted)",
                 ss->number, r->thost, r->tport, ms, ss->caddr);
    else
        tool_err("relay", "#%u %s: not complete after %d ms (client %s aborted)", ss->number,
                 step[ss->state], ms, ss->caddr);
    ss->rc = EXIT_NET;
    session_end(ss);
}

/* --timeout (and the TLS setup's bound): setups and sessions whose time
 * ran out.  Deadlines only move later, so the earliest one found is when
 * to look again. */
static void scan_timeouts(struct relay *r, double now)
{
    if (now < r->next_scan)
        return;
    r->next_scan = 1e300;
    for (struct session *ss = r->head, *next; ss; ss = next) {
        next = ss->next;
        int setup = ss->state != FORWARDING;
        if (!setup && r->o.idle_ms < 0)
            continue;
        double until = setup ? ss->deadline : ss->f.last_moved + r->o.idle_ms / 1000.0;
        if (until < 0)
            continue;
        if (now >= until && setup) {
            setup_timeout(ss);
        } else if (now >= until) {
            idle_timeout(ss);
        } else if (until < r->next_scan) {
            r->next_scan = until;
        }
    }
}

/* --delay: the writes now due. */
static void run_delayed(struct relay *r, double now, double *next_due)
{
    *next_due = -1;
    for (struct session *ss = r->head, *next; ss; ss = next) {
        next = ss->next;
        if (ss->state != FORWARDING)
            continue;
        double due = fwd_next_due(&ss->f);
        if (due >= 0 && due <= now) {
            fwd_run(&ss->f);
            session_check(ss);
            if (!ss->dead)
                due = fwd_next_due(&ss->f);
        }
        if (!ss->dead && due >= 0 && (*next_due < 0 || due < *next_due))
            *next_due = due;
    }
}

/* ------------------------------------------------------------------------
 * The listener.
 * ------------------------------------------------------------------------ */

static void listener_watch(struct relay *r, int on)
{
    if (!r->listening || on == r->accepting)
        return;
    if (sock_poller_modify(r->poller, &r->acep, on ? SOCK_READABLE : 0, &r->listen_tag) == 0)
        r->accepting = on;
}

static void accepting_resume(struct relay *r)
{
    if (!r->accepting && r->listening && !stop_signal)
        listener_watch(r, 1);
}

static void listener_close(struct relay *r)
{
    if (!r->listening)
        return;
    sock_close(&r->acep); /* also leaves the poller */
    r->listening = r->accepting = 0;
}

/* Accept failures that pass once descriptors or memory are free again. */
static int accept_can_wait(int code)
{
    return code == -EMFILE || code == -ENFILE || code == -ENOBUFS || code == -ENOMEM;
}

/* Take the waiting clients, a burst at a time.  Out of descriptors, stop
 * watching the listener until one is freed or the pause is over: a
 * level-triggered listener would wake the loop again at once and spin. */
static void on_listener(struct relay *r)
{
    for (int i = 0; i < RELAY_ACCEPT_BURST && r->accepting; i++) {
        struct session *ss = calloc(1, sizeof *ss);
        int code = ss ? sock_accept(&r->acep, &ss->cli) : -ENOMEM;
        if (code == -EAGAIN) {
            free(ss);
            return;
        }
        if (code < 0) {
            free(ss);
            r->n.failed_accepts++;
            if (accept_can_wait(code)) {
                if (r->n.failed_accepts == 1)
                    tool_err("relay", "accept: %s; pausing accepts until a descriptor is free",
                             sock_strerror(code));
                listener_watch(r, 0);
                r->resume_at = tool_now() + RELAY_PAUSE_S;
                return;
            }
            if (!r->o.keep) {
                tool_err("relay", "%s", sock_error(&r->acep));
                r->rc = EXIT_NET;
                listener_close(r);
            }
            return;
        }
        session_begin(r, ss);
        if (!r->o.keep) {
            /* One client: later ones are refused, not left queued. */
            listener_close(r);
            return;
        }
    }
}
/* ------------------------------------------------------------------------
 * Arguments.
 * ------------------------------------------------------------------------ */

/* N or N:M (the second for the other direction, or the other option):
 * both values from min to max. */
static int parse_pair(const char *name, const char *text, long min, long max, const char *unit,
                      long out[2])
{
    char first[32];
    const char *colon = strchr(text, ':');
    size_t n = colon ? (size_t)(colon - text) : strlen(text);
    if (n >= sizeof first) {
        tool_err("relay", "%s %s: a number of %s from %ld to %ld, or two as N:M", name,
                 tool_quote(text), unit, min, max);
        return EXIT_USAGE;
    }
    memcpy(first, text, n);
    first[n] = '\0';
    if (tool_parse_number("relay", name, first, min, max, unit, &out[0]))
        return EXIT_USAGE;
    out[1] = out[0];
    if (colon && tool_parse_number("relay", name, colon + 1, min, max, unit, &out[1]))
        return EXIT_USAGE;
    return 0;
}

/* DIR:N for a scripted fault: DIR is c2s (or "c>s", as the record writes
 * it) or s2c ("s>c"), N the bytes of that direction delivered first. */
static int parse_fault(const char *name, const char *text, int fault, struct relay_args *a)
{
    int d = strncmp(text, "c2s:", 4) == 0 || strncmp(text, "c>s:", 4) == 0   ? FWD_A
            : strncmp(text, "s2c:", 4) == 0 || strncmp(text, "s>c:", 4) == 0 ? FWD_B
                                                                             : -1;
    if (d < 0) {
        tool_err("relay", "%s %s: write DIR:N, DIR c2s (client to server) or s2c, N bytes", name,
                 tool_quote(text));
        return EXIT_USAGE;
    }
    if (a->fault[d]) {
        tool_err("relay", "%s %s: direction %s has a fault already (one per direction)", name,
                 tool_quote(text), dir_tag[d]);
        return EXIT_USAGE;
    }
    if (tool_parse_number("relay", name, text + 4, 0, LONG_MAX, "bytes", &a->fault_at[d]))
        return EXIT_USAGE;
    a->fault[d] = fault;
    return 0;
}

static int parse_frame(const char *text, struct relay_args *a)
{
    for (int k = RELAY_FRAME_LINE; k <= RELAY_FRAME_U32LE; k++)
        if (strcmp(text, frame_name[k]) == 0) {
            a->frame = k;
            return 0;
        }
    tool_err("relay", "--frame %s: one of line, u8, u16be, u32be, u16le, u32le",
             tool_quote(text));
    return EXIT_USAGE;
}

/* "unix:PATH" as a side: the library takes it as a host, with port "0". */
static int is_unix(const char *text)
{
    return strncmp(text, "unix:", 5) == 0;
}

static int unix_side(const char *text, char *host, size_t hostlen, char *port, size_t portlen)
{
    size_t path = strlen(text) - 5;
    if (path == 0 || path >= sizeof ((struct sockaddr_un *)0)->sun_path ||
        strlen(text) >= hostlen) {
        tool_err("relay", "%s: a Unix socket path of 1 to %zu bytes after 'unix:'",
                 tool_quote(text), sizeof ((struct sockaddr_un *)0)->sun_path - 1);
        return EXIT_USAGE;
    }
    if (host != text)
        snprintf(host, hostlen, "%s", text);
    snprintf(port, portlen, "0");
    return 0;
}

static int parse_option(int ch, struct relay_args *a)
{
    switch (ch) {
    case 'k':
        a->keep = 1;
        return 0;
    case 'q':
        a->quiet = 1;
        return 0;
    case 'o':
        a->dump = 1;
        a->dump_prefix = NULL;
        return 0;
    case 'P':
        if (!*optarg) {
            tool_err("relay", "--dump '': give a PREFIX (-o for AtoB.dump and BtoA.dump here)");
            return EXIT_USAGE;
        }
        a->dump = 1;
        a->dump_prefix = optarg;
        return 0;
    case 'M':
        return tool_parse_number("relay", "--max-chunk", optarg, 1, BUF_SIZE, "bytes",
                                 &a->max_chunk);
    case 'D':
        return tool_parse_number("relay", "--delay", optarg, 0, MAX_DELAY_MS, "milliseconds",
                                 &a->delay_ms);
    case 'B':
        return parse_pair("--buffer", optarg, 1, MAX_BUFFER, "bytes", a->buffer);
    case 'Z':
        /* 0: that one as the system sets it (--sockbuf 4096:0). */
        return parse_pair("--sockbuf", optarg, 0, MAX_SOCKBUF, "bytes", a->sockbuf);
    case 'F':
        return parse_frame(optarg, a);
    case 'R':
        return parse_fault("--reset-after", optarg, FWD_FAULT_RESET, a);
    case 'C':
        return parse_fault("--close-after", optarg, FWD_FAULT_CLOSE, a);
    case 'S':
        return parse_fault("--stall-after", optarg, FWD_FAULT_STALL, a);
    case 'U':
        if (strlen(optarg) + 5 >= sizeof a->lhost) {
            tool_err("relay", "-U %s: path too long", tool_quote(optarg));
            return EXIT_USAGE;
        }
        snprintf(a->lhost, sizeof a->lhost, "unix:%s", optarg);
        return unix_side(a->lhost, a->lhost, sizeof a->lhost, a->lport, sizeof a->lport);
    case 'h':
        a->help = 1;
        return 0;
    case 'T':
        a->tls_in.on = 1;
        return 0;
    case 'O':
        a->tls_out.on = 1;
        return 0;
    default:
        return EXIT_USAGE;
    }
}

int cli_parse_relay(const struct cli_opts *o, int argc, char **argv, struct relay_args *a)
{
    static const struct option opts[] = {{"keep-open", no_argument, NULL, 'k'},
                                         {"quiet", no_argument, NULL, 'q'},
                                         {"max-chunk", required_argument, NULL, 'M'},
                                         {"delay", required_argument, NULL, 'D'},
                                         {"dump", required_argument, NULL, 'P'},
                                         {"buffer", required_argument, NULL, 'B'},
                                         {"sockbuf", required_argument, NULL, 'Z'},
                                         {"frame", required_argument, NULL, 'F'},
                                         {"reset-after", required_argument, NULL, 'R'},
                                         {"close-after", required_argument, NULL, 'C'},
                                         {"stall-after", required_argument, NULL, 'S'},
                                         {"unix", required_argument, NULL, 'U'},
                                         {"help", no_argument, NULL, 'h'},
                                         {"tls-listen", no_argument, NULL, 'T'},
                                         {"tls-connect", no_argument, NULL, 'O'},
                                         TOOL_TLS_LONGOPTS,
                                         {NULL, 0, NULL, 0}};
    (void)o;
    *a = (struct relay_args){.max_chunk = BUF_SIZE, .tls_in = {.server = 1}};
    int ch, listen_unix = 0, rc = 0;
    optind = 0;
    while ((ch = tool_getopt("relay", argc, argv, "kqoU:h", opts)) != -1) {
        /* --cert and --key are the listening side's, the others the
         * connecting side's (whose --tls is --tls-connect). */
        struct tool_tls *t = ch == TOOL_TLS_OPT_CERT || ch == TOOL_TLS_OPT_KEY ? &a->tls_in
                                                                              : &a->tls_out;
        if (ch == TOOL_TLS_OPT_TLS) {
            tool_err("relay", "--tls: say which side: --tls-listen (the clients speak TLS to "
                              "the relay) or --tls-connect (the relay speaks TLS to the target)");
            return EXIT_USAGE;
        }
        if (tool_tls_option("relay", ch, optarg, t, &rc)) {
            if (rc)
                return rc;
            continue;
        }
        if (parse_option(ch, a))
            return EXIT_USAGE;
        if (ch == 'U')
            listen_unix = 1;
        if (a->help)
            return 0;
    }
    argc -= optind, argv += optind;
    if ((rc = tool_tls_check("relay", &a->tls_in, "--tls-listen")) != 0 ||
        (rc = tool_tls_check("relay", &a->tls_out, "--tls-connect")) != 0)
        return rc;
    /* The positional arguments: [HOST:]LISTEN_PORT or unix:PATH (unless
     * -U gave it), then HOST PORT, HOST:PORT or unix:PATH of the target. */
    int need = listen_unix ? 1 : 2;
    if (argc < need) {
        tool_err("relay", "missing %s (see 'sock relay --help')",
                 argc == 0 && !listen_unix ? "LISTEN_PORT, HOST and PORT"
                                           : "HOST and PORT of the target");
        return EXIT_USAGE;
    }
    if (!listen_unix) {
        rc = is_unix(argv[0]) ? unix_side(argv[0], a->lhost, sizeof a->lhost, a->lport,
                                          sizeof a->lport)
                              : tool_host_port("relay", 1, argv, 0, a->lhost, sizeof a->lhost,
                                               a->lport, sizeof a->lport);
        argc--, argv++;
    }
    if (rc)
        return rc;
    if (argc > 2 || (argc == 2 && is_unix(argv[0]))) {
        tool_err("relay", "unexpected argument %s (see 'sock relay --help')",
                 tool_quote(argv[argc > 2 ? 2 : 1]));
        return EXIT_USAGE;
    }
    if (is_unix(argv[0])) {
        if (a->tls_out.on && !a->tls_out.servername && !a->tls_out.insecure) {
            tool_err("relay", "--tls-connect to unix:PATH: give the name to verify with "
                              "--servername NAME");
            return EXIT_USAGE;
        }
        return unix_side(argv[0], a->thost, sizeof a->thost, a->tport, sizeof a->tport);
    }
    return tool_host_port("relay", argc, argv, 1, a->thost, sizeof a->thost, a->tport,
                          sizeof a->tport);
}

/* ------------------------------------------------------------------------
 * The loop, and the stop.
 * ------------------------------------------------------------------------ */

static void on_stop_signal(int sig)
{
    if (stop_signal && sig == SIGINT)
        stop_again = 1;
    if (!stop_signal)
        stop_signal = sig;
    sock_poller_wake(signal_poller);
}


/* Stop: no new clients; setups under way are given up (their clients
 * reset); sessions that forward get the grace period to end by
 * themselves. */
static void begin_stop(struct relay *r, double now)
{
    listener_close(r);
    r->stop_deadline = now + RELAY_GRACE_S;
    for (struct session *ss = r->head, *next; ss; ss = next) {
        next = ss->next;
        if (ss->state != FORWARDING) {
            sock_abort(&ss->cli);
            r->n.cut_off++;
            session_end(ss);
        }
    }
}

/* The end of the grace period (or a second SIGINT): the sessions still
 * open are reset both ways, so that neither program takes a cut stream
 * for a whole one. */
static void cut_off_all(struct relay *r)
{
    while (r->head) {
        struct session *ss = r->head;
        event(ss, "---", "STOPPED: the relay was stopped; aborted both sides");
        fwd_abort(&ss->f);
        r->n.cut_off++;
        session_end(ss);
    }
}

static void report_counts(const struct relay *r)
{
    const struct relay_counts *n = &r->n;
    fprintf(stderr,
            "sock relay: stopped by %s%s: %llu clients served, %llu bytes c>s, %llu bytes s>c, "
            "%llu resets, %ld at most at once, %ld cut off, %llu failed accepts\n",
            stop_signal == SIGINT ? "SIGINT" : "SIGTERM", stop_again ? " and a second SIGINT" : "",
            n->accepted, n->c2s, n->s2c, n->resets, n->peak, n->cut_off, n->failed_accepts);
}

/* How long the poller may sleep: until a delayed write, a --timeout, the
 * end of a pause of the listener or of the stop's grace; -1 for ever. */
static int wait_ms(const struct relay *r, double now, double next_due)
{
    double until = next_due;
    if (r->o.idle_ms >= 0 || r->cli->timeout_ms >= 0 || r->tls_in->on || r->tls_out->on)
        if (r->next_scan < 1e299 && (until < 0 || r->next_scan < until))
            until = r->next_scan;
    if (r->listening && !r->accepting && (until < 0 || r->resume_at < until))
        until = r->resume_at;
    if (r->accept_deadline > 0 && r->listening && (until < 0 || r->accept_deadline < until))
        until = r->accept_deadline;
    if (stop_signal && (until < 0 || r->stop_deadline < until))
        until = r->stop_deadline;
    if (r->behind_now > 0 && (until < 0 || now + RELAY_SYNC_S < until))
        until = now + RELAY_SYNC_S;
    if (until < 0)
        return -1;
    double ms = (until - now) * 1000.0;
    /* Round up: waking a little early would only spin once more. */
    return ms <= 0 ? 0 : ms > 86400000.0 ? 86400000 : (int)ms + 1;
}

static void dispatch(struct relay *r, const sock_event_t *ev)
{
    int kind = *(const int *)ev->user;
    if (kind == TAG_LISTENER) {
        on_listener(r);
    } else if (kind == TAG_CONNECT) {
        on_setup((struct session *)((char *)ev->user - offsetof(struct session, connect_tag)));
    } else {
        struct fwd_end *e = ev->user;
        fwd_event(e, ev->events);
        session_check(e->f->user);
    }
}

/* Serve until the one client has ended (without -k), or until a stop. */
static int run(struct relay *r)
{
    sock_event_t ev[RELAY_EVENTS];
    double next_due = -1;
    int stopping = 0;
    for (;;) {
        double now = tool_now();
        if (stop_signal && !stopping) {
            stopping = 1;
            begin_stop(r, now);
        }
        if (stopping && (!r->head || now >= r->stop_deadline || stop_again))
            cut_off_all(r);
        reap(r);
        record_flush();
        if (stopping && !r->head)
            return 0;
        if (!r->o.keep && !r->listening && !r->head)
            return 1;
        if (r->accept_deadline > 0 && r->listening && now >= r->accept_deadline) {
            tool_err("relay", "no client within %d ms (--timeout)", r->cli->timeout_ms);
            r->rc = EXIT_NET;
            return 1;
        }
        int n = sock_poller_wait(r->poller, ev, RELAY_EVENTS, wait_ms(r, now, next_due));
        if (n < 0) {
            tool_err("relay", "poller: %s", sock_strerror(n));
            r->rc = EXIT_NET;
            return 1;
        }
        for (int i = 0; i < n; i++)
            dispatch(r, &ev[i]);
        now = tool_now();
        if (r->listening && !r->accepting && !stop_signal && now >= r->resume_at)
            listener_watch(r, 1);
        if (r->o.idle_ms >= 0 || r->cli->timeout_ms >= 0 || r->tls_in->on || r->tls_out->on)
            scan_timeouts(r, now);
        if (r->o.delay_ms > 0)
            run_delayed(r, now, &next_due);
        if (r->behind_now > 0)
            check_behind(r);
    }
}

/* Thousands of clients need thousands of descriptors: take what the hard
 * limit allows.  A failure here is not fatal; EMFILE is handled anyway. */
static void raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    /* Pipes (two descriptors each) may take half of the descriptors; the
     * other half is for the connections, two per client.  Beyond that a
     * direction copies instead of splicing. */
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
        fwd_set_pipe_limit((long)(rl.rlim_cur / 4));
}

static int relay_open(struct relay *r, const struct relay_args *a)
{
    int rc = sock_poller_open(&r->poller);
    if (rc < 0) {
        tool_err("relay", "cannot set up the event loop: %s", sock_strerror(rc));
        return EXIT_NET;
    }
    signal_poller = r->poller;
    /* The handlers are in place before the listener exists, so that a stop
     * sent as soon as "listening on" shows is never lost. */
    tool_on_stop_signals(on_stop_signal);
    if ((rc = tool_listen("relay", r->cli, a->lhost, a->lport, -1, 0, &r->acep)) != 0)
        return rc;
    r->listening = 1;
    r->listen_tag = TAG_LISTENER;
    int code = sock_set_nonblocking(&r->acep, 1);
    if (code == 0)
        code = sock_poller_add(r->poller, &r->acep, SOCK_READABLE, &r->listen_tag);
    if (code < 0) {
        tool_err("relay", "cannot watch the listener: %s", sock_strerror(code));
        return EXIT_NET;
    }
    r->accepting = 1;
    /* As for listen: --timeout bounds the wait for the one client, and a
     * keep-open relay waits for its next client for ever. */
    if (!r->o.keep && r->cli->timeout_ms >= 0)
        r->accept_deadline = tool_now() + r->cli->timeout_ms / 1000.0;
    return 0;
}

int cmd_relay(const struct cli_opts *o, int argc, char **argv)
{
    struct relay_args a;
    int rc = cli_parse_relay(o, argc, argv, &a);
    if (rc || a.help) {
        if (a.help)
            usage(stdout);
        return rc;
    }
    /* The target is connected to only when a client comes: a service that
     * can never be a port must be a usage error now, not then. */
    if (strncmp(a.thost, "unix:", 5) != 0 && (rc = tool_check_service("relay", a.tport)) != 0)
        return rc;
    /* The certificates and keys are read before the port is taken. */
    if ((rc = tool_tls_setup("relay", &a.tls_in)) != 0)
        return rc;
    if ((rc = tool_tls_setup("relay", &a.tls_out)) != 0) {
        tool_tls_free(&a.tls_in);
        return rc;
    }
    raise_fd_limit();
    struct relay *r = calloc(1, sizeof *r);
    if (!r) {
        tool_err("relay", "out of memory");
        tool_tls_free(&a.tls_in);
        tool_tls_free(&a.tls_out);
        return EXIT_NET;
    }
    r->tls_in = &a.tls_in;
    r->tls_out = &a.tls_out;
    if (a.tls_out.insecure)
        tool_tls_warn_insecure("relay");
    r->o = (struct relay_opts){.keep = a.keep,
                               .quiet = a.quiet,
                               .max_chunk = a.max_chunk,
                               .delay_ms = a.delay_ms,
                               .idle_ms = o->timeout_ms,
                               .dump = a.dump,
                               .dump_prefix = a.dump_prefix,
                               .frame = a.frame,
                               .sockbuf = {a.sockbuf[0], a.sockbuf[1]}};
    r->cli = o;
    r->thost = a.thost;
    r->tport = a.tport;
    r->next_scan = 1e300;
    r->rc = EXIT_OK;
    /* The hooks decide the path of the bytes: a hook that must see them
     * means a copy buffer; none (-q alone) means splice. */
    r->hooks = (struct fwd_hooks){
        .max_chunk = a.max_chunk < BUF_SIZE ? (size_t)a.max_chunk : 0,
        .delay_ms = (int)a.delay_ms,
        .see_bytes = !a.quiet || a.dump,
        .pass_failures = 1,
        .buf_bytes = {(size_t)a.buffer[0], (size_t)a.buffer[1]},
        .fault = {a.fault[0], a.fault[1]},
        .fault_at = {(unsigned long long)a.fault_at[0], (unsigned long long)a.fault_at[1]},
        .on_data = a.quiet && !a.dump ? NULL : on_data,
        .on_eof = on_eof,
        .on_failed = on_failed,
        .on_fault = on_fault,
    };
    /* A dump that cannot be written is said before any client comes. */
    rc = a.dump && dump_open(r, 0, r->dump_ready) < 0 ? EXIT_USAGE : 0;
    if (rc == 0)
        rc = relay_open(r, &a);
    if (rc == 0) {
        run(r);
        rc = r->o.keep ? (r->rc == EXIT_NET && !stop_signal ? EXIT_NET : EXIT_OK) : r->rc;
        if (stop_signal)
            report_counts(r);
    }
    listener_close(r);
    cut_off_all(r);
    reap(r);
    record_flush();
    dump_close(r, 0, r->dump_ready);
    tool_on_stop_signals(SIG_DFL);
    sock_poller_close(r->poller);
    signal_poller = NULL;
    int r_dump_failed = r->dump_failed;
    free(r);
    tool_tls_free(&a.tls_in);
    tool_tls_free(&a.tls_out);
    return rc == EXIT_OK && (record_failed || r_dump_failed) ? EXIT_NET : rc;
}
