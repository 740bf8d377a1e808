/*
 * c_server - a server in the course's style on raw BSD sockets, for the
 * tests of `sock trace`.  It serves NCLIENTS clients one after another: it
 * reads one line, answers "echo: LINE", and closes first (so the port is
 * left in TIME_WAIT, as after a real server's restart).
 *
 *   c_server PORT [NCLIENTS [MISTAKE]]
 *
 * Without MISTAKE (or with "none") it does everything right.  Each MISTAKE
 * seeds exactly one of the course's mistakes:
 *   sigpipe     answers without MSG_NOSIGNAL, again and again, to a client
 *               that has gone (dies of SIGPIPE)
 *   unread      reads only 4 bytes of the line, then closes
 *   noreuse     does not set SO_REUSEADDR before bind
 *   acep-open   never closes the acceptor
 *   leak        never closes the accepted sockets
 *   no-shutdown after its clients, a thread waits in accept while the main
 *               thread closes the acceptor without shutdown: it never wakes
 * $TRACE_FAMILY=6 makes it listen on IPv6 (::).  $TRACE_GATE names a FIFO:
 * the server then reads a client's line only once a writer has opened and
 * closed it (the clients' "partial" mode does so after its one send, which
 * is thus surely partial: nobody drains the socket while it runs).
 * It prints "port N" on standard output once it listens.
 */
#define _POSIX_C_SOURCE 200809L

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int sendall(int fd, const char *buf, size_t len, int flags)
{
    size_t sent = 0;
    while (sent < len) {
        ssize_t n = send(fd, buf + sent, len - sent, flags);
        if (n < 0)
            return -1;
        sent += (size_t)n;
    }
    return 0;
}

/* Read until a newline; the start of the line (without it) into line.
 * The protocol has one line per connection: nothing follows it. */
static int recv_line(int fd, char *line, size_t len)
{
    size_t used = 0;
    char buf[65536];
    for (;;) {
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n <= 0)
            return -1;
        char *nl = memchr(buf, '\n', (size_t)n);
        size_t take = nl ? (size_t)(nl - buf) : (size_t)n;
        if (take > len - 1 - used)
            take = len - 1 - used;
        memcpy(line + used, buf, take);
        used += take;
        if (nl)
            break;
    }
    line[used] = '\0';
    return 0;
}

/* Wait for the client's word through the FIFO $TRACE_GATE, if named:
 * the open blocks until the client opens it for writing, the read until
 * it closes it. */
static void wait_gate(void)
{
    const char *gate = getenv("TRACE_GATE");
    if (!gate || !*gate)
        return;
    int fd = open(gate, O_RDONLY);
    if (fd < 0)
        return;
    char c;
    while (read(fd, &c, 1) > 0)
        ;
    close(fd);
}

static void *wait_in_accept(void *arg)
{
    accept(*(int *)arg, NULL, NULL);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: c_server PORT [NCLIENTS [MISTAKE]]\n");
        return 2;
    }
    int nclients = argc > 2 ? atoi(argv[2]) : 1;
    const char *mistake = argc > 3 ? argv[3] : "none";

    const char *fam = getenv("TRACE_FAMILY");
    struct addrinfo hints = {.ai_family = fam && strcmp(fam, "6") == 0 ? AF_INET6 : AF_INET,
                             .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE}, *res;
    int rc = getaddrinfo(NULL, argv[1], &hints, &res);
    if (rc != 0) {
        fprintf(stderr, "c_server: %s\n", gai_strerror(rc));
        return 1;
    }
    int acep = socket(res->ai_family, res->ai_socktype, res->ai_protocol);
    int one = 1;
    /* TIME_WAIT of the last run's connections would block bind. */
    if (strcmp(mistake, "noreuse") != 0)
        setsockopt(acep, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(acep, res->ai_addr, res->ai_addrlen) != 0) {
        perror("c_server: bind");
        freeaddrinfo(res);
        close(acep);
        return 1;
    }
    freeaddrinfo(res);
    listen(acep, 16);
    struct sockaddr_storage me;
    socklen_t len = sizeof me;
    getsockname(acep, (struct sockaddr *)&me, &len);
    /* The port sits at the same place in sockaddr_in and sockaddr_in6. */
    printf("port %d\n", ntohs(((struct sockaddr_in *)&me)->sin_port));
    fflush(stdout);

    for (int i = 0; i < nclients; i++) {
        int srv = accept(acep, NULL, NULL);
        if (srv < 0)
            break;
        char line[256], reply[300];
        wait_gate();
        if (strcmp(mistake, "unread") == 0) {
            ssize_t n = recv(srv, line, 4, 0);
            line[n > 0 ? n : 0] = '\0';
        } else if (recv_line(srv, line, sizeof line) != 0) {
            close(srv);
            continue;
        }
        snprintf(reply, sizeof reply, "echo: %s\n", line);
        if (strcmp(mistake, "sigpipe") == 0) {
            /* The client has gone: the first send is answered with a
             * reset, a later one raises SIGPIPE. */
            for (int k = 0; k < 100; k++) {
                send(srv, reply, strlen(reply), 0);
                nanosleep(&(struct timespec){0, 20 * 1000 * 1000}, NULL);
            }
        } else {
            sendall(srv, reply, strlen(reply), MSG_NOSIGNAL);
        }
        if (strcmp(mistake, "leak") != 0)
            close(srv);
    }
    if (strcmp(mistake, "no-shutdown") == 0) {
        /* The multi-client server's trap: the thread in accept is never
         * woken by a close alone.  The pause lets it get there first. */
        pthread_t t;
        pthread_create(&t, NULL, wait_in_accept, &acep);
        nanosleep(&(struct timespec){0, 300 * 1000 * 1000}, NULL);
        close(acep);
        return 0;
    }
    if (strcmp(mistake, "acep-open") != 0) {
        shutdown(acep, SHUT_RDWR);
        close(acep);
    }
    return 0;
}
