/*
 * tools/demo/capture.c - see the TCP segments each step puts on the wire.
 *
 * A packet socket (AF_PACKET, SOCK_DGRAM: no link-layer header) on the
 * interface the demo uses, with a classic BPF filter so the kernel hands us
 * only TCP to or from the server's port: the loopback device may be busy
 * with other programs' bulk transfers, which would otherwise overflow our
 * receive queue.  Headers are parsed here, IPv4 and IPv6, by hand.
 */
#include "demo.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/filter.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* Bytes of each packet the filter keeps: IP and TCP headers with options
 * and the start of the payload; lengths come from the IP header. */
#define SNAPLEN 256

struct endpoint {
    int family;
    uint8_t addr[16];
    uint16_t port;     /* host order */
    int known;
};

struct demo_capture {
    int fd;
    int loopback;          /* every packet is seen twice on lo: skip outgoing */
    struct endpoint srv, cli;
    uint32_t isn[DEMO_SIDES];
    int have_isn[DEMO_SIDES];
    unsigned drops;
};

static struct timespec demo_epoch;

double demo_now(void)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    if (demo_epoch.tv_sec == 0)
        demo_epoch = now;
    return (double)(now.tv_sec - demo_epoch.tv_sec) + (now.tv_nsec - demo_epoch.tv_nsec) / 1e9;
}

static double since_epoch(const struct timespec *ts)
{
    if (demo_epoch.tv_sec == 0)
        demo_now();
    return (double)(ts->tv_sec - demo_epoch.tv_sec) + (ts->tv_nsec - demo_epoch.tv_nsec) / 1e9;
}

/* The filter: TCP (not a later fragment) with port as source or
 * destination, IPv4 or IPv6; port 0 matches nothing we will ever send. */
static int attach_filter(int fd, uint16_t port)
{
    struct sock_filter prog[] = {
        /* 0 */ BPF_STMT(BPF_LD | BPF_H | BPF_ABS, SKF_AD_OFF + SKF_AD_PROTOCOL),
        /* 1 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ETH_P_IP, 0, 9),
        /* 2 */ BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 9),
        /* 3 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, IPPROTO_TCP, 0, 14),
        /* 4 */ BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 6),
        /* 5 */ BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, 0x1fff, 12, 0),
        /* 6 */ BPF_STMT(BPF_LDX | BPF_B | BPF_MSH, 0),
        /* 7 */ BPF_STMT(BPF_LD | BPF_H | BPF_IND, 0),
        /* 8 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, port, 10, 0),
        /* 9 */ BPF_STMT(BPF_LD | BPF_H | BPF_IND, 2),
        /* 10 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, port, 8, 7),
        /* 11 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ETH_P_IPV6, 0, 6),
        /* 12 */ BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 6),
        /* 13 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, IPPROTO_TCP, 0, 4),
        /* 14 */ BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 40),
        /* 15 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, port, 3, 0),
        /* 16 */ BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 42),
        /* 17 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, port, 1, 0),
        /* 18 */ BPF_STMT(BPF_RET | BPF_K, 0),
        /* 19 */ BPF_STMT(BPF_RET | BPF_K, SNAPLEN),
    };
    struct sock_fprog fp = {.len = sizeof prog / sizeof prog[0], .filter = prog};
    return setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &fp, sizeof fp);
}

struct demo_capture *demo_capture_open(const char *ifname)
{
    unsigned idx = if_nametoindex(ifname);
    if (idx == 0)
        return NULL;
    /* Protocol 0 receives nothing until bind(): the filter is in place
     * before the first packet can queue, so nothing unfiltered slips in. */
    int fd = socket(AF_PACKET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return NULL;
    struct demo_capture *c = calloc(1, sizeof *c);
    if (!c) {
        close(fd);
        errno = ENOMEM;
        return NULL;
    }
    c->fd = fd;
    int on = 1, big = 4 << 20;
    if (attach_filter(fd, 0) < 0)
        goto fail;
    setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof on);
    /* As root the buffer may exceed rmem_max; otherwise take what we get. */
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof big) < 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
    struct sockaddr_ll sll = {.sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL),
                              .sll_ifindex = (int)idx};
    if (bind(fd, (struct sockaddr *)&sll, sizeof sll) < 0)
        goto fail;
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%.15s", ifname);
    if (ioctl(fd, SIOCGIFFLAGS, &ifr) == 0)
        c->loopback = (ifr.ifr_flags & IFF_LOOPBACK) != 0;
    return c;
fail:;
    int e = errno;
    close(fd);
    free(c);
    errno = e;
    return NULL;
}

static void set_endpoint(struct endpoint *ep, const struct sockaddr_storage *ss)
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

int demo_capture_set_server(struct demo_capture *c, const struct sockaddr_storage *srv)
{
    set_endpoint(&c->srv, srv);
    return attach_filter(c->fd, c->srv.port);
}

void demo_capture_set_client(struct demo_capture *c, const struct sockaddr_storage *cli)
{
    set_endpoint(&c->cli, cli);
}

static int endpoint_is(const struct endpoint *ep, int family, const uint8_t *addr, uint16_t port)
{
    return ep->known && ep->family == family && ep->port == port &&
           memcmp(ep->addr, addr, family == AF_INET ? 4 : 16) == 0;
}

/* Parse one IP packet.  Returns 1 and fills seg if it is a segment of the
 * demo's connection, 0 otherwise. */
static int parse_packet(struct demo_capture *c, const uint8_t *p, size_t caplen,
                        struct demo_segment *seg)
{
    int family;
    const uint8_t *src, *dst;
    size_t iphl, total;

    if (caplen < 1)
        return 0;
    if ((p[0] >> 4) == 4) {
        if (caplen < 20 || p[9] != IPPROTO_TCP)
            return 0;
        family = AF_INET;
        iphl = (size_t)(p[0] & 0x0f) * 4;
        total = (size_t)p[2] << 8 | p[3];
        src = p + 12;
        dst = p + 16;
    } else if ((p[0] >> 4) == 6) {
        /* Extension headers are not used by the demo's traffic. */
        if (caplen < 40 || p[6] != IPPROTO_TCP)
            return 0;
        family = AF_INET6;
        iphl = 40;
        total = 40 + ((size_t)p[4] << 8 | p[5]);
        src = p + 8;
        dst = p + 24;
    } else {
        return 0;
    }
    if (iphl < 20 || caplen < iphl + 20 || total < iphl + 20)
        return 0;
    const uint8_t *t = p + iphl;
    uint16_t sport = (uint16_t)(t[0] << 8 | t[1]), dport = (uint16_t)(t[2] << 8 | t[3]);
    size_t thl = (size_t)(t[12] >> 4) * 4;
    if (thl < 20 || total < iphl + thl)
        return 0;

    if (endpoint_is(&c->srv, family, src, sport))
        seg->from = DEMO_SERVER;
    else if (endpoint_is(&c->srv, family, dst, dport))
        seg->from = DEMO_CLIENT;
    else
        return 0;
    /* Once the client is known, only its connection counts. */
    if (c->cli.known) {
        const uint8_t *ca = seg->from == DEMO_CLIENT ? src : dst;
        uint16_t cp = seg->from == DEMO_CLIENT ? sport : dport;
        if (!endpoint_is(&c->cli, family, ca, cp))
            return 0;
    }

    uint32_t seq = (uint32_t)t[4] << 24 | (uint32_t)t[5] << 16 | (uint32_t)t[6] << 8 | t[7];
    uint32_t ack = (uint32_t)t[8] << 24 | (uint32_t)t[9] << 16 | (uint32_t)t[10] << 8 | t[11];
    seg->flags = t[13];
    seg->win = (uint16_t)(t[14] << 8 | t[15]);
    seg->len = (uint32_t)(total - iphl - thl);
    seg->mss = 0;
    /* Options: only MSS is shown (on SYNs). */
    for (size_t i = 20; i + 1 < thl && iphl + i + 1 < caplen;) {
        uint8_t kind = t[i];
        if (kind == 0)
            break;
        if (kind == 1) {
            i++;
            continue;
        }
        uint8_t olen = t[i + 1];
        if (olen < 2)
            break;
        if (kind == 2 && olen == 4 && iphl + i + 3 < caplen)
            seg->mss = (uint16_t)(t[i + 2] << 8 | t[i + 3]);
        i += olen;
    }
    int me = seg->from, other = !seg->from;
    if (seg->flags & TH_SYN) {
        c->isn[me] = seq;
        c->have_isn[me] = 1;
    }
    seg->seq = c->have_isn[me] ? seq - c->isn[me] : seq;
    seg->ack = (seg->flags & TH_ACK) && c->have_isn[other] ? ack - c->isn[other] : ack;

    size_t off = iphl + thl, k = 0;
    for (; k < seg->len && k < sizeof seg->preview - 1 && off + k < caplen; k++) {
        uint8_t ch = p[off + k];
        seg->preview[k] = (ch >= 32 && ch < 127) ? (char)ch : '.';
    }
    seg->preview[k] = '\0';
    return 1;
}

/* Read one packet if any is queued.  Returns 1 if it was ours (seg
 * filled), 0 if not ours, -1 if nothing was queued. */
static int read_one(struct demo_capture *c, struct demo_segment *seg)
{
    uint8_t buf[SNAPLEN + 64];
    struct sockaddr_ll from;
    union {
        struct cmsghdr h;
        char space[CMSG_SPACE(sizeof(struct timespec))];
    } ctl;
    struct iovec iov = {.iov_base = buf, .iov_len = sizeof buf};
    struct msghdr mh = {.msg_name = &from, .msg_namelen = sizeof from, .msg_iov = &iov,
                        .msg_iovlen = 1, .msg_control = &ctl, .msg_controllen = sizeof ctl};
    ssize_t n = recvmsg(c->fd, &mh, MSG_DONTWAIT);
    if (n < 0)
        return -1;
    if (c->loopback && from.sll_pkttype == PACKET_OUTGOING)
        return 0;
    memset(seg, 0, sizeof *seg);
    seg->t = demo_now();
    for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
        if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_TIMESTAMPNS) {
            struct timespec ts;
            memcpy(&ts, CMSG_DATA(cm), sizeof ts);
            seg->t = since_epoch(&ts);
        }
    }
    return parse_packet(c, buf, (size_t)n, seg);
}

static long ms_since(const struct timespec *t0)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (now.tv_sec - t0->tv_sec) * 1000 + (now.tv_nsec - t0->tv_nsec) / 1000000;
}

int demo_capture_drain(struct demo_capture *c, struct demo_segment *out, int max,
                       int quiet_ms, int max_ms)
{
    struct timespec start, last;
    clock_gettime(CLOCK_MONOTONIC, &start);
    last = start;
    int seen = 0;
    /* Bounded by time (max_ms) and, against a flood, by count. */
    for (int guard = 0; guard < 100000; guard++) {
        struct demo_segment seg;
        int r = read_one(c, &seg);
        if (r == 1) {
            if (seen < max)
                out[seen] = seg;
            seen++;
            clock_gettime(CLOCK_MONOTONIC, &last);
        }
        if (r >= 0)
            continue;
        long left_total = max_ms - ms_since(&start);
        long left_quiet = quiet_ms - ms_since(&last);
        long wait = left_quiet < left_total ? left_quiet : left_total;
        if (wait <= 0)
            break;
        struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
        poll(&pfd, 1, (int)wait);
    }
    struct tpacket_stats st;
    socklen_t len = sizeof st;
    if (getsockopt(c->fd, SOL_PACKET, PACKET_STATISTICS, &st, &len) == 0)
        c->drops += st.tp_drops;
    return seen;
}

unsigned demo_capture_drops(struct demo_capture *c)
{
    return c->drops;
}

void demo_capture_close(struct demo_capture *c)
{
    if (!c)
        return;
    close(c->fd);
    free(c);
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
