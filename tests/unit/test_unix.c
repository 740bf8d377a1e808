/*
 * test_unix.c - Unix domain stream sockets in the same lifecycle: bind,
 * listen, accept, connect, the transfers, half-close, timeouts, the
 * shutdown wake, the poller; stale and live socket files, the file removed
 * at close, abstract names, paths too long, credentials, the file's mode.
 *
 * Every path is in a directory of the test's own, removed at the end.
 */
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char dir[64];

static void make_dir(void)
{
    snprintf(dir, sizeof dir, "/tmp/sock-unix-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
}

static void remove_dir(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    cr_assert_eq(system(cmd), 0);
}

TestSuite(unix_sock, .init = make_dir, .fini = remove_dir);

/* "unix:" + a path in the test's directory. */
static void host_for(char *buf, size_t len, const char *name)
{
    snprintf(buf, len, "unix:%s/%s", dir, name);
}

static void unix_listener(sock_t *a, const char *host)
{
    sock_init(a);
    expect_ok(a, sock_bind(a, host, NULL));
    expect_ok(a, sock_listen(a, 8));
}

Test(unix_sock, lifecycle_half_close_and_file_removed_at_close, .timeout = 10)
{
    char host[128];
    host_for(host, sizeof host, "app.sock");
    sock_t a, c, s;
    unix_listener(&a, host);
    struct stat st;
    cr_assert_eq(stat(host + 5, &st), 0);
    cr_assert(S_ISSOCK(st.st_mode));
    sock_init(&c);
    expect_ok(&c, sock_connect(&c, host, NULL));
    expect_ok(&a, sock_accept(&a, &s));
    char la[SOCK_ADDRSTRLEN], pa[SOCK_ADDRSTRLEN], cp[SOCK_ADDRSTRLEN];
    expect_ok(&a, sock_local_addr(&a, la, sizeof la));
    cr_assert_str_eq(la, host);
    expect_ok(&c, sock_peer_addr(&c, cp, sizeof cp));
    cr_assert_str_eq(cp, host);
    expect_ok(&s, sock_peer_addr(&s, pa, sizeof pa));
    cr_assert_str_eq(pa, "unix:(unnamed)");
    cr_assert_eq(sock_local_port(&s), -EAFNOSUPPORT);
    /* The deck's exchange: request, half-close, reply. */
    expect_ok(&c, sock_send_all(&c, "question", 8, NULL));
    expect_ok(&c, sock_shutdown(&c, SOCK_SHUT_WRITE));
    char buf[16];
    expect_ok(&s, sock_recv_all(&s, buf, 8, NULL));
    cr_assert_eq(sock_recv(&s, buf, sizeof buf), 0, "end of stream after the half-close");
    expect_ok(&s, sock_send_all(&s, "answer", 6, NULL));
    expect_ok(&c, sock_recv_all(&c, buf, 6, NULL));
    cr_assert_arr_eq(buf, "answer", 6);
    expect_ok(&s, sock_close(&s));
    cr_assert_eq(stat(host + 5, &st), 0, "closing an accepted socket removed the file");
    expect_ok(&c, sock_close(&c));
    expect_ok(&a, sock_close(&a));
    cr_assert_eq(stat(host + 5, &st), -1, "the acceptor's close left its file");
}

/* A server that died without closing leaves its socket file: the next
 * bind replaces it.  A live server's file is never taken over. */
Test(unix_sock, stale_file_replaced_live_server_kept, .timeout = 10)
{
    char host[128];
    host_for(host, sizeof host, "srv.sock");
    pid_t pid = fork();
    if (pid == 0) {
        sock_t dead;
        sock_init(&dead);
        _exit(sock_bind(&dead, host, NULL) == 0 && sock_listen(&dead, 1) == 0 ? 0 : 1);
    }
    int st;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    cr_assert_eq(st, 0);
    struct stat sb;
    cr_assert_eq(stat(host + 5, &sb), 0, "the dead server's file is there");
    sock_t a;
    unix_listener(&a, host); /* replaces the stale file */
    sock_t b;
    sock_init(&b);
    expect_code(&b, sock_bind(&b, host, NULL), -EADDRINUSE);
    cr_assert(strstr(sock_error(&b), "a server is accepting") != NULL, "%s", sock_error(&b));
    sock_close(&b);
    /* The live server still serves. */
    sock_t c, s;
    sock_init(&c);
    expect_ok(&c, sock_connect(&c, host, ""));
    expect_ok(&a, sock_accept(&a, &s));
    sock_close(&c), sock_close(&s), sock_close(&a);
}

/* Close removes only the file it created: one that a later server put at
 * the same path stays. */
Test(unix_sock, close_removes_only_its_own_file, .timeout = 10)
{
    char host[128];
    host_for(host, sizeof host, "x.sock");
    sock_t a, b;
    unix_listener(&a, host);
    cr_assert_eq(unlink(host + 5), 0); /* someone removed it... */
    unix_listener(&b, host);           /* ...and a new server came */
    expect_ok(&a, sock_close(&a));
    struct stat st;
    cr_assert_eq(stat(host + 5, &st), 0, "the old acceptor removed the new server's file");
    sock_t c;
    sock_init(&c);
    expect_ok(&c, sock_connect(&c, host, NULL));
    sock_close(&c);
    sock_close(&b);
}

Test(unix_sock, abstract_names, .timeout = 10)
{
    char host[64];
    snprintf(host, sizeof host, "unix:@sock-test-%d", (int)getpid());
    sock_t a, c, s;
    unix_listener(&a, host);
    char la[SOCK_ADDRSTRLEN];
    expect_ok(&a, sock_local_addr(&a, la, sizeof la));
    cr_assert_str_eq(la, host);
    sock_init(&c);
    expect_ok(&c, sock_connect(&c, host, NULL));
    expect_ok(&a, sock_accept(&a, &s));
    expect_ok(&c, sock_send_all(&c, "x", 1, NULL));
    char b;
    expect_ok(&s, sock_recv_all(&s, &b, 1, NULL));
    sock_close(&c), sock_close(&s), sock_close(&a);
    /* Gone with its socket: the name can be taken again. */
    unix_listener(&a, host);
    sock_close(&a);
}

Test(unix_sock, bad_names_are_clear_errors, .timeout = 10)
{
    char host[256];
    snprintf(host, sizeof host, "unix:%s/", dir);
    size_t n = strlen(host);
    memset(host + n, 'p', 120);
    host[n + 120] = '\0';
    sock_t s;
    sock_init(&s);
    expect_code(&s, sock_bind(&s, host, NULL), -ENAMETOOLONG);
    cr_assert(strstr(sock_error(&s), "107") != NULL, "%s", sock_error(&s));
    sock_close(&s);
    sock_init(&s);
    expect_code(&s, sock_connect(&s, host, NULL), -ENAMETOOLONG);
    sock_close(&s);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "test -z \"$(ls -A '%s')\"", dir);
    cr_assert_eq(system(cmd), 0, "a truncated path was created");
    sock_init(&s);
    expect_code(&s, sock_bind(&s, "unix:", NULL), -EINVAL);
    sock_close(&s);
    host_for(host, sizeof host, "p.sock");
    sock_init(&s);
    expect_code(&s, sock_bind(&s, host, "80"), -EINVAL);
    sock_close(&s);
    sock_init(&s);
    expect_code(&s, sock_connect(&s, host, NULL), -ENOENT);
    sock_close(&s);
    sock_init(&s);
    expect_ok(&s, sock_set_family(&s, AF_INET));
    expect_code(&s, sock_connect(&s, host, NULL), -EAFNOSUPPORT);
    sock_close(&s);
}

Test(unix_sock, credentials_and_mode, .timeout = 10)
{
    char host[128];
    host_for(host, sizeof host, "cred.sock");
    sock_t a, c, s;
    sock_init(&a);
    expect_ok(&a, sock_set_unix_mode(&a, 0640));
    expect_code(&a, sock_set_unix_mode(&a, 01777), -EINVAL);
    expect_ok(&a, sock_bind(&a, host, NULL));
    expect_ok(&a, sock_listen(&a, 4));
    struct stat st;
    cr_assert_eq(stat(host + 5, &st), 0);
    cr_assert_eq(st.st_mode & 0777, 0640u, "mode %o", st.st_mode & 0777);
    sock_init(&c);
    expect_ok(&c, sock_connect(&c, host, NULL));
    expect_ok(&a, sock_accept(&a, &s));
    pid_t pid = 0;
    uid_t uid = 99;
    gid_t gid = 99;
    expect_ok(&s, sock_peer_cred(&s, &pid, &uid, &gid));
    cr_assert_eq(pid, getpid());
    cr_assert_eq(uid, getuid());
    cr_assert_eq(gid, getgid());
    expect_ok(&c, sock_peer_cred(&c, &pid, NULL, NULL));
    cr_assert_eq(pid, getpid());
    sock_t t1, t2;
    pair_on("127.0.0.1", &t1, &t2);
    expect_code(&t1, sock_peer_cred(&t1, &pid, NULL, NULL), -EAFNOSUPPORT);
    sock_close(&t1), sock_close(&t2);
    sock_close(&c), sock_close(&s), sock_close(&a);
}

struct blocked {
    sock_t *a;
    int rc;
};

static void *accept_blocked(void *arg)
{
    struct blocked *b = arg;
    sock_t p;
    b->rc = sock_accept(b->a, &p);
    if (b->rc == 0)
        sock_close(&p);
    return NULL;
}

Test(unix_sock, timeouts_and_shutdown_wake, .timeout = 10)
{
    char host[128];
    host_for(host, sizeof host, "t.sock");
    sock_t a;
    unix_listener(&a, host);
    expect_ok(&a, sock_set_timeout(&a, 200));
    sock_t p;
    int64_t t0 = now_ms();
    expect_code(&a, sock_accept(&a, &p), -ETIMEDOUT);
    cr_assert_geq(now_ms() - t0, 200);
    expect_ok(&a, sock_set_timeout(&a, -1));
    struct blocked b = {.a = &a, .rc = 99};
    pthread_t t = spawn(accept_blocked, &b);
    sleep_ms(100);
    expect_ok(&a, sock_shutdown(&a, SOCK_SHUT_READ_WRITE));
    join_within(t, 5000);
    expect_code(&a, b.rc, SOCK_ECLOSED);
    sock_close(&a);
}

Test(unix_sock, nonblocking_and_poller, .timeout = 10)
{
    char host[128];
    host_for(host, sizeof host, "nb.sock");
    sock_t a, c, s;
    unix_listener(&a, host);
    expect_ok(&a, sock_set_nonblocking(&a, 1));
    sock_poller_t *p;
    cr_assert_eq(sock_poller_open(&p), 0);
    cr_assert_eq(sock_poller_add(p, &a, SOCK_READABLE, &a), 0);
    sock_init(&c);
    expect_ok(&c, sock_set_nonblocking(&c, 1));
    int rc = sock_connect(&c, host, NULL);
    cr_assert(rc == 0 || rc == -EINPROGRESS, "%d %s", rc, sock_error(&c));
    sock_event_t ev[2];
    cr_assert_eq(sock_poller_wait(p, ev, 2, 2000), 1);
    expect_ok(&a, sock_accept(&a, &s));
    if (rc == -EINPROGRESS)
        expect_ok(&c, sock_connect_finish(&c));
    char b;
    expect_code(&s, sock_recv(&s, &b, 1), -EAGAIN);
    expect_ok(&c, sock_send_all(&c, "z", 1, NULL));
    cr_assert_eq(sock_poller_add(p, &s, SOCK_READABLE, &s), 0);
    cr_assert_eq(sock_poller_wait(p, ev, 2, 2000), 1);
    cr_assert_eq(ev[0].user, &s);
    cr_assert_eq(sock_recv(&s, &b, 1), 1);
    sock_poller_close(p);
    sock_close(&c), sock_close(&s), sock_close(&a);
}

/* Finding a live server must not take one of its connections: a server
 * that serves one client is still waiting for its real one after another
 * bind was refused. */
Test(unix_sock, live_check_takes_no_connection, .timeout = 10)
{
    char host[128];
    host_for(host, sizeof host, "one.sock");
    sock_t a;
    unix_listener(&a, host);
    expect_ok(&a, sock_set_nonblocking(&a, 1));
    sock_t b;
    sock_init(&b);
    expect_code(&b, sock_bind(&b, host, NULL), -EADDRINUSE);
    sock_close(&b);
    sock_t p;
    expect_code(&a, sock_accept(&a, &p), -EAGAIN);
    sock_close(&a);
}

/* A pre-fork server's child closing its copy of the acceptor leaves the
 * parent's file in place. */
Test(unix_sock, forked_child_closing_keeps_the_file, .timeout = 10)
{
    char host[128];
    host_for(host, sizeof host, "fork.sock");
    sock_t a;
    unix_listener(&a, host);
    pid_t pid = fork();
    if (pid == 0)
        _exit(sock_close(&a) == 0 ? 0 : 1);
    int st;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    struct stat sb;
    cr_assert_eq(stat(host + 5, &sb), 0, "the child's close removed the parent's file");
    sock_t c;
    sock_init(&c);
    expect_ok(&c, sock_connect(&c, host, NULL));
    sock_close(&c);
    sock_close(&a);
    cr_assert_eq(stat(host + 5, &sb), -1);
}
