/*
 * tools/demo/netns.c - the seed's two machines as two network namespaces.
 *
 * `ip netns` does the work (fork/exec): it creates named namespaces that a
 * student can also enter with `ip netns exec` while `--step` waits.  Named
 * namespaces outlive their processes, so we remove them on every way out:
 * normal exit (atexit), SIGINT/SIGTERM (a handler using only
 * async-signal-safe calls), and, for a demo killed with SIGKILL, the next
 * demo reaps namespaces whose creator pid is gone.
 */
#include "demo.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define NETNS_DIR "/run/netns"
#define PREFIX_CLI "sockdemo-cli-"
#define PREFIX_SRV "sockdemo-srv-"

/* Everything the signal handler needs, prepared in advance: it cannot
 * allocate or search PATH. */
static char ip_path[64];
static char ns_names[2][64];
static volatile sig_atomic_t ns_active;
static volatile pid_t watched[2];

extern char **environ;

static int find_ip(void)
{
    static const char *const paths[] = {"/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++)
        if (access(paths[i], X_OK) == 0) {
            snprintf(ip_path, sizeof ip_path, "%s", paths[i]);
            return 0;
        }
    return -1;
}

/* Run ip with argv (argv[0] is ignored).  Async-signal-safe: fork,
 * execve, waitpid only.  quiet sends its stderr to /dev/null. */
static int run_ip(char *const argv[], int quiet)
{
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        if (quiet) {
            int fd = open("/dev/null", O_WRONLY);
            if (fd >= 0) {
                dup2(fd, 2);
                dup2(fd, 1);
            }
        }
        execve(ip_path, argv, environ);
        _exit(127);
    }
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            return -1;
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

static void delete_ns(const char *name)
{
    char *argv[] = {"ip", "netns", "delete", (char *)name, NULL};
    run_ip(argv, 1);
}

void demo_netns_cleanup(void)
{
    if (!ns_active)
        return;
    ns_active = 0;
    delete_ns(ns_names[0]);
    delete_ns(ns_names[1]);
}

void demo_netns_watch(pid_t a, pid_t b)
{
    watched[0] = a;
    watched[1] = b;
}

static void on_signal(int sig)
{
    /* The workers die first so that nothing holds the namespaces. */
    for (int i = 0; i < 2; i++)
        if (watched[i] > 0)
            kill(watched[i], SIGKILL);
    /* What `ip netns delete` does, with system calls alone: detach the
     * bind mount that keeps the namespace alive and remove its file.  No
     * fork in a signal handler (it deadlocks under sanitizers); the veth
     * pair goes away with the namespaces. */
    if (ns_active) {
        ns_active = 0;
        for (int i = 0; i < 2; i++) {
            char path[sizeof NETNS_DIR + sizeof ns_names[i] + 1];
            size_t d = sizeof NETNS_DIR - 1, n = strlen(ns_names[i]);
            memcpy(path, NETNS_DIR, d);
            path[d] = '/';
            memcpy(path + d + 1, ns_names[i], n + 1);
            umount2(path, MNT_DETACH);
            unlink(path);
        }
    }
    _exit(128 + sig);
}

/* ip with the given arguments, NULL-terminated; its errors go to stderr. */
static int ip(const char *first, ...)
{
    char *argv[16] = {"ip"};
    int n = 1;
    va_list ap;
    va_start(ap, first);
    for (const char *a = first; a && n < 15; a = va_arg(ap, const char *))
        argv[n++] = (char *)a;
    va_end(ap);
    argv[n] = NULL;
    return run_ip(argv, 0);
}

void demo_netns_reap_stale(void)
{
    DIR *d = opendir(NETNS_DIR);
    if (!d)
        return;
    struct dirent *e;
    /* The directory holds a handful of entries; bound it anyway. */
    for (int i = 0; i < 10000 && (e = readdir(d)) != NULL; i++) {
        const char *n = e->d_name;
        const char *num = NULL;
        if (!strncmp(n, PREFIX_CLI, strlen(PREFIX_CLI)))
            num = n + strlen(PREFIX_CLI);
        else if (!strncmp(n, PREFIX_SRV, strlen(PREFIX_SRV)))
            num = n + strlen(PREFIX_SRV);
        if (!num || !*num)
            continue;
        char *end;
        long pid = strtol(num, &end, 10);
        if (*end || pid <= 0)
            continue;
        if (kill((pid_t)pid, 0) < 0 && errno == ESRCH)
            delete_ns(n);
    }
    closedir(d);
}

int demo_netns_setup(char cli[64], char srv[64], char *ifname, size_t iflen)
{
    if (geteuid() != 0) {
        fprintf(stderr, "sock demo: --netns needs root: it creates network namespaces "
                        "(try: sudo sock demo --netns)\n");
        return -1;
    }
    if (find_ip() != 0) {
        fprintf(stderr, "sock demo: --netns needs the `ip` command (Debian package iproute2)\n");
        return -1;
    }
    demo_netns_reap_stale();
    snprintf(cli, 64, PREFIX_CLI "%ld", (long)getpid());
    snprintf(srv, 64, PREFIX_SRV "%ld", (long)getpid());
    snprintf(ns_names[0], sizeof ns_names[0], "%s", cli);
    snprintf(ns_names[1], sizeof ns_names[1], "%s", srv);
    snprintf(ifname, iflen, "veth-cli");

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    atexit(demo_netns_cleanup);

    /* Marked active before the first namespace exists, so a signal in the
     * middle of the setup still removes whatever was made. */
    ns_active = 1;
    if (ip("netns", "add", cli, NULL) || ip("netns", "add", srv, NULL) ||
        ip("-n", cli, "link", "add", "veth-cli", "type", "veth", "peer", "name", "veth-srv",
           "netns", srv, NULL) ||
        ip("-n", cli, "addr", "add", "10.1.1.1/8", "dev", "veth-cli", NULL) ||
        ip("-n", srv, "addr", "add", "10.2.2.2/8", "dev", "veth-srv", NULL) ||
        ip("-n", cli, "link", "set", "lo", "up", NULL) || ip("-n", srv, "link", "set", "lo", "up", NULL) ||
        ip("-n", cli, "link", "set", "veth-cli", "up", NULL) ||
        ip("-n", srv, "link", "set", "veth-srv", "up", NULL)) {
        fprintf(stderr, "sock demo: --netns: could not set up the namespaces (see ip's "
                        "message above)\n");
        demo_netns_cleanup();
        return -1;
    }
    return 0;
}

int demo_netns_enter(const char *name)
{
    char path[128];
    snprintf(path, sizeof path, NETNS_DIR "/%s", name);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int rc = setns(fd, CLONE_NEWNET) < 0 ? -errno : 0;
    close(fd);
    return rc;
}

int demo_netns_save(void)
{
    return open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
}

int demo_netns_restore(int saved)
{
    if (saved < 0)
        return -EBADF;
    int rc = setns(saved, CLONE_NEWNET) < 0 ? -errno : 0;
    close(saved);
    return rc;
}
