/*
 * he_connect.c - HOST PORT ROUNDS: connect to HOST PORT with libsock's
 * sock_connect ROUNDS times and print the milliseconds of each connect,
 * name resolution included, one per line.  For bench/run.py's part
 * "reach", where HOST has a dead IPv6 and a live IPv4 address: Happy
 * Eyeballs should make each about the stagger delay (250 ms).
 *
 * Unlike the other peers it links libsock (a rule of its own in the
 * Makefile), since the library's connect is what it measures.
 */
#include "sock.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: he_connect HOST PORT ROUNDS\n");
        return 2;
    }
    int rounds = atoi(argv[3]);
    if (rounds < 1 || rounds > 1000) {
        fprintf(stderr, "he_connect: ROUNDS '%s': a number from 1 to 1000\n", argv[3]);
        return 2;
    }
    for (int i = 0; i < rounds; i++) {
        sock_t s;
        sock_init(&s);
        /* A bound on each connect, so that a broken set-up ends too. */
        sock_set_timeout(&s, 10000);
        double t0 = now_ms();
        int rc = sock_connect(&s, argv[1], argv[2]);
        double t1 = now_ms();
        if (rc < 0) {
            fprintf(stderr, "he_connect: %s\n", sock_error(&s));
            sock_close(&s);
            return 1;
        }
        char peer[SOCK_ADDRSTRLEN] = "?";
        sock_peer_addr(&s, peer, sizeof peer);
        printf("%.3f %s\n", t1 - t0, peer);
        fflush(stdout);
        sock_close(&s);
    }
    return 0;
}
