/*
 * pingpong - N round trips of one byte between a parent and a forked
 * child over loopback TCP: the per-call cost of `sock trace`
 * (bench/trace_bench.py).  pingpong [N]
 */
#define _POSIX_C_SOURCE 200809L

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static void loop(int fd, long n, int first)
{
    char c = 'x';
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    for (long i = 0; i < n; i++) {
        if (first && send(fd, &c, 1, MSG_NOSIGNAL) != 1)
            exit(1);
        if (recv(fd, &c, 1, 0) != 1)
            exit(1);
        if (!first && send(fd, &c, 1, MSG_NOSIGNAL) != 1)
            exit(1);
    }
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 10000;
    int acep = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    if (bind(acep, (struct sockaddr *)&a, sizeof a) != 0 || listen(acep, 1) != 0 ||
        getsockname(acep, (struct sockaddr *)&a, &len) != 0)
        return 1;
    pid_t pid = fork();
    if (pid == 0) {
        close(acep);
        int cli = socket(AF_INET, SOCK_STREAM, 0);
        if (connect(cli, (struct sockaddr *)&a, sizeof a) != 0)
            _exit(1);
        loop(cli, n, 1);
        close(cli);
        _exit(0);
    }
    int srv = accept(acep, NULL, NULL);
    close(acep);
    loop(srv, n, 0);
    close(srv);
    int st;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : 1;
}
