/*
 * test_resolve.c - name resolution bounded by the timeout, at scale: a
 * name server of the test's own that never answers, and 1,000 connects to
 * a name only it could answer, each with a 20 ms timeout.  Every one ends
 * at its deadline (within 50 ms after it, never before), says resolution
 * was the step that ran out, and when the abandoned lookups have ended no
 * thread and no descriptor is left (issue 12).
 *
 * In network and mount namespaces of the test's own, with /etc/resolv.conf
 * pointing at 127.0.0.1:53 there (tests/common/netns.c).
 */
#include "util.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

Test(resolve_scale, thousand_lookups_end_at_their_deadline, .timeout = 120)
{
    enter_private_namespaces();
    replace_etc_file("resolv.conf", "nameserver 127.0.0.1\noptions timeout:5 attempts:3\n");
    struct mute_dns *m = mute_dns_start();
    int threads = count_threads(), fds = count_fds();
    enum { N = 1000, DEADLINE = 20, SLACK = 50 };
    int64_t worst = 0, early = 0, late = 0;
    for (int i = 0; i < N; i++) {
        sock_t c;
        sock_init(&c);
        expect_ok(&c, sock_set_timeout(&c, DEADLINE));
        int64_t t0 = now_ms();
        int rc = sock_connect(&c, "never.test", "80");
        int64_t took = now_ms() - t0;
        cr_assert_eq(rc, -ETIMEDOUT, "lookup %d: %d %s", i, rc, sock_error(&c));
        if (i == 0)
            cr_assert_str_eq(sock_error(&c), "resolve never.test: no answer within 20 ms");
        early += took < DEADLINE;
        late += took > DEADLINE + SLACK;
        worst = took > worst ? took : worst;
        sock_close(&c);
    }
    cr_assert_gt(mute_dns_queries(m), 0, "no query reached the test's name server");
    int now = count_threads();
    for (int i = 0; i < 100 && now > threads; i++) {
        sleep_ms(50);
        now = count_threads();
    }
    printf("resolve_scale: %d lookups of %d ms: %lld early, %lld over +%d ms, worst %lld ms; "
           "threads %d -> %d, descriptors %d -> %d\n",
           N, DEADLINE, (long long)early, (long long)late, SLACK, (long long)worst, threads, now,
           fds, count_fds());
    cr_assert_eq(early, 0, "%lld lookups ended before their deadline", (long long)early);
    cr_assert_eq(late, 0, "%lld lookups ended more than %d ms late (worst %lld ms)",
                 (long long)late, SLACK, (long long)worst);
    cr_assert_eq(now, threads, "%d threads left behind", now - threads);
    cr_assert_eq(count_fds(), fds, "descriptors left behind");
    mute_dns_stop(m);
}
