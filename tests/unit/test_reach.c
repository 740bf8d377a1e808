/*
 * test_reach.c - reaching a name as a browser would: Happy Eyeballs
 * (RFC 8305) over a dead IPv6 route and a live IPv4 one, IPv6 winning when
 * both work, both reasons when neither does; and name resolution bounded
 * by the timeout against a name server that never answers.
 *
 * Each test runs in network and mount namespaces of its own: loopback up,
 * 2001:db8::1 (the documentation prefix) added to it, nft dropping what
 * should go unanswered, and /etc/hosts or /etc/resolv.conf replaced by
 * bind mounts of the test's own files; all of it vanishes with the test
 * process.
 */
#include "util.h"

#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#define V6 "2001:db8::1"

static void private_namespaces(void)
{
    if (unshare(CLONE_NEWNET | CLONE_NEWNS) < 0)
        cr_skip_test("unshare: %s (needs root)", strerror(errno));
    cr_assert_eq(mount("none", "/", NULL, MS_REC | MS_PRIVATE, NULL), 0, "%s", strerror(errno));
    loopback_up();
    int rc = system("ip -6 addr add " V6 "/128 dev lo nodad 2>/dev/null");
    if (rc != 0)
        cr_skip_test("cannot add an IPv6 address (ip: %d)", rc);
}

/* Put text in place of /etc/NAME for this test's mount namespace. */
static void replace_etc(const char *name, const char *text)
{
    char path[64], target[64];
    snprintf(path, sizeof path, "/tmp/sock-reach-%d-%s", (int)getpid(), name);
    snprintf(target, sizeof target, "/etc/%s", name);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
    cr_assert_eq(mount(path, target, NULL, MS_BIND, NULL), 0, "bind %s: %s", target,
                 strerror(errno));
    unlink(path); /* the mount keeps it while the namespace lives */
}

static void drop_tcp(const char *match)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd,
             "nft -f - >/dev/null 2>&1 <<'NFT'\n"
             "table inet reach {\n"
             "  chain input {\n"
             "    type filter hook input priority 0;\n"
             "    %s drop\n"
             "  }\n"
             "}\n"
             "NFT\n",
             match);
    if (system(cmd) != 0)
        cr_skip_test("nft could not install: %s", match);
}

/* A listener on host:0; its port as text. */
static void listen_on(sock_t *a, const char *host, char port[8])
{
    sock_init(a);
    expect_ok(a, sock_bind(a, host, "0"));
    expect_ok(a, sock_listen(a, 8));
    port_text(a, port);
}

/* "he.test" with both addresses, IPv6 first in the resolver's order. */
static void he_name(void)
{
    replace_etc("hosts", "127.0.0.1 localhost\n" V6 " he.test\n127.0.0.1 he.test\n");
    sock_t r;
    sock_init(&r);
    sock_addr_t out[4];
    int n = sock_resolve(&r, "he.test", "80", 0, out, 4);
    cr_assert_eq(n, 2, "he.test: %d addresses (%s)", n, sock_error(&r));
    cr_assert_eq(out[0].family, AF_INET6, "IPv6 first: %s, %s", out[0].text, out[1].text);
    sock_close(&r);
}

/* The IPv6 address drops every SYN; IPv4 answers.  Happy Eyeballs gets
 * through over IPv4 after the attempt delay, long before the timeout;
 * tried one after another, the same connect runs out of time on IPv6. */
Test(reach, dead_ipv6_live_ipv4, .timeout = 30)
{
    private_namespaces();
    he_name();
    sock_t a;
    char port[8];
    listen_on(&a, "127.0.0.1", port);
    char rule[128];
    snprintf(rule, sizeof rule, "ip6 daddr " V6 " tcp dport %s", port);
    drop_tcp(rule);
    int fds = count_fds();
    sock_t c;
    sock_init(&c);
    expect_ok(&c, sock_set_timeout(&c, 10000));
    int64_t t0 = now_ms();
    expect_ok(&c, sock_connect(&c, "he.test", port));
    int64_t took = now_ms() - t0;
    cr_assert_lt(took, 5000, "took %lld ms: the IPv6 attempt was waited out", (long long)took);
    char peer[SOCK_ADDRSTRLEN];
    expect_ok(&c, sock_peer_addr(&c, peer, sizeof peer));
    cr_assert(strncmp(peer, "127.0.0.1:", 10) == 0, "won by %s", peer);
    sock_t s;
    expect_ok(&a, sock_accept(&a, &s));
    expect_ok(&c, sock_send_all(&c, "x", 1, NULL));
    char b;
    expect_ok(&s, sock_recv_all(&s, &b, 1, NULL));
    sock_close(&s);
    sock_close(&c);
    /* Without a timeout too (the race needs none), and the winner is then
     * a blocking descriptor, as the handle promises. */
    sock_init(&c);
    expect_ok(&c, sock_connect(&c, "he.test", port));
    cr_assert_eq(fcntl(sock_fd(&c), F_GETFL) & O_NONBLOCK, 0, "the winner is left non-blocking");
    expect_ok(&a, sock_accept(&a, &s));
    sock_close(&s);
    sock_close(&c);
    cr_assert_eq(count_fds(), fds, "an abandoned attempt left a descriptor");

    sock_init(&c);
    expect_ok(&c, sock_set_timeout(&c, 800));
    expect_ok(&c, sock_set_attempt_delay(&c, -1));
    expect_code(&c, sock_connect(&c, "he.test", port), -ETIMEDOUT);
    sock_close(&c);
    sock_close(&a);
}

/* Both work: IPv6 is tried first and wins. */
Test(reach, both_work_ipv6_wins, .timeout = 30)
{
    private_namespaces();
    he_name();
    sock_t a;
    char port[8];
    listen_on(&a, NULL, port); /* dual-stack */
    for (int i = 0; i < 5; i++) {
        sock_t c, s;
        sock_init(&c);
        expect_ok(&c, sock_set_timeout(&c, 5000));
        expect_ok(&c, sock_connect(&c, "he.test", port));
        char peer[SOCK_ADDRSTRLEN];
        expect_ok(&c, sock_peer_addr(&c, peer, sizeof peer));
        cr_assert(strncmp(peer, "[" V6 "]", strlen(V6) + 2) == 0, "round %d won by %s", i, peer);
        expect_ok(&a, sock_accept(&a, &s));
        sock_close(&s);
        sock_close(&c);
    }
    sock_close(&a);
}

/* Neither answers: the timeout, with both addresses and their reasons. */
Test(reach, both_dead_timeout_names_both, .timeout = 30)
{
    private_namespaces();
    he_name();
    sock_t a;
    char port[8];
    listen_on(&a, NULL, port);
    char rule[64];
    snprintf(rule, sizeof rule, "tcp dport %s", port);
    drop_tcp(rule);
    int fds = count_fds();
    sock_t c;
    sock_init(&c);
    expect_ok(&c, sock_set_timeout(&c, 600));
    int64_t t0 = now_ms();
    expect_code(&c, sock_connect(&c, "he.test", port), -ETIMEDOUT);
    cr_assert_geq(now_ms() - t0, 600);
    const char *e = sock_error(&c);
    cr_assert(strstr(e, "[" V6 "]") && strstr(e, "127.0.0.1:"), "both addresses: %s", e);
    cr_assert_eq(sock_fd(&c), -1);
    sock_close(&c);
    cr_assert_eq(count_fds(), fds, "an attempt left a descriptor");
    sock_close(&a);
}

/* The threads of this process. */
static int count_threads(void)
{
    DIR *d = opendir("/proc/self/task");
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d));)
        n += e->d_name[0] != '.';
    if (d)
        closedir(d);
    return n;
}

struct mute_dns {
    int fd;
    volatile int stop;
    int queries;
};

/* A name server that reads every query and answers none. */
static void *mute_dns_thread(void *arg)
{
    struct mute_dns *m = arg;
    char buf[1500];
    while (!m->stop) {
        struct pollfd pfd = {.fd = m->fd, .events = POLLIN};
        if (poll(&pfd, 1, 50) > 0 && recv(m->fd, buf, sizeof buf, 0) > 0)
            m->queries++;
    }
    return NULL;
}

/* A name server that never answers: the connect ends at its timeout and
 * says resolution was the step that ran out; repeated, no thread or
 * descriptor is left behind once the abandoned lookups end. */
Test(reach, resolution_bounded_by_the_timeout, .timeout = 60)
{
    private_namespaces();
    replace_etc("resolv.conf", "nameserver 127.0.0.1\noptions timeout:5 attempts:3\n");
    struct mute_dns m = {.fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)};
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(53)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert_eq(bind(m.fd, (struct sockaddr *)&sa, sizeof sa), 0, "bind :53: %s",
                 strerror(errno));
    pthread_t t = spawn(mute_dns_thread, &m);
    int threads = count_threads(), fds = count_fds();

    sock_t c;
    sock_init(&c);
    expect_ok(&c, sock_set_timeout(&c, 300));
    int64_t t0 = now_ms();
    expect_code(&c, sock_connect(&c, "never.test", "80"), -ETIMEDOUT);
    int64_t took = now_ms() - t0;
    cr_assert_geq(took, 300);
    cr_assert_lt(took, 3000, "took %lld ms: the resolver's own 5 s x 3 was waited out",
                 (long long)took);
    cr_assert_str_eq(sock_error(&c), "resolve never.test: no answer within 300 ms");
    sock_close(&c);
    cr_assert_gt(m.queries, 0, "no query reached the test's name server");

    for (int i = 0; i < 300; i++) {
        sock_init(&c);
        expect_ok(&c, sock_set_timeout(&c, 10));
        expect_code(&c, sock_connect(&c, "never.test", "80"), -ETIMEDOUT);
        sock_close(&c);
    }
    /* The lookups left behind end within their resolver's bound (1 s). */
    int now = count_threads();
    for (int i = 0; i < 100 && now > threads; i++) {
        sleep_ms(50);
        now = count_threads();
    }
    cr_assert_eq(now, threads, "%d threads left behind", now - threads);
    cr_assert_eq(count_fds(), fds, "descriptors left behind");
    m.stop = 1;
    join_within(t, 2000);
    close(m.fd);
}
