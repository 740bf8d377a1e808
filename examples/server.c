/*
 * server.c - the seed's server, steps 1 to 8, with libsock.
 *
 *   acep = socket(); acep.bind(host, port); acep.listen(10);
 *   srv = acep.accept(); srv.recv / srv.send;
 *   srv.shutdown("read-write"); srv.close();
 *   acep.shutdown("read-write"); acep.close();
 *
 * It answers one client: reads its request (one recv), replies, and closes
 * everything, acceptor included (the deck's last slide).
 *
 *   usage: server [HOST [PORT]]        (defaults: 127.0.0.1 0)
 *   try:   SOCK_TRACE=1 build/examples/server 127.0.0.1 0
 *          then run build/examples/client with the port it prints.
 */
#include <sock.h>
#include <stdio.h>

static int fail(const char *what, sock_t *s)
{
    fprintf(stderr, "server: %s: %s\n", what, sock_error(s));
    return 1;
}

int main(int argc, char **argv)
{
    const char *host = argc > 1 ? argv[1] : "127.0.0.1";
    const char *port = argc > 2 ? argv[2] : "0";
    sock_t acep, srv;
    char request[512], addr[SOCK_ADDRSTRLEN];

    sock_init(&acep);                                   /* 1 acep = socket()   */
    if (sock_bind(&acep, host, port) < 0)               /* 2 acep.bind()       */
        return fail("bind", &acep);
    if (sock_listen(&acep, 10) < 0)                     /* 3 acep.listen(10)   */
        return fail("listen", &acep);
    sock_local_addr(&acep, addr, sizeof addr);
    fprintf(stderr, "listening on %s\n", addr);
    fflush(stderr);

    if (sock_accept(&acep, &srv) < 0)                   /* 4 srv = acep.accept() */
        return fail("accept", &acep);
    ssize_t n = sock_recv(&srv, request, sizeof request - 1);   /* 5 srv.recv */
    if (n < 0)
        return fail("recv", &srv);
    request[n] = '\0';
    printf("server got: %s", request);
    if (sock_send_all(&srv, "hola, cliente\n", 14, NULL) < 0)   /* 5 srv.send */
        return fail("send", &srv);

    sock_shutdown(&srv, SOCK_SHUT_READ_WRITE);          /* 6 srv.shutdown()    */
    sock_close(&srv);                                   /* 7 srv.close()       */
    sock_shutdown(&acep, SOCK_SHUT_READ_WRITE);         /* 8 acep.shutdown()   */
    sock_close(&acep);                                  /*   acep.close()      */
    return 0;
}
