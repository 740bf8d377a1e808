/*
 * addr.c - address text: formatting, splitting "HOST:PORT", wildcards.
 *
 * Pure text, no system call but inet_ntop: a leaf that resolve.c, error.c
 * and the rest of the library use, and that programs get through the
 * public sock_addr_format() and sock_split_hostport().
 */
#include "internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/un.h>

int sock__is_wildcard(const char *host)
{
    return host == NULL || host[0] == '\0' || strcmp(host, "*") == 0;
}

int sock__is_unix(const char *host)
{
    return host && strncmp(host, "unix:", 5) == 0;
}

/* "unix:/path", "unix:@name" (abstract: the name runs to the first NUL;
 * callers zero the address first), "unix:(unnamed)". */
static int format_unix(const struct sockaddr_un *un, char *buf, size_t len)
{
    const char *path = un->sun_path;
    size_t max = sizeof un->sun_path;
    int n;
    if (path[0] != '\0')
        n = snprintf(buf, len, "unix:%.*s", (int)strnlen(path, max), path);
    else if (path[1] != '\0')
        n = snprintf(buf, len, "unix:@%.*s", (int)strnlen(path + 1, max - 1), path + 1);
    else
        n = snprintf(buf, len, "unix:(unnamed)");
    return n < 0 || (size_t)n >= len ? -ENOSPC : 0;
}

int sock__format_addr(const struct sockaddr *sa, char *buf, size_t len)
{
    if (sa->sa_family == AF_UNIX)
        return format_unix((const struct sockaddr_un *)sa, buf, len);
    char ip[INET6_ADDRSTRLEN + 1 + 16];
    unsigned port;
    int n;

    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in4 = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &in4->sin_addr, ip, sizeof ip);
        port = ntohs(in4->sin_port);
        n = snprintf(buf, len, "%s:%u", ip, port);
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        port = ntohs(in6->sin6_port);
        if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
            /* An IPv4 client of a dual-stack socket: show it as people
             * wrote it, 127.0.0.1, not ::ffff:127.0.0.1. */
            inet_ntop(AF_INET, &in6->sin6_addr.s6_addr[12], ip, sizeof ip);
            n = snprintf(buf, len, "%s:%u", ip, port);
        } else {
            inet_ntop(AF_INET6, &in6->sin6_addr, ip, INET6_ADDRSTRLEN);
            if (in6->sin6_scope_id) {
                size_t k = strlen(ip);
                snprintf(ip + k, sizeof ip - k, "%%%u", (unsigned)in6->sin6_scope_id);
            }
            n = snprintf(buf, len, "[%s]:%u", ip, port);
        }
    } else {
        if (len)
            buf[0] = '\0';
        return -EAFNOSUPPORT;
    }
    return n < 0 || (size_t)n >= len ? -ENOSPC : 0;
}

void sock__format_target(const char *host, const char *service, char *buf, size_t len)
{
    if (sock__is_wildcard(host))
        snprintf(buf, len, "*:%s", service ? service : "");
    else if (sock__is_unix(host))
        snprintf(buf, len, "%s", host);
    else if (strchr(host, ':') && host[0] != '[')
        snprintf(buf, len, "[%s]:%s", host, service ? service : "");
    else
        snprintf(buf, len, "%s:%s", host, service ? service : "");
}

SOCK_API int sock_addr_format(const struct sockaddr *sa, char *buf, size_t len)
{
    if (!sa || !buf || !len)
        return -EINVAL;
    return sock__format_addr(sa, buf, len);
}

SOCK_API int sock_addr_port(const struct sockaddr *sa)
{
    if (!sa)
        return -EINVAL;
    if (sa->sa_family == AF_INET)
        return ntohs(((const struct sockaddr_in *)sa)->sin_port);
    if (sa->sa_family == AF_INET6)
        return ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
    return -EAFNOSUPPORT; /* AF_UNIX has no port */
}

/* Copy [from, from+n) into buf of len bytes; -EINVAL if it does not fit. */
static int copy_part(char *buf, size_t len, const char *from, size_t n)
{
    if (!buf || n >= len)
        return -EINVAL;
    memcpy(buf, from, n);
    buf[n] = '\0';
    return 0;
}

SOCK_API int sock_split_hostport(const char *text, char *host, size_t hostlen, char *port,
                                 size_t portlen)
{
    if (!text)
        return -EINVAL;
    const char *colon, *hstart = text;
    size_t hlen;

    if (text[0] == '[') {
        /* "[v6]:port": the host ends at the first ']', which must be
         * followed directly by ':'. */
        const char *close = strchr(text, ']');
        if (!close || close[1] != ':')
            return -EINVAL;
        hstart = text + 1;
        hlen = (size_t)(close - hstart);
        colon = close + 1;
        if (memchr(hstart, '[', hlen))
            return -EINVAL;
    } else {
        colon = strrchr(text, ':');
        if (!colon)
            return -EINVAL;
        hlen = (size_t)(colon - text);
        /* A bare IPv6 address ("::1") is ambiguous: is the last group the
         * port?  People must write brackets. */
        if (memchr(text, ':', hlen))
            return -EINVAL;
        if (memchr(text, '[', hlen) || memchr(text, ']', hlen))
            return -EINVAL;
    }
    const char *pstart = colon + 1;
    if (strpbrk(pstart, "[]:"))
        return -EINVAL;
    if (copy_part(host, hostlen, hstart, hlen) < 0)
        return -EINVAL;
    return copy_part(port, portlen, pstart, strlen(pstart));
}
