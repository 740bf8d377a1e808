/*
 * netns.h - private network namespaces for the tests (unit, tool, stress).
 *
 * Both helpers act on the calling process: Criterion runs every test in a
 * process of its own, so the namespace vanishes with the test, also when it
 * fails, and nothing is left to clean up.
 */
#ifndef SOCK_TEST_NETNS_H
#define SOCK_TEST_NETNS_H

/* Bring the loopback interface of this process's network namespace up (a
 * new namespace starts with it down).  An ioctl rather than a program (ip),
 * so that no package is needed. */
void loopback_up(void);

/* Move the calling process (and the programs it starts) into a new network
 * namespace of its own with only loopback up, before resolving a name that
 * is no literal and not in /etc/hosts: the resolver then finds no route to
 * its name server and fails at once, and no query leaves this machine.
 * Skips the test (rather than letting a query out) when namespaces are not
 * available (not root). */
void enter_offline_netns(void);

#endif
