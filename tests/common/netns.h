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

/* The IPv6 address enter_private_namespaces() gives loopback: the
 * documentation prefix, so a test has a second family to reach. */
#define TEST_V6 "2001:db8::1"

/* New network and mount namespaces for the calling process: loopback up
 * with TEST_V6 added, and mounts private, so that replace_etc_file() and
 * nft rules vanish with the test.  Skips the test when not root. */
void enter_private_namespaces(void);

/* Put text in place of /etc/NAME (hosts, resolv.conf) for this process's
 * mount namespace (after enter_private_namespaces()). */
void replace_etc_file(const char *name, const char *text);

/* Drop incoming TCP segments matching an nft expression, e.g.
 * "ip6 daddr 2001:db8::1 tcp dport 8080", in this network namespace.
 * Skips the test when nft cannot. */
void drop_tcp_to(const char *match);

/* The threads of this process (/proc/self/task). */
int count_threads(void);

/* A name server on 127.0.0.1:53 of this namespace that reads every query
 * and answers none; its count of queries; stop and release it. */
struct mute_dns;
struct mute_dns *mute_dns_start(void);
int mute_dns_queries(const struct mute_dns *m);
void mute_dns_stop(struct mute_dns *m);

#endif
