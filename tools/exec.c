/*
 * exec.c - run a command on a connection for --exec; see exec.h.
 */
#include "exec.h"

#include "cli.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* The child between fork and exec may share the process with the
 * library's resolver thread, so it calls only async-signal-safe functions:
 * the message is made before the fork. */
static void child_run(int fd, const char *command, const char *fail, size_t fail_len)
{
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    /* main.c ignores SIGPIPE for itself; a command expects the default. */
    signal(SIGPIPE, SIG_DFL);
    /* dup2 leaves the copies open across exec, the original (CLOEXEC)
     * closes there. */
    if (dup2(fd, STDIN_FILENO) < 0 || dup2(fd, STDOUT_FILENO) < 0)
        _exit(127);
    execl("/bin/sh", "sh", "-c", command, (char *)NULL);
    ssize_t w = write(STDERR_FILENO, fail, fail_len);
    (void)w;
    _exit(127);
}

pid_t exec_start(const char *cmd, const char *command, sock_t *s)
{
    int fd = sock_fd(s);
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0) {
        tool_err(cmd, "--exec: cannot prepare the connection: %s", strerror(errno));
        return -1;
    }
    char fail[160];
    int n = snprintf(fail, sizeof fail, "sock %s: --exec: cannot run /bin/sh\n", cmd);
    /* Whatever is buffered for stdout or stderr is written once, by us. */
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        tool_err(cmd, "--exec %s: cannot start it: %s", tool_quote(command), strerror(errno));
        return -1;
    }
    if (pid == 0)
        child_run(fd, command, fail, (size_t)n);
    return pid;
}

int exec_report(const char *cmd, const char *command, pid_t pid, const char *client, int status,
                int verbose)
{
    char who[SOCK_ADDRSTRLEN + 64] = "";
    if (client)
        snprintf(who, sizeof who, " for %s", client);
    if (WIFSIGNALED(status)) {
        int sig = WTERMSIG(status);
        tool_err(cmd, "--exec %s (pid %ld%s) killed by signal %d (%s)", tool_quote(command),
                 (long)pid, who, sig, strsignal(sig));
        return 128 + sig;
    }
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : EXIT_NET;
    /* The shell's own statuses for a command it could not run. */
    if (code == 127)
        tool_err(cmd, "--exec %s (pid %ld%s) exited 127: the command was not found (or /bin/sh "
                      "could not run)", tool_quote(command), (long)pid, who);
    else if (code == 126)
        tool_err(cmd, "--exec %s (pid %ld%s) exited 126: the command is not executable",
                 tool_quote(command), (long)pid, who);
    else if (code != 0 || verbose)
        tool_err(cmd, "--exec %s (pid %ld%s) exited %d", tool_quote(command), (long)pid, who,
                 code);
    return code;
}

int exec_wait(const char *cmd, const char *command, pid_t pid, const char *client, int verbose)
{
    int status;
    pid_t r;
    while ((r = waitpid(pid, &status, 0)) < 0 && errno == EINTR)
        ;
    if (r < 0) {
        tool_err(cmd, "--exec: cannot wait for pid %ld: %s", (long)pid, strerror(errno));
        return EXIT_NET;
    }
    return exec_report(cmd, command, pid, client, status, verbose);
}
