/*
 * tools/trace/trace.c - `sock trace [options] -- PROGRAM [ARGS...]`.
 *
 * The program runs as our child with libsocktrace.so preloaded and one
 * end of a SOCK_SEQPACKET socket pair left open at a high descriptor
 * number ($SOCK_TRACE_FD).  Every process it starts inherits both the
 * environment and the descriptor, so children are traced too; the
 * records of all of them arrive here, in the kernel's order, one message
 * each.  We never touch the program's standard input, output or error:
 * the story goes to -o FILE or to our own standard error.
 */
#include "trace.h"

#include "../cli.h"
#include "../demo/demo.h"
#include "../util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* How long to keep reading after the program ended while processes it
 * left behind still hold the record socket but say nothing. */
#define TRACE_LINGER_MS 300
/* The pause between two batches of records (see read_records). */
#define TRACE_BATCH_NS (2 * 1000 * 1000)

static void usage(FILE *f)
{
    fprintf(f,
            "usage: sock trace [-o FILE] [--svg FILE] [--lang es|en] [-x] -- PROGRAM [ARGS...]\n"
            "\n"
            "Run PROGRAM (and the processes and threads it starts) and print every socket\n"
            "step it takes in the seed's words (acep = socket(), acep.bind(...),\n"
            "srv = acep.accept(), cli.send(...) ...), with the TCP state the kernel reports\n"
            "after each step, and point at the course's mistakes where they happen:\n"
            "\n"
            "  1. a partial send whose remaining bytes are never sent\n"
            "  2. the process killed by SIGPIPE (a send to a peer that closed)\n"
            "  3. a close (or exit) with received data never read: the peer gets a reset\n"
            "  4. bind failing with EADDRINUSE because of TIME_WAIT, without SO_REUSEADDR\n"
            "     (a real second server on the port is told apart, as a note)\n"
            "  5. sockets still open at exit (the acceptor above all), and descriptors\n"
            "     leaking per connection\n"
            "  6. a socket closed while another thread is blocked in accept or recv on it,\n"
            "     without shutdown first: that thread never wakes\n"
            "  7. recv called again and again after it returned 0 (end of stream)\n"
            "  8. two threads sending (or two receiving) on one socket at the same time\n"
            "\n"
            "A correct program gets no warning.  Not seen from outside, so never reported:\n"
            "short reads not looped (message sizes are the program's), byte order, struct\n"
            "padding and sizeof, copying a socket object or using it after a move,\n"
            "deadlocks, the listen backlog taken for a client limit, memory leaks, and\n"
            "SIGPIPE deaths of processes other than PROGRAM itself.\n"
            "\n"
            "options:\n"
            "  -o FILE          write the trace to FILE (default: standard error; the\n"
            "                   program's own output is never mixed with it)\n"
            "  --svg FILE       also draw the run as a sequence diagram\n"
            "  --lang es|en     Spanish or English (default: from LANG / LC_ALL)\n"
            "  -x               a hexdump of the data of each step (first %d bytes)\n"
            "  -h, --help       this text\n"
            "\n"
            "It works by preloading libsocktrace.so (LD_PRELOAD): a statically linked\n"
            "program, a Go program (its own system calls) and a setuid or setgid program\n"
            "cannot be traced this way; sock trace says so (exit 2) and strace -f -e\n"
            "trace=network can help there.  Exit status: the program's own (128 + N if a\n"
            "signal N killed it), 2 on a usage error, 1 if it could not be started.\n",
            TRACE_DATA_MAX);
}

int trace_parse_opts(const struct cli_opts *o, int argc, char **argv, struct trace_opts *opt)
{
    static const struct option longs[] = {
        {"svg", required_argument, NULL, 'g'}, {"lang", required_argument, NULL, 'l'},
        {"output", required_argument, NULL, 'o'}, {"hexdump", no_argument, NULL, 'x'},
        {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0},
    };
    (void)o;
    memset(opt, 0, sizeof *opt);
    opt->lang_es = demo_text_env_spanish();
    optind = 0;
    int c;
    while ((c = tool_getopt("trace", argc, argv, "o:xh", longs)) != -1) {
        switch (c) {
        case 'o': opt->out = optarg; break;
        case 'g': opt->svg = optarg; break;
        case 'x': opt->hexdump = 1; break;
        case 'h': opt->help = 1; return 0;
        case 'l':
            if (!strcmp(optarg, "es"))
                opt->lang_es = 1;
            else if (!strcmp(optarg, "en"))
                opt->lang_es = 0;
            else {
                tool_err("trace", "--lang: unknown language %s (use es or en)",
                         tool_quote(optarg));
                return EXIT_USAGE;
            }
            break;
        default:
            return EXIT_USAGE;
        }
    }
    if (optind >= argc) {
        tool_err("trace", "no PROGRAM to run (usage: sock trace [options] -- PROGRAM [ARGS...])");
        return EXIT_USAGE;
    }
    opt->argc = argc - optind;
    opt->argv = argv + optind;
    return 0;
}

/* The file exec would run for name: name itself when it has a slash, else
 * the first executable match in PATH.  0 or -1. */
static int find_program(const char *name, char *path, size_t len)
{
    if (strchr(name, '/')) {
        snprintf(path, len, "%s", name);
        return access(path, X_OK) == 0 ? 0 : -1;
    }
    const char *p = getenv("PATH");
    if (!p || !*p)
        p = "/usr/local/bin:/usr/bin:/bin";
    while (*p) {
        const char *colon = strchr(p, ':');
        size_t n = colon ? (size_t)(colon - p) : strlen(p);
        int w = snprintf(path, len, "%.*s%s%s", (int)n, p, n ? "/" : "", name);
        struct stat st;
        if (w < (int)len && stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0)
            return 0;
        p += n + (colon ? 1 : 0);
    }
    return -1;
}

/* Why LD_PRELOAD cannot reach path's socket calls, or NULL if it can.
 * sanitizers receives the sanitizer runtimes it needs first. */
static const char *untraceable(const char *path, char *sanitizers, size_t slen, int depth)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return NULL; /* exec will say what is wrong */
    if (st.st_mode & (S_ISUID | S_ISGID))
        return "is setuid or setgid: the system does not preload libraries into it";
    struct elf_info info;
    if (trace_elf_inspect(path, &info) != 0)
        return NULL;
    if (info.is_elf) {
        if (!info.dynamic)
            return "is statically linked: no library can be preloaded into it";
        if (info.go)
            return "is a Go program: it makes its socket calls without libc";
        snprintf(sanitizers, slen, "%s", info.sanitizers);
        return NULL;
    }
    /* A script: what matters is its interpreter ("#!/usr/bin/env python3"
     * runs env, which is dynamic; the python it finds is not checked). */
    FILE *f = fopen(path, "re");
    char line[PATH_MAX + 8] = "";
    if (f) {
        if (!fgets(line, sizeof line, f))
            line[0] = '\0';
        fclose(f);
    }
    if (depth < 2 && line[0] == '#' && line[1] == '!') {
        char interp[PATH_MAX];
        if (sscanf(line + 2, " %4095s", interp) == 1)
            return untraceable(interp, sanitizers, slen, depth + 1);
    }
    return NULL;
}

/* The interposer: $SOCK_TRACE_LIB, else next to this binary (the build
 * directory), else ../lib/sock/ from it (an installed tree). */
static int find_library(char *path, size_t len)
{
    const char *env = getenv("SOCK_TRACE_LIB");
    if (env && *env) {
        snprintf(path, len, "%s", env);
        return access(path, R_OK);
    }
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0)
        return -1;
    self[n] = '\0';
    char *slash = strrchr(self, '/');
    if (!slash)
        return -1;
    *slash = '\0';
    if (snprintf(path, len, "%s/libsocktrace.so", self) < (int)len && access(path, R_OK) == 0)
        return 0;
    if (snprintf(path, len, "%s/../lib/sock/libsocktrace.so", self) >= (int)len)
        return -1;
    return access(path, R_OK);
}

static volatile sig_atomic_t child_pid;

/* SIGTERM and SIGHUP to sock trace are meant for the program; we end
 * when it does, and print the summary. */
static void forward(int sig)
{
    if (child_pid > 0)
        kill((pid_t)child_pid, sig);
}

static void child_exec(const struct trace_opts *opt, const char *preload, int fd)
{
    /* The program gets the signal dispositions it would get from a shell:
     * the tool itself ignores SIGPIPE, the program must not. */
    static const int sigs[] = {SIGPIPE, SIGINT, SIGQUIT, SIGTERM, SIGHUP};
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        signal(sigs[i], SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    char num[16];
    snprintf(num, sizeof num, "%d", fd);
    setenv(TRACE_ENV_FD, num, 1);
    setenv("LD_PRELOAD", preload, 1);
    if (opt->hexdump) {
        snprintf(num, sizeof num, "%d", TRACE_DATA_MAX);
        setenv(TRACE_ENV_DATA, num, 1);
    }
    execvp(opt->argv[0], opt->argv);
    fprintf(stderr, "sock trace: cannot run %s: %s\n", opt->argv[0], strerror(errno));
    _exit(127);
}

/* A free descriptor number far above the ones the program will use, so
 * that the program's own descriptors keep the numbers they would have. */
static int high_fd(int fd)
{
    struct rlimit rl;
    long start = 512;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
        start = rl.rlim_cur > 2048 ? 1000 : (long)rl.rlim_cur / 2;
    if (start < 10)
        start = 10;
    int hi = fcntl(fd, F_DUPFD, (int)start);
    return hi >= 0 ? hi : fcntl(fd, F_DUPFD, 10);
}

/* Render the records of one message: a batch of data steps and then,
 * usually, the step that sent it, one after the other (record.h). */
static void render_message(struct trace_render *r, struct trace_rec *rec, const uint8_t *msg,
                           size_t len)
{
    const size_t head = offsetof(struct trace_rec, data);
    size_t off = 0;
    while (len - off >= head) {
        size_t k = len - off < sizeof *rec ? len - off : sizeof *rec;
        memcpy(rec, msg + off, k);
        if (rec->ndata > k - head)
            rec->ndata = (uint16_t)(k - head);
        rec->text[sizeof rec->text - 1] = '\0';
        rec->call[sizeof rec->call - 1] = '\0';
        trace_render_record(r, rec);
        off += TRACE_REC_WIRE(rec);
        if (off > len)
            break;
    }
}

static int read_records(int sock, pid_t pid, struct trace_render *r, FILE *out, int *status)
{
    struct trace_rec *rec = malloc(sizeof *rec);
    uint8_t *msg = malloc(TRACE_BATCH_MAX);
    if (!rec || !msg) {
        free(rec);
        free(msg);
        return -ENOMEM;
    }
    int exited = 0;
    double ended = 0;
    unsigned since_check = 0;
    for (;;) {
        struct pollfd p = {.fd = sock, .events = POLLIN};
        int n = poll(&p, 1, 0);
        if (n == 0) {
            /* Nothing waiting: the story so far goes out now, so that a
             * reader of -o FILE follows it as it happens.  Then a pause:
             * waking for every record would cost the traced program a
             * context switch per call on a busy machine; records wait in
             * the socket's buffer meanwhile. */
            fflush(out);
            nanosleep(&(struct timespec){0, TRACE_BATCH_NS}, NULL);
            n = poll(&p, 1, exited ? 50 : 100);
        }
        if (n < 0 && errno != EINTR)
            break;
        if (n > 0) {
            ssize_t k = recv(sock, msg, TRACE_BATCH_MAX, MSG_DONTWAIT);
            if (k == 0)
                break; /* every process holding the record socket is gone */
            if (k > 0)
                render_message(r, rec, msg, (size_t)k);
            if (k > 0 && ++since_check < 256)
                continue;
        }
        since_check = 0;
        if (!exited && waitpid(pid, status, WNOHANG) == pid) {
            exited = 1;
            ended = tool_now();
        }
        if (exited && n == 0 && (tool_now() - ended) * 1000 > TRACE_LINGER_MS)
            break;
    }
    free(rec);
    free(msg);
    if (!exited)
        while (waitpid(pid, status, 0) < 0 && errno == EINTR)
            ;
    return 0;
}

static int run(const struct trace_opts *opt, FILE *out)
{
    char path[PATH_MAX], lib[PATH_MAX], prog_san[256] = "", lib_san[256] = "";
    if (find_program(opt->argv[0], path, sizeof path) != 0) {
        tool_err("trace", "%s: no such program (or not executable)", tool_quote(opt->argv[0]));
        return EXIT_USAGE;
    }
    const char *why = untraceable(path, prog_san, sizeof prog_san, 0);
    if (why) {
        tool_err("trace", "%s %s, so its steps cannot be seen; try: strace -f -e "
                 "trace=network %s", path, why, opt->argv[0]);
        return EXIT_USAGE;
    }
    if (find_library(lib, sizeof lib) != 0) {
        tool_err("trace", "cannot find libsocktrace.so (next to the sock binary, or in "
                 "../lib/sock/ from it; or set SOCK_TRACE_LIB)");
        return EXIT_NET;
    }
    struct elf_info li;
    if (trace_elf_inspect(lib, &li) == 0)
        snprintf(lib_san, sizeof lib_san, "%s", li.sanitizers);
    /* A sanitizer runtime wants to come first in the list of libraries;
     * the program's, or our library's if it was built with one. */
    char preload[4 * PATH_MAX];
    const char *old = getenv("LD_PRELOAD");
    snprintf(preload, sizeof preload, "%s%s%s%s%s%s%s", prog_san, prog_san[0] ? " " : "",
             strcmp(lib_san, prog_san) && lib_san[0] ? lib_san : "",
             strcmp(lib_san, prog_san) && lib_san[0] ? " " : "", lib, old && *old ? " " : "",
             old && *old ? old : "");

    /* The record channel is a SOCK_SEQPACKET socketpair (one record per
     * message, a boundary the interposer relies on), which libsock's
     * stream handles do not make: so the raw calls here, and in the
     * reading loop above. */
    int sp[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) != 0) {
        tool_err("trace", "socketpair: %s", strerror(errno));
        return EXIT_NET;
    }
    int big = 4 << 20;
    setsockopt(sp[1], SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
    setsockopt(sp[0], SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
    int cfd = high_fd(sp[1]);
    close(sp[1]);
    if (cfd < 0) {
        tool_err("trace", "no descriptor for the trace: %s", strerror(errno));
        close(sp[0]);
        return EXIT_NET;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        tool_err("trace", "fork: %s", strerror(errno));
        close(sp[0]);
        close(cfd);
        return EXIT_NET;
    }
    if (pid == 0)
        child_exec(opt, preload, cfd);
    close(cfd);
    child_pid = pid;
    struct sigaction sa = {.sa_handler = forward};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    /* ^C reaches the program (same process group); we stay for the summary. */
    signal(SIGINT, SIG_IGN);
    signal(SIGQUIT, SIG_IGN);

    struct trace_render *r = trace_render_new(out, opt, pid);
    int status = 0;
    if (!r || read_records(sp[0], pid, r, out, &status) != 0) {
        tool_err("trace", "out of memory");
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        trace_render_free(r);
        close(sp[0]);
        return EXIT_NET;
    }
    close(sp[0]);
    trace_render_end(r, status);
    if (opt->svg) {
        FILE *f = strcmp(opt->svg, "-") == 0 ? stdout : fopen(opt->svg, "we");
        int rc = f ? trace_render_svg(r, f) : -errno;
        if (f && f != stdout && fclose(f) != 0 && rc == 0)
            rc = -errno;
        if (rc != 0)
            tool_err("trace", "--svg %s: %s", tool_quote(opt->svg), strerror(-rc));
    }
    trace_render_free(r);
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return EXIT_NET;
}

int cmd_trace(const struct cli_opts *o, int argc, char **argv)
{
    struct trace_opts opt;
    int rc = trace_parse_opts(o, argc, argv, &opt);
    if (rc != 0)
        return rc;
    if (opt.help) {
        usage(stdout);
        return EXIT_OK;
    }
    FILE *out = stderr;
    if (opt.out) {
        out = fopen(opt.out, "we");
        if (!out) {
            tool_err("trace", "-o %s: %s", tool_quote(opt.out), strerror(errno));
            return EXIT_USAGE;
        }
    }
    rc = run(&opt, out);
    if (out != stderr && fclose(out) != 0) {
        tool_err("trace", "-o %s: %s", tool_quote(opt.out), strerror(errno));
        if (rc == 0)
            rc = EXIT_NET;
    }
    return rc;
}
