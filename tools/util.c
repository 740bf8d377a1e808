/*
 * util.c - helpers shared by the subcommands; see util.h.
 */
#include "util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netdb.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------- messages */

/* A progress line is on the screen without its newline. */
static volatile sig_atomic_t line_open;

void tool_err(const char *cmd, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    /* Input reaches messages also through the library's error text
     * ("cannot resolve host ..."): a control character there must not
     * break the line or the terminal. */
    char safe[sizeof line * 4];
    size_t o = 0;
    for (const unsigned char *c = (const unsigned char *)line; *c && o + 5 < sizeof safe; c++) {
        if (*c < 0x20 || *c == 0x7f)
            o += *c == '\n' ? (size_t)snprintf(safe + o, 5, "\\n")
                             : (size_t)snprintf(safe + o, 5, "\\x%02x", *c);
        else
            safe[o++] = (char)*c;
    }
    safe[o] = '\0';
    tool_line_end();
    if (cmd)
        fprintf(stderr, "sock %s: %s\n", cmd, safe);
    else
        fprintf(stderr, "sock: %s\n", safe);
}

/* "see 'sock CMD --help'", or for the global options "see 'sock --help'". */
static const char *hint(const char *cmd)
{
    static char buf[64];
    snprintf(buf, sizeof buf, "see 'sock %s%s--help'", cmd ? cmd : "", cmd ? " " : "");
    return buf;
}

const char *tool_quote(const char *text)
{
    /* Each source character takes at most 4 ("\xNN"), plus quotes, "..."
     * and the NUL. */
    static char bufs[4][TOOL_QUOTE_CHARS * 4 + 8];
    static unsigned next;
    char *out = bufs[next++ % 4];
    size_t o = 0, i = 0;
    out[o++] = '\'';
    for (; text[i] && i < TOOL_QUOTE_CHARS; i++) {
        unsigned char c = (unsigned char)text[i];
        const char *esc = c == '\n' ? "\\n" : c == '\r' ? "\\r" : c == '\t' ? "\\t"
                        : c == '\\' ? "\\\\" : NULL;
        if (esc) {
            memcpy(out + o, esc, 2);
            o += 2;
        } else if (c < 0x20 || c >= 0x7f) {
            o += (size_t)snprintf(out + o, 5, "\\x%02x", c);
        } else {
            out[o++] = (char)c;
        }
    }
    if (text[i]) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o++] = '\'';
    out[o] = '\0';
    return out;
}

/* ---------------------------------------------------------------- numbers */

static int number_error(const char *cmd, const char *name, const char *text, const char *unit,
                        const char *range)
{
    tool_err(cmd, "%s %s: a number of %s from %s", name, tool_quote(text), unit, range);
    return EXIT_USAGE;
}

int tool_parse_number(const char *cmd, const char *name, const char *text, long min, long max,
                      const char *unit, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    /* strtol takes leading blanks and a '+'; a person's number has neither. */
    if (!(*text >= '0' && *text <= '9') && *text != '-')
        end = (char *)text;
    if (end == text || *end || errno || v < min || v > max) {
        char range[64];
        snprintf(range, sizeof range, "%ld to %ld", min, max);
        return number_error(cmd, name, text, unit, range);
    }
    *out = v;
    return 0;
}

int tool_parse_decimal(const char *cmd, const char *name, const char *text, double min,
                       double max, const char *unit, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    if (!(*text >= '0' && *text <= '9') && *text != '-' && *text != '.')
        end = (char *)text;
    if (end == text || *end || errno || !isfinite(v) || !(v >= min && v <= max)) {
        char range[64];
        snprintf(range, sizeof range, "%g to %g", min, max);
        return number_error(cmd, name, text, unit, range);
    }
    *out = v;
    return 0;
}

/* ---------------------------------------------------------------- options */

static int is_negative_number(const char *arg)
{
    return arg[0] == '-' && arg[1] && strspn(arg + 1, "0123456789") == strlen(arg + 1);
}

/* The long options that start with the name written (before any '='). */
static int long_matches(const struct option *longopts, const char *name, size_t len, char *list,
                        size_t listlen)
{
    int n = 0;
    size_t used = 0;
    list[0] = '\0';
    for (const struct option *lo = longopts; lo && lo->name; lo++) {
        if (strncmp(lo->name, name, len) != 0)
            continue;
        if (strlen(lo->name) == len)
            return 1; /* an exact match is never ambiguous */
        int k = snprintf(list + used, listlen - used, "%s--%s", n ? ", " : "", lo->name);
        if (k > 0 && (size_t)k < listlen - used)
            used += (size_t)k;
        n++;
    }
    return n;
}

/* A bad long option: word is what was written ("--tim", "--trace=1"). */
static void bad_long(const char *cmd, const char *word, int ch, const struct option *longopts)
{
    const char *name = word + 2;
    size_t len = strcspn(name, "=");
    char written[TOOL_QUOTE_CHARS + 8], list[256];
    snprintf(written, sizeof written, "--%.*s", (int)(len < TOOL_QUOTE_CHARS ? len : TOOL_QUOTE_CHARS), name);
    if (len > TOOL_QUOTE_CHARS)
        strcat(written, "...");
    int n = long_matches(longopts, name, len, list, sizeof list);
    if (ch == ':')
        tool_err(cmd, "option '%s' needs a value (%s)", written, hint(cmd));
    else if (n > 1)
        tool_err(cmd, "option '%s' is ambiguous: %s (%s)", written, list, hint(cmd));
    else if (n == 1 && name[len] == '=')
        tool_err(cmd, "option '%s' takes no value (%s)", written, hint(cmd));
    else
        tool_err(cmd, "unknown option %s (%s)", tool_quote(word), hint(cmd));
}

/* A bad short option: letter in word ("-k" or a combination like "-kx"). */
static void bad_short(const char *cmd, const char *word, int ch, int letter)
{
    char in[TOOL_QUOTE_CHARS * 4 + 16] = "";
    if (strlen(word) > 2)
        snprintf(in, sizeof in, " in %s", tool_quote(word));
    if (ch == ':')
        tool_err(cmd, "option '-%c'%s needs a value (%s)", letter, in, hint(cmd));
    else if (letter == '4' || letter == '6' || letter == 'n')
        tool_err(cmd, "option '-%c'%s: a global option is a word of its own ('-%c')", letter,
                 in, letter);
    else if (letter > 0x20 && letter < 0x7f)
        tool_err(cmd, "unknown option '-%c'%s (%s)", letter, in, hint(cmd));
    else
        tool_err(cmd, "unknown option '-\\x%02x'%s (%s)", letter & 0xff, in, hint(cmd));
}

int tool_getopt(const char *cmd, int argc, char **argv, const char *shortopts,
                const struct option *longopts)
{
    char spec[64];
    snprintf(spec, sizeof spec, "+:%s", shortopts);
    /* getopt stays on a word while it takes the letters of a combination
     * ("-kq"), and moves past it after the last: the word being read is
     * the one optind names before the call (optind 0 is a fresh start). */
    int at = optind > 0 ? optind : 1;
    opterr = 0;
    int ch = getopt_long(argc, argv, spec, longopts, NULL);
    if (ch != '?' && ch != ':')
        return ch;
    const char *word = at < argc ? argv[at] : "";
    if (is_negative_number(word))
        tool_err(cmd, "invalid port %s: a number from 0 to 65535 or a service name",
                 tool_quote(word));
    else if (word[0] == '-' && word[1] == '-')
        bad_long(cmd, word, ch, longopts);
    else
        bad_short(cmd, word, ch, optopt);
    return '?';
}

/* ---------------------------------------------------------- HOST and PORT */

/* A port is a number 0..65535 or a service name (a letter first, then
 * letters, digits, '-' or '_').  Anything starting with a digit or a sign
 * must be a number in range: "99999" and "-1" are mistakes, not names. */
static int valid_port(const char *p)
{
    if (!*p)
        return 0;
    if ((*p >= '0' && *p <= '9') || *p == '-' || *p == '+') {
        char *end;
        errno = 0;
        long v = strtol(p, &end, 10);
        return *p != '-' && *p != '+' && *end == '\0' && errno == 0 && v >= 0 && v <= 65535;
    }
    for (const char *q = p; *q; q++)
        if (!(*q >= 'a' && *q <= 'z') && !(*q >= 'A' && *q <= 'Z') && !(*q >= '0' && *q <= '9') &&
            *q != '-' && *q != '_')
            return 0;
    return 1;
}

static int copy_part(const char *cmd, const char *what, const char *text, char *dst, size_t cap)
{
    if (strlen(text) >= cap) {
        tool_err(cmd, "%s %s is too long (%zu characters at most)", what, tool_quote(text), cap - 1);
        return EXIT_USAGE;
    }
    strcpy(dst, text);
    return 0;
}

/* HOST:PORT or [IPv6]:PORT in one argument. */
static int split_one(const char *cmd, const char *arg, char *host, size_t hostlen, char *port,
                     size_t portlen)
{
    if (strncmp(arg, "[]", 2) == 0) {
        tool_err(cmd, "empty brackets in %s: write [IPv6]:PORT (e.g. [::1]:8080)", tool_quote(arg));
        return EXIT_USAGE;
    }
    /* The library says only -EINVAL for a part that does not fit. */
    if (strlen(arg) >= hostlen) {
        tool_err(cmd, "address %s is too long (%zu characters at most)", tool_quote(arg),
                 hostlen - 1);
        return EXIT_USAGE;
    }
    if (sock_split_hostport(arg, host, hostlen, port, portlen) < 0) {
        tool_err(cmd,
                 "invalid address %s: write HOST PORT, HOST:PORT or [IPv6]:PORT (e.g. [::1]:8080)",
                 tool_quote(arg));
        return EXIT_USAGE;
    }
    if (!*port) {
        tool_err(cmd, "missing PORT after the ':' in %s", tool_quote(arg));
        return EXIT_USAGE;
    }
    return 0;
}

/* The HOST of the two-argument form is a bare name or address: "::1" is
 * one, but "[::1]" or "h:80" followed by a PORT are a mix of both forms. */
static int bare_host(const char *cmd, const char *h, const char *next)
{
    const char *colon = strchr(h, ':');
    if (colon && !strchr(colon + 1, ':') && valid_port(colon + 1)) {
        tool_err(cmd, "unexpected argument %s after %s (%s)", tool_quote(next),
                 tool_quote(h), hint(cmd));
        return EXIT_USAGE;
    }
    if (h[0] == '[' || (colon && !strchr(colon + 1, ':'))) {
        tool_err(cmd,
                 "invalid HOST %s before a PORT: write HOST PORT, HOST:PORT or [IPv6]:PORT",
                 tool_quote(h));
        return EXIT_USAGE;
    }
    return 0;
}

int tool_host_port(const char *cmd, int argc, char **argv, int need_host, char *host,
                   size_t hostlen, char *port, size_t portlen)
{
    int rc;
    if (argc == 0) {
        tool_err(cmd, "missing %s (%s)", need_host ? "HOST and PORT" : "PORT", hint(cmd));
        return EXIT_USAGE;
    }
    if (argc > 2) {
        tool_err(cmd, "unexpected argument %s (%s)", tool_quote(argv[2]), hint(cmd));
        return EXIT_USAGE;
    }
    if (argc == 2) {
        if ((rc = bare_host(cmd, argv[0], argv[1])) != 0 ||
            (rc = copy_part(cmd, "HOST", argv[0], host, hostlen)) != 0 ||
            (rc = copy_part(cmd, "PORT", argv[1], port, portlen)) != 0)
            return rc;
        if (!*port) {
            tool_err(cmd, "missing PORT: the PORT after %s is empty", tool_quote(host));
            return EXIT_USAGE;
        }
    } else if (strchr(argv[0], ':') || argv[0][0] == '[') {
        if ((rc = split_one(cmd, argv[0], host, hostlen, port, portlen)) != 0)
            return rc;
    } else if (!need_host) {
        host[0] = '\0';
        if ((rc = copy_part(cmd, "PORT", argv[0], port, portlen)) != 0)
            return rc;
    } else {
        tool_err(cmd, "missing PORT after %s (write HOST PORT or HOST:PORT)", tool_quote(argv[0]));
        return EXIT_USAGE;
    }
    if (need_host && !*host) {
        tool_err(cmd, "missing HOST in %s", tool_quote(argv[0]));
        return EXIT_USAGE;
    }
    if (!valid_port(port)) {
        tool_err(cmd, "invalid port %s: a number from 0 to 65535 or a service name",
                 tool_quote(port));
        return EXIT_USAGE;
    }
    return 0;
}

int tool_check_service(const char *cmd, const char *port)
{
    if (*port >= '0' && *port <= '9')
        return 0; /* tool_host_port() checked the range */
    if (getservbyname(port, "tcp"))
        return 0;
    tool_err(cmd, "unknown service %s: not a TCP service of this system (/etc/services); give "
                  "a port number",
             tool_quote(port));
    return EXIT_USAGE;
}

int tool_parse_port(const char *cmd, const char *name, const char *text, char *buf, size_t len)
{
    if (!valid_port(text)) {
        tool_err(cmd, "%s %s: a port number from 0 to 65535 or a service name", name,
                 tool_quote(text));
        return EXIT_USAGE;
    }
    return copy_part(cmd, name, text, buf, len);
}

int tool_parse_host(const char *cmd, const char *name, const char *text, char *buf, size_t len)
{
    size_t n = strlen(text);
    if (n >= 2 && text[0] == '[' && text[n - 1] == ']') {
        text++;
        n -= 2;
    }
    if (n == 0) {
        tool_err(cmd, "%s needs an address (it is empty)", name);
        return EXIT_USAGE;
    }
    if (strncmp(text, "unix:", 5) == 0 || memchr(text, '[', n) || memchr(text, ']', n)) {
        tool_err(cmd, "%s %s: an IP address or a host name (e.g. 127.0.0.1, ::1)", name,
                 tool_quote(text));
        return EXIT_USAGE;
    }
    if (n >= len) {
        tool_err(cmd, "%s %s is too long (%zu characters at most)", name, tool_quote(text),
                 len - 1);
        return EXIT_USAGE;
    }
    memcpy(buf, text, n);
    buf[n] = '\0';
    return 0;
}

int tool_unix_host(const char *cmd, const struct cli_opts *o, const char *path, char *host,
                   size_t hostlen)
{
    size_t n = strlen(path);
    if (n == 0 || strcmp(path, "@") == 0) {
        tool_err(cmd, "-U needs a PATH (a file, or @NAME for the abstract namespace)");
        return EXIT_USAGE;
    }
    /* The library would refuse it too; saying so here names the option. */
    if (n > CLI_UNIX_PATH_MAX) {
        tool_err(cmd, "-U path %s is too long: %zu bytes, a Unix socket takes %d at most",
                 tool_quote(path), n, CLI_UNIX_PATH_MAX);
        return EXIT_USAGE;
    }
    if (o->family != AF_UNSPEC) {
        tool_err(cmd, "-U names a Unix socket: -%c does not apply to it",
                 o->family == AF_INET ? '4' : '6');
        return EXIT_USAGE;
    }
    if (strlen("unix:") + n >= hostlen) {
        tool_err(cmd, "-U path %s is too long", tool_quote(path));
        return EXIT_USAGE;
    }
    snprintf(host, hostlen, "unix:%s", path);
    return 0;
}

/* A literal IPv4 or IPv6 address, the latter maybe with a %zone. */
static int is_numeric_host(const char *host)
{
    unsigned char bin[16];
    char v6[CLI_HOST_MAX];
    if (inet_pton(AF_INET, host, bin) == 1)
        return 1;
    size_t len = strcspn(host, "%");
    if (len >= sizeof v6)
        return 0;
    memcpy(v6, host, len);
    v6[len] = '\0';
    return inet_pton(AF_INET6, v6, bin) == 1;
}

int tool_check_numeric(const char *cmd, const struct cli_opts *o, const char *what,
                       const char *host, const char *port)
{
    /* connect, listen and echo name a Unix socket with -U only, so that
     * its path is never read as HOST PORT words. */
    if (host && strncmp(host, "unix:", 5) == 0) {
        tool_err(cmd, "%s %s names a Unix socket: write -U PATH", what, tool_quote(host));
        return EXIT_USAGE;
    }
    if (!o->numeric)
        return 0;
    if (host && *host && !is_numeric_host(host)) {
        tool_err(cmd, "-n: %s %s is not a numeric address (with -n no name is looked up)", what,
                 tool_quote(host));
        return EXIT_USAGE;
    }
    if (port && *port && !(*port >= '0' && *port <= '9')) {
        tool_err(cmd, "-n: port %s is not a number (with -n no service name is looked up)",
                 tool_quote(port));
        return EXIT_USAGE;
    }
    return 0;
}

/* ---------------------------------------------------------------- handles */

static int prepare(const char *cmd, const struct cli_opts *o, int timeout_ms, sock_t *s)
{
    sock_init(s);
    if ((o->family != AF_UNSPEC && sock_set_family(s, o->family) < 0) ||
        (o->numeric && sock_set_numeric_only(s, 1) < 0) ||
        (timeout_ms >= 0 && sock_set_timeout(s, timeout_ms) < 0)) {
        tool_err(cmd, "%s", sock_error(s));
        sock_close(s);
        return EXIT_USAGE;
    }
    return 0;
}

int tool_prepare(const char *cmd, const struct cli_opts *o, sock_t *s)
{
    return prepare(cmd, o, o->timeout_ms, s);
}

int tool_listen(const char *cmd, const struct cli_opts *o, const char *host, const char *port,
                int backlog, int bound_accept, sock_t *acep)
{
    int rc = prepare(cmd, o, bound_accept ? o->timeout_ms : -1, acep);
    if (rc)
        return rc;
    int code = sock_bind(acep, host[0] ? host : NULL, port);
    if (code == 0)
        code = sock_listen(acep, backlog);
    if (code < 0) {
        tool_err(cmd, "%s", sock_error(acep));
        sock_close(acep);
        return tool_status(code);
    }
    char addr[SOCK_ADDRSTRLEN];
    sock_local_addr(acep, addr, sizeof addr);
    tool_line_end();
    fprintf(stderr, "listening on %s\n", addr);
    fflush(stderr);
    return 0;
}

int tool_status(int code)
{
    return code == -EINVAL || code == -EAFNOSUPPORT ? EXIT_USAGE : EXIT_NET;
}

void tool_trace_on(void)
{
    sock_set_trace(sock_trace_to_stderr, NULL);
}

double tool_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---------------------------------------------------------- progress line */

void tool_line_draw(const char *text)
{
    if (isatty(STDERR_FILENO)) {
        /* In place: back to the start of the line, the text, and erase
         * what a longer earlier line left after it.  The line counts as
         * open before it is written: a Ctrl-C the moment it appears must
         * find it open and end it. */
        line_open = 1;
        fprintf(stderr, "\r%s\033[K", text);
    } else {
        fprintf(stderr, "%s\n", text);
    }
    fflush(stderr);
}

void tool_line_end(void)
{
    if (!line_open)
        return;
    line_open = 0;
    fputc('\n', stderr);
    fflush(stderr);
}

void tool_line_end_signal(void)
{
    if (!line_open)
        return;
    line_open = 0;
    ssize_t w = write(STDERR_FILENO, "\n", 1);
    (void)w;
}

/* ---------------------------------------------------------- standard output */

int tool_stdout_close(void)
{
    errno = 0;
    int failed = fflush(stdout) != 0 || ferror(stdout);
    int err = errno ? errno : EIO;
    if (!failed || err == EPIPE)
        return 0;
    tool_line_end();
    fprintf(stderr, "sock: cannot write standard output: %s\n", strerror(err));
    return EXIT_NET;
}

void tool_on_stop_signals(void (*handler)(int))
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = handler;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}
