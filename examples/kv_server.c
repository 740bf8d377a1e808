/*
 * kv_server.c - a course-style protocol on the framing calls: a shared
 * table of names and values, text commands in, binary replies out.
 *
 * The protocol (what an assignment would specify, byte by byte):
 *
 *   client -> server   one command per line, text, ending in "\n":
 *                        SET name value    GET name    DEL name    LIST
 *   server -> client   a reply per command:
 *                        u8 status       0 ok, 1 no such name, 2 bad command
 *                        then, for GET ok:   u16be length, the value's bytes
 *                              for LIST ok:  u16be count, then each name as
 *                                            u8 length + its bytes
 *                              for 2:        u16be length, a message (text)
 *
 * Every integer is big-endian (network order) and sent with sock_send_u16 /
 * sock_send_msg, every command is read with sock_read_line: no loop of our
 * own over partial reads and writes, and none is needed, however the bytes
 * are split on the way (the tests run it through `sock relay --max-chunk 1`).
 *
 * Concurrency, the course's way: an acceptor thread starts one handler
 * thread per client; the table is shared behind a mutex.  "q" on stdin
 * (or end of input) stops it: the acceptor is shut down (waking its
 * accept), every client is shut down (waking its handler), every thread is
 * joined, then the acceptor is closed.
 *
 *   usage: kv_server [HOST [PORT]]     (defaults: 127.0.0.1 0; prints
 *                                       "listening on ADDR" on stderr)
 *   try:   build/examples/kv_server 127.0.0.1 0
 *          build/examples/kv_client 127.0.0.1 PORT     (type commands)
 */
#include <errno.h>
#include <pthread.h>
#include <sock.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_CLIENTS = 64, MAX_ENTRIES = 256, MAX_NAME = 64, MAX_VALUE = 1024 };
enum { ST_OK = 0, ST_MISSING = 1, ST_BAD = 2 };

/* ---- the table ----------------------------------------------------------- */

static struct entry {
    char name[MAX_NAME + 1];
    char value[MAX_VALUE + 1];
} table[MAX_ENTRIES];
static int entries;
static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;

static int find(const char *name)
{
    for (int i = 0; i < entries; i++)
        if (strcmp(table[i].name, name) == 0)
            return i;
    return -1;
}

/* ---- one client ------------------------------------------------------------ */

struct client {
    sock_t srv;
    pthread_t thread;
    int used, done;
};

static struct client clients[MAX_CLIENTS];
static pthread_mutex_t clients_lock = PTHREAD_MUTEX_INITIALIZER;

static int send_status(sock_t *s, int status)
{
    unsigned char b = (unsigned char)status;
    return sock_send_all(s, &b, 1, NULL);
}

/* Status 2, then the message with its u16be length. */
static int reply_bad(sock_t *s, const char *why)
{
    if (send_status(s, ST_BAD) < 0)
        return -1;
    return sock_send_msg(s, SOCK_U16BE, why, strlen(why), NULL);
}

/* Run one command line; 0, or -1 when the client is gone. */
static int serve(sock_t *s, char *line)
{
    char *save = NULL;
    char *cmd = strtok_r(line, " ", &save), *name = strtok_r(NULL, " ", &save);
    char *value = strtok_r(NULL, "", &save);
    if (!cmd)
        return reply_bad(s, "empty line");
    if (name && strlen(name) > MAX_NAME)
        return reply_bad(s, "name too long");
    int rc = 0;
    pthread_mutex_lock(&table_lock);
    int at = name ? find(name) : -1;
    if (!strcmp(cmd, "SET") && name && value && strlen(value) <= MAX_VALUE) {
        if (at < 0 && entries < MAX_ENTRIES)
            at = entries++;
        if (at >= 0) {
            snprintf(table[at].name, sizeof table[at].name, "%s", name);
            snprintf(table[at].value, sizeof table[at].value, "%s", value);
        }
        rc = at >= 0 ? send_status(s, ST_OK) : reply_bad(s, "table full");
    } else if (!strcmp(cmd, "GET") && name && !value) {
        rc = send_status(s, at >= 0 ? ST_OK : ST_MISSING);
        if (rc == 0 && at >= 0)
            rc = sock_send_msg(s, SOCK_U16BE, table[at].value, strlen(table[at].value), NULL);
    } else if (!strcmp(cmd, "DEL") && name && !value) {
        if (at >= 0)
            table[at] = table[--entries];
        rc = send_status(s, at >= 0 ? ST_OK : ST_MISSING);
    } else if (!strcmp(cmd, "LIST") && !name) {
        rc = send_status(s, ST_OK);
        if (rc == 0)
            rc = sock_send_u16(s, (uint16_t)entries);
        for (int i = 0; rc == 0 && i < entries; i++)
            rc = sock_send_msg(s, SOCK_U8, table[i].name, strlen(table[i].name), NULL);
    } else {
        rc = reply_bad(s, "unknown command or bad arguments");
    }
    pthread_mutex_unlock(&table_lock);
    return rc < 0 ? -1 : 0;
}

static void *handler(void *arg)
{
    struct client *c = arg;
    char buf[2048], line[MAX_NAME + MAX_VALUE + 16];
    sock_reader_t r;
    sock_reader_init(&r, &c->srv, buf, sizeof buf);
    for (;;) {
        size_t len;
        int rc = sock_read_line(&r, line, sizeof line, &len);
        if (rc == -EMSGSIZE) {
            /* The rest of that line is still coming: answer, then stop. */
            reply_bad(&c->srv, "line too long");
            break;
        }
        if (rc < 0 || serve(&c->srv, line) < 0)
            break; /* SOCK_END: the client is done; else it is gone */
    }
    sock_shutdown(&c->srv, SOCK_SHUT_READ_WRITE);
    __atomic_store_n(&c->done, 1, __ATOMIC_RELEASE);
    return NULL;
}

/* Join the handlers that finished, so that their slots can serve again. */
static void reap(int all)
{
    pthread_mutex_lock(&clients_lock);
    for (int i = 0; i < MAX_CLIENTS; i++) {
        struct client *c = &clients[i];
        if (!c->used || (!all && !__atomic_load_n(&c->done, __ATOMIC_ACQUIRE)))
            continue;
        if (all)
            sock_shutdown(&c->srv, SOCK_SHUT_READ_WRITE); /* wakes its handler */
        pthread_join(c->thread, NULL);
        sock_close(&c->srv);
        c->used = c->done = 0;
    }
    pthread_mutex_unlock(&clients_lock);
}

static void *acceptor(void *arg)
{
    sock_t *acep = arg;
    for (;;) {
        reap(0);
        pthread_mutex_lock(&clients_lock);
        struct client *c = NULL;
        for (int i = 0; i < MAX_CLIENTS && !c; i++)
            if (!clients[i].used)
                c = &clients[i];
        pthread_mutex_unlock(&clients_lock);
        sock_t spare, *into = c ? &c->srv : &spare;
        int rc = sock_accept(acep, into);
        if (rc == SOCK_ECLOSED)
            return NULL; /* the stop */
        if (rc < 0)
            continue; /* e.g. out of descriptors: the client waits in the queue */
        if (!c || (c->done = 0, pthread_create(&c->thread, NULL, handler, c) != 0)) {
            sock_close(into); /* full: this client is turned away */
            continue;
        }
        pthread_mutex_lock(&clients_lock);
        c->used = 1;
        pthread_mutex_unlock(&clients_lock);
    }
}

int main(int argc, char **argv)
{
    const char *host = argc > 1 ? argv[1] : "127.0.0.1";
    const char *port = argc > 2 ? argv[2] : "0";
    sock_t acep;
    char addr[SOCK_ADDRSTRLEN];
    sock_init(&acep);
    if (sock_bind(&acep, host, port) < 0 || sock_listen(&acep, 16) < 0 ||
        sock_local_addr(&acep, addr, sizeof addr) < 0) {
        fprintf(stderr, "kv_server: %s\n", sock_error(&acep));
        sock_close(&acep);
        return 1;
    }
    fprintf(stderr, "listening on %s\n", addr);
    pthread_t t;
    if (pthread_create(&t, NULL, acceptor, &acep) != 0) {
        fprintf(stderr, "kv_server: cannot start the acceptor thread\n");
        sock_close(&acep);
        return 1;
    }
    char cmd[64];
    while (fgets(cmd, sizeof cmd, stdin) && strcmp(cmd, "q\n") != 0) {
    }
    sock_shutdown(&acep, SOCK_SHUT_READ_WRITE); /* 1. no more clients */
    pthread_join(t, NULL);
    reap(1);                                     /* 2. every client */
    sock_close(&acep);                           /* 3. the acceptor last */
    fprintf(stderr, "kv_server: stopped, %d names in the table\n", entries);
    return 0;
}
