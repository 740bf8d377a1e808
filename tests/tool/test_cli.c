/*
 * test_cli.c - the `sock` tool: connect and listen moving data both ways
 * with half-close, on 127.0.0.1 and ::1; interop with nc and Python in both
 * roles; resolve; and bad input (exit status 2, one line naming the culprit).
 */
#include "harness.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *families[] = {"127.0.0.1", "::1"};

/* Start `sock listen HOST 0` (with stdin_data as its reply) and return the
 * port it printed. */
static int start_listener(proc_t *p, const char *host, const char *reply)
{
    char *argv[] = {(char *)sock_bin(), "listen", (char *)host, "0", NULL};
    cr_assert_eq(proc_start(p, argv), 0, "cannot start %s", sock_bin());
    if (reply && *reply) {
        ssize_t w = write(p->in, reply, strlen(reply));
        cr_assert_eq(w, (ssize_t)strlen(reply));
    }
    close(p->in);
    p->in = -1;
    char buf[512] = "";
    cr_assert(proc_wait_for(p->err, "listening on", buf, sizeof buf, 5000),
              "no 'listening on' line: %s", buf);
    int port = parse_listening_port(buf);
    cr_assert_gt(port, 0, "no port in '%s'", buf);
    return port;
}

Test(cli, connect_and_listen_half_close_both_ways, .timeout = 30)
{
    for (int f = 0; f < 2; f++) {
        proc_t srv;
        int port = start_listener(&srv, families[f], "reply from listener\n");
        char portstr[8], *out = NULL, *err = NULL;
        snprintf(portstr, sizeof portstr, "%d", port);
        char *argv[] = {(char *)sock_bin(), "connect", (char *)families[f], portstr, NULL};
        const char *req = "request from connect\n";
        int st = proc_run(argv, req, strlen(req), &out, NULL, &err, 10000);
        cr_expect_eq(st, 0, "sock connect %s exit %d: %s", families[f], st, err);
        /* The reply arrives although connect half-closed after its input. */
        cr_expect_str_eq(out, "reply from listener\n");
        char *got = proc_read_all(srv.out, NULL, 5000);
        cr_expect_str_eq(got, req, "listener received '%s'", got ? got : "(nothing)");
        cr_expect_eq(proc_wait(&srv, 5000), 0, "listener did not end cleanly");
        free(got), free(out), free(err);
    }
}

Test(cli, host_port_single_argument, .timeout = 20)
{
    proc_t srv;
    int port = start_listener(&srv, "::1", "ok\n");
    char addr[64], *out = NULL;
    snprintf(addr, sizeof addr, "[::1]:%d", port);
    char *argv[] = {(char *)sock_bin(), "connect", addr, NULL};
    cr_expect_eq(proc_run(argv, "x", 1, &out, NULL, NULL, 10000), 0);
    cr_expect_str_eq(out, "ok\n");
    proc_wait(&srv, 5000);
    free(out);
}

Test(cli, refused_is_exit_1_with_library_text, .timeout = 20)
{
    proc_t srv;
    int port = start_listener(&srv, "127.0.0.1", "");
    proc_kill(&srv); /* the port is free again: nobody listens */
    char portstr[8], *err = NULL;
    snprintf(portstr, sizeof portstr, "%d", port);
    char *argv[] = {(char *)sock_bin(), "connect", "127.0.0.1", portstr, NULL};
    int st = proc_run(argv, NULL, 0, NULL, NULL, &err, 10000);
    cr_expect_eq(st, 1, "exit %d", st);
    cr_expect(strstr(err, "Connection refused") && strstr(err, portstr), "stderr: %s", err);
    free(err);
}

/* Every case: exit status 2 and one line on stderr that names the culprit. */
static void expect_usage_error(char **argv, const char *culprit)
{
    char *err = NULL, *out = NULL;
    int st = proc_run(argv, NULL, 0, &out, NULL, &err, 10000);
    cr_expect_eq(st, 2, "%s %s: exit %d, stderr %s", argv[1], argv[2] ? argv[2] : "", st, err);
    cr_expect(strstr(err, culprit) != NULL, "stderr does not name '%s': %s", culprit, err);
    const char *nl = strchr(err, '\n');
    cr_expect(nl && nl[1] == '\0', "not one line: '%s'", err);
    free(err), free(out);
}

Test(cli, bad_input_exit_2, .timeout = 60)
{
    const char *bad_addrs[] = {"[::1]", "::1", "[foo]:[bar]baz", "foo]bar:baz"};
    for (size_t i = 0; i < sizeof bad_addrs / sizeof bad_addrs[0]; i++) {
        char *argv[] = {(char *)sock_bin(), "connect", (char *)bad_addrs[i], NULL};
        expect_usage_error(argv, bad_addrs[i]);
    }
    char *p1[] = {(char *)sock_bin(), "connect", "127.0.0.1", "99999", NULL};
    expect_usage_error(p1, "99999");
    char *p2[] = {(char *)sock_bin(), "connect", "127.0.0.1", "-1", NULL};
    expect_usage_error(p2, "-1");
    char *p3[] = {(char *)sock_bin(), "listen", "99999", NULL};
    expect_usage_error(p3, "99999");
    char *p4[] = {(char *)sock_bin(), "--bogus", NULL};
    expect_usage_error(p4, "--bogus");
    char *p5[] = {(char *)sock_bin(), "connect", NULL};
    expect_usage_error(p5, "missing");
    char *p6[] = {(char *)sock_bin(), "nosuchcommand", NULL};
    expect_usage_error(p6, "nosuchcommand");
    char *p7[] = {(char *)sock_bin(), "--timeout", "soon", "connect", "h", "1", NULL};
    expect_usage_error(p7, "soon");
    char *p8[] = {(char *)sock_bin(), "connect", "--frobnicate", NULL};
    expect_usage_error(p8, "frobnicate");
}

Test(cli, valid_scenario_40_addresses_are_accepted, .timeout = 30)
{
    /* Valid forms must get past argument checking: with nobody listening
     * they fail as network errors (1), never as usage errors (2). */
    proc_t srv;
    int port = start_listener(&srv, "127.0.0.1", "");
    proc_kill(&srv);
    char a1[64], a2[64];
    snprintf(a1, sizeof a1, "[::1]:%d", port);
    snprintf(a2, sizeof a2, "127.0.0.1:%d", port);
    const char *good[] = {a1, a2};
    for (int i = 0; i < 2; i++) {
        char *argv[] = {(char *)sock_bin(), "connect", (char *)good[i], NULL};
        int st = proc_run(argv, NULL, 0, NULL, NULL, NULL, 10000);
        cr_expect_eq(st, 1, "%s: exit %d", good[i], st);
    }
    /* ":0" is a listener on every address; "[::1]:0" one on ::1. */
    const char *listen_forms[] = {":0", "[::1]:0"};
    for (int i = 0; i < 2; i++) {
        char *argv[] = {(char *)sock_bin(), "listen", (char *)listen_forms[i], NULL};
        proc_t p;
        cr_assert_eq(proc_start(&p, argv), 0);
        char buf[256] = "";
        cr_expect(proc_wait_for(p.err, "listening on", buf, sizeof buf, 5000), "%s: %s",
                  listen_forms[i], buf);
        proc_kill(&p);
    }
}

Test(cli, resolve_lists_addresses_and_errors, .timeout = 20)
{
    char *out = NULL, *err = NULL;
    char *argv[] = {(char *)sock_bin(), "resolve", "127.0.0.1", "http", NULL};
    cr_expect_eq(proc_run(argv, NULL, 0, &out, NULL, &err, 10000), 0);
    cr_expect(strstr(out, "127.0.0.1:80") && strstr(out, "IPv4"), "%s", out);
    free(out), free(err);
    enter_offline_netns(); /* example.invalid: no query may leave the machine */
    char *bad[] = {(char *)sock_bin(), "resolve", "example.invalid", NULL};
    int st = proc_run(bad, NULL, 0, NULL, NULL, &err, 15000);
    cr_expect_eq(st, 1);
    cr_expect(strstr(err, "example.invalid") != NULL, "%s", err);
    free(err);
}

Test(cli, interop_nc_and_python_both_roles, .timeout = 60)
{
    cr_assert(have_command("nc") && have_command("python3"),
              "nc and python3 must be installed (make test installs them)");
    for (int f = 0; f < 2; f++) {
        /* sock listen, nc connects (-N: shut down on end of input). */
        proc_t srv;
        int port = start_listener(&srv, families[f], "hola nc\n");
        char portstr[8], *out = NULL;
        snprintf(portstr, sizeof portstr, "%d", port);
        char *nc[] = {"nc", "-N", (char *)families[f], portstr, NULL};
        cr_expect_eq(proc_run(nc, "from nc\n", 8, &out, NULL, NULL, 10000), 0);
        cr_expect_str_eq(out, "hola nc\n");
        char *got = proc_read_all(srv.out, NULL, 5000);
        cr_expect_str_eq(got, "from nc\n");
        proc_wait(&srv, 5000);
        free(out), free(got);

        /* Python listens (port 0, printed), sock connects; Python reads to
         * end of stream (our half-close) before it replies. */
        const char *py =
            "import socket,sys\n"
            "fam=socket.AF_INET6 if ':' in sys.argv[1] else socket.AF_INET\n"
            "s=socket.socket(fam); s.bind((sys.argv[1],0)); s.listen(1)\n"
            "print('listening on x:%d' % s.getsockname()[1], file=sys.stderr, flush=True)\n"
            "c,_=s.accept(); data=b''\n"
            "while True:\n"
            "  d=c.recv(65536)\n"
            "  if not d: break\n"
            "  data+=d\n"
            "c.sendall(b'python got %d bytes\\n' % len(data)); c.close()\n";
        char *pyargv[] = {"python3", "-c", (char *)py, (char *)families[f], NULL};
        proc_t pys;
        cr_assert_eq(proc_start(&pys, pyargv), 0);
        char buf[256] = "";
        cr_assert(proc_wait_for(pys.err, "listening on", buf, sizeof buf, 10000), "%s", buf);
        snprintf(portstr, sizeof portstr, "%d", parse_listening_port(buf));
        char *sc[] = {(char *)sock_bin(), "connect", (char *)families[f], portstr, NULL};
        cr_expect_eq(proc_run(sc, "12345", 5, &out, NULL, NULL, 10000), 0);
        cr_expect_str_eq(out, "python got 5 bytes\n");
        proc_wait(&pys, 5000);
        free(out);
    }
}

/* ------------------------------------------------------------------ issue 9 */

/* Run argv with no input; stderr (malloc'd) in *err.  Returns the status. */
static int run_err(char **argv, char **err, int timeout_ms)
{
    return proc_run(argv, NULL, 0, NULL, NULL, err, timeout_ms);
}

/* A port nobody listens on (a listener's, closed again). */
static void free_port(char *buf, size_t len)
{
    proc_t srv;
    int port = start_listener(&srv, "127.0.0.1", "");
    proc_kill(&srv);
    snprintf(buf, len, "%d", port);
}

Test(cli, timeout_zero_is_a_usage_error, .timeout = 30)
{
    char port[8];
    free_port(port, sizeof port);
    char *z[] = {(char *)sock_bin(), "--timeout", "0", "connect", "127.0.0.1", port, NULL};
    expect_usage_error(z, "from 1 to 86400000");
    char *r[] = {(char *)sock_bin(), "resolve", "--timeout", "100", "127.0.0.1", NULL};
    expect_usage_error(r, "--timeout");
}

/* -k: --timeout ends idle clients, never the server between clients; and
 * without -k it bounds the wait for the one client, saying so. */
Test(cli, listen_keep_open_outlives_timeout_between_clients, .timeout = 30)
{
    char *argv[] = {(char *)sock_bin(), "--timeout", "200", "listen", "-k", "127.0.0.1", "0",
                    NULL};
    proc_t srv;
    cr_assert_eq(proc_start(&srv, argv), 0);
    close(srv.in);
    srv.in = -1;
    char log[512] = "", out[256] = "";
    cr_assert(proc_wait_for(srv.err, "listening on", log, sizeof log, 5000), "%s", log);
    char port[8];
    snprintf(port, sizeof port, "%d", parse_listening_port(log));
    char *c[] = {(char *)sock_bin(), "connect", "127.0.0.1", port, NULL};
    cr_expect_eq(proc_run(c, "one\n", 4, NULL, NULL, NULL, 5000), 0);
    cr_expect(proc_wait_for(srv.out, "one", out, sizeof out, 5000), "%s", out);
    /* Longer than --timeout with no client at all. */
    usleep(600 * 1000);
    char *err = NULL;
    int st = proc_run(c, "two\n", 4, NULL, NULL, &err, 5000);
    cr_expect_eq(st, 0, "second client: exit %d: %s", st, err);
    cr_expect(proc_wait_for(srv.out, "two", out, sizeof out, 5000), "%s", out);
    free(err);
    proc_kill(&srv);

    char *once[] = {(char *)sock_bin(), "--timeout", "100", "listen", "127.0.0.1", "0", NULL};
    st = run_err(once, &err, 10000);
    cr_expect_eq(st, 1, "exit %d: %s", st, err);
    cr_expect(err && strstr(err, "no client within 100 ms (--timeout)"), "%s", err);
    free(err);
}

Test(cli, global_options_after_the_command, .timeout = 30)
{
    char *out = NULL, *err = NULL;
    char *r[] = {(char *)sock_bin(), "resolve", "-4", "localhost", NULL};
    int st = proc_run(r, NULL, 0, &out, NULL, &err, 10000);
    cr_expect_eq(st, 0, "exit %d: %s", st, err);
    cr_expect(out && strstr(out, "IPv4") && !strstr(out, "IPv6"), "%s", out);
    free(out), free(err);
    char *r6[] = {(char *)sock_bin(), "resolve", "::1", "http", "-6", NULL};
    st = proc_run(r6, NULL, 0, &out, NULL, &err, 10000);
    cr_expect_eq(st, 0, "exit %d: %s", st, err);
    cr_expect(out && strstr(out, "[::1]:80"), "%s", out);
    free(out), free(err);
    /* --timeout after the command is taken, not "unknown option". */
    char port[8];
    free_port(port, sizeof port);
    char *c[] = {(char *)sock_bin(), "connect", "--timeout", "1000", "--trace", "127.0.0.1", port,
                 NULL};
    st = run_err(c, &err, 10000);
    cr_expect_eq(st, 1, "exit %d: %s", st, err);
    cr_expect(err && strstr(err, "Connection refused") && strstr(err, "sock#1 connect("), "%s",
              err);
    free(err);
    char *c2[] = {(char *)sock_bin(), "connect", "--timeout=0", "127.0.0.1", port, NULL};
    expect_usage_error(c2, "--timeout '0'");
}

/* The bad letter itself, never the program's path or the whole word. */
Test(cli, bad_options_named_exactly, .timeout = 60)
{
    struct {
        const char *args[4];
        const char *culprit;
    } cases[] = {
        {{"-x4", "connect"}, "unknown option '-x' in '-x4'"},
        {{"-4x", "connect"}, "unknown option '-x' in '-4x'"},
        {{"--t", "connect"}, "ambiguous: --trace, --timeout"},
        {{"--trace=1", "connect"}, "'--trace' takes no value"},
        {{"--timeout"}, "'--timeout' needs a value"},
        {{"connect", "--timeout"}, "'--timeout' needs a value"},
        {{"listen", "-kz", "0"}, "unknown option '-z' in '-kz'"},
        {{"relay", "--max-chunk"}, "'--max-chunk' needs a value"},
        {{"resolve", "--pasive", "x"}, "unknown option '--pasive'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *argv[8] = {(char *)sock_bin()};
        int n = 1;
        for (int k = 0; k < 4 && cases[i].args[k]; k++)
            argv[n++] = (char *)cases[i].args[k];
        argv[n] = NULL;
        expect_usage_error(argv, cases[i].culprit);
        char *err = NULL;
        run_err(argv, &err, 10000);
        cr_expect(err && !strstr(err, sock_bin()), "names the program: %s", err);
        free(err);
    }
}

/* One rule for HOST and PORT: an empty port and empty brackets are usage
 * errors everywhere, and the two-argument form takes a bare HOST. */
Test(cli, host_port_one_rule, .timeout = 60)
{
    struct {
        const char *args[4];
        const char *culprit;
    } cases[] = {
        {{"connect", "localhost:"}, "missing PORT"},
        {{"connect", "127.0.0.1", ""}, "missing PORT"},
        {{"listen", "127.0.0.1:"}, "missing PORT"},
        {{"listen", ""}, "invalid port ''"},
        {{"connect", "[]:80"}, "empty brackets"},
        {{"listen", "[]:0"}, "empty brackets"},
        {{"connect", "[::1]:", "1"}, "invalid HOST '[::1]:'"},
        {{"resolve", "localhost", ""}, "empty SERVICE"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *argv[8] = {(char *)sock_bin()};
        int n = 1;
        for (int k = 0; k < 4 && cases[i].args[k]; k++)
            argv[n++] = (char *)cases[i].args[k];
        argv[n] = NULL;
        expect_usage_error(argv, cases[i].culprit);
        char *err = NULL;
        run_err(argv, &err, 10000);
        cr_expect(err && !strstr(err, "[::1]::1") && !strstr(err, "listening on"), "%s", err);
        free(err);
    }
}

/* Input in messages is shortened and escaped, so one line stays one line. */
Test(cli, messages_quote_input_short_and_escaped, .timeout = 30)
{
    size_t big = 100 * 1024;
    char *huge = malloc(big + 1);
    cr_assert(huge);
    memset(huge, 'x', big);
    huge[big] = '\0';
    char *err = NULL;
    char *h[] = {(char *)sock_bin(), huge, NULL};
    cr_expect_eq(run_err(h, &err, 10000), 2);
    cr_expect(err && strlen(err) < 200 && strstr(err, "xxx...'"), "%zu bytes of message",
              err ? strlen(err) : 0);
    free(err);
    char *o[] = {(char *)sock_bin(), "connect", "--timeout", huge, "h", "1", NULL};
    cr_expect_eq(run_err(o, &err, 10000), 2);
    cr_expect(err && strlen(err) < 200, "%zu bytes of message", err ? strlen(err) : 0);
    free(err);
    free(huge);
    char *ctl[] = {(char *)sock_bin(), "connect", "a\nb\x01" "c:", NULL};
    expect_usage_error(ctl, "'a\\nb\\x01c:'");
}

/* Standard output is checked at the end: a full disk is an error (1, with
 * a message), also for --help; a reader that went away is a normal end. */
Test(cli, stdout_errors_and_readers_that_go_away, .timeout = 30)
{
    char cmd[512], *err = NULL;
    const char *forms[] = {"--help", "resolve 127.0.0.1", "--version"};
    for (int i = 0; i < 3; i++) {
        snprintf(cmd, sizeof cmd, "exec %s %s > /dev/full", sock_bin(), forms[i]);
        char *sh[] = {"sh", "-c", cmd, NULL};
        int st = run_err(sh, &err, 10000);
        cr_expect_eq(st, 1, "%s: exit %d", forms[i], st);
        cr_expect(err && strstr(err, "No space left on device"), "%s: %s", forms[i], err);
        free(err);
    }
    /* A listener that sends without end; connect's reader takes one byte. */
    snprintf(cmd, sizeof cmd, "exec %s listen 127.0.0.1 0 < /dev/zero > /dev/null", sock_bin());
    char *srv_argv[] = {"sh", "-c", cmd, NULL};
    proc_t srv;
    cr_assert_eq(proc_start(&srv, srv_argv), 0);
    char log[256] = "";
    cr_assert(proc_wait_for(srv.err, "listening on", log, sizeof log, 5000), "%s", log);
    snprintf(cmd, sizeof cmd,
             "%s connect 127.0.0.1 %d < /dev/null | head -c 1 > /dev/null; exit ${PIPESTATUS[0]}",
             sock_bin(), parse_listening_port(log));
    char *bash[] = {"bash", "-c", cmd, NULL};
    int st = run_err(bash, &err, 10000);
    cr_expect_eq(st, 0, "exit %d: %s", st, err);
    cr_expect(err && !*err, "not quiet: %s", err);
    free(err);
    proc_kill(&srv);
}

/* --trace shows the data steps of the pump, with their byte counts. */
Test(cli, trace_shows_data_steps, .timeout = 30)
{
    proc_t srv;
    int port = start_listener(&srv, "127.0.0.1", "reply\n");
    char portstr[8], *out = NULL, *err = NULL;
    snprintf(portstr, sizeof portstr, "%d", port);
    char *argv[] = {(char *)sock_bin(), "--trace", "connect", "127.0.0.1", portstr, NULL};
    int st = proc_run(argv, "hello", 5, &out, NULL, &err, 10000);
    cr_expect_eq(st, 0, "exit %d: %s", st, err);
    /* From a pipe the input is spliced in; the reply goes to a pipe too. */
    cr_expect(err && strstr(err, "splice-out(pipe -> socket) = 5"), "%s", err);
    cr_expect(err && strstr(err, "splice-in(socket -> pipe) = 6"), "%s", err);
    proc_wait(&srv, 5000);
    free(out), free(err);
}
