/*
 * zerocopy.c - a file sent over TCP by the kernel alone: the baseline that
 * the `sock connect` -> `sock listen > /dev/null` transfer is compared with
 * in `make bench`, and the two ends of the bulk stream through each relay.
 *
 *   zerocopy recv [HOST] PORT   listen on HOST (default 127.0.0.1; PORT 0 is
 *                               any free port), print "listening on ADDR"
 *                               on stderr with the real port, accept one
 *                               client and move everything it sends to
 *                               standard output with splice() through a
 *                               pipe; at its end of stream, print the
 *                               count and exit 0
 *   zerocopy send HOST PORT     connect, send standard input (a regular
 *                               file) with sendfile(), shut the write side
 *                               down and wait until the receiver closes
 *
 * It is the shortest loop on raw system calls that keeps every byte out of
 * user space, so it is as fast as this kernel moves a file through a
 * loopback connection: sendfile() is called for all that is left (the
 * kernel caps one call at about 2 GiB), and the receiver's pipe is made
 * 1 MiB, the most an unprivileged program gets by default
 * (/proc/sys/fs/pipe-max-size), the same as `sock listen` asks for.  The
 * sockets are blocking, with the kernel's default buffers and options.
 *
 * HOST and PORT must be numeric (no name is ever resolved).  Exit status 0
 * on success, 1 on a system error, 2 on a usage error.
 *
 * Standalone on purpose (no libsock): it is the "raw system calls" side.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define PIPE_WANTED (1 << 20)
#define SENDFILE_MAX 0x7ffff000L /* the kernel's cap on one call */

static int usage(void)
{
    fprintf(stderr, "usage: zerocopy recv [HOST] PORT > OUTPUT\n"
                    "       zerocopy send HOST PORT < FILE\n"
                    "HOST and PORT are numeric; PORT 0 for recv is any free port.\n");
    return 2;
}

/* Numeric only: the benchmark talks to loopback addresses, and a name
 * would mean a resolver query that nothing here needs. */
static struct addrinfo *address(const char *host, const char *port, int passive)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV |
                                         (passive ? AI_PASSIVE : 0)};
    struct addrinfo *ai;
    int rc = getaddrinfo(host, port, &hints, &ai);
    if (rc) {
        fprintf(stderr, "zerocopy: address '%s' port '%s': %s (both must be numeric)\n", host,
                port, gai_strerror(rc));
        return NULL;
    }
    return ai;
}

static void print_address(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    char ip[INET6_ADDRSTRLEN] = "?";
    int port = 0;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0) {
        fprintf(stderr, "zerocopy: getsockname: %s\n", strerror(errno));
        return;
    }
    if (ss.ss_family == AF_INET6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof ip);
        port = ntohs(a->sin6_port);
        fprintf(stderr, "listening on [%s]:%d\n", ip, port);
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        inet_ntop(AF_INET, &a->sin_addr, ip, sizeof ip);
        port = ntohs(a->sin_port);
        fprintf(stderr, "listening on %s:%d\n", ip, port);
    }
}

/* Accept one client on HOST PORT; returns its descriptor or -1. */
static int accept_one(const char *host, const char *port)
{
    struct addrinfo *ai = address(host, port, 1);
    if (!ai)
        return -1;
    int one = 1, fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
        bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 1) < 0) {
        fprintf(stderr, "zerocopy: listen on %s port %s: %s\n", host, port, strerror(errno));
        freeaddrinfo(ai);
        if (fd >= 0)
            close(fd);
        return -1;
    }
    freeaddrinfo(ai);
    print_address(fd);
    int c;
    do
        c = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
    while (c < 0 && (errno == EINTR || errno == ECONNABORTED));
    if (c < 0)
        fprintf(stderr, "zerocopy: accept: %s\n", strerror(errno));
    close(fd);
    return c;
}

/* Move all of one splice's worth from the pipe to standard output. */
static int drain(int pipe_r, ssize_t n)
{
    while (n > 0) {
        ssize_t m = splice(pipe_r, NULL, STDOUT_FILENO, NULL, (size_t)n,
                           SPLICE_F_MOVE | SPLICE_F_MORE);
        if (m < 0 && errno == EINTR)
            continue;
        if (m <= 0) {
            fprintf(stderr, "zerocopy: splice to standard output: %s\n",
                    m < 0 ? strerror(errno) : "it took nothing");
            return -1;
        }
        n -= m;
    }
    return 0;
}

static int do_recv(const char *host, const char *port)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0) {
        fprintf(stderr, "zerocopy: pipe: %s\n", strerror(errno));
        return 1;
    }
    /* A bigger pipe means fewer calls; the default (64 KiB) is kept when
     * the system refuses. */
    int cap = fcntl(p[1], F_SETPIPE_SZ, PIPE_WANTED);
    if (cap < 0)
        cap = fcntl(p[1], F_GETPIPE_SZ);
    if (cap <= 0)
        cap = 65536;
    int c = accept_one(host, port);
    if (c < 0)
        return 1;
    long long total = 0;
    int rc = 0;
    for (;;) {
        ssize_t n = splice(c, NULL, p[1], NULL, (size_t)cap, SPLICE_F_MOVE | SPLICE_F_MORE);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            fprintf(stderr, "zerocopy: splice from the connection: %s (after %lld bytes)\n",
                    strerror(errno), total);
            rc = 1;
            break;
        }
        if (n == 0)
            break;
        if (drain(p[0], n) < 0) {
            rc = 1;
            break;
        }
        total += n;
    }
    if (rc == 0)
        fprintf(stderr, "zerocopy: received %lld bytes\n", total);
    close(c);
    return rc;
}

static int do_send(const char *host, const char *port)
{
    struct stat sb;
    if (fstat(STDIN_FILENO, &sb) < 0 || !S_ISREG(sb.st_mode)) {
        fprintf(stderr, "zerocopy: standard input must be a regular file (sendfile reads it)\n");
        return 2;
    }
    struct addrinfo *ai = address(host, port, 0);
    if (!ai)
        return 2;
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
        fprintf(stderr, "zerocopy: connect to %s port %s: %s\n", host, port, strerror(errno));
        freeaddrinfo(ai);
        if (fd >= 0)
            close(fd);
        return 1;
    }
    freeaddrinfo(ai);
    long long total = 0;
    for (;;) {
        ssize_t n = sendfile(fd, STDIN_FILENO, NULL, SENDFILE_MAX);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            fprintf(stderr, "zerocopy: sendfile: %s (after %lld bytes)\n", strerror(errno),
                    total);
            close(fd);
            return 1;
        }
        if (n == 0)
            break;
        total += n;
    }
    /* The transfer is over when the receiver has everything: end our
     * stream and wait for the receiver to close (it does at our end of
     * stream), as `sock connect` does. */
    char sink[4096];
    ssize_t n = 0;
    if (shutdown(fd, SHUT_WR) == 0)
        do
            n = recv(fd, sink, sizeof sink, 0);
        while (n > 0 || (n < 0 && errno == EINTR));
    if (n < 0) {
        fprintf(stderr, "zerocopy: waiting for the receiver to close: %s\n", strerror(errno));
        close(fd);
        return 1;
    }
    close(fd);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 3 && argc <= 4 && strcmp(argv[1], "recv") == 0)
        return do_recv(argc == 4 ? argv[2] : "127.0.0.1", argv[argc - 1]);
    if (argc == 4 && strcmp(argv[1], "send") == 0)
        return do_send(argv[2], argv[3]);
    return usage();
}
