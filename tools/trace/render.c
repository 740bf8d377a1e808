/*
 * tools/trace/render.c - records to the story, in the seed's words.
 *
 * Each socket gets a name from its role, as on the slides: the one that
 * listens is acep, the ones accept returns are srv (srv2, ...), the ones
 * that connect are cli (cli2, ...).  A socket's role is known only at
 * listen, connect or accept, so its first steps (socket, setsockopt, bind)
 * wait until then and are printed together under the right name.
 *
 * Diagnoses found inside the process (TR_DIAG) arrive just before the
 * record of the call they are about; they wait for it and are printed
 * under it.  The parent finds three mistakes itself: bind failing because
 * of an earlier run's connections (it reads /proc/net/tcp), descriptors
 * growing per connection, and death by SIGPIPE (from the wait status).
 */
#include "trace.h"

#include "../demo/demo.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#define MAX_HELD 8
#define MAX_PENDING 16
#define MAX_TIDS 64

enum role { R_NONE, R_ACEP, R_SRV, R_CLI, R_SOCK };

struct tsock {
    int pid, fd, open;
    enum role role;
    char name[16];
    int bound;                      /* an explicit bind was seen */
    int state_shown;                /* the last state printed, -1 none */
    struct sockaddr_storage local, peer;
    int have_local, have_peer;
    int eof;                        /* a recv returned 0 */
    int leak_counted;
    struct trace_rec *pending[MAX_PENDING];
    int npending;
};

struct tproc {
    int pid, ppid;
    int tids[MAX_TIDS];
    int ntids;
    int counts[5];                  /* names given per role */
    int last_send_step;
    char last_send_name[16], last_send_peer[64];
    int growth_reported;
    int left_accepted;              /* accepted sockets left open at exit */
    char left_name[16];             /* the first of them */
    struct trace_rec *held[MAX_HELD];
    int nheld;
    int exited;
    int started;                    /* its TR_START was seen */
};

struct mistake {
    int step;
    char text[640];
};

struct svg_event {
    int pid, step, mistake;
    char text[160];
    char state[48];
};

struct trace_render {
    FILE *out;
    int es, hex, utf8;
    int svg;              /* keep the events for --svg */
    int main_pid;
    int step;
    struct tsock *socks;
    int nsocks, capsocks;
    struct tproc *procs;
    int nprocs, capprocs;
    struct mistake *mistakes;
    int nmistakes, capmistakes;
    struct svg_event *events;
    int nevents, capevents;
    char program[128];
};

static void *grow(void *p, int *cap, int need, size_t size)
{
    if (need <= *cap)
        return p;
    int ncap = *cap ? *cap * 2 : 16;
    while (ncap < need)
        ncap *= 2;
    void *q = realloc(p, (size_t)ncap * size);
    if (!q) {
        fprintf(stderr, "sock trace: out of memory\n");
        exit(EXIT_FAILURE);
    }
    memset((char *)q + (size_t)*cap * size, 0, (size_t)(ncap - *cap) * size);
    *cap = ncap;
    return q;
}

static int utf8_locale(void)
{
    const char *vars[] = {"LC_ALL", "LC_CTYPE", "LANG"};
    for (int i = 0; i < 3; i++) {
        const char *v = getenv(vars[i]);
        if (v && *v)
            return strstr(v, "UTF-8") || strstr(v, "utf8") || strstr(v, "UTF8") ||
                   strstr(v, "utf-8");
    }
    return 0;
}

struct trace_render *trace_render_new(FILE *out, const struct trace_opts *opt, int main_pid)
{
    struct trace_render *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->out = out;
    r->es = opt->lang_es;
    r->hex = opt->hexdump;
    r->svg = opt->svg != NULL;
    r->utf8 = utf8_locale();
    r->main_pid = main_pid;
    snprintf(r->program, sizeof r->program, "%s", opt->argc > 0 ? opt->argv[0] : "");
    return r;
}

static const char *T(const struct trace_render *r, enum trace_text id)
{
    return trace_text(r->es, id);
}

static const char *arrow(const struct trace_render *r)
{
    return r->utf8 ? "\u2192" : "->";
}

/* ------------------------------------------------------------ processes */

static struct tproc *proc_find(struct trace_render *r, int pid)
{
    for (int i = 0; i < r->nprocs; i++)
        if (r->procs[i].pid == pid)
            return &r->procs[i];
    return NULL;
}

static struct tproc *proc_get(struct trace_render *r, int pid)
{
    struct tproc *p = proc_find(r, pid);
    if (p)
        return p;
    r->procs = grow(r->procs, &r->capprocs, r->nprocs + 1, sizeof *r->procs);
    p = &r->procs[r->nprocs++];
    memset(p, 0, sizeof *p);
    p->pid = pid;
    p->tids[p->ntids++] = pid; /* the main thread is t1 */
    return p;
}

/* "t2": the thread's number in its process, by order of appearance. */
static int thread_no(struct tproc *p, int tid)
{
    for (int i = 0; i < p->ntids; i++)
        if (p->tids[i] == tid)
            return i + 1;
    if (p->ntids < MAX_TIDS) {
        p->tids[p->ntids++] = tid;
        return p->ntids;
    }
    return 0;
}

static void thread_name(struct tproc *p, int tid, char *buf, size_t len)
{
    int n = thread_no(p, tid);
    if (n)
        snprintf(buf, len, "t%d", n);
    else
        snprintf(buf, len, "tid %d", tid);
}

/* ------------------------------------------------------------- sockets */

static struct tsock *sock_find(struct trace_render *r, int pid, int fd)
{
    for (int i = r->nsocks - 1; i >= 0; i--)
        if (r->socks[i].pid == pid && r->socks[i].fd == fd && r->socks[i].open)
            return &r->socks[i];
    return NULL;
}

/* The socket fd was last, open or just closed: a diagnosis of a close
 * arrives with the close. */
static struct tsock *sock_find_any(struct trace_render *r, int pid, int fd)
{
    for (int i = r->nsocks - 1; i >= 0; i--)
        if (r->socks[i].pid == pid && r->socks[i].fd == fd)
            return &r->socks[i];
    return NULL;
}

static struct tsock *sock_new(struct trace_render *r, int pid, int fd)
{
    struct tsock *old = sock_find(r, pid, fd);
    if (old)
        old->open = 0;
    r->socks = grow(r->socks, &r->capsocks, r->nsocks + 1, sizeof *r->socks);
    struct tsock *s = &r->socks[r->nsocks++];
    memset(s, 0, sizeof *s);
    s->pid = pid;
    s->fd = fd;
    s->open = 1;
    s->state_shown = -1;
    return s;
}

static void sock_name(struct trace_render *r, struct tsock *s, enum role role)
{
    static const char *const base[] = {"", "acep", "srv", "cli", "sock"};
    struct tproc *p = proc_get(r, s->pid);
    int n = ++p->counts[role];
    s->role = role;
    if (n == 1)
        snprintf(s->name, sizeof s->name, "%s", base[role]);
    else
        snprintf(s->name, sizeof s->name, "%s%d", base[role], n);
}

/* ----------------------------------------------------------- formatting */

static void addr_host_port(const struct sockaddr_storage *ss, char *host, size_t hlen,
                           int *port)
{
    snprintf(host, hlen, "?");
    *port = 0;
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *in = (const void *)ss;
        inet_ntop(AF_INET, &in->sin_addr, host, (socklen_t)hlen);
        *port = ntohs(in->sin_port);
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const void *)ss;
        inet_ntop(AF_INET6, &in6->sin6_addr, host, (socklen_t)hlen);
        *port = ntohs(in6->sin6_port);
    }
}

static void addr_text(const struct sockaddr_storage *ss, char *buf, size_t len)
{
    char host[INET6_ADDRSTRLEN];
    int port;
    addr_host_port(ss, host, sizeof host, &port);
    if (ss->ss_family == AF_INET6)
        snprintf(buf, len, "[%s]:%d", host, port);
    else
        snprintf(buf, len, "%s:%d", host, port);
}

static const char *errno_name(int e)
{
    const char *n = strerrorname_np(e);
    return n ? n : "E?";
}

/* " → -1 ECONNREFUSED (Connection refused)" */
static void error_text(const struct trace_render *r, int e, char *buf, size_t len)
{
    snprintf(buf, len, "%s -1 %s (%s)", arrow(r), errno_name(e), strerror(e));
}

/* Data bytes, escaped and cut: "GET / HTTP/1.1\r\n..." */
/* The first bytes of a data step, escaped as C does.  By hand, not with
 * snprintf per byte: this runs for every data step of a bulk transfer. */
static void preview(const struct trace_rec *rec, char *buf, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    int n = rec->ndata < TRACE_DATA_PREVIEW ? rec->ndata : TRACE_DATA_PREVIEW;
    buf[o++] = '"';
    for (int i = 0; i < n && o + 6 < len; i++) {
        unsigned char c = rec->data[i];
        const char *esc = c == '\n' ? "n" : c == '\r' ? "r" : c == '\t' ? "t" : NULL;
        if (esc || c == '"' || c == '\\') {
            buf[o++] = '\\';
            buf[o++] = esc ? esc[0] : (char)c;
        } else if (c < 32 || c > 126) {
            buf[o++] = '\\';
            buf[o++] = 'x';
            buf[o++] = hex[c >> 4];
            buf[o++] = hex[c & 15];
        } else {
            buf[o++] = (char)c;
        }
    }
    buf[o++] = '"';
    buf[o] = '\0';
    if (rec->ret > n && o + 4 < len)
        memcpy(buf + o, "...", 4);
}

static void hexdump(struct trace_render *r, const struct trace_rec *rec)
{
    for (int off = 0; off < rec->ndata; off += 16) {
        char line[128];
        size_t o = (size_t)snprintf(line, sizeof line, "        %04x ", off);
        for (int i = 0; i < 16; i++)
            o += (size_t)(off + i < rec->ndata
                              ? snprintf(line + o, sizeof line - o, " %02x", rec->data[off + i])
                              : snprintf(line + o, sizeof line - o, "   "));
        o += (size_t)snprintf(line + o, sizeof line - o, "  |");
        for (int i = 0; i < 16 && off + i < rec->ndata; i++) {
            unsigned char c = rec->data[off + i];
            line[o++] = c >= 32 && c < 127 ? (char)c : '.';
        }
        snprintf(line + o, sizeof line - o, "|");
        fprintf(r->out, "%s\n", line);
    }
    if (rec->ret > rec->ndata)
        fprintf(r->out, "        ... (%lld bytes in all)\n", (long long)rec->ret);
}

static void event_add(struct trace_render *r, int pid, int step, int mistake, const char *text,
                      const char *state)
{
    /* Only a diagram needs them: a long run would hold every step. */
    if (!r->svg)
        return;
    r->events = grow(r->events, &r->capevents, r->nevents + 1, sizeof *r->events);
    struct svg_event *e = &r->events[r->nevents++];
    e->pid = pid;
    e->step = step;
    e->mistake = mistake;
    snprintf(e->text, sizeof e->text, "%s", text);
    snprintf(e->state, sizeof e->state, "%s", state ? state : "");
}

/* "[pid 12 t2] ": who made the call, when there is more than one. */
static void who(struct trace_render *r, int pid, int tid, char *buf, size_t len)
{
    struct tproc *p = proc_get(r, pid);
    int n = thread_no(p, tid);
    buf[0] = '\0';
    if (r->nprocs > 1 && p->ntids > 1)
        snprintf(buf, len, "[pid %d t%d] ", pid, n);
    else if (r->nprocs > 1)
        snprintf(buf, len, "[pid %d] ", pid);
    else if (p->ntids > 1)
        snprintf(buf, len, "[t%d] ", n);
}

/* One step: its number, who, the call and its result. */
static void step_line(struct trace_render *r, const struct trace_rec *rec, const char *text)
{
    char w[48];
    who(r, rec->pid, rec->tid, w, sizeof w);
    r->step++;
    fprintf(r->out, "%4d  %s%s\n", r->step, w, text);
    event_add(r, rec->pid, r->step, 0, text, NULL);
}

/* The socket's state and addresses after the step. */
static void state_line(struct trace_render *r, struct tsock *s, const struct trace_rec *rec,
                       int always, const char *extra)
{
    if (!(rec->have & TRH_STATE) && !extra)
        return;
    if (!always && rec->state == s->state_shown && !extra)
        return;
    char line[400];
    size_t o = (size_t)snprintf(line, sizeof line, "        ");
    if (rec->have & TRH_STATE) {
        o += (size_t)snprintf(line + o, sizeof line - o, "%s", demo_state_name(rec->state));
        s->state_shown = rec->state;
        if (r->nevents)
            snprintf(r->events[r->nevents - 1].state, sizeof r->events[0].state, "%s",
                     demo_state_name(rec->state));
    }
    char a[80];
    if (always && s->have_local) {
        addr_text(&s->local, a, sizeof a);
        o += (size_t)snprintf(line + o, sizeof line - o, "  %s %s", T(r, TT_LOCAL), a);
    }
    if (always && s->have_peer) {
        addr_text(&s->peer, a, sizeof a);
        o += (size_t)snprintf(line + o, sizeof line - o, "  %s %s", T(r, TT_PEER), a);
    }
    if (extra)
        snprintf(line + o, sizeof line - o, "  (%s)", extra);
    fprintf(r->out, "%s\n", line);
}

/* ----------------------------------------------------------- mistakes */

static void mistake(struct trace_render *r, int pid, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void mistake(struct trace_render *r, int pid, const char *fmt, ...)
{
    r->mistakes = grow(r->mistakes, &r->capmistakes, r->nmistakes + 1, sizeof *r->mistakes);
    struct mistake *m = &r->mistakes[r->nmistakes++];
    m->step = r->step;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m->text, sizeof m->text, fmt, ap);
    va_end(ap);
    char w[48] = "";
    if (r->nprocs > 1)
        snprintf(w, sizeof w, "[pid %d] ", pid);
    fprintf(r->out, "      !! %s%s: %s\n", w, T(r, TT_MISTAKE), m->text);
    event_add(r, pid, r->step, 1, m->text, NULL);
}

static void note(struct trace_render *r, const char *text)
{
    fprintf(r->out, "      %s: %s\n", T(r, TT_NOTE), text);
}

static const char *sname(struct tsock *s)
{
    return s && s->name[0] ? s->name : "sock";
}

/* A TR_DIAG record, printed under the step it belongs to. */
static void diag(struct trace_render *r, const struct trace_rec *d)
{
    struct tsock *s = sock_find_any(r, d->pid, d->fd);
    struct tproc *p = proc_get(r, d->pid);
    const char *name = sname(s);
    long long asked = (long long)d->asked, moved = (long long)d->ret;
    char t1[24], t2[24];
    switch (d->diag) {
    case DG_PARTIAL_SEND:
        if (d->a1 == DG_AT_SEND)
            mistake(r, d->pid, T(r, TT_D1_SEND), name, "send", moved, asked, asked - moved);
        else
            mistake(r, d->pid, T(r, d->a1 == DG_AT_CLOSE ? TT_D1_CLOSE : TT_D1_EXIT), name,
                    moved, asked, asked - moved);
        break;
    case DG_UNREAD_CLOSE:
        mistake(r, d->pid, T(r, d->a1 == DG_AT_EXIT ? TT_D3_EXIT : TT_D3_CLOSE), name,
                (int)d->asked);
        break;
    case DG_CLOSE_BLOCKED:
        thread_name(p, d->tid, t1, sizeof t1);
        thread_name(p, d->fd2, t2, sizeof t2);
        mistake(r, d->pid, T(r, d->a1 == 1 ? TT_D6_ACCEPT : TT_D6_RECV), name, t1, t2);
        break;
    case DG_RECV_AFTER_EOF:
        mistake(r, d->pid, T(r, TT_D7), name, "recv", asked);
        break;
    case DG_CONCURRENT:
        thread_name(p, d->fd2, t1, sizeof t1);
        thread_name(p, d->tid, t2, sizeof t2);
        mistake(r, d->pid, T(r, d->a1 == 1 ? TT_D8_SEND : TT_D8_RECV), t1, t2, name);
        break;
    case DG_LEFT_OPEN:
        if (s && s->role == R_SRV) {
            /* Counted, and said once at exit: one, or a leak per connection. */
            if (!p->left_accepted++)
                snprintf(p->left_name, sizeof p->left_name, "%s", name);
            break;
        }
        if (d->state == TCP_LISTEN || (s && s->role == R_ACEP))
            mistake(r, d->pid, T(r, TT_D5_ACEP), name);
        else
            mistake(r, d->pid, T(r, TT_D5_SOCK), name);
        break;
    }
}

static void held_flush(struct trace_render *r, struct tproc *p, int tid, int all)
{
    int keep = 0;
    for (int i = 0; i < p->nheld; i++) {
        struct trace_rec *d = p->held[i];
        if (all || d->tid == tid) {
            diag(r, d);
            free(d);
        } else {
            p->held[keep++] = d;
        }
    }
    p->nheld = keep;
}

static struct trace_rec *rec_copy(const struct trace_rec *rec)
{
    struct trace_rec *c = malloc(sizeof *c);
    if (!c) {
        fprintf(stderr, "sock trace: out of memory\n");
        exit(EXIT_FAILURE);
    }
    memcpy(c, rec, sizeof *c);
    return c;
}

/* ---------------------------------------------------------------- bind */

/* Connections on local port port, from /proc/net/tcp and tcp6: listeners
 * and the others (TIME_WAIT and any connection of an earlier run). */
static void port_users(int port, int *listeners, int *others)
{
    static const char *const files[] = {"/proc/net/tcp", "/proc/net/tcp6"};
    *listeners = *others = 0;
    for (int f = 0; f < 2; f++) {
        FILE *fp = fopen(files[f], "re");
        if (!fp)
            continue;
        char line[512];
        while (fgets(line, sizeof line, fp)) {
            char local[128];
            unsigned st;
            if (sscanf(line, " %*d: %127s %*s %x", local, &st) != 2)
                continue;
            char *colon = strrchr(local, ':');
            if (!colon || (int)strtol(colon + 1, NULL, 16) != port)
                continue;
            if (st == TCP_LISTEN)
                (*listeners)++;
            else
                (*others)++;
        }
        fclose(fp);
    }
}

static void bind_failed(struct trace_render *r, struct tsock *s, const struct trace_rec *rec)
{
    char host[INET6_ADDRSTRLEN], port[16];
    int pn, listeners, others;
    addr_host_port(&rec->peer, host, sizeof host, &pn);
    snprintf(port, sizeof port, "%d", pn);
    port_users(pn, &listeners, &others);
    if (listeners > 0) {
        char text[400];
        snprintf(text, sizeof text, T(r, TT_D4_OTHER), sname(s), port);
        note(r, text);
    } else if (others > 0 && !(rec->have & TRH_REUSEADDR)) {
        mistake(r, rec->pid, T(r, TT_D4), sname(s), port, others);
    }
}

/* --------------------------------------------------------------- steps */

static void render_step(struct trace_render *r, struct tsock *s, const struct trace_rec *rec);

static void flush_pending(struct trace_render *r, struct tsock *s)
{
    int n = s->npending;
    s->npending = 0;
    for (int i = 0; i < n; i++) {
        render_step(r, s, s->pending[i]);
        free(s->pending[i]);
    }
}

/* Give s its role's name if it has none, and print what waited for it. */
static void settle(struct trace_render *r, struct tsock *s, enum role role)
{
    if (s->name[0])
        return;
    sock_name(r, s, role);
    flush_pending(r, s);
}

static const char *option_name(int level, int name)
{
    if (level == SOL_SOCKET)
        switch (name) {
        case SO_REUSEADDR: return "SO_REUSEADDR";
        case SO_REUSEPORT: return "SO_REUSEPORT";
        case SO_LINGER: return "SO_LINGER";
        case SO_SNDBUF: return "SO_SNDBUF";
        case SO_RCVBUF: return "SO_RCVBUF";
        case SO_KEEPALIVE: return "SO_KEEPALIVE";
        }
    if (level == IPPROTO_TCP && name == TCP_NODELAY)
        return "TCP_NODELAY";
    if (level == IPPROTO_IPV6 && name == IPV6_V6ONLY)
        return "IPV6_V6ONLY";
    return "?";
}

static const char *how_name(int how)
{
    return how == SHUT_RD ? "SHUT_RD" : how == SHUT_WR ? "SHUT_WR" : how == SHUT_RDWR ? "SHUT_RDWR" : "?";
}

/* What the result of a call that returns 0 or -1 looks like. */
static void zero_result(const struct trace_render *r, const struct trace_rec *rec, char *buf,
                        size_t len)
{
    if (rec->ret < 0)
        error_text(r, rec->err, buf, len);
    else
        snprintf(buf, len, "%s %lld", arrow(r), (long long)rec->ret);
}

static void render_data(struct trace_render *r, struct tsock *s, const struct trace_rec *rec)
{
    char text[600], res[400], pv[160];
    struct tproc *p = proc_get(r, rec->pid);
    if (rec->ret < 0) {
        error_text(r, rec->err, res, sizeof res);
    } else if (rec->op == TR_RECV && rec->ret == 0 && rec->asked > 0) {
        snprintf(res, sizeof res, "%s %s", arrow(r), T(r, TT_END_OF_STREAM));
        s->eof = 1;
    } else {
        preview(rec, pv, sizeof pv);
        char bytes[48];
        snprintf(bytes, sizeof bytes, T(r, TT_BYTES), (long long)rec->ret);
        snprintf(res, sizeof res, "%s %s %s%s%s", arrow(r), bytes, pv,
                 rec->op == TR_SEND && rec->ret < rec->asked ? "  " : "",
                 rec->op == TR_SEND && rec->ret < rec->asked ? T(r, TT_PARTIAL) : "");
    }
    snprintf(text, sizeof text, "%s.%s(%lld) %s", s->name, rec->call, (long long)rec->asked,
             res);
    step_line(r, rec, text);
    if (r->hex && rec->ret > 0)
        hexdump(r, rec);
    state_line(r, s, rec, 0, NULL);
    if (rec->op == TR_SEND && rec->ret >= 0) {
        p->last_send_step = r->step;
        snprintf(p->last_send_name, sizeof p->last_send_name, "%s", s->name);
        if (s->have_peer)
            addr_text(&s->peer, p->last_send_peer, sizeof p->last_send_peer);
    }
}

/* After a close: what became of the connection in the kernel. */
static void after_close(struct trace_render *r, struct tsock *s, const struct trace_rec *rec)
{
    char extra[160] = "";
    if (rec->ret == 0 && s->have_local && s->have_peer) {
        unsigned expires = 0;
        int st = demo_diag_lookup(&s->local, &s->peer, &expires);
        if (st >= 0)
            snprintf(extra, sizeof extra, T(r, TT_KERNEL_KEEPS), demo_state_name(st));
        else if (st == -1)
            snprintf(extra, sizeof extra, "%s", T(r, TT_GONE));
    }
    if (extra[0])
        fprintf(r->out, "        %s\n", extra);
}

static void render_step(struct trace_render *r, struct tsock *s, const struct trace_rec *rec)
{
    char text[600], res[200], host[INET6_ADDRSTRLEN], a[80];
    int port;
    if (rec->have & TRH_LOCAL) {
        s->local = rec->local;
        s->have_local = 1;
    }
    switch (rec->op) {
    case TR_SOCKET:
        snprintf(text, sizeof text, "%s = socket(%s, SOCK_STREAM) %s fd %d", s->name,
                 rec->a1 == AF_INET6 ? "AF_INET6" : "AF_INET", arrow(r), rec->fd);
        step_line(r, rec, text);
        break;
    case TR_BIND: {
        addr_host_port(&rec->peer, host, sizeof host, &port);
        zero_result(r, rec, res, sizeof res);
        snprintf(text, sizeof text, "%s.bind(\"%s\", \"%d\") %s", s->name, host, port, res);
        step_line(r, rec, text);
        s->bound = rec->ret == 0;
        char extra[80] = "";
        int lport = 0;
        if (rec->ret == 0 && port == 0 && s->have_local) {
            addr_host_port(&s->local, host, sizeof host, &lport);
            snprintf(extra, sizeof extra, T(r, TT_PORT_CHOSEN), lport);
        }
        state_line(r, s, rec, 1, extra[0] ? extra : NULL);
        if (rec->ret < 0 && rec->err == EADDRINUSE)
            bind_failed(r, s, rec);
        break;
    }
    case TR_LISTEN:
        zero_result(r, rec, res, sizeof res);
        snprintf(text, sizeof text, "%s.listen(%lld) %s", s->name, (long long)rec->asked, res);
        step_line(r, rec, text);
        state_line(r, s, rec, 1, NULL);
        break;
    case TR_CONNECT: {
        if (rec->have & TRH_PEER) {
            s->peer = rec->peer;
            s->have_peer = 1;
        }
        addr_host_port(&rec->peer, host, sizeof host, &port);
        if (rec->ret < 0 && rec->err != EINPROGRESS)
            error_text(r, rec->err, res, sizeof res);
        else if (rec->ret < 0)
            snprintf(res, sizeof res, "%s -1 EINPROGRESS (%s)", arrow(r), strerror(EINPROGRESS));
        else
            snprintf(res, sizeof res, "%s 0", arrow(r));
        snprintf(text, sizeof text, "%s.connect(\"%s\", \"%d\") %s", s->name, host, port, res);
        step_line(r, rec, text);
        char extra[80] = "";
        int lport = 0;
        if (!s->bound && s->have_local && (rec->ret == 0 || rec->err == EINPROGRESS)) {
            addr_host_port(&s->local, host, sizeof host, &lport);
            snprintf(extra, sizeof extra, T(r, TT_IMPLICIT_BIND), lport);
        }
        state_line(r, s, rec, 1, extra[0] ? extra : NULL);
        break;
    }
    case TR_SEND:
    case TR_RECV:
        render_data(r, s, rec);
        break;
    case TR_SHUTDOWN:
        zero_result(r, rec, res, sizeof res);
        snprintf(text, sizeof text, "%s.shutdown(%s) %s", s->name, how_name(rec->a1), res);
        step_line(r, rec, text);
        state_line(r, s, rec, 1, NULL);
        break;
    case TR_CLOSE:
        zero_result(r, rec, res, sizeof res);
        snprintf(text, sizeof text, "%s.close() %s", s->name, res);
        step_line(r, rec, text);
        after_close(r, s, rec);
        break;
    case TR_SETSOCKOPT:
    case TR_GETSOCKOPT: {
        char val[48];
        if (rec->a2 == SO_LINGER && rec->a1 == SOL_SOCKET)
            snprintf(val, sizeof val, "{%s, %lld s}", rec->asked >> 16 ? "on" : "off",
                     (long long)(rec->asked & 0xffff));
        else
            snprintf(val, sizeof val, "%lld", (long long)rec->asked);
        zero_result(r, rec, res, sizeof res);
        if (rec->op == TR_SETSOCKOPT)
            snprintf(text, sizeof text, "%s.setsockopt(%s, %s) %s", s->name,
                     option_name(rec->a1, rec->a2), val, res);
        else if (rec->ret == 0)
            snprintf(text, sizeof text, "%s.getsockopt(%s) %s %s", s->name,
                     option_name(rec->a1, rec->a2), arrow(r), val);
        else
            snprintf(text, sizeof text, "%s.getsockopt(%s) %s", s->name,
                     option_name(rec->a1, rec->a2), res);
        step_line(r, rec, text);
        break;
    }
    default:
        break;
    }
    (void)a;
}

/* The steps that create or name a socket, then the others. */
static void on_socket_record(struct trace_render *r, const struct trace_rec *rec)
{
    struct tsock *s;
    if (rec->op == TR_SOCKET) {
        if (rec->ret < 0)
            return;
        s = sock_new(r, rec->pid, rec->fd);
    } else {
        s = sock_find(r, rec->pid, rec->fd);
        if (!s)
            s = sock_new(r, rec->pid, rec->fd); /* inherited, or created before us */
    }
    if (rec->op == TR_ACCEPT) {
        settle(r, s, R_ACEP);
        char text[400], res[200], acep[16];
        snprintf(acep, sizeof acep, "%s", s->name);
        if (rec->ret >= 0) {
            /* sock_new may move the table: s is not used after it. */
            struct tsock *n = sock_new(r, rec->pid, rec->fd2);
            sock_name(r, n, R_SRV);
            if (rec->have & TRH_PEER) {
                n->peer = rec->peer;
                n->have_peer = 1;
            }
            if (rec->have & TRH_LOCAL) {
                n->local = rec->local;
                n->have_local = 1;
            }
            char a[80] = "?";
            if (n->have_peer)
                addr_text(&n->peer, a, sizeof a);
            snprintf(text, sizeof text, "%s = %s.%s() %s fd %d (%s)", n->name, acep,
                     rec->call, arrow(r), rec->fd2, a);
            step_line(r, rec, text);
            state_line(r, n, rec, 1, NULL);
            /* Earlier clients that closed and whose sockets are still open. */
            int stale = 0;
            for (int i = 0; i < r->nsocks; i++)
                if (r->socks[i].pid == rec->pid && r->socks[i].open &&
                    r->socks[i].role == R_SRV && r->socks[i].eof)
                    stale++;
            struct tproc *p = proc_get(r, rec->pid);
            if (stale >= 2 && !p->growth_reported) {
                p->growth_reported = 1;
                mistake(r, rec->pid, T(r, TT_D5_GROWTH), stale);
            }
        } else {
            error_text(r, rec->err, res, sizeof res);
            snprintf(text, sizeof text, "%s.%s() %s", s->name, rec->call, res);
            step_line(r, rec, text);
        }
        return;
    }
    if (!s->name[0]) {
        enum role role = R_NONE;
        if (rec->op == TR_LISTEN)
            role = R_ACEP;
        else if (rec->op == TR_CONNECT)
            role = R_CLI;
        else if (rec->op == TR_BIND && rec->ret < 0)
            role = R_ACEP; /* a server that could not start */
        else if (rec->op == TR_SEND || rec->op == TR_RECV || rec->op == TR_SHUTDOWN ||
                 rec->op == TR_CLOSE || s->npending == MAX_PENDING)
            role = R_SOCK;
        if (role == R_NONE) {
            s->pending[s->npending++] = rec_copy(rec);
            return;
        }
        settle(r, s, role);
    }
    render_step(r, s, rec);
    if (rec->op == TR_CLOSE)
        s->open = 0;
}

static void on_getaddrinfo(struct trace_render *r, const struct trace_rec *rec)
{
    /* text is "node\nservice\naddress\naddress...": split it by hand, as
     * node or service may be empty. */
    char copy[sizeof rec->text], text[600];
    memcpy(copy, rec->text, sizeof copy);
    copy[sizeof copy - 1] = '\0';
    char *field[8] = {copy};
    int n = 1;
    for (char *p = copy; *p && n < 8; p++)
        if (*p == '\n') {
            *p = '\0';
            field[n++] = p + 1;
        }
    char node[sizeof rec->text + 2], serv[sizeof rec->text + 2];
    snprintf(node, sizeof node, strcmp(field[0], "(null)") ? "\"%s\"" : "NULL", field[0]);
    snprintf(serv, sizeof serv, n > 1 && strcmp(field[1], "(null)") ? "\"%s\"" : "NULL",
             n > 1 ? field[1] : "");
    size_t o = (size_t)snprintf(text, sizeof text, "getaddrinfo(%s, %s) %s", node, serv,
                                arrow(r));
    if (rec->ret != 0)
        snprintf(text + o, sizeof text - o, " %s", gai_strerror((int)rec->ret));
    for (int i = 2; rec->ret == 0 && i < n && o < sizeof text; i++)
        o += (size_t)snprintf(text + o, sizeof text - o, "%s %s", i > 2 ? "," : "", field[i]);
    step_line(r, rec, text);
}

static void on_start(struct trace_render *r, const struct trace_rec *rec)
{
    struct tproc *p = proc_get(r, rec->pid);
    int known = p->started;
    p->started = 1;
    p->ppid = rec->a1;
    char text[400];
    if (rec->a2 == 0) {
        /* A fork: the child holds the parent's sockets, under their names. */
        int n = r->nsocks;
        for (int i = 0; i < n; i++)
            if (r->socks[i].pid == rec->a1 && r->socks[i].open) {
                struct tsock *c = sock_new(r, rec->pid, r->socks[i].fd);
                struct tsock *src = &r->socks[i];
                *c = *src;
                c->pid = rec->pid;
                c->npending = 0;
            }
        struct tproc *pp = proc_find(r, rec->a1);
        if (pp)
            memcpy(proc_get(r, rec->pid)->counts, pp->counts, sizeof pp->counts);
        snprintf(text, sizeof text, T(r, TT_START_FORK), rec->pid, rec->a1);
        fprintf(r->out, "      -- %s\n", text);
    } else {
        /* A new program: the descriptors it kept are found when used. */
        if (known)
            for (int i = 0; i < r->nsocks; i++)
                if (r->socks[i].pid == rec->pid)
                    r->socks[i].open = 0;
        snprintf(text, sizeof text, T(r, TT_START), rec->pid, rec->text);
        fprintf(r->out, "      -- %s\n", text);
    }
}

void trace_render_record(struct trace_render *r, const struct trace_rec *rec)
{
    struct tproc *p = proc_get(r, rec->pid);
    char text[400];
    switch (rec->op) {
    case TR_START:
        on_start(r, rec);
        return;
    case TR_EXIT:
        held_flush(r, p, 0, 1);
        if (p->left_accepted > 1)
            mistake(r, rec->pid, T(r, TT_D5_LEAK), p->left_accepted);
        else if (p->left_accepted == 1)
            mistake(r, rec->pid, T(r, TT_D5_SOCK), p->left_name);
        p->exited = 1;
        return;
    case TR_FORK:
        if (rec->ret >= 0) {
            snprintf(text, sizeof text, T(r, TT_FORK), arrow(r), rec->fd2);
            step_line(r, rec, text);
        }
        return;
    case TR_EXEC:
        snprintf(text, sizeof text, T(r, TT_EXEC), rec->text);
        step_line(r, rec, text);
        return;
    case TR_DIAG:
        if (rec->diag == DG_LEFT_OPEN || (rec->diag == DG_PARTIAL_SEND && rec->a1 == DG_AT_EXIT) ||
            (rec->diag == DG_UNREAD_CLOSE && rec->a1 == DG_AT_EXIT) || p->nheld == MAX_HELD) {
            /* Exit diagnoses wait for TR_EXIT; the others for their step. */
            if (p->nheld < MAX_HELD) {
                p->held[p->nheld++] = rec_copy(rec);
                return;
            }
            diag(r, rec);
            return;
        }
        p->held[p->nheld++] = rec_copy(rec);
        return;
    case TR_GETADDRINFO:
        on_getaddrinfo(r, rec);
        break;
    default:
        on_socket_record(r, rec);
        break;
    }
    /* The diagnoses of this thread's call come right under it; exit ones
     * stay until the process exits. */
    int keep = 0;
    for (int i = 0; i < p->nheld; i++) {
        struct trace_rec *d = p->held[i];
        int at_exit = d->diag == DG_LEFT_OPEN || ((d->diag == DG_PARTIAL_SEND ||
                                                  d->diag == DG_UNREAD_CLOSE) &&
                                                 d->a1 == DG_AT_EXIT);
        if (!at_exit && d->tid == rec->tid) {
            diag(r, d);
            free(d);
        } else {
            p->held[keep++] = d;
        }
    }
    p->nheld = keep;
}

void trace_render_end(struct trace_render *r, int status)
{
    /* Steps still waiting for a name, and diagnoses for their step. */
    for (int i = 0; i < r->nsocks; i++)
        if (r->socks[i].npending)
            settle(r, &r->socks[i], R_SOCK);
    for (int i = 0; i < r->nprocs; i++)
        held_flush(r, &r->procs[i], 0, 1);
    char text[400];
    if (WIFSIGNALED(status)) {
        int sig = WTERMSIG(status);
        char sname_buf[32];
        const char *abbrev = sigabbrev_np(sig);
        if (abbrev)
            snprintf(sname_buf, sizeof sname_buf, "SIG%s", abbrev);
        else
            snprintf(sname_buf, sizeof sname_buf, "%d", sig);
        snprintf(text, sizeof text, T(r, TT_KILLED), r->main_pid, sname_buf);
        fprintf(r->out, "      -- %s\n", text);
        if (sig == SIGPIPE) {
            struct tproc *p = proc_get(r, r->main_pid);
            if (p->last_send_step)
                mistake(r, r->main_pid, T(r, TT_D2), p->last_send_name,
                        p->last_send_peer[0] ? p->last_send_peer : "?", p->last_send_step);
            else
                mistake(r, r->main_pid, "%s", T(r, TT_D2_NOSEND));
        }
    } else if (WIFEXITED(status)) {
        snprintf(text, sizeof text, T(r, TT_STATUS), r->main_pid, WEXITSTATUS(status));
        fprintf(r->out, "      -- %s\n", text);
    }
    fprintf(r->out, "\n== %s ==\n", T(r, TT_SUMMARY));
    if (r->nmistakes == 0) {
        fprintf(r->out, "%s\n", T(r, TT_NO_MISTAKES));
    } else {
        fprintf(r->out, T(r, TT_N_MISTAKES), r->nmistakes);
        fprintf(r->out, "\n");
        for (int i = 0; i < r->nmistakes; i++) {
            char at[32];
            snprintf(at, sizeof at, T(r, TT_AT_STEP), r->mistakes[i].step);
            fprintf(r->out, "  %d. (%s) %s\n", i + 1, at, r->mistakes[i].text);
        }
    }
    fprintf(r->out, "%s\n", T(r, TT_UNSEEN));
    fflush(r->out);
}

int trace_render_event(const struct trace_render *r, int i, struct trace_event_view *v)
{
    if (i < 0 || i >= r->nevents)
        return -1;
    v->pid = r->events[i].pid;
    v->step = r->events[i].step;
    v->mistake = r->events[i].mistake;
    v->text = r->events[i].text;
    v->state = r->events[i].state;
    return 0;
}

const char *trace_render_program(const struct trace_render *r)
{
    return r->program;
}

int trace_render_spanish(const struct trace_render *r)
{
    return r->es;
}

int trace_render_mistakes(const struct trace_render *r)
{
    return r->nmistakes;
}

void trace_render_free(struct trace_render *r)
{
    if (!r)
        return;
    for (int i = 0; i < r->nsocks; i++)
        for (int j = 0; j < r->socks[i].npending; j++)
            free(r->socks[i].pending[j]);
    for (int i = 0; i < r->nprocs; i++)
        for (int j = 0; j < r->procs[i].nheld; j++)
            free(r->procs[i].held[j]);
    free(r->socks);
    free(r->procs);
    free(r->mistakes);
    free(r->events);
    free(r);
}
