/*
 * c_client - a client in the course's style on raw BSD sockets, for the
 * tests of `sock trace`.  It sends one line, prints the answer, closes.
 *
 *   c_client HOST PORT [MODE]
 *
 * MODE "none" (or none given) does everything right; "big" sends a line of
 * 4 MiB (looping on partial sends); "threads" has two threads send 2 MiB
 * each, one after the other under a mutex, then the newline; "hangup"
 * closes without waiting for the answer (to kill a careless server);
 * "halfclose" sends two lines, shuts its sending side down and reads the
 * answers until the server closes (for a server that echoes until then).
 * $TRACE_FAMILY=6 connects over IPv6 (HOST ::1); with $TRACE_GATE (a FIFO,
 * see c_server.c) "partial" lets the server read only after its send.
 * The mistakes, one each:
 *   partial     a 64 MiB line with one non-blocking send; the rest dropped
 *   eof-loop    keeps calling recv after it returned 0
 *   two-senders the two threads send at the same time, without the mutex
 */
#define _POSIX_C_SOURCE 200809L

#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define BIG (4 << 20)
/* More than the socket buffers of both ends can take at once, so that one
 * non-blocking send of it is surely partial while the server waits at the
 * gate (a server that reads at once can drain loopback fast enough for
 * the kernel to take all 64 MiB in one call). */
#define HUGE (64 << 20)

static int cli = -1;

/* Tell the server, through the FIFO $TRACE_GATE if named, that it may
 * start reading (see c_server.c). */
static void open_gate(void)
{
    const char *gate = getenv("TRACE_GATE");
    int fd = gate && *gate ? open(gate, O_WRONLY) : -1;
    if (fd >= 0)
        close(fd);
}
static pthread_mutex_t send_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_barrier_t start;
static int use_lock;

/* Every byte, waiting for room when the socket is full. */
static int sendall(int fd, const char *buf, size_t len)
{
    size_t sent = 0;
    while (sent < len) {
        ssize_t n = send(fd, buf + sent, len - sent, MSG_NOSIGNAL);
        if (n < 0)
            return -1;
        sent += (size_t)n;
    }
    return 0;
}

static void *sender(void *arg)
{
    size_t n = BIG / 2;
    char *buf = malloc(n);
    memset(buf, *(const char *)arg, n);
    pthread_barrier_wait(&start);
    if (use_lock)
        pthread_mutex_lock(&send_lock);
    sendall(cli, buf, n);
    if (use_lock)
        pthread_mutex_unlock(&send_lock);
    free(buf);
    return NULL;
}

static void two_threads(int locked)
{
    pthread_t t[2];
    /* A small send buffer makes each 2 MiB send block many times, so that
     * two unlocked senders surely overlap. */
    int small = 16384;
    setsockopt(cli, SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
    use_lock = locked;
    pthread_barrier_init(&start, NULL, 2);
    pthread_create(&t[0], NULL, sender, "a");
    pthread_create(&t[1], NULL, sender, "b");
    pthread_join(t[0], NULL);
    pthread_join(t[1], NULL);
    pthread_barrier_destroy(&start);
    sendall(cli, "\n", 1);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: c_client HOST PORT [MODE]\n");
        return 2;
    }
    const char *mode = argc > 3 ? argv[3] : "none";
    const char *fam = getenv("TRACE_FAMILY");
    struct addrinfo hints = {.ai_family = fam && strcmp(fam, "6") == 0 ? AF_INET6 : AF_INET,
                             .ai_socktype = SOCK_STREAM}, *res;
    int rc = getaddrinfo(argv[1], argv[2], &hints, &res);
    if (rc != 0) {
        fprintf(stderr, "c_client: %s\n", gai_strerror(rc));
        return 1;
    }
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        cli = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
        if (cli >= 0 && connect(cli, ai->ai_addr, ai->ai_addrlen) == 0)
            break;
        if (cli >= 0)
            close(cli);
        cli = -1;
    }
    freeaddrinfo(res);
    if (cli < 0) {
        perror("c_client: connect");
        return 1;
    }

    if (strcmp(mode, "big") == 0 || strcmp(mode, "partial") == 0) {
        size_t n = strcmp(mode, "partial") == 0 ? HUGE : BIG;
        char *big = malloc(n);
        memset(big, 'x', n);
        if (strcmp(mode, "partial") == 0)
        {
            send(cli, big, n, MSG_DONTWAIT | MSG_NOSIGNAL); /* the rest is lost */
            open_gate();
        }
        else
            sendall(cli, big, n);
        free(big);
        sendall(cli, "\n", 1);
    } else if (strcmp(mode, "threads") == 0 || strcmp(mode, "two-senders") == 0) {
        two_threads(strcmp(mode, "threads") == 0);
    } else if (strcmp(mode, "halfclose") == 0) {
        sendall(cli, "hello\nworld\n", 12);
        shutdown(cli, SHUT_WR);
    } else {
        sendall(cli, "hello\n", 6);
    }
    if (strcmp(mode, "hangup") == 0) {
        close(cli);
        return 0;
    }
    char buf[512];
    ssize_t n;
    int tries = 0;
    if (strcmp(mode, "eof-loop") == 0) {
        /* The course's trap: -1 is checked, 0 is not. */
        while ((n = recv(cli, buf, sizeof buf, 0)) != -1 && ++tries < 6)
            fwrite(buf, 1, (size_t)n, stdout);
    } else {
        while ((n = recv(cli, buf, sizeof buf, 0)) > 0)
            fwrite(buf, 1, (size_t)n, stdout);
    }
    close(cli);
    return 0;
}
