/*
 * test_relay_many.c - `sock relay -k`: many clients at once through one
 * relay, each with its own connection to the target (`sock echo`).
 *
 * Every client sends a stream of its own (distinct per client and per
 * offset) and checks every byte that comes back, so bytes lost, reordered
 * or crossed between clients show; one client's reset must not disturb the
 * others; the hexdump names each line's client; -q relays without it; the
 * counts line comes on SIGTERM; a client that never reads cannot grow the
 * relay.  Loopback only, ephemeral ports, every wait bounded.
 */
#include "harness.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sock.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A child that prints "listening on ADDR": start it, return the port. */
static int start_listening(proc_t *p, char *const argv[])
{
    cr_assert_eq(proc_start(p, argv), 0, "cannot start %s", argv[0]);
    close(p->in);
    p->in = -1;
    char log[1024] = "";
    int found = proc_wait_for(p->err, "listening on", log, sizeof log, 10000);
    if (!found)
        proc_kill(p);
    cr_assert(found, "no 'listening on': %s", log);
    int port = parse_listening_port(log);
    cr_assert_gt(port, 0, "no port in '%s'", log);
    return port;
}

static int start_echo(proc_t *p)
{
    char *argv[] = {(char *)sock_bin(), "echo", "127.0.0.1", "0", NULL};
    return start_listening(p, argv);
}

/* `sock relay -k [opt] 127.0.0.1:0 127.0.0.1 PORT`; opt may be NULL. */
static int start_relay(proc_t *p, const char *opt, int target)
{
    char tport[16];
    snprintf(tport, sizeof tport, "%d", target);
    char *argv[8] = {(char *)sock_bin(), "relay", "-k"};
    int n = 3;
    if (opt)
        argv[n++] = (char *)opt;
    argv[n++] = "127.0.0.1:0";
    argv[n++] = "127.0.0.1";
    argv[n++] = tport;
    argv[n] = NULL;
    return start_listening(p, argv);
}

/* Drain a child's output in a thread, so that it never blocks on a full
 * pipe while the test does something else. */
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
    *c = (struct collector){.fd = fd};
    cr_assert_eq(pthread_create(&c->th, NULL, collect_main, c), 0);
}

static char *collect_end(struct collector *c)
{
    pthread_join(c->th, NULL);
    cr_assert_not_null(c->text, "the output did not end in time");
    return c->text;
}

/* Stop the relay with SIGTERM; its counts line is returned (malloc'd). */
static char *stop_relay(proc_t *p, int *status)
{
    cr_assert_eq(kill(p->pid, SIGTERM), 0);
    char *err = proc_read_all(p->err, NULL, 15000);
    *status = proc_wait(p, 10000);
    cr_assert_not_null(err, "the relay's stderr did not end");
    return err;
}

/* The number after "ITEM" in the counts line ("50 clients served"), or -1. */
static long long count_of(const char *log, const char *item)
{
    const char *at = strstr(log, item);
    if (!at)
        return -1;
    const char *p = at;
    while (p > log && p[-1] == ' ')
        p--;
    while (p > log && p[-1] >= '0' && p[-1] <= '9')
        p--;
    return strtoll(p, NULL, 10);
}

/* ------------------------------------------------------------ the clients */

/* The byte at offset off of client id's stream. */
static unsigned char stream_byte(long id, uint64_t off)
{
    uint64_t x = (uint64_t)(id + 1) * 0x9E3779B97F4A7C15ull + off * 0xBF58476D1CE4E5B9ull;
    x ^= x >> 29;
    return (unsigned char)(x ^ (x >> 17));
}

struct client {
    sock_t s;
    size_t sent, got, want;
    size_t abort_at;     /* reset once this much came back (0: never) */
    int eof, failed, shut, aborted;
    unsigned long long bad;
};

static void client_connect(struct client *c, int port)
{
    char ps[16];
    snprintf(ps, sizeof ps, "%d", port);
    sock_init(&c->s);
    sock_set_timeout(&c->s, 10000);
    cr_assert_eq(sock_connect(&c->s, "127.0.0.1", ps), 0, "%s", sock_error(&c->s));
    cr_assert_eq(sock_set_nonblocking(&c->s, 1), 0);
}

static void client_send(struct client *c, long id)
{
    unsigned char buf[16384];
    size_t len = c->want - c->sent < sizeof buf ? c->want - c->sent : sizeof buf;
    for (size_t j = 0; j < len; j++)
        buf[j] = stream_byte(id, c->sent + j);
    ssize_t n = sock_send(&c->s, buf, len);
    if (n > 0)
        c->sent += (size_t)n;
    else if (n != -EAGAIN)
        c->failed = 1;
    if (c->sent == c->want && !c->shut) {
        sock_shutdown(&c->s, SOCK_SHUT_WRITE);
        c->shut = 1;
    }
}

static void client_recv(struct client *c, long id)
{
    unsigned char buf[16384];
    ssize_t n = sock_recv(&c->s, buf, sizeof buf);
    if (n == -EAGAIN)
        return;
    if (n <= 0) {
        c->eof = n == 0;
        c->failed |= n < 0;
        return;
    }
    for (ssize_t j = 0; j < n; j++)
        c->bad += buf[j] != stream_byte(id, c->got + (uint64_t)j);
    c->got += (size_t)n;
    if (c->abort_at && c->got >= c->abort_at) {
        sock_abort(&c->s);
        c->aborted = 1;
    }
}

static int client_done(const struct client *c)
{
    return c->aborted || c->failed || c->eof;
}

/* Drive every client: send its stream, take back the echo, until each has
 * seen the end of its stream (or failed, or reset itself); at most
 * `seconds`.  Returns the clients not done. */
static int run_clients(struct client *c, int n, double seconds)
{
    struct pollfd *pf = calloc((size_t)n, sizeof *pf);
    int *who = calloc((size_t)n, sizeof *who);
    cr_assert(pf && who);
    double end = now_s() + seconds;
    int left = n;
    while (left > 0 && now_s() < end) {
        int k = 0;
        for (int i = 0; i < n; i++) {
            if (client_done(&c[i]))
                continue;
            short ev = POLLIN;
            if (c[i].sent < c[i].want)
                ev |= POLLOUT;
            pf[k] = (struct pollfd){.fd = sock_fd(&c[i].s), .events = ev};
            who[k++] = i;
        }
        left = k;
        if (k == 0 || poll(pf, (nfds_t)k, 200) <= 0)
            continue;
        for (int j = 0; j < k; j++) {
            struct client *cl = &c[who[j]];
            if (pf[j].revents & POLLOUT)
                client_send(cl, who[j]);
            if (pf[j].revents & (POLLIN | POLLHUP | POLLERR))
                client_recv(cl, who[j]);
        }
    }
    free(pf);
    free(who);
    left = 0;
    for (int i = 0; i < n; i++)
        left += !client_done(&c[i]);
    return left;
}

/* ------------------------------------------------------------ the tests */

/* N clients at once, each its own 64 KiB both ways, in relay mode m (-q:
 * spliced; none: hexdumped); then the counts on SIGTERM. */
static void many_clients(const char *mode)
{
    enum { N = 50, BYTES = 65536 };
    proc_t echo, relay;
    int eport = start_echo(&echo);
    int rport = start_relay(&relay, mode, eport);
    struct collector shown;
    collect_start(&shown, relay.out);
    struct client *c = calloc(N, sizeof *c);
    cr_assert(c);
    for (int i = 0; i < N; i++) {
        client_connect(&c[i], rport);
        c[i].want = BYTES;
    }
    int left = run_clients(c, N, 60);
    unsigned long long bad = 0, short_ = 0;
    int failed = 0;
    for (int i = 0; i < N; i++) {
        bad += c[i].bad;
        short_ += c[i].got != BYTES;
        failed += c[i].failed;
        sock_close(&c[i].s);
    }
    free(c);
    /* The sessions end with their clients; then the stop. */
    usleep(200000);
    int st;
    char *err = stop_relay(&relay, &st);
    char *out = collect_end(&shown);
    proc_kill(&echo);
    cr_expect_eq(left, 0, "%d clients did not finish", left);
    cr_expect_eq(failed, 0, "%d clients failed", failed);
    cr_expect_eq(bad, 0, "%llu bytes came back wrong", bad);
    cr_expect_eq(short_, 0, "%llu clients got less than their stream back", short_);
    cr_expect_eq(st, 0, "the relay's exit status after SIGTERM: %d (%s)", st, err);
    cr_expect(strstr(err, "stopped by SIGTERM"), "no counts line: %s", err);
    cr_expect_eq(count_of(err, "clients served"), N, "%s", err);
    cr_expect_eq(count_of(err, "bytes c>s"), (long long)N * BYTES, "%s", err);
    cr_expect_eq(count_of(err, "bytes s>c"), (long long)N * BYTES, "%s", err);
    cr_expect_eq(count_of(err, "resets"), 0, "%s", err);
    cr_expect_eq(count_of(err, "cut off"), 0, "%s", err);
    /* Every client's session shows, under its own number. */
    char want[64];
    for (int i = 1; i <= N; i++) {
        snprintf(want, sizeof want, " #%d --- closed: c>s %d bytes, s>c %d bytes", i, BYTES,
                 BYTES);
        cr_expect(strstr(out, want), "no '%s' in the record", want);
    }
    free(err);
    free(out);
}

Test(relay_many, fifty_clients_at_once_spliced_intact, .timeout = 120)
{
    many_clients("-q");
}

Test(relay_many, fifty_clients_at_once_hexdumped_intact, .timeout = 120)
{
    many_clients(NULL);
}

Test(relay_many, hexdump_lines_name_their_client, .timeout = 60)
{
    proc_t echo, relay;
    int eport = start_echo(&echo);
    int rport = start_relay(&relay, NULL, eport);
    struct collector shown;
    /* Three clients, each with a text of its own, all open at once. */
    static const char *const texts[] = {"first says AAAA", "second says BBB", "third says CCCC"};
    sock_t c[3];
    char ps[16];
    snprintf(ps, sizeof ps, "%d", rport);
    for (int i = 0; i < 3; i++) {
        sock_init(&c[i]);
        sock_set_timeout(&c[i], 10000);
        cr_assert_eq(sock_connect(&c[i], "127.0.0.1", ps), 0, "%s", sock_error(&c[i]));
        /* One at a time, so that the relay numbers them in this order. */
        char line[4096] = "";
        char want[64];
        snprintf(want, sizeof want, "connection %d: accepted", i + 1);
        cr_assert(proc_wait_for(relay.out, want, line, sizeof line, 10000), "%s", line);
    }
    /* The collector thread reads from here on. */
    collect_start(&shown, relay.out);
    for (int i = 2; i >= 0; i--) {
        size_t len = strlen(texts[i]);
        char back[32] = "";
        cr_assert_eq(sock_send_all(&c[i], texts[i], len, NULL), 0);
        cr_assert_eq(sock_recv_all(&c[i], back, len, NULL), 0, "%s", sock_error(&c[i]));
        cr_expect_str_eq(back, texts[i]);
    }
    for (int i = 0; i < 3; i++)
        sock_close(&c[i]);
    usleep(200000);
    int st;
    char *err = stop_relay(&relay, &st);
    char *out = collect_end(&shown);
    proc_kill(&echo);
    /* "#N c>s 00000000  <hex>  |text|": the line of each client holds its
     * own text, and its echo comes back under the same number. */
    static const char *const tails[] = {"|first says AAAA|", "|second says BBB|",
                                        "|third says CCCC|"};
    for (int i = 0; i < 3; i++) {
        for (int d = 0; d < 2; d++) {
            char want[64];
            snprintf(want, sizeof want, " #%d %s 00000000  ", i + 1, d ? "s>c" : "c>s");
            const char *at = strstr(out, want);
            cr_expect(at, "no '%s' in:\n%s", want, out);
            const char *eol = at ? strchr(at, '\n') : NULL;
            const char *text = at ? strstr(at, tails[i]) : NULL;
            cr_expect(text && eol && text < eol, "'%s' is not on the line of #%d:\n%s", tails[i],
                      i + 1, out);
        }
    }
    cr_expect_eq(st, 0, "%s", err);
    free(err);
    free(out);
}

Test(relay_many, quiet_shows_events_but_no_hexdump, .timeout = 60)
{
    proc_t echo, relay;
    int eport = start_echo(&echo);
    int rport = start_relay(&relay, "-q", eport);
    char ps[16];
    snprintf(ps, sizeof ps, "%d", rport);
    sock_t c;
    sock_init(&c);
    sock_set_timeout(&c, 10000);
    cr_assert_eq(sock_connect(&c, "127.0.0.1", ps), 0, "%s", sock_error(&c));
    char back[8] = "";
    cr_assert_eq(sock_send_all(&c, "quiet", 5, NULL), 0);
    cr_assert_eq(sock_shutdown(&c, SOCK_SHUT_WRITE), 0);
    cr_assert_eq(sock_recv_all(&c, back, 5, NULL), 0, "%s", sock_error(&c));
    cr_expect_eq(sock_recv(&c, back, sizeof back), 0, "no end of stream through the relay");
    sock_close(&c);
    char line[4096] = "";
    cr_expect(proc_wait_for(relay.out, "#1 --- closed: c>s 5 bytes, s>c 5 bytes", line,
                            sizeof line, 10000),
              "%s", line);
    int st;
    char *err = stop_relay(&relay, &st);
    char *out = proc_read_all(relay.out, NULL, 10000);
    proc_kill(&echo);
    cr_expect(strstr(line, "#1 c>s EOF after 5 bytes"), "%s", line);
    cr_expect(!strstr(line, "00000000  ") && !strstr(line, "|quiet|"), "a hexdump with -q:\n%s",
              line);
    cr_expect_eq(st, 0, "%s", err);
    free(err);
    free(out);
}

Test(relay_many, one_clients_reset_leaves_the_others_alone, .timeout = 120)
{
    enum { N = 10, BYTES = 262144 };
    proc_t echo, relay;
    int eport = start_echo(&echo);
    int rport = start_relay(&relay, "-q", eport);
    struct collector shown;
    collect_start(&shown, relay.out);
    struct client c[N];
    memset(c, 0, sizeof c);
    for (int i = 0; i < N; i++) {
        client_connect(&c[i], rport);
        c[i].want = BYTES;
    }
    /* Client 3 resets early in a stream far longer than every buffer on
     * the way holds (so the reset meets its session under way); client 6
     * half-closes early (its stream is short) and must still get all of
     * it back. */
    c[3].want = (size_t)32 << 20;
    c[3].abort_at = (size_t)1 << 20;
    c[6].want = 1000;
    int left = run_clients(c, N, 60);
    for (int i = 0; i < N; i++)
        sock_close(&c[i].s);
    usleep(300000);
    int st;
    char *err = stop_relay(&relay, &st);
    char *out = collect_end(&shown);
    proc_kill(&echo);
    cr_expect_eq(left, 0, "%d clients did not finish", left);
    for (int i = 0; i < N; i++) {
        if (i == 3)
            continue;
        cr_expect_eq(c[i].bad, 0, "client %d: %llu bytes wrong", i, c[i].bad);
        cr_expect(!c[i].failed && c[i].eof, "client %d: failed %d, eof %d", i, c[i].failed,
                  c[i].eof);
        cr_expect_eq(c[i].got, c[i].want, "client %d got %zu of %zu", i, c[i].got, c[i].want);
    }
    cr_expect(c[3].aborted, "client 3 did not get to reset");
    cr_expect_eq(count_of(err, "resets"), 1, "%s", err);
    cr_expect_eq(count_of(err, "clients served"), N, "%s", err);
    /* The reset is the one of #4, and it is the only one. */
    cr_expect(strstr(out, "#4 c>s RESET: the client reset the connection"), "%s", out);
    int resets = 0;
    for (const char *p = out; (p = strstr(p, "RESET")) != NULL; p++)
        resets++;
    cr_expect_eq(resets, 1, "%d RESET lines:\n%s", resets, out);
    cr_expect(strstr(out, "#7 c>s EOF after 1000 bytes"), "%s", out);
    free(err);
    free(out);
}

/* The relay's resident memory in KiB, from /proc. */
static long rss_kib(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    long kib = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
            break;
    if (f)
        fclose(f);
    return kib;
}

struct flood {
    sock_t *s;
    size_t sent;
    int rc;
};

/* The target sends 64 MiB to a client that never reads, until its send
 * times out (the relay must have stopped taking). */
static void *flood_main(void *arg)
{
    struct flood *fl = arg;
    static char chunk[65536];
    memset(chunk, 'f', sizeof chunk);
    for (int i = 0; i < 1024; i++) {
        size_t n = 0;
        fl->rc = sock_send_all(fl->s, chunk, sizeof chunk, &n);
        fl->sent += n;
        if (fl->rc)
            break;
    }
    return NULL;
}

static void never_reading_client(const char *mode)
{
    sock_t acep, srv, cli;
    sock_init(&acep);
    sock_set_timeout(&acep, 10000);
    cr_assert_eq(sock_bind(&acep, "127.0.0.1", "0"), 0, "%s", sock_error(&acep));
    cr_assert_eq(sock_listen(&acep, 4), 0);
    proc_t relay;
    int rport = start_relay(&relay, mode, sock_local_port(&acep));
    struct collector shown;
    collect_start(&shown, relay.out);
    long rss0 = rss_kib(relay.pid);
    char ps[16];
    snprintf(ps, sizeof ps, "%d", rport);
    sock_init(&cli);
    cr_assert_eq(sock_connect(&cli, "127.0.0.1", ps), 0, "%s", sock_error(&cli));
    cr_assert_eq(sock_accept(&acep, &srv), 0, "%s", sock_error(&acep));
    /* The send stops once every buffer on the way is full: then 2 s pass
     * without progress and it times out. */
    sock_set_timeout(&srv, 2000);
    struct flood fl = {.s = &srv};
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, flood_main, &fl), 0);
    pthread_join(th, NULL);
    long rss1 = rss_kib(relay.pid);
    sock_abort(&cli);
    sock_close(&srv);
    sock_close(&acep);
    int st;
    char *err = stop_relay(&relay, &st);
    char *out = collect_end(&shown);
    cr_expect_eq(fl.rc, -ETIMEDOUT, "the target's send ended with %s after %zu bytes",
                 sock_strerror(fl.rc), fl.sent);
    cr_expect_lt(fl.sent, (size_t)48 << 20, "the relay took %zu bytes for a client that reads none",
                 fl.sent);
    /* The relay held at most its buffers for the client: far from what
     * the target tried to send. */
    cr_expect(rss0 > 0 && rss1 > 0, "no RSS: %ld %ld", rss0, rss1);
    cr_expect_lt(rss1 - rss0, 16 * 1024, "the relay grew by %ld KiB (%ld -> %ld)", rss1 - rss0,
                 rss0, rss1);
    free(err);
    free(out);
}

Test(relay_many, client_that_never_reads_is_bounded_spliced, .timeout = 60)
{
    never_reading_client("-q");
}

Test(relay_many, client_that_never_reads_is_bounded_hexdumped, .timeout = 60)
{
    never_reading_client(NULL);
}
