/*
 * event_server.c - many clients at once in one thread, with the poller and
 * non-blocking handles: an echo server in the event-loop style.
 *
 * What it shows: the same lifecycle as server.c (bind, listen, accept,
 * recv/send, shutdown, close), but no call ever waits.  The acceptor and
 * every client are registered with one sock_poller_t; the loop waits for
 * whichever is ready and does what can be done now:
 *
 *   acceptor readable   accept every waiting client (until -EAGAIN) and
 *                       watch each for reading
 *   client readable     recv what is there and send it back; what the
 *                       client's socket will not take now is kept and the
 *                       client is watched for writing instead of reading
 *                       (so a client that never reads cannot grow us)
 *   client writable     send the kept bytes, then read again
 *   recv 0 / a failure  the client ended (or reset): close it
 *
 * -EAGAIN is "not now", never an error, and costs nothing: no error text is
 * built.  A client costs its handle (56 bytes) and the bytes kept for it;
 * the poller keeps nothing per client.  Ctrl-C (SIGINT) or SIGTERM wakes the
 * loop through sock_poller_wake(), which is safe in a signal handler; then
 * every client and the acceptor are shut down and closed.
 *
 *   usage: event_server [HOST [PORT]]     (defaults: 127.0.0.1 0)
 *   try:   build/examples/event_server 127.0.0.1 0
 *          then several of: build/sock connect 127.0.0.1 PORT
 */
#include <errno.h>
#include <signal.h>
#include <sock.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One client: its handle, the echo it could not send yet, and its place
 * in the list of clients (so that a stop can close them all). */
struct client {
    sock_t s;
    char *kept;
    size_t kept_len;
    struct client *prev, *next;
};

static sock_poller_t *poller;
static struct client *clients;
static volatile sig_atomic_t stopping;

static void on_signal(int sig)
{
    (void)sig;
    stopping = 1;
    sock_poller_wake(poller);
}

static void drop(struct client *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        clients = c->next;
    if (c->next)
        c->next->prev = c->prev;
    sock_close(&c->s); /* also takes it out of the poller */
    free(c->kept);
    free(c);
}

/* Echo back buf; keep what the socket does not take now.  Returns 0, or -1
 * when the client is gone. */
static int echo(struct client *c, const char *buf, size_t len)
{
    size_t sent = 0;
    int rc = sock_send_all(&c->s, buf, len, &sent);
    if (rc == 0)
        return 0;
    if (rc != -EAGAIN)
        return -1;
    c->kept = malloc(len - sent);
    if (!c->kept)
        return -1;
    memcpy(c->kept, buf + sent, len - sent);
    c->kept_len = len - sent;
    /* Stop reading from it until it has taken its echo. */
    return sock_poller_modify(poller, &c->s, SOCK_WRITABLE, c) < 0 ? -1 : 0;
}

static void on_client(struct client *c, unsigned events)
{
    if (c->kept) {
        size_t sent = 0;
        int rc = sock_send_all(&c->s, c->kept, c->kept_len, &sent);
        if (rc == -EAGAIN) {
            memmove(c->kept, c->kept + sent, c->kept_len - sent);
            c->kept_len -= sent;
            return;
        }
        free(c->kept);
        c->kept = NULL;
        if (rc < 0 || sock_poller_modify(poller, &c->s, SOCK_READABLE, c) < 0)
            drop(c);
        return;
    }
    if (!(events & SOCK_READABLE))
        return;
    char buf[16384];
    ssize_t n = sock_recv(&c->s, buf, sizeof buf);
    if (n == -EAGAIN)
        return;
    if (n <= 0 || echo(c, buf, (size_t)n) < 0)
        drop(c); /* end of stream, a reset, or no memory */
}

static void on_acceptor(sock_t *acep)
{
    for (;;) {
        struct client *c = calloc(1, sizeof *c);
        if (!c)
            return;
        int rc = sock_accept(acep, &c->s);
        if (rc == 0 && sock_poller_add(poller, &c->s, SOCK_READABLE, c) == 0) {
            c->next = clients;
            if (clients)
                clients->prev = c;
            clients = c;
            continue;
        }
        if (rc != -EAGAIN)
            fprintf(stderr, "event_server: %s\n",
                    rc == 0 ? "cannot watch a client" : sock_error(acep));
        if (rc == 0)
            sock_close(&c->s);
        free(c);
        return; /* -EAGAIN: no one else waits; -EMFILE: try at the next event */
    }
}

int main(int argc, char **argv)
{
    const char *host = argc > 1 ? argv[1] : "127.0.0.1";
    const char *port = argc > 2 ? argv[2] : "0";
    sock_t acep;
    char addr[SOCK_ADDRSTRLEN];
    sock_init(&acep);
    if (sock_bind(&acep, host, port) < 0 || sock_listen(&acep, -1) < 0 ||
        sock_set_nonblocking(&acep, 1) < 0 || sock_local_addr(&acep, addr, sizeof addr) < 0) {
        fprintf(stderr, "event_server: %s\n", sock_error(&acep));
        sock_close(&acep);
        return 1;
    }
    int rc = sock_poller_open(&poller);
    if (rc == 0)
        rc = sock_poller_add(poller, &acep, SOCK_READABLE, &acep);
    if (rc < 0) {
        fprintf(stderr, "event_server: poller: %s\n", sock_strerror(rc));
        return 1;
    }
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    fprintf(stderr, "listening on %s\n", addr);

    while (!stopping) {
        sock_event_t ev[64];
        int n = sock_poller_wait(poller, ev, 64, -1);
        for (int i = 0; i < n; i++)
            if (ev[i].user == &acep)
                on_acceptor(&acep);
            else
                on_client(ev[i].user, ev[i].events);
    }
    /* The seed's last steps, for every client and then the acceptor. */
    int served = 0;
    while (clients) {
        sock_shutdown(&clients->s, SOCK_SHUT_READ_WRITE);
        drop(clients);
        served++;
    }
    sock_shutdown(&acep, SOCK_SHUT_READ_WRITE);
    sock_close(&acep);
    sock_poller_close(poller);
    fprintf(stderr, "event_server: stopped, %d clients were still connected\n", served);
    return 0;
}
