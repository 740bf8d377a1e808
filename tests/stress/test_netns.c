/*
 * test_netns.c - the `sock` tool and the library through network faults
 * (reliability scenarios 25 and 39), in two network namespaces of the
 * test's own joined by a veth pair, the course deck's addresses:
 *
 *     client  10.1.1.1 (namespace NAME-a)  ====veth====  (namespace NAME-b)  10.2.2.2  server
 *
 * a. 100 MB through a tbf bandwidth limit arrives intact;
 * b. 100 MB through 5 % random loss (nftables numgen) arrives intact;
 * c. a connect whose SYNs are dropped ends at its timeout.
 *
 * Nothing outside the namespaces is touched.  The names carry the test
 * process's pid, so that leftovers of a killed run never collide with a new
 * one, and three things remove them: the test body (which then checks that
 * `ip netns list` no longer shows them), the test's .fini (on a failed
 * assertion), and a guardian process that deletes them when the test
 * process dies without running its .fini (a Criterion timeout kills it).
 */
#include "../tool/harness.h"
#include "sock.h"
#include "util.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define CLIENT_IP "10.1.1.1"
#define SERVER_IP "10.2.2.2"
#define SERVER_PORT "80"
#define TRANSFER_BYTES (100u * 1000u * 1000u) /* 100 MB */
#define TBF_RATE_MBIT 80                      /* 100 MB in about 10 s */
#define LOSS_PERCENT 5
#define TRANSFER_LIMIT_MS 100000 /* a hang bound, not a performance threshold */

/* ------------------------------------------------------------------------
 * The test's own namespaces, work directory and child processes.
 * ------------------------------------------------------------------------ */

static struct {
    int up;                 /* namespaces created (maybe partly) */
    char a[32], b[32];      /* namespace names: client, server */
    char va[16], vb[16];    /* the veth ends, in a and in b */
    int guardian_fd;        /* write end of the guardian's pipe, -1 if none */
    pid_t guardian;
} net = {.guardian_fd = -1};

/* Run a shell command (formatted); returns its exit status.  Its stderr is
 * kept in err (when not NULL) so that a failure can say why. */
static int shf(char *err, size_t errlen, const char *fmt, ...)
{
    char cmd[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    char *argv[] = {"/bin/sh", "-c", cmd, NULL};
    char *out = NULL, *e = NULL;
    int st = proc_run(argv, NULL, 0, &out, NULL, &e, 30000);
    if (err && errlen)
        snprintf(err, errlen, "%s: %s", cmd, e ? e : "");
    free(out);
    free(e);
    return st;
}

/* Run a setup command that must succeed. */
#define must(...)                                                              \
    do {                                                                       \
        char must_err_[1200];                                                  \
        int must_st_ = shf(must_err_, sizeof must_err_, __VA_ARGS__);          \
        cr_assert_eq(must_st_, 0, "exit %d: %s", must_st_, must_err_);         \
    } while (0)

/* The guardian: a process in a session of its own that waits for end of
 * file on a pipe whose only writer is the test process.  End of file without
 * a byte means the test process died before its cleanup ran: the guardian
 * then deletes the namespaces and the work directory.  A byte means the
 * cleanup was done. */
static void start_guardian(void)
{
    int p[2];
    cr_assert_eq(pipe2(p, O_CLOEXEC), 0, "pipe: %s", strerror(errno));
    char cmd[256];
    snprintf(cmd, sizeof cmd,
             "ip netns del %s 2>/dev/null; ip netns del %s 2>/dev/null; rm -rf '%s'", net.a,
             net.b, workdir());
    pid_t pid = fork();
    cr_assert_geq(pid, 0, "fork: %s", strerror(errno));
    if (pid == 0) {
        /* Own session: a signal to the test's process group spares it.
         * Only the pipe's read end stays open, so that no descriptor of
         * Criterion's is kept alive by us. */
        setsid();
        int keep = p[0];
        for (int fd = 3; fd < 1024; fd++)
            if (fd != keep)
                close(fd);
        char c;
        ssize_t n;
        while ((n = read(keep, &c, 1)) < 0 && errno == EINTR)
            ;
        if (n == 0)
            execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(0);
    }
    close(p[0]);
    net.guardian_fd = p[1];
    net.guardian = pid;
}

static void stop_guardian(void)
{
    if (net.guardian_fd < 0)
        return;
    if (write(net.guardian_fd, "x", 1) != 1) {
        /* The guardian will see end of file and delete names already gone:
         * harmless. */
    }
    close(net.guardian_fd);
    net.guardian_fd = -1;
    for (int i = 0; i < 500 && waitpid(net.guardian, NULL, WNOHANG) == 0; i++)
        sleep_ms(10);
}

/* Delete everything the test created; safe to call twice. */
static void netns_down(void)
{
    kill_children();
    if (net.up) {
        shf(NULL, 0, "ip netns del %s", net.a);
        shf(NULL, 0, "ip netns del %s", net.b);
        net.up = 0;
    }
    stop_guardian();
    workdir_down();
}

/* The end of a passing test: clean up, then check that `ip netns list`
 * shows none of our names. */
static void netns_down_checked(void)
{
    netns_down();
    char *argv[] = {"ip", "netns", "list", NULL};
    char *out = NULL;
    int st = proc_run(argv, NULL, 0, &out, NULL, NULL, 10000);
    cr_assert_eq(st, 0, "ip netns list failed");
    cr_expect(!strstr(out, net.a) && !strstr(out, net.b), "namespaces left behind:\n%s", out);
    free(out);
}

static void require_root_and_tools(void)
{
    cr_assert_eq(geteuid(), 0, "the network namespace scenarios need root (ip netns, tc, nft); "
                 "run make stress as root");
    const char *tools[] = {"ip", "tc", "nft"};
    for (size_t i = 0; i < 3; i++)
        cr_assert(have_command(tools[i]), "'%s' is not installed (make stress installs "
                  "iproute2 and nftables: scripts/ensure-deps stress)", tools[i]);
}

/* Create both namespaces, the veth pair between them and the addresses,
 * with a /32 route each way so that the two /24 networks reach each other
 * over the link as in the deck's drawing. */
static void netns_up(void)
{
    require_root_and_tools();
    snprintf(net.a, sizeof net.a, "sockst-%d-a", (int)getpid());
    snprintf(net.b, sizeof net.b, "sockst-%d-b", (int)getpid());
    snprintf(net.va, sizeof net.va, "sta%d", (int)getpid());
    snprintf(net.vb, sizeof net.vb, "stb%d", (int)getpid());
    workdir_up("sock-stress");
    start_guardian();
    net.up = 1;
    must("ip netns add %s", net.a);
    must("ip netns add %s", net.b);
    must("ip link add %s netns %s type veth peer name %s netns %s", net.va, net.a, net.vb, net.b);
    must("ip -n %s addr add " CLIENT_IP "/24 dev %s", net.a, net.va);
    must("ip -n %s addr add " SERVER_IP "/24 dev %s", net.b, net.vb);
    must("ip -n %s link set lo up && ip -n %s link set %s up", net.a, net.a, net.va);
    must("ip -n %s link set lo up && ip -n %s link set %s up", net.b, net.b, net.vb);
    must("ip -n %s route add " SERVER_IP "/32 dev %s", net.a, net.va);
    must("ip -n %s route add " CLIENT_IP "/32 dev %s", net.b, net.vb);
}

/* ------------------------------------------------------------------------
 * Child processes (util.h) write their streams to files in the work
 * directory; a test waits on what they write.
 * ------------------------------------------------------------------------ */

/* Wait until the file holds needle, at most timeout_ms. */
static int file_says(const char *path, const char *needle, int timeout_ms)
{
    int64_t end = now_ms() + timeout_ms;
    do {
        char *text = slurp(path, NULL);
        int found = strstr(text, needle) != NULL;
        free(text);
        if (found)
            return 1;
        sleep_ms(10);
    } while (now_ms() < end);
    return 0;
}

/* ------------------------------------------------------------------------
 * The transfer: `sock connect` in the client namespace reads the input file
 * and sends it; `sock listen` in the server namespace writes what it
 * receives to a file.
 * ------------------------------------------------------------------------ */

struct transfer {
    int64_t ms;          /* from starting the client to its exit */
    int client_status;
    int server_status;
};

static void transfer_100mb(struct transfer *t)
{
    char in[128], out[128], lerr[128], cerr[128];
    workdir_path(in, sizeof in, "input");
    workdir_path(out, sizeof out, "received");
    workdir_path(lerr, sizeof lerr, "listen.err");
    workdir_path(cerr, sizeof cerr, "connect.err");
    make_input(in, TRANSFER_BYTES);

    char *largv[] = {"ip", "netns", "exec", net.b, (char *)sock_bin(), "listen", SERVER_IP,
                     SERVER_PORT, NULL};
    pid_t lp = spawn_files(largv, "/dev/null", out, lerr);
    if (!file_says(lerr, "listening on", 5000)) {
        char *e = slurp(lerr, NULL);
        cr_log_error("sock listen said: %s", e);
        free(e);
        cr_assert_fail("sock listen did not start in %s", net.b);
    }
    char *cargv[] = {"ip", "netns", "exec", net.a, (char *)sock_bin(), "connect", SERVER_IP,
                     SERVER_PORT, NULL};
    int64_t start = now_ms();
    pid_t cp = spawn_files(cargv, in, "/dev/null", cerr);
    t->client_status = wait_exit(cp, TRANSFER_LIMIT_MS);
    t->ms = now_ms() - start;
    t->server_status = wait_exit(lp, 10000);
    char *ce = slurp(cerr, NULL), *le = slurp(lerr, NULL);
    cr_expect_eq(t->client_status, 0, "sock connect: exit %d after %lld ms (-1: killed at the "
                 "hang bound): %s", t->client_status, (long long)t->ms, ce);
    cr_expect_eq(t->server_status, 0, "sock listen: exit %d: %s", t->server_status, le);
    free(ce), free(le);
    expect_same_file(in, out);
}

/* The number after the first "word " in text, or -1. */
static long long number_after(const char *text, const char *word)
{
    const char *p = strstr(text, word);
    return p ? atoll(p + strlen(word)) : -1;
}

/* ------------------------------------------------------------------------
 * a. Bandwidth limit.
 * ------------------------------------------------------------------------ */

static void through_bandwidth_limit(void)
{
    netns_up();
    /* A token bucket on the client's side of the link: every byte to the
     * server leaves at TBF_RATE_MBIT.  The burst must hold at least one
     * timer tick's worth of bytes at that rate, or the rate is not reached. */
    must("tc -n %s qdisc add dev %s root tbf rate %dmbit burst 128kb latency 100ms", net.a,
         net.va, TBF_RATE_MBIT);
    struct transfer t;
    transfer_100mb(&t);

    char *argv[] = {"tc", "-n", net.a, "-s", "qdisc", "show", "dev", net.va, NULL};
    char *stats = NULL;
    cr_assert_eq(proc_run(argv, NULL, 0, &stats, NULL, NULL, 10000), 0, "tc -s qdisc show failed");
    long long shaped = number_after(stats, "Sent ");
    double secs = (double)t.ms / 1000.0;
    fprintf(stderr, "figure: netns: %u MB through tbf %d mbit in %.1f s: %.1f Mbit/s "
                    "(%.1f MB/s), %lld bytes through the qdisc\n",
            TRANSFER_BYTES / 1000000u, TBF_RATE_MBIT, secs,
            (double)TRANSFER_BYTES * 8 / 1e6 / secs, (double)TRANSFER_BYTES / 1e6 / secs, shaped);
    /* The data really went through the limit (headers make it more). */
    cr_expect_geq(shaped, (long long)TRANSFER_BYTES, "the tbf qdisc saw only %lld bytes:\n%s",
                  shaped, stats);
    free(stats);
    netns_down_checked();
}

Test(netns, transfer_100mb_through_tbf_bandwidth_limit, .timeout = 180, .fini = netns_down)
{
    through_bandwidth_limit();
}

/* ------------------------------------------------------------------------
 * b. Random loss.
 * ------------------------------------------------------------------------ */

/* Install nftables rules in namespace ns: always through ip netns exec, so
 * that nothing is ever added to the machine's own ruleset. */
static void nft_in(const char *ns, const char *rules)
{
    must("ip netns exec %s nft -f - <<'EOF'\n%sEOF\n", ns, rules);
}

/* The packet counter of the table's (single) rule, or -1. */
static long long nft_dropped(const char *ns)
{
    char *argv[] = {"ip", "netns", "exec", (char *)ns, "nft", "list", "table", "inet",
                    "sockstress", NULL};
    char *out = NULL;
    int st = proc_run(argv, NULL, 0, &out, NULL, NULL, 10000);
    long long n = st == 0 ? number_after(out, "packets ") : -1;
    free(out);
    return n;
}

static void through_random_loss(void)
{
    netns_up();
    /* veth hands TSO super-packets of up to 64 KiB to the other side
     * unsegmented, so dropping 5 % of packets would drop 5 % of bursts of up
     * to 44 segments: a far milder fault (measured: the 100 MB then arrive in
     * under a second).  One segment per packet makes the rule act on every
     * TCP segment, as loss on a wire would. */
    must("ip -n %s link set dev %s gso_max_segs 1", net.a, net.va);
    must("ip -n %s link set dev %s gso_max_segs 1", net.b, net.vb);
    /* The loss is on the server's input: data segments (and SYNs) are lost,
     * the server's ACKs go back untouched. */
    char rules[512];
    snprintf(rules, sizeof rules,
             "table inet sockstress {\n"
             "  chain input {\n"
             "    type filter hook input priority 0; policy accept;\n"
             "    meta l4proto tcp numgen random mod 100 < %d counter drop\n"
             "  }\n"
             "}\n",
             LOSS_PERCENT);
    nft_in(net.b, rules);
    struct transfer t;
    transfer_100mb(&t);
    long long dropped = nft_dropped(net.b);
    fprintf(stderr, "figure: netns: %u MB through %d %% random loss in %.1f s (%.1f Mbit/s), "
                    "%lld packets dropped\n",
            TRANSFER_BYTES / 1000000u, LOSS_PERCENT, (double)t.ms / 1000.0,
            (double)TRANSFER_BYTES * 8 / 1e6 / ((double)t.ms / 1000.0), dropped);
    /* The fault really happened: at 5 % of some 70,000 segments, thousands
     * were dropped (a few hundred is already far outside chance). */
    cr_expect_gt(dropped, 500, "only %lld packets dropped: was the loss rule in the path?",
                 dropped);
    netns_down_checked();
}

Test(netns, transfer_100mb_through_5_percent_loss, .timeout = 180, .fini = netns_down)
{
    through_random_loss();
}

/* ------------------------------------------------------------------------
 * c. A connect whose SYNs are dropped ends at its timeout.
 * ------------------------------------------------------------------------ */

#define CONNECT_TIMEOUT_MS 1000
#define CONNECT_HANG_BOUND_MS 5000 /* a bound on a hang, not a performance threshold */

static void drop_syns_to_server(void)
{
    nft_in(net.b, "table inet sockstress {\n"
                  "  chain input {\n"
                  "    type filter hook input priority 0; policy accept;\n"
                  "    tcp dport " SERVER_PORT " tcp flags & (syn | ack) == syn counter drop\n"
                  "  }\n"
                  "}\n");
}

/* The tool: `sock --timeout 1000 connect 10.2.2.2 80` exits 1 and says it
 * timed out, at its timeout. */
static void tool_connect_times_out(void)
{
    netns_up();
    drop_syns_to_server();
    char err[128];
    workdir_path(err, sizeof err, "connect.err");
    char ms[16];
    snprintf(ms, sizeof ms, "%d", CONNECT_TIMEOUT_MS);
    char *argv[] = {"ip", "netns", "exec", net.a, (char *)sock_bin(), "--timeout", ms,
                    "connect", SERVER_IP, SERVER_PORT, NULL};
    int64_t start = now_ms();
    pid_t pid = spawn_files(argv, "/dev/null", "/dev/null", err);
    int st = wait_exit(pid, CONNECT_HANG_BOUND_MS * 2);
    int64_t elapsed = now_ms() - start;
    char *text = slurp(err, NULL);
    long long dropped = nft_dropped(net.b);
    fprintf(stderr, "figure: netns: sock --timeout %d connect to dropped SYNs: exit %d after "
                    "%lld ms, %lld SYNs dropped: %s",
            CONNECT_TIMEOUT_MS, st, (long long)elapsed, dropped, text);
    cr_expect_eq(st, 1, "exit %d: %s", st, text);
    cr_expect(strstr(text, "timed out") != NULL, "the message does not say it timed out: %s",
              text);
    cr_expect(strstr(text, SERVER_IP) != NULL, "the message does not name %s: %s", SERVER_IP,
              text);
    cr_expect_geq(elapsed, CONNECT_TIMEOUT_MS * 9 / 10, "ended after %lld ms, before its "
                  "timeout", (long long)elapsed);
    cr_expect_leq(elapsed, CONNECT_HANG_BOUND_MS, "ended after %lld ms", (long long)elapsed);
    cr_expect_geq(dropped, 1, "no SYN was dropped: the scenario did not happen");
    free(text);
    netns_down_checked();
}

Test(netns, tool_connect_to_dropped_syns_ends_at_timeout, .timeout = 60, .fini = netns_down)
{
    tool_connect_times_out();
}

/* The library: sock_connect with sock_set_timeout, from inside the client
 * namespace (this test process joins it; it is a process of its own). */
static void library_connect_times_out(void)
{
    netns_up();
    drop_syns_to_server();
    char path[64];
    snprintf(path, sizeof path, "/run/netns/%s", net.a);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    cr_assert_geq(fd, 0, "%s: %s", path, strerror(errno));
    int home = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
    cr_assert_geq(home, 0, "/proc/self/ns/net: %s", strerror(errno));
    cr_assert_eq(setns(fd, CLONE_NEWNET), 0, "setns %s: %s", net.a, strerror(errno));
    close(fd);

    sock_t s;
    sock_init(&s);
    cr_assert_eq(sock_set_timeout(&s, CONNECT_TIMEOUT_MS), 0);
    int64_t start = now_ms();
    int rc = sock_connect(&s, SERVER_IP, SERVER_PORT);
    int64_t elapsed = now_ms() - start;
    char text[SOCK_ERRLEN];
    snprintf(text, sizeof text, "%s", sock_error(&s));
    sock_close(&s);
    /* Back home, so that the cleanup's programs run where the names are. */
    cr_assert_eq(setns(home, CLONE_NEWNET), 0, "setns back: %s", strerror(errno));
    close(home);

    fprintf(stderr, "figure: netns: sock_connect with a %d ms timeout to dropped SYNs: "
                    "%s after %lld ms\n",
            CONNECT_TIMEOUT_MS, sock_strerror(rc), (long long)elapsed);
    cr_expect_eq(rc, -ETIMEDOUT, "sock_connect: %d (%s): %s", rc, sock_strerror(rc), text);
    cr_expect(strstr(text, SERVER_IP ":" SERVER_PORT) != NULL, "sock_error does not name the "
              "address: %s", text);
    /* The header promises never earlier than the timeout. */
    cr_expect_geq(elapsed, CONNECT_TIMEOUT_MS, "timed out after %lld ms, before its %d ms",
                  (long long)elapsed, CONNECT_TIMEOUT_MS);
    cr_expect_leq(elapsed, CONNECT_HANG_BOUND_MS, "ended after %lld ms", (long long)elapsed);
    netns_down_checked();
}

Test(netns, library_connect_to_dropped_syns_ends_at_timeout, .timeout = 60,
     .fini = netns_down)
{
    library_connect_times_out();
}
