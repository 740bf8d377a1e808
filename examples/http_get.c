/*
 * http_get.c - fetch a URL's path from a web server and print the response.
 *
 * What it shows: a real protocol on top of the client's steps.
 *
 *   connect   sock_connect(&cli, host, port), every address of host tried
 *   send      the whole request with sock_send_all (a send may take only
 *             part of it)
 *   shutdown  SOCK_SHUT_WRITE: a half-close.  It tells the server "I have
 *             nothing more to say" (a FIN) while the other direction stays
 *             open for the answer.
 *   recv      sock_recv until it returns 0, the end of the stream: the
 *             response arrives in pieces of any size, and with
 *             "Connection: close" the server ends it by closing.
 *   close     sock_close
 *
 * A timeout (sock_set_timeout) bounds every step, so a server that never
 * answers cannot hang the program.  The request is HTTP/1.0, so the server
 * sends the body as it is (no chunked encoding): the output is exactly what
 * came over the wire, headers and body.  Plain HTTP only: https needs TLS,
 * which is not this course's subject.
 *
 *   usage: http_get http://HOST[:PORT][/PATH]
 *   try:   python3 -m http.server 8000 --bind 127.0.0.1 &
 *          build/examples/http_get http://127.0.0.1:8000/
 *          build/examples/http_get 'http://[::1]:8000/README.md'
 */
#include <errno.h>
#include <sock.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* Give up on a silent server after this long, for each step. */
enum { TIMEOUT_MS = 10000 };

/* The parts of a URL that the request needs. */
struct url {
    char authority[512];  /* "HOST[:PORT]" as written: the Host header */
    char host[512];       /* without brackets, for sock_connect */
    char port[32];        /* "80" when the URL has none */
    char path[2048];      /* "/PATH[?QUERY]", what the request line asks for */
};

/* Split "http://HOST[:PORT][/PATH]" into u.  Returns 0, or -1 after saying
 * on stderr what is wrong with the URL. */
static int parse_url(const char *text, struct url *u)
{
    if (strncasecmp(text, "https://", 8) == 0) {
        fprintf(stderr, "http_get: %s: https needs TLS, which this example does not do; use http://\n", text);
        return -1;
    }
    if (strncasecmp(text, "http://", 7) != 0) {
        fprintf(stderr, "http_get: %s: the URL must start with http://\n", text);
        return -1;
    }
    /* The authority (HOST[:PORT]) ends at the path, the query or the
     * fragment; the fragment is for the browser and is never sent. */
    const char *rest = text + 7;
    size_t alen = strcspn(rest, "/?#");
    const char *after = rest + alen;
    size_t plen = strcspn(after, "#");
    if (alen == 0 || alen >= sizeof u->authority) {
        fprintf(stderr, "http_get: %s: %s host in the URL\n", text, alen ? "too long a" : "no");
        return -1;
    }
    if (plen + 2 > sizeof u->path) {
        fprintf(stderr, "http_get: %s: the path is too long\n", text);
        return -1;
    }
    memcpy(u->authority, rest, alen);
    u->authority[alen] = '\0';
    if (memchr(u->authority, '@', alen)) {
        fprintf(stderr, "http_get: %s: user names in URLs (user@host) are not supported\n", text);
        return -1;
    }
    /* "http://h?q" asks for "/?q", and "http://h" for "/". */
    snprintf(u->path, sizeof u->path, "%s%.*s", *after == '/' ? "" : "/", (int)plen, after);
    /* A space or control character would end the request line early (or
     * smuggle in a header): such a path must be %-encoded. */
    for (const char *p = u->path; *p; p++) {
        if ((unsigned char)*p <= ' ' || *p == 0x7f) {
            fprintf(stderr, "http_get: %s: the path has a space or control character; encode it (%%20)\n", text);
            return -1;
        }
    }
    /* "host:port" and "[v6]:port" have a port; "host" and "[v6]" do not. */
    size_t hlen = strlen(u->authority);
    u->port[0] = '\0';
    if (sock_split_hostport(u->authority, u->host, sizeof u->host, u->port, sizeof u->port) == 0) {
        /* done: "host:" leaves the port empty, which means the default */
    } else if (u->authority[0] == '[' && u->authority[hlen - 1] == ']') {
        memcpy(u->host, u->authority + 1, hlen - 2);
        u->host[hlen - 2] = '\0';
    } else if (!strchr(u->authority, ':')) {
        strcpy(u->host, u->authority);
    } else {
        fprintf(stderr, "http_get: %s: cannot read host and port in '%s' "
                "(an IPv6 address goes in brackets: [::1]:8000)\n", text, u->authority);
        return -1;
    }
    /* An empty host would make the resolver pick the local machine. */
    if (u->host[0] == '\0') {
        fprintf(stderr, "http_get: %s: no host in the URL\n", text);
        return -1;
    }
    if (u->port[0] == '\0')
        strcpy(u->port, "80");
    return 0;
}

/* Report the last failure on s, in the library's words. */
static int fail(const sock_t *s)
{
    fprintf(stderr, "http_get: %s\n", sock_error(s));
    return 1;
}

int main(int argc, char **argv)
{
    struct url u;
    char request[2048], buf[16384];
    if (argc != 2) {
        fprintf(stderr, "usage: http_get http://HOST[:PORT][/PATH]\n");
        return 2;
    }
    if (parse_url(argv[1], &u) < 0)
        return 2;
    int len = snprintf(request, sizeof request,
                       "GET %s HTTP/1.0\r\nHost: %s\r\nUser-Agent: libsock-http_get\r\n"
                       "Connection: close\r\n\r\n", u.path, u.authority);
    if (len < 0 || (size_t)len >= sizeof request) {
        fprintf(stderr, "http_get: %s: the URL is too long\n", argv[1]);
        return 2;
    }

    sock_t cli;
    sock_init(&cli);
    if (sock_set_timeout(&cli, TIMEOUT_MS) < 0)
        return fail(&cli);
    if (sock_connect(&cli, u.host, u.port) < 0)
        return fail(&cli);
    if (sock_send_all(&cli, request, (size_t)len, NULL) < 0)
        return fail(&cli);
    if (sock_shutdown(&cli, SOCK_SHUT_WRITE) < 0)
        return fail(&cli);

    size_t total = 0;
    ssize_t n;
    while ((n = sock_recv(&cli, buf, sizeof buf)) > 0) {
        if (fwrite(buf, 1, (size_t)n, stdout) != (size_t)n) {
            fprintf(stderr, "http_get: writing the response: %s\n", strerror(errno));
            return 1;
        }
        total += (size_t)n;
    }
    if (n < 0)
        return fail(&cli);
    if (sock_close(&cli) < 0)
        return fail(&cli);
    if (fflush(stdout) != 0) {
        fprintf(stderr, "http_get: writing the response: %s\n", strerror(errno));
        return 1;
    }
    if (total == 0) {
        fprintf(stderr, "http_get: %s closed the connection without a response\n", u.authority);
        return 1;
    }
    return 0;
}
