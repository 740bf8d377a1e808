/* harness.c - child processes for the tool tests; see harness.h. */
#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

const char *sock_bin(void)
{
    const char *p = getenv("SOCK_BIN");
    return p && *p ? p : "build/sock";
}

const char *examples_dir(void)
{
    const char *p = getenv("SOCK_EXAMPLES");
    return p && *p ? p : "build/examples";
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int proc_start(proc_t *p, char *const argv[])
{
    int in[2], out[2], err[2];
    /* Writing to a child that already exited must fail with EPIPE, not kill
     * the test process (the test process, not the library, decides this). */
    signal(SIGPIPE, SIG_IGN);
    if (pipe2(in, O_CLOEXEC) < 0)
        return -errno;
    if (pipe2(out, O_CLOEXEC) < 0) {
        int e = errno;
        close(in[0]), close(in[1]);
        return -e;
    }
    if (pipe2(err, O_CLOEXEC) < 0) {
        int e = errno;
        close(in[0]), close(in[1]), close(out[0]), close(out[1]);
        return -e;
    }
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close(in[0]), close(in[1]), close(out[0]), close(out[1]);
        close(err[0]), close(err[1]);
        return -e;
    }
    if (pid == 0) {
        /* A child must never outlive a test that dies: ask the kernel to
         * kill it when the test process goes away. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        dup2(in[0], 0);
        dup2(out[1], 1);
        dup2(err[1], 2);
        signal(SIGPIPE, SIG_DFL);
        execvp(argv[0], argv);
        fprintf(stderr, "harness: exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    close(in[0]), close(out[1]), close(err[1]);
    p->pid = pid;
    p->in = in[1];
    p->out = out[0];
    p->err = err[0];
    return 0;
}

int proc_wait_for(int fd, const char *needle, char *buf, size_t len, int timeout_ms)
{
    size_t used = strlen(buf);
    long long end = now_ms() + timeout_ms;
    for (;;) {
        if (strstr(buf, needle))
            return 1;
        long long left = end - now_ms();
        if (left <= 0 || used + 1 >= len)
            return 0;
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int r = poll(&pfd, 1, (int)left);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return 0;
        ssize_t n = read(fd, buf + used, len - 1 - used);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return strstr(buf, needle) != NULL;
        used += (size_t)n;
        buf[used] = '\0';
    }
}

char *proc_read_all(int fd, size_t *n, int timeout_ms)
{
    size_t cap = 4096, used = 0;
    char *buf = malloc(cap);
    if (!buf)
        return NULL;
    long long end = now_ms() + timeout_ms;
    for (;;) {
        long long left = end - now_ms();
        if (left <= 0) {
            free(buf);
            return NULL;
        }
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int r = poll(&pfd, 1, (int)left);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            free(buf);
            return NULL;
        }
        if (used + 1 >= cap) {
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                return NULL;
            }
            buf = nb;
            cap *= 2;
        }
        ssize_t k = read(fd, buf + used, cap - 1 - used);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            break;
        used += (size_t)k;
    }
    buf[used] = '\0';
    if (n)
        *n = used;
    return buf;
}

static void close_pipes(proc_t *p)
{
    if (p->in >= 0)
        close(p->in);
    if (p->out >= 0)
        close(p->out);
    if (p->err >= 0)
        close(p->err);
    p->in = p->out = p->err = -1;
}

static int decode(int st)
{
    if (WIFEXITED(st))
        return WEXITSTATUS(st);
    if (WIFSIGNALED(st))
        return 128 + WTERMSIG(st);
    return -1;
}

int proc_wait(proc_t *p, int timeout_ms)
{
    long long end = now_ms() + timeout_ms;
    int st;
    for (;;) {
        pid_t r = waitpid(p->pid, &st, WNOHANG);
        if (r == p->pid) {
            close_pipes(p);
            return decode(st);
        }
        if (now_ms() >= end)
            break;
        struct timespec ts = {0, 5 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    proc_kill(p);
    return -1;
}

void proc_kill(proc_t *p)
{
    if (p->pid > 0) {
        kill(p->pid, SIGKILL);
        while (waitpid(p->pid, NULL, 0) < 0 && errno == EINTR)
            ;
        p->pid = -1;
    }
    close_pipes(p);
}

/* Feed stdin and drain stdout/stderr together, so a child that writes a lot
 * before reading all its input never deadlocks against us. */
int proc_run(char *const argv[], const char *stdin_data, size_t stdin_len,
             char **out, size_t *outlen, char **err, int timeout_ms)
{
    proc_t p;
    if (proc_start(&p, argv) < 0)
        return -1;
    struct {
        char *buf;
        size_t len, cap;
    } acc[2] = {{NULL, 0, 0}, {NULL, 0, 0}};
    size_t fed = 0;
    if (!stdin_data || stdin_len == 0) {
        close(p.in);
        p.in = -1;
    }
    long long end = now_ms() + timeout_ms;
    int open_out = 1, open_err = 1, timed_out = 0;
    while (open_out || open_err) {
        struct pollfd pf[3];
        int n = 0, iout = -1, ierr = -1, iin = -1;
        if (open_out)
            pf[iout = n++] = (struct pollfd){.fd = p.out, .events = POLLIN};
        if (open_err)
            pf[ierr = n++] = (struct pollfd){.fd = p.err, .events = POLLIN};
        if (p.in >= 0)
            pf[iin = n++] = (struct pollfd){.fd = p.in, .events = POLLOUT};
        long long left = end - now_ms();
        if (left <= 0) {
            timed_out = 1;
            break;
        }
        int r = poll(pf, (nfds_t)n, (int)left);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            timed_out = 1;
            break;
        }
        if (iin >= 0 && pf[iin].revents) {
            ssize_t w = write(p.in, stdin_data + fed, stdin_len - fed);
            if (w > 0)
                fed += (size_t)w;
            if (w < 0 && errno != EINTR && errno != EAGAIN)
                fed = stdin_len;
            if (fed == stdin_len) {
                close(p.in);
                p.in = -1;
            }
        }
        for (int k = 0; k < 2; k++) {
            int idx = k == 0 ? iout : ierr;
            if (idx < 0 || !pf[idx].revents)
                continue;
            if (acc[k].len + 65536 + 1 > acc[k].cap) {
                size_t nc = acc[k].cap ? acc[k].cap * 2 : 131072;
                char *nb = realloc(acc[k].buf, nc);
                if (!nb)
                    continue;
                acc[k].buf = nb;
                acc[k].cap = nc;
            }
            ssize_t rd = read(pf[idx].fd, acc[k].buf + acc[k].len, 65536);
            if (rd > 0)
                acc[k].len += (size_t)rd;
            else if (rd == 0 || errno != EINTR) {
                if (k == 0)
                    open_out = 0;
                else
                    open_err = 0;
            }
        }
    }
    int status = timed_out ? (proc_kill(&p), -1) : proc_wait(&p, (int)(end - now_ms() > 0 ? end - now_ms() : 1));
    for (int k = 0; k < 2; k++) {
        if (!acc[k].buf)
            acc[k].buf = malloc(1);
        if (acc[k].buf)
            acc[k].buf[acc[k].len] = '\0';
    }
    if (out) {
        *out = acc[0].buf;
        if (outlen)
            *outlen = acc[0].len;
    } else
        free(acc[0].buf);
    if (err)
        *err = acc[1].buf;
    else
        free(acc[1].buf);
    return status;
}

int parse_listening_port(const char *text)
{
    const char *p = strstr(text, "listening on ");
    if (!p)
        return -1;
    const char *eol = strchr(p, '\n');
    const char *colon = NULL;
    for (const char *q = p; *q && (!eol || q < eol); q++)
        if (*q == ':')
            colon = q;
    if (!colon)
        return -1;
    return atoi(colon + 1);
}

int have_command(const char *cmd)
{
    char buf[512];
    snprintf(buf, sizeof buf, "command -v %s >/dev/null 2>&1", cmd);
    return system(buf) == 0;
}
