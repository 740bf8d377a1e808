/*
 * test_echo.c - `sock echo`: several clients at once on 127.0.0.1 and ::1,
 * the end of a client's stream, the stop on SIGTERM and SIGINT with its
 * counts, and bad input.  The same server at scale (10,000 clients,
 * exhaustion, slow clients) is in tests/stress/test_echo.c.
 */
#include "harness.h"

#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sock.h"

static const char *families[] = {"127.0.0.1", "::1"};

struct echo_server {
    proc_t p;
    char port[8];
    char log[4096];
};

/* Start `sock echo [option] HOST 0`; option may be NULL. */
static void start_with(struct echo_server *e, const char *option, const char *host)
{
    char *argv[6] = {(char *)sock_bin(), "echo"};
    int n = 2;
    if (option)
        argv[n++] = (char *)option;
    argv[n++] = (char *)host;
    argv[n++] = "0";
    argv[n] = NULL;
    memset(e, 0, sizeof *e);
    cr_assert_eq(proc_start(&e->p, argv), 0, "cannot start %s", sock_bin());
    cr_assert(proc_wait_for(e->p.err, "listening on", e->log, sizeof e->log, 10000),
              "no 'listening on' line: %s", e->log);
    int port = parse_listening_port(e->log);
    cr_assert_gt(port, 0, "no port in: %s", e->log);
    snprintf(e->port, sizeof e->port, "%d", port);
}

static void start(struct echo_server *e, const char *host)
{
    start_with(e, NULL, host);
}

/* Stop it with sig; returns its exit status, with its counts in e->log. */
static int stop(struct echo_server *e, int sig)
{
    cr_assert_eq(kill(e->p.pid, sig), 0);
    proc_wait_for(e->p.err, "failed accepts", e->log, sizeof e->log, 10000);
    return proc_wait(&e->p, 10000);
}

static void client(sock_t *c, const char *host, const char *port)
{
    sock_init(c);
    sock_set_timeout(c, 5000);
    cr_assert_eq(sock_connect(c, host, port), 0, "connect: %s", sock_error(c));
}

static void expect_echo(sock_t *c, const char *text)
{
    size_t len = strlen(text), got = 0;
    char buf[256] = "";
    cr_assert_eq(sock_send_all(c, text, len, NULL), 0, "send: %s", sock_error(c));
    int rc = sock_recv_all(c, buf, len, &got);
    cr_expect_eq(rc, 0, "recv: %s (got %zu of %zu)", sock_error(c), got, len);
    cr_expect_str_eq(buf, text);
}

Test(echo, serves_clients_at_once_and_stops_on_sigterm, .timeout = 30)
{
    for (int f = 0; f < 2; f++) {
        struct echo_server e;
        start(&e, families[f]);
        sock_t a, b;
        client(&a, families[f], e.port);
        client(&b, families[f], e.port);
        /* Interleaved: neither client waits for the other to finish. */
        expect_echo(&b, "second client first\n");
        expect_echo(&a, "hola, servidor\n");
        expect_echo(&b, "and again\n");
        sock_close(&a);
        sock_close(&b);
        int st = stop(&e, SIGTERM);
        cr_expect_eq(st, 0, "exit %d: %s", st, e.log);
        cr_expect(strstr(e.log, "stopped by SIGTERM: 2 clients served, 45 bytes echoed"),
                  "counts: %s", e.log);
    }
}

Test(echo, end_of_stream_after_every_byte_echoed, .timeout = 30)
{
    struct echo_server e;
    start(&e, "127.0.0.1");
    sock_t c;
    client(&c, "127.0.0.1", e.port);
    /* 1 MiB, then our end of stream: every byte must come back before the
     * server's end of stream. */
    enum { LEN = 1 << 20 };
    char *out = malloc(LEN), *in = malloc(LEN + 1);
    cr_assert(out && in);
    for (int i = 0; i < LEN; i++)
        out[i] = (char)(i * 7 + i / 251);
    size_t sent = 0, got = 0;
    /* Send and receive at once: 1 MiB is more than the socket buffers of
     * both sides, so sending it all first could deadlock. */
    while (got < LEN) {
        if (sent < LEN) {
            ssize_t w = sock_send(&c, out + sent, LEN - sent > 65536 ? 65536 : LEN - sent);
            cr_assert_gt(w, 0, "send: %s", sock_error(&c));
            sent += (size_t)w;
            if (sent == LEN)
                cr_assert_eq(sock_shutdown(&c, SOCK_SHUT_WRITE), 0);
        }
        ssize_t r = sock_recv(&c, in + got, LEN - got);
        cr_assert_gt(r, 0, "recv after %zu bytes: %s", got, sock_error(&c));
        got += (size_t)r;
    }
    cr_expect_eq(memcmp(in, out, LEN), 0, "the echo differs");
    cr_expect_eq(sock_recv(&c, in, 1), 0, "no end of stream after the echo");
    sock_close(&c);
    free(out), free(in);
    cr_expect_eq(stop(&e, SIGINT), 0, "%s", e.log);
    cr_expect(strstr(e.log, "stopped by SIGINT: 1 clients served, 1048576 bytes echoed"), "%s",
              e.log);
}

Test(echo, stop_ends_connected_clients_streams, .timeout = 30)
{
    struct echo_server e;
    start(&e, "::1");
    sock_t c;
    client(&c, "::1", e.port);
    expect_echo(&c, "still here\n");
    cr_assert_eq(kill(e.p.pid, SIGTERM), 0);
    /* The stop ends our stream at once (after what was echoed)... */
    char buf[16];
    cr_expect_eq(sock_recv(&c, buf, sizeof buf), 0, "%s", sock_error(&c));
    /* ...and the server exits as soon as we close ours. */
    sock_close(&c);
    proc_wait_for(e.p.err, "failed accepts", e.log, sizeof e.log, 10000);
    cr_expect_eq(proc_wait(&e.p, 10000), 0, "%s", e.log);
    cr_expect(strstr(e.log, "0 cut off after the grace period"), "%s", e.log);
}

Test(echo, bad_input_exit_2_naming_the_culprit, .timeout = 30)
{
    struct {
        const char *args[4];
        const char *culprit;
    } cases[] = {
        {{"99999"}, "99999"},
        {{"-1"}, "-1"},
        {{"--idle-timeout", "soon", "0"}, "soon"},
        {{"--backlog", "0", "0"}, "--backlog"},
        {{"--bogus", "0"}, "--bogus"},
        {{NULL}, "missing"},
        {{"[foo]:[bar]baz"}, "[foo]:[bar]baz"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *argv[8] = {(char *)sock_bin(), "echo"};
        int n = 2;
        for (int j = 0; j < 4 && cases[i].args[j]; j++)
            argv[n++] = (char *)cases[i].args[j];
        argv[n] = NULL;
        char *err = NULL;
        int st = proc_run(argv, NULL, 0, NULL, NULL, &err, 10000);
        cr_expect_eq(st, 2, "case %zu: exit %d: %s", i, st, err);
        cr_expect(err && strstr(err, cases[i].culprit), "case %zu: '%s' not named in: %s", i,
                  cases[i].culprit, err);
        cr_expect(err && strchr(err, '\n') == err + strlen(err) - 1, "case %zu: not one line: %s",
                  i, err);
        free(err);
    }
}

/* Issue 9: --timeout means nothing to a server of many clients; it is a
 * usage error that points at --idle-timeout, and --backlog names its own
 * range and unit, not the milliseconds of another option. */
Test(echo, timeout_and_backlog_say_what_they_are, .timeout = 30)
{
    char *err = NULL;
    char *t[] = {(char *)sock_bin(), "--timeout", "500", "echo", "127.0.0.1", "0", NULL};
    int st = proc_run(t, NULL, 0, NULL, NULL, &err, 5000);
    cr_expect_eq(st, 2, "exit %d: %s", st, err);
    cr_expect(err && strstr(err, "--idle-timeout") && !strstr(err, "listening on"), "%s", err);
    free(err);
    char *b[] = {(char *)sock_bin(), "echo", "--backlog", "0", "0", NULL};
    st = proc_run(b, NULL, 0, NULL, NULL, &err, 5000);
    cr_expect_eq(st, 2, "exit %d: %s", st, err);
    cr_expect(err && strstr(err, "connections from 1 to 65535") && !strstr(err, "86400000"), "%s",
              err);
    free(err);
}

/* Is anybody listening on 127.0.0.1:port?  One connect, bounded. */
static int accepting(const char *port)
{
    sock_t c;
    sock_init(&c);
    sock_set_timeout(&c, 2000);
    int rc = sock_connect(&c, "127.0.0.1", port);
    sock_close(&c);
    return rc == 0;
}

/* Issue 9: Ctrl-C pressed again during the grace period ends the stop at
 * once, and the counts line says so (a client that never closes would
 * otherwise hold it for the whole grace period). */
Test(echo, second_sigint_ends_the_grace_period, .timeout = 30)
{
    struct echo_server e;
    start(&e, "127.0.0.1");
    sock_t c;
    client(&c, "127.0.0.1", e.port);
    expect_echo(&c, "stay\n");
    cr_assert_eq(kill(e.p.pid, SIGINT), 0);
    /* The first SIGINT has been handled once the listener is gone (two
     * signals sent at once would merge into one). */
    int gone = 0;
    for (int i = 0; i < 200 && !gone; i++) {
        gone = !accepting(e.port);
        if (!gone)
            usleep(10000);
    }
    cr_assert(gone, "the listener outlived the first SIGINT");
    cr_assert_eq(kill(e.p.pid, SIGINT), 0);
    proc_wait_for(e.p.err, "failed accepts", e.log, sizeof e.log, 10000);
    cr_expect_eq(proc_wait(&e.p, 10000), 0, "%s", e.log);
    cr_expect(strstr(e.log, "stopped by SIGINT and a second SIGINT") &&
                  strstr(e.log, "1 cut off at the second SIGINT"),
              "%s", e.log);
    sock_close(&c);
}

/* -v names every client by its address, as the client sees its own
 * (brackets for IPv6), when it connects and when it ends: in order, and
 * also when it ends with a reset (the name then comes from the handle,
 * since the kernel no longer knows the peer). */
Test(echo, verbose_names_each_client_when_it_comes_and_goes, .timeout = 30)
{
    for (int f = 0; f < 2; f++) {
        struct echo_server e;
        start_with(&e, "-v", families[f]);
        sock_t a, b;
        char name_a[SOCK_ADDRSTRLEN], name_b[SOCK_ADDRSTRLEN], want[3][SOCK_ADDRSTRLEN + 64];
        client(&a, families[f], e.port);
        expect_echo(&a, "ping\n");
        client(&b, families[f], e.port);
        expect_echo(&b, "pong\n");
        cr_assert_eq(sock_local_addr(&a, name_a, sizeof name_a), 0);
        cr_assert_eq(sock_local_addr(&b, name_b, sizeof name_b), 0);
        snprintf(want[0], sizeof want[0], "sock echo: client %s: connected\n", name_a);
        snprintf(want[1], sizeof want[1], "sock echo: client %s: closed\n", name_a);
        snprintf(want[2], sizeof want[2], "sock echo: client %s: reset by the client\n", name_b);
        sock_close(&a);
        cr_assert(proc_wait_for(e.p.err, want[1], e.log, sizeof e.log, 10000), "%s", e.log);
        sock_abort(&b);
        cr_assert(proc_wait_for(e.p.err, "reset by the client", e.log, sizeof e.log, 10000),
                  "%s", e.log);
        int st = stop(&e, SIGTERM);
        cr_expect_eq(st, 0, "exit %d: %s", st, e.log);
        const char *at = e.log;
        for (int i = 0; i < 3; i++) {
            const char *hit = strstr(at, want[i]);
            cr_expect(hit, "no '%.*s' after the lines before it in: %s",
                      (int)strlen(want[i]) - 1, want[i], e.log);
            if (hit)
                at = hit;
        }
        cr_expect(strstr(e.log, "1 resets"), "the reset is not counted: %s", e.log);
    }
}
