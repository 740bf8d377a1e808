/*
 * listen.c - `sock listen [HOST] PORT`: accept a connection and copy stdin
 * to it and it to stdout; -k serves one client after another; --exec runs
 * a command for each client instead (with -k, for many at once).
 */
#include "cli.h"
#include "exec.h"
#include "pump.h"
#include "util.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>


static void usage(FILE *f)
{
    fprintf(f,
            "usage: sock [global options] listen [-k] [-v] [--exec CMD] [HOST] PORT\n"
            "       sock [global options] listen [-k] [-v] [--exec CMD] -U PATH\n"
            "       sock [global options] listen --tls --cert FILE --key FILE [--ca FILE]\n"
            "                 [--alpn LIST] [-k] [-v] [HOST] PORT\n"
            "\n"
            "Listen on HOST PORT (every local address, IPv4 and IPv6, when HOST is left\n"
            "out; PORT 0 lets the system choose), print 'listening on ADDR' on standard\n"
            "error with the real port, accept one client and copy standard input to it and\n"
            "it to standard output, as 'sock connect' does.\n"
            "\n"
            "  -U PATH           listen on a Unix stream socket at PATH instead (@NAME:\n"
            "                    Linux's abstract namespace), as nc -lU; a file left by a\n"
            "                    server that died is replaced, a live server's is not taken;\n"
            "                    the file is removed at the end\n"
            "  -k, --keep-open   serve one client after another, as nc -k does (standard\n"
            "                    input goes to the first client only; the next client is\n"
            "                    accepted when the one before has ended)\n"
            "  -v, --verbose     'connection from ADDR' on standard error for each client\n"
            "                    (a Unix client with its pid, uid and gid)\n"
            "  --exec CMD        run CMD (through /bin/sh -c) with the client's connection\n"
            "                    as its standard input and output, as ncat -e does; its\n"
            "                    standard error is sock's.  Alone: one client, and sock\n"
            "                    exits with the command's status (128+N for signal N, 127:\n"
            "                    not found).  With -k: a process per client at once, many\n"
            "                    running together; each failure (or, with -v, each end)\n"
            "                    is reported, and the server keeps serving\n"
            "\n"
            "TLS:\n"
            "  --tls             each client speaks TLS: the handshake presents --cert (PEM,\n"
            "                    the chain after it) with its private key --key; a client\n"
            "                    that fails it (or speaks plain TCP) is reported by name\n"
            "                    and, with -k, the next one is taken.  End of input sends\n"
            "                    close_notify; a client that cuts the stream without one\n"
            "                    is reported\n"
            "  --ca FILE         ask each client for a certificate signed by a CA of FILE,\n"
            "                    and refuse those without one\n"
            "  --alpn LIST       the application protocols this server speaks, in order of\n"
            "                    preference (h2,http/1.1); a client offering none is refused\n"
            "  -v                also 'tls: VERSION, CIPHER, ...' for each client\n"
            "\n"
            "--timeout MS ends the wait for the client after MS (status 1) and a client\n"
            "that sends and takes nothing for MS; with -k it only ends idle clients (the\n"
            "server waits for the next client for ever); with --exec it bounds only the\n"
            "wait for the client.\n"
            "\n"
            "Exit status: 0 on a clean end, 1 on a network error, 2 on a usage error; with\n"
            "--exec and no -k, once a client came, the command's.\n");
}

int cli_parse_listen(const struct cli_opts *o, int argc, char **argv, struct listen_args *a)
{
    static const struct option opts[] = {{"keep-open", no_argument, NULL, 'k'},
                                         {"verbose", no_argument, NULL, 'v'},
                                         {"exec", required_argument, NULL, 'e'},
                                         {"help", no_argument, NULL, 'h'},
                                         TOOL_TLS_LONGOPTS,
                                         {NULL, 0, NULL, 0}};
    *a = (struct listen_args){.tls = {.server = 1}};
    const char *unix_path = NULL;
    int ch, rc;
    optind = 0;
    while ((ch = tool_getopt("listen", argc, argv, "kvU:h", opts)) != -1) {
        if (tool_tls_option("listen", ch, optarg, &a->tls, &rc)) {
            if (rc)
                return rc;
        } else if (ch == 'k') {
            a->keep = 1;
        } else if (ch == 'v') {
            a->verbose = 1;
        } else if (ch == 'U') {
            unix_path = optarg;
        } else if (ch == 'e') {
            if (!*optarg) {
                tool_err("listen", "--exec needs a command (it is empty)");
                return EXIT_USAGE;
            }
            a->exec = optarg;
        } else if (ch == 'h') {
            a->help = 1;
            return 0;
        } else {
            return EXIT_USAGE;
        }
    }
    if ((rc = tool_tls_check("listen", &a->tls, "--tls")) != 0)
        return rc;
    if (a->exec && a->tls.on) {
        tool_err("listen", "--exec hands the command the raw connection: it does not go with "
                           "--tls");
        return EXIT_USAGE;
    }
    if (unix_path) {
        if (optind < argc) {
            tool_err("listen", "unexpected argument %s: -U PATH takes no HOST or PORT",
                     tool_quote(argv[optind]));
            return EXIT_USAGE;
        }
        a->is_unix = 1;
        return tool_unix_host("listen", o, unix_path, a->host, sizeof a->host);
    }
    rc = tool_host_port("listen", argc - optind, argv + optind, 0, a->host, sizeof a->host,
                        a->port, sizeof a->port);
    return rc ? rc : tool_check_numeric("listen", o, "HOST", a->host, a->port);
}

/* -v: "connection from ADDR", and for a Unix client (whose address is
 * mostly "unix:(unnamed)") who it is, as the kernel saw it at connect. */
static void note_client(const struct listen_args *a, const sock_t *peer, char *addr, size_t len)
{
    snprintf(addr, len, "?");
    sock_peer_addr(peer, addr, len);
    if (!a->verbose)
        return;
    char cred[96] = "";
    pid_t pid;
    uid_t uid;
    gid_t gid;
    if (sock_peer_cred(peer, &pid, &uid, &gid) == 0)
        snprintf(cred, sizeof cred, " (pid %ld, uid %ld, gid %ld)", (long)pid, (long)uid,
                 (long)gid);
    tool_line_end();
    fprintf(stderr, "connection from %s%s\n", addr, cred);
    fflush(stderr);
}

/* Accept one client, or say why not.  Returns 0 or the library's code. */
static int take_client(const struct cli_opts *o, const char *cmd, sock_t *acep, sock_t *peer)
{
    int code = sock_accept(acep, peer);
    if (code == 0 || code == -EAGAIN)
        return code;
    if (code == -ETIMEDOUT)
        tool_err(cmd, "no client within %d ms (--timeout)", o->timeout_ms);
    else
        tool_err(cmd, "%s", sock_error(acep));
    return code;
}

/* Every child that has ended, reported; the rest keep running. */
static void reap_children(const struct listen_args *a)
{
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
        exec_report("listen", a->exec, pid, NULL, status, a->verbose);
}

/* listen -k --exec: a child per client, at once.  The acceptor is
 * non-blocking and waited for with poll() together with a signalfd for
 * SIGCHLD, so that children are reaped (and reported) as they end while
 * the server keeps accepting. */
static int serve_exec_many(const struct cli_opts *o, const struct listen_args *a, sock_t *acep)
{
    sigset_t chld, old;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    sigprocmask(SIG_BLOCK, &chld, &old);
    int sfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
    if (sfd < 0 || sock_set_nonblocking(acep, 1) < 0) {
        tool_err("listen", "cannot set up the server: %s",
                 sfd < 0 ? strerror(errno) : sock_error(acep));
        if (sfd >= 0)
            close(sfd);
        sigprocmask(SIG_SETMASK, &old, NULL);
        return EXIT_NET;
    }
    int rc = EXIT_OK;
    for (;;) {
        struct pollfd pfd[2] = {{.fd = sock_fd(acep), .events = POLLIN},
                                {.fd = sfd, .events = POLLIN}};
        if (poll(pfd, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            tool_err("listen", "poll: %s", strerror(errno));
            rc = EXIT_NET;
            break;
        }
        if (pfd[1].revents) {
            struct signalfd_siginfo si[8];
            while (read(sfd, si, sizeof si) > 0)
                ;
            reap_children(a);
        }
        if (!pfd[0].revents)
            continue;
        sock_t peer;
        int code = take_client(o, "listen", acep, &peer);
        if (code == -EAGAIN)
            continue;
        if (code < 0) {
            rc = EXIT_NET;
            break;
        }
        char addr[SOCK_ADDRSTRLEN];
        note_client(a, &peer, addr, sizeof addr);
        pid_t pid = exec_start("listen", a->exec, &peer);
        if (pid > 0 && a->verbose)
            fprintf(stderr, "sock listen: --exec %s started for %s: pid %ld\n",
                    tool_quote(a->exec), addr, (long)pid);
        sock_close(&peer);
    }
    close(sfd);
    sigprocmask(SIG_SETMASK, &old, NULL);
    return rc;
}

/* listen --exec without -k: one client, one command, its status. */
static int serve_exec_one(const struct cli_opts *o, const struct listen_args *a, sock_t *acep)
{
    sock_t peer;
    if (take_client(o, "listen", acep, &peer) < 0)
        return EXIT_NET;
    /* No other client will be taken: the acceptor (and its file) goes. */
    sock_close(acep);
    char addr[SOCK_ADDRSTRLEN];
    note_client(a, &peer, addr, sizeof addr);
    pid_t pid = exec_start("listen", a->exec, &peer);
    sock_close(&peer);
    return pid < 0 ? EXIT_NET : exec_wait("listen", a->exec, pid, addr, a->verbose);
}

/* Copy standard input and output to one client, or to one after another.
 * With --tls each client's handshake comes first; one that fails it is
 * reported, and with -k the next client is taken (standard input is
 * still unread then, so it goes to the first client that gets through). */
static int serve_pump(const struct cli_opts *o, struct listen_args *a, sock_t *acep)
{
    int in_fd = STDIN_FILENO, rc;
    do {
        sock_t peer;
        if (take_client(o, "listen", acep, &peer) < 0) {
            rc = EXIT_NET;
            break;
        }
        char addr[SOCK_ADDRSTRLEN];
        note_client(a, &peer, addr, sizeof addr);
        /* A keep-open server's acceptor has no timeout (it waits for the
         * next client for ever), so its clients inherit none: --timeout
         * must still bound a client that never finishes its handshake. */
        if (a->tls.on && o->timeout_ms >= 0)
            sock_set_timeout(&peer, o->timeout_ms);
        if ((rc = tool_tls_handshake("listen", &a->tls, &peer, NULL, a->verbose)) != 0) {
            sock_close(&peer);
            continue; /* the loop's condition: the next client with -k */
        }
        struct pump_opts po = {.cmd = "listen", .idle_ms = o->timeout_ms,
                               .progress = o->progress, .trace = o->trace};
        struct pump_stats st;
        rc = pump_run(&peer, in_fd, STDOUT_FILENO, &po, &st);
        sock_close(&peer);
        /* With -k one client's failure (already reported) ends only that
         * client; but a reader of standard output that went away ends the
         * server, since no later client could be shown either. */
        if (!a->keep || st.output_gone)
            break;
        rc = EXIT_OK;
        /* Standard input can only be read once: later clients get none. */
        in_fd = -1;
    } while (a->keep);
    return rc;
}

int cmd_listen(const struct cli_opts *o, int argc, char **argv)
{
    struct listen_args a;
    int rc = cli_parse_listen(o, argc, argv, &a);
    if (rc || a.help) {
        if (a.help)
            usage(stdout);
        return rc;
    }
    /* --timeout bounds the wait for the one client; a keep-open server
     * waits for its next client for ever, and the timeout ends only a
     * client that stays idle. */
    /* The certificate and key are read before the port is taken. */
    if ((rc = tool_tls_setup("listen", &a.tls)) != 0)
        return rc;
    sock_t acep;
    if ((rc = tool_listen("listen", o, a.host, a.port, -1, !a.keep, &acep)) != 0) {
        tool_tls_free(&a.tls);
        return rc;
    }
    if (a.exec && a.keep)
        rc = serve_exec_many(o, &a, &acep);
    else if (a.exec)
        rc = serve_exec_one(o, &a, &acep);
    else
        rc = serve_pump(o, &a, &acep);
    sock_close(&acep);
    tool_tls_free(&a.tls);
    return rc;
}
