/*
 * test_trace.c - the step-by-step trace: a callback installed with
 * sock_set_trace() sees every step, sock_trace_format() behaves like
 * snprintf, and SOCK_TRACE=1 prints one line per step to stderr (checked in
 * a freshly executed copy of this binary, since the variable is read when
 * the library loads).
 */
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

struct event_copy {
    const sock_t *sock;
    unsigned id;
    int fd;
    char step[16];
    char args[96];
    long long result;
    char local[SOCK_ADDRSTRLEN];
    char peer[SOCK_ADDRSTRLEN];
    const sock_t *created;
    char error[SOCK_ERRLEN];
    int format_len;
    int format_ok;
};

struct recorder {
    struct event_copy ev[64];
    int n;
};

/* Copy what the event says: its strings are only valid during the call. */
static void record(const sock_trace_event_t *ev, void *user)
{
    struct recorder *r = user;
    if (r->n >= 64)
        return;
    struct event_copy *e = &r->ev[r->n++];
    e->sock = ev->sock;
    e->id = ev->id;
    e->fd = ev->fd;
    snprintf(e->step, sizeof e->step, "%s", ev->step);
    snprintf(e->args, sizeof e->args, "%s", ev->args);
    e->result = ev->result;
    snprintf(e->local, sizeof e->local, "%s", ev->local);
    snprintf(e->peer, sizeof e->peer, "%s", ev->peer);
    e->created = ev->created;
    snprintf(e->error, sizeof e->error, "%s", ev->error);
    /* sock_trace_format: the full length is returned whatever the buffer,
     * and a short buffer holds a NUL-terminated prefix. */
    char full[1024], part[10];
    int n = sock_trace_format(ev, full, sizeof full);
    int m = sock_trace_format(ev, part, sizeof part);
    e->format_len = n;
    e->format_ok = n > 0 && n == m && (size_t)n == strlen(full) &&
                   strlen(part) == sizeof part - 1 && strncmp(full, part, sizeof part - 1) == 0 &&
                   strchr(full, '\n') == NULL && strstr(full, ev->step) != NULL;
}

static const struct event_copy *find(const struct recorder *r, const sock_t *s, const char *step)
{
    for (int i = 0; i < r->n; i++)
        if (r->ev[i].sock == s && strcmp(r->ev[i].step, step) == 0)
            return &r->ev[i];
    return NULL;
}

static const struct event_copy *must_find(const struct recorder *r, const sock_t *s,
                                          const char *step)
{
    const struct event_copy *e = find(r, s, step);
    cr_assert_not_null(e, "no \"%s\" event in the trace", step);
    cr_assert(e->format_ok, "sock_trace_format of \"%s\" is not snprintf-like", step);
    return e;
}

FAMILY_TEST(trace, callback_sees_every_step, .timeout = 10)
{
    static struct recorder r;
    memset(&r, 0, sizeof r);
    sock_set_trace(record, &r);
    sock_t a, c, s;
    char port[8];
    listener_on(&a, host, port);
    sock_init(&c);
    expect_ok(&c, sock_connect(&c, host, port));
    expect_ok(&a, sock_accept(&a, &s));
    ssize_t sent = sock_send(&c, "hello", 5);
    char buf[8];
    ssize_t got = sock_recv(&s, buf, sizeof buf);
    expect_ok(&c, sock_shutdown(&c, SOCK_SHUT_WRITE));
    expect_ok(&c, sock_close(&c));
    expect_ok(&s, sock_close(&s));
    char gone[8];
    closed_port(host, gone);
    sock_t bad;
    sock_init(&bad);
    int refused = sock_connect(&bad, host, gone);
    char bad_error[SOCK_ERRLEN];
    snprintf(bad_error, sizeof bad_error, "%s", sock_error(&bad));
    expect_ok(&a, sock_close(&a));
    int before_off = r.n;
    sock_set_trace(NULL, NULL);
    sock_close(&bad);
    sock_t quiet;
    sock_init(&quiet);
    sock_close(&quiet);
    cr_assert_eq(r.n, before_off, "events after sock_set_trace(NULL)");

    must_find(&r, &a, "socket");
    const struct event_copy *e = must_find(&r, &a, "bind");
    cr_assert_eq(e->result, 0);
    cr_assert(strstr(e->args, host) && strstr(e->args, "0"), "bind args: %s", e->args);
    cr_assert_geq(e->fd, 0);
    cr_assert_str_neq(e->local, "", "bind event shows the local address");
    must_find(&r, &a, "listen");
    e = must_find(&r, &a, "accept");
    cr_assert_eq(e->created, &s, "accept event names the new socket");
    cr_assert_str_neq(e->peer, "", "accept event shows the client");
    e = must_find(&r, &c, "connect");
    cr_assert_eq(e->result, 0);
    cr_assert(strstr(e->args, port) != NULL, "connect args: %s", e->args);
    cr_assert_str_neq(e->peer, "");
    e = must_find(&r, &c, "send");
    cr_assert_eq(e->result, sent, "send event result %lld, call returned %zd", e->result, sent);
    e = must_find(&r, &s, "recv");
    cr_assert_eq(e->result, got);
    must_find(&r, &c, "shutdown");
    must_find(&r, &c, "close");
    must_find(&r, &s, "close");
    must_find(&r, &a, "close");
    /* A failing step carries its result and the error text. */
    e = must_find(&r, &bad, "connect");
    cr_assert_eq(e->result, refused);
    cr_assert_lt(e->result, 0);
    cr_assert_str_eq(e->error, bad_error, "trace error vs sock_error");
    /* One socket, one number, on every event. */
    for (int i = 0; i < r.n; i++)
        for (int j = 0; j < r.n; j++)
            if (r.ev[i].sock == r.ev[j].sock)
                cr_assert_eq(r.ev[i].id, r.ev[j].id, "socket %p has two ids",
                             (const void *)r.ev[i].sock);
    cr_assert_neq(find(&r, &a, "bind")->id, find(&r, &c, "connect")->id);
}

/* Like snprintf, a NULL buffer of size 0 measures the line (UBSan fails
 * this test if the formatter offsets the NULL pointer). */
Test(trace, format_measures_with_null_buffer, .timeout = 5)
{
    sock_trace_event_t ev = {.id = 7, .fd = 3, .step = "connect", .args = "\"h\", \"1\"",
                             .result = -111, .local = "127.0.0.1:5", .peer = "127.0.0.1:1",
                             .error = "connect h:1: Connection refused"};
    char line[512];
    int full = sock_trace_format(&ev, line, sizeof line);
    cr_assert_gt(full, 0);
    cr_assert_eq((size_t)full, strlen(line));
    cr_assert_eq(sock_trace_format(&ev, NULL, 0), full);
    char tiny[8];
    cr_assert_eq(sock_trace_format(&ev, tiny, sizeof tiny), full);
    cr_assert_eq(strlen(tiny), sizeof tiny - 1);
    /* Fields left NULL by a program building its own events. */
    sock_trace_event_t bare = {.id = 1, .fd = -1};
    cr_assert_gt(sock_trace_format(&bare, line, sizeof line), 0);
    cr_assert_str_eq(line, "sock: sock#1 () = 0");
    cr_assert_eq(sock_trace_format(NULL, line, sizeof line), -EINVAL);
}

/* listen(-1) asks for the system's maximum: the trace shows what the
 * kernel granted (net.core.somaxconn), not -1. */
Test(trace, listen_shows_the_granted_backlog, .timeout = 5)
{
    static struct recorder r;
    memset(&r, 0, sizeof r);
    int max = 0;
    FILE *f = fopen("/proc/sys/net/core/somaxconn", "r");
    cr_assert(f && fscanf(f, "%d", &max) == 1 && max > 0);
    fclose(f);
    sock_set_trace(record, &r);
    sock_t a, b;
    sock_init(&a);
    expect_ok(&a, sock_bind(&a, "127.0.0.1", "0"));
    expect_ok(&a, sock_listen(&a, -1));
    sock_init(&b);
    expect_ok(&b, sock_bind(&b, "127.0.0.1", "0"));
    expect_ok(&b, sock_listen(&b, 5));
    sock_set_trace(NULL, NULL);
    char want[16];
    snprintf(want, sizeof want, "%d", max);
    cr_assert_str_eq(must_find(&r, &a, "listen")->args, want);
    cr_assert_str_eq(must_find(&r, &b, "listen")->args, "5");
    sock_close(&a);
    sock_close(&b);
}

/* ---- SOCK_TRACE=1 in a new process ---------------------------------- */

/* The lifecycle run by the re-executed copy.  It runs only there: in the
 * normal run it has nothing to do and says so. */
Test(trace_env, child, .timeout = 10)
{
    const char *host = getenv("SOCK_UNIT_TRACE_CHILD");
    if (!host)
        cr_skip_test("runs only when trace/sock_trace_env executes this binary");
    sock_t a, c, s;
    char port[8];
    listener_on(&a, host, port);
    sock_init(&c);
    expect_ok(&c, sock_connect(&c, host, port));
    expect_ok(&a, sock_accept(&a, &s));
    expect_ok(&c, sock_send_all(&c, "abc", 3, NULL));
    char buf[3];
    expect_ok(&s, sock_recv_all(&s, buf, 3, NULL));
    expect_ok(&c, sock_shutdown(&c, SOCK_SHUT_WRITE));
    sock_close(&c);
    sock_close(&s);
    sock_close(&a);
}

/* Run this binary's trace_env/child test with the given SOCK_TRACE value
 * (NULL: unset) and return what it wrote to stderr (malloc'd). */
static char *run_traced_child(const char *host, const char *trace)
{
    int p[2];
    cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        dup2(p[1], 2);
        int null = open("/dev/null", O_WRONLY);
        if (null >= 0)
            dup2(null, 1);
        /* The copy must start as a runner of its own, not as the sandbox
         * child of this one, which Criterion recognises by BXFI_MAP. */
        unsetenv("BXFI_MAP");
        setenv("SOCK_UNIT_TRACE_CHILD", host, 1);
        if (trace)
            setenv("SOCK_TRACE", trace, 1);
        else
            unsetenv("SOCK_TRACE");
        execl("/proc/self/exe", "test-unit", "--filter=trace_env/child", "--jobs=1", (char *)NULL);
        _exit(127);
    }
    close(p[1]);
    size_t cap = 1 << 16, len = 0;
    char *out = malloc(cap);
    cr_assert_not_null(out);
    int64_t end = now_ms() + 15000;
    for (;;) {
        int left = (int)(end - now_ms());
        struct pollfd pfd = {.fd = p[0], .events = POLLIN};
        if (left <= 0 || poll(&pfd, 1, left) <= 0)
            break;
        if (len + 1 >= cap)
            break;
        ssize_t n = read(p[0], out + len, cap - 1 - len);
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    out[len] = '\0';
    close(p[0]);
    int status = 0;
    pid_t w = 0;
    for (int i = 0; i < 500 && (w = waitpid(pid, &status, WNOHANG)) == 0; i++)
        sleep_ms(10);
    if (w == 0) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
    }
    cr_assert(w == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0,
              "the traced child failed (status %d); its stderr:\n%s", status, out);
    return out;
}

/* Lines the library wrote: everything but Criterion's own "[....]" lines. */
static int library_lines(const char *out, const char *needle)
{
    int count = 0;
    const char *line = out;
    while (*line) {
        const char *nl = strchr(line, '\n');
        size_t len = nl ? (size_t)(nl - line) : strlen(line);
        if (len && line[0] != '[') {
            char buf[1024];
            snprintf(buf, sizeof buf, "%.*s", (int)len, line);
            if (!needle || strstr(buf, needle))
                count++;
        }
        line += len + (nl ? 1 : 0);
    }
    return count;
}

FAMILY_TEST(trace, sock_trace_env_prints_steps, .timeout = 30)
{
    char *out = run_traced_child(host, "1");
    static const char *const steps[] = {"socket", "bind", "listen", "connect", "accept",
                                        "send",   "recv", "shutdown", "close"};
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++)
        cr_assert_gt(library_lines(out, steps[i]), 0, "no \"%s\" line in:\n%s", steps[i], out);
    cr_assert_gt(library_lines(out, host), 0, "no line names %s:\n%s", host, out);
    /* Three sockets, each created, bound or connected, and closed. */
    cr_assert_geq(library_lines(out, NULL), 10, "too few lines:\n%s", out);
    free(out);

    /* Without SOCK_TRACE (and with SOCK_TRACE=0) the library prints
     * nothing. */
    out = run_traced_child(host, NULL);
    cr_assert_eq(library_lines(out, NULL), 0, "output without SOCK_TRACE:\n%s", out);
    free(out);
    out = run_traced_child(host, "0");
    cr_assert_eq(library_lines(out, NULL), 0, "output with SOCK_TRACE=0:\n%s", out);
    free(out);
}
