/*
 * tools/demo/render.c - draw each step on the terminal in two columns, client on
 * the left and server on the right, as the slides draw them, with the
 * step's segments as arrows between the two and the explanation below.
 *
 * Fits 100 columns.  Colour only when stdout is a terminal (and NO_COLOR is
 * not set); box-drawing characters only when the locale is UTF-8, plain
 * ASCII (accents dropped) otherwise, so a log file or a C locale stays
 * readable.
 */
#include "demo.h"

#include <langinfo.h>
#include <locale.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define WIDTH 98          /* total, leaving a margin in 100 columns */
#define COL_L 46          /* client column */
#define COL_R 47          /* server column */
#define MAX_LINES 48
#define LINE_MAX_BYTES 400
#define ARROW 36          /* width of a segment arrow */

struct cell_line {
    char text[LINE_MAX_BYTES];
    const char *color;
};

struct column {
    struct cell_line l[MAX_LINES];
    int n;
};

struct demo_render {
    FILE *out;
    const struct demo_run *run;
    int color, utf8;
    /* Glyphs, UTF-8 or ASCII. */
    const char *hbar, *vbar, *rarrow, *larrow, *arrow_r, *arrow_l, *dot, *dash;
};

/* ANSI colours; empty when colour is off. */
static const char *c_reset(const struct demo_render *r) { return r->color ? "\033[0m" : ""; }
#define C_BOLD "\033[1m"
#define C_DIM "\033[2m"
#define C_CLI "\033[36m"
#define C_SRV "\033[35m"
#define C_STATE "\033[1;32m"
#define C_RED "\033[1;31m"
#define C_YEL "\033[33m"
#define C_GRN "\033[32m"

/* Display width of UTF-8 text: every character the demo prints is one
 * column wide, so counting non-continuation bytes is exact. */
static int text_width(const char *s)
{
    int w = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xc0) != 0x80)
            w++;
    return w;
}

/* Write s, turning non-ASCII characters into ASCII when the terminal
 * cannot show them. */
static void put_text(const struct demo_render *r, const char *s)
{
    if (r->utf8) {
        fputs(s, r->out);
        return;
    }
    static const struct { const char *u, *a; } map[] = {
        {"á", "a"}, {"é", "e"}, {"í", "i"}, {"ó", "o"}, {"ú", "u"}, {"ñ", "n"}, {"ü", "u"},
        {"Á", "A"}, {"É", "E"}, {"Í", "I"}, {"Ó", "O"}, {"Ú", "U"}, {"Ñ", "N"}, {"¿", "?"},
        {"¡", "!"}, {"→", "->"}, {"←", "<-"}, {"·", "-"}, {"—", "-"}, {"…", "..."},
    };
    while (*s) {
        if (!((unsigned char)*s & 0x80)) {
            fputc(*s++, r->out);
            continue;
        }
        size_t i;
        for (i = 0; i < sizeof map / sizeof map[0]; i++) {
            size_t n = strlen(map[i].u);
            if (strncmp(s, map[i].u, n) == 0) {
                fputs(map[i].a, r->out);
                s += n;
                break;
            }
        }
        if (i == sizeof map / sizeof map[0]) {
            fputc('?', r->out);
            for (s++; ((unsigned char)*s & 0xc0) == 0x80; s++)
                ;
        }
    }
}

static void put_color(const struct demo_render *r, const char *color)
{
    if (r->color && color)
        fputs(color, r->out);
}

static void put_repeat(const struct demo_render *r, const char *glyph, int n)
{
    for (int i = 0; i < n; i++)
        fputs(glyph, r->out);
}

/* Width of a string as it will be printed (ASCII mode turns "→" into two
 * characters). */
static int shown_width(const struct demo_render *r, const char *s)
{
    if (r->utf8)
        return text_width(s);
    int w = 0;
    for (; *s; s++) {
        if (((unsigned char)*s & 0xc0) == 0x80)
            continue;
        if (!strncmp(s, "→", strlen("→")) || !strncmp(s, "←", strlen("←")))
            w += 2;
        else if (!strncmp(s, "…", strlen("…")))
            w += 3;
        else
            w++;
    }
    return w;
}

struct demo_render *demo_render_new(FILE *out, const struct demo_run *run)
{
    struct demo_render *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->out = out;
    r->run = run;
    const char *nc = getenv("NO_COLOR");
    r->color = isatty(fileno(out)) && !(nc && *nc);
    setlocale(LC_CTYPE, "");
    r->utf8 = strcmp(nl_langinfo(CODESET), "UTF-8") == 0;
    if (r->utf8) {
        r->hbar = "━"; r->vbar = "│"; r->dot = "·"; r->dash = "─";
        r->rarrow = "▶"; r->larrow = "◀"; r->arrow_r = "→"; r->arrow_l = "←";
    } else {
        r->hbar = "="; r->vbar = "|"; r->dot = "-"; r->dash = "-";
        r->rarrow = ">"; r->larrow = "<"; r->arrow_r = "->"; r->arrow_l = "<-";
    }
    return r;
}

void demo_render_free(struct demo_render *r)
{
    free(r);
}

/* -------------------------------------------------------------- columns */

/* Add text to a column, wrapped at width on spaces; continuation lines are
 * indented by indent columns. */
static void col_add(struct column *c, int width, int indent, const char *color, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);

    const char *p = buf;
    int first = 1;
    while (*p && c->n < MAX_LINES) {
        int lead = first ? 0 : indent;
        int room = width - lead;
        /* Find the longest prefix that fits, preferring a break at a space. */
        const char *q = p, *brk = NULL;
        int w = 0;
        while (*q && w < room) {
            if (*q == ' ')
                brk = q;
            q++;
            while (((unsigned char)*q & 0xc0) == 0x80)
                q++;
            w++;
        }
        if (*q && *q != ' ' && brk && brk > p)
            q = brk;
        struct cell_line *l = &c->l[c->n++];
        snprintf(l->text, sizeof l->text, "%*s%.*s", lead, "", (int)(q - p), p);
        l->color = color;
        p = q;
        while (*p == ' ')
            p++;
        first = 0;
    }
}

static void print_padded(const struct demo_render *r, const struct cell_line *l, int width)
{
    int w = 0;
    if (l) {
        put_color(r, l->color);
        put_text(r, l->text);
        if (l->color && r->color)
            fputs(c_reset(r), r->out);
        w = shown_width(r, l->text);
    }
    for (; w < width; w++)
        fputc(' ', r->out);
}

static void print_columns(const struct demo_render *r, const struct column *a, const struct column *b)
{
    int n = a->n > b->n ? a->n : b->n;
    for (int i = 0; i < n; i++) {
        fputs("  ", r->out);
        print_padded(r, i < a->n ? &a->l[i] : NULL, COL_L);
        fprintf(r->out, " %s ", r->vbar);
        const struct cell_line *l = i < b->n ? &b->l[i] : NULL;
        if (l) {
            put_color(r, l->color);
            put_text(r, l->text);
            if (l->color && r->color)
                fputs(c_reset(r), r->out);
        }
        fputc('\n', r->out);
    }
}

/* A paragraph across the full width. */
static void print_wrapped(const struct demo_render *r, const char *color, const char *text)
{
    struct column c = {.n = 0};
    col_add(&c, WIDTH - 2, 0, color, "%s", text);
    for (int i = 0; i < c.n; i++) {
        fputs("  ", r->out);
        put_color(r, color);
        put_text(r, c.l[i].text);
        if (color)
            fputs(c_reset(r), r->out);
        fputc('\n', r->out);
    }
}

void demo_render_line(struct demo_render *r, const char *text)
{
    print_wrapped(r, NULL, text);
    fflush(r->out);
}

void demo_render_header(struct demo_render *r)
{
    fputc('\n', r->out);
    put_color(r, C_BOLD);
    fputs("  ", r->out);
    put_text(r, demo_text(T_TITLE));
    fputs(c_reset(r), r->out);
    fputc('\n', r->out);
    print_wrapped(r, r->color ? C_DIM : NULL, demo_text(T_SUBTITLE));
    char buf[400];
    if (r->run->netns[0][0]) {
        snprintf(buf, sizeof buf, demo_text(T_NETNS_INFO), r->run->netns[0], r->run->netns[1]);
        print_wrapped(r, NULL, buf);
    }
    if (r->run->capture_ok)
        snprintf(buf, sizeof buf, demo_text(T_CAPTURE_ON), r->run->ifname);
    else
        snprintf(buf, sizeof buf, demo_text(T_NO_CAPTURE), r->run->capture_why);
    print_wrapped(r, r->run->capture_ok ? NULL : (r->color ? C_YEL : NULL), buf);
    fflush(r->out);
}

/* --------------------------------------------------------------- sockets */

static void add_socket(const struct demo_render *r, struct column *c, int width,
                       const struct demo_sock_info *si)
{
    char extra[160] = "";
    const char *state_color = r->color ? C_STATE : NULL;

    if (!si->had_fd) {
        col_add(c, width, 6, r->color ? C_BOLD : NULL, "%-5s %s", si->name, demo_text(T_NO_FD_YET));
        return;
    }
    /* First line: the descriptor and its state, as TCP_INFO reports it. */
    if (si->fd >= 0)
        col_add(c, width, 6, state_color, "%-5s fd %-3d %s", si->name, si->fd,
                demo_state_name(si->fd_state));
    else if (si->kernel_state >= 0)
        col_add(c, width, 6, state_color, "%-5s %s", si->name, demo_text(T_FD_CLOSED));
    else
        col_add(c, width, 6, state_color, "%-5s %s %s %s", si->name, demo_text(T_FD_CLOSED),
                r->dot, demo_text(T_GONE));

    if (si->peer[0])
        col_add(c, width, 6, NULL, "      %s %s %s", si->local, r->utf8 ? "→" : "->", si->peer);
    else if (si->local[0])
        col_add(c, width, 6, NULL, "      %s", si->local);

    /* What sock_diag found for the 4-tuple when the descriptor can no
     * longer tell: the TIME_WAIT the kernel keeps after close. */
    if (si->kernel_state >= 0 && (si->fd < 0 || si->kernel_state != si->fd_state)) {
        char left[64] = "";
        if (si->expires_ms > 0) {
            left[0] = ',';
            left[1] = ' ';
            snprintf(left + 2, sizeof left - 2, demo_text(T_TW_LEFT), si->expires_ms / 1000.0);
        }
        col_add(c, width, 6, state_color, "      %s: %s%s", demo_text(T_KERNEL_KEEPS),
                demo_state_name(si->kernel_state), left);
    }
    size_t k = 0;
    if (si->fd >= 0 && si->fd_state == TCP_LISTEN)
        k += (size_t)snprintf(extra + k, sizeof extra - k, demo_text(T_QUEUE), si->queue, si->backlog);
    if (si->fd >= 0 && si->unread > 0 && k < sizeof extra)
        k += (size_t)snprintf(extra + k, sizeof extra - k, demo_text(T_UNREAD), si->unread);
    if (si->fd >= 0 && si->unsent > 0 && k < sizeof extra)
        snprintf(extra + k, sizeof extra - k, "%s" , k ? "; " : "");
    if (si->fd >= 0 && si->unsent > 0 && (k = strlen(extra)) < sizeof extra)
        snprintf(extra + k, sizeof extra - k, demo_text(T_UNSENT), si->unsent);
    if (extra[0])
        col_add(c, width, 6, r->color ? C_DIM : NULL, "      (%s)", extra);
}

static void fill_column(const struct demo_render *r, struct column *c, int width,
                        const struct demo_step *st, int side)
{
    const char *col = side == DEMO_CLIENT ? C_CLI : C_SRV;
    for (int i = 0; i < st->ncalls[side]; i++) {
        const struct demo_call *call = &st->calls[side][i];
        col_add(c, width, 4, r->color ? col : NULL, "%s", call->text);
        col_add(c, width, 6, r->color && call->failed ? C_RED : NULL, "  %s %s",
                r->utf8 ? "→" : "->", call->result);
    }
    if (st->ncalls[side] > 0)
        col_add(c, width, 0, NULL, " ");
    for (int i = 0; i < DEMO_SLOTS; i++)
        if (st->rep[side].s[i].used)
            add_socket(r, c, width, &st->rep[side].s[i]);
}

/* --------------------------------------------------------------- segments */

static void print_segment(const struct demo_render *r, const struct demo_segment *s)
{
    char kind[16], label[64], detail[128];
    demo_segment_kind(s, kind, sizeof kind);
    if (s->len > 0 && strcmp(kind, "DATA") != 0)
        snprintf(label, sizeof label, " %s %u B ", kind, s->len);
    else if (s->len > 0)
        snprintf(label, sizeof label, " %s %u %s ", kind, s->len, demo_text(T_BYTES));
    else
        snprintf(label, sizeof label, " %s ", kind);

    int k = snprintf(detail, sizeof detail, "seq %u", s->seq);
    if (s->flags & TH_ACK)
        k += snprintf(detail + k, sizeof detail - (size_t)k, " ack %u", s->ack);
    if (s->mss)
        k += snprintf(detail + k, sizeof detail - (size_t)k, " mss %u", s->mss);
    if (s->preview[0])
        snprintf(detail + k, sizeof detail - (size_t)k, " \"%.8s%s\"", s->preview,
                 strlen(s->preview) > 8 ? "..." : "");

    const char *color = NULL;
    if (r->color) {
        if (s->flags & TH_RST)
            color = C_RED;
        else if (s->flags & (TH_SYN))
            color = C_GRN;
        else if (s->flags & TH_FIN)
            color = C_YEL;
        else if (s->len > 0)
            color = C_BOLD;
    }
    int to_server = s->from == DEMO_CLIENT;
    int lw = text_width(label);
    int left = (ARROW - lw) / 2, right = ARROW - lw - left;

    fprintf(r->out, "  %+9.4fs ", s->t);
    put_text(r, demo_text(T_CLIENT));
    fputc(' ', r->out);
    put_color(r, color);
    if (to_server) {
        put_repeat(r, r->dash, left);
        fputs(label, r->out);
        put_repeat(r, r->dash, right - 1);
        fputs(r->rarrow, r->out);
    } else {
        fputs(r->larrow, r->out);
        put_repeat(r, r->dash, left - 1);
        fputs(label, r->out);
        put_repeat(r, r->dash, right);
    }
    if (color)
        fputs(c_reset(r), r->out);
    fputc(' ', r->out);
    put_text(r, demo_text(T_SERVER));
    fprintf(r->out, "  %s\n", detail);
}

static void print_wire(const struct demo_render *r, const struct demo_step *st)
{
    if (!r->run->capture_ok)
        return;
    put_color(r, C_BOLD);
    fprintf(r->out, "  %s (%s)", demo_text(T_WIRE), r->run->ifname);
    fputs(c_reset(r), r->out);
    if (st->nsegs == 0) {
        fputc(' ', r->out);
        put_color(r, C_DIM);
        put_text(r, demo_text(T_NO_SEGMENTS));
        fputs(c_reset(r), r->out);
        fputc('\n', r->out);
        return;
    }
    fputc('\n', r->out);
    int shown = st->nsegs < DEMO_SEGS ? st->nsegs : DEMO_SEGS;
    /* A long transfer is summarised: the first and last segments tell the
     * story, the middle is counted. */
    int head = shown > 14 ? 8 : shown;
    for (int i = 0; i < head; i++)
        print_segment(r, &st->segs[i]);
    if (shown > head) {
        char buf[128];
        snprintf(buf, sizeof buf, demo_text(T_MORE_SEGMENTS), st->nsegs - head - 4);
        fprintf(r->out, "  %10s ", "");
        put_color(r, C_DIM);
        put_text(r, buf);
        fputs(c_reset(r), r->out);
        fputc('\n', r->out);
        for (int i = shown - 4; i < shown; i++)
            print_segment(r, &st->segs[i]);
    }
}

/* ------------------------------------------------------------------ steps */

static void print_step_header(const struct demo_render *r, const struct demo_step *st)
{
    char head[256];
    snprintf(head, sizeof head, " %s %s %s %s ", demo_text(T_STEP), st->label, r->dot, st->title);
    fputc('\n', r->out);
    put_color(r, C_BOLD);
    put_repeat(r, r->hbar, 3);
    put_text(r, head);
    int w = 3 + shown_width(r, head);
    put_repeat(r, r->hbar, WIDTH + 2 - w > 0 ? WIDTH + 2 - w : 0);
    fputs(c_reset(r), r->out);
    fputc('\n', r->out);
}

void demo_render_step(struct demo_render *r, const struct demo_step *st)
{
    static struct column left, right;
    left.n = right.n = 0;
    const struct demo_run *run = r->run;

    print_step_header(r, st);
    col_add(&left, COL_L, 0, r->color ? C_BOLD C_CLI : NULL, "%s %s", demo_text(T_CLIENT),
            run->host[DEMO_CLIENT]);
    col_add(&right, COL_R, 0, r->color ? C_BOLD C_SRV : NULL, "%s %s", demo_text(T_SERVER),
            run->host[DEMO_SERVER]);
    fill_column(r, &left, COL_L, st, DEMO_CLIENT);
    fill_column(r, &right, COL_R, st, DEMO_SERVER);
    print_columns(r, &left, &right);
    fputc('\n', r->out);
    print_wire(r, st);
    if (st->extra[0])
        print_wrapped(r, r->color ? C_YEL : NULL, st->extra);
    if (st->note)
        print_wrapped(r, r->color ? C_DIM : NULL, st->note);
    fflush(r->out);
}
