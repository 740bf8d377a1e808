/*
 * fuzz_demo_packet.c - the demo's packet parser, demo_parse_packet(), and
 * what relates its segments to the connection, demo_conn_segment().
 *
 * Input: up to 16 packets, each a 2-byte big-endian length and that many
 * bytes (the last one shorter if the input ends first).  Each packet is
 * copied to a heap block of exactly its length, so ASan sees any read past
 * it.  The first TCP segment parsed names the connection (its destination
 * the server, its source the client) and every segment goes through
 * demo_conn_segment() after it, as the capture does.
 *
 * Beyond "no crash", the verdict and every field are checked against an
 * independent reading of the headers (expected_tcp) for IPv4 and for IPv6
 * without extension headers; for every packet, the promises of demo.h: 1,
 * 0 or -1, a zeroed segment unless 1, a printable, terminated preview.
 */
#include "harness.h"

#include "demo.h"

#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_PACKETS = 16 };

static unsigned be16(const uint8_t *p)
{
    return (unsigned)p[0] << 8 | p[1];
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* The MSS option of options opt[0..n-1], read as RFC 9293 lays them out. */
static unsigned expected_mss(const uint8_t *opt, size_t n)
{
    for (size_t i = 0; i < n && opt[i] != TCPOPT_EOL;) {
        if (opt[i] == TCPOPT_NOP) {
            i++;
            continue;
        }
        if (n - i < 2 || opt[i + 1] < 2 || opt[i + 1] > n - i)
            return 0;
        if (opt[i] == TCPOPT_MAXSEG && opt[i + 1] == 4)
            return be16(opt + i + 2);
        i += opt[i + 1];
    }
    return 0;
}

/* The verdict for an IPv4 packet or an IPv6 one whose next header is TCP,
 * and the segment when it is 1; 2 when this reading does not decide (IPv6
 * extension headers). */
static int expected_tcp(const uint8_t *p, size_t len, struct demo_segment *want)
{
    size_t hl, total;
    memset(want, 0, sizeof *want);
    if (len < 1)
        return -1;
    if (p[0] >> 4 == 4) {
        if (len < 20)
            return -1;
        hl = (size_t)(p[0] & 15) * 4;
        total = be16(p + 2);
        if (hl < 20 || hl > len || total < hl)
            return -1;
        if (p[9] != IPPROTO_TCP || (be16(p + 6) & 0x1fff))
            return 0;
        want->family = AF_INET;
        memcpy(want->src, p + 12, 4);
        memcpy(want->dst, p + 16, 4);
    } else if (p[0] >> 4 == 6) {
        if (len < 40 || be16(p + 4) == 0)
            return -1;
        if (p[6] != IPPROTO_TCP)
            return 2;
        hl = 40;
        total = 40 + be16(p + 4);
        want->family = AF_INET6;
        memcpy(want->src, p + 8, 16);
        memcpy(want->dst, p + 24, 16);
    } else {
        return 0;
    }
    if (len < hl + 20 || total < hl + 20)
        goto bad;
    const uint8_t *t = p + hl;
    size_t thl = (size_t)(t[12] >> 4) * 4;
    if (thl < 20 || len < hl + thl || total < hl + thl)
        goto bad;
    want->sport = (uint16_t)be16(t);
    want->dport = (uint16_t)be16(t + 2);
    want->seq = be32(t + 4);
    want->ack = be32(t + 8);
    want->flags = t[13];
    want->win = (uint16_t)be16(t + 14);
    want->mss = (uint16_t)expected_mss(t + 20, thl - 20);
    want->len = (uint32_t)(total - hl - thl);
    size_t k = 0;
    for (; k < want->len && k < sizeof want->preview - 1 && hl + thl + k < len; k++) {
        uint8_t c = p[hl + thl + k];
        want->preview[k] = c >= 32 && c < 127 ? (char)c : '.';
    }
    return 1;
bad:
    memset(want, 0, sizeof *want);
    return -1;
}

static void check_segment(const uint8_t *p, size_t len, int rc, const struct demo_segment *seg)
{
    static const struct demo_segment zero;
    fuzz_check(rc == 1 || rc == 0 || rc == -1, "demo_parse_packet returned %d", rc);
    if (rc != 1) {
        fuzz_check(memcmp(seg, &zero, sizeof zero) == 0, "segment not zeroed on %d", rc);
        return;
    }
    fuzz_check(seg->family == AF_INET || seg->family == AF_INET6, "family %d", seg->family);
    fuzz_check((p[0] >> 4) == (seg->family == AF_INET ? 4 : 6), "family %d for version %d",
               seg->family, p[0] >> 4);
    fuzz_check(memchr(seg->preview, '\0', sizeof seg->preview) != NULL, "preview unterminated");
    size_t n = strlen(seg->preview);
    fuzz_check(n <= seg->len && n < len, "preview of %zu bytes, payload %u, packet %zu", n,
               (unsigned)seg->len, len);
    for (size_t i = 0; i < n; i++)
        fuzz_check(seg->preview[i] >= 32 && seg->preview[i] < 127, "preview byte %d",
                   seg->preview[i]);
    fuzz_check(seg->from == 0 && seg->retrans == 0 && seg->t == 0,
               "parse set from %d, retrans %d, t %g", seg->from, seg->retrans, seg->t);
}

/* A sockaddr for one end of seg (its source or its destination). */
static void endpoint_of(const struct demo_segment *seg, int source, struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof *ss);
    const uint8_t *a = source ? seg->src : seg->dst;
    uint16_t port = source ? seg->sport : seg->dport;
    if (seg->family == AF_INET) {
        struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
        in4->sin_family = AF_INET;
        memcpy(&in4->sin_addr, a, 4);
        in4->sin_port = htons(port);
    } else {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
        in6->sin6_family = AF_INET6;
        memcpy(&in6->sin6_addr, a, 16);
        in6->sin6_port = htons(port);
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct demo_conn conn;
    struct demo_segment seg, want;
    int have_conn = 0;
    memset(&conn, 0, sizeof conn);

    fuzz_check(demo_parse_packet(NULL, 0, &seg) == -1, "NULL packet not refused");
    for (int i = 0; i < MAX_PACKETS && size >= 2; i++) {
        size_t len = be16(data);
        data += 2, size -= 2;
        if (len > size)
            len = size;
        uint8_t *p = malloc(len ? len : 1);
        memcpy(p, data, len);
        data += len, size -= len;

        memset(&seg, 0x5a, sizeof seg);
        int rc = demo_parse_packet(len ? p : NULL, len, &seg);
        check_segment(p, len, rc, &seg);
        int wrc = expected_tcp(p, len, &want);
        if (wrc != 2) {
            fuzz_check(rc == wrc, "packet %d (%zu bytes): %d, expected %d", i, len, rc, wrc);
            fuzz_check(rc != 1 || memcmp(&seg, &want, sizeof seg) == 0,
                       "packet %d: a field differs (seq %u/%u ack %u/%u len %u/%u mss %u/%u "
                       "win %u/%u preview \"%s\"/\"%s\")", i, (unsigned)seg.seq,
                       (unsigned)want.seq, (unsigned)seg.ack, (unsigned)want.ack,
                       (unsigned)seg.len, (unsigned)want.len, seg.mss, want.mss, seg.win,
                       want.win, seg.preview, want.preview);
        }
        if (rc == 1) {
            if (!have_conn) {
                struct sockaddr_storage srv, cli;
                endpoint_of(&seg, 0, &srv);
                endpoint_of(&seg, 1, &cli);
                demo_conn_set_server(&conn, &srv);
                demo_conn_set_client(&conn, &cli);
                have_conn = 1;
            }
            int crc = demo_conn_segment(&conn, &seg);
            fuzz_check(crc == 0 || crc == 1, "demo_conn_segment returned %d", crc);
            fuzz_check(crc == 0 || seg.from == DEMO_CLIENT || seg.from == DEMO_SERVER,
                       "from %d", seg.from);
            fuzz_check(seg.retrans == 0 || seg.retrans == 1, "retrans %d", seg.retrans);
            char kind[8];
            const char *k = demo_segment_kind(&seg, kind, sizeof kind);
            fuzz_check(k == kind && memchr(kind, '\0', sizeof kind), "segment kind unterminated");
        }
        free(p);
    }
    return 0;
}
