/*
 * harness.c - the fuzz targets' shared helpers: checks, the private network
 * namespace, and the guard that refuses any connect() off loopback.
 */
#include "harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

void fuzz_fail(const char *file, int line, const char *cond, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s:%d: invariant broken: %s\n  ", file, line, cond);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    abort();
}

static _Noreturn void refuse(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void refuse(const char *fmt, ...)
{
    va_list ap;
    fputs("fuzz: refusing to run: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(1);
}

/* The "hosts:" line of nsswitch.conf may name only modules that answer
 * from this process: files (/etc/hosts), dns (a resolver that sends from
 * this process, so from inside the namespace) and myhostname. */
static void check_name_service(void)
{
    struct stat st;
    if (stat("/var/run/nscd/socket", &st) == 0)
        refuse("nscd is running (/var/run/nscd/socket): getaddrinfo would ask it, and it "
               "resolves outside our network namespace");
    FILE *f = fopen("/etc/nsswitch.conf", "r");
    if (!f)
        return; /* glibc's default without the file: dns, then files */
    char line[512];
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "hosts:", 6) != 0)
            continue;
        for (char *save = NULL, *w = strtok_r(line + 6, " \t\n", &save); w;
             w = strtok_r(NULL, " \t\n", &save)) {
            if (w[0] == '[' || strcmp(w, "files") == 0 || strcmp(w, "dns") == 0 ||
                strcmp(w, "myhostname") == 0)
                continue;
            fclose(f);
            refuse("/etc/nsswitch.conf resolves hosts with '%s', which may answer through a "
                   "service outside our network namespace",
                   w);
        }
    }
    fclose(f);
}

static void loopback_up(void)
{
    /* An ioctl rather than `ip link set lo up`, so that no program is run. */
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        refuse("socket() for the loopback ioctl: %s", strerror(errno));
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "lo");
    if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0)
        refuse("SIOCGIFFLAGS lo: %s", strerror(errno));
    ifr.ifr_flags |= IFF_UP;
    if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
        refuse("SIOCSIFFLAGS lo up: %s", strerror(errno));
    close(fd);
}

/* Every device of the namespace: only "lo" may be up. */
static void check_only_loopback(void)
{
    struct if_nameindex *all = if_nameindex();
    if (!all)
        refuse("if_nameindex: %s", strerror(errno));
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    for (struct if_nameindex *i = all; fd >= 0 && i->if_index; i++) {
        struct ifreq ifr;
        memset(&ifr, 0, sizeof ifr);
        snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", i->if_name);
        if (strcmp(i->if_name, "lo") != 0 && ioctl(fd, SIOCGIFFLAGS, &ifr) == 0 &&
            (ifr.ifr_flags & IFF_UP))
            refuse("device %s is up in the new network namespace", i->if_name);
    }
    if (fd >= 0)
        close(fd);
    if_freenameindex(all);
}

void fuzz_enter_private_netns(void)
{
    check_name_service();
    if (unshare(CLONE_NEWNET) < 0)
        refuse("unshare(CLONE_NEWNET): %s.  This target hands invented host names to "
               "getaddrinfo(), which outside a private network namespace would send DNS "
               "queries off this machine; run it as root (or with CAP_SYS_ADMIN)",
               strerror(errno));
    loopback_up();
    check_only_loopback();
}

/* Copy host without brackets into buf; 0 if it does not fit. */
static int unbracket(const char *host, char *buf, size_t len)
{
    size_t n = strlen(host);
    if (n >= 2 && host[0] == '[' && host[n - 1] == ']') {
        host++;
        n -= 2;
    }
    if (n >= len)
        return 0;
    memcpy(buf, host, n);
    buf[n] = '\0';
    return 1;
}

static int sockaddr_is_loopback(const struct sockaddr *sa, socklen_t len)
{
    if (sa->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
        const struct sockaddr_in *in4 = (const struct sockaddr_in *)sa;
        return (ntohl(in4->sin_addr.s_addr) >> 24) == 127;
    }
    if (sa->sa_family == AF_INET6 && len >= (socklen_t)sizeof(struct sockaddr_in6)) {
        const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
        return IN6_IS_ADDR_LOOPBACK(a) || (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
    }
    return 0;
}

int fuzz_host_is_local(const char *host)
{
    if (host == NULL || host[0] == '\0' || strcmp(host, "*") == 0)
        return 1;
    char name[64];
    if (!unbracket(host, name, sizeof name))
        return 0;
    struct sockaddr_in in4 = {.sin_family = AF_INET};
    struct sockaddr_in6 in6 = {.sin6_family = AF_INET6};
    if (inet_pton(AF_INET, name, &in4.sin_addr) == 1)
        return sockaddr_is_loopback((struct sockaddr *)&in4, sizeof in4);
    if (inet_pton(AF_INET6, name, &in6.sin6_addr) == 1)
        return sockaddr_is_loopback((struct sockaddr *)&in6, sizeof in6);
    return 0;
}

int fuzz_lowest_free_fd(void)
{
    int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (fd >= 0)
        close(fd);
    return fd;
}

/* Every target is linked with -Wl,--wrap=connect, so a connect() made by
 * libsock or the tool's code lands here first: one to anything but
 * loopback (or a local Unix socket) stops the run instead of sending a
 * packet.  The C library's own calls (its DNS client) are not wrapped;
 * the private namespace keeps those on this machine. */
int __real_connect(int fd, const struct sockaddr *sa, socklen_t len);
int __wrap_connect(int fd, const struct sockaddr *sa, socklen_t len);

int __wrap_connect(int fd, const struct sockaddr *sa, socklen_t len)
{
    if (sa && (sa->sa_family == AF_UNIX || sockaddr_is_loopback(sa, len)))
        return __real_connect(fd, sa, len);
    fprintf(stderr, "fuzz: connect() to a non-loopback address (family %d) refused\n",
            sa ? sa->sa_family : -1);
    abort();
}
