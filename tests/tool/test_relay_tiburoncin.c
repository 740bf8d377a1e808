/*
 * test_relay_tiburoncin.c - what `sock relay` does for the course's
 * habits: tiburoncin's dump files (--dump, -o), the "behind" / "in sync"
 * lines, --frame, the scripted faults and Unix sockets on either side.
 *
 * This process plays client and server with libsock (every socket with a
 * timeout), or runs curl and python3's http.server; dumps are turned back
 * with `xxd -p -r`.  Loopback and Unix sockets only, ephemeral ports, every
 * wait bounded.
 */
#include "harness.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sock.h"

#define IO_TIMEOUT_MS 20000

/* ---------------------------------------------------------------- helpers */

/* Start `sock relay ARGS...` (NULL-terminated) and return the port (or, for a
 * Unix listener, 0) it printed as "listening on ADDR". */
static int start_relay(proc_t *p, const char *const *args)
{
    char *argv[24];
    int n = 0;
    argv[n++] = (char *)sock_bin();
    argv[n++] = "relay";
    for (int i = 0; args[i] && n < 23; i++)
        argv[n++] = (char *)args[i];
    argv[n] = NULL;
    cr_assert_eq(proc_start(p, argv), 0, "cannot start %s", sock_bin());
    close(p->in);
    p->in = -1;
    char buf[1024] = "";
    int found = proc_wait_for(p->err, "listening on", buf, sizeof buf, 10000);
    if (!found)
        proc_kill(p);
    cr_assert(found, "the relay never said 'listening on'; stderr: %s", buf);
    return strstr(buf, "listening on unix:") ? 0 : parse_listening_port(buf);
}

static void lib_listen(sock_t *acep, const char *host, char *port, size_t len)
{
    sock_init(acep);
    sock_set_timeout(acep, IO_TIMEOUT_MS);
    cr_assert_eq(sock_bind(acep, host, "0"), 0, "%s", sock_error(acep));
    cr_assert_eq(sock_listen(acep, 8), 0, "%s", sock_error(acep));
    snprintf(port, len, "%d", sock_local_port(acep));
}

static void lib_connect(sock_t *s, const char *host, const char *port)
{
    sock_init(s);
    sock_set_timeout(s, IO_TIMEOUT_MS);
    cr_assert_eq(sock_connect(s, host, port), 0, "%s", sock_error(s));
}

/* This process at both ends of `sock relay OPTS... 127.0.0.1:0 127.0.0.1
 * PORT`: the target's acceptor, the client, the server's end. */
struct ends {
    sock_t acep, cli, srv;
    proc_t relay;
};

static void relay_ends(struct ends *e, const char *const *opts)
{
    char tport[16], rport[16];
    lib_listen(&e->acep, "127.0.0.1", tport, sizeof tport);
    const char *args[20];
    int n = 0;
    for (int i = 0; opts && opts[i] && n < 16; i++)
        args[n++] = opts[i];
    args[n++] = "127.0.0.1:0";
    args[n++] = "127.0.0.1";
    args[n++] = tport;
    args[n] = NULL;
    snprintf(rport, sizeof rport, "%d", start_relay(&e->relay, args));
    lib_connect(&e->cli, "127.0.0.1", rport);
    cr_assert_eq(sock_accept(&e->acep, &e->srv), 0, "%s", sock_error(&e->acep));
}

static void ends_close(struct ends *e)
{
    sock_close(&e->cli);
    sock_close(&e->srv);
    sock_close(&e->acep);
}

static void random_bytes(char *p, size_t n, uint32_t seed)
{
    uint32_t x = seed ? seed : 1;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13, x ^= x >> 17, x ^= x << 5;
        p[i] = (char)(x >> 24);
    }
}

/* One direction of traffic on a thread: send (a half-close after it) or
 * receive exactly len bytes. */
struct flow {
    sock_t *s;
    char *buf;
    size_t len;
    int send;
    int rc;
    pthread_t th;
};

static void *flow_main(void *arg)
{
    struct flow *fl = arg;
    if (fl->send) {
        fl->rc = sock_send_all(fl->s, fl->buf, fl->len, NULL);
        if (fl->rc == 0)
            sock_shutdown(fl->s, SOCK_SHUT_WRITE);
    } else {
        fl->rc = sock_recv_all(fl->s, fl->buf, fl->len, NULL);
    }
    return NULL;
}

static void flow_start(struct flow *fl, sock_t *s, char *buf, size_t len, int send)
{
    *fl = (struct flow){.s = s, .buf = buf, .len = len, .send = send};
    cr_assert_eq(pthread_create(&fl->th, NULL, flow_main, fl), 0);
}

static int flow_end(struct flow *fl)
{
    pthread_join(fl->th, NULL);
    return fl->rc;
}

/* A dump file turned back into bytes by `xxd -p -r`; *n its length. */
static char *xxd_back(const char *path, size_t *n)
{
    char *argv[] = {"xxd", "-p", "-r", (char *)path, NULL};
    char *out = NULL;
    int st = proc_run(argv, NULL, 0, &out, n, NULL, 60000);
    cr_assert_eq(st, 0, "xxd -p -r %s: exit %d", path, st);
    return out;
}

/* The rest of a child's output read on a thread, so that it never waits
 * for us. */
struct drain {
    int fd;
    char *text;
    pthread_t th;
};

static void *drain_main(void *arg)
{
    struct drain *dr = arg;
    dr->text = proc_read_all(dr->fd, NULL, 60000);
    return NULL;
}

static char *read_file(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *p = malloc((size_t)size + 1);
    cr_assert_not_null(p);
    cr_assert_eq(fread(p, 1, (size_t)size, f), (size_t)size);
    p[size] = '\0';
    fclose(f);
    *n = (size_t)size;
    return p;
}

/* tiburoncin's layout: 32 hex digits a line, a newline after each, none
 * after the last (partial) line. */
static void expect_tiburoncin_layout(const char *text, size_t n, size_t bytes, const char *what)
{
    size_t full = bytes / 16, rest = bytes % 16;
    cr_expect_eq(n, full * 33 + rest * 2, "%s: %zu characters for %zu bytes", what, n, bytes);
    for (size_t i = 0; i < n; i++) {
        int nl = i % 33 == 32;
        int ok = nl ? text[i] == '\n' : (text[i] >= '0' && text[i] <= '9') ||
                                            (text[i] >= 'a' && text[i] <= 'f');
        if (!ok) {
            cr_expect(ok, "%s: character %zu is %#x", what, i, (unsigned char)text[i]);
            break;
        }
    }
}

static char *temp_dir(char *dir)
{
    cr_assert_not_null(mkdtemp(dir), "mkdtemp failed");
    return dir;
}

static void remove_dir(const char *dir, const char *const *names)
{
    char path[512];
    for (int i = 0; names[i]; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        unlink(path);
    }
    rmdir(dir);
}

/* ---------------------------------------------------------------- --dump */

Test(relay_tiburoncin, dump_of_16_mib_each_way_turns_back_with_xxd, .timeout = 180)
{
    if (!have_command("xxd"))
        cr_skip_test("xxd is not installed");
    enum { SIZE = 16 << 20 };
    char dir[] = "/tmp/sock-dump-XXXXXX", prefix[128], ab[160], ba[160];
    temp_dir(dir);
    snprintf(prefix, sizeof prefix, "%s/run", dir);
    snprintf(ab, sizeof ab, "%s_AtoB.dump", prefix);
    snprintf(ba, sizeof ba, "%s_BtoA.dump", prefix);
    char *up = malloc(SIZE), *down = malloc(SIZE), *got_up = malloc(SIZE),
         *got_down = malloc(SIZE);
    cr_assert(up && down && got_up && got_down);
    random_bytes(up, SIZE, 7);
    random_bytes(down, SIZE, 11);

    struct ends e;
    const char *opts[] = {"-q", "--dump", prefix, NULL};
    relay_ends(&e, opts);
    struct flow f[4];
    flow_start(&f[0], &e.cli, up, SIZE, 1);
    flow_start(&f[1], &e.srv, got_up, SIZE, 0);
    flow_start(&f[2], &e.srv, down, SIZE, 1);
    flow_start(&f[3], &e.cli, got_down, SIZE, 0);
    for (int i = 0; i < 4; i++)
        cr_expect_eq(flow_end(&f[i]), 0, "flow %d: %s", i, sock_strerror(f[i].rc));
    char b;
    cr_expect_eq(sock_recv(&e.srv, &b, 1), 0, "no end of stream at the server");
    cr_expect_eq(sock_recv(&e.cli, &b, 1), 0, "no end of stream at the client");
    ends_close(&e);
    cr_expect_eq(proc_wait(&e.relay, 30000), 0, "the relay did not end cleanly");
    cr_expect_eq(memcmp(up, got_up, SIZE), 0, "c>s bytes differ");
    cr_expect_eq(memcmp(down, got_down, SIZE), 0, "s>c bytes differ");

    size_t n;
    char *text = read_file(ab, &n);
    expect_tiburoncin_layout(text, n, SIZE, ab);
    free(text);
    char *back = xxd_back(ab, &n);
    cr_expect_eq(n, (size_t)SIZE, "AtoB.dump gives %zu bytes", n);
    cr_expect(n == SIZE && memcmp(back, up, SIZE) == 0, "AtoB.dump is not what the client sent");
    free(back);
    back = xxd_back(ba, &n);
    cr_expect_eq(n, (size_t)SIZE, "BtoA.dump gives %zu bytes", n);
    cr_expect(n == SIZE && memcmp(back, down, SIZE) == 0, "BtoA.dump is not what the server sent");
    free(back);
    free(up), free(down), free(got_up), free(got_down);
    const char *names[] = {"run_AtoB.dump", "run_BtoA.dump", NULL};
    remove_dir(dir, names);
}

Test(relay_tiburoncin, dump_o_writes_tiburoncins_names_in_the_current_folder, .timeout = 30)
{
    char dir[] = "/tmp/sock-dump-XXXXXX";
    temp_dir(dir);
    char tport[16], rport[16], script[512];
    sock_t acep, cli, srv;
    lib_listen(&acep, "127.0.0.1", tport, sizeof tport);
    snprintf(script, sizeof script, "cd '%s' && exec '%s' relay -o 127.0.0.1:0 127.0.0.1 %s",
             dir, sock_bin(), tport);
    proc_t relay;
    char *argv[] = {"sh", "-c", script, NULL};
    cr_assert_eq(proc_start(&relay, argv), 0);
    char log[512] = "";
    cr_assert(proc_wait_for(relay.err, "listening on", log, sizeof log, 10000), "%s", log);
    snprintf(rport, sizeof rport, "%d", parse_listening_port(log));
    lib_connect(&cli, "127.0.0.1", rport);
    cr_assert_eq(sock_accept(&acep, &srv), 0, "%s", sock_error(&acep));
    cr_assert_eq(sock_send_all(&cli, "hello", 5, NULL), 0);
    sock_shutdown(&cli, SOCK_SHUT_WRITE);
    char buf[8];
    cr_assert_eq(sock_recv_all(&srv, buf, 5, NULL), 0);
    cr_assert_eq(sock_send_all(&srv, "hi!", 3, NULL), 0);
    sock_close(&srv);
    cr_assert_eq(sock_recv_all(&cli, buf, 3, NULL), 0);
    sock_close(&cli);
    sock_close(&acep);
    cr_expect_eq(proc_wait(&relay, 10000), 0);
    char path[256];
    size_t n;
    snprintf(path, sizeof path, "%s/AtoB.dump", dir);
    char *text = read_file(path, &n);
    cr_expect_str_eq(text, "68656c6c6f", "AtoB.dump");
    free(text);
    snprintf(path, sizeof path, "%s/BtoA.dump", dir);
    text = read_file(path, &n);
    cr_expect_str_eq(text, "686921", "BtoA.dump");
    free(text);
    const char *names[] = {"AtoB.dump", "BtoA.dump", NULL};
    remove_dir(dir, names);
}

Test(relay_tiburoncin, dump_numbered_per_client_with_keep_open, .timeout = 60)
{
    char dir[] = "/tmp/sock-dump-XXXXXX", prefix[128], tport[16], rport[16];
    temp_dir(dir);
    snprintf(prefix, sizeof prefix, "%s/client", dir);
    sock_t acep;
    lib_listen(&acep, "127.0.0.1", tport, sizeof tport);
    const char *args[] = {"-k", "-q", "--dump", prefix, "127.0.0.1:0", "127.0.0.1", tport, NULL};
    proc_t relay;
    snprintf(rport, sizeof rport, "%d", start_relay(&relay, args));
    for (int k = 0; k < 2; k++) {
        sock_t cli, srv;
        lib_connect(&cli, "127.0.0.1", rport);
        cr_assert_eq(sock_accept(&acep, &srv), 0, "%s", sock_error(&acep));
        const char *msg = k ? "second" : "first";
        cr_assert_eq(sock_send_all(&cli, msg, strlen(msg), NULL), 0);
        sock_shutdown(&cli, SOCK_SHUT_WRITE);
        char buf[16];
        cr_assert_eq(sock_recv_all(&srv, buf, strlen(msg), NULL), 0);
        sock_close(&srv);
        cr_assert_eq(sock_recv(&cli, buf, 1), 0, "no end of stream for client %d", k);
        sock_close(&cli);
    }
    /* The files are complete once the sessions are closed: stop the relay. */
    kill(relay.pid, SIGTERM);
    cr_expect_eq(proc_wait(&relay, 10000), 0);
    sock_close(&acep);
    const char *want[] = {"6669727374", "7365636f6e64"};
    for (int k = 0; k < 2; k++) {
        char path[256];
        size_t n;
        snprintf(path, sizeof path, "%s_%d_AtoB.dump", prefix, k);
        char *text = read_file(path, &n);
        cr_expect_str_eq(text, want[k], "%s", path);
        free(text);
    }
    const char *names[] = {"client_0_AtoB.dump", "client_0_BtoA.dump", "client_1_AtoB.dump",
                           "client_1_BtoA.dump", "client_2_AtoB.dump", "client_2_BtoA.dump",
                           NULL};
    remove_dir(dir, names);
}

Test(relay_tiburoncin, dump_that_cannot_be_written_is_an_error_at_start, .timeout = 20)
{
    char *argv[] = {(char *)sock_bin(), "relay", "--dump", "/nonexistent-dir/x", "127.0.0.1:0",
                    "127.0.0.1", "9", NULL};
    char *out = NULL, *err = NULL;
    int st = proc_run(argv, NULL, 0, &out, NULL, &err, 10000);
    cr_expect_eq(st, 2, "exit %d", st);
    cr_expect(err && strstr(err, "'/nonexistent-dir/x_AtoB.dump'") &&
                  strstr(err, "No such file or directory"),
              "stderr: %s", err);
    cr_expect(err && !strstr(err, "listening on"), "it listened anyway: %s", err);
    free(out), free(err);
}

/* A real exchange: curl fetches a file from python3's http.server through
 * the relay; the recorded request, sent again to the server, brings the
 * same body as the recorded response, and that is the file. */
Test(relay_tiburoncin, dump_of_curl_to_http_server_reproduces_the_exchange, .timeout = 90)
{
    if (!have_command("python3") || !have_command("curl") || !have_command("xxd"))
        cr_skip_test("python3, curl or xxd is not installed");
    char dir[] = "/tmp/sock-dump-XXXXXX", file[128], prefix[128], ab[160], ba[160];
    temp_dir(dir);
    snprintf(file, sizeof file, "%s/page.bin", dir);
    snprintf(prefix, sizeof prefix, "%s/http", dir);
    snprintf(ab, sizeof ab, "%s_AtoB.dump", prefix);
    snprintf(ba, sizeof ba, "%s_BtoA.dump", prefix);
    enum { BODY = 100000 };
    char *body = malloc(BODY);
    cr_assert_not_null(body);
    random_bytes(body, BODY, 3);
    FILE *fp = fopen(file, "wb");
    cr_assert_not_null(fp);
    fwrite(body, 1, BODY, fp);
    fclose(fp);

    char *pargv[] = {"python3", "-u", "-m", "http.server", "0", "--bind", "127.0.0.1",
                     "--directory", dir, NULL};
    proc_t py;
    cr_assert_eq(proc_start(&py, pargv), 0);
    char banner[1024] = "";
    int ok = proc_wait_for(py.out, "port ", banner, sizeof banner, 20000);
    const char *p = strstr(banner, " port ");
    int hport = p ? atoi(p + 6) : 0;
    if (!ok || hport <= 0)
        proc_kill(&py);
    cr_assert(ok && hport > 0, "python3 http.server did not start: %s", banner);
    char hps[16], url[128];
    snprintf(hps, sizeof hps, "%d", hport);
    const char *args[] = {"-q", "--dump", prefix, "127.0.0.1:0", "127.0.0.1", hps, NULL};
    proc_t relay;
    int rport = start_relay(&relay, args);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/page.bin", rport);
    char *cargv[] = {"curl", "-s", "--max-time", "20", url, NULL};
    char *got = NULL;
    size_t got_len = 0;
    int st = proc_run(cargv, NULL, 0, &got, &got_len, NULL, 30000);
    cr_expect_eq(st, 0, "curl exit %d", st);
    cr_expect(got_len == BODY && memcmp(got, body, BODY) == 0, "curl got %zu bytes", got_len);
    cr_expect_eq(proc_wait(&relay, 10000), 0);

    size_t req_len, resp_len;
    char *req = xxd_back(ab, &req_len), *resp = xxd_back(ba, &resp_len);
    cr_expect(req_len > 4 && strncmp(req, "GET /page.bin HTTP/1.1\r\n", 24) == 0,
              "recorded request: %.*s", (int)req_len, req);
    cr_expect(resp_len > BODY && strncmp(resp, "HTTP/1.0 200", 12) == 0 &&
                  memcmp(resp + resp_len - BODY, body, BODY) == 0,
              "the recorded response (%zu bytes) does not end with the file", resp_len);
    /* Replay the recorded request straight to the server. */
    sock_t s;
    lib_connect(&s, "127.0.0.1", hps);
    cr_assert_eq(sock_send_all(&s, req, req_len, NULL), 0);
    char *again = malloc(resp_len + 1024);
    cr_assert_not_null(again);
    size_t have = 0;
    for (int i = 0; i < 100000 && have < resp_len + 1024; i++) {
        ssize_t r = sock_recv(&s, again + have, resp_len + 1024 - have);
        if (r <= 0)
            break;
        have += (size_t)r;
    }
    sock_close(&s);
    cr_expect(have > BODY && memcmp(again + have - BODY, body, BODY) == 0,
              "the replayed request did not bring the same body (%zu bytes)", have);
    proc_kill(&py);
    free(body), free(got), free(req), free(resp), free(again);
    const char *names[] = {"page.bin", "http_AtoB.dump", "http_BtoA.dump", NULL};
    remove_dir(dir, names);
}

/* ---------------------------------------------------------------- behind */

Test(relay_tiburoncin, slow_reader_shown_behind_then_in_sync, .timeout = 90)
{
    /* More than the server's receive buffer holds before it reads.  (No
     * --sockbuf: buffers far below the loopback MSS of 64 KiB make TCP
     * itself crawl, on zero-window probes.) */
    enum { SIZE = 1 << 20 };
    struct ends e;
    const char *opts[] = {"--buffer", "4096", NULL};
    relay_ends(&e, opts);
    char *data = malloc(SIZE), *got = malloc(SIZE);
    cr_assert(data && got);
    random_bytes(data, SIZE, 5);
    struct flow up;
    flow_start(&up, &e.cli, data, SIZE, 1);
    size_t cap = 64 << 20;
    char *shown = calloc(1, cap);
    cr_assert_not_null(shown);
    /* While the server does not read: the relay says B is behind. */
    int behind = proc_wait_for(e.relay.out, "bytes behind", shown, cap, 20000);
    cr_expect(behind, "no 'B is N bytes behind' while the server did not read");
    /* The server reads everything (on a thread, while the record is read
     * here, so that the relay never waits for us); then it is in sync. */
    struct flow down;
    flow_start(&down, &e.srv, got, SIZE, 0);
    size_t len = strlen(shown);
    int sync = proc_wait_for(e.relay.out, "c>s B is in sync", shown + len, cap - len, 30000);
    struct drain rest = {.fd = e.relay.out};
    cr_assert_eq(pthread_create(&rest.th, NULL, drain_main, &rest), 0);
    cr_expect_eq(flow_end(&down), 0, "the server's read: %s", sock_strerror(down.rc));
    cr_expect_eq(flow_end(&up), 0, "the client's send: %s", sock_strerror(up.rc));
    cr_expect(sync, "no 'B is in sync' once the server read");
    cr_expect_eq(memcmp(data, got, SIZE), 0, "the bytes differ");
    const char *line = strstr(shown, "c>s B is ");
    cr_expect(line && strstr(shown, " bytes behind"), "record:\n%.2000s", shown);
    sock_shutdown(&e.srv, SOCK_SHUT_WRITE);
    char b;
    cr_expect_eq(sock_recv(&e.srv, &b, 1), 0, "no end of stream at the server");
    ends_close(&e);
    pthread_join(rest.th, NULL);
    char *err = proc_read_all(e.relay.err, NULL, 10000);
    int st = proc_wait(&e.relay, 10000);
    cr_expect_eq(st, 0, "relay exit %d: %s; record's end: %s", st, err,
                 rest.text ? rest.text + (strlen(rest.text) > 600 ? strlen(rest.text) - 600 : 0)
                           : "(none)");
    free(rest.text), free(err);
    free(data), free(got), free(shown);
}

/* ---------------------------------------------------------------- --frame */

Test(relay_tiburoncin, frame_groups_a_message_split_into_single_bytes, .timeout = 30)
{
    struct ends e;
    const char *opts[] = {"--frame", "u16be", "--max-chunk", "1", NULL};
    relay_ends(&e, opts);
    cr_assert_eq(sock_send_all(&e.cli, "\x00\x05hello", 7, NULL), 0);
    char buf[8];
    cr_assert_eq(sock_recv_all(&e.srv, buf, 7, NULL), 0);
    cr_expect_eq(memcmp(buf, "\x00\x05hello", 7), 0);
    ends_close(&e);
    char *shown = proc_read_all(e.relay.out, NULL, 10000);
    cr_assert_not_null(shown);
    proc_wait(&e.relay, 10000);
    cr_expect(strstr(shown, "c>s message 1: 7 bytes (u16be length 5), across 7 reads"), "%s",
              shown);
    cr_expect(strstr(shown, "c>s 00000000  00 05 68 65 6c 6c 6f") && strstr(shown, "|..hello|"),
              "the message is not dumped whole:\n%s", shown);
    free(shown);
}

Test(relay_tiburoncin, frame_flags_a_length_in_the_wrong_order, .timeout = 30)
{
    struct ends e;
    const char *opts[] = {"--frame", "u32be", NULL};
    relay_ends(&e, opts);
    /* A little-endian 1 where the protocol wants big-endian. */
    cr_assert_eq(sock_send_all(&e.cli, "\x01\x00\x00\x00x", 5, NULL), 0);
    char buf[8];
    cr_assert_eq(sock_recv_all(&e.srv, buf, 5, NULL), 0);
    char shown[8192] = "";
    cr_expect(proc_wait_for(e.relay.out, "little-endian sender?", shown, sizeof shown, 10000),
              "no endianness doubt, while the receiver waits:\n%s", shown);
    cr_expect(strstr(shown, "length 16777216") && strstr(shown, "(read as u32le: 1)"), "%s",
              shown);
    ends_close(&e);
    char *rest = proc_read_all(e.relay.out, NULL, 10000);
    proc_wait(&e.relay, 10000);
    cr_expect(rest && strstr(rest, "message 1: 5 bytes of 16777220, cut short"), "%s%s", shown,
              rest);
    free(rest);
}

/* Lines and u8 lengths, each split across reads by --max-chunk 3: every
 * message is told whole, with the reads it took. */
static void frame_case(const char *frame, const char *bytes, size_t n, const char *want1,
                       const char *want2)
{
    struct ends e;
    const char *opts[] = {"--frame", frame, "--max-chunk", "3", NULL};
    relay_ends(&e, opts);
    cr_assert_eq(sock_send_all(&e.cli, bytes, n, NULL), 0);
    char buf[64];
    cr_assert_eq(sock_recv_all(&e.srv, buf, n, NULL), 0);
    cr_expect_eq(memcmp(buf, bytes, n), 0);
    ends_close(&e);
    char *shown = proc_read_all(e.relay.out, NULL, 10000);
    cr_assert_not_null(shown);
    proc_wait(&e.relay, 10000);
    cr_expect(strstr(shown, want1) && strstr(shown, want2), "--frame %s:\n%s", frame, shown);
    free(shown);
}

Test(relay_tiburoncin, frame_line_and_u8, .timeout = 30)
{
    frame_case("line", "GET /\nHost: a\n", 14, "c>s message 1: 6 bytes, across 2 reads",
               "c>s message 2: 8 bytes, across 3 reads");
    frame_case("u8", "\005hello\003abc", 10, "c>s message 1: 6 bytes (u8 length 5), across 2 reads",
               "c>s message 2: 4 bytes (u8 length 3), across 2 reads");
}

/* --sockbuf SND:RCV reaches both of the relay's sockets: the kernel shows
 * them (doubled, as it keeps room for its own bookkeeping) in ss's skmem. */
Test(relay_tiburoncin, sockbuf_sets_both_sockets, .timeout = 30)
{
    if (!have_command("ss"))
        cr_skip_test("ss (iproute2) is not installed");
    struct ends e;
    const char *opts[] = {"-q", "--sockbuf", "32768:40000", NULL};
    relay_ends(&e, opts);
    cr_assert_eq(sock_send_all(&e.cli, "x", 1, NULL), 0);
    char b;
    cr_assert_eq(sock_recv_all(&e.srv, &b, 1, NULL), 0);
    char cmd[160];
    snprintf(cmd, sizeof cmd, "ss -tmnp | grep -A1 'pid=%d,' | grep -c 'rb80000,t0,tb65536'",
             (int)e.relay.pid);
    FILE *f = popen(cmd, "r");
    cr_assert_not_null(f);
    int count = -1;
    cr_assert_eq(fscanf(f, "%d", &count), 1);
    pclose(f);
    cr_expect_eq(count, 2, "the relay's two sockets with SO_SNDBUF 32768 and SO_RCVBUF 40000: %d",
                 count);
    ends_close(&e);
    proc_wait(&e.relay, 10000);
}

/* ---------------------------------------------------------------- faults */

Test(relay_tiburoncin, reset_after_n_bytes_resets_both_sides, .timeout = 30)
{
    struct ends e;
    const char *opts[] = {"-q", "--reset-after", "c2s:1000", NULL};
    relay_ends(&e, opts);
    char data[5000], buf[5000];
    random_bytes(data, sizeof data, 9);
    cr_assert_eq(sock_send_all(&e.cli, data, sizeof data, NULL), 0);
    cr_expect_eq(sock_recv_all(&e.srv, buf, 1000, NULL), 0, "%s", sock_error(&e.srv));
    cr_expect_eq(memcmp(buf, data, 1000), 0);
    ssize_t r = sock_recv(&e.srv, buf, sizeof buf);
    cr_expect_eq(r, -ECONNRESET, "the server's next receive: %zd (%s)", r, sock_strerror((int)r));
    r = sock_recv(&e.cli, buf, sizeof buf);
    cr_expect_eq(r, -ECONNRESET, "the client's receive: %zd (%s)", r, sock_strerror((int)r));
    ends_close(&e);
    char *shown = proc_read_all(e.relay.out, NULL, 10000);
    cr_expect(shown && strstr(shown, "c>s RESET after 1000 bytes: --reset-after"), "%s", shown);
    cr_expect_eq(proc_wait(&e.relay, 10000), 0);
    free(shown);
}

Test(relay_tiburoncin, close_after_n_bytes_is_end_of_stream_at_n, .timeout = 30)
{
    struct ends e;
    const char *opts[] = {"-q", "--close-after", "c2s:1000", NULL};
    relay_ends(&e, opts);
    char data[5000], buf[5000];
    random_bytes(data, sizeof data, 13);
    cr_assert_eq(sock_send_all(&e.cli, data, sizeof data, NULL), 0);
    cr_expect_eq(sock_recv_all(&e.srv, buf, 1000, NULL), 0, "%s", sock_error(&e.srv));
    cr_expect_eq(memcmp(buf, data, 1000), 0);
    ssize_t r = sock_recv(&e.srv, buf, sizeof buf);
    cr_expect_eq(r, 0, "the server's next receive: %zd, not end of stream at byte 1000", r);
    /* The other direction goes on: the server's answer reaches the client. */
    cr_assert_eq(sock_send_all(&e.srv, "bye", 3, NULL), 0);
    cr_expect_eq(sock_recv_all(&e.cli, buf, 3, NULL), 0, "%s", sock_error(&e.cli));
    cr_expect_eq(memcmp(buf, "bye", 3), 0);
    ends_close(&e);
    char *shown = proc_read_all(e.relay.out, NULL, 10000);
    cr_expect(shown && strstr(shown, "c>s EOF after 1000 bytes: --close-after"), "%s", shown);
    proc_wait(&e.relay, 10000);
    free(shown);
}

Test(relay_tiburoncin, stall_after_n_bytes_blocks_the_writer, .timeout = 60)
{
    struct ends e;
    const char *opts[] = {"-q", "--stall-after", "c2s:1000", "--sockbuf", "65536", NULL};
    relay_ends(&e, opts);
    enum { SIZE = 64 << 20 };
    char *data = malloc(SIZE), buf[2000];
    cr_assert_not_null(data);
    random_bytes(data, SIZE, 17);
    /* The writer blocks once every buffer on the way is full: its timeout
     * ends it, with part of the data out. */
    sock_set_timeout(&e.cli, 1000);
    size_t sent = 0;
    int rc = sock_send_all(&e.cli, data, SIZE, &sent);
    cr_expect_eq(rc, -ETIMEDOUT, "the client's send: %s after %zu bytes", sock_strerror(rc),
                 sent);
    cr_expect(sent >= 1000 && sent < SIZE, "%zu bytes out", sent);
    cr_expect_eq(sock_recv_all(&e.srv, buf, 1000, NULL), 0, "%s", sock_error(&e.srv));
    cr_expect_eq(memcmp(buf, data, 1000), 0);
    sock_set_timeout(&e.srv, 300);
    ssize_t r = sock_recv(&e.srv, buf, sizeof buf);
    cr_expect_eq(r, -ETIMEDOUT, "the server got %zd past byte 1000", r);
    char shown[4096] = "";
    cr_expect(proc_wait_for(e.relay.out, "c>s STALL after 1000 bytes", shown, sizeof shown, 5000),
              "%s", shown);
    proc_kill(&e.relay);
    ends_close(&e);
    free(data);
}

/* ---------------------------------------------------------------- Unix */

/* 1 MiB each way through `relay ARGS`, whose target is acep and which
 * listens at (host, port); every byte checked. */
static void unix_round(const char *const *args, sock_t *acep, const char *host)
{
    enum { SIZE = 1 << 20 };
    proc_t relay;
    int port = start_relay(&relay, args);
    char ps[16];
    snprintf(ps, sizeof ps, "%d", port);
    sock_t cli, srv;
    lib_connect(&cli, host, port ? ps : "0");
    cr_assert_eq(sock_accept(acep, &srv), 0, "%s", sock_error(acep));
    char *up = malloc(SIZE), *down = malloc(SIZE), *gu = malloc(SIZE), *gd = malloc(SIZE);
    cr_assert(up && down && gu && gd);
    random_bytes(up, SIZE, 21);
    random_bytes(down, SIZE, 23);
    struct flow f[4];
    flow_start(&f[0], &cli, up, SIZE, 1);
    flow_start(&f[1], &srv, gu, SIZE, 0);
    flow_start(&f[2], &srv, down, SIZE, 1);
    flow_start(&f[3], &cli, gd, SIZE, 0);
    for (int i = 0; i < 4; i++)
        cr_expect_eq(flow_end(&f[i]), 0, "%s: flow %d: %s", args[2], i, sock_strerror(f[i].rc));
    cr_expect_eq(memcmp(up, gu, SIZE), 0, "c>s bytes differ");
    cr_expect_eq(memcmp(down, gd, SIZE), 0, "s>c bytes differ");
    sock_close(&cli);
    sock_close(&srv);
    char *shown = proc_read_all(relay.out, NULL, 10000);
    cr_expect_eq(proc_wait(&relay, 10000), 0, "the relay did not end cleanly: %s", shown);
    cr_expect(shown && strstr(shown, "closed: c>s 1048576 bytes, s>c 1048576 bytes"), "%s", shown);
    free(shown);
    free(up), free(down), free(gu), free(gd);
}

Test(relay_tiburoncin, tcp_to_unix_and_unix_to_tcp, .timeout = 60)
{
    char dir[] = "/tmp/sock-unix-XXXXXX", target[128], in[128], port[16];
    temp_dir(dir);
    snprintf(target, sizeof target, "unix:%s/app.sock", dir);
    snprintf(in, sizeof in, "%s/in.sock", dir);
    /* TCP clients, a Unix server. */
    sock_t acep;
    lib_listen(&acep, target, port, sizeof port);
    const char *a1[] = {"-q", "127.0.0.1:0", target, NULL};
    unix_round(a1, &acep, "127.0.0.1");
    sock_close(&acep);
    /* Unix clients (-U), a TCP server. */
    lib_listen(&acep, "127.0.0.1", port, sizeof port);
    const char *a2[] = {"-q", "-U", in, "127.0.0.1", port, NULL};
    char inhost[140];
    snprintf(inhost, sizeof inhost, "unix:%s", in);
    unix_round(a2, &acep, inhost);
    sock_close(&acep);
    struct stat sb;
    cr_expect_neq(stat(in, &sb), 0, "the relay left its socket file behind");
    const char *names[] = {"app.sock", "in.sock", NULL};
    remove_dir(dir, names);
}
