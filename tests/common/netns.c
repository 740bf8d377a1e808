/*
 * netns.c - private network namespaces for the tests; see netns.h.
 */
#include "netns.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <errno.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

void loopback_up(void)
{
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    cr_assert_geq(fd, 0);
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "lo");
    cr_assert_eq(ioctl(fd, SIOCGIFFLAGS, &ifr), 0, "SIOCGIFFLAGS lo: %s", strerror(errno));
    ifr.ifr_flags |= IFF_UP;
    cr_assert_eq(ioctl(fd, SIOCSIFFLAGS, &ifr), 0, "SIOCSIFFLAGS lo: %s", strerror(errno));
    close(fd);
}

void enter_offline_netns(void)
{
    if (unshare(CLONE_NEWNET) < 0)
        cr_skip_test("unshare(CLONE_NEWNET): %s (needs root; a name lookup here could "
                     "query a name server off this machine)",
                     strerror(errno));
    loopback_up();
}

void enter_private_namespaces(void)
{
    if (unshare(CLONE_NEWNET | CLONE_NEWNS) < 0)
        cr_skip_test("unshare: %s (needs root)", strerror(errno));
    cr_assert_eq(mount("none", "/", NULL, MS_REC | MS_PRIVATE, NULL), 0, "%s", strerror(errno));
    loopback_up();
    int rc = system("ip -6 addr add " TEST_V6 "/128 dev lo nodad 2>/dev/null");
    if (rc != 0)
        cr_skip_test("cannot add an IPv6 address (ip: %d)", rc);
}

void replace_etc_file(const char *name, const char *text)
{
    char path[64], target[64];
    snprintf(path, sizeof path, "/tmp/sock-etc-%d-%s", (int)getpid(), name);
    snprintf(target, sizeof target, "/etc/%s", name);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
    cr_assert_eq(mount(path, target, NULL, MS_BIND, NULL), 0, "bind %s: %s", target,
                 strerror(errno));
    unlink(path); /* the mount keeps it while the namespace lives */
}

void drop_tcp_to(const char *match)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd,
             "nft -f - >/dev/null 2>&1 <<'NFT'\n"
             "table inet test_drop {\n"
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

int count_threads(void)
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
    volatile int queries;
    pthread_t thread;
};

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

struct mute_dns *mute_dns_start(void)
{
    struct mute_dns *m = calloc(1, sizeof *m);
    cr_assert_not_null(m);
    m->fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(53)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert_eq(bind(m->fd, (struct sockaddr *)&sa, sizeof sa), 0, "bind :53: %s",
                 strerror(errno));
    cr_assert_eq(pthread_create(&m->thread, NULL, mute_dns_thread, m), 0);
    return m;
}

int mute_dns_queries(const struct mute_dns *m)
{
    return m->queries;
}

void mute_dns_stop(struct mute_dns *m)
{
    m->stop = 1;
    pthread_join(m->thread, NULL);
    close(m->fd);
    free(m);
}
