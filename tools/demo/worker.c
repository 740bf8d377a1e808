/*
 * tools/demo/worker.c - the client and the server of the demo, each a process
 * that makes one libsock call per command from the parent.
 *
 * Two processes rather than one: with --netns each side lives in its own
 * network namespace, as two machines would, and the parent stays outside
 * both to watch.  Commands and results are fixed-size structs over pipes:
 * the workers are forks of the same binary, so the layout is shared.
 */
#include "demo.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Every call of a worker is bounded: no step of the demo can hang. */
#define WORKER_IO_TIMEOUT_MS 5000
/* OP_SEND_SOME: how long the server waits for room in its send buffer
 * before it settles for what fitted. */
#define SEND_SOME_TIMEOUT_MS 300

struct slot {
    sock_t s;
    int used;
    int had_fd;
    char name[8];
    struct sockaddr_storage local, peer;   /* last known, for sock_diag */
    char local_text[SOCK_ADDRSTRLEN], peer_text[SOCK_ADDRSTRLEN];
};

static struct slot slots[DEMO_SLOTS];

/* --------------------------------------------------------------- I/O helpers */

static int write_full(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -EPIPE;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Read exactly len bytes; timeout_ms < 0 waits as long as it takes (the
 * worker waiting for its next command).  Returns 0, -EPIPE at end of file,
 * -ETIMEDOUT. */
static int read_full(int fd, void *buf, size_t len, int timeout_ms)
{
    char *p = buf;
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    while (len > 0) {
        if (timeout_ms >= 0) {
            struct timespec now;
            clock_gettime(CLOCK_MONOTONIC, &now);
            long spent = (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000;
            if (spent >= timeout_ms)
                return -ETIMEDOUT;
            struct pollfd pfd = {.fd = fd, .events = POLLIN};
            int r = poll(&pfd, 1, (int)(timeout_ms - spent));
            if (r < 0 && errno == EINTR)
                continue;
            if (r == 0)
                return -ETIMEDOUT;
        }
        ssize_t n = read(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -EPIPE;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* -------------------------------------------------------------- the worker */

/* Remember the addresses while the descriptor is open: after close they
 * are what we look up in the kernel. */
static void refresh_addrs(struct slot *sl)
{
    int fd = sock_fd(&sl->s);
    if (fd < 0)
        return;
    sl->had_fd = 1;
    socklen_t len = sizeof sl->local;
    if (getsockname(fd, (struct sockaddr *)&sl->local, &len) == 0)
        sock_local_addr(&sl->s, sl->local_text, sizeof sl->local_text);
    len = sizeof sl->peer;
    if (getpeername(fd, (struct sockaddr *)&sl->peer, &len) == 0)
        sock_peer_addr(&sl->s, sl->peer_text, sizeof sl->peer_text);
}

/* Keep the start of what was received, made printable for the display. */
static void keep_data(struct demo_result *r, const char *buf, size_t n)
{
    size_t k = n < sizeof r->data - 1 ? n : sizeof r->data - 1;
    memcpy(r->data, buf, k);
    r->data[k] = '\0';
}

static void note_failure(struct demo_result *r, const struct slot *sl, long long rc)
{
    if (rc < 0) {
        r->code = (int)rc;
        snprintf(r->error, sizeof r->error, "%s", sock_error(&sl->s));
        if (!r->error[0])
            snprintf(r->error, sizeof r->error, "%s", sock_strerror((int)rc));
    }
}

/* The reply of --abort: long enough that part of it is still in the
 * server's kernel when the reset destroys it. */
static void fill_reply(char *buf, size_t len)
{
    static const char line[] = "HOLA: line of the long reply\n";
    for (size_t i = 0; i < len; i++)
        buf[i] = line[i % (sizeof line - 1)];
}

static void op_recv_drain(struct slot *sl, struct demo_result *r)
{
    static char buf[65536];
    long long total = 0;
    ssize_t n = 0;
    /* Bounded by count as well as by the socket's timeout. */
    for (int i = 0; i < 100000; i++) {
        n = sock_recv(&sl->s, buf, sizeof buf);
        if (n <= 0)
            break;
        if (total == 0)
            keep_data(r, buf, (size_t)n);
        total += n;
    }
    r->bytes = total;
    r->result = n;
    note_failure(r, sl, n);
}

static void op_send_some(struct slot *sl, const struct demo_cmd *c, struct demo_result *r)
{
    size_t len = (size_t)c->n;
    char *buf = malloc(len);
    if (!buf) {
        r->result = -ENOMEM;
        r->code = -ENOMEM;
        return;
    }
    fill_reply(buf, len);
    sock_set_timeout(&sl->s, SEND_SOME_TIMEOUT_MS);
    ssize_t n = sock_send(&sl->s, buf, len);
    sock_set_timeout(&sl->s, WORKER_IO_TIMEOUT_MS);
    free(buf);
    r->result = n;
    r->bytes = n > 0 ? n : 0;
    note_failure(r, sl, n);
}

static void do_op(const struct demo_cmd *c, struct demo_result *r)
{
    struct slot *sl = &slots[c->slot];
    long long rc = 0;
    char buf[512];

    memset(r, 0, sizeof *r);
    r->fd = sock_fd(&sl->s);
    switch (c->op) {
    case OP_INIT:
        sock_init(&sl->s);
        sock_set_timeout(&sl->s, WORKER_IO_TIMEOUT_MS);
        sl->used = 1;
        snprintf(sl->name, sizeof sl->name, "%s", c->name);
        break;
    case OP_BIND:
        rc = sock_bind(&sl->s, c->host, c->port);
        break;
    case OP_LISTEN:
        rc = sock_listen(&sl->s, (int)c->n);
        break;
    case OP_CONNECT:
        rc = sock_connect(&sl->s, c->host, c->port);
        break;
    case OP_ACCEPT: {
        struct slot *nw = &slots[c->slot2];
        rc = sock_accept(&sl->s, &nw->s);
        nw->used = 1;
        snprintf(nw->name, sizeof nw->name, "%s", c->name);
        refresh_addrs(nw);
        r->fd = sock_fd(&nw->s);
        sock_local_addr(&nw->s, r->local, sizeof r->local);
        sock_peer_addr(&nw->s, r->peer, sizeof r->peer);
        break;
    }
    case OP_SEND: {
        size_t sent = 0;
        rc = sock_send_all(&sl->s, c->data, strlen(c->data), &sent);
        r->bytes = (long long)sent;
        break;
    }
    case OP_SEND_SOME:
        op_send_some(sl, c, r);
        refresh_addrs(sl);
        return;
    case OP_RECV: {
        size_t got = 0;
        size_t want = (size_t)c->n < sizeof buf ? (size_t)c->n : sizeof buf;
        rc = sock_recv_all(&sl->s, buf, want, &got);
        r->bytes = (long long)got;
        keep_data(r, buf, got);
        break;
    }
    case OP_RECV_ONE: {
        size_t want = (size_t)c->n < sizeof buf ? (size_t)c->n : sizeof buf;
        rc = sock_recv(&sl->s, buf, want);
        r->bytes = rc > 0 ? rc : 0;
        if (rc > 0)
            keep_data(r, buf, (size_t)rc);
        break;
    }
    case OP_RECV_DRAIN:
        op_recv_drain(sl, r);
        return;
    case OP_SHUTDOWN:
        rc = sock_shutdown(&sl->s, (int)c->n);
        break;
    case OP_CLOSE: {
        struct demo_sock_info si;
        memset(&si, 0, sizeof si);
        demo_kernel_fd_info(sock_fd(&sl->s), &si);
        r->unread_before = si.unread;
        rc = sock_close(&sl->s);
        break;
    }
    default:
        rc = -EINVAL;
        break;
    }
    refresh_addrs(sl);
    r->result = rc;
    note_failure(r, sl, rc);
    if (c->op != OP_ACCEPT) {
        snprintf(r->local, sizeof r->local, "%s", sl->local_text);
        snprintf(r->peer, sizeof r->peer, "%s", sl->peer_text);
    }
}

/* What the kernel says about every socket of this side, now. */
static void do_report(struct demo_report *rep)
{
    memset(rep, 0, sizeof *rep);
    for (int i = 0; i < DEMO_SLOTS; i++) {
        struct slot *sl = &slots[i];
        struct demo_sock_info *si = &rep->s[i];
        if (!sl->used)
            continue;
        refresh_addrs(sl);
        si->used = 1;
        si->had_fd = sl->had_fd;
        snprintf(si->name, sizeof si->name, "%s", sl->name);
        snprintf(si->local, sizeof si->local, "%s", sl->local_text);
        snprintf(si->peer, sizeof si->peer, "%s", sl->peer_text);
        si->fd = sock_fd(&sl->s);
        si->kernel_state = -3;
        demo_kernel_fd_info(si->fd, si);
        /* A descriptor in CLOSE may hide a TIME_WAIT that the kernel keeps
         * for its 4-tuple; a closed one is only visible that way. */
        int ask = sl->had_fd && (si->fd < 0 || si->fd_state == 7 /* TCP_CLOSE */);
        if (ask && sl->local.ss_family != 0)
            si->kernel_state = demo_diag_lookup(&sl->local, &sl->peer, &si->expires_ms);
    }
}

static void worker_main(int cmd_fd, int res_fd)
{
    struct demo_cmd c;
    for (;;) {
        if (read_full(cmd_fd, &c, sizeof c, -1) != 0)
            break;
        if (c.op == OP_EXIT || c.slot < 0 || c.slot >= DEMO_SLOTS || c.slot2 < 0 ||
            c.slot2 >= DEMO_SLOTS)
            break;
        if (c.op == OP_REPORT) {
            struct demo_report rep;
            do_report(&rep);
            if (write_full(res_fd, &rep, sizeof rep) != 0)
                break;
        } else {
            struct demo_result r;
            do_op(&c, &r);
            if (write_full(res_fd, &r, sizeof r) != 0)
                break;
        }
    }
    for (int i = 0; i < DEMO_SLOTS; i++)
        if (slots[i].used)
            sock_close(&slots[i].s);
    _exit(0);
}

/* -------------------------------------------------------------- the parent */

int demo_worker_start(struct demo_worker *w, const char *netns)
{
    int to_child[2], from_child[2];
    if (pipe2(to_child, O_CLOEXEC) < 0)
        return -errno;
    if (pipe2(from_child, O_CLOEXEC) < 0) {
        int e = errno;
        close(to_child[0]);
        close(to_child[1]);
        return -e;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close(to_child[0]);
        close(to_child[1]);
        close(from_child[0]);
        close(from_child[1]);
        return -e;
    }
    if (pid == 0) {
        /* The parent's handlers clean up namespaces: not the worker's job.
         * And if the parent dies, the worker must not outlive it. */
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        close(to_child[1]);
        close(from_child[0]);
        if (netns && demo_netns_enter(netns) != 0)
            _exit(3);
        worker_main(to_child[0], from_child[1]);
    }
    close(to_child[0]);
    close(from_child[1]);
    w->pid = pid;
    w->cmd_fd = to_child[1];
    w->res_fd = from_child[0];
    return 0;
}

int demo_worker_post(struct demo_worker *w, const struct demo_cmd *cmd)
{
    return write_full(w->cmd_fd, cmd, sizeof *cmd);
}

int demo_worker_collect(struct demo_worker *w, void *res, size_t res_len, int timeout_ms)
{
    return read_full(w->res_fd, res, res_len, timeout_ms);
}

int demo_worker_call(struct demo_worker *w, const struct demo_cmd *cmd,
                     void *res, size_t res_len, int timeout_ms)
{
    int rc = demo_worker_post(w, cmd);
    return rc ? rc : demo_worker_collect(w, res, res_len, timeout_ms);
}

void demo_worker_stop(struct demo_worker *w)
{
    if (w->pid <= 0)
        return;
    struct demo_cmd c;
    memset(&c, 0, sizeof c);
    c.op = OP_EXIT;
    write_full(w->cmd_fd, &c, sizeof c);
    close(w->cmd_fd);
    /* Give it a second to close its sockets, then insist. */
    for (int i = 0; i < 100; i++) {
        if (waitpid(w->pid, NULL, WNOHANG) == w->pid) {
            w->pid = 0;
            break;
        }
        usleep(10000);
    }
    if (w->pid > 0) {
        kill(w->pid, SIGKILL);
        waitpid(w->pid, NULL, 0);
        w->pid = 0;
    }
    close(w->res_fd);
}
