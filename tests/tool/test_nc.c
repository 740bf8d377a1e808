/*
 * test_nc.c - the nc habits of the `sock` tool: Unix sockets (-U) for
 * connect, listen and echo, with the stale-file and live-server cases and
 * abstract names; the source address and port (-s/-p); the -v lines; -n
 * refusing names; --exec, one command per client, many at once, with no
 * descriptor of the tool in the child.
 *
 * Each test works in a fresh mkdtemp() directory that the .fini function
 * removes, with every child it started killed, also after a failed
 * assertion.  Network traffic stays on 127.0.0.0/8 and Unix sockets.
 */
#include "harness.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define WAIT_MS 10000

static struct {
    char dir[64];
    proc_t p[3];
} run;

static const proc_t no_proc = {.pid = -1, .in = -1, .out = -1, .err = -1};

static void setup(void)
{
    for (int i = 0; i < 3; i++)
        run.p[i] = no_proc;
    signal(SIGPIPE, SIG_IGN);
    snprintf(run.dir, sizeof run.dir, "/tmp/sock-nc-XXXXXX");
    if (!mkdtemp(run.dir))
        run.dir[0] = '\0';
}

static void cleanup(void)
{
    for (int i = 0; i < 3; i++)
        if (run.p[i].pid > 0)
            proc_kill(&run.p[i]);
    if (!run.dir[0])
        return;
    DIR *d = opendir(run.dir);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL)
            if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
                unlinkat(dirfd(d), e->d_name, 0);
        closedir(d);
    }
    rmdir(run.dir);
}

#define NC_TEST(name) Test(nc, name, .init = setup, .fini = cleanup, .timeout = 60)
/* 100 shells under ASan on two cores take a while. */
#define NC_TEST_LONG(name) Test(nc, name, .init = setup, .fini = cleanup, .timeout = 180)

static const char *path_in_dir(char *buf, size_t len, const char *name)
{
    cr_assert(run.dir[0], "mkdtemp failed");
    snprintf(buf, len, "%s/%s", run.dir, name);
    return buf;
}

/* A unique abstract name for this test process. */
static const char *abstract_name(char *buf, size_t len)
{
    snprintf(buf, len, "@sock-test-nc-%ld", (long)getpid());
    return buf;
}

/* Start the sock command words (NULL-terminated) as run.p[i], its stdin
 * given stdin_data and closed. */
static proc_t *start_sock(int i, const char *stdin_data, char *const words[])
{
    char *argv[16] = {(char *)sock_bin()};
    int n = 1;
    for (; words[n - 1] && n < 15; n++)
        argv[n] = words[n - 1];
    argv[n] = NULL;
    cr_assert_eq(proc_start(&run.p[i], argv), 0, "cannot start %s", sock_bin());
    if (stdin_data && *stdin_data)
        cr_assert_eq(write(run.p[i].in, stdin_data, strlen(stdin_data)),
                     (ssize_t)strlen(stdin_data));
    close(run.p[i].in);
    run.p[i].in = -1;
    return &run.p[i];
}

/* Wait for "listening on" on p's stderr (the whole line); the text read
 * is left in log. */
static void wait_listening(proc_t *p, char *log, size_t len)
{
    log[0] = '\0';
    cr_assert(proc_wait_for(p->err, "listening on", log, len, WAIT_MS),
              "no 'listening on' line: %s", log);
    if (!strchr(strstr(log, "listening on"), '\n'))
        proc_wait_for(p->err, "\n", log, len, WAIT_MS);
}

static int run_sock(char *const words[], const char *in, char **out, char **err)
{
    char *argv[20] = {(char *)sock_bin()};
    int n = 1;
    for (; words[n - 1] && n < 19; n++)
        argv[n] = words[n - 1];
    argv[n] = NULL;
    return proc_run(argv, in, in ? strlen(in) : 0, out, NULL, err, WAIT_MS);
}

/* Standard error to its end and the exit status, for a child of run.p. */
static int finish(proc_t *p, char **err)
{
    *err = proc_read_all(p->err, NULL, WAIT_MS);
    if (!*err)
        *err = strdup("(stderr not closed in time)");
    int st = proc_wait(p, WAIT_MS);
    p->pid = -1;
    return st;
}

/* ------------------------------------------------------------- Unix sockets */

/* listen -U and connect -U move data both ways with the half-close, and
 * the listener's file is gone when it ends. */
static void unix_round_trip(const char *where)
{
    char log[1024];
    proc_t *srv = start_sock(0, "reply over unix\n", (char *[]){"listen", "-U", (char *)where, NULL});
    wait_listening(srv, log, sizeof log);
    char want[160];
    snprintf(want, sizeof want, "listening on unix:%s", where);
    cr_expect(strstr(log, want), "'%s' not in '%s'", want, log);
    char *out = NULL, *err = NULL;
    int st = run_sock((char *[]){"connect", "-U", (char *)where, NULL}, "request over unix\n",
                      &out, &err);
    cr_expect_eq(st, 0, "connect -U exit %d: %s", st, err);
    cr_expect_str_eq(out, "reply over unix\n");
    char *got = proc_read_all(srv->out, NULL, WAIT_MS);
    cr_expect_str_eq(got, "request over unix\n");
    char *serr;
    cr_expect_eq(finish(srv, &serr), 0, "listen -U: %s", serr);
    if (where[0] == '/') {
        struct stat sb;
        cr_expect(lstat(where, &sb) < 0 && errno == ENOENT, "%s is still there after the end",
                  where);
    }
    free(out), free(err), free(got), free(serr);
}

NC_TEST(unix_connect_listen_file)
{
    char path[128];
    unix_round_trip(path_in_dir(path, sizeof path, "s.sock"));
}

NC_TEST(unix_connect_listen_abstract)
{
    char name[64];
    unix_round_trip(abstract_name(name, sizeof name));
}

NC_TEST(unix_echo)
{
    char path[128], log[1024];
    path_in_dir(path, sizeof path, "echo.sock");
    proc_t *srv = start_sock(0, NULL, (char *[]){"echo", "-U", path, NULL});
    wait_listening(srv, log, sizeof log);
    char *out = NULL, *err = NULL;
    int st = run_sock((char *[]){"connect", "-U", path, NULL}, "echo me\n", &out, &err);
    cr_expect_eq(st, 0, "connect: %s", err);
    cr_expect_str_eq(out, "echo me\n");
    kill(srv->pid, SIGTERM);
    char *serr;
    cr_expect_eq(finish(srv, &serr), 0, "echo -U: %s", serr);
    cr_expect(strstr(serr, "1 clients served"), "%s", serr);
    free(out), free(err), free(serr);
}

/* A socket file whose server died (bound, never removed) is replaced. */
NC_TEST(unix_stale_file_replaced)
{
    char path[128], log[1024];
    path_in_dir(path, sizeof path, "stale.sock");
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    cr_assert_lt(strlen(path), sizeof sun.sun_path);
    memcpy(sun.sun_path, path, strlen(path) + 1);
    cr_assert_eq(bind(fd, (struct sockaddr *)&sun, sizeof sun), 0, "%s", strerror(errno));
    close(fd); /* the file stays: the "dead server" */
    proc_t *srv = start_sock(0, "fresh\n", (char *[]){"listen", "-U", path, NULL});
    wait_listening(srv, log, sizeof log);
    char *out = NULL;
    cr_expect_eq(run_sock((char *[]){"connect", "-U", path, NULL}, "", &out, NULL), 0);
    cr_expect_str_eq(out, "fresh\n");
    free(out);
}

/* A live server's path is never taken: the second listener fails with
 * the reason, and the first still serves.  The first keeps open (-k):
 * the library's liveness probe is a connection, which a one-client
 * server would take as its client. */
NC_TEST(unix_live_server_kept)
{
    char path[128], log[1024];
    path_in_dir(path, sizeof path, "live.sock");
    proc_t *srv = start_sock(0, NULL, (char *[]){"listen", "-k", "-U", path, NULL});
    wait_listening(srv, log, sizeof log);
    char *err = NULL;
    int st = run_sock((char *[]){"listen", "-U", path, NULL}, NULL, NULL, &err);
    cr_expect_eq(st, 1, "second listener exit %d: %s", st, err);
    cr_expect(strstr(err, "a server is accepting connections there"), "no reason: %s", err);
    char *out = NULL;
    cr_expect_eq(run_sock((char *[]){"connect", "-U", path, "-v", NULL}, "to the first\n", &out,
                          NULL), 0);
    char got[64] = "";
    cr_expect(proc_wait_for(srv->out, "to the first", got, sizeof got, WAIT_MS), "'%s'", got);
    free(err), free(out);
}

NC_TEST(unix_bad_input)
{
    char longp[160];
    memset(longp, 'a', 120);
    longp[0] = '/';
    longp[120] = '\0';
    struct {
        char *words[8];
        const char *says;
    } cases[] = {
        {{"connect", "-U", longp, NULL}, "too long"},
        {{"connect", "-U", "", NULL}, "needs a PATH"},
        {{"connect", "-U", "/x", "80", NULL}, "takes no HOST or PORT"},
        {{"connect", "-U", "/x", "-s", "127.0.0.1", NULL}, "do not go with -U"},
        {{"listen", "-U", "/x", "-4", NULL}, "-4 does not apply"},
        {{"echo", "-U", "@", NULL}, "needs a PATH"},
        /* Two colons pass for an IPv6 address in the words' form. */
        {{"connect", "unix::x", "80", NULL}, "names a Unix socket: write -U PATH"},
        {{"listen", "unix::1", "0", NULL}, "names a Unix socket: write -U PATH"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *err = NULL;
        int st = run_sock(cases[i].words, NULL, NULL, &err);
        cr_expect_eq(st, 2, "case %zu: exit %d: %s", i, st, err);
        cr_expect(strstr(err, cases[i].says) && !strchr(err, '\n')[1], "case %zu: '%s'", i, err);
        free(err);
    }
}

/* ------------------------------------------------------------------ -s -p */

/* A port free on addr a moment ago (for -p; the caller retries). */
static int free_port(const char *addr)
{
    struct sockaddr_in a = {.sin_family = AF_INET};
    inet_pton(AF_INET, addr, &a.sin_addr);
    socklen_t len = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    cr_assert_eq(bind(fd, (struct sockaddr *)&a, len), 0);
    getsockname(fd, (struct sockaddr *)&a, &len);
    close(fd);
    return ntohs(a.sin_port);
}

/* A listener of the test's own on 127.0.0.1 port 0. */
static int test_listener(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    cr_assert_eq(bind(fd, (struct sockaddr *)&a, len), 0);
    cr_assert_eq(listen(fd, 128), 0);
    getsockname(fd, (struct sockaddr *)&a, &len);
    *port = ntohs(a.sin_port);
    return fd;
}

/* accept with a bounded wait; the peer's address in *peer. */
static int accept_within(int lfd, struct sockaddr_in *peer, int ms)
{
    struct pollfd p = {.fd = lfd, .events = POLLIN};
    if (poll(&p, 1, ms) != 1)
        return -1;
    socklen_t len = sizeof *peer;
    return accept4(lfd, (struct sockaddr *)peer, &len, SOCK_CLOEXEC);
}

NC_TEST(source_address_and_port_seen_by_server)
{
    int port, lfd = test_listener(&port);
    char ps[8], src_port[8];
    snprintf(ps, sizeof ps, "%d", port);
    for (int attempt = 0; attempt < 5; attempt++) {
        int sp = free_port("127.0.0.2");
        snprintf(src_port, sizeof src_port, "%d", sp);
        char *err = NULL;
        proc_t *c = start_sock(0, "from a chosen source\n",
                               (char *[]){"connect", "-s", "127.0.0.2", "-p", src_port,
                                          "127.0.0.1", ps, NULL});
        struct sockaddr_in peer;
        int cfd = accept_within(lfd, &peer, WAIT_MS);
        if (cfd < 0) {
            int st = finish(c, &err);
            cr_assert(strstr(err, "in use"), "no connection; sock exit %d: %s", st, err);
            free(err);
            continue; /* someone took the port meanwhile */
        }
        char addr[32];
        inet_ntop(AF_INET, &peer.sin_addr, addr, sizeof addr);
        cr_expect_str_eq(addr, "127.0.0.2");
        cr_expect_eq(ntohs(peer.sin_port), sp);
        char buf[64] = "";
        ssize_t n = recv(cfd, buf, sizeof buf - 1, MSG_WAITALL);
        cr_expect_str_eq(n > 0 ? buf : "", "from a chosen source\n");
        close(cfd);
        cr_expect_eq(finish(c, &err), 0, "%s", err);
        free(err);
        close(lfd);
        return;
    }
    cr_assert_fail("the source port was taken 5 times");
}

/* -p alone binds the target family's wildcard, so an IPv4 target works. */
NC_TEST(source_port_alone)
{
    int port, lfd = test_listener(&port);
    char ps[8];
    snprintf(ps, sizeof ps, "%d", port);
    proc_t *c = start_sock(0, "", (char *[]){"connect", "-p", "0", "127.0.0.1", ps, NULL});
    struct sockaddr_in peer;
    int cfd = accept_within(lfd, &peer, WAIT_MS);
    cr_assert_geq(cfd, 0, "no connection");
    close(cfd);
    char *err;
    cr_expect_eq(finish(c, &err), 0, "%s", err);
    free(err);
    close(lfd);
}

NC_TEST(source_bad_input)
{
    struct {
        char *words[10];
        int status;
        const char *says;
    } cases[] = {
        {{"connect", "-p", "99999", "127.0.0.1", "1", NULL}, 2, "-p '99999'"},
        {{"connect", "-s", "", "127.0.0.1", "1", NULL}, 2, "-s needs an address"},
        {{"connect", "-s", "::1", "127.0.0.1", "1", NULL}, 2, "IPv6"},
        {{"connect", "-s", "192.0.2.1", "127.0.0.1", "1", NULL}, 1, "192.0.2.1"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *err = NULL;
        int st = run_sock(cases[i].words, NULL, NULL, &err);
        cr_expect_eq(st, cases[i].status, "case %zu: exit %d: %s", i, st, err);
        cr_expect(strstr(err, cases[i].says), "case %zu: '%s'", i, err);
        free(err);
    }
}

/* ---------------------------------------------------------------------- -v */

NC_TEST(verbose_lines_and_quiet_default)
{
    char log[2048];
    proc_t *srv = start_sock(0, "", (char *[]){"listen", "-k", "-v", "127.0.0.1", "0", NULL});
    wait_listening(srv, log, sizeof log);
    int port = parse_listening_port(log);
    char ps[8], *err = NULL;
    snprintf(ps, sizeof ps, "%d", port);
    cr_expect_eq(run_sock((char *[]){"connect", "-v", "127.0.0.1", ps, NULL}, "a", NULL, &err),
                 0);
    /* "connected to 127.0.0.1:PORT from 127.0.0.1:N" */
    char want[64];
    snprintf(want, sizeof want, "connected to 127.0.0.1:%d from 127.0.0.1:", port);
    cr_expect(strncmp(err, want, strlen(want)) == 0, "'%s'", err);
    int from = atoi(err + strlen(want));
    cr_expect_gt(from, 0);
    char line[64];
    snprintf(line, sizeof line, "connection from 127.0.0.1:%d\n", from);
    cr_expect(proc_wait_for(srv->err, line, log, sizeof log, WAIT_MS), "no '%s' in '%s'", line,
              log);
    free(err);
    /* Without -v: not a word on stderr. */
    cr_expect_eq(run_sock((char *[]){"connect", "127.0.0.1", ps, NULL}, "b", NULL, &err), 0);
    cr_expect_str_eq(err, "");
    free(err);
}

/* A Unix client: who it is (the connecting sock's pid, our uid and gid). */
NC_TEST(verbose_unix_client_credentials)
{
    char path[128], log[2048];
    path_in_dir(path, sizeof path, "cred.sock");
    proc_t *srv = start_sock(0, "", (char *[]){"listen", "-v", "-U", path, NULL});
    wait_listening(srv, log, sizeof log);
    proc_t *c = start_sock(1, "x", (char *[]){"connect", "-U", path, NULL});
    char want[128];
    snprintf(want, sizeof want, "connection from unix:(unnamed) (pid %ld, uid %ld, gid %ld)\n",
             (long)c->pid, (long)getuid(), (long)getgid());
    cr_expect(proc_wait_for(srv->err, want, log, sizeof log, WAIT_MS), "no '%s' in '%s'", want,
              log);
}

/* ---------------------------------------------------------------------- -n */

/* Inside a namespace with no way out, so that a lookup that should not
 * happen could not leave the machine either. */
NC_TEST(numeric_refuses_names)
{
    enter_offline_netns();
    struct {
        char *words[8];
        const char *says;
    } cases[] = {
        {{"-n", "connect", "localhost", "80", NULL}, "-n: HOST 'localhost'"},
        {{"connect", "localhost", "80", "-n", NULL}, "-n: HOST 'localhost'"},
        {{"connect", "-n", "127.0.0.1", "http", NULL}, "-n: port 'http'"},
        {{"-n", "listen", "localhost", "0", NULL}, "-n: HOST"},
        {{"-n", "echo", "localhost", "0", NULL}, "-n: HOST"},
        {{"-n", "connect", "-s", "localhost", "127.0.0.1", "1", NULL}, "-n: -s 'localhost'"},
        /* resolve takes no such check in its parser: the library refuses. */
        {{"-n", "resolve", "localhost", NULL}, "not a numeric address"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *err = NULL;
        int st = run_sock(cases[i].words, NULL, NULL, &err);
        cr_expect_eq(st, 2, "case %zu: exit %d: %s", i, st, err);
        cr_expect(strstr(err, cases[i].says), "case %zu: '%s'", i, err);
        free(err);
    }
    /* Numbers still work, -n or not. */
    loopback_up();
    char log[1024];
    proc_t *srv = start_sock(0, "numeric ok\n", (char *[]){"-n", "listen", "127.0.0.1", "0", NULL});
    wait_listening(srv, log, sizeof log);
    char ps[8], *out = NULL;
    snprintf(ps, sizeof ps, "%d", parse_listening_port(log));
    cr_expect_eq(run_sock((char *[]){"-n", "connect", "127.0.0.1", ps, NULL}, "", &out, NULL), 0);
    cr_expect_str_eq(out, "numeric ok\n");
    free(out);
}

/* ------------------------------------------------------------------- --exec */

/* Connect n sockets to 127.0.0.1:port, all before reading from any. */
static void connect_many(int *fds, int n, int port)
{
    for (int i = 0; i < n; i++) {
        fds[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                                .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        cr_assert_eq(connect(fds[i], (struct sockaddr *)&a, sizeof a), 0, "client %d: %s", i,
                     strerror(errno));
    }
}

/* Read from fd until it holds a '\n' (or, when to_eof, until end of
 * stream), within ms.  Returns the bytes in buf (NUL-terminated). */
static size_t read_until(int fd, char *buf, size_t len, int to_eof, int ms)
{
    size_t have = 0;
    buf[0] = '\0';
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        clock_gettime(CLOCK_MONOTONIC, &t);
        long left = ms - ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000);
        if (left <= 0 || (!to_eof && strchr(buf, '\n')))
            break;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, (int)left) != 1)
            break;
        ssize_t r = recv(fd, buf + have, len - 1 - have, 0);
        if (r <= 0)
            break;
        have += (size_t)r;
        buf[have] = '\0';
    }
    return have;
}

static int start_exec_server(const char *command, int verbose)
{
    char log[1024];
    proc_t *srv = start_sock(0, NULL, verbose ? (char *[]){"listen", "-k", "-v", "--exec",
                                                            (char *)command, "127.0.0.1", "0", NULL}
                                              : (char *[]){"listen", "-k", "--exec",
                                                            (char *)command, "127.0.0.1", "0", NULL});
    wait_listening(srv, log, sizeof log);
    int port = parse_listening_port(log);
    cr_assert_gt(port, 0);
    return port;
}

/* 100 clients at once, each with its own shell: every one has its pid
 * line before any client has ended its input (a server of one client at
 * a time could not answer the second while the first's cat runs), the
 * pids differ, and each gets its own bytes back. */
NC_TEST_LONG(exec_hundred_clients_at_once)
{
    enum { N = 100 };
    int port = start_exec_server("echo $$; cat", 0);
    int fds[N];
    char buf[256];
    long pids[N];
    connect_many(fds, N, port);
    for (int i = 0; i < N; i++) {
        read_until(fds[i], buf, sizeof buf, 0, WAIT_MS);
        cr_assert(strchr(buf, '\n'), "client %d: no pid line, got '%s'", i, buf);
        pids[i] = atol(buf);
        cr_assert_gt(pids[i], 0, "client %d: '%s'", i, buf);
        for (int j = 0; j < i; j++)
            cr_assert_neq(pids[i], pids[j], "clients %d and %d share pid %ld", i, j, pids[i]);
    }
    for (int i = 0; i < N; i++) {
        char msg[32];
        int len = snprintf(msg, sizeof msg, "client %d\n", i);
        cr_assert_eq(send(fds[i], msg, (size_t)len, MSG_NOSIGNAL), len);
        shutdown(fds[i], SHUT_WR);
    }
    for (int i = 0; i < N; i++) {
        char want[32];
        snprintf(want, sizeof want, "client %d\n", i);
        read_until(fds[i], buf, sizeof buf, 1, WAIT_MS);
        cr_expect_str_eq(buf, want, "client %d got '%s'", i, buf);
        close(fds[i]);
    }
    cr_expect_eq(kill(run.p[0].pid, 0), 0, "the server ended");
}

/* The child's descriptors: 0 and 1 the connection, 2 the tool's stderr,
 * and no socket, epoll or signalfd of the tool, while another client's
 * connection is open too. */
static void expect_no_tool_fds(const char *listing)
{
    int lines = 0;
    for (const char *l = listing; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
        int fd;
        char target[256];
        if (sscanf(l, "%*s %*s %*s %*s %*s %*s %*s %*s %d -> %255s", &fd, target) != 2)
            continue;
        lines++;
        if (fd == 0 || fd == 1)
            cr_expect(strncmp(target, "socket:", 7) == 0, "fd %d is %s", fd, target);
        else if (fd != 2)
            cr_expect(strncmp(target, "socket:", 7) && strncmp(target, "anon_inode:", 11),
                      "the tool's descriptor %d -> %s leaked into the command", fd, target);
    }
    cr_expect_geq(lines, 3, "no listing: '%s'", listing);
}

NC_TEST(exec_child_has_no_tool_descriptor)
{
    int port = start_exec_server("ls -l /proc/self/fd; cat >/dev/null", 0);
    int fds[2];
    static char buf[8192];
    connect_many(fds, 2, port);
    for (int i = 0; i < 2; i++) {
        /* The second is served while the first's command still runs. */
        read_until(fds[i], buf, sizeof buf, 0, WAIT_MS);
        struct pollfd p = {.fd = fds[i], .events = POLLIN};
        while (poll(&p, 1, 300) == 1) {
            size_t have = strlen(buf);
            ssize_t r = recv(fds[i], buf + have, sizeof buf - 1 - have, 0);
            if (r <= 0)
                break;
            buf[have + (size_t)r] = '\0';
        }
        expect_no_tool_fds(buf);
    }
    close(fds[0]), close(fds[1]);
}

/* connect --exec against a server of the test: the command talks to it,
 * sock exits with the command's status, and has no descriptor there. */
NC_TEST(exec_connect_against_server)
{
    int port, lfd = test_listener(&port);
    char ps[8];
    snprintf(ps, sizeof ps, "%d", port);
    proc_t *c = start_sock(0, NULL, (char *[]){"connect", "--exec",
                                               "read l; echo \"got $l\"; ls -l /proc/self/fd; exit 3",
                                               "127.0.0.1", ps, NULL});
    struct sockaddr_in peer;
    int cfd = accept_within(lfd, &peer, WAIT_MS);
    cr_assert_geq(cfd, 0, "no connection");
    cr_assert_eq(send(cfd, "ping\n", 5, MSG_NOSIGNAL), 5);
    static char buf[8192];
    read_until(cfd, buf, sizeof buf, 1, WAIT_MS);
    cr_expect(strncmp(buf, "got ping\n", 9) == 0, "'%s'", buf);
    expect_no_tool_fds(buf);
    char *err;
    int st = finish(c, &err);
    cr_expect_eq(st, 3, "exit %d: %s", st, err);
    cr_expect(strstr(err, "exited 3"), "'%s'", err);
    free(err);
    close(cfd), close(lfd);
}

/* A command that is not found: a clear line and status 127; one killed by
 * a signal: 128+N and the signal's name; with -k the server carries on. */
NC_TEST(exec_bad_command_and_signal)
{
    int port, lfd = test_listener(&port);
    char ps[8], *err = NULL;
    snprintf(ps, sizeof ps, "%d", port);
    proc_t *c = start_sock(0, NULL, (char *[]){"connect", "--exec", "no-such-command-sock-test",
                                               "127.0.0.1", ps, NULL});
    struct sockaddr_in peer;
    int cfd = accept_within(lfd, &peer, WAIT_MS);
    cr_assert_geq(cfd, 0);
    int st = finish(c, &err);
    cr_expect_eq(st, 127, "exit %d: %s", st, err);
    cr_expect(strstr(err, "sock connect: --exec 'no-such-command-sock-test'") &&
                  strstr(err, "not found"), "'%s'", err);
    free(err);
    close(cfd);
    c = start_sock(0, NULL, (char *[]){"connect", "--exec", "kill -TERM $$", "127.0.0.1", ps, NULL});
    cfd = accept_within(lfd, &peer, WAIT_MS);
    cr_assert_geq(cfd, 0);
    st = finish(c, &err);
    cr_expect_eq(st, 128 + SIGTERM, "exit %d: %s", st, err);
    cr_expect(strstr(err, "killed by signal 15"), "'%s'", err);
    free(err);
    close(cfd), close(lfd);

    /* listen -k: the failure of one child is reported, the next is served. */
    char log[2048] = "";
    port = start_exec_server("read l; if [ \"$l\" = bad ]; then exit 9; fi; echo fine", 1);
    int fds[2];
    connect_many(fds, 1, port);
    send(fds[0], "bad\n", 4, MSG_NOSIGNAL);
    cr_expect(proc_wait_for(run.p[0].err, "exited 9", log, sizeof log, WAIT_MS), "'%s'", log);
    close(fds[0]);
    connect_many(fds + 1, 1, port);
    send(fds[1], "good\n", 5, MSG_NOSIGNAL);
    char buf[64];
    read_until(fds[1], buf, sizeof buf, 1, WAIT_MS);
    cr_expect_str_eq(buf, "fine\n");
    cr_expect(proc_wait_for(run.p[0].err, "exited 0", log, sizeof log, WAIT_MS), "'%s'", log);
    close(fds[1]);
}

NC_TEST(exec_over_unix_one_client)
{
    char path[128], log[1024];
    path_in_dir(path, sizeof path, "exec.sock");
    proc_t *srv = start_sock(0, NULL, (char *[]){"listen", "--exec", "tr a-z A-Z", "-U", path, NULL});
    wait_listening(srv, log, sizeof log);
    char *out = NULL, *err = NULL;
    cr_expect_eq(run_sock((char *[]){"connect", "-U", path, NULL}, "shout\n", &out, &err), 0,
                 "%s", err);
    cr_expect_str_eq(out, "SHOUT\n");
    char *serr;
    cr_expect_eq(finish(srv, &serr), 0, "%s", serr);
    free(out), free(err), free(serr);
}
