/*
 * resolve.c - every address of a host and service, in the order the
 * library tries them.
 *
 * What it shows: hosts and services are strings ("localhost", "::1",
 * "example.org"; "80", "http"), and one name can stand for several
 * addresses, IPv6 and IPv4.  sock_connect() tries them one after the other
 * until one answers; sock_bind() binds the first one that works.
 * sock_resolve() asks the same question without creating a socket, so you
 * can see the list before a connect uses it.
 *
 *   usage: resolve [-4|-6] [--bind] HOST [SERVICE]     (SERVICE: 80)
 *     -4, -6   only IPv4 or only IPv6 addresses (sock_set_family)
 *     --bind   the addresses sock_bind would use instead of sock_connect
 *   try:   build/examples/resolve localhost http
 *          build/examples/resolve --bind "" 8080     (every local address)
 *          build/examples/resolve example.invalid    (an error, exit 1)
 */
#include <sock.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

/* More than any real name has; a longer list is counted, not shown. */
enum { MAX_ADDRS = 32 };

static int usage(void)
{
    fprintf(stderr, "usage: resolve [-4|-6] [--bind] HOST [SERVICE]\n");
    return 2;
}

int main(int argc, char **argv)
{
    int family = AF_UNSPEC, passive = 0, i = 1;
    for (; i < argc && argv[i][0] == '-' && argv[i][1] != '\0'; i++) {
        if (strcmp(argv[i], "-4") == 0)
            family = AF_INET;
        else if (strcmp(argv[i], "-6") == 0)
            family = AF_INET6;
        else if (strcmp(argv[i], "--bind") == 0)
            passive = 1;
        else {
            fprintf(stderr, "resolve: unknown option %s\n", argv[i]);
            return usage();
        }
    }
    if (argc - i < 1 || argc - i > 2)
        return usage();
    const char *host = argv[i];
    const char *service = argc - i > 1 ? argv[i + 1] : "80";

    /* The socket only carries the options (the family) and, on failure,
     * the error text: resolving creates no descriptor. */
    sock_t s;
    sock_addr_t addrs[MAX_ADDRS];
    sock_init(&s);
    if (sock_set_family(&s, family) < 0) {
        fprintf(stderr, "resolve: %s\n", sock_error(&s));
        return 1;
    }
    int n = sock_resolve(&s, host, service, passive, addrs, MAX_ADDRS);
    if (n < 0) {
        fprintf(stderr, "resolve: %s\n", sock_error(&s));
        return 1;
    }

    printf("%s, service %s: %d address%s, %s tries them in this order:\n",
           host[0] ? host : "(every local address)", service, n, n == 1 ? "" : "es",
           passive ? "bind" : "connect");
    for (int k = 0; k < n && k < MAX_ADDRS; k++)
        printf("  %d. %-6s %s\n", k + 1, addrs[k].family == AF_INET6 ? "IPv6" : "IPv4",
               addrs[k].text);
    if (n > MAX_ADDRS)
        printf("  ... and %d more\n", n - MAX_ADDRS);
    return 0;
}
