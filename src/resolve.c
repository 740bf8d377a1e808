/*
 * resolve.c - host and service strings to addresses, and back to text.
 */
#include "internal.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <resolv.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <stddef.h>
#include <string.h>
#include <time.h>

/* A service is a port number 0..65535 written in plain digits, or a
 * service name.  getaddrinfo() and strtol() accept more than people mean:
 * they skip leading blanks and take a sign, and the resolver then keeps
 * the low 16 bits ("99999", " 70000" and "\t70000" become other ports),
 * while "-1" would be looked up as a name and fail with a message that does
 * not say what was wrong.  So anything that starts with a digit, a sign or
 * a blank, or holds a blank or a control character anywhere, must be plain
 * digits in range or it is refused; no service name has such characters. */
static int check_service(const char *service, int *numeric)
{
    *numeric = 0;
    if (!service || !*service)
        return -EINVAL;
    for (const char *p = service; *p; p++)
        if (isspace((unsigned char)*p) || iscntrl((unsigned char)*p))
            return -EINVAL;
    if (!isdigit((unsigned char)service[0]) && service[0] != '-' && service[0] != '+')
        return 0;
    long v = 0;
    for (const char *p = service; *p; p++) {
        if (!isdigit((unsigned char)*p))
            return -EINVAL;
        v = v * 10 + (*p - '0');
        if (v > 65535)
            return -EINVAL;
    }
    *numeric = 1;
    return 0;
}

/* Copy host without the brackets people write around IPv6 literals
 * ("[::1]" -> "::1"); returns -EINVAL for an unbalanced bracket. */
static int strip_brackets(const char *host, char *buf, size_t len)
{
    size_t n = strlen(host);
    if (host[0] != '[') {
        if (n >= len)
            return -EINVAL;
        memcpy(buf, host, n + 1);
        return 0;
    }
    if (n < 2 || host[n - 1] != ']' || n - 2 >= len)
        return -EINVAL;
    memcpy(buf, host + 1, n - 2);
    buf[n - 2] = '\0';
    return strchr(buf, '[') || strchr(buf, ']') ? -EINVAL : 0;
}

/* Put IPv6 addresses first, keeping the resolver's order otherwise: for a
 * wildcard bind the IPv6 socket is the dual-stack one. */
static struct addrinfo *ipv6_first(struct addrinfo *list)
{
    struct addrinfo *v6 = NULL, **v6t = &v6, *v4 = NULL, **v4t = &v4;
    for (struct addrinfo *ai = list, *next; ai; ai = next) {
        next = ai->ai_next;
        ai->ai_next = NULL;
        if (ai->ai_family == AF_INET6)
            *v6t = ai, v6t = &ai->ai_next;
        else
            *v4t = ai, v4t = &ai->ai_next;
    }
    *v6t = v4;
    return v6;
}

/* Parse a numeric IPv4/IPv6 host (no zone) and numeric port into a->one.
 * Returns 1 when done, 0 when getaddrinfo() must decide. */
static int numeric_fast_path(const char *name, long port, int family, struct sock__addrs *a)
{
    memset(&a->one, 0, sizeof a->one);
    memset(&a->one_addr, 0, sizeof a->one_addr);
    struct sockaddr_in *in4 = (struct sockaddr_in *)&a->one_addr;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&a->one_addr;
    if (family != AF_INET6 && inet_pton(AF_INET, name, &in4->sin_addr) == 1) {
        in4->sin_family = AF_INET;
        in4->sin_port = htons((uint16_t)port);
        a->one.ai_addrlen = sizeof *in4;
    } else if (family != AF_INET && inet_pton(AF_INET6, name, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)port);
        a->one.ai_addrlen = sizeof *in6;
    } else {
        return 0;
    }
    a->one.ai_family = a->one_addr.ss_family;
    a->one.ai_socktype = SOCK_STREAM;
    a->one.ai_protocol = IPPROTO_TCP;
    a->one.ai_addr = (struct sockaddr *)&a->one_addr;
    a->list = &a->one;
    return 1;
}

void sock__addrs_free(struct sock__addrs *a)
{
    if (a->list && a->list != &a->one)
        freeaddrinfo(a->list);
    a->list = NULL;
}

/* "unix:PATH" or "unix:@NAME" into a->one: the one address a Unix host
 * stands for.  Returns 0 or a recorded -EINVAL / -ENAMETOOLONG /
 * -EAFNOSUPPORT. */
static int resolve_unix(sock_t *s, const char *step, const char *host, const char *service,
                        int family, struct sock__addrs *a)
{
    const char *path = host + 5;
    struct sockaddr_un *un = (struct sockaddr_un *)&a->one_addr;
    int abstract = path[0] == '@';
    size_t n = strlen(path) - (size_t)abstract;
    if (service && *service && strcmp(service, "0") != 0)
        return sock__failf(s, SOCK__SIDE_SEND, -EINVAL,
                           "%s %s: a Unix socket has no port (got '%s')", step, host, service);
    if (family != AF_UNSPEC && family != AF_UNIX)
        return sock__failf(s, SOCK__SIDE_SEND, -EAFNOSUPPORT,
                           "%s %s: the socket is %s only", step, host,
                           family == AF_INET ? "IPv4" : "IPv6");
    if (n == 0)
        return sock__failf(s, SOCK__SIDE_SEND, -EINVAL, "%s %s: no path after 'unix:'", step,
                           host);
    /* The path must fit with its NUL (a file) or without (abstract). */
    if (n + 1 > sizeof un->sun_path)
        return sock__failf(s, SOCK__SIDE_SEND, -ENAMETOOLONG,
                           "%s: the Unix socket path is %zu bytes; the system allows %zu", step,
                           n, sizeof un->sun_path - 1);
    memset(&a->one, 0, sizeof a->one);
    memset(&a->one_addr, 0, sizeof a->one_addr);
    un->sun_family = AF_UNIX;
    memcpy(un->sun_path + abstract, path + abstract, n);
    a->one.ai_family = AF_UNIX;
    a->one.ai_socktype = SOCK_STREAM;
    a->one.ai_addr = (struct sockaddr *)un;
    /* An abstract name's length is part of it: no NUL counted. */
    a->one.ai_addrlen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + (size_t)abstract + n +
                                    (abstract ? 0 : 1));
    a->list = &a->one;
    return 0;
}

/* ---- a lookup with a deadline ------------------------------------------- */

/* getaddrinfo() cannot be cancelled, so a lookup with a deadline runs in a
 * thread of its own while the caller waits until the deadline.  A caller
 * that gives up drops its reference; the thread, still waiting for the
 * name server, frees everything when it ends.  It ends soon: its resolver
 * (glibc keeps _res per thread) is told to wait no longer than the caller
 * did, one try per server.  At most LOOKUPS_MAX lookups run at once, so a
 * name server that never answers cannot make threads pile up; past that a
 * caller waits for a slot, within its own deadline. */
#define LOOKUPS_MAX 32

struct lookup {
    int refs;              /* the caller's and the thread's, under lookup_lock */
    int done;
    int rc;                /* getaddrinfo's */
    int err;               /* errno, for EAI_SYSTEM */
    int timeout_s;         /* the resolver's per-try wait */
    struct addrinfo hints;
    struct addrinfo *list;
    char *name, *service;
};

static pthread_mutex_t lookup_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t lookup_cv;
static pthread_once_t lookup_once = PTHREAD_ONCE_INIT;
static int lookups_running;

/* The condition variable waits on CLOCK_MONOTONIC, the deadlines' clock. */
static void lookup_init(void)
{
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&lookup_cv, &attr);
    pthread_condattr_destroy(&attr);
}

static void lookup_free(struct lookup *l)
{
    if (l->list)
        freeaddrinfo(l->list);
    free(l->name);
    free(l->service);
    free(l);
}

/* Drop one reference; the last one frees.  Called with lookup_lock held. */
static void lookup_unref(struct lookup *l)
{
    if (--l->refs == 0)
        lookup_free(l);
}

static void *lookup_thread(void *arg)
{
    struct lookup *l = arg;
    if (res_init() == 0) {
        _res.retrans = l->timeout_s;
        _res.retry = 1;
    }
    struct addrinfo *list = NULL;
    int rc = getaddrinfo(l->name, l->service, &l->hints, &list);
    int err = errno;
    pthread_mutex_lock(&lookup_lock);
    l->rc = rc;
    l->err = err;
    l->list = list;
    l->done = 1;
    lookups_running--;
    pthread_cond_broadcast(&lookup_cv);
    lookup_unref(l);
    pthread_mutex_unlock(&lookup_lock);
    return NULL;
}

static void deadline_timespec(int64_t deadline, struct timespec *ts)
{
    ts->tv_sec = (time_t)(deadline / 1000000000);
    ts->tv_nsec = (long)(deadline % 1000000000);
}

/* getaddrinfo(name, service, hints) finished by deadline.  Returns its
 * code, or EAI_AGAIN with *timed_out set when the deadline came first. */
static int lookup_within(const char *name, const char *service, const struct addrinfo *hints,
                         int64_t deadline, struct addrinfo **list, int *timed_out)
{
    pthread_once(&lookup_once, lookup_init);
    *timed_out = 0;
    struct lookup *l = calloc(1, sizeof *l);
    if (!l || (name && !(l->name = strdup(name))) || (service && !(l->service = strdup(service)))) {
        if (l)
            lookup_free(l);
        return EAI_MEMORY;
    }
    l->hints = *hints;
    l->refs = 2;
    int ms = sock__ms_left(deadline);
    l->timeout_s = ms < 1000 ? 1 : (ms + 999) / 1000;
    struct timespec until;
    deadline_timespec(deadline, &until);
    pthread_mutex_lock(&lookup_lock);
    int rc = 0;
    while (lookups_running >= LOOKUPS_MAX && rc == 0)
        rc = pthread_cond_timedwait(&lookup_cv, &lookup_lock, &until);
    if (rc != 0) {
        pthread_mutex_unlock(&lookup_lock);
        lookup_free(l);
        *timed_out = 1;
        return EAI_AGAIN;
    }
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_t t;
    if (pthread_create(&t, &attr, lookup_thread, l) != 0) {
        pthread_attr_destroy(&attr);
        pthread_mutex_unlock(&lookup_lock);
        lookup_free(l);
        /* No thread to be had: wait in this one (the deadline then only
         * bounds the connect after it). */
        return getaddrinfo(name, service, hints, list);
    }
    pthread_attr_destroy(&attr);
    lookups_running++;
    while (!l->done && rc == 0)
        rc = pthread_cond_timedwait(&lookup_cv, &lookup_lock, &until);
    if (l->done) {
        rc = l->rc;
        errno = l->err;
        *list = l->list;
        l->list = NULL; /* the caller's now */
    } else {
        *timed_out = 1;
        rc = EAI_AGAIN;
    }
    lookup_unref(l);
    pthread_mutex_unlock(&lookup_lock);
    return rc;
}

/* ---- the order of trial ----------------------------------------------------- */

/* RFC 8305's order for a connect: the resolver's (RFC 6724) order within
 * each family, the families interleaved, starting with the family of the
 * resolver's first address; so a dead IPv6 route costs one attempt delay,
 * not every IPv6 address's timeout. */
static struct addrinfo *interleave(struct addrinfo *list)
{
    struct addrinfo *a = NULL, **at = &a, *b = NULL, **bt = &b;
    int first = list ? list->ai_family : AF_UNSPEC;
    for (struct addrinfo *ai = list, *next; ai; ai = next) {
        next = ai->ai_next;
        ai->ai_next = NULL;
        if (ai->ai_family == first)
            *at = ai, at = &ai->ai_next;
        else
            *bt = ai, bt = &ai->ai_next;
    }
    struct addrinfo *out = NULL, **ot = &out;
    while (a || b) {
        if (a)
            *ot = a, ot = &a->ai_next, a = a->ai_next;
        if (b)
            *ot = b, ot = &b->ai_next, b = b->ai_next;
    }
    *ot = NULL;
    return out;
}

int sock__resolve(sock_t *s, const char *step, const char *host, const char *service,
                  int passive, int family, int64_t deadline, struct sock__addrs *out)
{
    char target[SOCK_ERRLEN / 2];
    char name[NI_MAXHOST];
    int numeric;

    out->list = NULL;
    if (sock__is_unix(host))
        return resolve_unix(s, step, host, service, family, out);
    int service_rc = check_service(service, &numeric);
    int wildcard = sock__is_wildcard(host);
    int host_rc = wildcard ? 0 : strip_brackets(host, name, sizeof name);
    /* The common case first, before any text is formatted: connect and
     * bind must cost what the raw calls cost. */
    if (service_rc == 0 && host_rc == 0 && !wildcard && numeric &&
        numeric_fast_path(name, strtol(service, NULL, 10), family, out))
        return 0;

    sock__format_target(host, service, target, sizeof target);
    if (service_rc < 0) {
        if (!service || !*service)
            return sock__failf(s, SOCK__SIDE_SEND, -EINVAL, "%s %s: no port or service given",
                               step, target);
        return sock__failf(s, SOCK__SIDE_SEND, -EINVAL,
                           "%s %s: invalid port '%s' (a number from 0 to 65535 or a service name)",
                           step, target, service);
    }
    if (host_rc < 0)
        return sock__failf(s, SOCK__SIDE_SEND, -EINVAL, "%s %s: invalid host '%s'", step, target,
                           host);
    if (wildcard && !passive)
        return sock__failf(s, SOCK__SIDE_SEND, -EINVAL, "%s %s: no host given", step, target);
    if (!wildcard && family != AF_UNSPEC) {
        /* A literal of the other family can never match: say so, rather
         * than the resolver's misleading "Name or service not known". */
        struct in6_addr tmp;
        int other = family == AF_INET ? AF_INET6 : AF_INET;
        if (inet_pton(other, name, &tmp) == 1)
            return sock__failf(s, SOCK__SIDE_SEND, -EAFNOSUPPORT,
                               "%s %s: '%s' is an %s address, but the socket is %s only", step,
                               target, name, other == AF_INET ? "IPv4" : "IPv6",
                               family == AF_INET ? "IPv4" : "IPv6");
    }

    /* No AI_ADDRCONFIG: it hides ::1 on machines whose only IPv6 address is
     * loopback, and we want every address tried, not pre-filtered. */
    struct addrinfo hints = {
        .ai_family = family,
        .ai_socktype = SOCK_STREAM,
        .ai_protocol = IPPROTO_TCP,
        .ai_flags = (passive ? AI_PASSIVE : 0) | (numeric ? AI_NUMERICSERV : 0),
    };
    if (sock__flags(s) & SOCK__NUMERIC) {
        /* Numbers only: no name service is asked, not even the files. */
        if (!numeric)
            return sock__failf(s, SOCK__SIDE_SEND, -EINVAL,
                               "%s %s: '%s' is not a port number (numeric only)", step, target,
                               service);
        hints.ai_flags |= AI_NUMERICHOST;
    }
    struct addrinfo *list = NULL;
    int timed_out = 0;
    int rc = deadline < 0 || wildcard
                 ? getaddrinfo(wildcard ? NULL : name, service, &hints, &list)
                 : lookup_within(name, service, &hints, deadline, &list, &timed_out);
    if (timed_out)
        return sock__failf(s, SOCK__SIDE_SEND, -ETIMEDOUT, "resolve %s: no answer within %d ms",
                           name, s->priv_timeout_ms);
    if (rc != 0) {
        if (rc == EAI_SYSTEM)
            return sock__fail(s, SOCK__SIDE_SEND, errno ? -errno : -EIO, "%s %s: resolver",
                              step, target);
        if (rc == EAI_MEMORY)
            return sock__fail(s, SOCK__SIDE_SEND, -ENOMEM, "%s %s: resolver", step, target);
        if (rc == EAI_SERVICE)
            return sock__failf(s, SOCK__SIDE_SEND, SOCK_ERESOLVE,
                               "%s %s: unknown service '%s' (not a port number, and not a TCP "
                               "service in /etc/services)",
                               step, target, service);
        if (rc == EAI_FAMILY || rc == EAI_ADDRFAMILY)
            return sock__failf(s, SOCK__SIDE_SEND, SOCK_ERESOLVE, "%s %s: host '%s' has no %s address",
                               step, target, name,
                               family == AF_INET ? "IPv4" : family == AF_INET6 ? "IPv6" : "usable");
        if (rc == EAI_NONAME && (sock__flags(s) & SOCK__NUMERIC))
            return sock__failf(s, SOCK__SIDE_SEND, -EINVAL,
                               "%s %s: '%s' is not a numeric address (numeric only)", step,
                               target, name);
        return sock__failf(s, SOCK__SIDE_SEND, SOCK_ERESOLVE, "%s %s: cannot resolve host '%s': %s",
                           step, target, wildcard ? "*" : name, gai_strerror(rc));
    }
    out->list = wildcard ? ipv6_first(list) : passive ? list : interleave(list);
    return 0;
}

SOCK_API int sock_resolve(sock_t *s, const char *host, const char *service, int passive,
                          sock_addr_t *out, size_t max)
{
    if (!s || (max && !out))
        return -EINVAL;
    struct sock__addrs addrs;
    int rc = sock__resolve(s, passive ? "bind" : "connect", host, service, passive,
                           s->priv_family, sock__deadline(s->priv_timeout_ms), &addrs);
    if (rc < 0)
        return rc;
    int count = 0;
    for (struct addrinfo *ai = addrs.list; ai; ai = ai->ai_next) {
        if ((size_t)count < max) {
            out[count].family = ai->ai_family;
            sock__format_addr(ai->ai_addr, out[count].text, sizeof out[count].text);
        }
        count++;
    }
    sock__addrs_free(&addrs);
    return count;
}
