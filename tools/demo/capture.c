/*
 * tools/demo/capture.c - see the TCP segments each step puts on the wire.
 *
 * A packet socket (AF_PACKET, SOCK_DGRAM: no link-layer header) on the
 * interface the demo uses, with a classic BPF filter so the kernel hands us
 * only TCP to or from the server's port: the loopback device may be busy
 * with other programs' bulk transfers, which would otherwise overflow our
 * receive queue.  The headers are parsed by packet.c.
 */
#include "demo.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/filter.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
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

struct demo_capture {
    int fd;
    int loopback;          /* every packet is seen twice on lo: skip outgoing */
    struct demo_conn conn;
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

int demo_capture_set_server(struct demo_capture *c, const struct sockaddr_storage *srv)
{
    demo_conn_set_server(&c->conn, srv);
    return attach_filter(c->fd, c->conn.srv.port);
}

void demo_capture_set_client(struct demo_capture *c, const struct sockaddr_storage *cli)
{
    demo_conn_set_client(&c->conn, cli);
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
    double t = demo_now();
    for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
        if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_TIMESTAMPNS) {
            struct timespec ts;
            memcpy(&ts, CMSG_DATA(cm), sizeof ts);
            t = since_epoch(&ts);
        }
    }
    if (demo_parse_packet(buf, (size_t)n, seg) != 1)
        return 0;
    seg->t = t;
    return demo_conn_segment(&c->conn, seg);
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
