/*
 * util.h - helpers shared by the libsock unit tests.
 *
 * Every connection test runs on both 127.0.0.1 and ::1: FAMILY_TEST makes a
 * Criterion parameterized test whose body receives `host`, so that each
 * family is its own test process with its own verdict and time limit.
 */
#ifndef SOCK_UNIT_UTIL_H
#define SOCK_UNIT_UTIL_H

#include "sock.h"
#include "../common/netns.h"

#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>

/* Time limits of the tests that move the most data or spin the most
 * threads are multiplied by this: valgrind runs them many times slower
 * (it serializes threads and delivers signals late), and `make valgrind`
 * builds with -DSOCK_TEST_TIME_SCALE=5.  1 in every other build. */
#ifndef SOCK_TEST_TIME_SCALE
#define SOCK_TEST_TIME_SCALE 1
#endif

/* The two loopback addresses every connection test runs on. */
extern const char *const loopbacks[2];

/* FAMILY_TEST(suite, name, .timeout = 10) { ... `host` ... }
 * The parameter is an index rather than a string because Criterion may run
 * the test in a freshly executed process, where pointers would not hold. */
#define FAMILY_TEST(suite, name, ...)                                        \
    static void suite##_##name##_on(const char *host);                       \
    ParameterizedTestParameters(suite, name)                                 \
    {                                                                        \
        static int which[] = {0, 1};                                         \
        return cr_make_param_array(int, which, 2);                           \
    }                                                                        \
    ParameterizedTest(int *which, suite, name, __VA_ARGS__)                  \
    {                                                                        \
        suite##_##name##_on(loopbacks[*which]);                              \
    }                                                                        \
    static void suite##_##name##_on(const char *host)

/* Assert a libsock call returned `want`, printing both codes and texts and
 * the socket's own error detail. */
/* got is evaluated once: it is often the call under test, which must not
 * run again to print the message. */
#define expect_code(s, got, want)                                            \
    do {                                                                     \
        long long got_ = (long long)(got), want_ = (long long)(want);        \
        cr_assert_eq(got_, want_,                                            \
                     "%s: got %lld (%s), want %lld (%s); sock_error: \"%s\"",\
                     #got, got_, sock_strerror((int)got_), want_,            \
                     sock_strerror((int)want_), sock_error(s));              \
    } while (0)

#define expect_ok(s, got) expect_code(s, got, 0)

/* Bind host:"0" and listen; the acceptor's port is then in port. */
void listener_on(sock_t *acceptor, const char *host, char port[8]);

/* A connected pair over host: client connected, server accepted, the
 * acceptor left open (closed by the caller) so tests can reuse it. */
void pair_with_acceptor(const char *host, sock_t *acceptor, sock_t *client, sock_t *server);

/* Same, the acceptor closed already. */
void pair_on(const char *host, sock_t *client, sock_t *server);

/* Write the local port of s as a decimal string. */
void port_text(const sock_t *s, char port[8]);

/* A port of host that was just free and that nobody listens on. */
void closed_port(const char *host, char port[8]);

/* Milliseconds of CLOCK_MONOTONIC. */
int64_t now_ms(void);
void sleep_ms(int ms);

/* Number of open descriptors of this process (/proc/self/fd). */
int count_fds(void);

/* The byte at absolute stream offset i of the test pattern: any slice of a
 * stream can be checked on its own, whatever the split of the transfer. */
static inline unsigned char pattern_byte(uint64_t i)
{
    return (unsigned char)((i * 2654435761u) >> 13 ^ i >> 8);
}
void fill_pattern(void *buf, size_t len, uint64_t offset);
/* Index of the first byte differing from the pattern, or len. */
size_t check_pattern(const void *buf, size_t len, uint64_t offset);

/* Start a thread with SIGALRM blocked in it, so that the signal tests'
 * SIGALRM interrupts the thread under test and not the helpers. */
pthread_t spawn(void *(*fn)(void *), void *arg);
/* Join t within ms; fails the test (a hang) if it does not end. */
void join_within(pthread_t t, int ms);

/* Shrink the kernel buffers of s to force short transfers. */
void shrink_buffers(const sock_t *s, int bytes);

/* SIGALRM every period_ms through setitimer, with a handler installed
 * without SA_RESTART, so that blocking system calls fail with EINTR. */
extern volatile sig_atomic_t alarms_seen;
void alarms_start(int period_ms);
void alarms_stop(void);

/* Is host an IPv6 literal? */
int is_v6(const char *host);

/* Read a whole connection until end of stream into a malloc'd buffer
 * (NULL, 0 if nothing); used by reader threads. */
struct drain {
    sock_t *s;
    size_t chunk;        /* read size */
    int delay_ms;        /* pause before reading starts */
    size_t total;        /* out: bytes read */
    size_t first_bad;    /* out: first offset not matching the pattern, or SIZE_MAX */
    ssize_t last;        /* out: the final sock_recv result (0 at EOF) */
};
void *drain_thread(void *arg);

/* Move the calling thread (and the programs it starts) into a new network
 * namespace of its own, bring its loopback up and make it silently drop
 * every TCP segment to port 9, so that a connect there never gets an answer.
 * The namespace has no name and vanishes with the test process, so nothing
 * is left behind even when the test fails.  Skips the test when namespaces
 * or nft are not available (not root). */
void enter_blackhole_netns(void);
#define BLACKHOLE_PORT "9"


#endif
