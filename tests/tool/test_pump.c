/*
 * test_pump.c - the data mover of `sock connect` / `sock listen` in the
 * corners a review found: urgent (out-of-band) data in the middle of a
 * spliced stream, a reset right behind the last data, standard input or
 * output closed or a blocking socket, and --timeout with the progress
 * display on.  Loopback only, ephemeral ports, every wait bounded.
 */
#include "harness.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sock.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A listener of the library's on 127.0.0.1, port in `port`. */
static void lib_listener(sock_t *acep, char *port, size_t len)
{
    sock_init(acep);
    sock_set_timeout(acep, 5000);
    cr_assert_eq(sock_bind(acep, "127.0.0.1", "0"), 0, "%s", sock_error(acep));
    cr_assert_eq(sock_listen(acep, 4), 0, "%s", sock_error(acep));
    snprintf(port, len, "%d", sock_local_port(acep));
}

/* `sock listen 127.0.0.1 0` with nothing to send; returns the port. */
static int tool_listener(proc_t *p, char *const extra[])
{
    char *argv[8] = {(char *)sock_bin()};
    int n = 1;
    for (; extra && *extra; extra++)
        argv[n++] = *extra;
    argv[n++] = "listen";
    argv[n++] = "127.0.0.1";
    argv[n++] = "0";
    argv[n] = NULL;
    cr_assert_eq(proc_start(p, argv), 0);
    close(p->in);
    p->in = -1;
    char log[512] = "";
    cr_assert(proc_wait_for(p->err, "listening on", log, sizeof log, 5000), "%s", log);
    int port = parse_listening_port(log);
    cr_assert_gt(port, 0, "%s", log);
    return port;
}

Test(pump, urgent_data_does_not_stop_the_stream, .timeout = 30)
{
    /* Urgent data stops splice() at its mark; the stream must go on past
     * it (the urgent byte itself is not part of the stream) and the tool
     * must not spin.  Standard output is a pipe: the splice path. */
    proc_t p;
    int port = tool_listener(&p, NULL);
    sock_t c;
    char ports[8];
    snprintf(ports, sizeof ports, "%d", port);
    sock_init(&c);
    cr_assert_eq(sock_connect(&c, "127.0.0.1", ports), 0, "%s", sock_error(&c));
    cr_assert_eq(sock_send_all(&c, "hello", 5, NULL), 0);
    usleep(100000);
    cr_assert_eq(send(sock_fd(&c), "X", 1, MSG_OOB), 1);
    char world[5000];
    for (int i = 0; i < 1000; i++)
        memcpy(world + 5 * i, "world", 5);
    cr_assert_eq(sock_send_all(&c, world, sizeof world, NULL), 0);
    sock_shutdown(&c, SOCK_SHUT_WRITE);
    size_t n = 0;
    char *out = proc_read_all(p.out, &n, 10000);
    sock_close(&c);
    int st = proc_wait(&p, 5000);
    cr_expect_eq(st, 0, "sock listen exit %d", st);
    cr_assert(out, "no end of output within 10 s");
    cr_expect_eq(n, 5005, "got %zu bytes, not hello + 1000 x world", n);
    cr_expect(n == 5005 && memcmp(out, "hello", 5) == 0 && memcmp(out + 5, world, 5000) == 0,
              "the stream differs");
    free(out);
}

Test(pump, reply_before_a_reset_is_kept, .timeout = 30)
{
    /* The peer sends 100,000 bytes and resets while sock is stopped, so
     * both arrive before it reads: the bytes still reach standard output,
     * then the reset is reported with exit status 1. */
    sock_t acep, srv;
    char port[8];
    lib_listener(&acep, port, sizeof port);
    char *argv[] = {(char *)sock_bin(), "connect", "127.0.0.1", port, NULL};
    proc_t p;
    cr_assert_eq(proc_start(&p, argv), 0);
    cr_assert_eq(sock_accept(&acep, &srv), 0, "%s", sock_error(&acep));
    kill(p.pid, SIGSTOP);
    static char data[100000];
    memset(data, 'r', sizeof data);
    cr_assert_eq(sock_send_all(&srv, data, sizeof data, NULL), 0);
    usleep(100000);
    sock_abort(&srv);
    kill(p.pid, SIGCONT);
    size_t n = 0;
    char *out = proc_read_all(p.out, &n, 10000);
    char *err = proc_read_all(p.err, NULL, 5000);
    int st = proc_wait(&p, 5000);
    cr_expect_eq(n, sizeof data, "%zu of %zu bytes written out before the reset", n,
                 sizeof data);
    cr_expect_eq(st, 1, "exit %d", st);
    cr_expect(err && strstr(err, "reset"), "stderr: %s", err ? err : "");
    free(out), free(err);
    sock_close(&acep);
}

Test(pump, reset_after_the_peers_end_is_a_reset, .timeout = 30)
{
    /* The peer ends its side, then resets while sock still sends: Linux
     * answers the send with EPIPE (the reset came in CLOSE_WAIT), which a
     * person must read as the reset it is, not as "Broken pipe". */
    sock_t acep, srv;
    char port[8];
    lib_listener(&acep, port, sizeof port);
    char *argv[] = {(char *)sock_bin(), "connect", "127.0.0.1", port, NULL};
    proc_t p;
    cr_assert_eq(proc_start(&p, argv), 0);
    cr_assert_eq(sock_accept(&acep, &srv), 0, "%s", sock_error(&acep));
    cr_assert_eq(sock_shutdown(&srv, SOCK_SHUT_WRITE), 0);
    cr_assert_eq(write(p.in, "hello", 5), 5);
    char got[5];
    cr_assert_eq(sock_recv_all(&srv, got, 5, NULL), 0, "%s", sock_error(&srv));
    sock_abort(&srv);
    usleep(100000);
    /* Bounded: the tool ends at the reset, and then the pipe breaks. */
    signal(SIGPIPE, SIG_IGN);
    for (int i = 0; i < 50 && write(p.in, "more\n", 5) == 5; i++)
        usleep(20000);
    close(p.in);
    p.in = -1;
    char *err = proc_read_all(p.err, NULL, 10000);
    int st = proc_wait(&p, 5000);
    cr_expect_eq(st, 1, "exit %d", st);
    cr_expect(err && strstr(err, "reset by peer") && !strstr(err, "Broken pipe"), "stderr: %s",
              err ? err : "");
    free(err);
    sock_close(&acep);
}

Test(pump, closed_stdin_is_not_the_connection, .timeout = 30)
{
    /* With standard input closed, the connection must not become it (and
     * echo the peer's bytes back to the peer). */
    sock_t acep, srv;
    char port[8];
    lib_listener(&acep, port, sizeof port);
    char *argv[] = {"/bin/sh", "-c", "exec \"$0\" connect 127.0.0.1 \"$1\" <&-",
                    (char *)sock_bin(), port, NULL};
    proc_t p;
    cr_assert_eq(proc_start(&p, argv), 0);
    cr_assert_eq(sock_accept(&acep, &srv), 0, "%s", sock_error(&acep));
    cr_assert_eq(sock_send_all(&srv, "hello\n", 6, NULL), 0);
    char buf[64];
    /* No input means end of input: the tool half-closes at once. */
    ssize_t r = sock_recv(&srv, buf, sizeof buf);
    cr_expect_eq(r, 0, "the server got %zd bytes back instead of end of stream", r);
    sock_close(&srv);
    size_t n = 0;
    char *out = proc_read_all(p.out, &n, 10000);
    cr_expect(out && n == 6 && memcmp(out, "hello\n", 6) == 0, "stdout: %s", out ? out : "");
    cr_expect_eq(proc_wait(&p, 5000), 0);
    free(out);
    sock_close(&acep);
}

Test(pump, timeout_holds_with_progress_on, .timeout = 30)
{
    proc_t l;
    int port = tool_listener(&l, NULL);
    char ports[8];
    snprintf(ports, sizeof ports, "%d", port);
    /* Standard input open and silent, the peer silent: nothing moves. */
    char *argv[] = {(char *)sock_bin(), "--progress", "--timeout", "500", "connect",
                    "127.0.0.1", ports, NULL};
    proc_t p;
    cr_assert_eq(proc_start(&p, argv), 0);
    double t0 = now_s();
    int st = proc_wait(&p, 10000);
    double took = now_s() - t0;
    cr_expect_eq(st, 1, "exit %d after %.2f s", st, took);
    cr_expect_lt(took, 5.0, "--timeout 500 with --progress took %.2f s", took);
    proc_kill(&l);
}

/* Write len bytes to fd, then end the stream; at most 20 s in all (a
 * send timeout bounds each write).  Returns the bytes written. */
static size_t write_all_then_end(int fd, size_t len)
{
    struct timeval tv = {20, 0};
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    static char chunk[65536];
    memset(chunk, 'u', sizeof chunk);
    size_t done = 0;
    while (done < len) {
        size_t want = len - done < sizeof chunk ? len - done : sizeof chunk;
        ssize_t w = write(fd, chunk, want);
        if (w <= 0)
            break;
        done += (size_t)w;
    }
    shutdown(fd, SHUT_WR);
    return done;
}

Test(pump, blocking_socket_as_stdin_and_stdout, .timeout = 60)
{
    /* Standard input and output are one blocking socket (socat EXEC:,
     * inetd): no call may wait on it while the other direction needs
     * service.  The local program writes its 16 MiB first and reads the
     * 16 MiB reply only then, so sock must keep taking input while its
     * output waits. */
    enum { LEN = 16 << 20 };
    char dir[] = "/tmp/sock-pump-XXXXXX";
    cr_assert(mkdtemp(dir));
    char in_path[64], out_path[64];
    snprintf(in_path, sizeof in_path, "%s/in", dir);
    snprintf(out_path, sizeof out_path, "%s/out", dir);
    FILE *f = fopen(in_path, "w");
    cr_assert(f);
    for (int i = 0; i < LEN / 4096; i++) {
        char page[4096];
        memset(page, 'd', sizeof page);
        fwrite(page, 1, sizeof page, f);
    }
    fclose(f);
    /* The remote end: sock listen, sending the file, receiving to a file. */
    char script[512];
    snprintf(script, sizeof script, "exec \"$0\" listen 127.0.0.1 0 < %s > %s", in_path, out_path);
    char *largv[] = {"/bin/sh", "-c", script, (char *)sock_bin(), NULL};
    proc_t l;
    cr_assert_eq(proc_start(&l, largv), 0);
    char log[512] = "";
    cr_assert(proc_wait_for(l.err, "listening on", log, sizeof log, 5000), "%s", log);
    char port[8];
    snprintf(port, sizeof port, "%d", parse_listening_port(log));

    int sp[2];
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp), 0);
    pid_t c = fork();
    cr_assert_geq(c, 0);
    if (c == 0) {
        dup2(sp[1], 0);
        dup2(sp[1], 1);
        execl(sock_bin(), sock_bin(), "connect", "127.0.0.1", port, (char *)NULL);
        _exit(127);
    }
    close(sp[1]);
    size_t put = write_all_then_end(sp[0], LEN);
    size_t got = 0;
    char buf[65536];
    double end = now_s() + 40;
    ssize_t r;
    while (now_s() < end && (r = read(sp[0], buf, sizeof buf)) > 0)
        got += (size_t)r;
    int cst = 0;
    for (int i = 0; i < 100 && waitpid(c, &cst, WNOHANG) == 0; i++)
        usleep(50000);
    if (waitpid(c, &cst, WNOHANG) == 0) {
        kill(c, SIGKILL);
        waitpid(c, &cst, 0);
    }
    int lst = proc_wait(&l, 10000);
    long received = -1;
    FILE *o = fopen(out_path, "r");
    if (o) {
        fseek(o, 0, SEEK_END);
        received = ftell(o);
        fclose(o);
    }
    unlink(in_path), unlink(out_path), rmdir(dir);
    close(sp[0]);
    cr_expect_eq(put, (size_t)LEN, "sock took %zu of %d bytes of input, then stalled", put, LEN);
    cr_expect_eq(got, (size_t)LEN, "local side got %zu of %d bytes", got, LEN);
    cr_expect_eq(received, LEN, "remote got %ld of %d bytes", received, LEN);
    cr_expect(WIFEXITED(cst) && WEXITSTATUS(cst) == 0, "sock connect did not end cleanly");
    cr_expect_eq(lst, 0, "sock listen exit %d", lst);
}

/* ------------------------------------------------------------------ issue 9 */

#include <poll.h>
#include <pty.h>

/* Run `sock connect 127.0.0.1 port` with stderr on a new terminal (a pty),
 * and stdin and stdout on it too when interactive, else on a pipe (kept
 * open: *in_w) and /dev/null.  Returns the child; the terminal's master
 * side in *master. */
static pid_t connect_on_pty(const char *port, int interactive, int *master, int *in_w)
{
    int m, s, p[2];
    cr_assert_eq(openpty(&m, &s, NULL, NULL, NULL), 0, "openpty: %s", strerror(errno));
    cr_assert_eq(pipe(p), 0);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        int nul = open("/dev/null", O_WRONLY);
        setsid();
        dup2(interactive ? s : p[0], 0);
        dup2(interactive ? s : nul, 1);
        dup2(s, 2);
        close(m), close(p[1]);
        execl(sock_bin(), sock_bin(), "connect", "127.0.0.1", port, (char *)NULL);
        _exit(127);
    }
    close(s), close(p[0]);
    *master = m;
    *in_w = p[1];
    return pid;
}

/* What the terminal showed until the child ended (at most 10 s). */
static void read_pty(int master, char *buf, size_t len)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; i < 1000 && used + 1 < len; i++) {
        struct pollfd pf = {.fd = master, .events = POLLIN};
        if (poll(&pf, 1, 10) == 0)
            continue;
        ssize_t n = read(master, buf + used, len - 1 - used);
        if (n <= 0)
            break; /* EIO: the child's side is closed */
        used += (size_t)n;
        buf[used] = '\0';
    }
}

/* Issue 9: with a terminal on standard input (a person typing), progress
 * stays off by default: it would land in the middle of the typed text. */
Test(pump, no_progress_by_default_in_an_interactive_session, .timeout = 30)
{
    sock_t acep, peer;
    char port[8];
    lib_listener(&acep, port, sizeof port);
    int master, in_w;
    pid_t pid = connect_on_pty(port, 1, &master, &in_w);
    cr_assert_eq(sock_accept(&acep, &peer), 0, "%s", sock_error(&acep));
    cr_assert_eq(sock_send_all(&peer, "hi\n", 3, NULL), 0);
    sock_close(&peer);
    char screen[4096];
    read_pty(master, screen, sizeof screen);
    int st;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %#x: %s", st, screen);
    cr_expect(strstr(screen, "hi") && !strstr(screen, "MiB"), "progress shown: '%s'", screen);
    close(master), close(in_w);
    sock_close(&acep);
}

/* Issue 9: a transfer between pipes watched on a terminal shows progress,
 * and Ctrl-C (SIGINT) finishes its line before the process ends. */
Test(pump, progress_line_finished_on_sigint, .timeout = 30)
{
    sock_t acep, peer;
    char port[8];
    lib_listener(&acep, port, sizeof port);
    int master, in_w;
    pid_t pid = connect_on_pty(port, 0, &master, &in_w);
    cr_assert_eq(sock_accept(&acep, &peer), 0, "%s", sock_error(&acep));
    cr_assert_eq(sock_send_all(&peer, "data\n", 5, NULL), 0);
    /* Wait for the first progress line, then interrupt. */
    char screen[4096] = "";
    size_t used = 0;
    for (int i = 0; i < 500 && !strstr(screen, "MiB/s"); i++) {
        struct pollfd pf = {.fd = master, .events = POLLIN};
        if (poll(&pf, 1, 10) <= 0)
            continue;
        ssize_t n = read(master, screen + used, sizeof screen - 1 - used);
        if (n <= 0)
            break;
        used += (size_t)n;
        screen[used] = '\0';
    }
    cr_assert(strstr(screen, "MiB/s"), "no progress line: '%s'", screen);
    cr_assert_eq(kill(pid, SIGINT), 0);
    read_pty(master, screen + used, sizeof screen - used);
    int st;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    cr_expect(WIFSIGNALED(st) && WTERMSIG(st) == SIGINT, "status %#x", st);
    size_t len = strlen(screen);
    cr_expect(len > 0 && screen[len - 1] == '\n', "line not finished: '%s'", screen);
    close(master), close(in_w);
    sock_close(&peer);
    sock_close(&acep);
}
