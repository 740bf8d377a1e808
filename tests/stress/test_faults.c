/*
 * test_faults.c - system call faults injected with strace into `sock
 * connect` and `sock listen` moving 16-32 MiB over loopback (reliability
 * scenarios 11 and 28): interrupted and would-block calls everywhere, and
 * real short writes.  In every case the data must arrive intact and both
 * sides must exit 0.
 *
 * Which calls are injected.  The tool moves data with sendfile() (a file as
 * input), splice() (pipes, files, sockets) or send/recv/read/write (other
 * input), waits in poll(), and accepts with accept4(); the injections name
 * all of them, so that they keep hitting whichever path the tool takes.
 * read() is left out: the dynamic loader and libc read files at start-up
 * and do not retry EINTR there, so a fault there would test them, not us.
 * connect() is left out too: strace makes the injected call not run at
 * all, while a real EINTR from connect() leaves the connection going on in
 * the background; an injected one would be a state no kernel produces.
 *
 * Short writes.  strace can make a call return a made-up success value
 * (inject=write:retval=N), but the call is then not executed at all: a
 * write of M bytes "returning" N moved nothing, so the tool, rightly
 * believing N bytes went out, would leave a hole of N bytes in the stream.
 * (sendfile() with the file's own offset is the exception: the offset does
 * not move, so the same bytes are sent again and only the tool's count is
 * wrong.)  Either way the outcome says nothing about the tool.  So the short
 * writes here are real ones: the receiving side is slowed down (strace
 * delays its data calls), the sender's socket buffer fills, and the
 * sender's non-blocking sendfile/splice/send calls move fewer bytes than
 * asked.  The sender's trace is read back to check that they did.
 */
#include "../tool/harness.h"
#include "util.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#define MIB (1u << 20)
#define TRANSFER_LIMIT_MS 60000 /* a hang bound, not a performance threshold */

/* ------------------------------------------------------------------------
 * The test's work directory and child processes, removed in .fini.
 * ------------------------------------------------------------------------ */

static void work_up(void)
{
    workdir_up("sock-faults");
}

static void work_down(void)
{
    kill_children();
    workdir_down();
}

static int open_file(const char *path, int writing)
{
    int fd = writing ? open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)
                     : open(path, O_RDONLY | O_CLOEXEC);
    cr_assert_geq(fd, 0, "%s: %s", path, strerror(errno));
    return fd;
}

/* Start `sock listen 127.0.0.1 0` (argv: the command, maybe under a
 * wrapper such as strace) with stdin on /dev/null, stdout on out and stderr
 * on the file lerr.  Waits at most 10 s for the port it prints there and
 * returns it (asserts that it came); its pid goes to *pid. */
static int start_listener(char *const argv[], int out, const char *lerr, pid_t *pid)
{
    int devnull = open_file("/dev/null", 0), fe = open_file(lerr, 1);
    *pid = spawn_fds(argv, devnull, out, fe);
    close(devnull), close(fe);
    int port = -1;
    for (int64_t end = now_ms() + 10000; port < 0 && now_ms() < end; sleep_ms(10)) {
        char *text = slurp(lerr, NULL);
        port = parse_listening_port(text);
        free(text);
    }
    if (port < 0) {
        char *text = slurp(lerr, NULL);
        cr_log_error("sock listen said: %s", text);
        free(text);
        cr_assert_fail("sock listen did not print its port");
    }
    return port;
}

/* Start `sock connect` (argv, maybe under a wrapper) with stdin on in
 * (closed here), stdout on /dev/null and stderr on the file cerr. */
static pid_t start_connector(char *const argv[], int in, const char *cerr)
{
    int devnull = open_file("/dev/null", 0), fe = open_file(cerr, 1);
    pid_t pid = spawn_fds(argv, in, devnull, fe);
    close(in), close(devnull), close(fe);
    return pid;
}

/* ------------------------------------------------------------------------
 * Reading strace's log.
 * ------------------------------------------------------------------------ */

/* Lines of the log that strace marked as injected faults. */
static int count_injected(const char *log)
{
    int n = 0;
    for (const char *p = log; (p = strstr(p, "(INJECTED)")); p++)
        n++;
    return n;
}

/* The n-th (from 0) top-level argument of a logged call "name(a, b, c) = r"
 * as a number; strings are logged as ""... (strace -s 0), so no argument
 * holds a comma of its own in the calls we read. */
static long long nth_arg(const char *args, int n)
{
    const char *p = args;
    for (int i = 0; i < n; i++) {
        p = strchr(p, ',');
        if (!p)
            return -1;
        p++;
    }
    return strtoll(p, NULL, 10);
}

struct writes {
    int calls;   /* data calls writing to the socket that moved bytes */
    int partial; /* of which moved fewer bytes than asked */
};

/* Count the calls of the log that wrote to the socket (the descriptor that
 * socket() returned) and how many of them were short.  For each call:
 * which argument is the destination and which the length asked. */
static struct writes socket_writes(const char *log)
{
    static const struct {
        const char *name;
        int dst, len;
    } calls[] = {{"sendfile(", 0, 3}, {"splice(", 2, 4}, {"sendto(", 0, 2}, {"write(", 0, 2}};
    struct writes w = {0, 0};
    long long sockfd = -1;
    char *copy = strdup(log), *save = NULL;
    cr_assert_not_null(copy);
    for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (strstr(line, "unfinished") || strstr(line, "resumed") || strstr(line, "INJECTED"))
            continue;
        /* strace pads before " = RESULT": the last " = " is the result. */
        const char *eq = NULL;
        for (const char *q = line; (q = strstr(q, " = ")); q++)
            eq = q;
        if (!eq)
            continue;
        long long ret = strtoll(eq + 3, NULL, 10);
        if (strstr(line, " socket(")) {
            sockfd = ret;
            continue;
        }
        for (size_t i = 0; i < sizeof calls / sizeof calls[0]; i++) {
            const char *c = strstr(line, calls[i].name);
            if (!c || (c > line && c[-1] != ' '))
                continue;
            const char *args = c + strlen(calls[i].name);
            if (sockfd < 0 || nth_arg(args, calls[i].dst) != sockfd || ret <= 0)
                break;
            w.calls++;
            if (ret < nth_arg(args, calls[i].len))
                w.partial++;
            break;
        }
    }
    free(copy);
    return w;
}

/* ------------------------------------------------------------------------
 * One transfer under strace.
 * ------------------------------------------------------------------------ */

#define MAX_INJECT 6

struct fault_case {
    const char *what;
    unsigned mib;                          /* size of the transfer */
    int pipe_input;                        /* connect reads a pipe, not the file */
    const char *connect_inject[MAX_INJECT]; /* strace -e inject=... of each side */
    const char *listen_inject[MAX_INJECT];
    int want_partial;                      /* the sender's writes must include short ones */
};

/* strace -f -s 0 -o LOG -e inject=... -- sock ARGS... into argv. */
static void strace_argv(char **argv, size_t max, const char *log, const char *const *inject,
                        char *const *cmd)
{
    size_t n = 0;
    argv[n++] = "strace";
    argv[n++] = "-f";
    argv[n++] = "-s";
    argv[n++] = "0";
    argv[n++] = "-o";
    argv[n++] = (char *)log;
    for (int i = 0; i < MAX_INJECT && inject[i]; i++) {
        argv[n++] = "-e";
        argv[n++] = (char *)inject[i];
    }
    argv[n++] = "--";
    for (int i = 0; cmd[i]; i++)
        argv[n++] = cmd[i];
    argv[n] = NULL;
    cr_assert_lt(n, max);
}

static void run_case(const struct fault_case *fc)
{
    cr_assert(have_command("strace"), "strace is not installed (make stress installs it: "
              "scripts/ensure-deps stress)");
    work_up();
    char in[128], out[128], lerr[128], cerr[128], llog[128], clog[128];
    workdir_path(in, sizeof in, "input");
    workdir_path(out, sizeof out, "received");
    workdir_path(lerr, sizeof lerr, "listen.err");
    workdir_path(cerr, sizeof cerr, "connect.err");
    workdir_path(llog, sizeof llog, "listen.strace");
    workdir_path(clog, sizeof clog, "connect.strace");
    make_input(in, (size_t)fc->mib * MIB);

    /* The listener: its stdin is empty, so it half-closes at once and only
     * receives. */
    char *lcmd[] = {(char *)sock_bin(), "listen", "127.0.0.1", "0", NULL};
    char *largv[40];
    strace_argv(largv, 40, llog, fc->listen_inject, lcmd);
    int fo = open_file(out, 1);
    pid_t lp;
    int port = start_listener(largv, fo, lerr, &lp);
    close(fo);

    /* The client: the file itself (sendfile path) or the file through a
     * pipe fed by cat (splice or copy path). */
    char portstr[16];
    snprintf(portstr, sizeof portstr, "%d", port);
    char *ccmd[] = {(char *)sock_bin(), "connect", "127.0.0.1", portstr, NULL};
    char *cargv[40];
    strace_argv(cargv, 40, clog, fc->connect_inject, ccmd);
    int cin, feeder = -1;
    if (fc->pipe_input) {
        int p[2];
        cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
        int fin = open_file(in, 0);
        char *cat[] = {"cat", NULL};
        feeder = spawn_fds(cat, fin, p[1], 2);
        close(fin), close(p[1]);
        cin = p[0];
    } else {
        cin = open_file(in, 0);
    }
    int64_t start = now_ms();
    pid_t cp = start_connector(cargv, cin, cerr);
    int cst = wait_exit(cp, TRANSFER_LIMIT_MS);
    int64_t ms = now_ms() - start;
    int lst = wait_exit(lp, 10000);
    if (feeder > 0)
        wait_exit(feeder, 5000);

    char *ctext = slurp(cerr, NULL), *ltext = slurp(lerr, NULL);
    char *ctrace = slurp(clog, NULL), *ltrace = slurp(llog, NULL);
    int cinj = count_injected(ctrace), linj = count_injected(ltrace);
    struct writes w = socket_writes(ctrace);
    fprintf(stderr, "figure: faults: %s: %u MiB in %.2f s, %d faults injected into connect, "
                    "%d into listen; %d writes to the socket, %d of them short\n",
            fc->what, fc->mib, (double)ms / 1000.0, cinj, linj, w.calls, w.partial);
    cr_expect_eq(cst, 0, "sock connect exit %d (-1: killed at the hang bound): %s", cst, ctext);
    cr_expect_eq(lst, 0, "sock listen exit %d: %s", lst, ltext);
    /* The faults really happened: each side whose calls were named saw
     * some of them fail. */
    cr_expect(!fc->connect_inject[0] || cinj > 0, "no fault reached sock connect");
    cr_expect(!fc->listen_inject[0] || linj > 0, "no fault reached sock listen");
    cr_expect(!fc->want_partial || w.partial > 0, "no short write to the socket happened "
              "(%d writes): the case did not test what it means to", w.calls);
    free(ctext), free(ltext), free(ctrace), free(ltrace);
    expect_same_file(in, out);
    work_down();
}

/* ------------------------------------------------------------------------
 * The cases.
 *
 * A fault every N-th call of a kind, with N odd (3 or 5): the tool's loop
 * makes a fixed number of such calls per round (often two: one per
 * direction), and with an even N the same call of every round would fail
 * for ever, a starvation no kernel produces (seen while writing these
 * tests: `when=2+2` on splice failed the listener's pipe-to-file splice in
 * every round).  With N prime to the calls per round, the failing position
 * moves from round to round.
 * ------------------------------------------------------------------------ */

/* Interrupted calls: every fifth data call and every third poll fails with
 * EINTR on both sides, and the listener's first accept too. */
static void eintr_case(const char *what, int pipe_input)
{
    const struct fault_case fc = {
        .what = what,
        .mib = 16,
        .pipe_input = pipe_input,
        .connect_inject = {"inject=sendfile,splice,sendto,recvfrom:error=EINTR:when=2+5",
                           "inject=poll:error=EINTR:when=1+3"},
        .listen_inject = {"inject=accept4:error=EINTR:when=1",
                          "inject=splice,recvfrom,sendto:error=EINTR:when=2+5",
                          "inject=poll:error=EINTR:when=2+3"},
    };
    run_case(&fc);
}

Test(faults, eintr_on_data_calls_and_poll_file_input, .timeout = 120, .fini = work_down)
{
    eintr_case("EINTR, file input", 0);
}

Test(faults, eintr_on_data_calls_and_poll_pipe_input, .timeout = 120, .fini = work_down)
{
    eintr_case("EINTR, pipe input", 1);
}

/* Would-block: a non-blocking call that finds nothing to do (as after a
 * spurious wake-up of poll) must send the loop back to poll, not end it.
 * EAGAIN from accept4 on the blocking acceptor too. */
Test(faults, eagain_on_data_calls, .timeout = 120, .fini = work_down)
{
    static const struct fault_case fc = {
        .what = "EAGAIN, pipe input",
        .mib = 16,
        .pipe_input = 1,
        .connect_inject = {"inject=sendfile,splice,sendto,recvfrom:error=EAGAIN:when=1+3"},
        .listen_inject = {"inject=accept4:error=EAGAIN:when=1",
                          "inject=splice,recvfrom:error=EAGAIN:when=1+3"},
    };
    run_case(&fc);
}

/* Real short writes (see the top of the file).  On loopback the kernel
 * grows a socket's send buffer to megabytes and wakes a writer only once a
 * third of it is free, so the tool's 1 MiB writes nearly always fit whole.
 * This test therefore runs in a network namespace of its own (anonymous: it
 * vanishes with the test process) whose TCP buffers are capped at 64 KiB:
 * every 1 MiB sendfile or splice can then move only part of its bytes.  The
 * sender sees EINTR now and then too. */
static void enter_small_buffer_netns(void)
{
    cr_assert_eq(unshare(CLONE_NEWNET), 0, "unshare(CLONE_NEWNET): %s (the short-write "
                 "cases need root)", strerror(errno));
    loopback_up();
    /* These sysctls belong to the network namespace of the process that
     * opens them: this one, not the machine's. */
    const char *files[] = {"/proc/sys/net/ipv4/tcp_wmem", "/proc/sys/net/ipv4/tcp_rmem"};
    for (int i = 0; i < 2; i++) {
        FILE *f = fopen(files[i], "we");
        cr_assert_not_null(f, "%s: %s", files[i], strerror(errno));
        fputs("4096 16384 65536\n", f);
        cr_assert_eq(fclose(f), 0, "%s: %s", files[i], strerror(errno));
    }
}

static void short_writes_case(const char *what, int pipe_input)
{
    const struct fault_case fc = {
        .what = what,
        .mib = 32,
        .pipe_input = pipe_input,
        .connect_inject = {"inject=sendfile,splice,sendto:error=EINTR:when=3+5"},
        .listen_inject = {"inject=splice,recvfrom:error=EINTR:when=2+5"},
        .want_partial = 1,
    };
    enter_small_buffer_netns();
    run_case(&fc);
}

Test(faults, short_writes_file_input, .timeout = 120, .fini = work_down)
{
    short_writes_case("short writes, file input", 0);
}

Test(faults, short_writes_pipe_input, .timeout = 120, .fini = work_down)
{
    short_writes_case("short writes, pipe input", 1);
}

/* ------------------------------------------------------------------------
 * A slow consumer: the listener's output is a pipe nobody reads for a while.
 *
 * Not a fault strace injects, but one strace showed: while the output is
 * blocked, the tool must wait in poll() (as reliability scenario 30 asks of
 * accept: no busy spin), and then deliver everything once the reader comes
 * back.  CPU time is the measure: a process waiting in poll uses next to
 * none, a spinning one all of it; the bound (half the blocked time) is a
 * bound on a spin, not a performance threshold.
 * ------------------------------------------------------------------------ */

#define BLOCKED_MS 2000

/* CPU time (user + system) used so far by a child, in milliseconds. */
static long cpu_ms(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    char *text = slurp(path, NULL);
    const char *p = strrchr(text, ')'); /* the command name may hold spaces */
    unsigned long utime = 0, stime = 0;
    int ok = p && sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime,
                         &stime) == 2;
    free(text);
    cr_assert(ok, "cannot read the CPU time of %d", (int)pid);
    return (long)((utime + stime) * 1000 / (unsigned long)sysconf(_SC_CLK_TCK));
}

static void slow_output_reader(void)
{
    work_up();
    char in[128], lerr[128], cerr[128];
    workdir_path(in, sizeof in, "input");
    workdir_path(lerr, sizeof lerr, "listen.err");
    workdir_path(cerr, sizeof cerr, "connect.err");
    const size_t len = 16 * (size_t)MIB;
    make_input(in, len);

    int out[2];
    cr_assert_eq(pipe2(out, O_CLOEXEC), 0);
    char *largv[] = {(char *)sock_bin(), "listen", "127.0.0.1", "0", NULL};
    pid_t lp;
    int port = start_listener(largv, out[1], lerr, &lp);
    close(out[1]);
    char portstr[16];
    snprintf(portstr, sizeof portstr, "%d", port);
    char *cargv[] = {(char *)sock_bin(), "connect", "127.0.0.1", portstr, NULL};
    pid_t cp = start_connector(cargv, open_file(in, 0), cerr);

    /* Nobody reads the listener's output yet: its pipe fills at once and
     * the listener has to wait. */
    long cpu_before = cpu_ms(lp);
    sleep_ms(BLOCKED_MS);
    long cpu_blocked = cpu_ms(lp) - cpu_before;

    /* The reader comes back: everything must arrive. */
    char *got = malloc(len + 1);
    cr_assert_not_null(got);
    size_t n = 0;
    for (int64_t end = now_ms() + 30000; now_ms() < end;) {
        ssize_t r = read(out[0], got + n, len + 1 - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        n += (size_t)r;
        if (n > len)
            break;
    }
    close(out[0]);
    int cst = wait_exit(cp, 10000), lst = wait_exit(lp, 10000);
    char *want = slurp(in, NULL);
    int same = n == len && memcmp(want, got, len) == 0;
    free(want), free(got);

    fprintf(stderr, "figure: faults: output blocked for %d ms: the listener used %ld ms of CPU "
                    "meanwhile; then %zu of %zu bytes arrived\n",
            BLOCKED_MS, cpu_blocked, n, len);
    cr_expect_eq(cst, 0, "sock connect exit %d", cst);
    cr_expect_eq(lst, 0, "sock listen exit %d", lst);
    cr_expect(same, "the data differ (%zu bytes of %zu received)", n, len);
    cr_expect_lt(cpu_blocked, BLOCKED_MS / 2, "sock listen spun while its output was blocked: "
                 "%ld ms of CPU in %d ms", cpu_blocked, BLOCKED_MS);
    work_down();
}

Test(faults, slow_output_reader_no_busy_spin, .timeout = 60, .fini = work_down)
{
    slow_output_reader();
}
