/*
 * test_trace_cmd.c - `sock trace`: the steps of programs written for the
 * tests in the course's style (tests/trace/programs/, a C client and
 * server on raw BSD sockets and a C++ multi-client server with a RAII
 * socket class), in a correct version (no warning at all) and in versions
 * seeded with exactly one mistake (that warning, under the right step);
 * real programs run under the trace with their output unchanged; the
 * states and ports agree with ss; programs that cannot be traced are
 * refused before they run.
 */
#include "harness.h"

#include <criterion/criterion.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* tests/trace/programs/NAME as built next to the sock binary. */
static const char *program(const char *name)
{
    static char buf[4][PATH_MAX];
    static int next;
    char *b = buf[next++ % 4];
    char bin[PATH_MAX];
    snprintf(bin, sizeof bin, "%s", sock_bin());
    char *slash = strrchr(bin, '/');
    if (slash)
        *slash = '\0';
    cr_assert(snprintf(b, PATH_MAX, "%s/trace-programs/%s", slash ? bin : ".", name) < PATH_MAX);
    return b;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    cr_assert(f, "cannot read %s", path);
    char *text = calloc(1, 1 << 20);
    size_t n = fread(text, 1, (1 << 20) - 1, f);
    text[n] = '\0';
    fclose(f);
    return text;
}

static int count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

static void temp_path(char *buf, size_t len, const char *what)
{
    snprintf(buf, len, "/tmp/sock-trace-test.%d.%s", (int)getpid(), what);
}

/* The step line that a mistake's summary entry names: "(step N)" there,
 * "   N  " at the start of a line of the story.  Returns that line (in a
 * static buffer), or "" when the mistake has no step. */
static const char *mistake_step(const char *trace)
{
    static char line[512];
    const char *at = strstr(trace, "(step ");
    line[0] = '\0';
    if (!at)
        return line;
    int step = atoi(at + 6);
    char head[32];
    snprintf(head, sizeof head, "\n%4d  ", step);
    const char *l = strstr(trace, head);
    if (!l)
        return line;
    l++;
    size_t n = strcspn(l, "\n");
    snprintf(line, sizeof line, "%.*s", (int)(n < sizeof line ? n : sizeof line - 1), l);
    return line;
}

/* Start PROGRAM (a server that prints "port N"), traced to trace_file
 * when it is not NULL.  Returns the port. */
static int start_server(proc_t *p, const char *trace_file, char *const args[])
{
    char *argv[16];
    int n = 0;
    if (trace_file) {
        argv[n++] = (char *)sock_bin();
        argv[n++] = "trace";
        argv[n++] = "-o";
        argv[n++] = (char *)trace_file;
        argv[n++] = "--";
    }
    for (int i = 0; args[i] && n < 15; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    cr_assert_eq(proc_start(p, argv), 0);
    char out[256] = "";
    cr_assert(proc_wait_for(p->out, "port ", out, sizeof out, 10000), "no port from %s: %s",
              args[0], out);
    return atoi(strstr(out, "port ") + 5);
}

/* The family of the next connections: the test programs read
 * $TRACE_FAMILY (6: IPv6, on ::1; else IPv4, on 127.0.0.1). */
static int six;

static void family(int v6)
{
    six = v6;
    setenv("TRACE_FAMILY", v6 ? "6" : "4", 1);
}

static const char *loopback(void)
{
    return six ? "::1" : "127.0.0.1";
}

/* Each run below is made on IPv4 and on IPv6. */
#define BOTH_FAMILIES for (int v6 = (family(0), 0); v6 < 2; v6++, family(v6))

/* The client program run_client runs: c_client, or cpp_client. */
static const char *client_prog = "c_client";

/* Run the client HOST PORT MODE, traced to trace_file when not NULL; its
 * standard output in *out.  Returns its exit status. */
static int run_client(int port, const char *mode, const char *trace_file, char **out)
{
    char ports[16];
    snprintf(ports, sizeof ports, "%d", port);
    char *traced[] = {(char *)sock_bin(), "trace", "-o", (char *)trace_file, "--",
                      (char *)program(client_prog), (char *)loopback(), ports, (char *)mode,
                      NULL};
    char *plain[] = {(char *)program(client_prog), (char *)loopback(), ports, (char *)mode,
                     NULL};
    return proc_run(trace_file ? traced : plain, NULL, 0, out, NULL, NULL, 20000);
}

/* The c_server with its mode, one client with its mode; which of the two
 * is traced.  Returns the trace, malloc'd. */
static char *c_pair(const char *smode, const char *cmode, int trace_server, int *srv_status)
{
    char tfile[128];
    temp_path(tfile, sizeof tfile, "trace");
    unlink(tfile);
    proc_t srv;
    char *sargs[] = {(char *)program("c_server"), "0", "1", (char *)smode, NULL};
    int port = start_server(&srv, trace_server ? tfile : NULL, sargs);
    char *out = NULL;
    int rc = run_client(port, cmode, trace_server ? NULL : tfile, &out);
    int st = proc_wait(&srv, 20000);
    if (srv_status)
        *srv_status = st;
    else
        cr_assert_eq(st, 0, "server ended with %d", st);
    if (strcmp(cmode, "hangup") != 0)
        cr_assert_eq(rc, 0, "client ended with %d", rc);
    free(out);
    char *t = slurp(tfile);
    unlink(tfile);
    return t;
}

static void assert_clean(const char *trace)
{
    cr_assert(strstr(trace, "No mistakes seen."), "a warning on a correct program:\n%s", trace);
    cr_assert_eq(count(trace, "!! "), 0, "%s", trace);
}

/* Exactly one warning, containing phrase, naming a step whose line holds
 * call (NULL: a mistake of the whole process, such as SIGPIPE). */
static void assert_one(const char *trace, const char *phrase, const char *call)
{
    cr_assert_eq(count(trace, "!! "), 1, "not exactly one warning:\n%s", trace);
    cr_assert(strstr(trace, "1 mistake(s):"), "%s", trace);
    cr_assert(strstr(trace, phrase), "no '%s' in:\n%s", phrase, trace);
    if (call)
        cr_assert(strstr(mistake_step(trace), call), "the step named is '%s', not a %s:\n%s",
                  mistake_step(trace), call, trace);
}

/* ------------------------------------------------------------ the story */

Test(trace, c_pair_correct_story_and_no_warning, .timeout = 60)
{
    char *t = c_pair("none", "none", 1, NULL);
    cr_assert(strstr(t, "acep = socket(AF_INET, SOCK_STREAM)"), "%s", t);
    cr_assert(strstr(t, "acep.setsockopt(SO_REUSEADDR, 1)"), "%s", t);
    cr_assert(strstr(t, "acep.bind(\"0.0.0.0\", \"0\")"), "%s", t);
    cr_assert(strstr(t, "the kernel chose port"), "%s", t);
    cr_assert(strstr(t, "acep.listen(16)"), "%s", t);
    cr_assert(strstr(t, "LISTEN  local 0.0.0.0:"), "%s", t);
    cr_assert(strstr(t, "srv = acep.accept() "), "%s", t);
    cr_assert(strstr(t, "ESTABLISHED  local 127.0.0.1:"), "%s", t);
    cr_assert(strstr(t, "srv.send(12) "), "%s", t);
    cr_assert(strstr(t, "\"echo: hello\\n\""), "%s", t);
    cr_assert(strstr(t, "acep.shutdown(SHUT_RDWR)"), "%s", t);
    cr_assert(strstr(t, "acep.close()"), "%s", t);
    assert_clean(t);
    free(t);

    t = c_pair("none", "none", 0, NULL);
    cr_assert(strstr(t, "cli = socket(AF_INET, SOCK_STREAM)"), "%s", t);
    cr_assert(strstr(t, "cli.connect(\"127.0.0.1\", "), "%s", t);
    cr_assert(strstr(t, "implicit bind: the kernel chose local port"), "%s", t);
    cr_assert(strstr(t, "cli.recv(512) "), "%s", t);
    cr_assert(strstr(t, "end of stream"), "%s", t);
    assert_clean(t);
    free(t);
}

Test(trace, correct_variants_get_no_warning, .timeout = 90)
{
    /* A 4 MiB line sent with a loop, and two threads taking turns under a
     * mutex: partial sends and threads, all done right. */
    char *t = c_pair("none", "big", 0, NULL);
    assert_clean(t);
    free(t);
    t = c_pair("none", "threads", 0, NULL);
    cr_assert(strstr(t, "[t2] cli.send(2097152)"), "%s", t);
    assert_clean(t);
    free(t);
}

Test(trace, cpp_client_correct_no_warning, .timeout = 90)
{
    client_prog = "cpp_client";
    BOTH_FAMILIES {
        char *t = c_pair("none", "none", 0, NULL);
        cr_assert(strstr(t, "cli = socket(AF_INET"), "%s", t);
        cr_assert(strstr(t, six ? "cli.connect(\"::1\", " : "cli.connect(\"127.0.0.1\", "),
                  "%s", t);
        cr_assert(strstr(t, "cli.close()"), "the destructor closes: %s", t);
        assert_clean(t);
        free(t);
        t = c_pair("none", "threads", 0, NULL);
        cr_assert(strstr(t, "[t2] cli.send(2097152)"), "%s", t);
        assert_clean(t);
        free(t);
    }
}

Test(trace, spanish, .timeout = 60)
{
    char tfile[128];
    temp_path(tfile, sizeof tfile, "es");
    proc_t srv;
    char *sargs[] = {(char *)program("c_server"), "0", "1", "none", NULL};
    int port = start_server(&srv, NULL, sargs);
    char ports[16];
    snprintf(ports, sizeof ports, "%d", port);
    char *argv[] = {(char *)sock_bin(), "trace", "--lang", "es", "-o", tfile, "--",
                    (char *)program("c_client"), "127.0.0.1", ports, "eof-loop", NULL};
    cr_assert_eq(proc_run(argv, NULL, 0, NULL, NULL, NULL, 20000), 0);
    cr_assert_eq(proc_wait(&srv, 10000), 0);
    char *t = slurp(tfile);
    unlink(tfile);
    cr_assert(strstr(t, "fin del flujo"), "%s", t);
    cr_assert(strstr(t, "Sal del bucle de recv con el primer 0"), "%s", t);
    cr_assert(strstr(t, "== resumen =="), "%s", t);
    free(t);
}

/* ------------------------------------------------- the seeded mistakes */

/* The gate of "partial" (a FIFO, see c_server.c): the server reads only
 * once the client's one send has returned.  A server draining loopback at
 * once can let the kernel take all 64 MiB in one call, and then there is
 * no mistake to see.  The fini removes it also when the test fails. */
static char gate[128];

static void gate_remove(void)
{
    if (gate[0])
        unlink(gate);
}

Test(trace, mistake1_partial_send_never_completed, .timeout = 90, .fini = gate_remove)
{
    temp_path(gate, sizeof gate, "gate");
    unlink(gate);
    cr_assert_eq(mkfifo(gate, 0600), 0, "mkfifo %s", gate);
    setenv("TRACE_GATE", gate, 1);
    const char *clients[] = {"c_client", "cpp_client"};
    for (int c = 0; c < 2; c++) {
        client_prog = clients[c];
        BOTH_FAMILIES {
            char *t = c_pair("none", "partial", 0, NULL);
            assert_one(t, "does not continue where the kernel stopped", "cli.send(1)");
            cr_assert(strstr(t, "(partial)"), "%s", t);
            free(t);
        }
    }
}

Test(trace, mistake2_killed_by_sigpipe, .timeout = 60)
{
    BOTH_FAMILIES {
        int st;
        char *t = c_pair("sigpipe", "hangup", 1, &st);
        cr_assert_eq(st, 128 + 13, "sock trace passes on the death by SIGPIPE: %d", st);
        assert_one(t, "killed by SIGPIPE writing to srv", "srv.send(12)");
        cr_assert(strstr(t, "MSG_NOSIGNAL"), "%s", t);
        free(t);
    }
}

Test(trace, mistake3_close_with_unread_data, .timeout = 60)
{
    BOTH_FAMILIES {
        char *t = c_pair("unread", "none", 1, NULL);
        assert_one(t, "srv closed with 2 bytes received and never read", "srv.close()");
        free(t);
    }
}

static void addrinuse_c(void)
{
    /* A first run without SO_REUSEADDR closes first: its port stays in
     * TIME_WAIT; the second run on that port fails. */
    char tfile[128];
    temp_path(tfile, sizeof tfile, "reuse");
    proc_t srv;
    char *sargs[] = {(char *)program("c_server"), "0", "1", "noreuse", NULL};
    int port = start_server(&srv, NULL, sargs);
    char *out = NULL;
    cr_assert_eq(run_client(port, "none", NULL, &out), 0);
    free(out);
    cr_assert_eq(proc_wait(&srv, 10000), 0);
    char ports[16];
    snprintf(ports, sizeof ports, "%d", port);
    char *again[] = {(char *)sock_bin(), "trace", "-o", tfile, "--", (char *)program("c_server"),
                     ports, "1", "noreuse", NULL};
    cr_assert_eq(proc_run(again, NULL, 0, NULL, NULL, NULL, 20000), 1);
    char *t = slurp(tfile);
    assert_one(t, "of an earlier run (TIME_WAIT) and SO_REUSEADDR was not set", "acep.bind(");
    cr_assert(strstr(t, "EADDRINUSE"), "%s", t);
    free(t);

    /* A real second server: a note, not this mistake. */
    char *first[] = {(char *)program("c_server"), "0", "1", "none", NULL};
    port = start_server(&srv, NULL, first);
    snprintf(ports, sizeof ports, "%d", port);
    char *second[] = {(char *)sock_bin(), "trace", "-o", tfile, "--",
                      (char *)program("c_server"), ports, "1", "none", NULL};
    cr_assert_eq(proc_run(second, NULL, 0, NULL, NULL, NULL, 20000), 1);
    cr_assert_eq(run_client(port, "none", NULL, &out), 0);
    free(out);
    cr_assert_eq(proc_wait(&srv, 10000), 0);
    t = slurp(tfile);
    unlink(tfile);
    cr_assert(strstr(t, "another socket is already listening on port"), "%s", t);
    cr_assert_eq(count(t, "!! "), 0, "%s", t);
    free(t);
}

Test(trace, mistake4_bind_addrinuse_time_wait_and_second_server, .timeout = 60)
{
    BOTH_FAMILIES
        addrinuse_c();
}

Test(trace, mistake5_acceptor_left_open, .timeout = 60)
{
    BOTH_FAMILIES {
        char *t = c_pair("acep-open", "none", 1, NULL);
        assert_one(t, "at exit the acceptor acep is still open", NULL);
        free(t);
    }
}

Test(trace, mistake6_close_without_shutdown_blocks_accept, .timeout = 60)
{
    BOTH_FAMILIES {
        char *t = c_pair("no-shutdown", "none", 1, NULL);
        assert_one(t, "is blocked in accept on it, without shutdown first", "acep.close()");
        free(t);
    }
}

Test(trace, mistake7_recv_after_end_of_stream, .timeout = 60)
{
    const char *clients[] = {"c_client", "cpp_client"};
    for (int c = 0; c < 2; c++) {
        client_prog = clients[c];
        BOTH_FAMILIES {
            char *t = c_pair("none", "eof-loop", 0, NULL);
            assert_one(t, "cli.recv returned 0 (end of stream) 3 times", "cli.recv(512)");
            free(t);
        }
    }
}

Test(trace, mistake8_two_threads_sending, .timeout = 90)
{
    const char *clients[] = {"c_client", "cpp_client"};
    for (int c = 0; c < 2; c++) {
        client_prog = clients[c];
        BOTH_FAMILIES {
            char *t = c_pair("none", "two-senders", 0, NULL);
            assert_one(t, "send on cli at the same time", "cli.send(2097152)");
            free(t);
        }
    }
}

/* ------------------------------------------------- the C++ family */

static char *wait_file(const char *file, const char *needle);

/* cpp_server with mistake; two clients that half-close; then "q" on its
 * standard input (or, when it hangs, SIGTERM).  Returns the trace. */
static char *cpp_run(const char *mistake, int hangs)
{
    char tfile[128];
    temp_path(tfile, sizeof tfile, "cpp");
    unlink(tfile);
    proc_t srv;
    char *sargs[] = {(char *)program("cpp_server"), "0", (char *)mistake, NULL};
    int port = start_server(&srv, tfile, sargs);
    /* A leaking server never closes: its clients hang up without waiting.
     * A server that leaves bytes unread resets its clients: they may fail. */
    int leak = strcmp(mistake, "leak") == 0, unread = strcmp(mistake, "unread") == 0;
    for (int i = 0; i < 2; i++) {
        char *out = NULL;
        int rc = run_client(port, leak ? "hangup" : "halfclose", NULL, &out);
        if (!unread)
            cr_assert_eq(rc, 0);
        if (!unread && !leak)
            cr_assert(strstr(out, "echo: hello\necho: world\n"), "%s", out ? out : "");
        free(out);
    }
    /* Clients that hang up at once may still wait in the listen queue: "q"
     * would then drop them before the server has seen them. */
    if (leak)
        free(wait_file(tfile, "srv2 = acep.accept"));
    cr_assert_eq(write(srv.in, "q\n", 2), 2);
    if (hangs) {
        /* The acceptor thread never wakes: wait for the warning, then stop. */
        char buf[4096];
        for (int i = 0; i < 100; i++) {
            FILE *f = fopen(tfile, "r");
            size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
            if (f)
                fclose(f);
            buf[n] = '\0';
            if (strstr(buf, "!! "))
                break;
            usleep(50 * 1000);
        }
        kill(srv.pid, SIGTERM);
        cr_assert_eq(proc_wait(&srv, 10000), 128 + SIGTERM);
    } else {
        cr_assert_eq(proc_wait(&srv, 20000), 0);
    }
    char *t = slurp(tfile);
    unlink(tfile);
    return t;
}

Test(trace, cpp_server_correct_no_warning, .timeout = 60)
{
    BOTH_FAMILIES {
        char *t = cpp_run("none", 0);
        cr_assert(strstr(t, "srv = acep.accept() "), "%s", t);
        cr_assert(strstr(t, "srv2 = acep.accept() "), "%s", t);
        cr_assert(strstr(t, "[t2]"), "threads are shown: %s", t);
        cr_assert(strstr(t, "acep.shutdown(SHUT_RDWR)"), "%s", t);
        assert_clean(t);
        free(t);
    }
}

Test(trace, cpp_mistake2_killed_by_sigpipe, .timeout = 60)
{
    BOTH_FAMILIES {
        char tfile[128];
        temp_path(tfile, sizeof tfile, "cpppipe");
        unlink(tfile);
        proc_t srv;
        char *sargs[] = {(char *)program("cpp_server"), "0", "sigpipe", NULL};
        int port = start_server(&srv, tfile, sargs);
        char *out = NULL;
        run_client(port, "hangup", NULL, &out);
        free(out);
        int st = proc_wait(&srv, 20000);
        char *t = slurp(tfile);
        unlink(tfile);
        cr_assert_eq(st, 128 + 13, "sock trace passes on the death by SIGPIPE: %d\n%s", st, t);
        assert_one(t, "killed by SIGPIPE writing to srv", "srv.send(12)");
        free(t);
    }
}

Test(trace, cpp_mistake4_bind_addrinuse_time_wait, .timeout = 60)
{
    BOTH_FAMILIES {
        /* The first run closes each connection first: its port stays in
         * TIME_WAIT, and without SO_REUSEADDR the second run cannot bind. */
        char tfile[128];
        temp_path(tfile, sizeof tfile, "cppreuse");
        proc_t srv;
        char *sargs[] = {(char *)program("cpp_server"), "0", "noreuse", NULL};
        int port = start_server(&srv, NULL, sargs);
        char *out = NULL;
        cr_assert_eq(run_client(port, "none", NULL, &out), 0);
        cr_assert(out && strstr(out, "echo: hello"), "%s", out ? out : "");
        free(out);
        cr_assert_eq(write(srv.in, "q\n", 2), 2);
        cr_assert_eq(proc_wait(&srv, 10000), 0);
        char ports[16];
        snprintf(ports, sizeof ports, "%d", port);
        char *again[] = {(char *)sock_bin(), "trace", "-o", tfile, "--",
                         (char *)program("cpp_server"), ports, "noreuse", NULL};
        cr_assert_eq(proc_run(again, NULL, 0, NULL, NULL, NULL, 20000), 1);
        char *t = slurp(tfile);
        unlink(tfile);
        assert_one(t, "of an earlier run (TIME_WAIT) and SO_REUSEADDR was not set", "acep.bind(");
        free(t);
    }
}

Test(trace, cpp_mistake6_close_without_shutdown_blocks_accept, .timeout = 60)
{
    BOTH_FAMILIES {
        char *t = cpp_run("no-shutdown", 1);
        assert_one(t, "is blocked in accept on it, without shutdown first", "acep.close()");
        free(t);
    }
}

Test(trace, cpp_mistake5_descriptor_leak_per_connection, .timeout = 60)
{
    BOTH_FAMILIES {
        char *t = cpp_run("leak", 0);
        assert_one(t, "2 accepted sockets were never closed", NULL);
        free(t);
    }
}

Test(trace, cpp_mistake3_unread_at_close, .timeout = 60)
{
    BOTH_FAMILIES {
        char *t = cpp_run("unread", 0);
        /* One per client: each of the two leaves bytes unread. */
        cr_assert_eq(count(t, "!! "), 2, "%s", t);
        /* Each said at its step and again in the summary. */
        cr_assert_eq(count(t, "closed with 4 bytes received and never read"), 4, "%s", t);
        free(t);
    }
}

/* ------------------------------------------------- refused programs */

Test(trace, refuses_static_and_setuid_programs, .timeout = 30)
{
    char *err = NULL;
    char *st[] = {(char *)sock_bin(), "trace", "--", (char *)program("static_hello"), NULL};
    cr_assert_eq(proc_run(st, NULL, 0, NULL, NULL, &err, 10000), 2);
    cr_assert(strstr(err, "statically linked") && strstr(err, "strace"), "%s", err);
    free(err);

    char copy[128];
    temp_path(copy, sizeof copy, "setuid");
    char *cp[] = {"cp", (char *)program("c_client"), copy, NULL};
    cr_assert_eq(proc_run(cp, NULL, 0, NULL, NULL, NULL, 10000), 0);
    cr_assert_eq(chmod(copy, 04755), 0);
    char *su[] = {(char *)sock_bin(), "trace", "--", copy, "127.0.0.1", "1", NULL};
    err = NULL;
    int rc = proc_run(su, NULL, 0, NULL, NULL, &err, 10000);
    unlink(copy);
    cr_assert_eq(rc, 2);
    cr_assert(strstr(err, "setuid"), "%s", err);
    free(err);

    char *none[] = {(char *)sock_bin(), "trace", NULL};
    err = NULL;
    cr_assert_eq(proc_run(none, NULL, 0, NULL, NULL, &err, 10000), 2);
    cr_assert(strstr(err, "no PROGRAM"), "%s", err);
    free(err);
}

Test(trace, help_says_what_cannot_be_seen, .timeout = 30)
{
    char *out = NULL;
    char *argv[] = {(char *)sock_bin(), "trace", "--help", NULL};
    cr_assert_eq(proc_run(argv, NULL, 0, &out, NULL, NULL, 10000), 0);
    cr_assert(strstr(out, "Not seen from outside"), "%s", out);
    cr_assert(strstr(out, "statically linked"), "%s", out);
    free(out);
}

/* ------------------------------------------------- real programs */

/* Programs no one here wrote are traced with the plain build of the
 * interposer: an ASan-built one brings the ASan runtime into programs not
 * built with it (curl then deadlocks in setlocale under that runtime). */
static void plain_interposer(void)
{
    const char *plain = getenv("SOCK_PLAIN_BUILD");
    char lib[PATH_MAX];
    if (plain && snprintf(lib, sizeof lib, "%s/libsocktrace.so", plain) < (int)sizeof lib &&
        access(lib, R_OK) == 0) {
        char abs[PATH_MAX];
        if (realpath(lib, abs))
            setenv("SOCK_TRACE_LIB", abs, 1);
    }
    /* And the ASan runtime of a sanitized sock is no business of theirs. */
    setenv("ASAN_OPTIONS", "detect_leaks=0", 1);
}

/* Wait until file holds needle (at most 10 s); returns its text. */
static char *wait_file(const char *file, const char *needle)
{
    for (int i = 0; i < 200; i++) {
        FILE *f = fopen(file, "r");
        if (f) {
            fclose(f);
            char *t = slurp(file);
            if (strstr(t, needle))
                return t;
            free(t);
        }
        usleep(50 * 1000);
    }
    cr_assert_fail("no '%s' in %s", needle, file);
    return NULL;
}

static int port_after(const char *text, const char *needle)
{
    const char *p = strstr(text, needle);
    cr_assert(p, "no '%s' in:\n%s", needle, text);
    return atoi(p + strlen(needle));
}

Test(trace, real_curl_and_python_http_server, .timeout = 60)
{
    cr_assert(have_command("curl") && have_command("python3"));
    plain_interposer();
    char sfile[128], cfile[128];
    temp_path(sfile, sizeof sfile, "py");
    temp_path(cfile, sizeof cfile, "curl");
    proc_t py;
    char *pargs[] = {(char *)sock_bin(), "trace", "-o", sfile, "--", "python3", "-u", "-m",
                     "http.server", "--bind", "127.0.0.1", "0", NULL};
    cr_assert_eq(proc_start(&py, pargs), 0);
    char *t = wait_file(sfile, "acep.listen(");
    int port = port_after(t, "the kernel chose port ");
    free(t);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", port);
    char *plain[] = {"curl", "-s", url, NULL};
    char *traced[] = {(char *)sock_bin(), "trace", "-o", cfile, "--", "curl", "-s", url, NULL};
    char *a = NULL, *b = NULL;
    size_t na, nb;
    cr_assert_eq(proc_run(plain, NULL, 0, &a, &na, NULL, 20000), 0);
    cr_assert_eq(proc_run(traced, NULL, 0, &b, &nb, NULL, 20000), 0);
    cr_assert(na > 0 && na == nb && memcmp(a, b, na) == 0, "curl's output changed under the trace");
    free(a);
    free(b);
    t = slurp(cfile);
    cr_assert(strstr(t, "cli.connect(\"127.0.0.1\", "), "%s", t);
    cr_assert(strstr(t, "cli.send(") && strstr(t, "\"GET / HTTP/1.1"), "%s", t);
    free(t);
    t = wait_file(sfile, "srv2 = acep.accept");
    cr_assert(strstr(t, "srv = acep.accept"), "%s", t);
    free(t);
    proc_kill(&py);
    unlink(sfile);
    unlink(cfile);
}

/* A client program (nc, socat) sends "hello\n" to c_server, traced and
 * not: the same output both ways, and its steps in the trace. */
static void client_both_ways(char *const plain[], char *const traced[], const char *tfile)
{
    for (int round = 0; round < 2; round++) {
        proc_t srv;
        char *sargs[] = {(char *)program("c_server"), "0", "1", "none", NULL};
        int port = start_server(&srv, NULL, sargs);
        char ports[16];
        snprintf(ports, sizeof ports, "%d", port);
        /* "PORT" inside an argument becomes the server's port. */
        char *argv[16], words[16][128];
        char *const *src = round ? traced : plain;
        int n = 0;
        for (; src[n] && n < 15; n++) {
            const char *at = strstr(src[n], "PORT");
            if (at)
                snprintf(words[n], sizeof words[n], "%.*s%s%s", (int)(at - src[n]), src[n],
                         ports, at + 4);
            else
                snprintf(words[n], sizeof words[n], "%s", src[n]);
            argv[n] = words[n];
        }
        argv[n] = NULL;
        char *out = NULL;
        int rc = proc_run(argv, "hello\n", 6, &out, NULL, NULL, 20000);
        cr_assert_eq(rc, 0, "%s ended with %d", argv[0], rc);
        cr_assert_str_eq(out, "echo: hello\n");
        free(out);
        cr_assert_eq(proc_wait(&srv, 10000), 0);
    }
    char *t = slurp(tfile);
    unlink(tfile);
    cr_assert(strstr(t, "cli.connect(\"127.0.0.1\", "), "%s", t);
    cr_assert(strstr(t, "\"hello\\n\""), "%s", t);
    cr_assert(strstr(t, "\"echo: hello\\n\""), "%s", t);
    free(t);
}

Test(trace, real_nc_and_socat_clients, .timeout = 60)
{
    cr_assert(have_command("nc") && have_command("socat"));
    plain_interposer();
    char tfile[128];
    temp_path(tfile, sizeof tfile, "nc");
    char *nc[] = {"nc", "-N", "127.0.0.1", "PORT", NULL};
    char *nct[] = {(char *)sock_bin(), "trace", "-o", tfile, "--", "nc", "-N", "127.0.0.1",
                   "PORT", NULL};
    client_both_ways(nc, nct, tfile);
    char *so[] = {"socat", "-", "TCP:127.0.0.1:PORT", NULL};
    char *sot[] = {(char *)sock_bin(), "trace", "-o", tfile, "--", "socat", "-",
                   "TCP:127.0.0.1:PORT", NULL};
    client_both_ways(so, sot, tfile);
}

Test(trace, real_nc_listener_and_ss_agree, .timeout = 60)
{
    cr_assert(have_command("nc") && have_command("ss"));
    plain_interposer();
    char tfile[128];
    temp_path(tfile, sizeof tfile, "ncl");
    proc_t nc;
    char *args[] = {(char *)sock_bin(), "trace", "-o", tfile, "--", "nc", "-l", "127.0.0.1",
                    "0", NULL};
    cr_assert_eq(proc_start(&nc, args), 0);
    char *t = wait_file(tfile, "acep.listen(");
    int port = port_after(t, "the kernel chose port ");
    cr_assert(strstr(t, "LISTEN  local 127.0.0.1:"), "%s", t);
    free(t);
    /* ss sees the same listener, in the same state, on the same port. */
    char filter[64];
    snprintf(filter, sizeof filter, "sport = :%d", port);
    char *ss[] = {"ss", "-Htan", filter, NULL};
    char *out = NULL;
    cr_assert_eq(proc_run(ss, NULL, 0, &out, NULL, NULL, 10000), 0);
    char want[64];
    snprintf(want, sizeof want, "127.0.0.1:%d", port);
    cr_assert(strstr(out, "LISTEN") && strstr(out, want), "ss says: %s", out);
    free(out);

    /* A client connects: the accepted socket's 4-tuple and state agree. */
    proc_t cli;
    char ports[16];
    snprintf(ports, sizeof ports, "%d", port);
    char *cargs[] = {"nc", "127.0.0.1", ports, NULL};
    cr_assert_eq(proc_start(&cli, cargs), 0);
    t = wait_file(tfile, "srv = acep.accept");
    int cport = port_after(t, "peer 127.0.0.1:");
    cr_assert(strstr(t, "ESTABLISHED  local 127.0.0.1:"), "%s", t);
    free(t);
    out = NULL;
    cr_assert_eq(proc_run(ss, NULL, 0, &out, NULL, NULL, 10000), 0);
    char tuple[64];
    snprintf(tuple, sizeof tuple, "127.0.0.1:%d", cport);
    cr_assert(strstr(out, "ESTAB") && strstr(out, tuple), "ss says: %s (peer port %d)", out,
              cport);
    free(out);
    cr_assert_eq(write(cli.in, "hi\n", 3), 3);
    close(cli.in);
    cli.in = -1;
    char buf[64] = "";
    cr_assert(proc_wait_for(nc.out, "hi", buf, sizeof buf, 10000), "nc -l under the trace got: %s",
              buf);
    proc_kill(&cli);
    proc_kill(&nc);
    unlink(tfile);
}

/* ------------------------------------------- options and processes */

/* c_server serving one client; the client run as given (argv, traced to
 * the file it names).  Returns the server's port through *port. */
static void serve_one(proc_t *srv, int *port)
{
    char *sargs[] = {(char *)program("c_server"), "0", "1", "none", NULL};
    *port = start_server(srv, NULL, sargs);
}

Test(trace, svg_is_valid_and_names_the_steps, .timeout = 60)
{
    cr_assert(have_command("xmllint"));
    char tfile[128], sfile[128];
    temp_path(tfile, sizeof tfile, "svgtrace");
    temp_path(sfile, sizeof sfile, "svg");
    proc_t srv;
    int port;
    serve_one(&srv, &port);
    char ports[16];
    snprintf(ports, sizeof ports, "%d", port);
    char *argv[] = {(char *)sock_bin(), "trace", "-o", tfile, "--svg", sfile, "--",
                    (char *)program("c_client"), "127.0.0.1", ports, NULL};
    cr_assert_eq(proc_run(argv, NULL, 0, NULL, NULL, NULL, 20000), 0);
    cr_assert_eq(proc_wait(&srv, 10000), 0);
    char *lint[] = {"xmllint", "--noout", sfile, NULL};
    char *err = NULL;
    int rc = proc_run(lint, NULL, 0, NULL, NULL, &err, 20000);
    cr_assert_eq(rc, 0, "xmllint: %s", err ? err : "");
    free(err);
    char *svg = slurp(sfile);
    unlink(sfile);
    unlink(tfile);
    cr_assert(strstr(svg, "<svg"), "%s", svg);
    cr_assert(strstr(svg, "cli = socket(AF_INET, SOCK_STREAM)"), "%s", svg);
    cr_assert(strstr(svg, "cli.connect(&quot;127.0.0.1&quot;"), "%s", svg);
    cr_assert(strstr(svg, "cli.send(6)"), "%s", svg);
    cr_assert(strstr(svg, "cli.close()"), "%s", svg);
    free(svg);
}

Test(trace, hexdump_of_data_steps, .timeout = 60)
{
    char tfile[128];
    temp_path(tfile, sizeof tfile, "hex");
    proc_t srv;
    int port;
    serve_one(&srv, &port);
    char ports[16];
    snprintf(ports, sizeof ports, "%d", port);
    char *argv[] = {(char *)sock_bin(), "trace", "-x", "-o", tfile, "--",
                    (char *)program("c_client"), "127.0.0.1", ports, NULL};
    cr_assert_eq(proc_run(argv, NULL, 0, NULL, NULL, NULL, 20000), 0);
    cr_assert_eq(proc_wait(&srv, 10000), 0);
    char *t = slurp(tfile);
    unlink(tfile);
    /* The line sent, then the answer, each under its step. */
    const char *send = strstr(t, "cli.send(6)");
    cr_assert(send, "%s", t);
    const char *hex = strstr(send, "\n        0000  68 65 6c 6c 6f 0a ");
    cr_assert(hex && strstr(hex, "|hello.|"), "no hexdump of the send:\n%s", t);
    cr_assert(strstr(t, "0000  65 63 68 6f 3a 20 68 65 6c 6c 6f 0a "), "%s", t);
    cr_assert(strstr(t, "|echo: hello.|"), "%s", t);
    assert_clean(t);
    free(t);
}

Test(trace, fork_exec_child_lines_carry_its_pid, .timeout = 60)
{
    char tfile[128];
    temp_path(tfile, sizeof tfile, "fork");
    proc_t srv;
    int port;
    serve_one(&srv, &port);
    /* sh forks, and the child execs the client: both are traced. */
    char cmd[PATH_MAX + 64];
    snprintf(cmd, sizeof cmd, "%s 127.0.0.1 %d; true", program("c_client"), port);
    char *argv[] = {(char *)sock_bin(), "trace", "-o", tfile, "--", "sh", "-c", cmd, NULL};
    cr_assert_eq(proc_run(argv, NULL, 0, NULL, NULL, NULL, 20000), 0);
    cr_assert_eq(proc_wait(&srv, 10000), 0);
    char *t = slurp(tfile);
    unlink(tfile);
    const char *runs = strstr(t, "-- pid ");
    cr_assert(runs, "%s", t);
    int shell = atoi(runs + 7);
    char needle[64];
    snprintf(needle, sizeof needle, "runs %s", program("c_client"));
    const char *child = strstr(t, needle);
    cr_assert(child, "the exec'd child is not announced:\n%s", t);
    /* "-- pid N runs ..." just before it names the child. */
    const char *line = child;
    while (line > t && line[-1] != '\n')
        line--;
    int pid = atoi(strstr(line, "pid ") + 4);
    cr_assert(pid > 0 && pid != shell, "%s", t);
    snprintf(needle, sizeof needle, "[pid %d] cli = socket(AF_INET, SOCK_STREAM)", pid);
    cr_assert(strstr(t, needle), "no '%s' in:\n%s", needle, t);
    snprintf(needle, sizeof needle, "[pid %d] cli.send(6)", pid);
    cr_assert(strstr(t, needle), "no '%s' in:\n%s", needle, t);
    assert_clean(t);
    free(t);
}

Test(trace, descriptor_growth_at_accept, .timeout = 60)
{
    /* A server that keeps running and leaks each client's socket: at the
     * third accept, two earlier clients have closed and their sockets are
     * still open.  It never exits here, so that is the only warning. */
    char tfile[128];
    temp_path(tfile, sizeof tfile, "growth");
    unlink(tfile);
    proc_t srv;
    char *sargs[] = {(char *)program("cpp_server"), "0", "leak", NULL};
    int port = start_server(&srv, tfile, sargs);
    for (int i = 0; i < 3; i++) {
        char *out = NULL;
        cr_assert_eq(run_client(port, "hangup", NULL, &out), 0);
        free(out);
        /* Each client's end of stream is seen before the next connects. */
        char *t = NULL;
        for (int k = 0; k < 200; k++) {
            free(t);
            t = slurp(tfile);
            if (count(t, "end of stream") > i)
                break;
            usleep(50 * 1000);
        }
        cr_assert_gt(count(t, "end of stream"), i, "%s", t);
        free(t);
    }
    free(wait_file(tfile, "!! "));
    kill(srv.pid, SIGTERM);
    cr_assert_eq(proc_wait(&srv, 10000), 128 + SIGTERM);
    char *t = slurp(tfile);
    unlink(tfile);
    cr_assert_eq(count(t, "!! "), 1, "%s", t);
    cr_assert(strstr(t, "2 earlier clients have closed but their sockets are still open"), "%s",
              t);
    cr_assert(strstr(mistake_step(t), "srv3 = acep.accept()"), "the step named is '%s':\n%s",
              mistake_step(t), t);
    free(t);
}
