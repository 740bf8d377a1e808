/*
 * fuzz_cli.c - the option and number parsing of the `sock` tool: the
 * global options (tool_parse_globals), each command's parser
 * (cli_parse_connect, _listen, _echo, _relay, _resolve, demo_parse_opts) and the number
 * parsers every option goes through (tool_parse_number, _decimal).
 *
 * Input: words separated by '\n' (at most 64).  The first word picks the
 * parser:
 *   connect|listen|echo|relay|resolve|demo W...  that command's parser, with
 *                                                 the default global options
 *   number TEXT / decimal TEXT                    the number parsers, over a
 *                                                 few ranges
 *   anything else                                 a whole command line: "sock"
 *                                                 and the words, through
 *                                                 tool_parse_globals and then
 *                                                 the named command's parser
 *                                                 with the options it found
 *
 * Beyond "no crash", each call is checked against the promises of
 * tools/cli.h: 0 or EXIT_USAGE; nothing printed on 0 and one line on
 * EXIT_USAGE (control characters escaped); argv untouched; no descriptor
 * opened; no state kept (a second call gives the same answer, fields and
 * message); the parsed values within their documented ranges.  Standard
 * error is captured by pointing the stdio stream at a memory stream, so
 * sanitizer reports (written to descriptor 2) still show.
 */
#include "harness.h"

#include "cli.h"
#include "demo/demo.h"
#include "util.h"

#include <arpa/inet.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

enum { MAX_WORDS = 64 };

static const struct cli_opts default_opts = {
    .trace = 0, .timeout_ms = -1, .family = AF_UNSPEC, .progress = -1, .numeric = 0};

/* What one parse printed on stderr. */
struct said {
    char *text;
    size_t len;
};

static FILE *capture_begin(struct said *out)
{
    out->text = NULL;
    out->len = 0;
    FILE *mem = open_memstream(&out->text, &out->len);
    fuzz_check(mem != NULL, "open_memstream failed");
    FILE *saved = stderr;
    stderr = mem;
    return saved;
}

static void capture_end(FILE *saved)
{
    FILE *mem = stderr;
    stderr = saved;
    fclose(mem);
}

/* Nothing on success; one line, its control characters escaped, on
 * EXIT_USAGE. */
static void check_said(const char *what, int rc, const struct said *s)
{
    fuzz_check(rc == 0 || rc == EXIT_USAGE, "%s returned %d", what, rc);
    if (rc == 0) {
        fuzz_check(s->len == 0, "%s succeeded but printed \"%s\"", what, s->text);
        return;
    }
    fuzz_check(s->len > 1 && s->text[s->len - 1] == '\n', "%s failed with \"%s\" (not one line)",
               what, s->text);
    for (size_t i = 0; i + 1 < s->len; i++)
        fuzz_check((unsigned char)s->text[i] >= 32 && s->text[i] != 127,
                   "%s printed byte 0x%02x at %zu of \"%s\"", what, (unsigned char)s->text[i], i,
                   s->text);
    fuzz_check(strncmp(s->text, "sock", 4) == 0, "%s: message \"%s\" does not say who", what,
               s->text);
}

/* A parser that stores into a char array: terminated inside it. */
static void check_string(const char *what, const char *buf, size_t len, int nonempty)
{
    fuzz_check(memchr(buf, '\0', len) != NULL, "%s: string not terminated", what);
    fuzz_check(!nonempty || buf[0] != '\0', "%s: empty", what);
}

/* -U: the host is "unix:" and a non-empty path that fits sun_path, the
 * port empty, and no -4/-6; without -U no host is a Unix one. */
static void check_unix(const struct cli_opts *o, const char *what, int is_unix, const char *host,
                       const char *port)
{
    if (!is_unix) {
        fuzz_check(strncmp(host, "unix:", 5) != 0, "%s: host '%s' without -U", what, host);
        return;
    }
    size_t n = strlen(host);
    fuzz_check(strncmp(host, "unix:", 5) == 0 && n > 5 && n - 5 <= CLI_UNIX_PATH_MAX &&
                   strcmp(host, "unix:@") != 0,
               "%s -U: host '%s'", what, host);
    fuzz_check(port[0] == '\0', "%s -U: port '%s'", what, port);
    fuzz_check(o->family == AF_UNSPEC, "%s -U accepted with family %d", what, o->family);
}

/* With -n, what was accepted needs no name service: a literal address (or
 * none, or a Unix name) and a port number. */
static void check_numeric(const struct cli_opts *o, const char *what, const char *host,
                          const char *port)
{
    if (!o->numeric)
        return;
    unsigned char bin[16];
    char v6[CLI_HOST_MAX];
    snprintf(v6, sizeof v6, "%.*s", (int)strcspn(host, "%"), host);
    fuzz_check(!host[0] || strncmp(host, "unix:", 5) == 0 || inet_pton(AF_INET, host, bin) == 1 ||
                   inet_pton(AF_INET6, v6, bin) == 1,
               "%s -n: host '%s' accepted", what, host);
    fuzz_check(!port[0] || (port[0] >= '0' && port[0] <= '9'), "%s -n: port '%s' accepted",
               what, port);
}

/* A string the parser keeps a pointer to: one of argv's words, whole. */
static void check_in_argv(const char *what, const char *p, int argc, char **argv)
{
    if (!p)
        return;
    int found = 0;
    for (int i = 0; i < argc; i++)
        found |= p >= argv[i] && p <= argv[i] + strlen(argv[i]);
    fuzz_check(found && *p, "%s does not point into argv (or is empty)", what);
}

/* The TLS options of one role: every value in argv, none without TLS on,
 * a server with its certificate and key, a client's certificate with its
 * key, never --insecure with --ca. */
static void check_tls(const char *what, const struct tool_tls *t, int argc, char **argv)
{
    check_in_argv(what, t->ca, argc, argv);
    check_in_argv(what, t->cert, argc, argv);
    check_in_argv(what, t->key, argc, argv);
    check_in_argv(what, t->servername, argc, argv);
    check_in_argv(what, t->alpn, argc, argv);
    fuzz_check(t->on || (!t->ca && !t->cert && !t->key && !t->servername && !t->alpn &&
                         !t->insecure),
               "%s: a TLS option accepted without TLS", what);
    fuzz_check(!t->on || !t->server || (t->cert && t->key), "%s: a server without its key",
               what);
    fuzz_check(!t->cert == !t->key, "%s: --cert without --key (or the other way)", what);
    fuzz_check(!(t->insecure && t->ca), "%s: --insecure with --ca accepted", what);
    fuzz_check(!t->cfg, "%s: the parser made a configuration", what);
}

/* One parse of argv by the parser of cmd (or the globals when cmd is
 * NULL), its fields reduced to text so that two calls can be compared. */
static int parse_once(const char *cmd, const struct cli_opts *o, int argc, char **argv,
                      char *fields, size_t flen, struct said *said)
{
    int rc = EXIT_USAGE;
    FILE *saved = capture_begin(said);
    if (strcmp(cmd, "connect") == 0) {
        struct connect_args a;
        rc = cli_parse_connect(o, argc, argv, &a);
        capture_end(saved);
        if (rc == 0 && !a.help) {
            check_string("connect host", a.host, sizeof a.host, 1);
            /* -U: "unix:PATH" and no port; otherwise a port always. */
            check_string("connect port", a.port, sizeof a.port, !a.is_unix);
            check_string("connect -s", a.src_host, sizeof a.src_host, 0);
            check_string("connect -p", a.src_port, sizeof a.src_port, 0);
            check_unix(o, "connect", a.is_unix, a.host, a.port);
            fuzz_check(!a.is_unix || (!a.src_host[0] && !a.src_port[0]),
                       "connect -U with -s/-p accepted");
            check_numeric(o, "connect", a.host, a.port);
            check_numeric(o, "connect -s", a.src_host, a.src_port);
            check_in_argv("connect --exec", a.exec, argc, argv);
            check_tls("connect", &a.tls, argc, argv);
            fuzz_check(!(a.exec && a.tls.on), "connect --exec with --tls accepted");
        }
        if (rc == 0)
            snprintf(fields, flen, "%d|%d|%d|%s|%s|%s|%s|%s", a.help, a.help ? 0 : a.verbose,
                     a.help ? 0 : a.is_unix, a.help || !a.exec ? "" : a.exec,
                     a.help ? "" : a.host, a.help ? "" : a.port, a.help ? "" : a.src_host,
                     a.help ? "" : a.src_port);
    } else if (strcmp(cmd, "listen") == 0) {
        struct listen_args a;
        rc = cli_parse_listen(o, argc, argv, &a);
        capture_end(saved);
        if (rc == 0 && !a.help) {
            check_string("listen host", a.host, sizeof a.host, 0);
            check_string("listen port", a.port, sizeof a.port, !a.is_unix);
            fuzz_check(a.keep == 0 || a.keep == 1, "listen keep %d", a.keep);
            check_unix(o, "listen", a.is_unix, a.host, a.port);
            check_numeric(o, "listen", a.host, a.port);
            check_in_argv("listen --exec", a.exec, argc, argv);
            check_tls("listen", &a.tls, argc, argv);
            fuzz_check(!(a.exec && a.tls.on), "listen --exec with --tls accepted");
        }
        if (rc == 0)
            snprintf(fields, flen, "%d|%d|%d|%d|%s|%s|%s", a.help, a.help ? 0 : a.keep,
                     a.help ? 0 : a.verbose, a.help ? 0 : a.is_unix,
                     a.help || !a.exec ? "" : a.exec, a.help ? "" : a.host,
                     a.help ? "" : a.port);
    } else if (strcmp(cmd, "echo") == 0) {
        struct echo_args a;
        rc = cli_parse_echo(o, argc, argv, &a);
        capture_end(saved);
        if (rc == 0 && !a.help) {
            check_string("echo host", a.host, sizeof a.host, 0);
            check_string("echo port", a.port, sizeof a.port, !a.is_unix);
            check_unix(o, "echo", a.is_unix, a.host, a.port);
            check_numeric(o, "echo", a.host, a.port);
            fuzz_check(a.idle_ms == -1 || a.idle_ms > 0, "echo idle %d", a.idle_ms);
            fuzz_check(a.backlog == -1 || (a.backlog >= 1 && a.backlog <= 65535),
                       "echo backlog %d", a.backlog);
        }
        if (rc == 0)
            snprintf(fields, flen, "%d|%d|%d|%d|%d|%s|%s", a.help, a.help ? 0 : a.idle_ms,
                     a.help ? 0 : a.backlog, a.help ? 0 : a.verbose, a.help ? 0 : a.is_unix,
                     a.help ? "" : a.host, a.help ? "" : a.port);
    } else if (strcmp(cmd, "relay") == 0) {
        struct relay_args a;
        rc = cli_parse_relay(o, argc, argv, &a);
        capture_end(saved);
        if (rc == 0 && !a.help) {
            check_string("relay listen host", a.lhost, sizeof a.lhost, 0);
            check_string("relay listen port", a.lport, sizeof a.lport, 1);
            check_string("relay target host", a.thost, sizeof a.thost, 1);
            check_string("relay target port", a.tport, sizeof a.tport, 1);
            fuzz_check(a.max_chunk >= 1 && a.max_chunk <= 65536, "relay chunk %ld",
                       a.max_chunk);
            fuzz_check(a.delay_ms >= 0 && a.delay_ms <= 60000, "relay delay %ld", a.delay_ms);
            check_tls("relay --tls-listen", &a.tls_in, argc, argv);
            check_tls("relay --tls-connect", &a.tls_out, argc, argv);
            fuzz_check(a.tls_in.server && !a.tls_out.server, "relay: the TLS roles swapped");
        }
        if (rc == 0)
            snprintf(fields, flen, "%d|%d|%d|%ld|%ld|%s|%s|%s|%s", a.help, a.help ? 0 : a.keep,
                     a.help ? 0 : a.quiet, a.help ? 0 : a.max_chunk, a.help ? 0 : a.delay_ms,
                     a.help ? "" : a.lhost, a.help ? "" : a.lport, a.help ? "" : a.thost,
                     a.help ? "" : a.tport);
    } else if (strcmp(cmd, "resolve") == 0) {
        struct resolve_args a;
        rc = cli_parse_resolve(o, argc, argv, &a);
        capture_end(saved);
        if (rc == 0 && !a.help) {
            fuzz_check(a.host && a.service, "resolve host %p service %p", (void *)a.host,
                       (void *)a.service);
            int in_argv = 0;
            for (int i = 0; i < argc; i++)
                in_argv |= a.host == argv[i];
            fuzz_check(in_argv, "resolve host does not point into argv");
        }
        if (rc == 0)
            snprintf(fields, flen, "%d|%d|%s|%s", a.help, a.help ? 0 : a.passive,
                     a.help ? "" : a.host, a.help ? "" : a.service);
    } else if (strcmp(cmd, "demo") == 0) {
        struct demo_opts a;
        rc = demo_parse_opts(o, argc, argv, &a);
        capture_end(saved);
        if (rc == 0 && !a.help) {
            fuzz_check(a.family == AF_INET || a.family == AF_INET6, "demo family %d", a.family);
            fuzz_check(!(a.netns && a.family == AF_INET6), "demo --netns with -6 accepted");
            fuzz_check(a.lang_es == 0 || a.lang_es == 1, "demo lang %d", a.lang_es);
            /* --svg FILE or --svg=FILE: inside one of argv's words. */
            int in_argv = !a.svg;
            for (int i = 0; i < argc; i++)
                in_argv |= a.svg >= argv[i] && a.svg <= argv[i] + strlen(argv[i]);
            fuzz_check(in_argv, "demo --svg does not point into argv");
        }
        if (rc == 0)
            snprintf(fields, flen, "%d|%d|%d|%d|%d|%d|%s", a.help, a.netns, a.step, a.abort_mode,
                     a.family, a.lang_es, a.svg ? a.svg : "");
    } else {
        capture_end(saved);
        fields[0] = '\0';
        return -1; /* not a command with a parser (bench, unknown) */
    }
    if (rc != 0)
        fields[0] = '\0';
    return rc;
}

/* Parse twice (no state kept: the same answer), with argv and the
 * descriptor table untouched. */
static void check_parser(const char *cmd, const struct cli_opts *o, int argc, char **argv)
{
    char *copy[MAX_WORDS + 2];
    for (int i = 0; i < argc; i++)
        copy[i] = strdup(argv[i]);
    char **ptrs = malloc(sizeof *ptrs * (size_t)(argc + 1));
    memcpy(ptrs, argv, sizeof *ptrs * (size_t)(argc + 1));
    int fd_before = fuzz_lowest_free_fd();

    char f1[1024], f2[1024], what[64];
    struct said s1, s2;
    snprintf(what, sizeof what, "cli_parse_%s", cmd);
    int rc1 = parse_once(cmd, o, argc, argv, f1, sizeof f1, &s1);
    if (rc1 != -1) {
        check_said(what, rc1, &s1);
        int rc2 = parse_once(cmd, o, argc, argv, f2, sizeof f2, &s2);
        fuzz_check(rc1 == rc2 && strcmp(f1, f2) == 0 && s1.len == s2.len &&
                       memcmp(s1.text, s2.text, s1.len) == 0,
                   "%s: a second call differs: %d \"%s\" \"%s\", then %d \"%s\" \"%s\"", what, rc1,
                   f1, s1.text, rc2, f2, s2.text);
        free(s2.text);
    }
    free(s1.text);

    fuzz_check(fuzz_lowest_free_fd() == fd_before, "%s opened a descriptor", what);
    for (int i = 0; i < argc; i++) {
        fuzz_check(argv[i] == ptrs[i] && strcmp(argv[i], copy[i]) == 0, "%s changed argv[%d]",
                   what, i);
        free(copy[i]);
    }
    fuzz_check(argv[argc] == NULL, "%s changed argv[argc]", what);
    free(ptrs);
}

/* The whole command line: globals, then the command's own parser. */
static void check_globals(int argc, char **argv)
{
    char **words = calloc((size_t)argc + 1, sizeof *words);
    struct cli_command_line cl;
    struct said s;
    int fd_before = fuzz_lowest_free_fd();
    FILE *saved = capture_begin(&s);
    int rc = tool_parse_globals(argc, argv, words, &cl);
    capture_end(saved);
    check_said("tool_parse_globals", rc, &s);
    free(s.text);
    fuzz_check(fuzz_lowest_free_fd() == fd_before, "tool_parse_globals opened a descriptor");
    if (rc == 0) {
        const struct cli_opts *o = &cl.opts;
        fuzz_check(o->timeout_ms == -1 || (o->timeout_ms >= 1 && o->timeout_ms <= CLI_TIMEOUT_MAX),
                   "timeout %d", o->timeout_ms);
        fuzz_check(o->family == AF_UNSPEC || o->family == AF_INET || o->family == AF_INET6,
                   "family %d", o->family);
        fuzz_check(o->progress >= -1 && o->progress <= 1, "progress %d", o->progress);
        fuzz_check(o->numeric == 0 || o->numeric == 1, "numeric %d", o->numeric);
        fuzz_check(cl.action == CLI_RUN || cl.action == CLI_HELP || cl.action == CLI_VERSION,
                   "action %d", cl.action);
        if (cl.action == CLI_RUN) {
            fuzz_check(cl.argc >= 1 && cl.argc < argc && cl.argv == words && !words[cl.argc],
                       "command words: %d of %d", cl.argc, argc);
            /* The command's words are argv's, in argv's order. */
            for (int i = 0, j = 1; i < cl.argc; i++, j++) {
                while (j < argc && argv[j] != words[i])
                    j++;
                fuzz_check(j < argc, "command word %d is not one of argv's, in order", i);
            }
            check_parser(words[0], o, cl.argc, words);
        }
    }
    free(words);
}

static void check_number(const char *text)
{
    static const long ranges[][2] = {
        {1, CLI_TIMEOUT_MAX}, {0, 65535}, {-10, 10}, {LONG_MIN, LONG_MAX}};
    for (size_t i = 0; i < sizeof ranges / sizeof ranges[0]; i++) {
        long min = ranges[i][0], max = ranges[i][1], v = 12345;
        struct said s;
        FILE *saved = capture_begin(&s);
        int rc = tool_parse_number("fuzz", "--n", text, min, max, "units", &v);
        capture_end(saved);
        check_said("tool_parse_number", rc, &s);
        free(s.text);
        if (rc == 0) {
            char *end;
            fuzz_check(v >= min && v <= max, "'%s' gave %ld outside %ld..%ld", text, v, min, max);
            fuzz_check(strtol(text, &end, 10) == v && *end == '\0' &&
                           (text[0] == '-' || (text[0] >= '0' && text[0] <= '9')),
                       "'%s' taken as %ld", text, v);
        }
        /* A plain decimal number in range is always taken. */
        size_t n = strlen(text);
        if (n >= 1 && n <= 15 && strspn(text, "0123456789") == n) {
            long want = strtol(text, NULL, 10);
            if (want >= min && want <= max)
                fuzz_check(rc == 0 && v == want, "'%s' refused in %ld..%ld", text, min, max);
        }
    }
}

static void check_decimal(const char *text)
{
    static const double ranges[][2] = {{0, 1}, {0.001, 3600}, {-1e6, 1e6}};
    for (size_t i = 0; i < sizeof ranges / sizeof ranges[0]; i++) {
        double min = ranges[i][0], max = ranges[i][1], v = 12345;
        struct said s;
        FILE *saved = capture_begin(&s);
        int rc = tool_parse_decimal("fuzz", "--d", text, min, max, "units", &v);
        capture_end(saved);
        check_said("tool_parse_decimal", rc, &s);
        free(s.text);
        if (rc == 0)
            fuzz_check(isfinite(v) && v >= min && v <= max, "'%s' gave %g outside %g..%g", text,
                       v, min, max);
        size_t n = strlen(text), dot = strcspn(text, ".");
        if (n >= 1 && n <= 12 && strspn(text, "0123456789.") == n && dot > 0 &&
            (dot == n || strchr(text + dot + 1, '.') == NULL) && text[n - 1] != '.') {
            double want = strtod(text, NULL);
            if (want >= min && want <= max)
                fuzz_check(rc == 0, "'%s' refused in %g..%g", text, min, max);
        }
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    /* The parsers promise to resolve nothing; should one ever do, the
     * names it resolves stay on this machine. */
    fuzz_enter_private_netns();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    memcpy(text, data, size);
    text[size] = '\0';
    /* argv[0] is "sock" for a whole command line; the words follow. */
    char *argv[MAX_WORDS + 2];
    int argc = 0;
    argv[argc++] = "sock";
    for (char *w = text, *nl; w && argc <= MAX_WORDS; w = nl ? nl + 1 : NULL) {
        nl = strchr(w, '\n');
        if (nl)
            *nl = '\0';
        argv[argc++] = w;
    }
    argv[argc] = NULL;

    const char *first = argv[1];
    if (strcmp(first, "number") == 0)
        check_number(argc > 2 ? argv[2] : "");
    else if (strcmp(first, "decimal") == 0)
        check_decimal(argc > 2 ? argv[2] : "");
    else if (strcmp(first, "connect") == 0 || strcmp(first, "listen") == 0 ||
             strcmp(first, "echo") == 0 || strcmp(first, "relay") == 0 ||
             strcmp(first, "resolve") == 0 || strcmp(first, "demo") == 0)
        check_parser(first, &default_opts, argc - 1, argv + 1);
    else
        check_globals(argc, argv);
    free(text);
    return 0;
}
