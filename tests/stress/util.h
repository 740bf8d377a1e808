/*
 * util.h - helpers shared by the stress suites (test_faults.c,
 * test_netns.c, test_lifecycle.c): clocks, a per-test work directory, child
 * processes that never outlive the test, and input files compared byte for
 * byte.
 *
 * Everything here asserts with Criterion on a setup failure, so it is meant
 * for test bodies and their .fini, in the test's own process.  The work
 * directory and the table of children are per process: one test at a time,
 * as Criterion runs each test in a process of its own.
 */
#ifndef SOCK_STRESS_UTIL_H
#define SOCK_STRESS_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Clocks, sleeps, descriptor counts, bounded joins and loopback_up() are
 * the unit tests' helpers (tests/unit/util.c, linked into the stress
 * suite too). */
#include "../unit/util.h"

/* ------------------------------------------------------ work directory */

/* Create the work directory /tmp/PREFIX-XXXXXX (asserts on failure). */
void workdir_up(const char *prefix);

/* Its path, "" when there is none. */
const char *workdir(void);

/* buf = WORKDIR/name (truncated to len). */
void workdir_path(char *buf, size_t len, const char *name);

/* Remove the work directory and all in it; safe to call twice or when it
 * was never created. */
void workdir_down(void);

/* ------------------------------------------------------ child processes */

/* Start argv[0] (searched in PATH) with the descriptors in, out and err as
 * its stdin, stdout and stderr; the caller keeps (and closes) its own.  The
 * child gets SIGKILL when the test process dies, and is remembered for
 * kill_children().  Asserts that fork() worked; a failed exec exits 127. */
pid_t spawn_fds(char *const argv[], int in, int out, int err);

/* The same with the streams on files, opened in the child: in for reading,
 * out and err created or truncated.  A file that cannot be opened makes the
 * child exit 126. */
pid_t spawn_files(char *const argv[], const char *in, const char *out, const char *err);

/* Wait for a child at most timeout_ms, then kill (SIGKILL) and reap it.
 * Returns its exit status, 128+signal when a signal ended it, or -1 when it
 * had to be killed.  Either way it is no longer remembered. */
int wait_exit(pid_t pid, int timeout_ms);

/* SIGKILL and reap every child still remembered (for a test's .fini). */
void kill_children(void);

/* ------------------------------------------------------------ files */

/* The whole file as a malloc'd NUL-terminated string, its length in *len
 * (when not NULL); "" (length 0) when the file is missing. */
char *slurp(const char *path, size_t *len);

/* Write a file of len pseudo-random bytes (xorshift64: incompressible and
 * position-dependent, so that a lost, repeated or misplaced block shows in
 * a comparison).  The same len always gives the same bytes. */
void make_input(const char *path, size_t len);

/* Assert that two files hold the same bytes, naming the first differing
 * offset or both sizes otherwise.  Streams them: any size works. */
void expect_same_file(const char *want_path, const char *got_path);

#endif
