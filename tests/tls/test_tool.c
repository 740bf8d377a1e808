/*
 * test_tool.c - TLS in the `sock` tool: connect --tls, listen --tls and
 * relay --tls-listen / --tls-connect, with the certificates of the run,
 * over 127.0.0.1 and ::1.
 *
 * Each bad certificate ends the client with status 1, the reason in words,
 * and no application byte reaching the server; a plain peer is named; a
 * cut without close_notify is reported; a handshake that never finishes
 * ends at --timeout; 16 MiB go each way through a relay that terminates
 * and originates TLS, byte for byte; a relay client stalled in its
 * handshake holds up no other client; curl and openssl s_client talk to
 * `sock listen --tls`.  Every child is killed by the .fini, also after a
 * failed assertion, and the files are removed.
 */
#include "../tool/harness.h"
#include "tls_util.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define NPROCS 4
static proc_t procs[NPROCS];
static char tmpdir[64];

static void tool_setup(void)
{
    tls_setup();
    for (int i = 0; i < NPROCS; i++)
        procs[i] = (proc_t){.pid = -1, .in = -1, .out = -1, .err = -1};
    snprintf(tmpdir, sizeof tmpdir, "/tmp/sock-tls-tool.%d", (int)getpid());
    cr_assert_eq(mkdir(tmpdir, 0700), 0, "mkdir %s", tmpdir);
}

static void tool_teardown(void)
{
    for (int i = 0; i < NPROCS; i++)
        if (procs[i].pid > 0)
            proc_kill(&procs[i]);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (tmpdir[0] && system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmpdir);
    tls_teardown();
}

TestSuite(tool, .init = tool_setup, .fini = tool_teardown);

/* A path in the test's directory. */
static const char *tmp(const char *name)
{
    static char buf[4][192];
    static int next;
    char *b = buf[next++ % 4];
    snprintf(b, sizeof buf[0], "%s/%s", tmpdir, name);
    return b;
}

/* argv of `sock ARGS` (args NULL-terminated, at most 22 words). */
static void sock_argv(char *argv[24], char *const args[])
{
    int n = 0;
    argv[n++] = (char *)sock_bin();
    for (int k = 0; args[k] && n < 23; k++)
        argv[n++] = args[k];
    argv[n] = NULL;
}

/* Start a sock server (args after "sock") as procs[i]; its port. */
static int start_server(int i, char *const args[])
{
    char *argv[24];
    sock_argv(argv, args);
    cr_assert_eq(proc_start(&procs[i], argv), 0);
    char out[512] = "";
    cr_assert(proc_wait_for(procs[i].err, "listening on", out, sizeof out, 10000),
              "no 'listening on' from %s %s: %s", args[0], args[1], out);
    int port = parse_listening_port(out);
    cr_assert_gt(port, 0, "%s", out);
    return port;
}

/* Give a child its standard input (then end it). */
static void feed(proc_t *p, const char *text)
{
    size_t len = strlen(text);
    cr_assert_eq(write(p->in, text, len), (ssize_t)len);
    close(p->in);
    p->in = -1;
}

/* Run `sock ARGS` to its end with input; status, stdout and stderr. */
static int run_sock(char *const args[], const char *input, char **out, char **err)
{
    char *argv[24];
    sock_argv(argv, args);
    return proc_run(argv, input, input ? strlen(input) : 0, out, NULL, err, 20000);
}

/* What a server child printed, once it has ended (within 10 s). */
static int end_of(int i, char **out, char **err)
{
    size_t n;
    *out = proc_read_all(procs[i].out, &n, 10000);
    *err = proc_read_all(procs[i].err, &n, 10000);
    cr_assert(*out && *err, "the server's output did not end");
    return proc_wait(&procs[i], 10000);
}

static const char *addr(const char *host)
{
    return is_v6(host) ? "::1" : "127.0.0.1";
}

/* ------------------------------------------------ connect and listen */

FAMILY_TEST(tool, connect_and_listen_verified_both_ways, .timeout = 30)
{
    char port[8];
    char *srv[] = {"listen", "--tls", "--cert", certs.server, "--key", certs.server_key, "-v",
                   (char *)addr(host), "0", NULL};
    snprintf(port, sizeof port, "%d", start_server(0, srv));
    feed(&procs[0], "from the server\n");
    char *out, *err, *sout, *serr;
    /* The certificate holds the addresses too: verified for the IP. */
    char *cli[] = {"connect", "--tls", "--ca", certs.ca, "-v", (char *)addr(host), port, NULL};
    int rc = run_sock(cli, "from the client\n", &out, &err);
    cr_assert_eq(rc, 0, "connect: %d: %s", rc, err);
    cr_assert_str_eq(out, "from the server\n");
    cr_assert(strstr(err, "tls: TLSv1.3, ") && strstr(err, ", verified CN=localhost"), "%s", err);
    cr_assert_eq(end_of(0, &sout, &serr), 0, "listen: %s", serr);
    cr_assert_str_eq(sout, "from the client\n");
    cr_assert(strstr(serr, "tls: TLSv1.3, ") && strstr(serr, "no client certificate"), "%s",
              serr);
    free(out), free(err), free(sout), free(serr);
}

/* Each bad certificate: status 1, its reason, and the server saw no byte
 * of the client's (it reports the handshake the client refused). */
static void refused(const char *cert, const char *key, const char *name, const char *ca,
                    const char *phrase)
{
    char port[8];
    char *srv[] = {"listen", "--tls", "--cert", (char *)cert, "--key", (char *)key,
                   "127.0.0.1", "0", NULL};
    snprintf(port, sizeof port, "%d", start_server(0, srv));
    feed(&procs[0], "");
    char *cli_ca[] = {"connect", "--tls", "--ca", (char *)ca, (char *)name, port, NULL};
    char *cli_sys[] = {"connect", "--tls", (char *)name, port, NULL};
    char *out, *err, *sout, *serr;
    int rc = run_sock(ca ? cli_ca : cli_sys, "secret\n", &out, &err);
    cr_assert_eq(rc, 1, "connect to %s: %d: %s", cert, rc, err);
    cr_assert(strstr(err, phrase), "no '%s' in: %s", phrase, err);
    cr_assert_str_eq(out, "");
    end_of(0, &sout, &serr);
    cr_assert_str_eq(sout, "", "the server received application bytes: %s", sout);
    cr_assert(strstr(serr, "tls handshake with"), "%s", serr);
    free(out), free(err), free(sout), free(serr);
}

Test(tool, bad_certificates_refused_in_words, .timeout = 60)
{
    refused(certs.self, certs.self_key, "localhost", certs.ca, "self-signed certificate");
    refused(certs.expired, certs.expired_key, "localhost", certs.ca, "certificate expired on");
    refused(certs.wrong, certs.wrong_key, "localhost", certs.ca,
            "host name mismatch: certificate is for 'a.test', not 'localhost'");
    refused(certs.other, certs.other_key, "localhost", certs.ca, "is not a trusted CA");
    /* Without --ca, the system's CAs, which do not know the test's CA. */
    refused(certs.server, certs.server_key, "localhost", NULL, "is not a trusted CA");
    /* --servername: the name checked instead of HOST. */
    char port[8];
    char *srv[] = {"listen", "--tls", "--cert", certs.server, "--key", certs.server_key,
                   "127.0.0.1", "0", NULL};
    snprintf(port, sizeof port, "%d", start_server(0, srv));
    feed(&procs[0], "");
    char *cli[] = {"connect",  "--tls", "--ca", certs.ca, "--servername", "b.test",
                   "127.0.0.1", port,   NULL};
    char *out, *err, *sout, *serr;
    cr_assert_eq(run_sock(cli, "secret\n", &out, &err), 1);
    cr_assert(strstr(err, "not 'b.test'"), "%s", err);
    end_of(0, &sout, &serr);
    cr_assert_str_eq(sout, "");
    free(out), free(err), free(sout), free(serr);
}

Test(tool, insecure_is_named_and_warned, .timeout = 30)
{
    char port[8];
    char *srv[] = {"listen", "--tls", "--cert", certs.self, "--key", certs.self_key, "127.0.0.1",
                   "0", NULL};
    snprintf(port, sizeof port, "%d", start_server(0, srv));
    feed(&procs[0], "hi\n");
    char *cli[] = {"connect", "--tls", "--insecure", "-v", "localhost", port, NULL};
    char *out, *err, *sout, *serr;
    cr_assert_eq(run_sock(cli, "", &out, &err), 0, "%s", err);
    cr_assert_str_eq(out, "hi\n");
    cr_assert(strstr(err, "warning: --insecure: the server's certificate was not verified"),
              "%s", err);
    cr_assert(strstr(err, "not verified: CN=localhost"), "%s", err);
    end_of(0, &sout, &serr);
    free(out), free(err), free(sout), free(serr);
}

FAMILY_TEST(tool, plain_peers_are_named, .timeout = 30)
{
    /* A plain server behind a --tls client. */
    char port[8];
    char *plain_srv[] = {"listen", (char *)addr(host), "0", NULL};
    snprintf(port, sizeof port, "%d", start_server(0, plain_srv));
    feed(&procs[0], "HTTP/1.1 400 Bad Request\r\n\r\n");
    char *cli[] = {"connect", "--tls", "--ca", certs.ca, "--timeout", "5000", (char *)addr(host),
                   port, NULL};
    char *out, *err, *sout, *serr;
    cr_assert_eq(run_sock(cli, "secret\n", &out, &err), 1, "%s", err);
    cr_assert(strstr(err, "peer does not speak TLS (got 'HTTP/1.1 400 Bad Request"), "%s", err);
    end_of(0, &sout, &serr);
    cr_assert(!strstr(sout, "secret"), "application bytes sent in clear: %s", sout);
    free(out), free(err), free(sout), free(serr);

    /* A plain client of a --tls server. */
    char *tls_srv[] = {"listen", "--tls", "--cert", certs.server, "--key", certs.server_key,
                       (char *)addr(host), "0", NULL};
    snprintf(port, sizeof port, "%d", start_server(0, tls_srv));
    feed(&procs[0], "secret of the server\n");
    char *plain_cli[] = {"connect", (char *)addr(host), port, NULL};
    run_sock(plain_cli, "GET / HTTP/1.0\r\n\r\n", &out, &err);
    cr_assert(!strstr(out, "secret"), "the server answered in clear: %s", out);
    cr_assert_eq(end_of(0, &sout, &serr), 1);
    cr_assert(strstr(serr, "peer does not speak TLS (got 'GET / HTTP/1.0"), "%s", serr);
    free(out), free(err), free(sout), free(serr);
}

Test(tool, handshake_ends_at_the_timeout, .timeout = 30)
{
    /* A server that accepts and never answers. */
    char port[8];
    char *mute[] = {"listen", "127.0.0.1", "0", NULL};
    snprintf(port, sizeof port, "%d", start_server(0, mute));
    char *cli[] = {"--timeout", "300", "connect", "--tls", "--ca", certs.ca, "localhost", port,
                   NULL};
    char *out, *err;
    cr_assert_eq(run_sock(cli, "", &out, &err), 1, "%s", err);
    cr_assert(strstr(err, "not complete within the timeout"), "%s", err);
    proc_kill(&procs[0]);
    free(out), free(err);
}

/* The stream cut without close_notify: reported, never a clean end. */
static void cut_body(struct server *srv, sock_t *conn)
{
    (void)srv;
    sock_send_all(conn, "partial answer", 14, NULL);
    shutdown(sock_fd(conn), SHUT_WR); /* a FIN under TLS's feet */
    char b[64];
    while (sock_recv(conn, b, sizeof b) > 0)
        ;
}

FAMILY_TEST(tool, cut_without_close_notify_is_reported, .timeout = 30)
{
    sock_tls_config_t *scfg = server_config(certs.server, certs.server_key);
    struct server srv;
    server_start(&srv, host, scfg, cut_body);
    char *cli[] = {"connect", "--tls", "--ca", certs.ca, (char *)addr(host), srv.port, NULL};
    char *out, *err;
    int rc = run_sock(cli, NULL, &out, &err);
    server_join(&srv, 10000);
    sock_tls_config_free(scfg);
    cr_assert_eq(rc, 1, "a truncated stream ended cleanly: %s", err);
    cr_assert_str_eq(out, "partial answer", "what came before the cut is still given");
    cr_assert(strstr(err, "without closing TLS: the data may be cut short"), "%s", err);
    free(out), free(err);
}

Test(tool, bad_tls_options_are_usage_errors, .timeout = 30)
{
    struct {
        char *args[10];
        const char *phrase;
    } cases[] = {
        {{"connect", "--ca", "x", "127.0.0.1", "1"}, "--ca needs --tls"},
        {{"connect", "--tls", "--insecure", "--ca", "x", "h", "1"}, "give one of them"},
        {{"connect", "--tls", "--cert", "x", "h", "1"}, "both --cert FILE and --key FILE"},
        {{"connect", "--tls", "--exec", "cat", "h", "1"}, "does not go with --tls"},
        {{"connect", "--tls", "--ca", "/nonexistent/ca.pem", "h", "1"}, "/nonexistent/ca.pem"},
        {{"connect", "--tls", "--servername", "", "h", "1"}, "--servername needs a value"},
        {{"listen", "--tls", "0"}, "needs its certificate and key"},
        {{"listen", "--tls", "--cert", certs.server, "--key", certs.client_key, "0"},
         "does not match"},
        {{"listen", "--tls", "--cert", certs.server, "--key", certs.server_key, "--insecure",
          "0"},
         "a server has none"},
        {{"relay", "--tls", "0", "h", "1"}, "say which side"},
        {{"relay", "--tls-listen", "0", "h", "1"}, "needs its certificate and key"},
        {{"relay", "--insecure", "0", "h", "1"}, "--insecure needs --tls-connect"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *out, *err;
        int rc = run_sock(cases[i].args, NULL, &out, &err);
        cr_assert_eq(rc, 2, "case %zu (%s %s): status %d: %s", i, cases[i].args[0],
                     cases[i].args[1], rc, err);
        cr_assert(strstr(err, cases[i].phrase), "case %zu: no '%s' in: %s", i, cases[i].phrase,
                  err);
        free(out), free(err);
    }
}

/* ------------------------------------------------------- other stacks */

Test(tool, curl_and_s_client_to_listen_tls, .timeout = 60)
{
    cr_assert(have_command("curl") && have_command("openssl"),
              "curl and openssl are needed (scripts/ensure-deps test)");
    char port[8], url[64];
    char *srv[] = {"listen", "--tls", "--cert", certs.server, "--key", certs.server_key,
                   "--alpn", "http/1.1", "127.0.0.1", "0", NULL};
    snprintf(port, sizeof port, "%d", start_server(0, srv));
    feed(&procs[0], "HTTP/1.1 200 OK\r\nContent-Length: 6\r\nConnection: close\r\n\r\nhello\n");
    snprintf(url, sizeof url, "https://localhost:%s/x", port);
    char *curl[] = {"curl", "-sS", "--max-time", "10", "--cacert", certs.ca, "--resolve", NULL,
                    url, NULL};
    char resolve[64];
    snprintf(resolve, sizeof resolve, "localhost:%s:127.0.0.1", port);
    curl[7] = resolve;
    char *out, *err, *sout, *serr;
    cr_assert_eq(proc_run(curl, NULL, 0, &out, NULL, &err, 20000), 0, "curl: %s", err);
    cr_assert_str_eq(out, "hello\n");
    proc_kill(&procs[0]);
    free(out), free(err);

    snprintf(port, sizeof port, "%d", start_server(0, srv));
    feed(&procs[0], "from sock\n");
    char connect[32];
    snprintf(connect, sizeof connect, "127.0.0.1:%s", port);
    char *s_client[] = {"openssl", "s_client", "-quiet", "-verify_return_error", "-CAfile",
                        certs.ca, "-servername", "localhost", "-verify_hostname", "localhost",
                        "-connect", connect, NULL};
    int rc = proc_run(s_client, "from s_client\n", 14, &out, NULL, &err, 20000);
    cr_assert_eq(rc, 0, "s_client: %d %s", rc, err);
    cr_assert(strstr(out, "from sock\n"), "%s", out);
    cr_assert_eq(end_of(0, &sout, &serr), 0, "%s", serr);
    cr_assert_str_eq(sout, "from s_client\n");
    free(out), free(err), free(sout), free(serr);
}

/* ------------------------------------------------------------- relay */

/* A file of n pseudo-random bytes (a fixed seed: the same every run). */
static void random_file(const char *path, size_t n, unsigned seed)
{
    FILE *f = fopen(path, "wb");
    cr_assert(f, "%s", path);
    unsigned x = seed;
    for (size_t i = 0; i < n; i++) {
        x = x * 1103515245u + 12345u;
        fputc((int)(x >> 16) & 0xff, f);
    }
    cr_assert_eq(fclose(f), 0);
}

static void same_files(const char *a, const char *b)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "cmp -s '%s' '%s'", a, b);
    cr_assert_eq(system(cmd), 0, "%s and %s differ", a, b);
}

/* 16 MiB each way: a plain client, a relay that originates TLS towards a
 * second relay that terminates it, a plain server; and the same with TLS
 * at both ends (connect --tls, listen --tls) through one relay doing both.
 * Byte for byte, and both half-closes passed on. */
FAMILY_TEST(tool, relay_16_mib_each_way_through_tls, .timeout = 90)
{
    const size_t n = 16u << 20;
    random_file(tmp("up"), n, 1);
    random_file(tmp("down"), n, 2);
    for (int both_ends = 0; both_ends < 2; both_ends++) {
        char cmd[1024], port[8], rport[8];
        /* The server, as a shell redirection of the files. */
        snprintf(cmd, sizeof cmd, "exec '%s' listen %s%s%s%s %s 0 < '%s' > '%s'", sock_bin(),
                 both_ends ? "--tls --cert " : "", both_ends ? certs.server : "",
                 both_ends ? " --key " : "", both_ends ? certs.server_key : "", addr(host),
                 tmp("down"), tmp("got-up"));
        char *sh_srv[] = {"sh", "-c", cmd, NULL};
        cr_assert_eq(proc_start(&procs[0], sh_srv), 0);
        char text[512] = "";
        cr_assert(proc_wait_for(procs[0].err, "listening on", text, sizeof text, 10000), "%s",
                  text);
        snprintf(port, sizeof port, "%d", parse_listening_port(text));
        int last;
        char lside[16];
        snprintf(lside, sizeof lside, is_v6(host) ? "[::1]:0" : "127.0.0.1:0");
        if (both_ends) {
            char *relay[] = {"relay", "-q", "--tls-listen", "--cert", certs.server, "--key",
                             certs.server_key, "--tls-connect", "--ca", certs.ca,
                             "--servername", "localhost", lside, (char *)addr(host), port, NULL};
            snprintf(rport, sizeof rport, "%d", start_server(1, relay));
            last = 1;
        } else {
            /* Plain -> relay A (--tls-connect) -> relay B (--tls-listen) -> plain. */
            char *b[] = {"relay", "-q", "--tls-listen", "--cert", certs.server, "--key",
                         certs.server_key, lside, (char *)addr(host), port, NULL};
            char bport[8];
            snprintf(bport, sizeof bport, "%d", start_server(1, b));
            char *a[] = {"relay", "-q", "--tls-connect", "--ca", certs.ca, "--servername",
                         "localhost", lside, (char *)addr(host), bport, NULL};
            snprintf(rport, sizeof rport, "%d", start_server(2, a));
            last = 2;
        }
        snprintf(cmd, sizeof cmd, "exec '%s' connect %s%s%s %s %s < '%s' > '%s'", sock_bin(),
                 both_ends ? "--tls --servername localhost --ca " : "", both_ends ? certs.ca : "",
                 "", addr(host), rport, tmp("up"), tmp("got-down"));
        char *sh_cli[] = {"sh", "-c", cmd, NULL};
        char *err;
        int rc = proc_run(sh_cli, NULL, 0, NULL, NULL, &err, 60000);
        cr_assert_eq(rc, 0, "client: %d: %s", rc, err);
        free(err);
        cr_assert_eq(proc_wait(&procs[0], 20000), 0, "the server failed");
        for (int i = 1; i <= last; i++)
            cr_assert_eq(proc_wait(&procs[i], 20000), 0, "relay %d failed", i);
        same_files(tmp("up"), tmp("got-up"));
        same_files(tmp("down"), tmp("got-down"));
    }
}

/* A relay client that connects and never sends its ClientHello holds up
 * nobody: ten others get through while it is still open (no --timeout:
 * only the 30 s bound of a TLS setup, far beyond the test), and the stop
 * cuts it off.  A relay doing handshakes one at a time would hang here. */
Test(tool, relay_stalled_handshake_holds_up_no_one, .timeout = 60)
{
    char port[8], rport[8];
    char *echo[] = {"echo", "127.0.0.1", "0", NULL};
    snprintf(port, sizeof port, "%d", start_server(0, echo));
    char *relay[] = {"relay", "-k", "-q", "--tls-listen", "--cert", certs.server, "--key",
                     certs.server_key, "127.0.0.1:0", "127.0.0.1", port, NULL};
    snprintf(rport, sizeof rport, "%d", start_server(1, relay));
    sock_t stall;
    client_connect(&stall, "127.0.0.1", rport, 5000);
    for (int i = 0; i < 10; i++) {
        char line[32], *out, *err;
        snprintf(line, sizeof line, "client %d\n", i);
        char *cli[] = {"--timeout", "10000", "connect", "--tls", "--ca", certs.ca, "localhost",
                       rport, NULL};
        cr_assert_eq(run_sock(cli, line, &out, &err), 0, "client %d: %s", i, err);
        cr_assert_str_eq(out, line, "client %d", i);
        free(out), free(err);
    }
    /* Still open, still waiting for its handshake. */
    cr_assert_eq(sock_set_nonblocking(&stall, 1), 0);
    char b;
    ssize_t r = sock_recv(&stall, &b, 1);
    cr_assert_eq(r, -EAGAIN, "the stalled client got %zd: %s", r, sock_error(&stall));
    kill(procs[1].pid, SIGTERM);
    char *out, *err;
    cr_assert_eq(end_of(1, &out, &err), 0, "%s", err);
    cr_assert(strstr(err, "11 clients served") && strstr(err, "1 cut off"), "%s", err);
    sock_close(&stall);
    free(out), free(err);
}

/* With --timeout, a stalled handshake is aborted at its time. */
Test(tool, relay_setup_timeout_aborts_a_stalled_handshake, .timeout = 30)
{
    char port[8], rport[8];
    char *echo[] = {"echo", "127.0.0.1", "0", NULL};
    snprintf(port, sizeof port, "%d", start_server(0, echo));
    char *relay[] = {"--timeout", "500", "relay", "-k", "-q", "--tls-listen", "--cert",
                     certs.server, "--key", certs.server_key, "127.0.0.1:0", "127.0.0.1", port,
                     NULL};
    snprintf(rport, sizeof rport, "%d", start_server(1, relay));
    sock_t stall;
    client_connect(&stall, "127.0.0.1", rport, 10000);
    char b;
    ssize_t r = sock_recv(&stall, &b, 1);
    cr_assert(r == -ECONNRESET || r == 0, "the stalled client got %zd: %s", r, sock_error(&stall));
    sock_close(&stall);
    kill(procs[1].pid, SIGTERM);
    char *out, *err;
    end_of(1, &out, &err);
    cr_assert(strstr(err, "tls with the client: not complete after 500 ms"), "%s", err);
    free(out), free(err);
}

/* listen -k --tls serves one client at a time, so --timeout must bound a
 * client that never finishes its handshake, or the next waits for ever. */
Test(tool, listen_keep_open_bounds_a_silent_handshake, .timeout = 30)
{
    char port[8];
    char *srv[] = {"--timeout", "500", "listen", "-k", "--tls", "--cert", certs.server, "--key",
                   certs.server_key, "127.0.0.1", "0", NULL};
    snprintf(port, sizeof port, "%d", start_server(0, srv));
    feed(&procs[0], "");
    sock_t silent;
    client_connect(&silent, "127.0.0.1", port, 10000);
    char *cli[] = {"--timeout", "10000", "connect", "--tls", "--ca", certs.ca, "localhost", port,
                   NULL};
    char *out, *err;
    cr_assert_eq(run_sock(cli, "after the silent one\n", &out, &err), 0, "%s", err);
    char b;
    ssize_t r = sock_recv(&silent, &b, 1);
    cr_assert(r <= 0 && r != -ETIMEDOUT, "the silent client was not cut: %zd", r);
    sock_close(&silent);
    kill(procs[0].pid, SIGTERM);
    char *sout, *serr;
    end_of(0, &sout, &serr);
    cr_assert(strstr(serr, "not complete within the timeout (500 ms)"), "%s", serr);
    cr_assert(strstr(sout, "after the silent one\n"), "%s", sout);
    free(out), free(err), free(sout), free(serr);
}

/* A TLS server that reads slowly behind a relay with small socket
 * buffers: the end of stream still reaches it as a clean close_notify, and
 * its answer comes back.  (When the close_notify finds no room at first,
 * the shutdown is tried again once the socket is writable; this test does
 * not force that case, which depends on the timing of the last write.) */
static void slow_reader_body(struct server *srv, sock_t *conn)
{
    (void)srv;
    /* A small window: the relay's writes keep meeting a full socket. */
    int small = 4096;
    setsockopt(sock_fd(conn), SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    usleep(300000);
    char buf[512];
    size_t total = 0;
    ssize_t n;
    while ((n = sock_recv(conn, buf, sizeof buf)) > 0) {
        total += (size_t)n;
        usleep(100);
    }
    char reply[64];
    int len = snprintf(reply, sizeof reply, "%s %zu\n", n == 0 ? "clean" : "cut", total);
    sock_send_all(conn, reply, (size_t)len, NULL);
    sock_shutdown(conn, SOCK_SHUT_WRITE);
}

Test(tool, relay_clean_end_through_a_slow_tls_reader, .timeout = 60)
{
    sock_tls_config_t *scfg = server_config(certs.server, certs.server_key);
    static char data[65536];
    memset(data, 'z', sizeof data);
    data[sizeof data - 1] = '\0';
    for (int round = 0; round < 1; round++) {
        struct server srv = {0};
        server_start(&srv, "127.0.0.1", scfg, slow_reader_body);
        char rport[8];
        char *relay[] = {"relay", "-q", "--sockbuf", "4096:4096", "--tls-connect", "--ca",
                         certs.ca, "--servername", "localhost", "127.0.0.1:0", "127.0.0.1",
                         srv.port, NULL};
        snprintf(rport, sizeof rport, "%d", start_server(1, relay));
        char *cli[] = {"--timeout", "20000", "connect", "127.0.0.1", rport, NULL};
        char *out, *err, *rout, *rerr;
        int rc = run_sock(cli, data, &out, &err);
        server_join(&srv, 20000);
        cr_assert_eq(rc, 0, "round %d: %s", round, err);
        char want[64];
        snprintf(want, sizeof want, "clean %zu\n", sizeof data - 1);
        cr_assert_str_eq(out, want, "round %d", round);
        cr_assert_eq(end_of(1, &rout, &rerr), 0, "round %d: %s", round, rerr);
        free(out), free(err), free(rout), free(rerr);
    }
    sock_tls_config_free(scfg);
}

/* What passes a relay terminating TLS is shown in clear, and a client
 * whose target refuses the relay's TLS is reset with the reason. */
Test(tool, relay_shows_clear_text_and_reports_the_target, .timeout = 30)
{
    char port[8], rport[8];
    char *srv[] = {"listen", "127.0.0.1", "0", NULL};
    snprintf(port, sizeof port, "%d", start_server(0, srv));
    feed(&procs[0], "");
    char *relay[] = {"relay", "--tls-listen", "--cert", certs.server, "--key", certs.server_key,
                     "127.0.0.1:0", "127.0.0.1", port, NULL};
    snprintf(rport, sizeof rport, "%d", start_server(1, relay));
    char *cli[] = {"connect", "--tls", "--ca", certs.ca, "localhost", rport, NULL};
    char *out, *err, *rout, *rerr;
    cr_assert_eq(run_sock(cli, "hola\n", &out, &err), 0, "%s", err);
    cr_assert_eq(end_of(1, &rout, &rerr), 0, "%s", rerr);
    cr_assert(strstr(rout, "tls with the client: TLSv1.3"), "%s", rout);
    cr_assert(strstr(rout, "|hola.|"), "the relay did not show the clear text: %s", rout);
    proc_kill(&procs[0]);
    free(out), free(err), free(rout), free(rerr);

    /* A target with a certificate nobody trusts. */
    char *bad[] = {"listen", "--tls", "--cert", certs.other, "--key", certs.other_key,
                   "127.0.0.1", "0", NULL};
    snprintf(port, sizeof port, "%d", start_server(0, bad));
    char *relay2[] = {"relay", "--tls-connect", "--ca", certs.ca, "127.0.0.1:0", "localhost",
                      port, NULL};
    snprintf(rport, sizeof rport, "%d", start_server(1, relay2));
    char *plain[] = {"connect", "127.0.0.1", rport, NULL};
    cr_assert_eq(run_sock(plain, "secret\n", &out, &err), 1, "%s", err);
    cr_assert(strstr(err, "reset"), "the client was not reset: %s", err);
    cr_assert_eq(end_of(1, &rout, &rerr), 1, "%s", rerr);
    cr_assert(strstr(rerr, "is not a trusted CA (client 127.0.0.1:"), "%s", rerr);
    free(out), free(err), free(rout), free(rerr);
}

/* A relay buffer smaller than a TLS record: after each read the layer
 * still holds decrypted bytes that the poller cannot see.  A request that
 * fits in one record, with the client waiting for its answer (no more
 * bytes, no end of stream to wake the relay), must still get through
 * whole: the engine reads on while the layer holds bytes. */
FAMILY_TEST(tool, relay_reads_what_the_layer_holds, .timeout = 30)
{
    char port[8], rport[8], lside[16];
    char *echo[] = {"echo", (char *)addr(host), "0", NULL};
    snprintf(port, sizeof port, "%d", start_server(0, echo));
    snprintf(lside, sizeof lside, is_v6(host) ? "[::1]:0" : "127.0.0.1:0");
    char *relay[] = {"relay", "-q", "--buffer", "1000", "--tls-listen", "--cert", certs.server,
                     "--key", certs.server_key, lside, (char *)addr(host), port, NULL};
    snprintf(rport, sizeof rport, "%d", start_server(1, relay));
    sock_tls_config_t *ccfg = client_config(certs.ca);
    sock_t c;
    client_connect(&c, host, rport, 5000);
    cr_assert_eq(sock_tls_connect(&c, ccfg, "localhost"), 0, "%s", sock_error(&c));
    static char req[5000], got[5000];
    for (int round = 0; round < 3; round++) {
        memset(req, 'a' + round, sizeof req);
        cr_assert_eq(sock_send_all(&c, req, sizeof req, NULL), 0, "%s", sock_error(&c));
        cr_assert_eq(sock_recv_all(&c, got, sizeof got, NULL), 0,
                     "round %d: the relay held the rest of the record: %s", round,
                     sock_error(&c));
        cr_assert_arr_eq(got, req, sizeof req);
    }
    sock_close(&c);
    sock_tls_config_free(ccfg);
}
