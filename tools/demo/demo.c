/*
 * tools/demo/demo.c - `sock demo`: the seed's slides, played on a real connection.
 *
 * The parent forks a client and a server worker, sends them the seed's
 * calls one step at a time, and after each step drains the packet capture
 * (what the step put on the wire) and asks both workers what the kernel
 * says about their sockets.  Then it draws the step.
 */
#include "../cli.h"
#include "../util.h"
#include "demo.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <net/if.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#define MAX_STEPS 16
/* No single call of a worker may take longer (each is bounded inside the
 * worker by a 5 s socket timeout). */
#define CALL_TIMEOUT_MS 15000
/* After a step: the wire counts as settled after this much silence... */
#define SETTLE_QUIET_MS 60
/* ...and we never wait longer than this for it. */
#define SETTLE_MAX_MS 400
#define ABORT_REPLY_BYTES (1L << 20)

static const char request[] = "GET /hola\n";
static const char extra_data[] = "and more\n";
static const char reply[] = "HOLA 200 ok\n";

struct ctx {
    struct demo_opts opt;
    struct demo_run run;
    struct demo_worker w[DEMO_SIDES];
    struct demo_capture *cap;
    struct demo_render *r;
    struct demo_step *cur;
    char srv_port[16];
    long long abort_sent;
    int failed;
};

/* ----------------------------------------------------------------- options */

static void usage(FILE *f)
{
    fputs("usage: sock demo [--netns] [--step] [--svg FILE] [--lang es|en] [--abort] [-4|-6]\n"
          "\n"
          "Play the slides' script (socket, bind, listen, connect, accept, send/recv,\n"
          "shutdown, close) between a client and a server, and after every step show\n"
          "each side's sockets with their TCP state read from the kernel, and the TCP\n"
          "segments the step put on the wire (captured live; needs CAP_NET_RAW).\n"
          "\n"
          "  --netns       the slides' topology: client 10.1.1.1 and server 10.2.2.2:80\n"
          "                in two network namespaces joined by a veth pair (needs root;\n"
          "                the namespaces are removed at the end, also on Ctrl-C)\n"
          "  --step        wait for Enter between steps\n"
          "  --svg FILE    also write the run as an SVG sequence diagram; FILE '-' is\n"
          "                standard output, and the steps are then drawn on standard error\n"
          "  --lang es|en  language (default: from LANG/LC_ALL, es_* is Spanish)\n"
          "  --abort       the server closes with unread data: RST, and the client\n"
          "                loses part of the reply\n"
          "  -4, -6        loopback over 127.0.0.1 (default) or ::1\n"
          "  -h, --help    this help\n",
          f);
}

int demo_parse_opts(const struct cli_opts *o, int argc, char **argv, struct demo_opts *opt)
{
    static const struct option longs[] = {
        {"netns", no_argument, NULL, 'n'}, {"step", no_argument, NULL, 's'},
        {"svg", required_argument, NULL, 'g'}, {"lang", required_argument, NULL, 'l'},
        {"abort", no_argument, NULL, 'a'}, {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    memset(opt, 0, sizeof *opt);
    opt->family = o && o->family == AF_INET6 ? AF_INET6 : AF_INET;
    opt->lang_es = demo_text_env_spanish();

    optind = 0; /* glibc: start afresh, main.c may have used getopt */
    int c;
    /* tool_getopt names a bad option exactly, as every command does. */
    while ((c = tool_getopt("demo", argc, argv, "46h", longs)) != -1) {
        switch (c) {
        case 'n': opt->netns = 1; break;
        case 's': opt->step = 1; break;
        case 'g': opt->svg = optarg; break;
        case 'a': opt->abort_mode = 1; break;
        case '4': opt->family = AF_INET; break;
        case '6': opt->family = AF_INET6; break;
        case 'h': opt->help = 1; return 0;
        case 'l':
            if (!strcmp(optarg, "es"))
                opt->lang_es = 1;
            else if (!strcmp(optarg, "en"))
                opt->lang_es = 0;
            else {
                tool_err("demo", "--lang: unknown language %s (use es or en)", tool_quote(optarg));
                return EXIT_USAGE;
            }
            break;
        default:
            return EXIT_USAGE;
        }
    }
    if (optind < argc) {
        tool_err("demo", "unexpected argument %s (see 'sock demo --help')", tool_quote(argv[optind]));
        return EXIT_USAGE;
    }
    if (opt->netns && opt->family == AF_INET6) {
        fprintf(stderr, "sock demo: --netns uses the slides' IPv4 addresses; drop -6\n");
        return EXIT_USAGE;
    }
    return 0;
}

/* ------------------------------------------------------------------ calls */

/* Text that stays readable on one line: newlines shown as \n. */
static void printable(const char *in, char *out, size_t len, size_t max_in)
{
    size_t k = 0, i;
    for (i = 0; in[i] && i < max_in && k + 6 < len; i++) {
        unsigned char ch = (unsigned char)in[i];
        if (ch == '\n') {
            out[k++] = '\\';
            out[k++] = 'n';
        } else {
            out[k++] = (ch >= 32 && ch < 127) ? (char)ch : '.';
        }
    }
    if (in[i])
        k += (size_t)snprintf(out + k, len - k, "...");
    out[k] = '\0';
}

static const char *slot_name(int side, int slot)
{
    if (side == DEMO_CLIENT)
        return "cli";
    return slot == 0 ? "acep" : "srv";
}

/* The call as the slides write it. */
static void call_text(int side, const struct demo_cmd *c, char *buf, size_t len)
{
    const char *s = slot_name(side, c->slot);
    char data[96];
    switch (c->op) {
    case OP_INIT: snprintf(buf, len, "%s = socket()", s); break;
    case OP_BIND: snprintf(buf, len, "%s.bind(\"%s\", \"%s\")", s, c->host, c->port); break;
    case OP_LISTEN: snprintf(buf, len, "%s.listen(%ld)", s, c->n); break;
    case OP_CONNECT: snprintf(buf, len, "%s.connect(\"%s\", \"%s\")", s, c->host, c->port); break;
    case OP_ACCEPT: snprintf(buf, len, "%s = %s.accept()", slot_name(side, c->slot2), s); break;
    case OP_SEND:
        printable(c->data, data, sizeof data, 40);
        snprintf(buf, len, "%s.send(\"%s\")", s, data);
        break;
    case OP_SEND_SOME: snprintf(buf, len, "%s.send(<%ld bytes>)", s, c->n); break;
    case OP_RECV:
    case OP_RECV_ONE: snprintf(buf, len, "%s.recv(%ld)", s, c->n); break;
    case OP_RECV_DRAIN: snprintf(buf, len, "%s.recv() %s", s, demo_text(T_UNTIL_END)); break;
    case OP_SHUTDOWN: snprintf(buf, len, "%s.shutdown(\"read-write\")", s); break;
    case OP_CLOSE: snprintf(buf, len, "%s.close()", s); break;
    default: snprintf(buf, len, "?"); break;
    }
}

/* Short name of a code: "ECONNRESET". */
static const char *code_name(int code)
{
    switch (code) {
    case -ECONNRESET: return "ECONNRESET";
    case -EPIPE: return "EPIPE";
    case -ETIMEDOUT: return "ETIMEDOUT";
    case -ECONNREFUSED: return "ECONNREFUSED";
    case -ENOTCONN: return "ENOTCONN";
    case -EADDRINUSE: return "EADDRINUSE";
    case SOCK_EOF: return "SOCK_EOF";
    case SOCK_ECLOSED: return "SOCK_ECLOSED";
    default: return "error";
    }
}

/* The result as the demo shows it. */
static void result_text(const struct demo_cmd *c, const struct demo_result *res, char *buf,
                        size_t len)
{
    char data[128];
    const char *bytes = demo_text(T_BYTES);
    if (c->op == OP_RECV_DRAIN) {
        if (res->code)
            snprintf(buf, len, "%lld %s, %s %s (%s)", res->bytes, bytes, demo_text(T_THEN),
                     code_name(res->code), sock_strerror(res->code));
        else
            snprintf(buf, len, "%lld %s, %s 0: %s", res->bytes, bytes, demo_text(T_THEN),
                     demo_text(T_EOF));
        return;
    }
    if (res->code) {
        snprintf(buf, len, "%lld %s: %s", res->result, code_name(res->code), res->error);
        return;
    }
    switch (c->op) {
    case OP_BIND: snprintf(buf, len, "0: %s", res->local); break;
    case OP_CONNECT: snprintf(buf, len, "0, %s %s", demo_text(T_FROM), res->local); break;
    case OP_ACCEPT: snprintf(buf, len, "0, srv fd %d (%s)", res->fd, res->peer); break;
    case OP_INIT: snprintf(buf, len, "ok"); break;
    case OP_SEND: snprintf(buf, len, "%lld %s", res->bytes, bytes); break;
    case OP_SEND_SOME: snprintf(buf, len, "%lld %s %ld %s", res->result, demo_text(T_OF), c->n, bytes); break;
    case OP_RECV:
    case OP_RECV_ONE:
        if (res->result == 0 && res->bytes == 0) {
            snprintf(buf, len, "0: %s", demo_text(T_EOF));
            break;
        }
        printable(res->data, data, sizeof data, 40);
        snprintf(buf, len, "%lld %s \"%s\"", res->bytes, bytes, data);
        break;
    case OP_CLOSE:
        if (res->unread_before > 0) {
            char u[64];
            snprintf(u, sizeof u, demo_text(T_UNREAD), res->unread_before);
            snprintf(buf, len, "0 (%s)", u);
        } else {
            snprintf(buf, len, "0");
        }
        break;
    default: snprintf(buf, len, "%lld", res->result); break;
    }
}

/* Make one call on one side and record it in the current step.  Returns 0,
 * or -1 if it failed and was not allowed to (the demo then stops). */
static int call(struct ctx *x, int side, struct demo_cmd *c, int may_fail, struct demo_result *out)
{
    struct demo_result res;
    struct demo_step *st = x->cur;
    int rc = demo_worker_call(&x->w[side], c, &res, sizeof res, CALL_TIMEOUT_MS);
    if (rc) {
        memset(&res, 0, sizeof res);
        res.code = rc;
        res.result = rc;
        snprintf(res.error, sizeof res.error, "the %s process did not answer (%s)",
                 side == DEMO_CLIENT ? "client" : "server", sock_strerror(rc));
    }
    if (st->ncalls[side] < DEMO_CALLS) {
        struct demo_call *dc = &st->calls[side][st->ncalls[side]++];
        call_text(side, c, dc->text, sizeof dc->text);
        result_text(c, &res, dc->result, sizeof dc->result);
        dc->failed = res.code != 0;
    }
    if (out)
        *out = res;
    if ((res.code && !may_fail) || rc)
        x->failed = 1;
    return x->failed ? -1 : 0;
}

static struct demo_cmd cmd(int op, int slot)
{
    struct demo_cmd c;
    memset(&c, 0, sizeof c);
    c.op = op;
    c.slot = slot;
    return c;
}

/* ------------------------------------------------------------------ steps */

static void step_begin(struct ctx *x, const char *label, enum demo_text title, enum demo_text note)
{
    struct demo_step *st = &x->run.steps[x->run.nsteps++];
    memset(st, 0, sizeof *st);
    snprintf(st->label, sizeof st->label, "%s", label);
    st->title = demo_text(title);
    st->note = demo_text(note);
    x->cur = st;
}

static void wait_enter(struct ctx *x)
{
    demo_render_prompt(x->r, demo_text(T_PRESS_ENTER));
    char line[256];
    if (!fgets(line, sizeof line, stdin))
        x->opt.step = 0; /* no more input: run the rest without waiting */
}

/* Let the wire settle, collect its segments and both sides' sockets, draw. */
static int step_end(struct ctx *x)
{
    struct demo_step *st = x->cur;
    if (x->cap)
        st->nsegs = demo_capture_drain(x->cap, st->segs, DEMO_SEGS, SETTLE_QUIET_MS, SETTLE_MAX_MS);
    else
        usleep(SETTLE_QUIET_MS * 1000);
    for (int side = 0; side < DEMO_SIDES; side++) {
        struct demo_cmd c = cmd(OP_REPORT, 0);
        if (demo_worker_call(&x->w[side], &c, &st->rep[side], sizeof st->rep[side],
                             CALL_TIMEOUT_MS) != 0) {
            memset(&st->rep[side], 0, sizeof st->rep[side]);
            x->failed = 1;
        }
    }
    demo_render_step(x->r, st);
    if (x->opt.step && !x->failed && x->run.nsteps < MAX_STEPS)
        wait_enter(x);
    return x->failed ? -1 : 0;
}

/* "127.0.0.1:39211" or "[::1]:39211" to a sockaddr. */
static int parse_addr(const char *text, struct sockaddr_storage *ss, char *port, size_t portlen)
{
    char host[64];
    if (sock_split_hostport(text, host, sizeof host, port, portlen) != 0)
        return -1;
    memset(ss, 0, sizeof *ss);
    struct sockaddr_in *in = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, host, &in->sin_addr) == 1) {
        in->sin_family = AF_INET;
        in->sin_port = htons((uint16_t)atoi(port));
        return 0;
    }
    if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)atoi(port));
        return 0;
    }
    return -1;
}

static int steps_setup(struct ctx *x)
{
    const char *cli_host = x->run.host[DEMO_CLIENT], *srv_host = x->run.host[DEMO_SERVER];
    struct demo_result res;
    struct demo_cmd c;

    step_begin(x, "1", T_S1, T_S1_NOTE);
    c = cmd(OP_INIT, 0);
    snprintf(c.name, sizeof c.name, "cli");
    if (call(x, DEMO_CLIENT, &c, 0, NULL))
        return -1;
    snprintf(c.name, sizeof c.name, "acep");
    if (call(x, DEMO_SERVER, &c, 0, NULL) || step_end(x))
        return -1;

    step_begin(x, "2", T_S2, x->opt.netns ? T_S2_NOTE_NETNS : T_S2_NOTE);
    c = cmd(OP_BIND, 0);
    snprintf(c.host, sizeof c.host, "%s", srv_host);
    snprintf(c.port, sizeof c.port, "%s", x->opt.netns ? "80" : "0");
    if (call(x, DEMO_SERVER, &c, 0, &res))
        return -1;
    struct sockaddr_storage srv_addr;
    if (parse_addr(res.local, &srv_addr, x->srv_port, sizeof x->srv_port) != 0) {
        fprintf(stderr, "sock demo: cannot read the server's address '%s'\n", res.local);
        return -1;
    }
    if (x->cap && demo_capture_set_server(x->cap, &srv_addr) != 0) {
        demo_capture_close(x->cap);
        x->cap = NULL;
        x->run.capture_ok = 0;
    }
    if (step_end(x))
        return -1;

    step_begin(x, "3", T_S3, T_S3_NOTE);
    c = cmd(OP_LISTEN, 0);
    c.n = 10;
    if (call(x, DEMO_SERVER, &c, 0, NULL) || step_end(x))
        return -1;

    step_begin(x, "4a", T_S4A, T_S4A_NOTE);
    c = cmd(OP_CONNECT, 0);
    snprintf(c.host, sizeof c.host, "%s", srv_host);
    snprintf(c.port, sizeof c.port, "%s", x->srv_port);
    if (call(x, DEMO_CLIENT, &c, 0, &res))
        return -1;
    struct sockaddr_storage cli_addr;
    char cli_port[16];
    if (parse_addr(res.local, &cli_addr, cli_port, sizeof cli_port) == 0) {
        if (x->cap)
            demo_capture_set_client(x->cap, &cli_addr);
        int lo = 0, hi = 0;
        if (demo_port_range(&lo, &hi) == 0)
            snprintf(x->cur->extra, sizeof x->cur->extra,
                     demo_text(x->opt.netns ? T_PORT80_NETNS : T_PORT80), atoi(cli_port),
                     lo, hi, atoi(x->srv_port));
    }
    (void)cli_host;
    if (step_end(x))
        return -1;

    step_begin(x, "4b", T_S4B, T_S4B_NOTE);
    c = cmd(OP_ACCEPT, 0);
    c.slot2 = 1;
    snprintf(c.name, sizeof c.name, "srv");
    if (call(x, DEMO_SERVER, &c, 0, NULL) || step_end(x))
        return -1;
    return 0;
}

/* One message of the script: side `from` sends text on its connection
 * (the client's cli, the server's srv) and the other side receives exactly
 * it.  0, or -1 if a call failed. */
static int exchange(struct ctx *x, int from, const char *text)
{
    int to = from == DEMO_CLIENT ? DEMO_SERVER : DEMO_CLIENT;
    struct demo_cmd c = cmd(OP_SEND, from == DEMO_CLIENT ? 0 : 1);
    snprintf(c.data, sizeof c.data, "%s", text);
    if (call(x, from, &c, 0, NULL))
        return -1;
    c = cmd(OP_RECV, to == DEMO_CLIENT ? 0 : 1);
    c.n = (long)strlen(text);
    return call(x, to, &c, 0, NULL);
}

static int steps_orderly(struct ctx *x)
{
    struct demo_cmd c;

    step_begin(x, "5a", T_S5A, T_S5A_NOTE);
    if (exchange(x, DEMO_CLIENT, request) || step_end(x))
        return -1;

    step_begin(x, "5b", T_S5B, T_S5B_NOTE);
    if (exchange(x, DEMO_SERVER, reply) || step_end(x))
        return -1;

    step_begin(x, "6a", T_S6A, T_S6A_NOTE);
    c = cmd(OP_SHUTDOWN, 0);
    c.n = SOCK_SHUT_READ_WRITE;
    if (call(x, DEMO_CLIENT, &c, 0, NULL))
        return -1;
    c = cmd(OP_RECV_ONE, 1);
    c.n = 64;
    if (call(x, DEMO_SERVER, &c, 0, NULL) || step_end(x))
        return -1;

    step_begin(x, "6b", T_S6B, T_S6B_NOTE);
    c = cmd(OP_SHUTDOWN, 1);
    c.n = SOCK_SHUT_READ_WRITE;
    if (call(x, DEMO_SERVER, &c, 0, NULL) || step_end(x))
        return -1;

    step_begin(x, "7", T_S7, x->opt.netns ? T_S7_NOTE_NETNS : T_S7_NOTE);
    c = cmd(OP_CLOSE, 0);
    if (call(x, DEMO_CLIENT, &c, 0, NULL))
        return -1;
    c = cmd(OP_CLOSE, 1);
    if (call(x, DEMO_SERVER, &c, 0, NULL) || step_end(x))
        return -1;
    return 0;
}

static int steps_abort(struct ctx *x)
{
    struct demo_cmd c;
    struct demo_result res;

    step_begin(x, "5a", T_AB5A, T_AB5A_NOTE);
    c = cmd(OP_SEND, 0);
    snprintf(c.data, sizeof c.data, "%s%s", request, extra_data);
    if (call(x, DEMO_CLIENT, &c, 0, NULL))
        return -1;
    c = cmd(OP_RECV, 1);
    c.n = (long)strlen(request);
    if (call(x, DEMO_SERVER, &c, 0, NULL) || step_end(x))
        return -1;

    step_begin(x, "5b", T_AB5B, T_AB5B_NOTE);
    c = cmd(OP_SEND_SOME, 1);
    c.n = ABORT_REPLY_BYTES;
    if (call(x, DEMO_SERVER, &c, 0, &res) || step_end(x))
        return -1;
    x->abort_sent = res.bytes;

    step_begin(x, "6", T_AB6, T_AB6_NOTE);
    c = cmd(OP_CLOSE, 1);
    if (call(x, DEMO_SERVER, &c, 0, NULL) || step_end(x))
        return -1;

    step_begin(x, "7", T_AB7, T_AB7_NOTE);
    c = cmd(OP_RECV_DRAIN, 0);
    if (call(x, DEMO_CLIENT, &c, 1, &res))
        return -1;
    long long got = res.bytes, lost = x->abort_sent - got;
    if (lost > 0)
        snprintf(x->cur->extra, sizeof x->cur->extra, demo_text(T_AB_LOST), x->abort_sent, got, lost);
    else
        snprintf(x->cur->extra, sizeof x->cur->extra, demo_text(T_AB_KEPT), x->abort_sent, got);
    c = cmd(OP_CLOSE, 0);
    if (call(x, DEMO_CLIENT, &c, 0, NULL) || step_end(x))
        return -1;
    return 0;
}

static int steps_acceptor(struct ctx *x)
{
    struct demo_cmd c;
    step_begin(x, "8a", T_S8A, T_S8A_NOTE);
    c = cmd(OP_SHUTDOWN, 0);
    c.n = SOCK_SHUT_READ_WRITE;
    if (call(x, DEMO_SERVER, &c, 0, NULL) || step_end(x))
        return -1;
    step_begin(x, "8b", T_S8B, T_S8B_NOTE);
    c = cmd(OP_CLOSE, 0);
    if (call(x, DEMO_SERVER, &c, 0, NULL) || step_end(x))
        return -1;
    return 0;
}

/* ---------------------------------------------------------------- setup */

/* Wait (bounded) until ifname has carrier, so the first SYN is not lost
 * to a link still coming up. */
static void wait_link(const char *ifname)
{
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return;
    for (int i = 0; i < 200; i++) {
        struct ifreq ifr;
        memset(&ifr, 0, sizeof ifr);
        snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%.15s", ifname);
        if (ioctl(fd, SIOCGIFFLAGS, &ifr) == 0 && (ifr.ifr_flags & IFF_RUNNING))
            break;
        usleep(10000);
    }
    close(fd);
}

/* Open the capture in the client's namespace (the parent goes in and comes
 * back: a packet socket belongs to the namespace it was created in). */
static void open_capture(struct ctx *x)
{
    int saved = -1;
    if (x->opt.netns) {
        saved = demo_netns_save();
        if (saved < 0 || demo_netns_enter(x->run.netns[DEMO_CLIENT]) != 0) {
            snprintf(x->run.capture_why, sizeof x->run.capture_why, "setns: %s", strerror(errno));
            if (saved >= 0)
                close(saved);
            return;
        }
        wait_link(x->run.ifname);
    }
    x->cap = demo_capture_open(x->run.ifname);
    if (!x->cap)
        snprintf(x->run.capture_why, sizeof x->run.capture_why, "%s", strerror(errno));
    x->run.capture_ok = x->cap != NULL;
    if (saved >= 0 && demo_netns_restore(saved) != 0) {
        fprintf(stderr, "sock demo: cannot return to the original network namespace\n");
        exit(EXIT_NET);
    }
}

/* "-" is standard output (the terminal drawing then goes to standard
 * error). */
static int svg_to_stdout(const struct demo_opts *opt)
{
    return opt->svg && strcmp(opt->svg, "-") == 0;
}

/* Write the SVG and make sure every byte of it reached the file: a full
 * disk shows only at fflush/fclose time. */
static int write_svg(struct ctx *x)
{
    int to_stdout = svg_to_stdout(&x->opt);
    FILE *f = to_stdout ? stdout : fopen(x->opt.svg, "w");
    if (!f) {
        fprintf(stderr, "sock demo: --svg: cannot write '%s': %s\n", x->opt.svg, strerror(errno));
        return -1;
    }
    int rc = demo_svg_write(f, &x->run);
    errno = 0;
    if (fflush(f) != 0 && rc == 0)
        rc = errno ? -errno : -EIO;
    if (ferror(f) && rc == 0)
        rc = -EIO;
    if (!to_stdout && fclose(f) != 0 && rc == 0)
        rc = errno ? -errno : -EIO;
    if (rc != 0) {
        if (to_stdout)
            fprintf(stderr, "sock demo: --svg: write to standard output: %s\n", strerror(-rc));
        else
            fprintf(stderr, "sock demo: --svg: write to '%s': %s\n", x->opt.svg, strerror(-rc));
        return -1;
    }
    if (!to_stdout) {
        char buf[512];
        snprintf(buf, sizeof buf, demo_text(T_SVG_WRITTEN), x->opt.svg);
        demo_render_line(x->r, buf);
    }
    return 0;
}

static int run_demo(struct ctx *x)
{
    struct demo_run *run = &x->run;
    if (x->opt.netns) {
        if (demo_netns_setup(run->netns[DEMO_CLIENT], run->netns[DEMO_SERVER], run->ifname,
                             sizeof run->ifname) != 0)
            return EXIT_NET;
        snprintf(run->host[DEMO_CLIENT], sizeof run->host[0], "10.1.1.1");
        snprintf(run->host[DEMO_SERVER], sizeof run->host[0], "10.2.2.2");
    } else {
        const char *lo = x->opt.family == AF_INET6 ? "::1" : "127.0.0.1";
        snprintf(run->host[DEMO_CLIENT], sizeof run->host[0], "%s", lo);
        snprintf(run->host[DEMO_SERVER], sizeof run->host[0], "%s", lo);
        snprintf(run->ifname, sizeof run->ifname, "lo");
    }
    for (int side = 0; side < DEMO_SIDES; side++) {
        int rc = demo_worker_start(&x->w[side], x->opt.netns ? run->netns[side] : NULL);
        if (rc) {
            fprintf(stderr, "sock demo: cannot start the %s process: %s\n",
                    side ? "server" : "client", strerror(-rc));
            return EXIT_NET;
        }
    }
    demo_netns_watch(x->w[0].pid, x->w[1].pid);
    open_capture(x);

    FILE *term = svg_to_stdout(&x->opt) ? stderr : stdout;
    x->r = demo_render_new(term, run);
    if (!x->r)
        return EXIT_NET;
    demo_render_header(x->r);
    int rc = steps_setup(x);
    if (rc == 0)
        rc = x->opt.abort_mode ? steps_abort(x) : steps_orderly(x);
    if (rc == 0)
        rc = steps_acceptor(x);
    demo_render_line(x->r, "");
    if (rc == 0) {
        demo_render_line(x->r, demo_text(x->opt.abort_mode ? T_END_ABORT : T_END));
        if (x->cap && demo_capture_drops(x->cap)) {
            char buf[160];
            snprintf(buf, sizeof buf, demo_text(T_DROPS), demo_capture_drops(x->cap));
            demo_render_line(x->r, buf);
        }
    } else {
        fprintf(stderr, "sock demo: stopped at step %s: a call failed (shown above)\n",
                x->cur ? x->cur->label : "?");
    }
    if (x->opt.svg && write_svg(x) != 0 && rc == 0)
        rc = -1;
    /* A drawing that did not reach its reader is a failed run. */
    int err = demo_render_error(x->r);
    if (err) {
        fprintf(stderr, "sock demo: write to %s: %s\n",
                term == stdout ? "standard output" : "standard error", strerror(err));
        rc = -1;
    }
    return rc == 0 ? EXIT_OK : EXIT_NET;
}

int cmd_demo(const struct cli_opts *o, int argc, char **argv)
{
    struct ctx *x = calloc(1, sizeof *x);
    struct demo_step *steps = calloc(MAX_STEPS, sizeof *steps);
    if (!x || !steps) {
        free(x);
        free(steps);
        fprintf(stderr, "sock demo: out of memory\n");
        return EXIT_NET;
    }
    int rc = demo_parse_opts(o, argc, argv, &x->opt);
    if (rc != 0 || x->opt.help) {
        if (x->opt.help)
            usage(stdout);
        free(x);
        free(steps);
        return rc;
    }
    /* Refuse an unwritable --svg before the run, not after it. */
    if (x->opt.svg && !svg_to_stdout(&x->opt)) {
        FILE *f = fopen(x->opt.svg, "w");
        if (!f) {
            fprintf(stderr, "sock demo: --svg: cannot write '%s': %s\n", x->opt.svg, strerror(errno));
            free(x);
            free(steps);
            return EXIT_USAGE;
        }
        fclose(f);
    }
    demo_text_set_spanish(x->opt.lang_es);
    x->run.lang_es = x->opt.lang_es;
    x->run.steps = steps;
    demo_now();
    /* A worker that died must not kill us with SIGPIPE on the next command. */
    signal(SIGPIPE, SIG_IGN);

    rc = run_demo(x);

    for (int side = 0; side < DEMO_SIDES; side++)
        demo_worker_stop(&x->w[side]);
    demo_netns_watch(0, 0);
    demo_capture_close(x->cap);
    demo_render_free(x->r);
    if (x->opt.netns)
        demo_netns_cleanup();
    free(steps);
    free(x);
    return rc;
}
