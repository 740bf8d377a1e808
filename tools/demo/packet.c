/*
 * tools/demo/packet.c - the IPv4/IPv6/TCP parser of the capture, and what
 * relates a parsed segment to the demo's connection (who sent it, relative
 * sequence numbers, retransmissions).
 *
 * Nothing here touches a socket, so the parser can be fed any bytes: by the
 * capture, by the tests and by a fuzzer.  Every header field is read only
 * after checking that the bytes it lies in were captured.
 */
#include "demo.h"

#include <arpa/inet.h>
#include <netinet/tcp.h>
#include <string.h>

/* IPv6 extension headers we walk through before giving up: real packets
 * carry one or two; the bound keeps a crafted chain from looping long. */
#define MAX_EXT_HEADERS 8

static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* The IPv4 header: its length in *hl and the end of the packet (from the
 * total length field) in *total.  Returns 1 for a TCP packet, 0 for a packet
 * that is not TCP or a later fragment, -1 when malformed. */
static int parse_ipv4(const uint8_t *p, size_t caplen, struct demo_segment *seg, size_t *hl,
                      size_t *total)
{
    if (caplen < 20)
        return -1;
    *hl = (size_t)(p[0] & 0x0f) * 4;
    *total = get16(p + 2);
    if (*hl < 20 || caplen < *hl || *total < *hl)
        return -1;
    /* A later fragment holds payload, not a TCP header. */
    if (p[9] != IPPROTO_TCP || (get16(p + 6) & 0x1fff) != 0)
        return 0;
    seg->family = AF_INET;
    memcpy(seg->src, p + 12, 4);
    memcpy(seg->dst, p + 16, 4);
    return 1;
}

/* The IPv6 header and its extension headers, as parse_ipv4(). */
static int parse_ipv6(const uint8_t *p, size_t caplen, struct demo_segment *seg, size_t *hl,
                      size_t *total)
{
    if (caplen < 40)
        return -1;
    size_t payload = get16(p + 4);
    /* A zero payload length means a jumbogram (RFC 2675), never on the
     * demo's links; no TCP header fits in it otherwise. */
    if (payload == 0)
        return -1;
    *total = 40 + payload;
    uint8_t next = p[6];
    size_t off = 40;
    for (int i = 0; next != IPPROTO_TCP; i++) {
        if (i >= MAX_EXT_HEADERS)
            return 0;
        if (next == IPPROTO_HOPOPTS || next == IPPROTO_ROUTING || next == IPPROTO_DSTOPTS) {
            if (caplen < off + 8 || *total < off + 8)
                return -1;
            next = p[off];
            off += ((size_t)p[off + 1] + 1) * 8;
        } else if (next == IPPROTO_FRAGMENT) {
            if (caplen < off + 8 || *total < off + 8)
                return -1;
            /* Only the first fragment holds the TCP header. */
            if ((get16(p + off + 2) & 0xfff8) != 0)
                return 0;
            next = p[off];
            off += 8;
        } else if (next == IPPROTO_AH) {
            if (caplen < off + 8 || *total < off + 8)
                return -1;
            next = p[off];
            off += ((size_t)p[off + 1] + 2) * 4;
        } else {
            /* ESP, no next header, or another protocol: no TCP to see. */
            return 0;
        }
    }
    if (off > caplen || off > *total)
        return -1;
    *hl = off;
    seg->family = AF_INET6;
    memcpy(seg->src, p + 8, 16);
    memcpy(seg->dst, p + 24, 16);
    return 1;
}

/* The TCP options: only MSS is shown.  opt..end are the option bytes, all
 * captured (checked by the caller). */
static uint16_t parse_mss(const uint8_t *opt, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint8_t kind = opt[i];
        if (kind == TCPOPT_EOL)
            break;
        if (kind == TCPOPT_NOP) {
            i++;
            continue;
        }
        if (i + 1 >= n)
            break;
        size_t olen = opt[i + 1];
        if (olen < 2 || i + olen > n)
            break;
        if (kind == TCPOPT_MAXSEG && olen == TCPOLEN_MAXSEG)
            return get16(opt + i + 2);
        i += olen;
    }
    return 0;
}

int demo_parse_packet(const uint8_t *p, size_t caplen, struct demo_segment *seg)
{
    size_t iphl = 0, total = 0;
    int rc;

    memset(seg, 0, sizeof *seg);
    if (!p || caplen < 1)
        return -1;
    if ((p[0] >> 4) == 4)
        rc = parse_ipv4(p, caplen, seg, &iphl, &total);
    else if ((p[0] >> 4) == 6)
        rc = parse_ipv6(p, caplen, seg, &iphl, &total);
    else
        return 0;
    if (rc != 1) {
        memset(seg, 0, sizeof *seg);
        return rc;
    }
    /* The TCP header with its options must have been captured whole; the
     * payload may be cut by the capture's snap length. */
    const uint8_t *t = p + iphl;
    size_t thl;
    if (caplen < iphl + 20 || total < iphl + 20 ||
        (thl = (size_t)(t[12] >> 4) * 4) < 20 || caplen < iphl + thl || total < iphl + thl) {
        memset(seg, 0, sizeof *seg);
        return -1;
    }
    seg->sport = get16(t);
    seg->dport = get16(t + 2);
    seg->seq = get32(t + 4);
    seg->ack = get32(t + 8);
    seg->flags = t[13];
    seg->win = get16(t + 14);
    seg->len = (uint32_t)(total - iphl - thl);
    seg->mss = parse_mss(t + 20, thl - 20);

    size_t off = iphl + thl, k = 0;
    for (; k < seg->len && k < sizeof seg->preview - 1 && off + k < caplen; k++) {
        uint8_t ch = p[off + k];
        seg->preview[k] = (ch >= 32 && ch < 127) ? (char)ch : '.';
    }
    seg->preview[k] = '\0';
    return 1;
}

/* ------------------------------------------------------------ connection */

static void set_endpoint(struct demo_endpoint *ep, const struct sockaddr_storage *ss)
{
    memset(ep, 0, sizeof *ep);
    ep->family = ss->ss_family;
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)ss;
        memcpy(ep->addr, &in->sin_addr, 4);
        ep->port = ntohs(in->sin_port);
    } else {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;
        memcpy(ep->addr, &in6->sin6_addr, 16);
        ep->port = ntohs(in6->sin6_port);
    }
    ep->known = 1;
}

void demo_conn_set_server(struct demo_conn *c, const struct sockaddr_storage *srv)
{
    set_endpoint(&c->srv, srv);
}

void demo_conn_set_client(struct demo_conn *c, const struct sockaddr_storage *cli)
{
    set_endpoint(&c->cli, cli);
}

static int endpoint_is(const struct demo_endpoint *ep, int family, const uint8_t *addr,
                       uint16_t port)
{
    return ep->known && ep->family == family && ep->port == port &&
           memcmp(ep->addr, addr, family == AF_INET ? 4 : 16) == 0;
}

/* Sequence numbers wrap: a is before b when the distance from b to a,
 * taken as signed 32 bits, is negative (RFC 793's comparison). */
static int seq_before(uint32_t a, uint32_t b)
{
    return (int32_t)(a - b) < 0;
}

int demo_conn_segment(struct demo_conn *c, struct demo_segment *seg)
{
    if (endpoint_is(&c->srv, seg->family, seg->src, seg->sport))
        seg->from = DEMO_SERVER;
    else if (endpoint_is(&c->srv, seg->family, seg->dst, seg->dport))
        seg->from = DEMO_CLIENT;
    else
        return 0;
    /* Once the client is known, only its connection counts. */
    if (c->cli.known) {
        int is_cli = seg->from == DEMO_CLIENT;
        if (!endpoint_is(&c->cli, seg->family, is_cli ? seg->src : seg->dst,
                         is_cli ? seg->sport : seg->dport))
            return 0;
    }
    int me = seg->from, other = !seg->from;
    if ((seg->flags & TH_SYN) && !c->have_isn[me]) {
        c->isn[me] = seg->seq;
        c->have_isn[me] = 1;
    }
    if (c->have_isn[me])
        seg->seq -= c->isn[me];
    if ((seg->flags & TH_ACK) && c->have_isn[other])
        seg->ack -= c->isn[other];

    /* SYN and FIN take a sequence number each, data one per byte; a bare
     * ACK or RST takes none and is never a retransmission (Linux's window
     * probes even carry an old number on purpose). */
    uint32_t span = seg->len + !!(seg->flags & TH_SYN) + !!(seg->flags & TH_FIN);
    seg->retrans = 0;
    if (span == 0)
        return 1;
    uint32_t end = seg->seq + span;
    if (c->have_next[me] && seq_before(seg->seq, c->next[me]))
        seg->retrans = 1;
    if (!c->have_next[me] || seq_before(c->next[me], end)) {
        c->next[me] = end;
        c->have_next[me] = 1;
    }
    return 1;
}

const char *demo_segment_kind(const struct demo_segment *s, char *buf, size_t len)
{
    const char *k;
    uint8_t f = s->flags;
    if (f & TH_RST)
        k = (f & TH_ACK) ? "RST-ACK" : "RST";
    else if ((f & TH_SYN) && (f & TH_ACK))
        k = "SYN-ACK";
    else if (f & TH_SYN)
        k = "SYN";
    else if (f & TH_FIN)
        k = "FIN-ACK";
    else if (s->len > 0)
        k = "DATA";
    else
        k = "ACK";
    snprintf(buf, len, "%s", k);
    return buf;
}
