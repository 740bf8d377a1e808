/*
 * frame.c - the course's protocols: messages on a stream.
 *
 * TCP delivers bytes, not messages: a recv() may return half a line, or a
 * line and a half.  The reader keeps what it read past the end of one
 * message for the next call, in storage the caller gives, so no byte is
 * ever lost between calls; the length-prefixed and integer calls send and
 * receive exact bytes in network order (big-endian) unless told otherwise.
 *
 * Every reader call has one deadline (the socket's timeout) for the whole
 * message, and in non-blocking mode returns -EAGAIN with the partial
 * message kept in the reader, to be finished by the next call.
 */
#include "internal.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>

/* ---- the reader --------------------------------------------------------- */

SOCK_API int sock_reader_init(sock_reader_t *r, sock_t *s, void *buf, size_t cap)
{
    if (!r)
        return -EINVAL;
    memset(r, 0, sizeof *r);
    if (!s || !buf || cap < 8)
        return -EINVAL;
    r->priv_s = s;
    r->priv_buf = buf;
    r->priv_cap = cap;
    return 0;
}

SOCK_API size_t sock_reader_buffered(const sock_reader_t *r)
{
    return r ? r->priv_end - r->priv_start : 0;
}

/* Make room at the end of the buffer by moving the unread bytes to its
 * start. */
static void compact(sock_reader_t *r)
{
    if (r->priv_start == 0)
        return;
    size_t n = r->priv_end - r->priv_start;
    memmove(r->priv_buf, r->priv_buf + r->priv_start, n);
    r->priv_start = 0;
    r->priv_end = n;
}

/* Read more into the buffer.  Returns the count (> 0), 0 at end of
 * stream, or a code (-EAGAIN, -ETIMEDOUT, -ECONNRESET, SOCK_ECLOSED). */
static ssize_t refill(sock_reader_t *r, int64_t deadline)
{
    compact(r);
    size_t room = r->priv_cap - r->priv_end;
    if (room == 0)
        return -ENOBUFS;
    ssize_t n = sock__recv_some(r->priv_s, (char *)r->priv_buf + r->priv_end, room, deadline, 0);
    if (n > 0)
        r->priv_end += (size_t)n;
    return n;
}

/* The end of a read: a failure recorded in the socket's words (would-block
 * and the clean end between messages are not failures and cost no text). */
static int finish(sock_reader_t *r, const char *step, int code, size_t got)
{
    if (code == 0 || code == -EAGAIN || code == SOCK_END)
        return code;
    if (code == -EMSGSIZE)
        return sock__failf(r->priv_s, SOCK__SIDE_RECV, code,
                           "%s: the message is longer than the %zu bytes allowed", step, got);
    return sock__io_fail(r->priv_s, SOCK__SIDE_RECV, step, code, got, 0);
}

static int check_reader(sock_reader_t *r, const char *step)
{
    if (!r || !r->priv_s || !r->priv_buf)
        return -EINVAL;
    return sock__check_io(r->priv_s, SOCK__SIDE_RECV, step, r->priv_buf, 1, 0);
}

/* Find delim in the unread bytes, from offset from on.  Returns its
 * offset from priv_start, or -1. */
static ssize_t find(const sock_reader_t *r, const unsigned char *delim, size_t dlen, size_t from)
{
    const unsigned char *base = r->priv_buf + r->priv_start;
    size_t n = r->priv_end - r->priv_start;
    for (size_t i = from; i + dlen <= n; i++) {
        const unsigned char *hit = memchr(base + i, delim[0], n - i - dlen + 1);
        if (!hit)
            return -1;
        i = (size_t)(hit - base);
        if (memcmp(hit, delim, dlen) == 0)
            return (ssize_t)i;
    }
    return -1;
}

/* Move n bytes out of the buffer into out (when not NULL). */
static void take(sock_reader_t *r, void *out, size_t n)
{
    if (out)
        memcpy(out, r->priv_buf + r->priv_start, n);
    r->priv_start += n;
    if (r->priv_start == r->priv_end)
        r->priv_start = r->priv_end = 0;
}

static int read_until(sock_reader_t *r, const unsigned char *delim, size_t dlen, char *out,
                      size_t max, size_t *len)
{
    int64_t deadline = sock__deadline_of(r->priv_s);
    size_t limit = max - 1; /* room for the NUL */
    size_t searched = 0;
    for (;;) {
        ssize_t at = find(r, delim, dlen, searched);
        size_t have = sock_reader_buffered(r);
        if (at >= 0 && (size_t)at <= limit) {
            take(r, out, (size_t)at);
            out[at] = '\0';
            take(r, NULL, dlen);
            *len = (size_t)at;
            return 0;
        }
        /* Too long: with no delimiter within limit bytes, or the buffer
         * full without one.  The part read is handed over and dropped; the
         * rest of the message stays in the stream (see the header). */
        if ((at < 0 && have >= limit + dlen) || (at > (ssize_t)limit) ||
            (at < 0 && have == r->priv_cap)) {
            size_t n = have < limit ? have : limit;
            take(r, out, n);
            out[n] = '\0';
            *len = n;
            return -EMSGSIZE;
        }
        searched = have >= dlen ? have - dlen + 1 : 0;
        ssize_t n = refill(r, deadline);
        if (n > 0)
            continue;
        if (n < 0)
            return (int)n;
        /* End of stream: between messages, or inside one (cut to what
         * out holds; the rest is dropped, since no more will come). */
        have = sock_reader_buffered(r);
        size_t keep = have < limit ? have : limit;
        take(r, out, keep);
        take(r, NULL, have - keep);
        out[keep] = '\0';
        *len = keep;
        return have > limit ? -EMSGSIZE : have ? SOCK_EOF : SOCK_END;
    }
}

SOCK_API int sock_read_until(sock_reader_t *r, const void *delim, size_t dlen, char *out,
                             size_t max, size_t *len)
{
    size_t got = 0;
    int rc = check_reader(r, "read_until");
    if (rc == 0 && (!delim || dlen == 0 || !out || max == 0 || (r && dlen > r->priv_cap)))
        rc = sock__fail(r->priv_s, SOCK__SIDE_RECV, -EINVAL,
                        "read_until: needs a delimiter of 1 to %zu bytes and an output buffer",
                        r->priv_cap);
    if (rc == 0) {
        rc = read_until(r, delim, dlen, out, max, &got);
        rc = finish(r, "read_until", rc, got);
    }
    if (len)
        *len = got;
    if (r && r->priv_s)
        SOCK__TRACE(r->priv_s, "read_until", rc == 0 ? (long long)got : rc, NULL,
                    "%zu-byte delimiter, max %zu", dlen, max);
    return rc;
}

SOCK_API int sock_read_line(sock_reader_t *r, char *out, size_t max, size_t *len)
{
    size_t got = 0;
    int rc = sock_read_until(r, "\n", 1, out, max, &got);
    /* A line may end in CRLF (HTTP, SMTP, telnet): the CR is not part of
     * it.  An unfinished line (SOCK_EOF, -EMSGSIZE) has no line end, so its
     * bytes are given exactly, a last CR included. */
    if (rc == 0 && got > 0 && out[got - 1] == '\r')
        out[--got] = '\0';
    if (len)
        *len = got;
    return rc;
}

/* Exactly len bytes: first what the buffer holds, then straight into out
 * (a large read need not pass through the buffer). */
static int read_exact(sock_reader_t *r, unsigned char *out, size_t len, size_t *got)
{
    size_t have = sock_reader_buffered(r);
    size_t first = have < len ? have : len;
    take(r, out, first);
    *got = first;
    int64_t deadline = sock__deadline_of(r->priv_s);
    while (*got < len) {
        ssize_t n = sock__recv_some(r->priv_s, (char *)out + *got, len - *got, deadline, 0);
        if (n > 0)
            *got += (size_t)n;
        else if (n == 0)
            return *got ? SOCK_EOF : SOCK_END;
        else
            return (int)n;
    }
    return 0;
}

SOCK_API int sock_read_exact(sock_reader_t *r, void *out, size_t len, size_t *got)
{
    size_t done = 0;
    int rc = check_reader(r, "read_exact");
    if (rc == 0 && !out && len)
        rc = -EINVAL;
    if (rc == 0) {
        rc = read_exact(r, out, len, &done);
        rc = finish(r, "read_exact", rc, done);
    }
    if (got)
        *got = done;
    if (r && r->priv_s)
        SOCK__TRACE(r->priv_s, "read_exact", rc, NULL, "%zu bytes; got %zu", len, done);
    return rc;
}

/* ---- integers and length prefixes -------------------------------------- */

/* Bytes of a prefix, or 0 for an unknown one. */
static size_t prefix_size(int prefix)
{
    switch (prefix) {
    case SOCK_U8: return 1;
    case SOCK_U16BE: case SOCK_U16LE: return 2;
    case SOCK_U32BE: case SOCK_U32LE: return 4;
    case SOCK_U64BE: return 8;
    default: return 0;
    }
}

static int little_endian(int prefix)
{
    return prefix == SOCK_U16LE || prefix == SOCK_U32LE;
}

static void encode(int prefix, uint64_t v, unsigned char *out)
{
    size_t n = prefix_size(prefix);
    for (size_t i = 0; i < n; i++) {
        size_t shift = 8 * (little_endian(prefix) ? i : n - 1 - i);
        out[i] = (unsigned char)(v >> shift);
    }
}

static uint64_t decode(int prefix, const unsigned char *in)
{
    size_t n = prefix_size(prefix);
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        size_t shift = 8 * (little_endian(prefix) ? i : n - 1 - i);
        v |= (uint64_t)in[i] << shift;
    }
    return v;
}

static uint64_t prefix_max(int prefix)
{
    size_t n = prefix_size(prefix);
    return n >= 8 ? UINT64_MAX : ((uint64_t)1 << (8 * n)) - 1;
}

/* Send head (an encoded prefix or integer) then body, as one stream,
 * with send_all's rules; *sent counts bytes of both. */
static int send_frame(sock_t *s, const unsigned char *head, size_t hlen, const void *body,
                      size_t blen, size_t *sent)
{
    int64_t deadline = sock__deadline_of(s);
    size_t total = hlen + blen;
    while (*sent < total) {
        const char *from = *sent < hlen ? (const char *)head + *sent
                                        : (const char *)body + (*sent - hlen);
        size_t n = *sent < hlen ? hlen - *sent : total - *sent;
        ssize_t k = sock__send_some(s, from, n, deadline);
        if (k < 0)
            return (int)k;
        *sent += (size_t)k;
    }
    return 0;
}

static int send_prefixed(sock_t *s, const char *step, int prefix, const void *msg, size_t len,
                         size_t *sent)
{
    int rc = sock__check_io(s, SOCK__SIDE_SEND, step, msg, len, 1);
    if (rc < 0)
        return rc;
    if (!prefix_size(prefix) || prefix == SOCK_U64BE)
        return sock__fail(s, SOCK__SIDE_SEND, -EINVAL, "%s: unknown prefix %d", step, prefix);
    if ((uint64_t)len > prefix_max(prefix))
        return sock__failf(s, SOCK__SIDE_SEND, -EMSGSIZE,
                           "%s: %zu bytes do not fit a %zu-byte length (at most %llu)", step, len,
                           prefix_size(prefix), (unsigned long long)prefix_max(prefix));
    unsigned char head[8];
    encode(prefix, len, head);
    rc = send_frame(s, head, prefix_size(prefix), msg, len, sent);
    if (rc < 0 && rc != -EAGAIN)
        return sock__io_fail(s, SOCK__SIDE_SEND, step, rc, *sent, prefix_size(prefix) + len);
    return rc;
}

SOCK_API int sock_send_msg(sock_t *s, int prefix, const void *msg, size_t len, size_t *sent)
{
    size_t done = 0;
    int rc = s ? send_prefixed(s, "send_msg", prefix, msg, len, &done) : -EINVAL;
    if (sent)
        *sent = done;
    if (s)
        SOCK__TRACE(s, "send_msg", rc, NULL, "%zu bytes, %zu-byte length; sent %zu", len,
                    prefix_size(prefix), done);
    return rc;
}

/* The length prefix of a message: read whole or not at all (in
 * non-blocking mode the bytes of a prefix split across reads wait in the
 * buffer). */
static int read_prefix(sock_reader_t *r, int prefix, uint64_t *value)
{
    size_t n = prefix_size(prefix);
    int64_t deadline = sock__deadline_of(r->priv_s);
    while (sock_reader_buffered(r) < n) {
        ssize_t k = refill(r, deadline);
        if (k == 0)
            return sock_reader_buffered(r) ? SOCK_EOF : SOCK_END;
        if (k < 0)
            return (int)k;
    }
    unsigned char head[8];
    take(r, head, n);
    *value = decode(prefix, head);
    return 0;
}

static int read_msg(sock_reader_t *r, int prefix, void *out, size_t max, size_t *len)
{
    /* A message whose prefix was read but whose body did not come yet
     * (non-blocking) is resumed: its length is remembered. */
    uint64_t want;
    if (r->priv_pending) {
        want = r->priv_pending_len;
    } else {
        int rc = read_prefix(r, prefix, &want);
        if (rc < 0)
            return rc;
        if (want > max) {
            *len = want > SIZE_MAX ? SIZE_MAX : (size_t)want;
            return -EMSGSIZE;
        }
        r->priv_pending = 1;
        r->priv_pending_len = want;
        r->priv_pending_got = 0;
    }
    /* The body must be whole before it is handed over, so that a
     * non-blocking caller never sees half a message: it waits in the
     * buffer when it fits, else in out itself (the caller passes the same
     * out again). */
    int64_t deadline = sock__deadline_of(r->priv_s);
    while (sock_reader_buffered(r) < want && want <= r->priv_cap) {
        ssize_t k = refill(r, deadline);
        if (k == 0) {
            *len = sock_reader_buffered(r);
            take(r, out, *len);
            r->priv_pending = 0;
            return SOCK_EOF;
        }
        if (k < 0)
            return (int)k;
    }
    if (want <= r->priv_cap) {
        take(r, out, (size_t)want);
        *len = (size_t)want;
        r->priv_pending = 0;
        return 0;
    }
    /* Longer than the buffer: read straight into out, resuming where an
     * earlier call stopped (a timeout, or -EAGAIN): the body's bytes
     * already stored in out are counted in priv_pending_got. */
    size_t got = 0;
    size_t before = r->priv_pending_got;
    int rc = read_exact(r, (unsigned char *)out + before, (size_t)want - before, &got);
    r->priv_pending_got = before + got;
    *len = r->priv_pending_got;
    if (rc == 0 || rc == SOCK_END || rc == SOCK_EOF) {
        r->priv_pending = 0;
        r->priv_pending_got = 0;
    }
    return rc == SOCK_END ? SOCK_EOF : rc;
}

SOCK_API int sock_read_msg(sock_reader_t *r, int prefix, void *out, size_t max, size_t *len)
{
    size_t got = 0;
    int rc = check_reader(r, "read_msg");
    if (rc == 0 && (!prefix_size(prefix) || prefix == SOCK_U64BE || (!out && max)))
        rc = sock__fail(r->priv_s, SOCK__SIDE_RECV, -EINVAL, "read_msg: unknown prefix %d",
                        prefix);
    if (rc == 0) {
        rc = read_msg(r, prefix, out, max, &got);
        if (rc == -EMSGSIZE)
            rc = sock__failf(r->priv_s, SOCK__SIDE_RECV, rc,
                             "read_msg: a message of %zu bytes is longer than the %zu allowed%s",
                             got, max,
                             got > 16777216 && prefix != SOCK_U8
                                 ? " (a length in the other byte order?)"
                                 : "");
        else
            rc = finish(r, "read_msg", rc, got);
    }
    if (len)
        *len = got;
    if (r && r->priv_s)
        SOCK__TRACE(r->priv_s, "read_msg", rc == 0 ? (long long)got : rc, NULL,
                    "%zu-byte length, max %zu", prefix_size(prefix), max);
    return rc;
}

SOCK_API int sock_read_skip(sock_reader_t *r, size_t len, size_t *skipped)
{
    size_t done = 0;
    int rc = check_reader(r, "read_skip");
    int64_t deadline = rc == 0 ? sock__deadline_of(r->priv_s) : -1;
    while (rc == 0 && done < len) {
        size_t have = sock_reader_buffered(r);
        size_t n = have < len - done ? have : len - done;
        take(r, NULL, n);
        done += n;
        if (done == len)
            break;
        ssize_t k = refill(r, deadline);
        if (k <= 0)
            rc = finish(r, "read_skip", k == 0 ? SOCK_EOF : (int)k, done);
    }
    if (rc == 0)
        r->priv_pending = 0;
    if (skipped)
        *skipped = done;
    return rc;
}

/* Integers: one worker each way, thin wrappers per width. */
static int send_int(sock_t *s, int prefix, uint64_t v)
{
    if (!s)
        return -EINVAL;
    int rc = sock__check_io(s, SOCK__SIDE_SEND, "send_int", "", 0, 1);
    if (rc < 0)
        return rc;
    unsigned char b[8];
    encode(prefix, v, b);
    size_t sent = 0;
    rc = send_frame(s, b, prefix_size(prefix), NULL, 0, &sent);
    if (rc < 0 && rc != -EAGAIN)
        rc = sock__io_fail(s, SOCK__SIDE_SEND, "send_int", rc, sent, prefix_size(prefix));
    SOCK__TRACE(s, "send_int", rc, NULL, "%zu bytes: %llu", prefix_size(prefix),
                (unsigned long long)v);
    return rc;
}

static int read_int(sock_reader_t *r, int prefix, uint64_t *v)
{
    int rc = check_reader(r, "read_int");
    if (rc == 0 && !v)
        rc = -EINVAL;
    uint64_t got = 0;
    if (rc == 0)
        rc = finish(r, "read_int", read_prefix(r, prefix, &got), 0);
    if (rc == 0)
        *v = got;
    if (r && r->priv_s)
        SOCK__TRACE(r->priv_s, "read_int", rc == 0 ? (long long)got : rc, NULL, "%zu bytes",
                    prefix_size(prefix));
    return rc;
}

SOCK_API int sock_send_u16(sock_t *s, uint16_t v) { return send_int(s, SOCK_U16BE, v); }
SOCK_API int sock_send_u32(sock_t *s, uint32_t v) { return send_int(s, SOCK_U32BE, v); }
SOCK_API int sock_send_u64(sock_t *s, uint64_t v) { return send_int(s, SOCK_U64BE, v); }

SOCK_API int sock_read_u8(sock_reader_t *r, uint8_t *v)
{
    uint64_t x = 0;
    int rc = read_int(r, SOCK_U8, v ? &x : NULL);
    if (rc == 0)
        *v = (uint8_t)x;
    return rc;
}

SOCK_API int sock_read_u16(sock_reader_t *r, uint16_t *v)
{
    uint64_t x = 0;
    int rc = read_int(r, SOCK_U16BE, v ? &x : NULL);
    if (rc == 0)
        *v = (uint16_t)x;
    return rc;
}

SOCK_API int sock_read_u32(sock_reader_t *r, uint32_t *v)
{
    uint64_t x = 0;
    int rc = read_int(r, SOCK_U32BE, v ? &x : NULL);
    if (rc == 0)
        *v = (uint32_t)x;
    return rc;
}

SOCK_API int sock_read_u64(sock_reader_t *r, uint64_t *v)
{
    return read_int(r, SOCK_U64BE, v);
}
