/*
 * tools/demo/kernel.c - ask the kernel what state a TCP socket is in.
 *
 * While a descriptor is open, getsockopt(TCP_INFO) answers for it.  Once it
 * is closed there is nothing to ask getsockopt about, yet the connection may
 * live on in the kernel (TIME_WAIT, or LAST_ACK waiting for the peer), so we
 * do what `ss` does: look the 4-tuple up through NETLINK_SOCK_DIAG.
 */
#include "demo.h"

#include <errno.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <linux/sockios.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

const char *demo_state_name(int state)
{
    /* The kernel's own numbering (include/net/tcp_states.h). */
    static const char *const names[] = {
        "?", "ESTABLISHED", "SYN_SENT", "SYN_RECV", "FIN_WAIT1", "FIN_WAIT2",
        "TIME_WAIT", "CLOSE", "CLOSE_WAIT", "LAST_ACK", "LISTEN", "CLOSING",
        "NEW_SYN_RECV",
    };
    if (state < 0 || state >= (int)(sizeof names / sizeof names[0]))
        return "?";
    return names[state];
}

void demo_kernel_fd_info(int fd, struct demo_sock_info *si)
{
    struct tcp_info ti;
    socklen_t len = sizeof ti;

    si->fd_state = -1;
    si->unread = -1;
    si->unsent = -1;
    if (fd < 0)
        return;
    memset(&ti, 0, sizeof ti);
    if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) == 0) {
        si->fd_state = ti.tcpi_state;
        /* For a listener the kernel reports its accept queue in
         * tcpi_unacked and the backlog in tcpi_sacked. */
        if (ti.tcpi_state == TCP_LISTEN) {
            si->queue = ti.tcpi_unacked;
            si->backlog = ti.tcpi_sacked;
        }
    }
    /* Queues belong to a connection: a listener has none, and a socket in
     * CLOSE (an acceptor after its shutdown, a connection after a reset)
     * answers with leftovers of its sequence numbers, not bytes. */
    int n, has_queues = si->fd_state != TCP_LISTEN && si->fd_state != TCP_CLOSE;
    if (has_queues && ioctl(fd, SIOCINQ, &n) == 0)
        si->unread = n;
    if (has_queues && ioctl(fd, SIOCOUTQ, &n) == 0)
        si->unsent = n;
}

/* Copy an address into the diag id's fields, in network order. */
static void put_addr(const struct sockaddr_storage *ss, __be16 *port, __be32 addr[4])
{
    memset(addr, 0, 16);
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)ss;
        *port = in->sin_port;
        memcpy(addr, &in->sin_addr, 4);
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;
        *port = in6->sin6_port;
        memcpy(addr, &in6->sin6_addr, 16);
    } else {
        *port = 0;
    }
}

/* One request, one answer: either an inet_diag_msg (found) or an
 * NLMSG_ERROR whose code tells why not (ENOENT: no such socket). */
static int diag_exchange(int nl, const struct inet_diag_req_v2 *req, unsigned *expires)
{
    struct {
        struct nlmsghdr nh;
        struct inet_diag_req_v2 req;
    } msg;
    memset(&msg, 0, sizeof msg);
    msg.nh.nlmsg_len = sizeof msg;
    msg.nh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
    msg.nh.nlmsg_flags = NLM_F_REQUEST;
    msg.nh.nlmsg_seq = 1;
    msg.req = *req;

    struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
    if (sendto(nl, &msg, sizeof msg, 0, (struct sockaddr *)&kernel, sizeof kernel) < 0)
        return -2;

    /* Aligned for the netlink headers we walk over. */
    union {
        struct nlmsghdr nh;
        char bytes[8192];
    } buf;
    ssize_t n = recv(nl, &buf, sizeof buf, 0);
    if (n < 0)
        return -2;
    for (struct nlmsghdr *h = &buf.nh; NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n)) {
        if (h->nlmsg_type == NLMSG_ERROR) {
            const struct nlmsgerr *e = NLMSG_DATA(h);
            if (e->error == -ENOENT)
                return -1;
            errno = -e->error;
            return -2;
        }
        if (h->nlmsg_type == SOCK_DIAG_BY_FAMILY) {
            const struct inet_diag_msg *m = NLMSG_DATA(h);
            /* The kernel's lookup falls back to a listener on the local
             * port when the connection itself is gone: that is not it. */
            if (m->id.idiag_dport != req->id.idiag_dport ||
                m->id.idiag_sport != req->id.idiag_sport)
                return -1;
            *expires = m->idiag_expires;
            return m->idiag_state;
        }
        if (h->nlmsg_type == NLMSG_DONE)
            break;
    }
    return -1;
}

int demo_diag_lookup(const struct sockaddr_storage *local,
                     const struct sockaddr_storage *peer, unsigned *expires)
{
    struct inet_diag_req_v2 req;
    memset(&req, 0, sizeof req);
    req.sdiag_family = (uint8_t)local->ss_family;
    req.sdiag_protocol = IPPROTO_TCP;
    req.idiag_states = ~0u;
    put_addr(local, &req.id.idiag_sport, req.id.idiag_src);
    put_addr(peer, &req.id.idiag_dport, req.id.idiag_dst);
    req.id.idiag_cookie[0] = INET_DIAG_NOCOOKIE;
    req.id.idiag_cookie[1] = INET_DIAG_NOCOOKIE;
    *expires = 0;

    int nl = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
    if (nl < 0)
        return -2;
    /* The kernel answers at once; the timeout only guards against a reply
     * that never comes, so a demo step can never hang here. */
    struct timeval tv = {.tv_sec = 2};
    setsockopt(nl, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    int rc = diag_exchange(nl, &req, expires);
    int saved = errno;
    close(nl);
    errno = saved;
    return rc;
}

int demo_port_range(int *lo, int *hi)
{
    FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");
    if (!f)
        return -1;
    int ok = fscanf(f, "%d %d", lo, hi) == 2;
    fclose(f);
    return ok ? 0 : -1;
}
