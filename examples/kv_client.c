/*
 * kv_client.c - the client of kv_server.c's protocol: commands from
 * standard input, replies decoded and printed.
 *
 * Each line typed (SET name value, GET name, DEL name, LIST) is sent as it
 * is, and the binary reply is read with the framing calls: a u8 status,
 * then a u16be-length value or message, or a u16be count of u8-length
 * names.  Reading through one sock_reader_t means no byte of a reply is
 * lost however the server's bytes arrive, one at a time or all at once.
 *
 *   usage: kv_client HOST PORT       (commands on stdin, one per line)
 *   try:   printf 'SET a 1\nGET a\nLIST\n' | build/examples/kv_client 127.0.0.1 PORT
 *
 * Output, one line per reply: "ok", "ok: VALUE", "ok: NAME NAME ...",
 * "no such name", "error: MESSAGE".  Exit 0 at the end of input, 1 if the
 * connection failed or the server broke the protocol.
 */
#include <errno.h>
#include <sock.h>
#include <stdio.h>
#include <string.h>

static int broken(const sock_t *s, const char *what)
{
    fprintf(stderr, "kv_client: %s: %s\n", what, sock_error(s));
    return 1;
}

/* Read and print one reply; 0, or 1 when the connection or the protocol
 * broke. */
static int print_reply(sock_reader_t *r, sock_t *s, const char *cmd)
{
    uint8_t status;
    if (sock_read_u8(r, &status) < 0)
        return broken(s, "reading the status");
    char text[1025];
    size_t len;
    if (status == 1) {
        puts("no such name");
    } else if (status == 2 || (status == 0 && strncmp(cmd, "GET", 3) == 0)) {
        if (sock_read_msg(r, SOCK_U16BE, text, sizeof text - 1, &len) < 0)
            return broken(s, "reading the text");
        text[len] = '\0';
        printf("%s%s\n", status ? "error: " : "ok: ", text);
    } else if (status == 0 && strncmp(cmd, "LIST", 4) == 0) {
        uint16_t count;
        if (sock_read_u16(r, &count) < 0)
            return broken(s, "reading the count");
        fputs("ok:", stdout);
        for (unsigned i = 0; i < count; i++) {
            if (sock_read_msg(r, SOCK_U8, text, sizeof text - 1, &len) < 0)
                return broken(s, "reading a name");
            printf(" %.*s", (int)len, text);
        }
        putchar('\n');
    } else if (status == 0) {
        puts("ok");
    } else {
        fprintf(stderr, "kv_client: unknown status %u\n", status);
        return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: kv_client HOST PORT\n");
        return 2;
    }
    sock_t s;
    sock_init(&s);
    if (sock_connect(&s, argv[1], argv[2]) < 0) {
        int rc = broken(&s, "connect");
        sock_close(&s);
        return rc;
    }
    char buf[4096], line[1200];
    sock_reader_t r;
    sock_reader_init(&r, &s, buf, sizeof buf);
    int rc = 0;
    while (rc == 0 && fgets(line, sizeof line, stdin)) {
        size_t n = strlen(line);
        if (n == 0 || line[n - 1] != '\n')
            line[n++] = '\n'; /* the last line, without its end */
        if (sock_send_all(&s, line, n, NULL) < 0)
            rc = broken(&s, "sending");
        else
            rc = print_reply(&r, &s, line);
    }
    sock_shutdown(&s, SOCK_SHUT_WRITE);
    sock_close(&s);
    return rc;
}
