/*
 * client.c - the seed's client, steps 1 to 7, with libsock.
 *
 *   cli = socket(); cli.connect(host, port);
 *   cli.send / cli.recv; cli.shutdown("read-write"); cli.close();
 *
 * connect binds implicitly: the client gets an ephemeral port, not the
 * server's ("Puerto 80 ??" on the slides); it prints which one.
 *
 *   usage: client HOST PORT
 *   try:   build/examples/server 127.0.0.1 0 &   (prints its port)
 *          build/examples/client 127.0.0.1 PORT
 */
#include <sock.h>
#include <stdio.h>

static int fail(const char *what, sock_t *s)
{
    fprintf(stderr, "client: %s: %s\n", what, sock_error(s));
    return 1;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: client HOST PORT\n");
        return 2;
    }
    sock_t cli;
    char reply[512], addr[SOCK_ADDRSTRLEN];

    sock_init(&cli);                                    /* 1 cli = socket()    */
    if (sock_connect(&cli, argv[1], argv[2]) < 0)       /* 4 cli.connect()     */
        return fail("connect", &cli);
    sock_local_addr(&cli, addr, sizeof addr);
    printf("client port: %s (chosen by the implicit bind of connect)\n", addr);

    if (sock_send_all(&cli, "hola, servidor\n", 15, NULL) < 0)  /* 5 cli.send */
        return fail("send", &cli);
    ssize_t n = sock_recv(&cli, reply, sizeof reply - 1);       /* 5 cli.recv */
    if (n < 0)
        return fail("recv", &cli);
    reply[n] = '\0';
    printf("client got: %s", reply);

    sock_shutdown(&cli, SOCK_SHUT_READ_WRITE);          /* 6 cli.shutdown()    */
    sock_close(&cli);                                   /* 7 cli.close()       */
    return 0;
}
