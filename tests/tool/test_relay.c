/*
 * test_relay.c - `sock relay`, the man in the middle.
 *
 * Data both ways through the relay on 127.0.0.1 and ::1, with `sock listen`
 * as the target and `sock connect` as the client; the hexdump's direction,
 * offsets, time and bytes; a half-close shown and honoured and a reset
 * shown and passed on (here this process plays client and server with
 * libsock, to control each step); --max-chunk 1 --delay 1 cutting 2000
 * bytes into 2000 writes; 8 MiB both ways at once; a refusing target; -k;
 * and bad input (exit status 2, one line naming the culprit).
 *
 * Every wait is bounded: the sockets of this process have timeouts and the
 * children are read with the harness's time limits.
 */
#include "harness.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <sock.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define IO_TIMEOUT_MS 20000

/* ---------------------------------------------------------------- helpers */

/* Start `sock relay [opts...] LISTEN HOST PORT` (opts NULL-terminated, may
 * be NULL) and return the port it printed as "listening on ADDR". */
static int start_relay(proc_t *p, const char *const *opts, const char *listen, const char *host,
                       int target_port)
{
    char portstr[16], *argv[16];
    int n = 0;
    snprintf(portstr, sizeof portstr, "%d", target_port);
    argv[n++] = (char *)sock_bin();
    argv[n++] = "relay";
    for (int i = 0; opts && opts[i] && n < 12; i++)
        argv[n++] = (char *)opts[i];
    argv[n++] = (char *)listen;
    argv[n++] = (char *)host;
    argv[n++] = portstr;
    argv[n] = NULL;
    cr_assert_eq(proc_start(p, argv), 0, "cannot start %s", sock_bin());
    close(p->in);
    p->in = -1;
    char buf[1024] = "";
    int found = proc_wait_for(p->err, "listening on", buf, sizeof buf, 10000);
    if (!found)
        proc_kill(p);
    cr_assert(found, "the relay never said 'listening on'; stderr: %s", buf);
    int port = parse_listening_port(buf);
    cr_assert_gt(port, 0, "no port in '%s'", buf);
    return port;
}

/* Start `sock listen [-k] HOST 0` with reply (len bytes) as its standard
 * input and return its port. */
static int start_target(proc_t *p, const char *host, int keep, const char *reply, size_t len)
{
    char *argv[] = {(char *)sock_bin(), "listen", keep ? "-k" : (char *)host,
                    keep ? (char *)host : "0", keep ? "0" : NULL, NULL};
    cr_assert_eq(proc_start(p, argv), 0, "cannot start %s", sock_bin());
    if (len) {
        /* A pipe holds 64 KiB: the replies of these tests fit at once. */
        ssize_t w = write(p->in, reply, len);
        cr_assert_eq(w, (ssize_t)len);
    }
    close(p->in);
    p->in = -1;
    char buf[512] = "";
    cr_assert(proc_wait_for(p->err, "listening on", buf, sizeof buf, 10000),
              "no 'listening on' from the target: %s", buf);
    int port = parse_listening_port(buf);
    cr_assert_gt(port, 0, "no port in '%s'", buf);
    return port;
}

/* A libsock acceptor on host, any port, with every wait bounded. */
static int lib_listen(sock_t *acep, const char *host)
{
    sock_init(acep);
    sock_set_timeout(acep, IO_TIMEOUT_MS);
    cr_assert_eq(sock_bind(acep, host, "0"), 0, "%s", sock_error(acep));
    cr_assert_eq(sock_listen(acep, 8), 0, "%s", sock_error(acep));
    int port = sock_local_port(acep);
    cr_assert_gt(port, 0);
    return port;
}

static void lib_connect(sock_t *s, const char *host, int port)
{
    char portstr[16];
    snprintf(portstr, sizeof portstr, "%d", port);
    sock_init(s);
    sock_set_timeout(s, IO_TIMEOUT_MS);
    cr_assert_eq(sock_connect(s, host, portstr), 0, "%s", sock_error(s));
}

/* This process at both ends of `sock relay LISTEN HOST PORT`: a libsock
 * acceptor on host as the target, a client connected through the relay,
 * and the server's end of the relayed connection accepted. */
struct relayed {
    sock_t acep, cli, srv;
    proc_t relay;
};

static void relay_between_lib_ends(struct relayed *r, const char *listen, const char *host)
{
    int tport = lib_listen(&r->acep, host);
    int rport = start_relay(&r->relay, NULL, listen, host, tport);
    lib_connect(&r->cli, host, rport);
    cr_assert_eq(sock_accept(&r->acep, &r->srv), 0, "%s", sock_error(&r->acep));
}

/* Run `sock connect HOST PORT` to its end (at most timeout_ms) with input
 * (len bytes) as its standard input; out, outlen and err as proc_run(). */
static int run_client(const char *host, int port, const char *input, size_t len, char **out,
                      size_t *outlen, char **err, int timeout_ms)
{
    char portstr[16];
    snprintf(portstr, sizeof portstr, "%d", port);
    char *argv[] = {(char *)sock_bin(), "connect", (char *)host, portstr, NULL};
    return proc_run(argv, input, len, out, outlen, err, timeout_ms);
}

/* Drain a child's output in a thread, so that a child writing more than a
 * pipe holds never blocks on us while this thread does something else. */
struct collector {
    int fd;
    char *text;
    size_t len;
    pthread_t th;
};

static void *collect_main(void *arg)
{
    struct collector *c = arg;
    c->text = proc_read_all(c->fd, &c->len, 60000);
    return NULL;
}

static void collect_start(struct collector *c, int fd)
{
    c->fd = fd;
    c->text = NULL;
    c->len = 0;
    cr_assert_eq(pthread_create(&c->th, NULL, collect_main, c), 0);
}

static char *collect_end(struct collector *c)
{
    pthread_join(c->th, NULL);
    cr_assert_not_null(c->text, "the output did not end in time");
    return c->text;
}

/* If line is a hexdump line of direction tag ("   0.000123 #1 c>s 0000001a
 * 68 ..."), store its time and offset and return 1. */
static int dump_line(const char *line, const char *tag, double *t, unsigned long long *off)
{
    char *end;
    double when = strtod(line, &end);
    if (end == line || strncmp(end, " #", 2) != 0)
        return 0;
    end += 2 + strspn(end + 2, "0123456789");
    if (*end != ' ' || strncmp(end + 1, tag, 3) != 0 || end[4] != ' ')
        return 0;
    const char *hex = end + 5;
    size_t digits = strspn(hex, "0123456789abcdef");
    if (digits < 8 || strncmp(hex + digits, "  ", 2) != 0)
        return 0;
    *t = when;
    *off = strtoull(hex, NULL, 16);
    return 1;
}

/* Count the hexdump lines of direction tag, with the times of the first and
 * the last; *in_order (when not NULL) tells whether their offsets grew. */
static int count_dump_lines(const char *text, const char *tag, double *first, double *last,
                            int *in_order)
{
    int count = 0;
    unsigned long long prev = 0;
    if (in_order)
        *in_order = 1;
    for (const char *line = text; line && *line;) {
        double t;
        unsigned long long off;
        if (dump_line(line, tag, &t, &off)) {
            if (count == 0)
                *first = t;
            else if (in_order && off <= prev)
                *in_order = 0;
            *last = t;
            prev = off;
            count++;
        }
        const char *nl = strchr(line, '\n');
        line = nl ? nl + 1 : NULL;
    }
    return count;
}

static int count_lines_with(const char *text, const char *needle)
{
    int count = 0;
    for (const char *p = text; (p = strstr(p, needle)) != NULL; p += strlen(needle))
        count++;
    return count;
}

/* ---------------------------------------------------------------- data both ways */

Test(relay, both_ways_ipv4_and_ipv6, .timeout = 60)
{
    static const char *const hosts[] = {"127.0.0.1", "::1"};
    static const char *const listens[] = {"127.0.0.1:0", "[::1]:0"};
    for (int f = 0; f < 2; f++) {
        const char *reply = "reply from the server\n", *req = "request from the client\n";
        proc_t target, relay;
        int tport = start_target(&target, hosts[f], 0, reply, strlen(reply));
        int rport = start_relay(&relay, NULL, listens[f], hosts[f], tport);
        char *out = NULL, *err = NULL;
        int st = run_client(hosts[f], rport, req, strlen(req), &out, NULL, &err, 15000);
        cr_expect_eq(st, 0, "%s: client exit %d: %s", hosts[f], st, err);
        cr_expect_str_eq(out, reply, "%s: the client got '%s'", hosts[f], out);
        char *got = proc_read_all(target.out, NULL, 10000);
        cr_expect_str_eq(got ? got : "(nothing)", req, "%s: the target got '%s'", hosts[f], got);
        char *shown = proc_read_all(relay.out, NULL, 10000);
        cr_assert_not_null(shown);
        cr_expect(strstr(shown, "accepted client") && strstr(shown, "connected to server"),
                  "%s: %s", hosts[f], shown);
        cr_expect_eq(proc_wait(&relay, 10000), 0, "%s: the relay did not end cleanly", hosts[f]);
        cr_expect_eq(proc_wait(&target, 10000), 0, "%s: the target did not end cleanly",
                     hosts[f]);
        free(got), free(out), free(err), free(shown);
    }
}

Test(relay, hexdump_shows_direction_offsets_time_and_bytes, .timeout = 30)
{
    /* 20 bytes: two dump lines, the second at offset 0x10. */
    const char *req = "hello relay, 20 b!\r\n", *reply = "OK\n";
    proc_t target, relay;
    int tport = start_target(&target, "127.0.0.1", 0, reply, strlen(reply));
    int rport = start_relay(&relay, NULL, "127.0.0.1:0", "127.0.0.1", tport);
    char *out = NULL;
    cr_expect_eq(run_client("127.0.0.1", rport, req, strlen(req), &out, NULL, NULL, 15000), 0);
    char *shown = proc_read_all(relay.out, NULL, 10000);
    cr_assert_not_null(shown);
    cr_expect_eq(proc_wait(&relay, 10000), 0);
    proc_wait(&target, 10000);
    /* The bytes in hex and as text, the direction and the offsets. */
    cr_expect(strstr(shown, "c>s 00000000  68 65 6c 6c 6f 20 72 65  6c 61 79 2c 20 32 30 20  "
                            "|hello relay, 20 |"),
              "no first c>s line in:\n%s", shown);
    cr_expect(strstr(shown, "c>s 00000010  62 21 0d 0a") && strstr(shown, "|b!..|"),
              "no second c>s line at offset 0x10 in:\n%s", shown);
    cr_expect(strstr(shown, "s>c 00000000  4f 4b 0a") && strstr(shown, "|OK.|"),
              "no s>c line in:\n%s", shown);
    double first = -1, last = -1;
    cr_expect_eq(count_dump_lines(shown, "c>s", &first, &last, NULL), 2, "%s", shown);
    /* Time since the connection started: small, not negative, not a clock. */
    cr_expect(first >= 0 && last >= first && last < 10.0, "times %f %f", first, last);
    cr_expect(strstr(shown, "c>s EOF after 20 bytes") && strstr(shown, "s>c EOF after 3 bytes"),
              "no EOF lines in:\n%s", shown);
    cr_expect(strstr(shown, "closed: c>s 20 bytes, s>c 3 bytes"), "%s", shown);
    free(out), free(shown);
}

/* ---------------------------------------------------------------- half-close and reset */

Test(relay, half_close_shown_and_honoured, .timeout = 60)
{
    struct relayed ends;
    relay_between_lib_ends(&ends, "127.0.0.1:0", "127.0.0.1");

    /* The client speaks and half-closes... */
    cr_assert_eq(sock_send_all(&ends.cli, "ping", 4, NULL), 0);
    cr_assert_eq(sock_shutdown(&ends.cli, SOCK_SHUT_WRITE), 0);
    char buf[16] = "";
    cr_assert_eq(sock_recv_all(&ends.srv, buf, 4, NULL), 0, "%s", sock_error(&ends.srv));
    cr_expect_eq(memcmp(buf, "ping", 4), 0);
    /* ...the server sees end of stream, not a hang... */
    cr_expect_eq(sock_recv(&ends.srv, buf, sizeof buf), 0,
                 "the client's EOF did not reach the server");
    char shown[4096] = "";
    cr_expect(proc_wait_for(ends.relay.out, "c>s EOF after 4 bytes", shown, sizeof shown, 10000),
              "no half-close line: %s", shown);
    /* ...and its reply still reaches the client, before the server closes. */
    cr_assert_eq(sock_send_all(&ends.srv, "pong", 4, NULL), 0);
    memset(buf, 0, sizeof buf);
    cr_expect_eq(sock_recv_all(&ends.cli, buf, 4, NULL), 0, "%s", sock_error(&ends.cli));
    cr_expect_eq(memcmp(buf, "pong", 4), 0, "the client got '%s'", buf);
    sock_close(&ends.srv);
    cr_expect_eq(sock_recv(&ends.cli, buf, sizeof buf), 0,
                 "the server's close did not reach the client");
    sock_close(&ends.cli);
    sock_close(&ends.acep);

    char *rest = proc_read_all(ends.relay.out, NULL, 10000);
    cr_assert_not_null(rest);
    cr_expect(strstr(rest, "s>c EOF after 4 bytes"), "no s>c half-close: %s%s", shown, rest);
    cr_expect(strstr(rest, "closed: c>s 4 bytes, s>c 4 bytes"), "%s%s", shown, rest);
    cr_expect_eq(proc_wait(&ends.relay, 10000), 0);
    free(rest);
}

/* Over the relayed connection, from sends the n bytes of data and to
 * receives them into buf (asserted); then from resets (sock_abort: SO_LINGER
 * 0 instead of a close) and to receives again.  Closes to and the acceptor,
 * and returns that last receive's result for the caller to check. */
static ssize_t exchange_then_reset(struct relayed *ends, sock_t *from, sock_t *to,
                                   const char *data, size_t n, char *buf, size_t len)
{
    cr_assert_eq(sock_send_all(from, data, n, NULL), 0);
    cr_assert_eq(sock_recv_all(to, buf, n, NULL), 0, "%s", sock_error(to));
    sock_abort(from);
    ssize_t r = sock_recv(to, buf + n, len - n);
    sock_close(to);
    sock_close(&ends->acep);
    return r;
}

Test(relay, server_reset_shown_and_passed_to_the_client, .timeout = 60)
{
    struct relayed ends;
    relay_between_lib_ends(&ends, "127.0.0.1:0", "127.0.0.1");
    char buf[16] = "";
    ssize_t r = exchange_then_reset(&ends, &ends.srv, &ends.cli, "partial", 7, buf, sizeof buf);
    cr_expect_eq(memcmp(buf, "partial", 7), 0);
    cr_expect_eq(r, -ECONNRESET, "the client got %zd (%s), not a reset", r, sock_strerror((int)r));

    char *shown = proc_read_all(ends.relay.out, NULL, 10000);
    char *err = proc_read_all(ends.relay.err, NULL, 10000);
    cr_assert(shown && err);
    cr_expect(strstr(shown, "s>c RESET: the server reset the connection"), "%s", shown);
    cr_expect(strstr(shown, "aborted the client"), "%s", shown);
    cr_expect(strstr(err, "sock relay: #1 server") && strstr(err, "reset"), "stderr: %s", err);
    cr_expect_eq(proc_wait(&ends.relay, 10000), 1, "a reset is not a clean end");
    free(shown), free(err);
}

Test(relay, client_reset_shown_and_passed_to_the_server, .timeout = 60)
{
    struct relayed ends;
    relay_between_lib_ends(&ends, "[::1]:0", "::1");
    char buf[16] = "";
    ssize_t r = exchange_then_reset(&ends, &ends.cli, &ends.srv, "abc", 3, buf, sizeof buf);
    cr_expect_eq(r, -ECONNRESET, "the server got %zd (%s), not a reset", r, sock_strerror((int)r));
    char *shown = proc_read_all(ends.relay.out, NULL, 10000);
    cr_assert_not_null(shown);
    cr_expect(strstr(shown, "c>s RESET: the client reset the connection"), "%s", shown);
    cr_expect_eq(proc_wait(&ends.relay, 10000), 1);
    free(shown);
}

Test(relay, bytes_sent_before_a_reset_arrive_before_it, .timeout = 60)
{
    /* The client sends 1000 bytes and resets once the relay has taken them
     * all, while --max-chunk and --delay still hold most of them back: as
     * on a direct connection, the target must get all 1000, then a reset. */
    sock_t acep, cli, srv;
    int tport = lib_listen(&acep, "127.0.0.1");
    static const char *const opts[] = {"--max-chunk", "100", "--delay", "50", "-q", NULL};
    proc_t relay;
    int rport = start_relay(&relay, opts, "127.0.0.1:0", "127.0.0.1", tport);
    lib_connect(&cli, "127.0.0.1", rport);
    cr_assert_eq(sock_accept(&acep, &srv), 0, "%s", sock_error(&acep));
    char data[1000], got[1100];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (char)('a' + i % 26);
    cr_assert_eq(sock_send_all(&cli, data, sizeof data, NULL), 0);
    usleep(150000); /* the relay has read them all; most are still held */
    sock_abort(&cli);
    size_t n = 0;
    int rc = sock_recv_all(&srv, got, sizeof data, &n);
    cr_expect_eq(rc, 0, "the target got %zu of 1000 bytes, then: %s", n, sock_error(&srv));
    cr_expect_eq(memcmp(got, data, n), 0, "the bytes differ");
    ssize_t r = sock_recv(&srv, got, sizeof got);
    cr_expect_eq(r, -ECONNRESET, "after the bytes the target got %zd (%s), not the reset", r,
                 sock_strerror((int)r));
    sock_close(&srv);
    sock_close(&acep);
    cr_expect_eq(proc_wait(&relay, 10000), 1, "a reset is not a clean end");
}

Test(relay, delay_longer_than_timeout_is_not_idleness, .timeout = 60)
{
    /* --delay 1500 holds each 5-byte chunk back longer than --timeout
     * 1000: that wait is the relay's own, not the programs' silence. */
    sock_t acep, cli, srv;
    int tport = lib_listen(&acep, "127.0.0.1");
    char target[16];
    snprintf(target, sizeof target, "%d", tport);
    char *argv[] = {(char *)sock_bin(), "--timeout", "1000", "relay", "-q", "--max-chunk", "5",
                    "--delay", "1500", "127.0.0.1:0", "127.0.0.1", target, NULL};
    proc_t relay;
    cr_assert_eq(proc_start(&relay, argv), 0);
    char log[512] = "";
    cr_assert(proc_wait_for(relay.err, "listening on", log, sizeof log, 10000), "%s", log);
    lib_connect(&cli, "127.0.0.1", parse_listening_port(log));
    cr_assert_eq(sock_accept(&acep, &srv), 0, "%s", sock_error(&acep));
    cr_assert_eq(sock_send_all(&cli, "helloworld", 10, NULL), 0);
    char got[16] = "";
    size_t n = 0;
    int rc = sock_recv_all(&srv, got, 10, &n);
    cr_expect_eq(rc, 0, "the target got '%.*s' then: %s", (int)n, got, sock_error(&srv));
    cr_expect_str_eq(got, "helloworld");
    sock_close(&cli);
    sock_close(&srv);
    sock_close(&acep);
    proc_kill(&relay);
}

Test(relay, reset_after_half_close_still_passed_on, .timeout = 60)
{
    struct relayed ends;
    relay_between_lib_ends(&ends, "127.0.0.1:0", "127.0.0.1");
    char buf[16] = "";
    cr_assert_eq(sock_send_all(&ends.cli, "abc", 3, NULL), 0);
    cr_assert_eq(sock_shutdown(&ends.cli, SOCK_SHUT_WRITE), 0);
    cr_assert_eq(sock_recv_all(&ends.srv, buf, 3, NULL), 0, "%s", sock_error(&ends.srv));
    cr_assert_eq(sock_recv(&ends.srv, buf, sizeof buf), 0);
    /* The relay reads nothing more from the client now: the reset must be
     * noticed all the same. */
    sock_abort(&ends.cli);
    char shown[4096] = "";
    cr_expect(proc_wait_for(ends.relay.out, "c>s RESET", shown, sizeof shown, 10000),
              "no reset line: %s", shown);
    cr_expect_eq(proc_wait(&ends.relay, 10000), 1);
    ssize_t r = sock_send(&ends.srv, "x", 1);
    cr_expect(r == -ECONNRESET || r == -EPIPE, "the server's send gave %zd (%s), not a reset", r,
              sock_strerror((int)r));
    sock_close(&ends.srv);
    sock_close(&ends.acep);
}

Test(relay, idle_timeout_aborts_both_sides, .timeout = 60)
{
    sock_t acep, cli, srv;
    int tport = lib_listen(&acep, "127.0.0.1");
    char tportstr[16];
    snprintf(tportstr, sizeof tportstr, "%d", tport);
    char *argv[] = {(char *)sock_bin(), "--timeout", "1000", "relay", "127.0.0.1:0",
                    "127.0.0.1", tportstr, NULL};
    proc_t relay;
    cr_assert_eq(proc_start(&relay, argv), 0);
    char err[1024] = "";
    cr_assert(proc_wait_for(relay.err, "listening on", err, sizeof err, 10000), "%s", err);
    int rport = parse_listening_port(err);
    lib_connect(&cli, "127.0.0.1", rport);
    cr_assert_eq(sock_accept(&acep, &srv), 0, "%s", sock_error(&acep));
    /* Nobody says anything: after a second the relay gives up on both. */
    char buf[16];
    ssize_t r = sock_recv(&cli, buf, sizeof buf);
    cr_expect_eq(r, -ECONNRESET, "the client got %zd (%s)", r, sock_strerror((int)r));
    r = sock_recv(&srv, buf, sizeof buf);
    cr_expect_eq(r, -ECONNRESET, "the server got %zd (%s)", r, sock_strerror((int)r));
    cr_expect(proc_wait_for(relay.err, "no data moved for 1000 ms", err, sizeof err, 10000),
              "%s", err);
    cr_expect_eq(proc_wait(&relay, 10000), 1);
    sock_close(&cli);
    sock_close(&srv);
    sock_close(&acep);
}

/* ---------------------------------------------------------------- small, slow writes */

Test(relay, max_chunk_1_delay_1_delivers_intact_in_many_writes, .timeout = 120)
{
    enum { N = 2000 };
    static char req[N], reply[N];
    for (int i = 0; i < N; i++) {
        req[i] = (char)(i * 7 + 3);
        reply[i] = (char)(255 - i * 13);
    }
    proc_t target, relay;
    int tport = start_target(&target, "127.0.0.1", 0, reply, N);
    const char *opts[] = {"--max-chunk", "1", "--delay", "1", NULL};
    int rport = start_relay(&relay, opts, "127.0.0.1:0", "127.0.0.1", tport);
    /* 4000 dump lines are more than a pipe holds: read them meanwhile. */
    struct collector shown_c, target_c;
    collect_start(&shown_c, relay.out);
    collect_start(&target_c, target.out);

    char *out = NULL, *err = NULL;
    size_t outlen = 0;
    int st = run_client("127.0.0.1", rport, req, N, &out, &outlen, &err, 60000);
    cr_expect_eq(st, 0, "client exit %d: %s", st, err);
    cr_expect_eq(outlen, (size_t)N, "the client got %zu bytes", outlen);
    cr_expect(outlen == N && memcmp(out, reply, N) == 0, "the reply arrived damaged");

    char *got = collect_end(&target_c);
    cr_expect_eq(target_c.len, (size_t)N, "the target got %zu bytes", target_c.len);
    cr_expect(target_c.len == N && memcmp(got, req, N) == 0, "the request arrived damaged");
    char *shown = collect_end(&shown_c);
    cr_expect_eq(proc_wait(&relay, 10000), 0);
    proc_wait(&target, 10000);

    /* One dump line per one-byte write, at least 1 ms apart. */
    double first = 0, last = 0;
    int in_order = 0;
    cr_expect_eq(count_dump_lines(shown, "c>s", &first, &last, &in_order), N);
    cr_expect(in_order, "c>s offsets out of order");
    cr_expect_geq(last - first, 1.9, "2000 writes with --delay 1 took only %.3f s", last - first);
    cr_expect_eq(count_dump_lines(shown, "s>c", &first, &last, &in_order), N);
    cr_expect(in_order, "s>c offsets out of order");
    cr_expect(strstr(shown, "c>s 000007cf  "), "no dump line at offset 1999");
    free(out), free(err), free(got), free(shown);
}

/* ---------------------------------------------------------------- 8 MiB both ways */

#define BIG (8u << 20)

struct peer {
    sock_t *s;
    uint64_t seed;
    int sent_rc;
};

/* The bytes of one direction: a xorshift stream, different per seed. */
static void fill(unsigned char *p, size_t n, uint64_t seed)
{
    uint64_t x = seed;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        p[i] = (unsigned char)x;
    }
}

static uint64_t fnv1a(uint64_t h, const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 1099511628211ull;
    return h;
}

static void *send_big(void *arg)
{
    struct peer *pe = arg;
    unsigned char *data = malloc(BIG);
    if (!data) {
        pe->sent_rc = -ENOMEM;
        return NULL;
    }
    fill(data, BIG, pe->seed);
    pe->sent_rc = sock_send_all(pe->s, data, BIG, NULL);
    if (pe->sent_rc == 0)
        pe->sent_rc = sock_shutdown(pe->s, SOCK_SHUT_WRITE);
    free(data);
    return NULL;
}

/* Receive to end of stream; the count and checksum of what came. */
static int recv_big(sock_t *s, size_t *total, uint64_t *hash)
{
    unsigned char buf[65536];
    *total = 0;
    *hash = 1469598103934665603ull;
    for (;;) {
        ssize_t n = sock_recv(s, buf, sizeof buf);
        if (n <= 0)
            return (int)n;
        *hash = fnv1a(*hash, buf, (size_t)n);
        *total += (size_t)n;
    }
}

static uint64_t expected_hash(uint64_t seed)
{
    unsigned char *data = malloc(BIG);
    cr_assert_not_null(data);
    fill(data, BIG, seed);
    uint64_t h = fnv1a(1469598103934665603ull, data, BIG);
    free(data);
    return h;
}

struct server_side {
    sock_t *acep;
    size_t total;
    uint64_t hash;
    int accept_rc, recv_rc, sent_rc;
};

/* The target: send 8 MiB while receiving 8 MiB, both at once. */
static void *serve_big(void *arg)
{
    struct server_side *sv = arg;
    sock_t srv;
    sv->accept_rc = sock_accept(sv->acep, &srv);
    if (sv->accept_rc < 0)
        return NULL;
    struct peer pe = {.s = &srv, .seed = 0x5e4e4u};
    pthread_t th;
    pthread_create(&th, NULL, send_big, &pe);
    sv->recv_rc = recv_big(&srv, &sv->total, &sv->hash);
    pthread_join(th, NULL);
    sv->sent_rc = pe.sent_rc;
    sock_close(&srv);
    return NULL;
}

Test(relay, eight_mib_both_ways_at_once_intact, .timeout = 120)
{
    sock_t acep, cli;
    int tport = lib_listen(&acep, "127.0.0.1");
    proc_t relay;
    const char *opts[] = {"--quiet", NULL};
    int rport = start_relay(&relay, opts, "127.0.0.1:0", "127.0.0.1", tport);
    struct server_side sv = {.acep = &acep};
    pthread_t srv_th;
    cr_assert_eq(pthread_create(&srv_th, NULL, serve_big, &sv), 0);
    lib_connect(&cli, "127.0.0.1", rport);
    struct peer pe = {.s = &cli, .seed = 0xc1137u};
    pthread_t snd_th;
    cr_assert_eq(pthread_create(&snd_th, NULL, send_big, &pe), 0);
    size_t total;
    uint64_t hash;
    int rc = recv_big(&cli, &total, &hash);
    pthread_join(snd_th, NULL);
    pthread_join(srv_th, NULL);
    sock_close(&cli);
    sock_close(&acep);

    cr_expect_eq(sv.accept_rc, 0);
    cr_expect_eq(pe.sent_rc, 0, "client send: %s", sock_strerror(pe.sent_rc));
    cr_expect_eq(sv.sent_rc, 0, "server send: %s", sock_strerror(sv.sent_rc));
    cr_expect_eq(rc, 0, "client recv ended with %s", sock_strerror(rc));
    cr_expect_eq(sv.recv_rc, 0, "server recv ended with %s", sock_strerror(sv.recv_rc));
    cr_expect_eq(total, (size_t)BIG, "the client got %zu bytes", total);
    cr_expect_eq(sv.total, (size_t)BIG, "the server got %zu bytes", sv.total);
    cr_expect_eq(hash, expected_hash(0x5e4e4u), "s>c checksum differs");
    cr_expect_eq(sv.hash, expected_hash(0xc1137u), "c>s checksum differs");

    char *shown = proc_read_all(relay.out, NULL, 10000);
    cr_assert_not_null(shown);
    double t0, t1;
    /* --quiet: the events, no hexdump. */
    cr_expect_eq(count_dump_lines(shown, "c>s", &t0, &t1, NULL), 0, "%s", shown);
    cr_expect(strstr(shown, "c>s EOF after 8388608 bytes") &&
                  strstr(shown, "s>c EOF after 8388608 bytes"),
              "%s", shown);
    cr_expect_eq(proc_wait(&relay, 10000), 0);
    free(shown);
}

/* ---------------------------------------------------------------- failures */

Test(relay, refused_target_exit_1_and_client_not_left_hanging, .timeout = 60)
{
    /* A port nobody listens on: bind one, note it, free it. */
    sock_t tmp;
    int dead = lib_listen(&tmp, "127.0.0.1");
    sock_close(&tmp);
    proc_t relay;
    int rport = start_relay(&relay, NULL, "127.0.0.1:0", "127.0.0.1", dead);
    sock_t cli;
    char portstr[16], buf[16];
    snprintf(portstr, sizeof portstr, "%d", rport);
    sock_init(&cli);
    sock_set_timeout(&cli, IO_TIMEOUT_MS);
    ssize_t r = sock_connect(&cli, "127.0.0.1", portstr);
    /* The relay may reset the client before our connect() has even looked
     * at its result; otherwise the first receive must end, not time out. */
    if (r == 0)
        r = sock_recv(&cli, buf, sizeof buf);
    cr_expect(r == 0 || r == -ECONNRESET, "the client got %zd (%s) instead of EOF or a reset", r,
              sock_strerror((int)r));
    sock_close(&cli);
    char *err = proc_read_all(relay.err, NULL, 10000);
    cr_assert_not_null(err);
    cr_expect_eq(proc_wait(&relay, 10000), 1);
    snprintf(portstr, sizeof portstr, ":%d", dead);
    cr_expect_eq(count_lines_with(err, "sock relay:"), 1, "not one error line: %s", err);
    cr_expect(strstr(err, "Connection refused") && strstr(err, portstr) && strstr(err, "connect"),
              "unclear error: %s", err);
    cr_expect_eq(count_lines_with(err, "\n"), 1, "more than one line: %s", err);
    free(err);
}

/* Every case: exit status 2 and one line on stderr naming the culprit. */
static void expect_usage_error(char *const argv[], const char *culprit)
{
    char *err = NULL, *out = NULL;
    int st = proc_run(argv, NULL, 0, &out, NULL, &err, 10000);
    cr_expect_eq(st, 2, "'%s': exit %d, stderr %s", culprit, st, err);
    cr_expect(strstr(err, culprit) != NULL, "stderr does not name '%s': %s", culprit, err);
    const char *nl = strchr(err, '\n');
    cr_expect(nl && nl[1] == '\0', "not one line: '%s'", err);
    cr_expect(!strstr(err, "listening on"), "it listened anyway: %s", err);
    free(err), free(out);
}

Test(relay, bad_input_exit_2, .timeout = 120)
{
    const char *b = sock_bin();
    struct {
        const char *args[8];
        const char *culprit;
    } cases[] = {
        {{"99999", "127.0.0.1", "80"}, "99999"},
        {{"0", "127.0.0.1", "99999"}, "99999"},
        {{"0", "127.0.0.1", "-1"}, "-1"},
        {{"-1", "127.0.0.1", "80"}, "invalid port '-1'"},
        {{"-12", "127.0.0.1", "80"}, "invalid port '-12'"},
        {{"0", "127.0.0.1:-1"}, "-1"},
        {{NULL}, "missing"},
        {{"0"}, "missing HOST"},
        {{"0", "127.0.0.1"}, "missing PORT"},
        {{"0", "127.0.0.1", "80", "extra"}, "extra"},
        {{"--bogus", "0", "127.0.0.1", "80"}, "--bogus"},
        {{"-z", "0", "127.0.0.1", "80"}, "-z"},
        {{"--max-chunk", "0", "0", "127.0.0.1", "80"}, "--max-chunk '0'"},
        {{"--max-chunk", "lots", "0", "127.0.0.1", "80"}, "lots"},
        {{"--max-chunk", "70000", "0", "127.0.0.1", "80"}, "70000"},
        {{"--delay", "-5", "0", "127.0.0.1", "80"}, "--delay '-5'"},
        {{"--delay"}, "--delay"},
        {{"::1", "127.0.0.1", "80"}, "::1"},
        /* The target must be able to work before the relay listens. */
        {{"0", "127.0.0.1", "nosuchservice-xyz"}, "unknown service 'nosuchservice-xyz'"},
        {{"0", "127.0.0.1:80", "extra"}, "unexpected argument 'extra'"},
        {{"0", "127.0.0.1:"}, "missing PORT"},
        {{"0", "[]:80"}, "empty brackets"},
        {{"-k4", "0", "127.0.0.1", "80"}, "'-4' in '-k4'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *argv[12] = {(char *)b, "relay"};
        int n = 2;
        for (int k = 0; cases[i].args[k]; k++)
            argv[n++] = (char *)cases[i].args[k];
        argv[n] = NULL;
        expect_usage_error(argv, cases[i].culprit);
    }
}

/* ---------------------------------------------------------------- -k and --help */

Test(relay, keep_open_relays_one_client_after_another, .timeout = 60)
{
    proc_t target, relay;
    int tport = start_target(&target, "127.0.0.1", 1, NULL, 0);
    const char *opts[] = {"-k", NULL};
    int rport = start_relay(&relay, opts, "127.0.0.1:0", "127.0.0.1", tport);
    const char *msgs[] = {"first client\n", "second client\n"};
    for (int i = 0; i < 2; i++) {
        int st = run_client("127.0.0.1", rport, msgs[i], strlen(msgs[i]), NULL, NULL, NULL, 15000);
        cr_expect_eq(st, 0, "client %d: exit %d", i + 1, st);
    }
    char got[1024] = "";
    cr_expect(proc_wait_for(target.out, "second client", got, sizeof got, 10000),
              "the target got: %s", got);
    cr_expect(strstr(got, "first client\n"), "the target got: %s", got);
    char shown[8192] = "";
    cr_expect(proc_wait_for(relay.out, "connection 2: accepted", shown, sizeof shown, 10000),
              "%s", shown);
    proc_kill(&relay);
    proc_kill(&target);
}

Test(relay, help_text, .timeout = 20)
{
    char *out = NULL;
    char *a1[] = {(char *)sock_bin(), "relay", "--help", NULL};
    cr_expect_eq(proc_run(a1, NULL, 0, &out, NULL, NULL, 10000), 0);
    cr_expect(strstr(out, "usage: sock [global options] relay") && strstr(out, "--max-chunk") &&
                  strstr(out, "--delay") && strstr(out, "c>s"),
              "%s", out);
    free(out);
    char *a2[] = {(char *)sock_bin(), "help", "relay", NULL};
    cr_expect_eq(proc_run(a2, NULL, 0, &out, NULL, NULL, 10000), 0);
    cr_expect(strstr(out, "LISTEN_PORT"), "%s", out);
    free(out);
    char *a3[] = {(char *)sock_bin(), "--help", NULL};
    cr_expect_eq(proc_run(a3, NULL, 0, &out, NULL, NULL, 10000), 0);
    cr_expect(strstr(out, "  relay "), "%s", out);
    free(out);
}
