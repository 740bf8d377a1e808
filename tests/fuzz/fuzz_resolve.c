/*
 * fuzz_resolve.c - the host and service handling of sock_resolve() and
 * sock_bind() on any strings.
 *
 * Input: byte 0 is a set of switches, the rest is HOST '\n' SERVICE (no
 * '\n': service NULL).  The switches, chosen so that the digits '0'..'9'
 * and ':'..'?' in a seed spell them:
 *   bit 0     passive (as sock_bind resolves) instead of as sock_connect
 *   bits 1-2  family: 0 AF_UNSPEC, 1 AF_INET, 2 AF_INET6, 3 an invalid one
 *   bit 3     host NULL (the wildcard) instead of the text
 *   bit 6     max 0 and out NULL: count the addresses only
 *
 * Invented host names reach getaddrinfo(), so LLVMFuzzerInitialize first
 * moves the process into a network namespace of its own with only loopback
 * (harness.c): whatever the resolver tries stays on this machine.
 * sock_bind() is called only with the wildcard or a numeric loopback host
 * (a bind sends nothing), and the socket is closed at once; nothing here
 * connects.  Beyond "no crash", each answer is checked against sock.h: the
 * codes a failure may have and its text, the addresses and their text, the
 * port, the fast path of numeric literals, and that no descriptor leaks.
 */
#include "harness.h"

#include "sock.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_OUT = 4 };

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    fuzz_enter_private_netns();
    return 0;
}

/* The port a service names when it is all digits: 0..65535, -2 when the
 * number is larger, -1 when the service is not all digits. */
static long numeric_port(const char *service)
{
    if (!service || !*service)
        return -1;
    long v = 0;
    for (const char *c = service; *c; c++) {
        if (!isdigit((unsigned char)*c))
            return -1;
        if (v <= 65535)
            v = v * 10 + (*c - '0');
    }
    return v > 65535 ? -2 : v;
}

static int family_of(uint8_t sw)
{
    static const int families[4] = {AF_UNSPEC, AF_INET, AF_INET6, 12345};
    return families[(sw >> 1) & 3];
}

/* A failure: one of the codes the header lists, and a text that says it. */
static void check_failure(const sock_t *s, int rc, const char *what)
{
    const char *err = sock_error(s);
    fuzz_check(rc == SOCK_ERESOLVE || rc == -EINVAL || rc == -EAFNOSUPPORT || rc == -ENOMEM ||
                   (rc < 0 && rc > -4096),
               "%s: code %d (%s)", what, rc, sock_strerror(rc));
    fuzz_check(err && err[0] != '\0', "%s failed (%d) with an empty sock_error()", what, rc);
    fuzz_check(strnlen(err, SOCK_ERRLEN) < SOCK_ERRLEN, "%s: sock_error() not terminated", what);
}

/* One address as sock_resolve() wrote it: "1.2.3.4:80" or "[v6%zone]:80",
 * which sock_split_hostport() must take apart again into a numeric host of
 * the address's family and the port asked for. */
static void check_address(const sock_addr_t *a, int family, long port, const char *in)
{
    fuzz_check(a->family == AF_INET || a->family == AF_INET6, "%s: family %d", in, a->family);
    fuzz_check(family == AF_UNSPEC || a->family == family, "%s: family %d, asked for %d", in,
               a->family, family);
    fuzz_check(strnlen(a->text, sizeof a->text) < sizeof a->text, "%s: text not terminated", in);
    char host[SOCK_ADDRSTRLEN], serv[16];
    int rc = sock_split_hostport(a->text, host, sizeof host, serv, sizeof serv);
    fuzz_check(rc == 0, "%s: address text \"%s\" does not split (%d)", in, a->text, rc);
    char *zone = strchr(host, '%');
    if (zone)
        *zone = '\0';
    unsigned char bin[16];
    /* An IPv4-mapped IPv6 address is shown as IPv4 (sock.h's text form). */
    int shown = a->text[0] == '[' ? AF_INET6 : AF_INET;
    fuzz_check(shown == a->family || (a->family == AF_INET6 && shown == AF_INET),
               "%s: family %d shown as \"%s\"", in, a->family, a->text);
    fuzz_check(inet_pton(shown, host, bin) == 1, "%s: host of \"%s\" is not numeric", in,
               a->text);
    long got = numeric_port(serv);
    fuzz_check(got >= 0, "%s: port of \"%s\" is not a number", in, a->text);
    fuzz_check(port < 0 || got == port, "%s: port %ld in \"%s\", asked for %ld", in, got,
               a->text, port);
}

static void resolve_on(sock_t *s, uint8_t sw, const char *host, const char *service)
{
    int family = family_of(sw), passive = sw & 1, count_only = (sw >> 6) & 1;
    int frc = sock_set_family(s, family);
    if (family == 12345) {
        fuzz_check(frc == -EINVAL, "sock_set_family(12345) = %d", frc);
        check_failure(s, frc, "sock_set_family(12345)");
        family = AF_UNSPEC;
    } else {
        fuzz_check(frc == 0, "sock_set_family(%d) = %d", family, frc);
    }

    sock_addr_t out[MAX_OUT];
    memset(out, 0xa5, sizeof out);
    int rc = sock_resolve(s, host, service, passive, count_only ? NULL : out,
                          count_only ? 0 : MAX_OUT);
    char in[96];
    snprintf(in, sizeof in, "resolve(\"%.30s\", \"%.20s\", passive %d, family %d)",
             host ? host : "(null)", service ? service : "(null)", passive, family);
    long port = numeric_port(service);
    int wildcard = !host || !*host || strcmp(host, "*") == 0;

    /* A Unix host: one address, its own text, or a clear refusal. */
    if (host && strncmp(host, "unix:", 5) == 0) {
        int no_port = !service || !*service || strcmp(service, "0") == 0;
        if (rc < 0) {
            fuzz_check(rc == -EINVAL || rc == -ENAMETOOLONG || rc == -EAFNOSUPPORT,
                       "%s = %d", in, rc);
            check_failure(s, rc, in);
            return;
        }
        fuzz_check(no_port, "%s accepted a port", in);
        fuzz_check(rc == 1, "%s = %d addresses", in, rc);
        fuzz_check(family == AF_UNSPEC, "%s with family %d", in, family);
        if (!count_only) {
            fuzz_check(out[0].family == AF_UNIX, "%s: family %d", in, out[0].family);
            /* The text names the same socket (an abstract name ends at a
             * NUL, which a C string cannot hold anyway). */
            fuzz_check(strcmp(out[0].text, host) == 0, "%s: text '%s'", in, out[0].text);
        }
        return;
    }

    /* What the header promises whatever the resolver says. */
    if (!service || !*service || port == -2 ||
        (service[0] == '-' && numeric_port(service + 1) != -1) || (wildcard && !passive))
        fuzz_check(rc == -EINVAL, "%s = %d, expected -EINVAL", in, rc);
    if (rc < 0) {
        check_failure(s, rc, in);
        return;
    }
    fuzz_check(rc >= 1, "%s succeeded with no address", in);
    for (int i = 0; !count_only && i < rc && i < MAX_OUT; i++)
        check_address(&out[i], family, port, in);

    /* A numeric IPv4 host and port take the fast path: exactly one
     * address, the literal itself. */
    struct in_addr v4;
    if (!count_only && !wildcard && port >= 0 && family != AF_INET6 &&
        inet_pton(AF_INET, host, &v4) == 1) {
        char want[SOCK_ADDRSTRLEN], ip[INET_ADDRSTRLEN];
        inet_ntop(AF_INET, &v4, ip, sizeof ip);
        snprintf(want, sizeof want, "%s:%ld", ip, port);
        fuzz_check(rc == 1 && strcmp(out[0].text, want) == 0, "%s = %d \"%s\", expected \"%s\"",
                   in, rc, out[0].text, want);
    }
}

/* A handle of its own for each input, closed after it: closing releases
 * whatever the handle holds (its error texts), as a program would. */
static void check_resolve(uint8_t sw, const char *host, const char *service)
{
    sock_t s;
    sock_init(&s);
    resolve_on(&s, sw, host, service);
    fuzz_check(sock_close(&s) == 0, "close of a handle that never had a descriptor failed");
}

/* sock_bind on a numeric loopback or wildcard host only. */
static void check_bind(uint8_t sw, const char *host, const char *service)
{
    if (!fuzz_host_is_local(host))
        return;
    sock_t s;
    sock_init(&s);
    int family = family_of(sw);
    if (family != 12345)
        sock_set_family(&s, family);
    int rc = sock_bind(&s, host, service);
    char in[96];
    snprintf(in, sizeof in, "bind(\"%.30s\", \"%.20s\", family %d)", host ? host : "(null)",
             service ? service : "(null)", family);
    long port = numeric_port(service);
    if (!service || !*service || port == -2)
        fuzz_check(rc == -EINVAL, "%s = %d, expected -EINVAL", in, rc);
    if (rc < 0) {
        check_failure(&s, rc, in);
        fuzz_check(sock_fd(&s) == -1, "%s failed but left descriptor %d", in, sock_fd(&s));
    } else {
        fuzz_check(rc == 0, "%s = %d", in, rc);
        int local = sock_local_port(&s);
        fuzz_check(local > 0 && local <= 65535, "%s: local port %d", in, local);
        fuzz_check(port <= 0 || local == port, "%s: bound port %d", in, local);
    }
    fuzz_check(sock_close(&s) == 0, "%s: close failed", in);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    int fd_before = fuzz_lowest_free_fd();
    uint8_t sw = data[0];
    char *text = malloc(size);
    memcpy(text, data + 1, size - 1);
    text[size - 1] = '\0';
    char *nl = strchr(text, '\n'), *service = NULL;
    if (nl) {
        *nl = '\0';
        service = nl + 1;
    }
    const char *host = (sw >> 3) & 1 ? NULL : text;

    check_resolve(sw, host, service);
    check_bind(sw, host, service);
    free(text);
    int fd_after = fuzz_lowest_free_fd();
    fuzz_check(fd_after == fd_before, "a descriptor leaked: lowest free %d before, %d after",
               fd_before, fd_after);
    return 0;
}
