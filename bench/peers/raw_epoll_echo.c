/*
 * raw_epoll_echo.c - a minimal echo server on raw system calls, the
 * baseline that `sock echo` is compared with in `make bench`.
 *
 *   raw_epoll_echo [HOST] PORT      (HOST defaults to 127.0.0.1, PORT 0 is
 *                                    any free port)
 *
 * Prints "listening on ADDR" on stderr with the real port, serves any number
 * of clients from one thread with one epoll loop, and stops on SIGINT or
 * SIGTERM, printing what it served.
 *
 * It is what a competent programmer writes for the job and nothing more:
 * level-triggered epoll, one recv() per readable event into a 64 KiB
 * buffer, one send() of what came in.  What the kernel does not take at
 * once is kept and the connection stops reading until it is sent (so a
 * client that does not read cannot make the server buffer without limit).
 * TCP_NODELAY on each connection, so that an echo that had to be sent in
 * two pieces is not held back by Nagle's algorithm.
 *
 * Standalone on purpose (no libsock): it is the "raw system calls" side.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#define BUF_SIZE 65536
#define MAX_EVENTS 256

struct conn {
    int fd;
    char *pending; /* bytes received but not yet sent back */
    size_t len, off;
    struct conn *prev, *next;
};

/* The listener and the signal descriptor are told apart from connections
 * by these two markers in epoll's data pointer. */
static char listener_mark, signal_mark;

static int listen_fd = -1;
static struct conn *conns;
static long served, open_now;
static long long echoed;

static void drop(struct conn *c)
{
    close(c->fd);
    if (c->prev)
        c->prev->next = c->next;
    else
        conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    free(c->pending);
    free(c);
    open_now--;
}

static int set_events(int ep, struct conn *c, uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.ptr = c};
    return epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
}

/* Echo what came in; keep what the kernel does not take at once and wait
 * for EPOLLOUT instead of reading more.  Returns 0, or -1 when the
 * connection is gone. */
static int echo_or_keep(int ep, struct conn *c, const char *p, size_t len)
{
    while (len) {
        ssize_t n = send(c->fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            p += n, len -= (size_t)n, echoed += n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        return -1;
    }
    if (len == 0)
        return 0;
    char *keep = realloc(c->pending, len);
    if (!keep)
        return -1;
    memcpy(keep, p, len);
    c->pending = keep, c->len = len, c->off = 0;
    return set_events(ep, c, EPOLLOUT);
}

static void on_readable(int ep, struct conn *c, char *buf)
{
    ssize_t n = recv(c->fd, buf, BUF_SIZE, 0);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
    if (n <= 0 || echo_or_keep(ep, c, buf, (size_t)n) < 0)
        drop(c);
}

/* Send the kept bytes; once they are all out, read again. */
static void on_writable(int ep, struct conn *c)
{
    while (c->off < c->len) {
        ssize_t n = send(c->fd, c->pending + c->off, c->len - c->off, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            c->off += (size_t)n, echoed += n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        drop(c);
        return;
    }
    c->len = c->off = 0;
    if (set_events(ep, c, EPOLLIN) < 0)
        drop(c);
}

static void accept_all(int ep, int lfd)
{
    for (;;) {
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                fprintf(stderr, "raw_epoll_echo: accept: %s\n", strerror(errno));
            return;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        struct conn *c = calloc(1, sizeof *c);
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        if (!c || epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
            close(fd);
            free(c);
            continue;
        }
        c->fd = fd;
        c->next = conns;
        if (conns)
            conns->prev = c;
        conns = c;
        served++, open_now++;
    }
}

static int open_listener(const char *host, const char *port)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE}, *ai;
    int rc = getaddrinfo(host, port, &hints, &ai);
    if (rc) {
        fprintf(stderr, "raw_epoll_echo: %s %s: %s\n", host, port, gai_strerror(rc));
        return -1;
    }
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
        bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 4096) < 0) {
        fprintf(stderr, "raw_epoll_echo: listen on %s %s: %s\n", host, port, strerror(errno));
        freeaddrinfo(ai);
        if (fd >= 0)
            close(fd);
        return -1;
    }
    freeaddrinfo(ai);
    return fd;
}

static void print_address(int fd)
{
    struct sockaddr_storage ss = {.ss_family = AF_INET};
    socklen_t len = sizeof ss;
    char ip[INET6_ADDRSTRLEN] = "?";
    int port = 0;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0) {
        if (ss.ss_family == AF_INET6) {
            struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
            inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof ip);
            port = ntohs(a->sin6_port);
        } else {
            struct sockaddr_in *a = (struct sockaddr_in *)&ss;
            inet_ntop(AF_INET, &a->sin_addr, ip, sizeof ip);
            port = ntohs(a->sin_port);
        }
    }
    if (ss.ss_family == AF_INET6)
        fprintf(stderr, "listening on [%s]:%d\n", ip, port);
    else
        fprintf(stderr, "listening on %s:%d\n", ip, port);
}

static int watch_fd(int ep, int fd, void *mark)
{
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = mark};
    return epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
}

static void serve(int ep, char *buf)
{
    struct epoll_event ev[MAX_EVENTS];
    for (;;) {
        int n = epoll_wait(ep, ev, MAX_EVENTS, -1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            fprintf(stderr, "raw_epoll_echo: epoll_wait: %s\n", strerror(errno));
            return;
        }
        for (int i = 0; i < n; i++) {
            if (ev[i].data.ptr == &signal_mark)
                return;
            if (ev[i].data.ptr == &listener_mark) {
                accept_all(ep, listen_fd);
                continue;
            }
            struct conn *c = ev[i].data.ptr;
            if (c->len)
                on_writable(ep, c);
            else
                on_readable(ep, c, buf);
        }
    }
}

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 3 || argv[1][0] == '-') {
        fprintf(stderr, "usage: raw_epoll_echo [HOST] PORT\n");
        return 2;
    }
    const char *host = argc == 3 ? argv[1] : "127.0.0.1";
    const char *port = argv[argc - 1];
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    sigprocmask(SIG_BLOCK, &stop, NULL);
    int sfd = signalfd(-1, &stop, SFD_CLOEXEC);
    int lfd = open_listener(host, port);
    listen_fd = lfd;
    int ep = epoll_create1(EPOLL_CLOEXEC);
    char *buf = malloc(BUF_SIZE);
    if (sfd < 0 || lfd < 0 || ep < 0 || !buf || watch_fd(ep, sfd, &signal_mark) < 0 ||
        watch_fd(ep, lfd, &listener_mark) < 0) {
        if (lfd >= 0)
            fprintf(stderr, "raw_epoll_echo: set-up: %s\n", strerror(errno));
        return 1;
    }
    print_address(lfd);
    serve(ep, buf);
    long left = open_now;
    while (conns)
        drop(conns);
    fprintf(stderr,
            "raw_epoll_echo: stopped: %ld connections served (%ld still open), "
            "%lld bytes echoed\n",
            served, left, echoed);
    close(lfd);
    close(ep);
    close(sfd);
    free(buf);
    return 0;
}
