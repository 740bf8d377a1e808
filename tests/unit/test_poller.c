/*
 * test_poller.c - the readiness loop: sockets and foreign descriptors,
 * level and edge triggering, a wake-up from another thread, a socket
 * closed while registered.
 */
#include "util.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

static sock_poller_t *open_poller(void)
{
    sock_poller_t *p = NULL;
    cr_assert_eq(sock_poller_open(&p), 0);
    cr_assert_not_null(p);
    return p;
}

/* The events for user among n events, or 0. */
static unsigned events_of(const sock_event_t *ev, int n, void *user)
{
    unsigned e = 0;
    for (int i = 0; i < n; i++)
        if (ev[i].user == user)
            e |= ev[i].events;
    return e;
}

FAMILY_TEST(poller, readable_writable_and_level_triggering, .timeout = 10)
{
    sock_t c, s;
    pair_on(host, &c, &s);
    sock_poller_t *p = open_poller();
    int tag_c, tag_s;
    cr_assert_eq(sock_poller_add(p, &c, SOCK_READABLE | SOCK_WRITABLE, &tag_c), 0);
    cr_assert_eq(sock_poller_add(p, &s, SOCK_READABLE, &tag_s), 0);
    cr_assert_eq(sock_poller_add(p, &s, SOCK_READABLE, &tag_s), -EEXIST);
    sock_event_t ev[8];
    int n = sock_poller_wait(p, ev, 8, 2000);
    cr_assert_eq(events_of(ev, n, &tag_c), SOCK_WRITABLE, "a fresh connection is writable");
    cr_assert_eq(events_of(ev, n, &tag_s), 0, "nothing to read yet");
    expect_ok(&c, sock_send_all(&c, "hi", 2, NULL));
    cr_assert_eq(sock_poller_modify(p, &c, 0, &tag_c), 0);
    n = sock_poller_wait(p, ev, 8, 2000);
    cr_assert_eq(n, 1);
    cr_assert_eq(ev[0].user, &tag_s);
    cr_assert(ev[0].events & SOCK_READABLE);
    /* Level-triggered: still readable at the next wait, until read. */
    n = sock_poller_wait(p, ev, 8, 0);
    cr_assert_eq(events_of(ev, n, &tag_s) & SOCK_READABLE, SOCK_READABLE);
    char buf[4];
    expect_ok(&s, sock_recv_all(&s, buf, 2, NULL));
    cr_assert_eq(sock_poller_wait(p, ev, 8, 0), 0, "nothing left to report");
    /* The peer's end of stream shows as readable + hang-up. */
    expect_ok(&c, sock_shutdown(&c, SOCK_SHUT_WRITE));
    n = sock_poller_wait(p, ev, 8, 2000);
    cr_assert_eq(events_of(ev, n, &tag_s) & (SOCK_READABLE | SOCK_HUP),
                 SOCK_READABLE | SOCK_HUP);
    cr_assert_eq(sock_poller_remove(p, &s), 0);
    cr_assert_eq(sock_poller_remove(p, &s), -ENOENT);
    sock_poller_close(p);
    sock_close(&c);
    sock_close(&s);
}

FAMILY_TEST(poller, edge_triggered_reports_each_change_once, .timeout = 10)
{
    sock_t c, s;
    pair_on(host, &c, &s);
    sock_poller_t *p = open_poller();
    int tag;
    cr_assert_eq(sock_poller_add(p, &s, SOCK_READABLE | SOCK_EDGE, &tag), 0);
    expect_ok(&c, sock_send_all(&c, "a", 1, NULL));
    sock_event_t ev[4];
    cr_assert_eq(sock_poller_wait(p, ev, 4, 2000), 1);
    cr_assert_eq(sock_poller_wait(p, ev, 4, 50), 0, "edge-triggered: no second report");
    expect_ok(&c, sock_send_all(&c, "b", 1, NULL));
    cr_assert_eq(sock_poller_wait(p, ev, 4, 2000), 1, "new data is a new edge");
    sock_poller_close(p);
    sock_close(&c);
    sock_close(&s);
}

/* Foreign descriptors: a pipe, with its user pointer. */
Test(poller, foreign_descriptor, .timeout = 10)
{
    int fds[2];
    cr_assert_eq(pipe(fds), 0);
    sock_poller_t *p = open_poller();
    int tag;
    cr_assert_eq(sock_poller_add_fd(p, fds[0], SOCK_READABLE, &tag), 0);
    sock_event_t ev[2];
    cr_assert_eq(sock_poller_wait(p, ev, 2, 0), 0);
    cr_assert_eq(write(fds[1], "x", 1), 1);
    cr_assert_eq(sock_poller_wait(p, ev, 2, 2000), 1);
    cr_assert_eq(ev[0].user, &tag);
    cr_assert(ev[0].events & SOCK_READABLE);
    close(fds[1]);
    char b;
    cr_assert_eq(read(fds[0], &b, 1), 1);
    cr_assert_eq(sock_poller_wait(p, ev, 2, 2000), 1);
    cr_assert(ev[0].events & SOCK_HUP, "the writer's close is a hang-up: %#x", ev[0].events);
    cr_assert_eq(sock_poller_add_fd(p, -1, SOCK_READABLE, NULL), -EBADF);
    cr_assert_eq(sock_poller_add_fd(p, fds[0], 0x1000, NULL), -EINVAL);
    cr_assert_eq(sock_poller_wait(p, ev, 0, 0), -EINVAL);
    sock_poller_close(p);
    close(fds[0]);
}

struct waiter {
    sock_poller_t *p;
    int rc;
    int64_t waited_ms;
};

static void *wait_forever(void *arg)
{
    struct waiter *w = arg;
    sock_event_t ev[4];
    int64_t t0 = now_ms();
    w->rc = sock_poller_wait(w->p, ev, 4, -1);
    w->waited_ms = now_ms() - t0;
    return NULL;
}

/* A thread blocked in wait with no timeout is woken from another; a wake
 * before any wait is kept for the next one. */
Test(poller, wake_from_another_thread, .timeout = 10)
{
    sock_poller_t *p = open_poller();
    struct waiter w = {.p = p, .rc = 99};
    pthread_t t = spawn(wait_forever, &w);
    sleep_ms(100);
    cr_assert_eq(w.rc, 99, "the wait returned before the wake-up");
    cr_assert_eq(sock_poller_wake(p), 0);
    join_within(t, 5000);
    cr_assert_eq(w.rc, 0, "a wake-up is no event");
    cr_assert_eq(sock_poller_wake(p), 0);
    cr_assert_eq(sock_poller_wake(p), 0);
    sock_event_t ev[1];
    cr_assert_eq(sock_poller_wait(p, ev, 1, -1), 0, "a wake before the wait is kept");
    cr_assert_eq(sock_poller_wait(p, ev, 1, 0), 0);
    sock_poller_close(p);
}

/* Closing a registered socket removes it: no event for it afterwards, and
 * its descriptor number can be registered again by a new socket. */
FAMILY_TEST(poller, socket_closed_while_registered, .timeout = 10)
{
    sock_t c, s;
    pair_on(host, &c, &s);
    sock_poller_t *p = open_poller();
    int tag_old, tag_new;
    cr_assert_eq(sock_poller_add(p, &s, SOCK_READABLE, &tag_old), 0);
    expect_ok(&c, sock_send_all(&c, "x", 1, NULL));
    int old_fd = sock_fd(&s);
    sock_close(&s);
    sock_event_t ev[4];
    cr_assert_eq(sock_poller_wait(p, ev, 4, 100), 0, "an event for a closed socket");
    sock_t c2, s2;
    pair_on(host, &c2, &s2);
    if (sock_fd(&s2) == old_fd || sock_fd(&c2) == old_fd) {
        sock_t *same = sock_fd(&s2) == old_fd ? &s2 : &c2;
        cr_assert_eq(sock_poller_add(p, same, SOCK_WRITABLE, &tag_new), 0,
                     "the number of a closed socket is free to register again");
        int n = sock_poller_wait(p, ev, 4, 2000);
        cr_assert_eq(events_of(ev, n, &tag_new), SOCK_WRITABLE);
        cr_assert_eq(events_of(ev, n, &tag_old), 0);
    }
    sock_poller_close(p);
    sock_close(&c);
    sock_close(&c2);
    sock_close(&s2);
}

/* The loop a server runs: an acceptor and its clients on one poller,
 * non-blocking, echoing; 50 clients at once, every byte back in order. */
FAMILY_TEST(poller, echo_server_loop, .timeout = 20)
{
    enum { CLIENTS = 50, ROUNDS = 20 };
    sock_t a;
    char port[8];
    /* Room for every client in the queue: they connect before the loop
     * runs. */
    sock_init(&a);
    expect_ok(&a, sock_bind(&a, host, "0"));
    expect_ok(&a, sock_listen(&a, CLIENTS));
    port_text(&a, port);
    expect_ok(&a, sock_set_nonblocking(&a, 1));
    sock_poller_t *p = open_poller();
    cr_assert_eq(sock_poller_add(p, &a, SOCK_READABLE, &a), 0);
    static sock_t cli[CLIENTS], srv[CLIENTS];
    for (int i = 0; i < CLIENTS; i++) {
        sock_init(&cli[i]);
        expect_ok(&cli[i], sock_connect(&cli[i], host, port));
    }
    int accepted = 0, echoed = 0;
    for (int round = 0; round < ROUNDS; round++) {
        for (int i = 0; i < CLIENTS; i++) {
            unsigned char msg[2] = {(unsigned char)i, (unsigned char)round};
            expect_ok(&cli[i], sock_send_all(&cli[i], msg, 2, NULL));
        }
        int want = (round + 1) * CLIENTS * 2; /* bytes */
        for (int spins = 0; spins < 10000 && echoed < want; spins++) {
            sock_event_t ev[64];
            int n = sock_poller_wait(p, ev, 64, 2000);
            cr_assert_gt(n, 0, "the loop stalled: %d echoed of %d", echoed, want);
            for (int k = 0; k < n; k++) {
                if (ev[k].user == &a) {
                    while (accepted < CLIENTS) {
                        int rc = sock_accept(&a, &srv[accepted]);
                        if (rc == -EAGAIN)
                            break;
                        expect_ok(&a, rc);
                        cr_assert_eq(sock_poller_add(p, &srv[accepted], SOCK_READABLE,
                                                     &srv[accepted]), 0);
                        accepted++;
                    }
                    continue;
                }
                sock_t *s = ev[k].user;
                unsigned char buf[64];
                ssize_t got = sock_recv(s, buf, sizeof buf);
                if (got == -EAGAIN)
                    continue;
                cr_assert_gt(got, 0, "recv: %zd %s", got, sock_error(s));
                /* These echoes are tiny: the socket always has room. */
                expect_ok(s, sock_send_all(s, buf, (size_t)got, NULL));
                echoed += (int)got;
            }
        }
        for (int i = 0; i < CLIENTS; i++) {
            unsigned char back[2];
            expect_ok(&cli[i], sock_recv_all(&cli[i], back, 2, NULL));
            cr_assert(back[0] == i && back[1] == round, "client %d got %d/%d", i, back[0],
                      back[1]);
        }
    }
    cr_assert_eq(accepted, CLIENTS);
    cr_assert_eq(echoed, CLIENTS * ROUNDS * 2);
    for (int i = 0; i < CLIENTS; i++) {
        sock_close(&cli[i]);
        sock_close(&srv[i]);
    }
    sock_poller_close(p);
    sock_close(&a);
}

/* Waiting to write to a peer that ended its stream but reads nothing: the
 * socket is not writable (its window is full), and the peer's FIN must not
 * make a level-triggered wait for writing report it again and again. */
FAMILY_TEST(poller, half_closed_peer_does_not_spin_a_writer, .timeout = 10)
{
    sock_t c, s;
    pair_on(host, &c, &s);
    shrink_buffers(&c, 4096);
    shrink_buffers(&s, 4096);
    expect_ok(&s, sock_set_nonblocking(&s, 1));
    char fill[65536] = {0};
    for (int i = 0; i < 1000 && sock_send(&s, fill, sizeof fill) > 0; i++) {
    }
    expect_ok(&c, sock_shutdown(&c, SOCK_SHUT_WRITE));
    sock_poller_t *p = open_poller();
    int tag;
    cr_assert_eq(sock_poller_add(p, &s, SOCK_WRITABLE, &tag), 0);
    sock_event_t ev[4];
    int reports = 0;
    for (int i = 0; i < 20; i++)
        reports += sock_poller_wait(p, ev, 4, 10) > 0;
    cr_assert_eq(reports, 0, "a full socket was reported %d times in 20 waits", reports);
    sock_poller_close(p);
    sock_close(&c);
    sock_close(&s);
}
