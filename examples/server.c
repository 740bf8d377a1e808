/*
 * server.c - the seed's server, steps 1 to 8, with libsock.
 *
 * What it shows: the server side of the deck "Sockets, paso a paso", one
 * library call per slide, in the slides' order and with their names:
 *
 *   1 acep = socket()               sock_init(&acep)
 *   2 acep.bind(host, port)         sock_bind(&acep, host, port)
 *   3 acep.listen(10)               sock_listen(&acep, 10)
 *   4 srv = acep.accept()           sock_accept(&acep, &srv)
 *   5 srv.recv / srv.send           sock_recv / sock_send_all
 *   6 srv.shutdown("read-write")    sock_shutdown(&srv, SOCK_SHUT_READ_WRITE)
 *   7 srv.close()                   sock_close(&srv)
 *   8 acep.shutdown("read-write")   sock_shutdown(&acep, SOCK_SHUT_READ_WRITE)
 *     acep.close()                  sock_close(&acep)
 *
 * accept returns a *new* socket, srv, for the one client; acep stays an
 * acceptor.  This server answers a single client (it reads one request
 * line and replies), then closes everything, the acceptor included: the
 * deck's last slide.  examples/multi_server.c serves many clients.
 *
 * Port "0" asks the system for a free port; the server prints the real
 * address as "listening on ADDR" on stderr, so a client (or a test) can
 * find it.  Every call is checked; a failure is reported with sock_error().
 *
 *   usage: server [HOST [PORT]]        (defaults: 127.0.0.1 8080)
 *   try:   SOCK_TRACE=1 build/examples/server 127.0.0.1 0
 *          then run build/examples/client 127.0.0.1 PORT in another terminal.
 */
#include <sock.h>
#include <stdio.h>
#include <string.h>

/* Report the last failure on s, in the library's words, and give the exit
 * status for "it failed". */
static int fail(const sock_t *s)
{
    fprintf(stderr, "server: %s\n", sock_error(s));
    return 1;
}

int main(int argc, char **argv)
{
    if (argc > 3) {
        fprintf(stderr, "usage: server [HOST [PORT]]   (defaults: 127.0.0.1 8080)\n");
        return 2;
    }
    const char *host = argc > 1 ? argv[1] : "127.0.0.1";
    const char *port = argc > 2 ? argv[2] : "8080";
    const char *reply = "hola, cliente\n";
    char request[512], addr[SOCK_ADDRSTRLEN];
    sock_t acep, srv;

    sock_init(&acep);                                       /* 1 acep = socket()    */
    if (sock_bind(&acep, host, port) < 0)                   /* 2 acep.bind()        */
        return fail(&acep);
    if (sock_listen(&acep, 10) < 0)                         /* 3 acep.listen(10)    */
        return fail(&acep);
    if (sock_local_addr(&acep, addr, sizeof addr) < 0)
        return fail(&acep);
    fprintf(stderr, "listening on %s\n", addr);

    if (sock_accept(&acep, &srv) < 0)                       /* 4 srv = acep.accept() */
        return fail(&acep);
    if (sock_peer_addr(&srv, addr, sizeof addr) < 0)
        return fail(&srv);
    fprintf(stderr, "client %s connected\n", addr);

    /* 5 srv.recv: a recv returns *some* bytes, so read until the request's
     * end of line, the end of the stream, or a full buffer. */
    size_t got = 0;
    ssize_t n = 1;
    while (got < sizeof request - 1 && (got == 0 || request[got - 1] != '\n')) {
        n = sock_recv(&srv, request + got, sizeof request - 1 - got);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    if (n < 0)
        return fail(&srv);
    request[got] = '\0';
    printf("server got: %s", request);
    if (sock_send_all(&srv, reply, strlen(reply), NULL) < 0)  /* 5 srv.send */
        return fail(&srv);

    if (sock_shutdown(&srv, SOCK_SHUT_READ_WRITE) < 0)      /* 6 srv.shutdown()     */
        return fail(&srv);
    if (sock_close(&srv) < 0)                               /* 7 srv.close()        */
        return fail(&srv);
    if (sock_shutdown(&acep, SOCK_SHUT_READ_WRITE) < 0)     /* 8 acep.shutdown()    */
        return fail(&acep);
    if (sock_close(&acep) < 0)                              /*   acep.close()       */
        return fail(&acep);
    return 0;
}
