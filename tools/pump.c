/*
 * pump.c - the data mover of `sock connect` and `sock listen`; see pump.h.
 *
 * One poll() loop moves both directions at once, so a peer that talks
 * while we are still sending never deadlocks against us.  The socket is
 * non-blocking for the loop; local descriptors are used only when poll()
 * says they are ready.
 */
#include "pump.h"

#include "cli.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define BUF_SIZE (256 * 1024)
#define SENDFILE_CHUNK (1 << 20)

/* One direction's pending bytes. */
struct pending {
    char *buf;
    size_t len, off;
};

struct pump {
    sock_t *s;
    int sfd, in_fd, out_fd;
    int in_open, in_regular, in_tty, net_open, wr_shut;
    struct pending up, down; /* up: in -> net, down: net -> out */
    const struct pump_opts *o;
    struct pump_stats *st;
    double started, last_report;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int fail(struct pump *p, const char *what, int err)
{
    char peer[SOCK_ADDRSTRLEN] = "?";
    sock_peer_addr(p->s, peer, sizeof peer);
    tool_err(p->o->cmd, "%s %s: %s (sent %llu, received %llu bytes)", what, peer,
             sock_strerror(-err), p->st->sent, p->st->received);
    return EXIT_NET;
}

static int local_fail(struct pump *p, const char *what, int err)
{
    tool_err(p->o->cmd, "%s: %s", what, strerror(err));
    return EXIT_NET;
}

/* End of input: tell the peer, once everything read has been sent. */
static int maybe_half_close(struct pump *p)
{
    if (p->in_open || p->up.off < p->up.len || p->wr_shut)
        return 0;
    p->wr_shut = 1;
    int rc = sock_shutdown(p->s, SOCK_SHUT_WRITE);
    /* A peer that already reset the connection is reported by recv. */
    if (rc < 0 && rc != -ENOTCONN)
        return fail(p, "shutdown of connection to", rc);
    return 0;
}

static int read_input(struct pump *p)
{
    ssize_t n = read(p->in_fd, p->up.buf, BUF_SIZE);
    if (n < 0)
        return errno == EINTR || errno == EAGAIN ? 0 : local_fail(p, "read from input", errno);
    if (n == 0) {
        p->in_open = 0;
        return maybe_half_close(p);
    }
    p->up.len = (size_t)n;
    p->up.off = 0;
    return 0;
}

static int send_output(struct pump *p)
{
    ssize_t n;
    if (p->in_regular) {
        n = sendfile(p->sfd, p->in_fd, NULL, SENDFILE_CHUNK);
        if (n == 0) {
            p->in_open = 0;
            return maybe_half_close(p);
        }
    } else {
        n = send(p->sfd, p->up.buf + p->up.off, p->up.len - p->up.off, MSG_NOSIGNAL);
    }
    if (n < 0)
        return errno == EINTR || errno == EAGAIN ? 0 : fail(p, "send to", -errno);
    p->st->sent += (unsigned long long)n;
    if (!p->in_regular) {
        p->up.off += (size_t)n;
        if (p->up.off == p->up.len)
            p->up.len = p->up.off = 0;
    }
    return maybe_half_close(p);
}

static int recv_input(struct pump *p)
{
    ssize_t n = recv(p->sfd, p->down.buf, BUF_SIZE, 0);
    if (n < 0)
        return errno == EINTR || errno == EAGAIN ? 0 : fail(p, "recv from", -errno);
    if (n == 0) {
        p->net_open = 0;
        return 0;
    }
    p->st->received += (unsigned long long)n;
    p->down.len = (size_t)n;
    p->down.off = 0;
    return 0;
}

static int write_output(struct pump *p)
{
    ssize_t n = write(p->out_fd, p->down.buf + p->down.off, p->down.len - p->down.off);
    if (n < 0)
        return errno == EINTR || errno == EAGAIN ? 0 : local_fail(p, "write to output", errno);
    p->down.off += (size_t)n;
    if (p->down.off == p->down.len)
        p->down.len = p->down.off = 0;
    return 0;
}

static void report(struct pump *p, int final)
{
    double t = now_s();
    if (!p->o->progress || (!final && t - p->last_report < 1.0))
        return;
    p->last_report = t;
    double secs = t - p->started > 1e-6 ? t - p->started : 1e-6;
    fprintf(stderr, "\rsock %s: sent %.1f MiB, received %.1f MiB, %.1f MiB/s%s", p->o->cmd,
            (double)p->st->sent / 1048576.0, (double)p->st->received / 1048576.0,
            (double)(p->st->sent + p->st->received) / 1048576.0 / secs, final ? "\n" : "");
}

/* Done when the peer has closed and all it sent is written out, and our
 * input is exhausted and sent, or is a terminal nobody will close. */
static int finished(const struct pump *p)
{
    int down_done = !p->net_open && p->down.off == p->down.len;
    int up_done = !p->in_open && p->up.off == p->up.len;
    return down_done && (up_done || p->in_tty);
}

static int step(struct pump *p)
{
    struct pollfd pf[4];
    int n = 0, i_in = -1, i_sock = -1, i_out = -1;
    short sock_ev = 0;
    if (p->in_open && !p->in_regular && p->up.len == 0)
        pf[i_in = n++] = (struct pollfd){.fd = p->in_fd, .events = POLLIN};
    if (p->up.len > p->up.off || (p->in_regular && p->in_open))
        sock_ev |= POLLOUT;
    if (p->net_open && p->down.len == 0)
        sock_ev |= POLLIN;
    if (sock_ev)
        pf[i_sock = n++] = (struct pollfd){.fd = p->sfd, .events = sock_ev};
    if (p->down.len > p->down.off)
        pf[i_out = n++] = (struct pollfd){.fd = p->out_fd, .events = POLLOUT};
    if (n == 0)
        return 0;
    int wait = p->o->progress ? 1000 : p->o->idle_ms;
    int r = poll(pf, (nfds_t)n, wait);
    if (r < 0)
        return errno == EINTR ? 0 : local_fail(p, "poll", errno);
    if (r == 0) {
        report(p, 0);
        if (!p->o->progress && p->o->idle_ms >= 0) {
            tool_err(p->o->cmd, "no data moved for %d ms (--timeout)", p->o->idle_ms);
            return EXIT_NET;
        }
        return 0;
    }
    int rc = 0;
    if (i_in >= 0 && pf[i_in].revents)
        rc = read_input(p);
    if (!rc && i_sock >= 0 && (pf[i_sock].revents & (POLLOUT | POLLERR)) && (sock_ev & POLLOUT))
        rc = send_output(p);
    if (!rc && i_sock >= 0 && (pf[i_sock].revents & (POLLIN | POLLHUP | POLLERR)) &&
        (sock_ev & POLLIN))
        rc = recv_input(p);
    if (!rc && i_out >= 0 && pf[i_out].revents)
        rc = write_output(p);
    report(p, 0);
    return rc;
}

int pump_run(sock_t *s, int in_fd, int out_fd, const struct pump_opts *o, struct pump_stats *st)
{
    struct stat sb;
    struct pump p = {
        .s = s,
        .sfd = sock_fd(s),
        .in_fd = in_fd,
        .out_fd = out_fd,
        .in_open = in_fd >= 0,
        .in_regular = in_fd >= 0 && fstat(in_fd, &sb) == 0 && S_ISREG(sb.st_mode),
        .in_tty = in_fd >= 0 && isatty(in_fd),
        .net_open = 1,
        .o = o,
        .st = st,
        .started = now_s(),
    };
    memset(st, 0, sizeof *st);
    p.up.buf = malloc(BUF_SIZE);
    p.down.buf = malloc(BUF_SIZE);
    int rc = EXIT_OK;
    if (!p.up.buf || !p.down.buf) {
        rc = local_fail(&p, "buffers", ENOMEM);
        goto out;
    }
    /* The socket is non-blocking for the loop, whatever --timeout said:
     * poll() does the waiting here. */
    int fl = fcntl(p.sfd, F_GETFL);
    if (fl < 0 || fcntl(p.sfd, F_SETFL, fl | O_NONBLOCK) < 0) {
        rc = local_fail(&p, "socket flags", errno);
        goto out;
    }
    if (!p.in_open)
        rc = maybe_half_close(&p);
    while (!rc && !finished(&p))
        rc = step(&p);
    report(&p, 1);
out:
    free(p.up.buf);
    free(p.down.buf);
    return rc;
}
