/*
 * test_demo.c - `sock demo` shows what really happened on its connection:
 * the client's ephemeral port, the states on the right sides, the segments
 * (as root), the seed's topology with --netns (and no namespace left
 * behind), a valid SVG, Spanish, the RST of --abort, and one-line errors
 * for bad options.
 */
#include "harness.h"

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
}
