/*
 * multi_server.c - the course's multi-client server: an acceptor thread,
 * one handler thread per client, and a clean stop.
 *
 * What it shows: the seed's server (examples/server.c) grown to serve many
 * clients at once, the way the course builds it, and stopped the way the
 * deck's last slide asks ("shut down and close the acceptor too"), without
 * leaving a thread, a descriptor or a byte of memory behind.
 *
 * The service: every byte a client sends comes back upper-cased, so with
 * `nc` you see at once that your line went through a handler thread.
 *
 * Who does what:
 *
 *   acceptor thread  loops on sock_accept(&acep, &c->srv) (srv = acep.accept())
 *                    and starts one handler thread per client; above
 *                    --max-clients it tells the client "busy" and closes.
 *   handler threads  srv.recv / srv.send until the client leaves; then
 *                    move themselves from the "live" list to the "done"
 *                    list (so the stop no longer touches their srv),
 *                    srv.shutdown, srv.close, and tell the main thread.
 *   main thread      waits for three things at once (poll): a line "q" on
 *                    stdin, SIGTERM or SIGINT (read from a signalfd, so no
 *                    signal handler runs), and "a handler finished" (an
 *                    eventfd).  It joins finished handlers as soon as they
 *                    end, while the server runs, and it runs the stop.
 *
 * The stop, in order:
 *
 *   1. sock_shutdown(&acep, SOCK_SHUT_READ_WRITE): the acceptor thread's
 *      sock_accept returns SOCK_ECLOSED and the thread ends; join it.  From
 *      now on no client can arrive.
 *   2. sock_shutdown(&c->srv, SOCK_SHUT_READ_WRITE) for every client still
 *      connected: each handler's sock_recv returns and the handler ends;
 *      join them all.  The clients read end of stream.
 *   3. sock_close(&acep): the acceptor's descriptor goes last.
 *
 *   usage: multi_server [--max-clients N] [HOST [PORT]]
 *          (defaults: 127.0.0.1 8080, N = 100; PORT 0 picks a free port,
 *          printed as "listening on ADDR" on stderr)
 *   try:   build/examples/multi_server 127.0.0.1 0
 *          nc 127.0.0.1 PORT          (several, in other terminals: type)
 *          then q and Enter in the server's terminal, or kill PID.
 */
#include <ctype.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sock.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

enum { DEFAULT_MAX_CLIENTS = 100, LIMIT_MAX_CLIENTS = 1000 };

struct server;

/* One connected client and the thread that serves it. */
struct client {
    sock_t srv;                   /* the connection: the seed's srv */
    char peer[SOCK_ADDRSTRLEN];   /* its address, for the messages */
    pthread_t thread;             /* its handler */
    struct server *server;
    struct client *prev, *next;   /* in server->live or server->done */
};

struct server {
    sock_t acep;                  /* the acceptor */
    int max_clients;
    int done_fd;                  /* eventfd: "a handler has finished" */
    pthread_mutex_t lock;         /* guards the two lists and nlive */
    struct client *live;          /* handlers running: the stop wakes them */
    struct client *done;          /* handlers finished: main joins them */
    int nlive;
};

/* ---------------------------------------------------------------- lists */

static void list_push(struct client **head, struct client *c)
{
    c->prev = NULL;
    c->next = *head;
    if (*head)
        (*head)->prev = c;
    *head = c;
}

static void list_remove(struct client **head, struct client *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        *head = c->next;
    if (c->next)
        c->next->prev = c->prev;
}

/* ---------------------------------------------------------------- handlers */

static void upcase(char *buf, size_t len)
{
    for (size_t i = 0; i < len; i++)
        buf[i] = (char)toupper((unsigned char)buf[i]);
}

/* Serve one client until it leaves or the stop shuts its connection down. */
static void *handle_client(void *arg)
{
    struct client *c = arg;
    struct server *server = c->server;
    char buf[4096];
    size_t echoed = 0;
    ssize_t n;
    int rc = 0;

    while ((n = sock_recv(&c->srv, buf, sizeof buf)) > 0) {      /* 5 srv.recv */
        upcase(buf, (size_t)n);
        rc = sock_send_all(&c->srv, buf, (size_t)n, NULL);         /* 5 srv.send */
        if (rc < 0)
            break;
        echoed += (size_t)n;
    }
    if (n < 0)
        rc = (int)n;
    /* SOCK_ECLOSED is the stop waking us, not a failure of the client's. */
    if (rc < 0 && rc != SOCK_ECLOSED)
        fprintf(stderr, "client %s: %s\n", c->peer, sock_error(&c->srv));
    fprintf(stderr, "client %s: left after %zu bytes\n", c->peer, echoed);

    /* Leave the live list before closing: from here on the stop no longer
     * calls sock_shutdown on c->srv, so it cannot race with sock_close.
     * main joins this thread (and only then frees c) once it is done. */
    pthread_mutex_lock(&server->lock);
    list_remove(&server->live, c);
    server->nlive--;
    list_push(&server->done, c);
    pthread_mutex_unlock(&server->lock);

    /* A connection the client reset has nothing left to shut down: the
     * result of step 6 does not matter here, the close releases it all. */
    (void)sock_shutdown(&c->srv, SOCK_SHUT_READ_WRITE);           /* 6 srv.shutdown */
    sock_close(&c->srv);                                           /* 7 srv.close */

    uint64_t one = 1;
    if (write(server->done_fd, &one, sizeof one) < 0)
        fprintf(stderr, "multi_server: telling main a handler ended: %s\n", strerror(errno));
    return NULL;
}

/* Join every handler on the done list and free its client. */
static void reap_finished(struct server *server)
{
    pthread_mutex_lock(&server->lock);
    struct client *c = server->done;
    server->done = NULL;
    pthread_mutex_unlock(&server->lock);
    while (c) {
        struct client *next = c->next;
        pthread_join(c->thread, NULL);
        fprintf(stderr, "client %s: handler joined\n", c->peer);
        free(c);
        c = next;
    }
}

/* ---------------------------------------------------------------- acceptor */

/* Tell a client that is turned away why (reason, one line), instead of
 * leaving it connected to nobody, then close its connection. */
static void refuse(struct client *c, const char *reason)
{
    char msg[128];
    int len = snprintf(msg, sizeof msg, "busy: %s, try again later\n", reason);
    fprintf(stderr, "client %s: refused: %s\n", c->peer, reason);
    if (sock_send_all(&c->srv, msg, (size_t)len, NULL) < 0 ||
        sock_shutdown(&c->srv, SOCK_SHUT_READ_WRITE) < 0)
        fprintf(stderr, "client %s: %s\n", c->peer, sock_error(&c->srv));
    sock_close(&c->srv);
    free(c);
}

/* Start a handler thread for c, or refuse c when the server is full. */
static void start_handler(struct server *server, struct client *c)
{
    c->server = server;
    if (sock_peer_addr(&c->srv, c->peer, sizeof c->peer) < 0)
        strcpy(c->peer, "(unknown)");
    /* The thread is created under the lock: the handler can only put itself
     * on the done list (where main reads c->thread) after pthread_create
     * has stored c->thread and the lock is released. */
    pthread_mutex_lock(&server->lock);
    if (server->nlive >= server->max_clients) {
        pthread_mutex_unlock(&server->lock);
        char reason[64];
        snprintf(reason, sizeof reason, "%d clients already", server->max_clients);
        refuse(c, reason);
        return;
    }
    list_push(&server->live, c);
    server->nlive++;
    int err = pthread_create(&c->thread, NULL, handle_client, c);
    if (err != 0) {
        list_remove(&server->live, c);
        server->nlive--;
        pthread_mutex_unlock(&server->lock);
        fprintf(stderr, "client %s: cannot start a thread: %s\n", c->peer, strerror(err));
        refuse(c, "the server cannot start a thread for you");
        return;
    }
    fprintf(stderr, "client %s: connected (%d of %d at most)\n", c->peer, server->nlive,
            server->max_clients);
    pthread_mutex_unlock(&server->lock);
}

/* Wait a little before retrying an accept that failed for lack of memory
 * or descriptors, so that the loop does not spin while none are free. */
static void pause_briefly(void)
{
    struct timespec ts = {0, 100 * 1000 * 1000};
    nanosleep(&ts, NULL);
}

/* The acceptor thread: accept clients until the acceptor is shut down. */
static void *accept_clients(void *arg)
{
    struct server *server = arg;
    int last_failure = 0;
    for (;;) {
        struct client *c = calloc(1, sizeof *c);
        if (!c) {
            fprintf(stderr, "multi_server: out of memory for a new client\n");
            pause_briefly();
            continue;
        }
        int rc = sock_accept(&server->acep, &c->srv);             /* 4 srv = acep.accept() */
        if (rc == SOCK_ECLOSED) {     /* the stop shut the acceptor down */
            free(c);
            return NULL;
        }
        if (rc < 0) {
            /* Said once per run of the same failure (out of descriptors
             * lasts until a client leaves), not ten times a second. */
            if (rc != last_failure)
                fprintf(stderr, "multi_server: %s; retrying\n", sock_error(&server->acep));
            last_failure = rc;
            free(c);
            pause_briefly();
            continue;
        }
        last_failure = 0;
        start_handler(server, c);
    }
}

/* ---------------------------------------------------------------- main */

/* Read what was typed on stdin: returns 1 for a line starting with q, 0
 * otherwise.  At end of input stdin is no longer watched (fd set to -1),
 * so a server started with </dev/null runs until a signal stops it. */
static int typed_quit(struct pollfd *in)
{
    char line[256];
    ssize_t n = read(in->fd, line, sizeof line);
    if (n < 0 && errno == EINTR)
        return 0;
    if (n <= 0) {
        fprintf(stderr, "multi_server: stdin closed; stop me with SIGTERM or Ctrl-C\n");
        in->fd = -1;
        return 0;
    }
    /* What was read may hold several lines (pasted text): any line that
     * starts with q stops the server. */
    for (ssize_t i = 0; i < n; i++) {
        int line_start = i == 0 || line[i - 1] == '\n';
        while (i < n && line_start && (line[i] == ' ' || line[i] == '\t'))
            i++;
        if (i < n && line_start && line[i] == 'q')
            return 1;
    }
    fprintf(stderr, "multi_server: type q and Enter to stop\n");
    return 0;
}

/* Run until q on stdin or a stop signal, joining handlers as they end. */
static void serve_until_stop(struct server *server, int sig_fd)
{
    struct pollfd fds[3] = {
        {.fd = STDIN_FILENO, .events = POLLIN},
        {.fd = sig_fd, .events = POLLIN},
        {.fd = server->done_fd, .events = POLLIN},
    };
    for (;;) {
        if (poll(fds, 3, -1) < 0) {
            if (errno == EINTR)
                continue;
            fprintf(stderr, "multi_server: poll: %s; stopping\n", strerror(errno));
            return;
        }
        if (fds[2].revents) {
            uint64_t count;
            if (read(server->done_fd, &count, sizeof count) > 0)
                reap_finished(server);
        }
        if (fds[1].revents) {
            struct signalfd_siginfo si;
            if (read(sig_fd, &si, sizeof si) == (ssize_t)sizeof si)
                fprintf(stderr, "multi_server: %s, stopping\n",
                        si.ssi_signo == SIGTERM ? "SIGTERM" : "SIGINT");
            return;
        }
        if (fds[0].revents && typed_quit(&fds[0])) {
            fprintf(stderr, "multi_server: q typed, stopping\n");
            return;
        }
    }
}

/* The stop: acceptor first, then every client, then join everything. */
static void stop_server(struct server *server, pthread_t acceptor)
{
    if (sock_shutdown(&server->acep, SOCK_SHUT_READ_WRITE) < 0)     /* 8 acep.shutdown */
        fprintf(stderr, "multi_server: %s\n", sock_error(&server->acep));
    pthread_join(acceptor, NULL);

    /* No new handler can start now.  Wake those still serving: their
     * sock_recv returns, and each one leaves the live list by itself.  A
     * connection already reset needs no waking, hence no error check. */
    pthread_mutex_lock(&server->lock);
    for (struct client *c = server->live; c; c = c->next)
        (void)sock_shutdown(&c->srv, SOCK_SHUT_READ_WRITE);
    pthread_mutex_unlock(&server->lock);

    for (;;) {
        pthread_mutex_lock(&server->lock);
        int left = server->nlive;
        pthread_mutex_unlock(&server->lock);
        reap_finished(server);
        if (left == 0)
            break;
        uint64_t count;      /* blocks until the next handler finishes */
        if (read(server->done_fd, &count, sizeof count) < 0 && errno != EINTR) {
            fprintf(stderr, "multi_server: waiting for handlers: %s\n", strerror(errno));
            break;
        }
    }
    if (sock_close(&server->acep) < 0)                               /*   acep.close */
        fprintf(stderr, "multi_server: %s\n", sock_error(&server->acep));
}

static int usage(void)
{
    fprintf(stderr, "usage: multi_server [--max-clients N] [HOST [PORT]]   "
            "(defaults: 127.0.0.1 8080, N = %d)\n", DEFAULT_MAX_CLIENTS);
    return 2;
}

/* Parse argv into the server's limit, host and port; 0, or -1 after saying
 * what is wrong. */
static int parse_args(int argc, char **argv, int *max_clients, const char **host,
                      const char **port)
{
    int i = 1;
    *max_clients = DEFAULT_MAX_CLIENTS;
    for (; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
        const char *value = NULL;
        if (strcmp(argv[i], "--max-clients") == 0 && i + 1 < argc)
            value = argv[++i];
        else if (strncmp(argv[i], "--max-clients=", 14) == 0)
            value = argv[i] + 14;
        else {
            fprintf(stderr, "multi_server: unknown option or missing value: %s\n", argv[i]);
            return -1;
        }
        char *end;
        errno = 0;
        long v = strtol(value, &end, 10);
        if (errno || end == value || *end || v < 1 || v > LIMIT_MAX_CLIENTS) {
            fprintf(stderr, "multi_server: --max-clients wants a number from 1 to %d, not '%s'\n",
                    LIMIT_MAX_CLIENTS, value);
            return -1;
        }
        *max_clients = (int)v;
    }
    if (argc - i > 2) {
        fprintf(stderr, "multi_server: too many arguments\n");
        return -1;
    }
    *host = i < argc ? argv[i] : "127.0.0.1";
    *port = i + 1 < argc ? argv[i + 1] : "8080";
    return 0;
}

/* Bind and listen (steps 1-3); the real address (port "0" chooses one)
 * goes to addr. */
static int open_acceptor(sock_t *acep, const char *host, const char *port, char *addr)
{
    sock_init(acep);                                               /* 1 acep = socket() */
    if (sock_bind(acep, host, port) < 0 ||                         /* 2 acep.bind()     */
        sock_listen(acep, 10) < 0 ||                               /* 3 acep.listen(10) */
        sock_local_addr(acep, addr, SOCK_ADDRSTRLEN) < 0) {
        fprintf(stderr, "multi_server: %s\n", sock_error(acep));
        sock_close(acep);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct server server = {.done_fd = -1};
    const char *host, *port;
    if (parse_args(argc, argv, &server.max_clients, &host, &port) < 0)
        return usage();

    /* Block the stop signals in this thread before any other exists (new
     * threads inherit the mask): they are then only read from sig_fd, by
     * main, when it chooses.  No signal handler runs, so nothing unsafe
     * can happen in one. */
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
    int sig_fd = signalfd(-1, &stop_signals, SFD_CLOEXEC);
    server.done_fd = eventfd(0, EFD_CLOEXEC);
    if (sig_fd < 0 || server.done_fd < 0) {
        fprintf(stderr, "multi_server: signalfd/eventfd: %s\n", strerror(errno));
        return 1;
    }
    pthread_mutex_init(&server.lock, NULL);

    int status = 1;
    pthread_t acceptor;
    char addr[SOCK_ADDRSTRLEN];
    if (open_acceptor(&server.acep, host, port, addr) == 0) {
        int err = pthread_create(&acceptor, NULL, accept_clients, &server);
        if (err == 0) {
            /* Said once every thread of the idle server runs, so a watcher
             * (a test) sees the server's resting state from here on. */
            fprintf(stderr, "listening on %s\n", addr);
            fprintf(stderr, "multi_server: type q and Enter (or send SIGTERM) to stop\n");
            serve_until_stop(&server, sig_fd);
            stop_server(&server, acceptor);
            status = 0;
        } else {
            fprintf(stderr, "multi_server: cannot start the acceptor thread: %s\n", strerror(err));
            sock_close(&server.acep);
        }
    }
    pthread_mutex_destroy(&server.lock);
    close(server.done_fd);
    close(sig_fd);
    return status;
}
