/*
 * client.c - the seed's client, steps 1 to 7, with libsock.
 *
 * What it shows: the client side of the deck "Sockets, paso a paso", one
 * library call per slide, in the slides' order and with their names:
 *
 *   1 cli = socket()             sock_init(&cli)
 *   4 cli.connect(host, port)    sock_connect(&cli, host, port)
 *   5 cli.send / cli.recv        sock_send_all / sock_recv
 *   6 cli.shutdown("read-write") sock_shutdown(&cli, SOCK_SHUT_READ_WRITE)
 *   7 cli.close()                sock_close(&cli)
 *
 * There is no step 2 or 3 on this side: connect binds implicitly, so the
 * client gets an ephemeral port chosen by the system, not the server's
 * ("Puerto 80 ??" on the slides).  The client prints which one it got.
 *
 * Every call is checked; a failure is reported with sock_error(), which
 * names the step, the address and the system's reason.
 *
 *   usage: client [HOST [PORT]]        (defaults: 127.0.0.1 8080)
 *   try:   build/examples/server 127.0.0.1 0 &      (prints its port)
 *          build/examples/client 127.0.0.1 PORT
 *   or:    SOCK_TRACE=1 build/examples/client ...   (every step on stderr)
 */
#include <sock.h>
#include <stdio.h>
#include <string.h>

/* Report the last failure on s, in the library's words, and give the exit
 * status for "it failed". */
static int fail(const sock_t *s)
{
    fprintf(stderr, "client: %s\n", sock_error(s));
    return 1;
}

int main(int argc, char **argv)
{
    if (argc > 3) {
        fprintf(stderr, "usage: client [HOST [PORT]]   (defaults: 127.0.0.1 8080)\n");
        return 2;
    }
    const char *host = argc > 1 ? argv[1] : "127.0.0.1";
    const char *port = argc > 2 ? argv[2] : "8080";
    const char *request = "hola, servidor\n";
    char reply[512], addr[SOCK_ADDRSTRLEN];
    sock_t cli;

    sock_init(&cli);                                        /* 1 cli = socket()  */
    if (sock_connect(&cli, host, port) < 0)                 /* 4 cli.connect()   */
        return fail(&cli);
    if (sock_local_addr(&cli, addr, sizeof addr) < 0)
        return fail(&cli);
    printf("client port: %s (chosen by the implicit bind of connect)\n", addr);

    if (sock_send_all(&cli, request, strlen(request), NULL) < 0)  /* 5 cli.send */
        return fail(&cli);
    /* 5 cli.recv: a recv returns *some* bytes, so read until the reply's
     * end of line, the end of the stream, or a full buffer. */
    size_t got = 0;
    ssize_t n = 1;
    while (got < sizeof reply - 1 && (got == 0 || reply[got - 1] != '\n')) {
        n = sock_recv(&cli, reply + got, sizeof reply - 1 - got);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    if (n < 0)
        return fail(&cli);
    if (got == 0) {
        fprintf(stderr, "client: the server closed the connection without replying\n");
        return 1;
    }
    reply[got] = '\0';
    printf("client got: %s", reply);

    if (sock_shutdown(&cli, SOCK_SHUT_READ_WRITE) < 0)      /* 6 cli.shutdown()  */
        return fail(&cli);
    if (sock_close(&cli) < 0)                               /* 7 cli.close()     */
        return fail(&cli);
    return 0;
}
