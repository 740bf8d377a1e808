/*
 * fuzz_frame.c - the framing parsers (sock_read_until, sock_read_line,
 * sock_read_msg, sock_read_skip) on any stream, split any way.
 *
 * Input: byte 0 picks the parser (mode % 8: 0 read_until with the
 * delimiter of byte 4's length taken from the stream's first bytes, 1
 * read_line, 2..6 read_msg with SOCK_U8, U16BE, U32BE, U16LE, U32LE),
 * byte 1 the largest message accepted (1..256), byte 2 the reader's buffer
 * (8..263 bytes), byte 3 the seed of the chunk sizes (1..16 bytes each);
 * the rest is the stream.  The stream goes over a loopback TCP connection
 * one chunk at a time; after each chunk the reader, non-blocking, takes
 * whatever it can; at the end the writer half-closes and the reader reads
 * on to the end.
 *
 * Beyond "no crash": every byte of the stream comes out exactly once and
 * in order, as messages, delimiters, refused parts and the unfinished tail
 * (read_until and read_msg are checked byte for byte; read_line, which
 * drops a CR before the LF, for its lengths and terminators), a message is
 * never longer than allowed, a successful message is NUL-terminated where
 * the call promises it, and no descriptor leaks.
 */
#include "harness.h"

#include "sock.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>

static sock_t acceptor;
static char port[8];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    sock_init(&acceptor);
    fuzz_check(sock_bind(&acceptor, "127.0.0.1", "0") == 0, "bind: %s", sock_error(&acceptor));
    fuzz_check(sock_listen(&acceptor, 8) == 0, "listen: %s", sock_error(&acceptor));
    snprintf(port, sizeof port, "%d", sock_local_port(&acceptor));
    return 0;
}

struct run {
    sock_t c, s;
    sock_reader_t r;
    unsigned char buf[263];
    int mode, prefix;
    size_t max;
    const unsigned char *delim;
    size_t dlen;
    const unsigned char *stream;
    size_t len, consumed; /* bytes of the stream accounted for */
    size_t skip;          /* bytes of a refused message still to skip */
    unsigned char body[256]; /* read_msg's out, kept across calls */
    int ended;
};

/* The bytes b (n of them) came out of the stream next. */
static void came_out(struct run *u, const void *b, size_t n, const char *what)
{
    fuzz_check(u->consumed + n <= u->len, "%s: %zu bytes past the stream's end", what, n);
    if (u->mode != 1)
        fuzz_check(memcmp(u->stream + u->consumed, b, n) == 0, "%s: bytes out of order at %zu",
                   what, u->consumed);
    u->consumed += n;
}

static const int prefixes[] = {SOCK_U8, SOCK_U16BE, SOCK_U32BE, SOCK_U16LE, SOCK_U32LE};
static const size_t prefix_len[] = {1, 2, 4, 2, 4};

/* One call of the parser; returns its code. */
static int step(struct run *u)
{
    char out[257];
    size_t len = 12345;
    int rc;
    if (u->mode <= 1) {
        rc = u->mode == 0 ? sock_read_until(&u->r, u->delim, u->dlen, out, u->max, &len)
                          : sock_read_line(&u->r, out, u->max, &len);
        if (rc == -EAGAIN)
            return rc;
        fuzz_check(len < u->max, "a message of %zu bytes with max %zu", len, u->max);
        fuzz_check(out[len] == '\0', "message not terminated");
        if (u->mode == 1) {
            /* A line may have lost a CR: account by scanning the stream. */
            size_t n = len;
            if (rc == 0) {
                while (u->consumed + n < u->len && u->stream[u->consumed + n] != '\n')
                    n++;
                fuzz_check(u->consumed + n < u->len, "a line without its LF");
                n++;
            }
            u->consumed += n;
            fuzz_check(u->consumed <= u->len, "past the end");
        } else {
            came_out(u, out, len, "message");
            if (rc == 0)
                came_out(u, u->delim, u->dlen, "delimiter");
        }
        return rc;
    }
    if (u->skip) {
        size_t skipped = 0;
        rc = sock_read_skip(&u->r, u->skip, &skipped);
        fuzz_check(skipped <= u->skip, "skipped %zu of %zu", skipped, u->skip);
        u->consumed += skipped;
        u->skip -= skipped;
        fuzz_check(rc == 0 ? u->skip == 0 : 1, "skip succeeded short");
        return rc == SOCK_EOF ? (u->consumed = u->len, rc) : rc;
    }
    size_t plen = prefix_len[u->prefix];
    /* The same out on every call: a message longer than the reader's
     * buffer resumes into it after -EAGAIN (sock.h). */
    unsigned char *body = u->body;
    rc = sock_read_msg(&u->r, prefixes[u->prefix], body, u->max, &len);
    if (rc == -EAGAIN)
        return rc;
    if (rc == 0) {
        fuzz_check(len <= u->max, "a message of %zu bytes with max %zu", len, u->max);
        u->consumed += plen;
        came_out(u, body, len, "message");
    } else if (rc == -EMSGSIZE) {
        fuzz_check(len > u->max, "refused %zu bytes with max %zu", len, u->max);
        u->consumed += plen;
        if (len <= u->len - u->consumed) {
            /* Skip it (in as many calls as it takes): the stream then goes
             * on at the next prefix. */
            u->skip = len;
            return 0;
        }
        return -EMSGSIZE;
    } else if (rc == SOCK_EOF) {
        fuzz_check(u->ended, "SOCK_EOF before the end of stream");
        u->consumed = u->len; /* a cut prefix or body: the tail */
    }
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 4)
        return 0;
    static struct run u;
    memset(&u, 0, sizeof u);
    int fd_before = fuzz_lowest_free_fd();
    u.mode = data[0] % 8 > 6 ? 6 : data[0] % 8;
    u.prefix = u.mode >= 2 ? u.mode - 2 : 0;
    u.max = 1 + data[1];
    size_t cap = 8 + data[2];
    unsigned seed = data[3];
    u.stream = data + 4;
    u.len = size - 4;
    if (u.mode == 0) {
        u.dlen = 1 + (u.len ? u.stream[0] % 4 : 0);
        if (u.dlen > u.len)
            return 0;
        u.delim = u.stream; /* the delimiter opens the stream, as a first message */
    }

    sock_init(&u.c);
    fuzz_check(sock_connect(&u.c, "127.0.0.1", port) == 0, "connect: %s", sock_error(&u.c));
    fuzz_check(sock_accept(&acceptor, &u.s) == 0, "accept: %s", sock_error(&acceptor));
    sock_set_nodelay(&u.c, 1);
    sock_set_nonblocking(&u.s, 1);
    fuzz_check(sock_reader_init(&u.r, &u.s, u.buf, cap) == 0, "reader_init");

    int stop = 0;
    int left = 0; /* bytes the reader left in the socket (its buffer full) */
    for (size_t at = 0; at < u.len && !stop;) {
        seed = seed * 1103515245u + 12345u;
        size_t k = 1 + (seed >> 16) % 16;
        if (k > u.len - at)
            k = u.len - at;
        fuzz_check(sock_send_all(&u.c, u.stream + at, k, NULL) == 0, "send");
        at += k;
        /* Wait (bounded) until the reader's socket holds the chunk: on
         * loopback it is there at once, nearly always. */
        int queued = 0;
        for (int i = 0; i < 1000; i++) {
            ioctl(sock_fd(&u.s), FIONREAD, &queued);
            if (queued >= left + (int)k)
                break;
            struct timespec ts = {0, 10000};
            nanosleep(&ts, NULL);
        }
        for (int i = 0; i < 1000; i++) {
            int rc = step(&u);
            if (rc == -EAGAIN)
                break;
            if (rc != 0) {
                stop = 1; /* a too-long line or message: the caller would close */
                break;
            }
        }
        ioctl(sock_fd(&u.s), FIONREAD, &left);
    }
    if (!stop) {
        u.ended = 1;
        sock_shutdown(&u.c, SOCK_SHUT_WRITE);
        sock_set_nonblocking(&u.s, 0);
        sock_set_timeout(&u.s, 2000);
        for (int i = 0; i < 1000; i++) {
            int rc = step(&u);
            if (rc == SOCK_END) {
                fuzz_check(u.consumed == u.len, "SOCK_END with %zu of %zu bytes accounted for",
                           u.consumed, u.len);
                break;
            }
            if (rc == SOCK_EOF) {
                fuzz_check(u.mode >= 2 || u.consumed == u.len,
                           "SOCK_EOF leaves %zu of %zu bytes", u.len - u.consumed, u.len);
                break;
            }
            fuzz_check(rc == 0 || rc == -EMSGSIZE, "unexpected code %d: %s", rc, sock_error(&u.s));
            if (rc == -EMSGSIZE)
                break;
        }
    }
    sock_close(&u.c);
    sock_close(&u.s);
    fuzz_check(fuzz_lowest_free_fd() == fd_before, "a descriptor leaked");
    return 0;
}
