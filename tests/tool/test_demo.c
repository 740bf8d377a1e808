/*
 * test_demo.c - `sock demo` shows what really happened on its connection:
 * the client's ephemeral port, the states on the right sides, the segments
 * (as root), the seed's topology with --netns (and no namespace left
 * behind), a valid SVG, Spanish, the RST of --abort, and one-line errors
 * for bad options.
 */
#include "harness.h"
#include "../../tools/demo/demo.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define RUN_MS 60000

/* Run `sock demo ARGS...` to completion; returns the exit status. */
static int demo(char **out, char **err, const char *a1, const char *a2, const char *a3)
{
    char *argv[] = {(char *)sock_bin(), "demo", (char *)a1, (char *)a2, (char *)a3, NULL};
    size_t n;
    return proc_run(argv, NULL, 0, out, &n, err, RUN_MS);
}

/* The two-column lines of the output: the text left of the separator is
 * the client's, right of it the server's.  Accepts the UTF-8 and the ASCII
 * drawing.  Returns 1 if some line has needle on that side. */
static int column_has(const char *text, int server, const char *needle)
{
    const char *line = text;
    while (line && *line) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        char buf[1024];
        if (len >= sizeof buf)
            len = sizeof buf - 1;
        memcpy(buf, line, len);
        buf[len] = '\0';
        char *sep = strstr(buf, " \xe2\x94\x82 ");
        size_t seplen = 5;
        if (!sep) {
            sep = strstr(buf, " | ");
            seplen = 3;
        }
        if (sep && strncmp(buf, "  ", 2) == 0) {
            *sep = '\0';
            const char *side = server ? sep + seplen : buf;
            if (strstr(side, needle))
                return 1;
        }
        line = end ? end + 1 : NULL;
    }
    return 0;
}

static int is_root(void)
{
    return geteuid() == 0;
}

static int count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

static void check_run(const char *family_opt, const char *addr_fmt)
{
    char *out = NULL, *err = NULL;
    int st = demo(&out, &err, "--lang", "en", family_opt);
    cr_assert_eq(st, 0, "sock demo %s exited %d; stderr: %s", family_opt, st, err ? err : "");

    /* "Puerto 80 ??" answered with the port the client really had. */
    const char *p = strstr(out, "the client is on port ");
    cr_assert_not_null(p, "no answer to 'Puerto 80 ?\?' in:\n%s", out);
    int port = atoi(p + strlen("the client is on port "));
    int lo = 0, hi = 0;
    FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");
    cr_assert_not_null(f);
    cr_assert_eq(fscanf(f, "%d %d", &lo, &hi), 2);
    fclose(f);
    cr_assert(port >= lo && port <= hi, "client port %d outside the ephemeral range %d-%d", port, lo, hi);
    char local[64];
    snprintf(local, sizeof local, addr_fmt, port);
    cr_assert(column_has(out, 0, local), "the client's column does not show %s:\n%s", local, out);

    /* States on the side they belong to. */
    cr_assert(column_has(out, 1, "LISTEN"), "no LISTEN on the server's side");
    cr_assert(!column_has(out, 0, "LISTEN"), "LISTEN on the client's side");
    cr_assert(column_has(out, 0, "ESTABLISHED") && column_has(out, 1, "ESTABLISHED"),
              "ESTABLISHED missing on a side");
    cr_assert(column_has(out, 0, "TIME_WAIT"), "no TIME_WAIT on the client's side (it closed first)");
    cr_assert(!column_has(out, 1, "TIME_WAIT"), "TIME_WAIT on the server's side");
    cr_assert(column_has(out, 0, "FIN_WAIT2") && column_has(out, 1, "CLOSE_WAIT"),
              "FIN_WAIT2/CLOSE_WAIT not on the client/server sides");
    free(out);
    free(err);
}

Test(demo, default_run_ipv4, .timeout = 90)
{
    check_run("-4", "127.0.0.1:%d");
}

Test(demo, default_run_ipv6, .timeout = 90)
{
    check_run("-6", "[::1]:%d");
}

Test(demo, segments_when_root, .timeout = 90)
{
    if (!is_root())
        cr_skip_test("capturing segments needs CAP_NET_RAW: run the suite as root");
    char *out = NULL, *err = NULL;
    cr_assert_eq(demo(&out, &err, "--lang", "en", NULL), 0, "stderr: %s", err);
    cr_assert_not_null(strstr(out, "Capturing TCP segments on interface lo"));
    cr_assert_not_null(strstr(out, " SYN "), "no SYN segment in:\n%s", out);
    cr_assert_not_null(strstr(out, " SYN-ACK "), "no SYN-ACK segment");
    cr_assert_not_null(strstr(out, " FIN-ACK "), "no FIN segment");
    cr_assert_not_null(strstr(out, " DATA 10 bytes "), "no 10-byte request segment");
    cr_assert_null(strstr(out, "RST"), "an orderly run showed a reset");
    free(out);
    free(err);
}

static int netns_exists(const char *prefix, pid_t pid)
{
    char path[128];
    struct stat sb;
    snprintf(path, sizeof path, "/run/netns/%s%ld", prefix, (long)pid);
    return stat(path, &sb) == 0;
}

Test(demo, netns_topology_and_cleanup, .timeout = 90)
{
    if (!is_root())
        cr_skip_test("--netns creates network namespaces: needs root");
    if (!have_command("ip"))
        cr_skip_test("--netns needs the ip command (iproute2)");
    char *argv[] = {(char *)sock_bin(), "demo", "--netns", "--lang", "en", NULL};
    proc_t p;
    cr_assert_eq(proc_start(&p, argv), 0);
    size_t n;
    char *out = proc_read_all(p.out, &n, RUN_MS);
    int st = proc_wait(&p, RUN_MS);
    cr_assert_not_null(out, "sock demo --netns did not finish");
    cr_assert_eq(st, 0, "sock demo --netns exited %d:\n%s", st, out);
    cr_assert_not_null(strstr(out, "cli.connect(\"10.2.2.2\", \"80\")"));
    cr_assert(column_has(out, 0, "10.1.1.1:"), "client not at 10.1.1.1");
    cr_assert(column_has(out, 1, "10.2.2.2:80"), "server not at 10.2.2.2:80");
    cr_assert(column_has(out, 0, "TIME_WAIT"), "no TIME_WAIT on the client's side");
    cr_assert_not_null(strstr(out, " SYN "), "no SYN captured on the veth");
    cr_assert(!netns_exists("sockdemo-cli-", p.pid) && !netns_exists("sockdemo-srv-", p.pid),
              "namespaces of pid %ld left behind", (long)p.pid);
    free(out);
}

Test(demo, netns_removed_on_sigint, .timeout = 90)
{
    if (!is_root())
        cr_skip_test("--netns creates network namespaces: needs root");
    if (!have_command("ip"))
        cr_skip_test("--netns needs the ip command (iproute2)");
    char *argv[] = {(char *)sock_bin(), "demo", "--netns", "--step", "--lang", "en", NULL};
    proc_t p;
    cr_assert_eq(proc_start(&p, argv), 0);
    static char buf[65536];
    int found = proc_wait_for(p.out, "press Enter", buf, sizeof buf, 30000);
    int existed = netns_exists("sockdemo-cli-", p.pid) && netns_exists("sockdemo-srv-", p.pid);
    kill(p.pid, SIGINT);
    int st = proc_wait(&p, 30000);
    cr_assert(found, "no step prompt; output:\n%s", buf);
    cr_assert(existed, "the namespaces did not exist during the run");
    cr_assert_eq(st, 128 + SIGINT, "exit status %d after SIGINT", st);
    cr_assert(!netns_exists("sockdemo-cli-", p.pid) && !netns_exists("sockdemo-srv-", p.pid),
              "namespaces of pid %ld left behind after SIGINT", (long)p.pid);
}

Test(demo, svg_is_valid_and_renders, .timeout = 90)
{
    if (!have_command("xmllint") || !have_command("rsvg-convert"))
        cr_skip_test("needs xmllint (libxml2-utils) and rsvg-convert (librsvg2-bin)");
    char dir[] = "/tmp/sock-demo-svg-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char svg[128], png[128], cmd[512];
    snprintf(svg, sizeof svg, "%s/run.svg", dir);
    snprintf(png, sizeof png, "%s/run.png", dir);
    char *out = NULL, *err = NULL;
    int st = demo(&out, &err, "--svg", svg, "--abort");
    snprintf(cmd, sizeof cmd, "xmllint --noout '%s'", svg);
    int xml = system(cmd);
    snprintf(cmd, sizeof cmd, "rsvg-convert -o '%s' '%s'", png, svg);
    int rsvg = system(cmd);
    struct stat sb;
    int png_size = stat(png, &sb) == 0 ? (int)sb.st_size : -1;
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    cr_expect_eq(system(cmd), 0);
    cr_assert_eq(st, 0, "sock demo --svg exited %d: %s", st, err);
    cr_assert_eq(xml, 0, "xmllint rejected the SVG");
    cr_assert_eq(rsvg, 0, "rsvg-convert failed");
    cr_assert_gt(png_size, 1000, "the rendered PNG is too small: %d bytes", png_size);
    free(out);
    free(err);
}

Test(demo, spanish_by_option_and_by_lang, .timeout = 90)
{
    char *out = NULL, *err = NULL;
    cr_assert_eq(demo(&out, &err, "--lang", "es", NULL), 0);
    cr_assert_not_null(strstr(out, "paso 4a"), "--lang es is not Spanish:\n%s", out);
    cr_assert_not_null(strstr(out, "el cliente est"), "no Spanish answer to Puerto 80 ?\?");
    free(out);
    free(err);
    setenv("LANG", "es_ES.UTF-8", 1);
    unsetenv("LC_ALL");
    unsetenv("LC_MESSAGES");
    cr_assert_eq(demo(&out, &err, NULL, NULL, NULL), 0);
    cr_assert_not_null(strstr(out, "servidor"), "LANG=es_ES.UTF-8 is not Spanish");
    free(out);
    free(err);
    cr_assert_eq(demo(&out, &err, "--lang", "en", NULL), 0);
    cr_assert_not_null(strstr(out, "step 4a"), "--lang en does not override LANG=es");
    free(out);
    free(err);
}

Test(demo, abort_shows_the_reset, .timeout = 90)
{
    char *out = NULL, *err = NULL;
    int st = demo(&out, &err, "--abort", "--lang", "en");
    cr_assert_eq(st, 0, "sock demo --abort exited %d: %s", st, err);
    cr_assert_not_null(strstr(out, "ECONNRESET"), "the client's reset is not shown:\n%s", out);
    cr_assert(column_has(out, 1, "bytes unread"), "the server's unread data is not shown");
    cr_assert_not_null(strstr(out, "were lost to the reset"), "the lost reply is not counted");
    cr_assert(!column_has(out, 0, "TIME_WAIT") && !column_has(out, 1, "TIME_WAIT"),
              "a reset connection left TIME_WAIT");
    if (is_root())
        cr_assert_not_null(strstr(out, " RST"), "no RST segment captured:\n%s", out);
    free(out);
    free(err);
}

static void bad_option(const char *a1, const char *a2, const char *culprit)
{
    char *out = NULL, *err = NULL;
    int st = demo(&out, &err, a1, a2, NULL);
    cr_assert_eq(st, 2, "sock demo %s %s exited %d", a1, a2 ? a2 : "", st);
    cr_assert_eq(count_lines(err), 1, "not one line: '%s'", err);
    cr_assert_not_null(strstr(err, culprit), "'%s' does not name %s", err, culprit);
    cr_assert_eq(out ? strlen(out) : 0, 0, "printed to stdout on a usage error");
    free(out);
    free(err);
}

Test(demo, bad_options_exit_2, .timeout = 60)
{
    bad_option("--bogus", NULL, "--bogus");
    bad_option("--lang", "fr", "fr");
    bad_option("--svg", NULL, "--svg");
    bad_option("extra", NULL, "extra");
    bad_option("--svg", "/nonexistent-dir/x.svg", "/nonexistent-dir/x.svg");
    /* A bad letter in a combination is named itself, not the word. */
    bad_option("-x4", NULL, "'-x'");
    bad_option("-4x", NULL, "'-x'");
    bad_option("--lang", "\x01\n", "\\x01\\n");
}

/* ----------------------------------------------------- the packet parser */

/* The parser and the drawing are linked in (see DEMO_PURE_OBJ in the
 * Makefile): these tests feed them packets and runs made up here, so that
 * what the live capture only sometimes sees (a retransmission, a malformed
 * header) is tested every time.  No packet is sent anywhere. */

static void put16(uint8_t *p, unsigned v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
    put16(p, v >> 16);
    put16(p + 2, v & 0xffff);
}

/* A TCP header with an MSS option (24 bytes) and the payload at t. */
static size_t build_tcp(uint8_t *t, uint16_t sport, uint16_t dport, uint32_t seq, uint32_t ack,
                        uint8_t flags, const char *payload)
{
    memset(t, 0, 24);
    put16(t, sport);
    put16(t + 2, dport);
    put32(t + 4, seq);
    put32(t + 8, ack);
    t[12] = 6 << 4;
    t[13] = flags;
    put16(t + 14, 65535);
    t[20] = 2; /* MSS, length 4, 1460 */
    t[21] = 4;
    put16(t + 22, 1460);
    size_t n = payload ? strlen(payload) : 0;
    memcpy(t + 24, payload ? payload : "", n);
    return 24 + n;
}

/* An IPv4 packet 127.0.0.1 -> 127.0.0.2; returns its length. */
static size_t build_v4(uint8_t *p, uint16_t sport, uint16_t dport, uint32_t seq, uint32_t ack,
                       uint8_t flags, const char *payload)
{
    memset(p, 0, 20);
    p[0] = 0x45;
    p[8] = 64;
    p[9] = 6;
    p[12] = 127, p[15] = 1;
    p[16] = 127, p[19] = 2;
    size_t n = 20 + build_tcp(p + 20, sport, dport, seq, ack, flags, payload);
    put16(p + 2, (unsigned)n);
    return n;
}

/* An IPv6 packet ::1 -> ::1 with a hop-by-hop and a destination options
 * header before TCP. */
static size_t build_v6(uint8_t *p, const char *payload)
{
    memset(p, 0, 56);
    p[0] = 0x60;
    p[6] = 0;      /* hop-by-hop */
    p[7] = 64;
    p[23] = 1;
    p[39] = 1;
    p[40] = 60;    /* next: destination options, 8 bytes */
    p[48] = 6;     /* next: TCP, 8 bytes */
    size_t n = 56 + build_tcp(p + 56, 40000, 5000, 1000, 0, 0x02, payload);
    put16(p + 4, (unsigned)(n - 40));
    return n;
}

/* Parse len bytes copied into a buffer of exactly that size, so that
 * AddressSanitizer catches a read past the end. */
static int parse_exact(const uint8_t *p, size_t len, struct demo_segment *seg)
{
    uint8_t *copy = malloc(len ? len : 1);
    cr_assert_not_null(copy);
    memcpy(copy, p, len);
    int rc = demo_parse_packet(len ? copy : NULL, len, seg);
    free(copy);
    return rc;
}

Test(packet, parses_ipv4_and_ipv6_with_extension_headers)
{
    uint8_t p[256];
    struct demo_segment s;
    size_t n = build_v4(p, 40000, 5000, 7, 9, 0x18, "GET /hola\n");
    cr_assert_eq(parse_exact(p, n, &s), 1);
    cr_assert_eq(s.family, AF_INET);
    cr_assert(s.sport == 40000 && s.dport == 5000, "ports %u %u", s.sport, s.dport);
    cr_assert(s.seq == 7 && s.ack == 9 && s.flags == 0x18);
    cr_assert_eq(s.len, 10);
    cr_assert_eq(s.mss, 1460);
    cr_assert_str_eq(s.preview, "GET /hola.");
    cr_assert(s.src[0] == 127 && s.dst[3] == 2);

    n = build_v6(p, "x");
    cr_assert_eq(parse_exact(p, n, &s), 1, "IPv6 with two extension headers not parsed");
    cr_assert_eq(s.family, AF_INET6);
    cr_assert(s.sport == 40000 && s.seq == 1000 && s.len == 1 && s.mss == 1460);
}

Test(packet, truncated_and_malformed_packets_are_refused)
{
    uint8_t p[256];
    struct demo_segment s;
    /* Every prefix: refused while a header is cut, parsed once the TCP
     * header and its options are in (the payload may be cut by the snap
     * length). */
    size_t n = build_v4(p, 40000, 5000, 1, 1, 0x18, "payload");
    for (size_t len = 0; len <= n; len++) {
        int rc = parse_exact(p, len, &s);
        cr_assert_eq(rc, len < 44 ? -1 : 1, "IPv4 prefix of %zu bytes: %d", len, rc);
    }
    n = build_v6(p, "payload");
    for (size_t len = 0; len <= n; len++) {
        int rc = parse_exact(p, len, &s);
        cr_assert_eq(rc, len < 80 ? -1 : 1, "IPv6 prefix of %zu bytes: %d", len, rc);
    }

    uint8_t q[256];
    n = build_v4(p, 40000, 5000, 1, 1, 0x18, "payload");
    memcpy(q, p, n), q[0] = 0x44;           /* IHL 4 words */
    cr_assert_eq(parse_exact(q, n, &s), -1, "IHL below 5 accepted");
    memcpy(q, p, n), q[0] = 0x4f;           /* IHL 15 words: TCP header cut */
    cr_assert_eq(parse_exact(q, n, &s), -1, "IHL beyond the packet accepted");
    memcpy(q, p, n), q[32] = 4 << 4;        /* TCP data offset 4 words */
    cr_assert_eq(parse_exact(q, n, &s), -1, "TCP data offset below 5 accepted");
    memcpy(q, p, n), q[32] = 15 << 4;       /* data offset past the packet */
    cr_assert_eq(parse_exact(q, n, &s), -1, "TCP data offset beyond the packet accepted");
    memcpy(q, p, n), put16(q + 2, 30);      /* IP length shorter than the headers */
    cr_assert_eq(parse_exact(q, n, &s), -1, "IP total length below the headers accepted");
    memcpy(q, p, n), q[41] = 0;             /* MSS option of length 0: options stop */
    cr_assert_eq(parse_exact(q, n, &s), 1);
    cr_assert_eq(s.mss, 0, "a zero-length option was read as MSS");
    memcpy(q, p, n), q[41] = 40;            /* option running past the header */
    cr_assert_eq(parse_exact(q, n, &s), 1);
    cr_assert_eq(s.mss, 0, "an option running past the header was read");

    memcpy(q, p, n), q[9] = 17;             /* UDP */
    cr_assert_eq(parse_exact(q, n, &s), 0, "UDP taken for TCP");
    memcpy(q, p, n), put16(q + 6, 100);     /* a later fragment */
    cr_assert_eq(parse_exact(q, n, &s), 0, "a later fragment parsed as a TCP header");
    memcpy(q, p, n), q[0] = 0x55;           /* IP version 5 */
    cr_assert_eq(parse_exact(q, n, &s), 0, "IP version 5 accepted");

    n = build_v6(p, "payload");
    memcpy(q, p, n), q[48] = 50;            /* ESP after the options */
    cr_assert_eq(parse_exact(q, n, &s), 0, "ESP taken for TCP");
    memcpy(q, p, n), q[49] = 200;           /* options header longer than the packet */
    cr_assert_eq(parse_exact(q, n, &s), -1, "an extension header past the end accepted");
    memcpy(q, p, n), put16(q + 4, 0);       /* jumbogram payload length */
    cr_assert_eq(parse_exact(q, n, &s), -1, "a zero IPv6 payload length accepted");
    /* A chain of hop-by-hop headers longer than the bound. */
    memset(q, 0, sizeof q);
    q[0] = 0x60;
    put16(q + 4, 200);
    for (int i = 0; i < 20; i++)
        q[40 + 8 * i] = 0;
    cr_assert_eq(parse_exact(q, 240, &s), 0, "an endless extension header chain accepted");
}

Test(packet, random_bytes_are_parsed_safely)
{
    uint8_t p[128];
    struct demo_segment s;
    unsigned seed = 12345;
    for (int i = 0; i < 20000; i++) {
        size_t len = (size_t)(rand_r(&seed) % (int)sizeof p);
        for (size_t k = 0; k < len; k++)
            p[k] = (uint8_t)rand_r(&seed);
        /* Half of them look like IPv4 or IPv6 with TCP, to get past the
         * first checks. */
        if (len > 10 && i % 2) {
            p[0] = i % 4 == 1 ? (uint8_t)(0x40 | (p[0] & 0x0f)) : (uint8_t)(0x60 | (p[0] & 0x0f));
            p[9] = 6;
            p[6] = i % 8 == 1 ? 6 : p[6] % 64;
        }
        int rc = parse_exact(p, len, &s);
        cr_assert(rc >= -1 && rc <= 1, "return %d", rc);
        if (rc == 1)
            cr_assert(s.len <= 65535 && s.preview[sizeof s.preview - 1] == '\0');
    }
}

/* -------------------------------------------------------- retransmissions */

/* Feed the connection a handshake, a data segment, the same segment again,
 * a segment overlapping both, and a bare ACK with an old number. */
static int feed(struct demo_conn *c, struct demo_segment *segs)
{
    struct { uint16_t sp, dp; uint32_t seq, ack; uint8_t fl; const char *data; } pk[] = {
        {40000, 5000, 1000, 0, 0x02, NULL},           /* SYN */
        {5000, 40000, 9000, 1001, 0x12, NULL},        /* SYN-ACK */
        {40000, 5000, 1001, 9001, 0x10, NULL},        /* ACK */
        {40000, 5000, 1001, 9001, 0x18, "0123456789"}, /* data 1..10 */
        {40000, 5000, 1001, 9001, 0x18, "0123456789"}, /* the same again */
        {40000, 5000, 1006, 9001, 0x18, "56789abcde"}, /* 6..15: half old */
        {5000, 40000, 9000, 1016, 0x10, NULL},        /* ACK with an old seq */
        {40000, 5000, 1016, 9001, 0x18, "fghij"},      /* 16..20: new */
    };
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    struct sockaddr_in *in = (struct sockaddr_in *)&ss;
    in->sin_family = AF_INET;
    in->sin_port = htons(5000);
    in->sin_addr.s_addr = htonl(0x7f000002);
    demo_conn_set_server(c, &ss);
    int n = 0;
    for (size_t i = 0; i < sizeof pk / sizeof pk[0]; i++) {
        uint8_t p[256];
        size_t len = build_v4(p, pk[i].sp, pk[i].dp, pk[i].seq, pk[i].ack, pk[i].fl, pk[i].data);
        if (pk[i].sp == 5000) {   /* from the server: swap the addresses */
            p[15] = 2;
            p[19] = 1;
        }
        cr_assert_eq(demo_parse_packet(p, len, &segs[n]), 1);
        cr_assert_eq(demo_conn_segment(c, &segs[n]), 1, "packet %zu not of the connection", i);
        segs[n].t = 0.001 * (double)i;
        n++;
    }
    return n;
}

static int count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

/* The line of text holding needle, copied into buf. */
static const char *line_with(const char *text, const char *needle, char *buf, size_t len)
{
    const char *p = strstr(text, needle);
    if (!p)
        return "";
    const char *b = p, *e = strchr(p, '\n');
    while (b > text && b[-1] != '\n')
        b--;
    snprintf(buf, len, "%.*s", (int)((e ? e : p + strlen(p)) - b), b);
    return buf;
}

static void check_retransmissions_drawn(int spanish, const char *word)
{
    static struct demo_step step;
    struct demo_conn conn;
    memset(&conn, 0, sizeof conn);
    memset(&step, 0, sizeof step);
    step.nsegs = feed(&conn, step.segs);
    cr_assert_eq(step.segs[0].seq, 0, "SYN not at relative 0");
    cr_assert(!step.segs[3].retrans, "the first data segment marked as retransmission");
    cr_assert(step.segs[4].retrans, "the same range sent again not marked");
    cr_assert(step.segs[5].retrans, "a segment starting in sent data not marked");
    cr_assert(!step.segs[6].retrans, "a bare ACK with an old number marked");
    cr_assert(!step.segs[7].retrans, "new data after the retransmissions marked");

    demo_text_set_spanish(spanish);
    snprintf(step.label, sizeof step.label, "5a");
    step.title = "t";
    struct demo_run run = {.capture_ok = 1, .steps = &step, .nsteps = 1, .lang_es = spanish};
    snprintf(run.ifname, sizeof run.ifname, "lo");
    snprintf(run.host[0], sizeof run.host[0], "127.0.0.1");
    snprintf(run.host[1], sizeof run.host[1], "127.0.0.2");
    char *text = NULL, *svg = NULL, line[512];
    size_t tl = 0, sl = 0;
    FILE *f = open_memstream(&text, &tl);
    cr_assert_not_null(f);
    struct demo_render *r = demo_render_new(f, &run);
    demo_render_step(r, &step);
    cr_assert_eq(demo_render_error(r), 0);
    demo_render_free(r);
    fclose(f);
    cr_assert_eq(count(text, word), 2, "not 2 segments labelled '%s':\n%s", word, text);
    cr_assert(strstr(line_with(text, "seq 1 ack 1 \"01234567", line, sizeof line), word) == NULL,
              "the original segment labelled: %s", line);

    f = open_memstream(&svg, &sl);
    cr_assert_not_null(f);
    cr_assert_eq(demo_svg_write(f, &run), 0);
    fclose(f);
    cr_assert_eq(count(svg, word), 2, "not 2 SVG arrows labelled '%s'", word);
    cr_assert_not_null(strstr(line_with(svg, "seq 6 ack 1 len 10", line, sizeof line), word),
                       "the overlapping segment's arrow not labelled: %s", line);
    free(text);
    free(svg);
}

Test(demo, retransmissions_are_labelled)
{
    setenv("LC_ALL", "C.UTF-8", 1);
    check_retransmissions_drawn(0, "retransmission");
    check_retransmissions_drawn(1, "retransmisi\xc3\xb3n");
}

/* ------------------------------------------------------------ the layout */

/* Characters (code points) of the UTF-8 text s[0..n). */
static int chars(const char *s, size_t n)
{
    int w = 0;
    for (size_t i = 0; i < n; i++)
        w += ((unsigned char)s[i] & 0xc0) != 0x80;
    return w;
}

/* Append src to dst (size len), every run of spaces and newlines made one
 * space. */
static void append_collapsed(char *dst, size_t len, const char *src, size_t n)
{
    size_t k = strlen(dst);
    for (size_t i = 0; i < n && k + 2 < len; i++) {
        int sp = src[i] == ' ' || src[i] == '\n';
        if (sp && (k == 0 || dst[k - 1] == ' '))
            continue;
        dst[k++] = sp ? ' ' : src[i];
    }
    dst[k] = '\0';
}

/* Split the drawing into what was written across the whole width and what
 * was written in each column, each with its lines joined: a sentence that
 * was wrapped at word boundaries reads whole again, one with a word cut in
 * two does not. */
static void collapse(const char *out, char *full, char *left, char *right, size_t len)
{
    full[0] = left[0] = right[0] = '\0';
    for (const char *line = out; *line;) {
        const char *end = strchr(line, '\n');
        size_t n = end ? (size_t)(end - line) : strlen(line);
        const char *sep = NULL;
        for (const char *p = line; p + 5 <= line + n && !sep; p++)
            if (!strncmp(p, " \xe2\x94\x82", 4))
                sep = p;
        if (sep) {
            append_collapsed(left, len, line, (size_t)(sep - line));
            append_collapsed(left, len, " ", 1);
            append_collapsed(right, len, sep + 4, n - (size_t)(sep + 4 - line));
            append_collapsed(right, len, " ", 1);
        } else {
            append_collapsed(full, len, line, n);
            append_collapsed(full, len, " ", 1);
        }
        line = end ? end + 1 : line + n;
    }
}

static void check_fits(int cols, const char *lang, const char *mode)
{
    char env[16];
    snprintf(env, sizeof env, "%d", cols);
    setenv("COLUMNS", env, 1);
    setenv("LC_ALL", "C.UTF-8", 1);
    char *out = NULL, *err = NULL;
    int st = demo(&out, &err, "--lang", lang, mode);
    cr_assert_eq(st, 0, "sock demo exited %d: %s", st, err);
    int lineno = 1;
    for (const char *line = out; *line; lineno++) {
        const char *end = strchr(line, '\n');
        size_t n = end ? (size_t)(end - line) : strlen(line);
        cr_assert(chars(line, n) <= cols, "COLUMNS=%d --lang %s: line %d has %d characters:\n%.*s",
                  cols, lang, lineno, chars(line, n), (int)n, line);
        line = end ? end + 1 : line + n;
    }
    static char full[1 << 16], left[1 << 16], right[1 << 16];
    collapse(out, full, left, right, sizeof full);
    demo_text_set_spanish(!strcmp(lang, "es"));
    /* Every explanation and the socket lines, whole; in two columns the
     * client's "no descriptor yet" is in the left one. */
    enum demo_text notes[] = {T_SUBTITLE, T_S1_NOTE, T_S3_NOTE, T_S4A_NOTE, T_S4B_NOTE};
    for (size_t i = 0; i < sizeof notes / sizeof notes[0]; i++)
        cr_assert_not_null(strstr(full, demo_text(notes[i])),
                           "COLUMNS=%d --lang %s: '%s' is not whole in:\n%s", cols, lang,
                           demo_text(notes[i]), out);
    const char *cells = cols >= 72 ? left : full;
    cr_assert_not_null(strstr(cells, demo_text(T_NO_FD_YET)), "COLUMNS=%d: '%s' cut in:\n%s",
                       cols, demo_text(T_NO_FD_YET), out);
    if (mode && !strcmp(mode, "--abort"))
        cr_assert_not_null(strstr(cells, "ECONNRESET (Connection reset by peer)"),
                           "COLUMNS=%d: the reset's message cut in:\n%s", cols, out);
    free(out);
    free(err);
}

Test(demo, fits_60_columns, .timeout = 90)
{
    check_fits(60, "es", NULL);
    check_fits(60, "en", "--abort");
}

Test(demo, fits_80_columns, .timeout = 90)
{
    check_fits(80, "es", "--abort");
    check_fits(80, "en", NULL);
}

Test(demo, fits_120_columns, .timeout = 90)
{
    check_fits(120, "es", NULL);
    check_fits(120, "en", "--abort");
}

/* ----------------------------------------------------- locale and output */

Test(demo, utf8_from_the_locale_name_when_the_locale_is_missing, .timeout = 90)
{
    /* This machine has no es_ES locale (`locale -a`): setlocale fails, yet
     * a terminal set to es_ES.UTF-8 shows UTF-8. */
    setenv("LANG", "es_ES.UTF-8", 1);
    unsetenv("LC_ALL");
    unsetenv("LC_CTYPE");
    unsetenv("LC_MESSAGES");
    char *out = NULL, *err = NULL;
    cr_assert_eq(demo(&out, &err, NULL, NULL, NULL), 0, "stderr: %s", err);
    cr_assert_not_null(strstr(out, "conexi\xc3\xb3n"), "accents dropped:\n%s", out);
    cr_assert_not_null(strstr(out, "\xe2\x94\x82"), "no box drawing:\n%s", out);
    free(out);
    free(err);
    /* A name without UTF-8 stays ASCII. */
    setenv("LANG", "es_ES.ISO-8859-1", 1);
    cr_assert_eq(demo(&out, &err, NULL, NULL, NULL), 0, "stderr: %s", err);
    cr_assert_not_null(strstr(out, "conexion"), "not ASCII with ISO-8859-1:\n%s", out);
    free(out);
    free(err);
}

Test(demo, svg_dash_is_standard_output, .timeout = 90)
{
    char dir[] = "/tmp/sock-demo-dash-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char old[4096];
    cr_assert_not_null(getcwd(old, sizeof old));
    cr_assert_eq(chdir(dir), 0);
    char *out = NULL, *err = NULL;
    int st = demo(&out, &err, "--svg", "-", "--lang=en");
    struct stat sb;
    int dash = stat("-", &sb) == 0;
    unlink("-");
    cr_expect_eq(chdir(old), 0);
    rmdir(dir);
    cr_assert_eq(st, 0, "exit %d: %s", st, err);
    cr_assert(!dash, "a file named '-' was written");
    cr_assert_eq(strncmp(out, "<?xml", 5), 0, "stdout is not the SVG:\n%.200s", out);
    size_t n = strlen(out);
    cr_assert(n > 7 && !strcmp(out + n - 7, "</svg>\n"), "stdout is not just the SVG");
    cr_assert_not_null(strstr(err, "step 4a"), "the steps are not on stderr:\n%s", err);
    free(out);
    free(err);
}

/* Run `sock demo ARGS` with stdout on /dev/full; returns the status. */
static int demo_to_full(char **err, const char *args)
{
    char script[256];
    snprintf(script, sizeof script, "exec \"$0\" demo --lang en %s > /dev/full", args);
    char *argv[] = {"sh", "-c", script, (char *)sock_bin(), NULL};
    size_t n;
    return proc_run(argv, NULL, 0, NULL, &n, err, RUN_MS);
}

Test(demo, failed_writes_exit_1, .timeout = 90)
{
    char *err = NULL;
    int st = demo_to_full(&err, "");
    cr_assert_eq(st, 1, "sock demo > /dev/full exited %d", st);
    cr_assert_not_null(strstr(err, "sock demo: write to standard output: No space left on device"),
                       "stderr: %s", err);
    free(err);

    char *out = NULL;
    st = demo(&out, &err, "--svg", "/dev/full", NULL);
    cr_assert_eq(st, 1, "--svg /dev/full exited %d", st);
    cr_assert_not_null(strstr(err, "--svg: write to '/dev/full': No space left on device"),
                       "stderr: %s", err);
    free(out);
    free(err);

    st = demo_to_full(&err, "--svg -");
    cr_assert_eq(st, 1, "--svg - > /dev/full exited %d", st);
    cr_assert_not_null(strstr(err, "--svg: write to standard output: No space left on device"),
                       "stderr: %s", err);
    free(err);
}

/* ----------------------------------------------------------------- texts */

/* The output with its lines joined (sentences are wrapped), replacing out. */
static char *flat(char *out)
{
    size_t n = strlen(out) + 1;
    char *f = malloc(n);
    cr_assert_not_null(f);
    f[0] = '\0';
    append_collapsed(f, n, out, n - 1);
    free(out);
    return f;
}

Test(demo, texts_fit_the_mode, .timeout = 90)
{
    /* Loopback: the server's port came from port "0", it is not "fixed". */
    char *out = NULL, *err = NULL;
    cr_assert_eq(demo(&out, &err, "--lang", "en", NULL), 0, "stderr: %s", err);
    out = flat(out);
    cr_assert_null(strstr(out, "Only the server has a fixed"), "loopback calls port 0 fixed:\n%s", out);
    cr_assert_not_null(strstr(out, "for port \"0\""), "the server's port 0 is not explained");
    free(out);
    free(err);
    if (!is_root() || !have_command("ip"))
        cr_skip_test("--netns needs root and the ip command");
    char *argv[] = {(char *)sock_bin(), "demo", "--netns", "--lang", "en", NULL};
    size_t n;
    cr_assert_eq(proc_run(argv, NULL, 0, &out, &n, &err, RUN_MS), 0, "stderr: %s", err);
    out = flat(out);
    cr_assert_null(strstr(out, "Port \"0\""), "--netns explains port 0:\n%s", out);
    cr_assert_not_null(strstr(out, "The server binds 10.2.2.2 port 80"));
    cr_assert_not_null(strstr(out, "ip netns exec"), "step 7 sends ss to the wrong namespace");
    free(out);
    free(err);
}

Test(demo, spanish_wording, .timeout = 90)
{
    setenv("LC_ALL", "C.UTF-8", 1);
    char *out = NULL, *err = NULL;
    cr_assert_eq(demo(&out, &err, "--lang", "es", "--abort"), 0, "stderr: %s", err);
    out = flat(out);
    cr_assert_null(strstr(out, "reinici"), "'reinició' (restarted) for a reset:\n%s", out);
    cr_assert_not_null(strstr(out, "abort\xc3\xb3 la conexi\xc3\xb3n"), "no 'abortó la conexión'");
    cr_assert_not_null(strstr(out, "descarta la parte"), "'descarta' without its object");
    free(out);
    free(err);
    cr_assert_eq(demo(&out, &err, "--lang", "es", NULL), 0, "stderr: %s", err);
    out = flat(out);
    cr_assert_not_null(strstr(out, "saludo de tres v\xc3\xad" "as"), "no 'saludo de tres vías'");
    cr_assert_null(strstr(out, "en tres pasos"), "'saludo en tres pasos' left");
    cr_assert_not_null(strstr(out, "por s\xc3\xad solo"), "the kernel does not complete it 'por sí solo'");
    cr_assert_null(strstr(out, "Listo:"), "'Listo:' left");
    free(out);
    free(err);
}
