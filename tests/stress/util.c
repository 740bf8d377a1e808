/*
 * util.c - helpers shared by the stress suites; see util.h for each one's
 * contract.
 */
#include "util.h"

#include "../tool/harness.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------ work directory */

static char work_dir[64];

void workdir_up(const char *prefix)
{
    snprintf(work_dir, sizeof work_dir, "/tmp/%s-XXXXXX", prefix);
    cr_assert_not_null(mkdtemp(work_dir), "mkdtemp %s: %s", work_dir, strerror(errno));
}

const char *workdir(void)
{
    return work_dir;
}

void workdir_path(char *buf, size_t len, const char *name)
{
    snprintf(buf, len, "%s/%s", work_dir, name);
}

void workdir_down(void)
{
    if (!work_dir[0])
        return;
    char *argv[] = {"rm", "-rf", work_dir, NULL};
    proc_run(argv, NULL, 0, NULL, NULL, NULL, 30000);
    work_dir[0] = '\0';
}

/* ------------------------------------------------------ child processes */

static pid_t children[8];

static void remember(pid_t pid)
{
    for (size_t i = 0; i < sizeof children / sizeof children[0]; i++)
        if (children[i] == 0) {
            children[i] = pid;
            return;
        }
}

static void forget(pid_t pid)
{
    for (size_t i = 0; i < sizeof children / sizeof children[0]; i++)
        if (children[i] == pid)
            children[i] = 0;
}

/* Both spawns: the streams are the descriptors fd[], or when paths is not
 * NULL the files it names, opened in the child. */
static pid_t spawn_child(char *const argv[], const int fd[3], const char *const paths[3])
{
    pid_t pid = fork();
    cr_assert_geq(pid, 0, "fork: %s", strerror(errno));
    if (pid == 0) {
        /* Never outlive the test process; and a group of its own, so that
         * a kill reaches what it started too (strace's tracee goes on
         * when strace alone is killed). */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        setpgid(0, 0);
        int in = fd[0], out = fd[1], err = fd[2];
        if (paths) {
            in = open(paths[0], O_RDONLY | O_CLOEXEC);
            out = open(paths[1], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
            err = open(paths[2], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
            if (in < 0 || out < 0 || err < 0)
                _exit(126);
        }
        dup2(in, 0), dup2(out, 1), dup2(err, 2);
        execvp(argv[0], argv);
        _exit(127);
    }
    remember(pid);
    return pid;
}

pid_t spawn_fds(char *const argv[], int in, int out, int err)
{
    const int fd[3] = {in, out, err};
    return spawn_child(argv, fd, NULL);
}

pid_t spawn_files(char *const argv[], const char *in, const char *out, const char *err)
{
    const int fd[3] = {-1, -1, -1};
    const char *const paths[3] = {in, out, err};
    return spawn_child(argv, fd, paths);
}

int wait_exit(pid_t pid, int timeout_ms)
{
    int64_t end = now_ms() + timeout_ms;
    int st, rc = -1;
    for (;;) {
        if (waitpid(pid, &st, WNOHANG) == pid) {
            rc = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
            break;
        }
        if (now_ms() >= end) {
            kill(-pid, SIGKILL);
            kill(pid, SIGKILL);
            while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
                ;
            break;
        }
        sleep_ms(5);
    }
    forget(pid);
    return rc;
}

void kill_children(void)
{
    for (size_t i = 0; i < sizeof children / sizeof children[0]; i++) {
        if (children[i] > 0) {
            kill(-children[i], SIGKILL);
            kill(children[i], SIGKILL);
            while (waitpid(children[i], NULL, 0) < 0 && errno == EINTR)
                ;
            children[i] = 0;
        }
    }
}

/* ------------------------------------------------------------ files */

char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "re");
    size_t cap = 65536, used = 0;
    char *buf = malloc(cap + 1);
    cr_assert_not_null(buf);
    if (f) {
        size_t n;
        while ((n = fread(buf + used, 1, cap - used, f)) > 0) {
            used += n;
            if (used == cap) {
                buf = realloc(buf, (cap *= 2) + 1);
                cr_assert_not_null(buf);
            }
        }
        fclose(f);
    }
    buf[used] = '\0';
    if (len)
        *len = used;
    return buf;
}

void make_input(const char *path, size_t len)
{
    FILE *f = fopen(path, "we");
    cr_assert_not_null(f, "%s: %s", path, strerror(errno));
    static uint64_t block[8192];
    uint64_t x = 0x9e3779b97f4a7c15ull;
    for (size_t done = 0; done < len;) {
        for (size_t i = 0; i < sizeof block / sizeof block[0]; i++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            block[i] = x;
        }
        size_t n = len - done < sizeof block ? len - done : sizeof block;
        cr_assert_eq(fwrite(block, 1, n, f), n, "writing %s: %s", path, strerror(errno));
        done += n;
    }
    cr_assert_eq(fclose(f), 0);
}

void expect_same_file(const char *want_path, const char *got_path)
{
    FILE *w = fopen(want_path, "re"), *g = fopen(got_path, "re");
    cr_assert(w && g, "cannot open %s or %s", want_path, got_path);
    static char bw[1 << 20], bg[1 << 20];
    unsigned long long off = 0;
    for (;;) {
        size_t nw = fread(bw, 1, sizeof bw, w), ng = fread(bg, 1, sizeof bg, g);
        size_t n = nw < ng ? nw : ng;
        if (memcmp(bw, bg, n) != 0) {
            size_t i = 0;
            while (bw[i] == bg[i])
                i++;
            fclose(w), fclose(g);
            cr_assert_fail("the data differ first at byte %llu", off + i);
        }
        off += n;
        if (nw != ng) {
            struct stat sw, sg;
            stat(want_path, &sw), stat(got_path, &sg);
            fclose(w), fclose(g);
            cr_assert_fail("sizes differ: sent %lld bytes, received %lld (the first %llu equal)",
                           (long long)sw.st_size, (long long)sg.st_size, off);
        }
        if (nw == 0)
            break;
    }
    fclose(w), fclose(g);
}
