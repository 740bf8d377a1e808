/*
 * pump.c - the data mover of `sock connect` and `sock listen`; see pump.h.
 *
 * A session of the forwarding engine (forward.c) between the standard
 * streams (side A) and the connection (side B), on a poller of its own:
 * the engine picks the path of each direction (sendfile from a regular
 * file, splice through a pipe for pipes, files and /dev/null, a copy for a
 * foreign socket), passes the half-close on, and keeps what the connection
 * delivered before a reset.  This file adds what a person at a terminal
 * wants: the idle limit of --timeout, the progress line and the messages.
 */
#include "pump.h"

#include "cli.h"
#include "forward.h"
#include "util.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define PUMP_EVENTS 8

struct pump {
    sock_t *s;
    struct fwd f;
    const struct pump_opts *o;
    struct pump_stats *st;
    double started, last_report;
};

static int fail(struct pump *p, const char *what, int err)
{
    char peer[SOCK_ADDRSTRLEN] = "?";
    sock_peer_addr(p->s, peer, sizeof peer);
    tool_err(p->o->cmd, "%s %s: %s (sent %llu, received %llu bytes)", what, peer,
             sock_strerror(err), p->st->sent, p->st->received);
    return EXIT_NET;
}

static int local_fail(struct pump *p, const char *what, int err)
{
    tool_err(p->o->cmd, "%s: %s", what, strerror(err));
    return EXIT_NET;
}

static void count(struct pump *p)
{
    p->st->sent = p->f.dir[FWD_A].moved;
    p->st->received = p->f.dir[FWD_B].moved;
}

/* The progress line, once a second and once at the end, which also
 * finishes it with a newline. */
static void report(struct pump *p, int final)
{
    double t = tool_now();
    if (!p->o->progress || (!final && t - p->last_report < 1.0))
        return;
    p->last_report = t;
    double secs = t - p->started > 1e-6 ? t - p->started : 1e-6;
    char line[160];
    snprintf(line, sizeof line, "sock %s: sent %.1f MiB, received %.1f MiB, %.1f MiB/s",
             p->o->cmd, (double)p->st->sent / 1048576.0, (double)p->st->received / 1048576.0,
             (double)(p->st->sent + p->st->received) / 1048576.0 / secs);
    tool_line_draw(line);
    if (final)
        tool_line_end();
}

/* Ctrl-C or SIGTERM while a progress line is drawn: finish the line, so
 * the shell's prompt starts on a line of its own, then die of the signal
 * as the process would have without us (the exit status says so). */
static void on_stop_signal(int sig)
{
    tool_line_end_signal();
    signal(sig, SIG_DFL);
    raise(sig);
}


/* How long the poller may wait: until the next progress line, or until
 * --timeout would run out since bytes last moved; -1 for ever. */
static int poll_wait(const struct pump *p, double now)
{
    if (fwd_has_ready(&p->f))
        return 0;
    double wait = -1;
    if (p->o->progress)
        wait = 1.0 - (now - p->last_report);
    if (p->o->idle_ms >= 0) {
        double idle_left = p->o->idle_ms / 1000.0 - (now - p->f.last_moved);
        if (wait < 0 || idle_left < wait)
            wait = idle_left;
    }
    return wait < 0 ? (p->o->progress || p->o->idle_ms >= 0 ? 0 : -1) : (int)(wait * 1000) + 1;
}

static int step(struct pump *p, sock_poller_t *poller)
{
    sock_event_t ev[PUMP_EVENTS];
    int n = sock_poller_wait(poller, ev, PUMP_EVENTS, poll_wait(p, tool_now()));
    if (n < 0)
        return local_fail(p, "poll", -n);
    for (int i = 0; i < n; i++)
        fwd_event(ev[i].user, ev[i].events);
    fwd_run(&p->f);
    count(p);
    report(p, 0);
    if (!fwd_finished(&p->f) && p->o->idle_ms >= 0 &&
        tool_now() - p->f.last_moved >= p->o->idle_ms / 1000.0) {
        tool_err(p->o->cmd, "no data moved for %d ms (--timeout)", p->o->idle_ms);
        return EXIT_NET;
    }
    return 0;
}

/* What ended the session, as an exit status (after the message). */
static int outcome(struct pump *p)
{
    static const char *const what[] = {"recv from", "send to", "shutdown of connection to",
                                       "connection to"};
    const struct fwd *f = &p->f;
    if (f->output_gone) {
        p->st->output_gone = 1;
        return EXIT_OK;
    }
    if (f->local_err)
        return local_fail(p, f->local_what, f->local_err);
    if (f->fail_side == FWD_B)
        return fail(p, what[f->side[FWD_B].fail_op], -f->side[FWD_B].failed);
    return EXIT_OK;
}

int pump_run(sock_t *s, int in_fd, int out_fd, const struct pump_opts *o, struct pump_stats *st)
{
    struct pump p = {.s = s, .o = o, .st = st, .started = tool_now()};
    memset(st, 0, sizeof *st);
    sock_poller_t *poller;
    int code = sock_poller_open(&poller);
    if (code < 0)
        return local_fail(&p, "poller", -code);
    p.f.side[FWD_A] = (struct fwd_side){.in_fd = in_fd, .out_fd = out_fd};
    p.f.side[FWD_B].s = s;
    /* A terminal is never closed by anyone: the session ends with the
     * peer's end of stream. */
    p.f.a_endless = in_fd >= 0 && isatty(in_fd);
    struct fwd_hooks h = {.trace = o->trace};
    int rc = EXIT_OK;
    code = fwd_start(&p.f, poller, &h);
    if (code < 0) {
        rc = local_fail(&p, "socket flags", -code);
        goto out;
    }
    if (o->progress)
        tool_on_stop_signals(on_stop_signal);
    while (!rc && !fwd_finished(&p.f))
        rc = step(&p, poller);
    count(&p);
    report(&p, 1);
    if (o->progress)
        tool_on_stop_signals(SIG_DFL);
    if (!rc)
        rc = outcome(&p);
out:
    fwd_stop(&p.f);
    sock_poller_close(poller);
    return rc;
}
