/*
 * harness.h - run the `sock` binary (and peers such as nc, socat, curl,
 * python3) as child processes from Criterion tests, with bounded waits.
 *
 * Every wait here has a time limit, and every child started with
 * proc_start() is killed by proc_kill()/proc_wait() so that a failing test
 * leaves nothing running.
 */
#ifndef SOCK_TEST_HARNESS_H
#define SOCK_TEST_HARNESS_H

#include <stddef.h>
#include <sys/types.h>

#include "../common/netns.h"

/* Path of the sock binary under test ($SOCK_BIN, else build/sock). */
const char *sock_bin(void);
/* Path of the examples directory ($SOCK_EXAMPLES, else build/examples). */
const char *examples_dir(void);

/* A running child with pipes to its stdin, stdout and stderr. */
typedef struct proc {
    pid_t pid;
    int in;   /* write end of its stdin, -1 once closed */
    int out;  /* read end of its stdout */
    int err;  /* read end of its stderr */
} proc_t;

/* Start argv[0] (searched in PATH) with argv.  Returns 0 or -errno. */
int proc_start(proc_t *p, char *const argv[]);

/* Read from fd until it holds a line containing needle, or timeout_ms
 * passes.  The text read so far (NUL-terminated) is appended to buf (len
 * bytes at most).  Returns 1 if found, 0 on timeout or EOF. */
int proc_wait_for(int fd, const char *needle, char *buf, size_t len, int timeout_ms);

/* Read fd to end of file, at most timeout_ms.  Returns a malloc'd buffer
 * (NUL-terminated) and its length in *n, or NULL on timeout. */
char *proc_read_all(int fd, size_t *n, int timeout_ms);

/* Wait for the child to exit, at most timeout_ms, then kill it (SIGKILL) if
 * it has not.  Closes the pipes.  Returns the exit status (0-255), 128+sig
 * if killed by a signal, or -1 on timeout (the child was killed). */
int proc_wait(proc_t *p, int timeout_ms);

/* Kill the child (SIGKILL) and reap it; closes the pipes. */
void proc_kill(proc_t *p);

/* Run argv to completion with stdin_data (may be NULL) as its input; store
 * malloc'd stdout and stderr (when out/err are not NULL).  Returns the exit
 * status as proc_wait(). */
int proc_run(char *const argv[], const char *stdin_data, size_t stdin_len,
             char **out, size_t *outlen, char **err, int timeout_ms);

/* Find "listening on ADDR" in text and return the port of ADDR, or -1. */
int parse_listening_port(const char *text);

/* 1 if cmd is found in PATH. */
int have_command(const char *cmd);

#endif
