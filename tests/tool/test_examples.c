/*
 * test_examples.c - the course's examples run as their comments say.
 *
 * client/server: the seed's script over 127.0.0.1 and ::1.  resolve: the
 * addresses a name stands for, and a clear error for one that does not
 * exist.  http_get: a fetch from a server inside this test (a libsock
 * thread that also checks the request and the half-close) and from
 * python3's http.server.  multi_server: several clients at once, handlers
 * reaped while it runs (threads and descriptors counted in /proc), stopped
 * by q on stdin and by SIGTERM with every client reading end of stream,
 * --max-clients, and bad arguments.
 *
 * The examples run as child processes (tests/tool/harness.h); this process
 * plays their clients and servers with libsock itself.
 */
#include "harness.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sock.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *const families[] = {"127.0.0.1", "::1"};

static void example(char *path, size_t len, const char *name)
{
    snprintf(path, len, "%s/%s", examples_dir(), name);
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Start a server example (argv ends with PORT "0") and return the port it
 * printed as "listening on ADDR"; its stderr so far is kept in log. */
static int start_server(proc_t *p, char *const argv[], char *log, size_t loglen)
{
    cr_assert_eq(proc_start(p, argv), 0, "cannot start %s", argv[0]);
    log[0] = '\0';
    int found = proc_wait_for(p->err, "listening on", log, loglen, 15000);
    if (!found)
        proc_kill(p);
    cr_assert(found, "%s never said 'listening on'; stderr: %s", argv[0], log);
    int port = parse_listening_port(log);
    cr_assert_gt(port, 0, "no port in: %s", log);
    return port;
}

/* ---------------------------------------------------------------- client/server */

Test(examples, seed_client_and_server, .timeout = 60)
{
    char server[512], client[512];
    example(server, sizeof server, "server");
    example(client, sizeof client, "client");
    for (int f = 0; f < 2; f++) {
        char *sargv[] = {server, (char *)families[f], "0", NULL};
        proc_t srv;
        char log[4096];
        char port[8];
        snprintf(port, sizeof port, "%d", start_server(&srv, sargv, log, sizeof log));
        char *cargv[] = {client, (char *)families[f], port, NULL};
        char *out = NULL, *err = NULL;
        int st = proc_run(cargv, NULL, 0, &out, NULL, &err, 20000);
        cr_expect_eq(st, 0, "client exit %d: %s", st, err);
        cr_expect(strstr(out, "client got: hola, cliente\n") != NULL, "client printed: %s", out);
        /* "Puerto 80 ??": the client's port is an ephemeral one, not the server's. */
        const char *line = strstr(out, "client port: ");
        cr_assert_not_null(line, "no client port line: %s", out);
        const char *space = strchr(line + 13, ' ');
        const char *colon = line;
        for (const char *q = line + 13; *q && q < space; q++)
            if (*q == ':')
                colon = q;
        cr_expect_neq(atoi(colon + 1), atoi(port), "client port equals the server's: %s", out);
        cr_expect_gt(atoi(colon + 1), 0, "%s", out);
        char *sout = proc_read_all(srv.out, NULL, 10000);
        cr_expect(sout && strstr(sout, "server got: hola, servidor\n"), "server printed: %s", sout);
        cr_expect_eq(proc_wait(&srv, 10000), 0, "server did not exit 0");
        free(out), free(err), free(sout);
    }
}

Test(examples, client_and_server_report_failures, .timeout = 30)
{
    char client[512], server[512];
    example(client, sizeof client, "client");
    example(server, sizeof server, "server");
    char *argv[] = {client, "127.0.0.1", "1", NULL};
    char *err = NULL;
    int st = proc_run(argv, NULL, 0, NULL, NULL, &err, 10000);
    cr_expect_eq(st, 1);
    cr_expect(strstr(err, "client: connect 127.0.0.1:1: Connection refused") != NULL, "%s", err);
    free(err);
    char *bad_port[] = {server, "127.0.0.1", "99999", NULL};
    st = proc_run(bad_port, NULL, 0, NULL, NULL, &err, 10000);
    cr_expect_eq(st, 1);
    cr_expect(strstr(err, "server: ") && strstr(err, "99999"), "%s", err);
    free(err);
    char *too_many[] = {client, "a", "b", "c", NULL};
    st = proc_run(too_many, NULL, 0, NULL, NULL, &err, 10000);
    cr_expect_eq(st, 2);
    cr_expect(strstr(err, "usage: client") != NULL, "%s", err);
    free(err);
}

/* ---------------------------------------------------------------- resolve */

/* Run resolve with args; returns its status, stdout and stderr. */
static int run_resolve(char *const args[], char **out, char **err)
{
    char path[512];
    example(path, sizeof path, "resolve");
    char *argv[8] = {path};
    for (int i = 0; args[i] && i < 6; i++)
        argv[i + 1] = args[i];
    return proc_run(argv, NULL, 0, out, NULL, err, 20000);
}

Test(examples, resolve_lists_addresses, .timeout = 60)
{
    struct {
        char *args[4];
        const char *expect;
    } cases[] = {
        {{"localhost", "80", NULL}, "127.0.0.1:80"},
        {{"127.0.0.1", "http", NULL}, "127.0.0.1:80"},
        {{"::1", "8080", NULL}, "[::1]:8080"},
        {{"-4", "localhost", NULL}, "IPv4   127.0.0.1:80"},
        {{"--bind", "127.0.0.1", "0", NULL}, "127.0.0.1:0"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        char *out = NULL, *err = NULL;
        int st = run_resolve(cases[k].args, &out, &err);
        cr_expect_eq(st, 0, "resolve %s: exit %d, %s", cases[k].args[0], st, err);
        cr_expect(strstr(out, cases[k].expect) != NULL, "resolve %s: wanted %s in: %s",
                  cases[k].args[0], cases[k].expect, out);
        cr_expect(strstr(out, " 1. ") != NULL, "no numbered list: %s", out);
        free(out), free(err);
    }
}

Test(examples, resolve_reports_errors, .timeout = 60)
{
    char *out = NULL, *err = NULL;
    enter_offline_netns(); /* example.invalid: no query may leave the machine */
    char *unknown[] = {"example.invalid", NULL};
    int st = run_resolve(unknown, &out, &err);
    cr_expect_neq(st, 0, "example.invalid resolved: %s", out);
    cr_expect(strstr(err, "resolve: ") && strstr(err, "example.invalid"), "message: %s", err);
    cr_expect_eq(strchr(err, '\n'), err + strlen(err) - 1, "not one line: %s", err);
    free(out), free(err);

    char *bad_port[] = {"localhost", "70000", NULL};
    st = run_resolve(bad_port, &out, &err);
    cr_expect_eq(st, 1);
    cr_expect(strstr(err, "70000") != NULL, "%s", err);
    free(out), free(err);

    char *bad_option[] = {"-x", "localhost", NULL};
    st = run_resolve(bad_option, &out, &err);
    cr_expect_eq(st, 2);
    cr_expect(strstr(err, "unknown option -x") && strstr(err, "usage: resolve"), "%s", err);
    free(out), free(err);

    char *nothing[] = {NULL};
    st = run_resolve(nothing, &out, &err);
    cr_expect_eq(st, 2);
    cr_expect(strstr(err, "usage: resolve") != NULL, "%s", err);
    free(out), free(err);
}

/* ---------------------------------------------------------------- http_get */

/* A one-shot HTTP server in a thread of this test: it reads the request,
 * then waits for the client's half-close (end of stream) before it
 * answers, so a client that does not shut down its write side hangs and
 * fails the test.  The body is large, to need many receives. */
struct http_peer {
    sock_t acep;
    char request[2048];
    int saw_half_close;
    char *response;
    size_t response_len;
};

static void *serve_one_http(void *arg)
{
    struct http_peer *h = arg;
    sock_t srv;
    if (sock_accept(&h->acep, &srv) < 0)
        return NULL;
    size_t got = 0;
    while (got < sizeof h->request - 1 && !strstr(h->request, "\r\n\r\n")) {
        ssize_t n = sock_recv(&srv, h->request + got, sizeof h->request - 1 - got);
        if (n <= 0)
            break;
        got += (size_t)n;
        h->request[got] = '\0';
    }
    char extra;
    h->saw_half_close = sock_recv(&srv, &extra, 1) == 0;
    sock_send_all(&srv, h->response, h->response_len, NULL);
    sock_shutdown(&srv, SOCK_SHUT_READ_WRITE);
    sock_close(&srv);
    return NULL;
}

Test(examples, http_get_from_local_server, .timeout = 60)
{
    char path[512];
    example(path, sizeof path, "http_get");
    const char *body_line = "0123456789abcdefghijklmnopqrstuvwxyz\n";
    size_t body_len = 300 * 1000;
    for (int f = 0; f < 2; f++) {
        struct http_peer h = {.request = ""};
        const char *head = "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n";
        h.response_len = strlen(head) + body_len;
        h.response = malloc(h.response_len + 1);
        cr_assert_not_null(h.response);
        strcpy(h.response, head);
        for (size_t i = strlen(head), k = 0; i < h.response_len; i++, k++)
            h.response[i] = body_line[k % strlen(body_line)];
        h.response[h.response_len] = '\0';

        sock_init(&h.acep);
        cr_assert_eq(sock_bind(&h.acep, families[f], "0"), 0, "%s", sock_error(&h.acep));
        cr_assert_eq(sock_listen(&h.acep, 4), 0, "%s", sock_error(&h.acep));
        int port = sock_local_port(&h.acep);
        pthread_t t;
        cr_assert_eq(pthread_create(&t, NULL, serve_one_http, &h), 0);

        char url[128], host_header[64];
        const char *bracket = f ? "[::1]" : "127.0.0.1";
        /* The fragment is the browser's: never sent in the request line. */
        snprintf(url, sizeof url, "http://%s:%d/dir/hello.txt?x=1#section", bracket, port);
        snprintf(host_header, sizeof host_header, "Host: %s:%d\r\n", bracket, port);
        char *argv[] = {path, url, NULL};
        char *out = NULL, *err = NULL;
        size_t outlen = 0;
        int st = proc_run(argv, NULL, 0, &out, &outlen, &err, 30000);
        /* If the client never connected, wake the server thread. */
        sock_shutdown(&h.acep, SOCK_SHUT_READ_WRITE);
        pthread_join(t, NULL);
        sock_close(&h.acep);

        cr_expect_eq(st, 0, "http_get %s: exit %d: %s", url, st, err);
        cr_expect(strncmp(h.request, "GET /dir/hello.txt?x=1 HTTP/1.", 30) == 0,
                  "request line: %s", h.request);
        cr_expect(strstr(h.request, host_header) != NULL, "no %s in: %s", host_header, h.request);
        cr_expect(strstr(h.request, "Connection: close\r\n") != NULL, "request: %s", h.request);
        cr_expect(h.saw_half_close, "http_get did not shut down its write side after the request");
        cr_expect_eq(outlen, h.response_len, "printed %zu bytes of %zu", outlen, h.response_len);
        cr_expect(out && memcmp(out, h.response, h.response_len < outlen ? h.response_len : outlen) == 0,
                  "the printed response differs from the one sent");
        free(out), free(err), free(h.response);
    }
}

Test(examples, http_get_from_python_http_server, .timeout = 60)
{
    if (!have_command("python3"))
        cr_skip_test("python3 is not installed");
    char dir[] = "/tmp/sock-http-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char file[128];
    snprintf(file, sizeof file, "%s/hello.txt", dir);
    FILE *fp = fopen(file, "w");
    cr_assert_not_null(fp);
    fputs("hola desde python\n", fp);
    fclose(fp);

    char *pargv[] = {"python3", "-u", "-m", "http.server", "0", "--bind", "127.0.0.1",
                     "--directory", dir, NULL};
    proc_t py;
    cr_assert_eq(proc_start(&py, pargv), 0);
    char banner[1024] = "";
    int up = proc_wait_for(py.out, "port ", banner, sizeof banner, 20000);
    const char *p = strstr(banner, " port ");
    int port = p ? atoi(p + 6) : 0;
    char *out = NULL, *err = NULL;
    int st = -1;
    if (up && port > 0) {
        char path[512], url[128];
        example(path, sizeof path, "http_get");
        snprintf(url, sizeof url, "http://127.0.0.1:%d/hello.txt", port);
        char *argv[] = {path, url, NULL};
        st = proc_run(argv, NULL, 0, &out, NULL, &err, 30000);
    }
    proc_kill(&py);
    unlink(file);
    rmdir(dir);
    cr_assert(up && port > 0, "python3 http.server did not start: %s", banner);
    cr_expect_eq(st, 0, "http_get exit %d: %s", st, err);
    cr_expect(out && strncmp(out, "HTTP/1.0 200 OK\r\n", 17) == 0, "response: %s", out);
    cr_expect(out && strstr(out, "\r\n\r\nhola desde python\n"), "response: %s", out);
    free(out), free(err);
}

Test(examples, http_get_reports_bad_urls_and_failures, .timeout = 60)
{
    char path[512];
    example(path, sizeof path, "http_get");
    struct {
        const char *url;
        int status;
        const char *message;
    } cases[] = {
        {"https://127.0.0.1/", 2, "https needs TLS"},
        {"ftp://127.0.0.1/", 2, "must start with http://"},
        {"http://", 2, "no host"},
        {"http://:80/", 2, "no host"},
        {"http://::1/", 2, "brackets"},
        {"http://127.0.0.1:1/a b", 2, "space or control character"},
        {"http://127.0.0.1:99999/", 1, "99999"},
        {"http://127.0.0.1:1/", 1, "Connection refused"},
        {"http://[::1]:1/", 1, "Connection refused"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        char *argv[] = {path, (char *)cases[k].url, NULL};
        char *out = NULL, *err = NULL;
        int st = proc_run(argv, NULL, 0, &out, NULL, &err, 20000);
        cr_expect_eq(st, cases[k].status, "%s: exit %d: %s", cases[k].url, st, err);
        cr_expect(strstr(err, "http_get: ") && strstr(err, cases[k].message),
                  "%s: wanted '%s' in: %s", cases[k].url, cases[k].message, err);
        cr_expect_str_empty(out, "%s printed: %s", cases[k].url, out);
        free(out), free(err);
    }
}

/* ---------------------------------------------------------------- multi_server */

/* A running multi_server and everything it said on stderr so far. */
struct ms {
    proc_t p;
    int port;
    char log[65536];
};

static void ms_start(struct ms *m, const char *host, const char *max_clients)
{
    char path[512];
    example(path, sizeof path, "multi_server");
    char *argv[] = {path, "--max-clients", (char *)max_clients, (char *)host, "0", NULL};
    m->port = start_server(&m->p, argv, m->log, sizeof m->log);
}

/* Wait until the server's stderr has a line containing needle. */
static int ms_said(struct ms *m, const char *needle)
{
    return proc_wait_for(m->p.err, needle, m->log, sizeof m->log, 20000);
}

/* Entries in /proc/PID/WHAT (task: threads; fd: descriptors), or -1. */
static int proc_count(pid_t pid, const char *what)
{
    char dir[64];
    snprintf(dir, sizeof dir, "/proc/%d/%s", (int)pid, what);
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

/* Poll /proc/PID/WHAT until it holds want entries (at most 20 s, a hang
 * guard only); returns the last count seen. */
static int proc_count_until(pid_t pid, const char *what, int want)
{
    int n = -1;
    for (int i = 0; i < 1000; i++) {
        n = proc_count(pid, what);
        if (n == want)
            break;
        sleep_ms(20);
    }
    return n;
}

/* Connect a client to the server and check that it is served: an echo
 * comes back upper-cased.  The client's address goes to addr. */
static void ms_client(sock_t *c, const char *host, int port, char *addr)
{
    char service[8];
    snprintf(service, sizeof service, "%d", port);
    sock_init(c);
    cr_assert_eq(sock_set_timeout(c, 20000), 0);
    cr_assert_eq(sock_connect(c, host, service), 0, "%s", sock_error(c));
    cr_assert_eq(sock_local_addr(c, addr, SOCK_ADDRSTRLEN), 0);
}

static void expect_echo(sock_t *c, const char *text)
{
    char want[64], got[64] = "";
    size_t len = strlen(text);
    for (size_t i = 0; i <= len; i++)
        want[i] = (char)(text[i] >= 'a' && text[i] <= 'z' ? text[i] - 32 : text[i]);
    cr_assert_eq(sock_send_all(c, text, len, NULL), 0, "%s", sock_error(c));
    cr_assert_eq(sock_recv_all(c, got, len, NULL), 0, "%s", sock_error(c));
    cr_expect_str_eq(got, want);
}

/* After a stop, a client reads end of stream (not a reset, not a hang). */
static void expect_eof(sock_t *c)
{
    char b;
    ssize_t n = sock_recv(c, &b, 1);
    cr_expect_eq(n, 0, "client read %zd (%s), not end of stream", n, sock_strerror((int)n));
}

/* The count of "needle" in text. */
static int occurrences(const char *text, const char *needle)
{
    int n = 0;
    for (const char *p = strstr(text, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

Test(examples, multi_server_serves_clients_at_once, .timeout = 120)
{
    enum { N = 4 };
    for (int f = 0; f < 2; f++) {
        struct ms m;
        ms_start(&m, families[f], "10");
        int threads0 = proc_count(m.p.pid, "task");
        sock_t c[N];
        char addr[N][SOCK_ADDRSTRLEN];
        for (int i = 0; i < N; i++)
            ms_client(&c[i], families[f], m.port, addr[i]);
        /* All connected first, then served in an interleaved order: one
         * client's handler does not wait for another's. */
        for (int i = N - 1; i >= 0; i--)
            expect_echo(&c[i], i % 2 ? "hola, servidor" : "several at once");
        cr_expect_eq(proc_count(m.p.pid, "task"), threads0 + N,
                     "threads: %d idle, want one more per client (%d clients)", threads0, N);
        for (int i = 0; i < N; i++)
            expect_echo(&c[i], "again");
        for (int i = 0; i < N; i++)
            sock_close(&c[i]);
        cr_expect_eq(proc_count_until(m.p.pid, "task", threads0), threads0);
        cr_assert_eq(write(m.p.in, "q\n", 2), 2);
        cr_expect_eq(proc_wait(&m.p, 20000), 0, "multi_server did not exit 0: %s", m.log);
    }
}

Test(examples, multi_server_reaps_handlers_while_running, .timeout = 120)
{
    for (int f = 0; f < 2; f++) {
        struct ms m;
        ms_start(&m, families[f], "10");
        int threads0 = proc_count(m.p.pid, "task"), fds0 = proc_count(m.p.pid, "fd");
        cr_assert_gt(threads0, 1, "no acceptor thread: %d threads", threads0);
        sock_t stay, leave;
        char stay_addr[SOCK_ADDRSTRLEN], leave_addr[SOCK_ADDRSTRLEN], needle[SOCK_ADDRSTRLEN + 64];
        ms_client(&stay, families[f], m.port, stay_addr);
        ms_client(&leave, families[f], m.port, leave_addr);
        expect_echo(&stay, "stay");
        expect_echo(&leave, "leave");
        cr_expect_eq(proc_count(m.p.pid, "task"), threads0 + 2);
        cr_expect_eq(proc_count(m.p.pid, "fd"), fds0 + 2);

        /* One client leaves while the other stays: its handler is joined
         * now, while the server runs, and its thread and descriptor go. */
        sock_shutdown(&leave, SOCK_SHUT_READ_WRITE);
        sock_close(&leave);
        snprintf(needle, sizeof needle, "client %s: handler joined", leave_addr);
        cr_expect(ms_said(&m, needle), "no '%s' in: %s", needle, m.log);
        cr_expect_eq(proc_count_until(m.p.pid, "task", threads0 + 1), threads0 + 1);
        cr_expect_eq(proc_count_until(m.p.pid, "fd", fds0 + 1), fds0 + 1);
        expect_echo(&stay, "still served");

        /* The last one leaves: back to the idle server's threads and
         * descriptors exactly, none left behind. */
        sock_close(&stay);
        snprintf(needle, sizeof needle, "client %s: handler joined", stay_addr);
        cr_expect(ms_said(&m, needle), "no '%s' in: %s", needle, m.log);
        cr_expect_eq(proc_count_until(m.p.pid, "task", threads0), threads0, "threads left behind");
        cr_expect_eq(proc_count_until(m.p.pid, "fd", fds0), fds0, "descriptors left behind");
        cr_assert_eq(write(m.p.in, "q\n", 2), 2);
        cr_expect_eq(proc_wait(&m.p, 20000), 0, "multi_server did not exit 0: %s", m.log);
    }
}

/* Connect N idle clients (their handlers block in sock_recv), stop the
 * server with stop(), and check that every client reads end of stream, the
 * server joins every handler and exits 0. */
static void stop_with_clients(const char *host, void (*stop)(struct ms *))
{
    enum { N = 3 };
    struct ms m;
    ms_start(&m, host, "10");
    sock_t c[N];
    char addr[N][SOCK_ADDRSTRLEN];
    for (int i = 0; i < N; i++) {
        ms_client(&c[i], host, m.port, addr[i]);
        expect_echo(&c[i], "idle now");
    }
    stop(&m);
    for (int i = 0; i < N; i++) {
        expect_eof(&c[i]);
        sock_close(&c[i]);
    }
    /* Read the server's log until every handler says it was joined (20 s
     * at most): proc_wait closes the pipe, so the log must be read first. */
    for (int i = 0; i < 200 && occurrences(m.log, "handler joined") < N; i++)
        proc_wait_for(m.p.err, "\x01never", m.log, sizeof m.log, 100);
    cr_expect_eq(occurrences(m.log, "handler joined"), N, "log: %s", m.log);
    int st = proc_wait(&m.p, 20000);
    cr_expect_eq(st, 0, "multi_server exit %d: %s", st, m.log);
}

static void stop_by_q(struct ms *m)
{
    cr_assert_eq(write(m->p.in, "q\n", 2), 2);
    cr_expect(ms_said(m, "q typed, stopping"), "%s", m->log);
}

static void stop_by_sigterm(struct ms *m)
{
    cr_assert_eq(kill(m->p.pid, SIGTERM), 0);
    cr_expect(ms_said(m, "SIGTERM, stopping"), "%s", m->log);
}

Test(examples, multi_server_q_stops_it, .timeout = 120)
{
    for (int f = 0; f < 2; f++)
        stop_with_clients(families[f], stop_by_q);
}

Test(examples, multi_server_sigterm_stops_it, .timeout = 120)
{
    for (int f = 0; f < 2; f++)
        stop_with_clients(families[f], stop_by_sigterm);
}

/* ---------------------------------------------------------------- event_server */

/* 200 clients at once on one thread, each with its own stream, one of
 * them sending 4 MiB before it reads anything (its echo must wait in the
 * server, not block it); then SIGTERM closes every client still there. */
Test(examples, event_server_many_clients_one_thread, .timeout = 60)
{
    enum { N = 200, BIG = 4 << 20 };
    for (int f = 0; f < 2; f++) {
        char path[512], log[4096];
        example(path, sizeof path, "event_server");
        char *argv[] = {path, (char *)families[f], "0", NULL};
        proc_t p;
        int port = start_server(&p, argv, log, sizeof log);
        char port_s[8];
        snprintf(port_s, sizeof port_s, "%d", port);
        static sock_t c[N];
        for (int i = 0; i < N; i++) {
            sock_init(&c[i]);
            sock_set_timeout(&c[i], 10000);
            cr_assert_eq(sock_connect(&c[i], families[f], port_s), 0, "%s", sock_error(&c[i]));
        }
        for (int i = N - 1; i >= 0; i--) {
            char msg[32], back[32];
            int n = snprintf(msg, sizeof msg, "client %d of %d", i, N);
            cr_assert_eq(sock_send_all(&c[i], msg, (size_t)n, NULL), 0);
            cr_assert_eq(sock_recv_all(&c[i], back, (size_t)n, NULL), 0, "%s", sock_error(&c[i]));
            cr_assert_arr_eq(back, msg, (size_t)n, "client %d got another's echo", i);
        }
        /* The big one: all of it out first, then read back. */
        char *big = malloc(BIG), *back = malloc(BIG);
        cr_assert(big && back);
        for (size_t k = 0; k < BIG; k++)
            big[k] = (char)(k * 31 + k / 4096);
        struct pollfd pfd = {.fd = sock_fd(&c[0])};
        size_t out = 0, in = 0;
        for (int spins = 0; spins < 100000 && in < BIG; spins++) {
            pfd.events = (short)(POLLIN | (out < BIG ? POLLOUT : 0));
            cr_assert_gt(poll(&pfd, 1, 10000), 0, "stalled at %zu out, %zu in", out, in);
            if ((pfd.revents & POLLOUT) && out < BIG) {
                ssize_t n = sock_send(&c[0], big + out, BIG - out);
                cr_assert_gt(n, 0, "%s", sock_error(&c[0]));
                out += (size_t)n;
            }
            if (pfd.revents & POLLIN) {
                ssize_t n = sock_recv(&c[0], back + in, BIG - in);
                cr_assert_gt(n, 0, "%s", sock_error(&c[0]));
                in += (size_t)n;
            }
        }
        cr_assert_eq(in, (size_t)BIG);
        cr_assert_arr_eq(back, big, BIG, "the big echo differs");
        free(big), free(back);
        /* Some clients leave on their own; the rest are closed at the stop. */
        for (int i = 0; i < N / 2; i++)
            sock_close(&c[i]);
        sleep_ms(200);
        kill(p.pid, SIGTERM);
        char *rest = proc_read_all(p.err, NULL, 10000);
        cr_expect_eq(proc_wait(&p, 10000), 0, "event_server did not exit 0");
        cr_expect(rest && strstr(rest, "100 clients were still connected"), "stderr: %s%s", log,
                  rest ? rest : "");
        free(rest);
        for (int i = N / 2; i < N; i++) {
            char b;
            cr_expect_eq(sock_recv(&c[i], &b, 1), 0, "client %d: no end of stream at the stop", i);
            sock_close(&c[i]);
        }
    }
}

/* ---------------------------------------------------------------- kv_server / kv_client */

static const char kv_script[] = "SET a hello world\nSET b 2\nGET a\nGET zz\nLIST\nDEL b\nLIST\n"
                                "BOGUS\n\nGET\n";
static const char kv_expected[] = "ok\nok\nok: hello world\nno such name\nok: a b\nok\nok: a\n"
                                  "error: unknown command or bad arguments\nerror: empty line\n"
                                  "error: unknown command or bad arguments\n";

static void kv_run_client(const char *host, int port, const char *script, char **out)
{
    char path[512], port_s[8];
    example(path, sizeof path, "kv_client");
    snprintf(port_s, sizeof port_s, "%d", port);
    char *argv[] = {path, (char *)host, port_s, NULL};
    char *err = NULL;
    int st = proc_run(argv, script, strlen(script), out, NULL, &err, 30000);
    cr_assert_eq(st, 0, "kv_client exited %d: %s", st, err);
    free(err);
}

/* The protocol through `sock relay --max-chunk 1`: every command and every
 * reply arrives one byte at a time, and the replies are the same. */
Test(examples, kv_protocol_through_one_byte_chunks, .timeout = 120)
{
    for (int f = 0; f < 2; f++) {
        char path[512], log[4096], rlog[4096];
        example(path, sizeof path, "kv_server");
        char *argv[] = {path, (char *)families[f], "0", NULL};
        proc_t srv, relay;
        int port = start_server(&srv, argv, log, sizeof log);
        char target[8];
        snprintf(target, sizeof target, "%d", port);
        char listen_at[64];
        snprintf(listen_at, sizeof listen_at, f ? "[%s]:0" : "%s:0", families[f]);
        char *rargv[] = {(char *)sock_bin(), "relay", "-q", "--max-chunk", "1", listen_at,
                         (char *)families[f], target, NULL};
        int rport = start_server(&relay, rargv, rlog, sizeof rlog);
        char *direct = NULL, *relayed = NULL;
        kv_run_client(families[f], rport, kv_script, &relayed);
        proc_kill(&relay);
        /* The table now holds "a"; a second run straight to the server. */
        kv_run_client(families[f], port, "GET a\nLIST\n", &direct);
        cr_expect_str_eq(relayed, kv_expected, "through the relay");
        cr_expect_str_eq(direct, "ok: hello world\nok: a\n");
        free(direct), free(relayed);
        cr_assert_eq(write(srv.in, "q\n", 2), 2);
        char *rest = proc_read_all(srv.err, NULL, 20000);
        cr_expect_eq(proc_wait(&srv, 20000), 0, "kv_server did not exit 0");
        cr_expect(rest && strstr(rest, "stopped, 1 names"), "stderr: %s", rest ? rest : "");
        free(rest);
    }
}

struct kv_worker {
    int port, id;
    char *out;
};

static void *kv_worker_run(void *arg)
{
    struct kv_worker *w = arg;
    char script[256];
    snprintf(script, sizeof script, "SET k%d v%d\nGET k%d\nDEL k%d\nGET k%d\n", w->id, w->id,
             w->id, w->id, w->id);
    kv_run_client("127.0.0.1", w->port, script, &w->out);
    return NULL;
}

/* Ten clients at once, each on its own names; a stop with clients still
 * connected wakes and joins their handlers. */
Test(examples, kv_server_many_clients_and_stop, .timeout = 120)
{
    char path[512], log[4096];
    example(path, sizeof path, "kv_server");
    char *argv[] = {path, "127.0.0.1", "0", NULL};
    proc_t srv;
    int port = start_server(&srv, argv, log, sizeof log);
    enum { N = 10 };
    struct kv_worker w[N];
    pthread_t t[N];
    for (int i = 0; i < N; i++) {
        w[i] = (struct kv_worker){.port = port, .id = i};
        pthread_create(&t[i], NULL, kv_worker_run, &w[i]);
    }
    for (int i = 0; i < N; i++) {
        pthread_join(t[i], NULL);
        char want[128];
        snprintf(want, sizeof want, "ok\nok: v%d\nok\nno such name\n", i);
        cr_expect_str_eq(w[i].out, want, "client %d", i);
        free(w[i].out);
    }
    /* Two clients that stay connected across the stop. */
    sock_t idle[2];
    char port_s[8];
    snprintf(port_s, sizeof port_s, "%d", port);
    for (int i = 0; i < 2; i++) {
        sock_init(&idle[i]);
        cr_assert_eq(sock_connect(&idle[i], "127.0.0.1", port_s), 0);
    }
    sleep_ms(100);
    cr_assert_eq(write(srv.in, "q\n", 2), 2);
    cr_expect_eq(proc_wait(&srv, 20000), 0, "kv_server did not stop with clients connected");
    for (int i = 0; i < 2; i++) {
        char b;
        cr_expect_eq(sock_recv(&idle[i], &b, 1), 0, "idle client %d: no end of stream", i);
        sock_close(&idle[i]);
    }
}
